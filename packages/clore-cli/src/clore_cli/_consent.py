"""Consent before money moves: the rules `deploy` follows, shared by every command that spends
or reprices (server-settings, gigaspot-order).

- Without a terminal to ask on, nothing is sent unless ``--yes`` (or ``--dry-run``) is given.
- With a terminal, the user is asked; the default is no.
- Prices are shown in the coin and in USD, per hour and per day, named and without float noise
  (USD as everywhere: :func:`clore_cli.formats.usd_amount`, :func:`~clore_cli.formats.usd_per_hour`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .formats import COIN_TICKERS, coin_amount, exact_amount, usd_amount, usd_per_hour

__all__ = [
    "ask",
    "coin_amount",
    "explain",
    "logged_price_text",
    "need_consent_channel",
    "price_text",
    "wrap_for_stderr",
    "usd_amount",
    "usd_per_hour",
]

COIN_NAMES = COIN_TICKERS  # the tickers quotes name coins by


def at_a_terminal() -> bool:
    """A person can be asked: stdin to answer on and stderr to ask on are both a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def need_consent_channel(yes: bool, dry_run: bool, action: str = "spend money") -> None:
    """Refuse (usage error, exit 2) when there is no terminal to confirm on and no ``--yes``;
    ``action`` says what would have been done (``change your servers' prices``)."""
    if not (yes or dry_run or at_a_terminal()):
        raise click.UsageError(
            f"refusing to {action} without a terminal to confirm on; add --yes (or --dry-run)"
        )


def ask(question: str) -> bool:
    # the question wrapped as the quote is, leaving room for click's " [y/N]: " after it
    return click.confirm(wrap_for_stderr(question, reserve=len(" [y/N]: ")), default=False, err=True)


def explain(text: str) -> None:
    """Print a quote or an explanation before a confirmation on stderr: at a terminal each line
    is wrapped at word boundaries to its width (``… spent so far 0.00000006 BTC. It`` /
    ``costs …``, never ``It c`` / ``osts``); piped or redirected, exactly as given."""
    click.echo(wrap_for_stderr(text), err=True)


def wrap_for_stderr(text: str, reserve: int = 0, hang: str = "") -> str:
    """``text`` wrapped at word boundaries to the width of the terminal stderr is (``reserve``
    columns left free after the last line, later lines of a paragraph indented by ``hang``);
    unchanged when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return text
    import textwrap

    width = max(20, _stderr_columns() - reserve)
    lines = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        lines.append(
            textwrap.fill(
                line,
                width,
                subsequent_indent=indent + ("   " if indent else hang),  # an offer's "  1. ..." hangs
                break_long_words=False,  # an address or a command is never cut in two
                break_on_hyphens=False,  # nor "--currency"
            )
            if len(line) > width
            else line
        )
    return "\n".join(lines)


def _stderr_columns() -> int:
    """The terminal's width: ``COLUMNS`` when set, else the width of the terminal stderr is on."""
    import os
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return shutil.get_terminal_size().columns


def price_text(
    per_day: float | None,
    currency: str | None,
    usd_rate: float | None,
    *,
    coin_per_hour: bool = True,
    exact: bool = False,
) -> str:
    """``0.0001 BTC/day, 0.00000417 BTC/h ($6.80/day, $0.2834/h)``: the coin and USD, per day
    and per hour, as a question before money moves says it; USD-only (``$6.80/day, $0.2834/h``)
    when ``currency`` is None or USD. ``coin_per_hour=False`` (:func:`logged_price_text`) for
    lines that report what was done, where the coin per hour adds only length. The coin amount
    to 8 decimals, or with ``exact`` (an amount someone typed) every digit it has:
    ``0.000000000001 BTC/day``, never ``0 BTC/day``."""
    if per_day is None:
        return "not set"
    if currency == "USD-Blockchain":
        currency = None
    usd = per_day if currency is None else (per_day * usd_rate if usd_rate is not None else None)
    usd_part = f"{usd_amount(usd)}/day, {usd_per_hour(None if usd is None else usd / 24)}/h"
    if currency is None:
        return usd_part
    amount = exact_amount(per_day, currency) if exact else coin_amount(per_day, currency, quote=True)
    coin_part = f"{amount}/day"
    if coin_per_hour:
        coin_part += f", {coin_amount(per_day / 24, currency, quote=True)}/h"
    return f"{coin_part} ({usd_part})"


def logged_price_text(per_day: float | None, currency: str | None, usd_rate: float | None) -> str:
    """``0.0001 BTC/day ($6.80/day, $0.2834/h)``: :func:`price_text` for a line that reports."""
    return price_text(per_day, currency, usd_rate, coin_per_hour=False)


def implied_usd_rates(servers: Any) -> dict[str, float]:
    """USD per coin, the median the marketplace's own on-demand prices imply (USD is 1);
    the SDK's :func:`clore_ai.spending.implied_usd_rates`."""
    from clore_ai.spending import implied_usd_rates as implied

    return implied(servers)
