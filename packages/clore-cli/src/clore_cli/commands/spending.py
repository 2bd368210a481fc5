"""spend, guard: what the orders cost and a budget guard on them (clore_ai.spending, clore_ai.guard)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import hookimpl
from .._errors import ExitCode
from .._main import app_of, output_options
from .._params import Number, Seconds
from ..formats import Column, Dataset, usd_amount, usd_per_hour
from .orders import uptime

MAX_HOURS = 24 * 365 * 10
MAX_USD = 1e9  # far above any account's spend, far below numbers no one can read

SPEND_COLUMNS = [
    Column("currency", "Wallet", no_wrap=True),
    Column("balance", "Balance", "right", no_wrap=True, coin_key="currency"),
    Column("orders", "Orders", "right"),
    Column("burn_per_hour", "Burn/hour", "right", no_wrap=True, coin_key="currency", derived=True),
    Column("usd_per_hour", "$/hour", "right", usd_per_hour, no_wrap=True, derived=True),
    Column("runway", "Runway", "right", no_wrap=True),
    Column("runway_hours", "Runway hours", in_table=False, derived=True),
    Column("projected", "Next hours", "right", no_wrap=True, coin_key="currency", derived=True),
    Column("projected_usd", "Next hours $", "right", usd_amount, no_wrap=True, derived=True),
]


def spend_columns(hours: float) -> list[Column]:
    """The columns, with the projection's headers naming the hours (``Next 24 h``)."""
    from dataclasses import replace

    named = {"projected": f"Next {hours:g} h", "projected_usd": f"Next {hours:g} h $"}
    return [replace(c, header=named.get(c.key, c.header)) for c in SPEND_COLUMNS]


def _count(number: int, noun: str) -> str:
    """``1 order``, ``2 orders``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def runway_text(hours: float | None) -> str:
    """``None`` (nothing burns) -> ``-``; hours as ``3d 4h`` / ``5h 20m`` / ``12m``."""
    if hours is None:
        return "-"
    if hours >= 48:
        days = int(hours // 24)
        return f"{days:,}d {int(hours % 24)}h"
    return uptime(hours * 3600) or "0m"


def spend_rows(summary: Any, hours: float) -> list[dict[str, Any]]:
    projected = summary.projected_coin(hours)
    rows = []
    for wallet in summary.wallets:
        amount = projected.get(wallet.currency, 0.0)
        rate = summary.rates.get(wallet.currency)
        rows.append(
            {
                "currency": wallet.currency,
                "balance": wallet.balance,
                "orders": wallet.orders,
                "burn_per_hour": wallet.burn_per_hour,
                "usd_per_hour": wallet.usd_per_hour,
                "runway_hours": wallet.runway_hours,
                "runway": runway_text(wallet.runway_hours),
                "projected": amount,
                "projected_usd": None if rate is None else amount * rate,
            }
        )
    return rows


@click.command()
@click.option(
    "--hours",
    type=Number(0, min_open=True, max=MAX_HOURS),
    default=24,
    show_default=True,
    help="Project the cost of this many more hours.",
)
@output_options
@click.pass_context
def spend(ctx: click.Context, hours: float) -> None:
    """Burn rate of your orders, each wallet's runway at that rate, and the next HOURS' cost."""
    from clore_ai.spending import fetch_spend

    app = app_of(ctx)
    summary = fetch_spend(app.client(), now=app.now())
    rows = spend_rows(summary, hours)
    shortest = summary.shortest_runway
    if app.wants_json:
        payload = {
            "usd_per_hour": summary.usd_per_hour,
            "usd_per_day": summary.usd_per_hour * 24,
            "hours": hours,
            "projected_usd": summary.projected_usd(hours),
            "shortest_runway_hours": shortest.runway_hours if shortest else None,
            "shortest_runway_currency": shortest.currency if shortest else None,
            "unpriced_orders": list(summary.unpriced_orders),
            "rates": summary.rates,
            "wallets": rows,
            "orders": [
                {
                    "id": o.order_id,
                    "server_id": o.server_id,
                    "currency": o.currency,
                    "usd_per_hour": o.usd_per_hour,
                    "coin_per_hour": o.coin_per_hour,
                    "spend": o.spent,
                    "spend_usd": o.spent_usd,
                    "uptime_seconds": o.uptime_seconds,
                    "remaining_hours": o.remaining_hours,
                    "projected": o.projected(hours),
                }
                for o in summary.active_orders
            ],
        }
        app.emit_document(payload)
        return
    footer = (
        f"Burn {usd_per_hour(summary.usd_per_hour)}/hour = {usd_amount(summary.usd_per_hour * 24)}/day "
        f"over {_count(len(summary.active_orders), 'order')}; "
        f"next {hours:g} h: {usd_amount(summary.projected_usd(hours))}"
    )
    if shortest is not None:
        footer += f"; runs out first: {shortest.currency} in {runway_text(shortest.runway_hours)}"
    if summary.unpriced_orders:
        footer += f"; no USD rate for orders {', '.join(map(str, summary.unpriced_orders))}"
    footer += (  # a line of its own: one sentence never cut in two by a 200-column pipe
        ".\nbtc/clore in USD at the rates the marketplace's prices imply; orders stop at their rental length"
    )
    title = f"Spending (next {hours:g} h)"
    app.emit(Dataset(title, spend_columns(hours), rows, id_key="currency", footer=footer))


class LimitCrossed(click.ClickException):
    """guard --once found a limit crossed (exit 9); ``details`` names what it cancelled."""

    exit_code = ExitCode.LIMIT_CROSSED

    def __init__(self, message: str, cancelled: list[int]) -> None:
        super().__init__(message)
        self.details = {"cancelled": cancelled}


def _limits_text(limits: Any) -> str:
    parts = []
    if limits.max_hourly_usd is not None:
        parts.append(f"burn at most {usd_per_hour(limits.max_hourly_usd)}/hour")
    if limits.max_spend_usd is not None:
        parts.append(f"spend at most {usd_amount(limits.max_spend_usd)} from the guard's start")
    if limits.min_runway_hours is not None:
        parts.append(f"keep at least {limits.min_runway_hours:g} hours of runway in every wallet")
    return "; ".join(parts)


def _ask_to_cancel(app: Any, limits: Any, yes: bool) -> None:
    """--cancel: the guard may delete containers; a terminal question, or --yes without one."""
    if yes:
        return
    from .._consent import ask, explain, need_consent_channel

    need_consent_channel(yes, False, "start a guard that cancels orders")

    explain(
        "With --cancel the guard cancels your newest orders when a limit is crossed: "
        f"{_limits_text(limits)}.\n"
        "Cancelling stops an order and deletes its container with all its data."
    )
    if not ask("Start the guard with --cancel?"):
        app.note("not started: nothing was cancelled")
        raise click.exceptions.Exit(1)


def _printer(app: Any) -> Any:
    as_json = app.wants_json

    def show(event: Any) -> None:
        if app.quiet:
            if event.kind == "cancelled":
                click.echo(event.data.get("order_id"))
            return
        if as_json:
            app.emit_line(event.as_dict())
        else:
            click.echo(f"{event.as_dict()['at'][11:19]} {event.message}")
            sys.stdout.flush()

    return show


@click.command()
@click.option(
    "--max-hourly",
    type=Number(0, min_open=True, max=MAX_USD),
    metavar="USD",
    help="Most USD per hour to burn.",
)
@click.option(
    "--max-spend",
    type=Number(0, min_open=True, max=MAX_USD),
    metavar="USD",
    help="Most USD to spend from the guard's start (kept across restarts; --reset starts afresh).",
)
@click.option(
    "--min-runway",
    type=Number(0, min_open=True, max=MAX_HOURS),
    metavar="HOURS",
    help="Fewest hours any wallet may last.",
)
@click.option(
    "--near",
    type=Number(0, min_open=True, max=1),
    default=0.8,
    show_default=True,
    help="Warn from this fraction of a limit.",
)
@click.option("--cancel", is_flag=True, help="Cancel the newest orders when a limit is crossed (asks first).")
@click.option("--dry-run", is_flag=True, help="Say what --cancel would cancel; cancel nothing.")
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help="Do not ask before starting with --cancel (required without a terminal).",
)
@click.option(
    "--interval", type=Seconds(min=1), default=60, show_default=True, help="Seconds between checks."
)
@click.option("--once", is_flag=True, help="Check once and exit (9 when a limit is crossed): for cron.")
@click.option("--reset", is_flag=True, help="Forget the saved state: count spend from now.")
@output_options
@click.pass_context
def guard(
    ctx: click.Context,
    max_hourly: float | None,
    max_spend: float | None,
    min_runway: float | None,
    near: float,
    cancel: bool,
    dry_run: bool,
    yes: bool,
    interval: float,
    once: bool,
    reset: bool,
) -> None:
    """Watch your spending: warn near a limit, and with --cancel cancel the newest orders past it.

    One line per check, warning and cancellation (JSON lines with -o json); every cancellation
    is also appended to a log file. Stop it with Ctrl-C; its state is kept for the next start.
    """
    from clore_ai.guard import Guard, GuardLimits, default_guard_paths

    if max_hourly is None and max_spend is None and min_runway is None:
        raise click.UsageError("give at least one limit: --max-hourly, --max-spend or --min-runway")
    limits = GuardLimits(max_hourly, max_spend, min_runway, near)
    app = app_of(ctx)
    app.supports_output("clore guard", "json", hint=" (one JSON object per check and event)")
    cancelling = cancel and not dry_run
    if cancelling:
        _ask_to_cancel(app, limits, yes)
    state_path, log_path = default_guard_paths(app.profile, sandbox=app.sandbox)
    runner = Guard(
        app.client(),
        limits,
        cancel=cancelling,
        dry_run=dry_run,
        state_path=state_path,
        log_path=log_path,
        reset=reset,
        interval=interval,
        clock=app.now,
        on_event=_printer(app),
    )
    mode = (
        "cancels past a limit"
        if cancelling
        else "cancels nothing" + (" (dry run)" if dry_run else " (no --cancel)")
    )
    app.note(f"guard: {_limits_text(limits)}; {mode}; state {state_path}; cancellations logged to {log_path}")
    if once:
        runner.started()
        verdict = runner.check()
        if verdict.level == "crossed":
            cancelled = [e.data["order_id"] for e in runner.events if e.kind == "cancelled"]
            message = "a limit is crossed: " + ", ".join(r.text for r in verdict.crossed)
            if cancelled:
                message += (
                    "; cancelled order"
                    + ("s " if len(cancelled) > 1 else " ")
                    + ", ".join(map(str, cancelled))
                )
            raise LimitCrossed(message, cancelled)
        return
    try:
        runner.run()
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM/SIGHUP) is how a guard is stopped: exit 0
        app.note(f"guard stopped; its state is kept in {state_path}")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (spend, guard):
        cli.add_command(command)
