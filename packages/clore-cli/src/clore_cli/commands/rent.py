"""rent: the best offer matching a query, under a price cap, falling back to the next one.

A thin layer on :mod:`clore_ai.renting`: it shows the offers and the quote, asks once, and
reports each try. The SDK decides what is tried, the cap, and that there is never a
second order.
"""

from __future__ import annotations

import time
from typing import Any

import click

from .. import hookimpl
from .._errors import ExitCode
from .._main import app_of, output_options
from .._params import Number, WholeNumber
from ..formats import Column, Dataset, sanitize, usd_amount, usd_per_hour
from .orders import (
    ORDER_RECORD,
    after_create,
    consent_and_wait_options,
    container_options,
    container_setting_options,
    expect_create_order,
    image_and_currency_options,
    interrupted_after_send,
    order_row,
    quote_of,
    quoted_rates,
    show_quote,
    wallet_balance,
)

SHOWN = 5  # offers listed before the question

# The new order as deploy shows it, with the offers tried after its price per hour.
_AFTER_PRICE = next(i for i, column in enumerate(ORDER_RECORD) if column.key == "usd_per_hour") + 1
RENT_RECORD = [*ORDER_RECORD[:_AFTER_PRICE], Column("tries", "Tries"), *ORDER_RECORD[_AFTER_PRICE:]]

# rent --dry-run in a table-like format: the offers a real run could try, in order.
MAY_TRY = [
    Column("server_id", "Server", "right"),
    Column("gpu", "GPU"),
    Column("gpus", "GPUs", "right"),
    Column("price_per_day", "Price/day", "right", coin_key="currency"),
    Column("usd_per_hour", "$/hour", "right", usd_per_hour, derived=True),
    Column("usd_per_day", "$/day", "right", usd_amount, derived=True),
    Column("max_rental_hours", "Max hours", "right"),
    Column("currency", "Currency", in_table=False),
]


class NoOffer(click.ClickException):
    """No offer could be rented (none under the cap, or every try refused): nothing bills (exit 12)."""

    exit_code = ExitCode.NO_OFFER


def _coin(currency: str) -> str:
    from ..formats import COIN_SHORT

    return COIN_SHORT.get(currency, currency)


def _usd(value: float | None, per: str) -> str:
    """``$0.0425/h`` (per hour: 4 decimals, as search's $/hour), ``$1.02/day``."""
    return f"{usd_per_hour(value) if per == 'h' else usd_amount(value)}/{per}"


def _offer_line(rank: int, offer: Any) -> str:
    from ..formats import coin_amount

    gpu = sanitize(str(offer.server.gpu_model or "?"))
    if offer.currency == "USD-Blockchain":
        price = f"{_usd(offer.price_per_day, 'day')} ({_usd(offer.usd_per_hour, 'h')})"
    else:
        coin = f"{coin_amount(offer.price_per_day, offer.currency, quote=True)}/day"
        price = f"{coin} ({_usd(offer.usd_per_hour, 'h')}, {_usd(offer.usd_per_day, 'day')})"
    return f"  {rank}. server {offer.server_id}  {gpu}  {price}"


def show_plan(plan: Any, cap_text: str, shown: int, fallback: int) -> None:
    """The best ``shown`` offers; those past the first ``fallback + 1`` are marked: never tried."""
    if not plan.offers:
        return  # the error says what was left out and why
    lines = [f"Offers for {plan.query.text!r} in {_coin(plan.currency)}, {cap_text}, best first:"]
    lines += [
        _offer_line(i, offer) + (f"  (not tried: past --fallback {fallback})" if i > fallback + 1 else "")
        for i, offer in enumerate(plan.offers[:shown], 1)
    ]
    more = len(plan.offers) - shown
    left = ", ".join(f"{n} {why}" for why, n in sorted(plan.left_out.items()))
    tail = [f"{more} more" if more > 0 else "", f"left out: {left}" if left else ""]
    if any(tail):
        lines.append("  (" + "; ".join(t for t in tail if t) + ")")
    from .._consent import explain

    explain("\n".join(lines))


def implicit_cap(plan: Any, fallback: int) -> float | None:
    """Without --max-price or a price term, the cap is the dearest offer that may be tried
    (the first ``fallback + 1``): consent never covers more than what was shown."""
    prices = [o.usd_per_hour for o in plan.offers[: fallback + 1] if o.usd_per_hour is not None]
    return max(prices) if prices else None


def _quoted(result: Any) -> dict[str, float]:
    usd_day = result.usd_per_hour * 24 if result.usd_per_hour is not None else None
    return quoted_rates(result.currency, result.price_per_day, usd_day)


def _attempt_line(attempt: Any) -> str:
    if attempt.outcome == "ordered":
        return f"server {attempt.server_id}: ordered"
    api = f" ({attempt.api_error})" if attempt.api_error else ""
    sent = "" if attempt.sent else ", not sent"
    return f"server {attempt.server_id}: {attempt.outcome}{api}{sent}"


@click.command()
@click.argument("query", nargs=-1, required=True)
@image_and_currency_options
@click.option(
    "--max-price",
    type=Number(0, min_open=True),
    help="Price cap in USD per hour (btc/clore prices converted at the API's rates); "
    "a price<X query term is a cap too. Without either: the dearest offer that may be tried.",
)
@click.option(
    "--fallback",
    type=WholeNumber(min=0, max=100),
    default=5,
    show_default=True,
    help="How many more offers to try when one is taken, offline, on GigaSPOT, does not take "
    "the coin or changed its price.",
)
@click.option("--sort", "sort_spec", default="price", show_default=True, help="Rank offers by (see search).")
@container_setting_options
@consent_and_wait_options
@click.option(
    "--dry-run", is_flag=True, help="Show the offers, the quote and the first request; send nothing."
)
@output_options
@click.pass_context
def rent(
    ctx: click.Context,
    query: tuple[str, ...],
    image: str,
    currency: str,
    max_price: float | None,
    fallback: int,
    sort_spec: str,
    ssh_password: str | None,
    ssh_key: str | None,
    ports: tuple[str, ...],
    envs: tuple[str, ...],
    jupyter_token: str | None,
    command_: str | None,
    autossh_entrypoint: bool | None,
    yes: bool,
    wait: bool,
    timeout: float,
    dry_run: bool,
) -> None:
    """Rent the best server matching QUERY under a price cap; if it is taken, try the next.

    QUERY as in search: 'gpu=4090 gpus>=2 price<0.40' (price: USD per hour). Shows the offers
    and the quote for the first, asks once, and never makes two orders nor pays above the cap.
    """
    from clore_ai import InvalidInputError, build_create_order_body, normalize_currency, redacted_order_body
    from clore_ai.renting import plan_rent

    from .._consent import ask, need_consent_channel
    from .market import parse_query, parse_sort

    market_query = parse_query(query)
    parse_sort(sort_spec)
    try:
        coin = normalize_currency(currency)
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint="--currency") from None
    options = container_options(
        ssh_password, ssh_key, ports, envs, jupyter_token, command_, autossh_entrypoint
    )
    probe = {"server_id": 1, "image": image, "type": "on-demand", "currency": coin, **options}
    try:
        build_create_order_body(**probe)
    except InvalidInputError as error:
        from .._api_errors import cli_terms

        raise click.UsageError(cli_terms(str(error))) from None
    need_consent_channel(yes, dry_run)
    app = app_of(ctx)
    client = app.client()
    plan = plan_rent(client, market_query, currency=coin, max_price_usd=max_price, sort=sort_spec)
    cap = plan.cap.usd_per_hour if plan.cap else implicit_cap(plan, fallback)
    source = plan.cap.source if plan.cap else "no cap given: the dearest offer that may be tried"
    cap_text = f"at most {_usd(cap, 'h')} ({source})"
    if cap is None and fallback:
        fallback = 0  # no USD price to bound the others by: only the offer quoted is tried
        cap_text = "no cap: no USD price known; only the first offer is tried"
    show_plan(plan, cap_text, SHOWN, fallback)
    if not plan.offers:
        raise NoOffer(plan.nothing_to_rent().message)
    first = plan.offers[0]
    quote = quote_of(
        first.server, "on-demand", coin, first.price_per_day, first.usd_per_day, wallet_balance(app, coin)
    )
    quote["cap_usd_per_hour"] = cap
    show_quote(quote)
    if dry_run:
        chosen = {**probe, "server_id": first.server_id, "required_price": first.price_per_day}
        body = build_create_order_body(**chosen)
        document: dict[str, Any] = {
            "cap_usd_per_hour": cap,
            "fallback": fallback,
            # what a real run could rent, in order (one over the cap is skipped when its turn comes)
            "may_try": [offer.to_dict() for offer in plan.offers[: fallback + 1]],
            "quote": quote,
            "request": {"endpoint": "create_order", "body": redacted_order_body(body)},
        }
        if app.quiet or app.output not in (None, "table", "json"):  # -q, csv, a plugin's format
            app.emit(Dataset("Offers a real run could try", MAY_TRY, document["may_try"], id_key="server_id"))
            app.note("dry run: nothing was sent")
            return
        if app.wants_json:  # scripts get every matching offer and why the others were left out
            document["plan"] = plan.to_dict()
        app.emit_document(document)
        app.note("dry run: nothing was sent")
        return
    others = min(fallback, len(plan.offers) - 1)
    question = f"Rent server {first.server_id} at {_usd(first.usd_per_hour, 'h')}?"
    if others:
        question += (
            f" If it is taken, up to {others} other offer(s) may be rented instead, "
            f"each {_usd(cap, 'h')} at most."
        )
    if not yes and not ask(question):
        app.note("cancelled: nothing was sent")
        ctx.exit(1)
    result = _rent(app, client, market_query, image, coin, cap, fallback, sort_spec, options, plan)
    created = after_create(app, result.order, image, wait, timeout)
    if created is not None:
        row = {
            **order_row(created, _quoted(result), app.now()),
            "usd_per_hour": result.usd_per_hour,
            "tries": "; ".join(_attempt_line(a) for a in result.attempts),
            "attempts": [a.to_dict() for a in result.attempts],
        }
        app.emit(Dataset("New order", RENT_RECORD, [row], vertical=True))


def _rent(
    app: Any,
    client: Any,
    market_query: Any,
    image: str,
    coin: str,
    cap: float | None,
    fallback: int,
    sort_spec: str,
    options: dict[str, Any],
    plan: Any,
) -> Any:
    """Run the SDK's rent, one line per offer tried; Ctrl-C after a send exits 7."""
    from clore_ai.renting import NoOfferError
    from clore_ai.renting import rent as sdk_rent

    sending: list[Any] = []
    started = time.time()

    def tried(attempt: Any) -> None:
        if attempt.outcome != "ordered":
            app.note(_attempt_line(attempt) + "; trying the next offer")

    expect_create_order(client)
    try:
        return sdk_rent(
            client,
            market_query,
            image=image,
            currency=coin,
            max_price_usd=cap,
            fallback=fallback,
            sort=sort_spec,
            plan=plan,
            on_attempt=tried,
            on_send=sending.append,
            **options,
        )
    except NoOfferError as error:
        raise NoOffer(error.message) from None
    except KeyboardInterrupt:
        if not sending or not getattr(client, "create_order_sent", True):
            raise  # nothing went out: a plain interrupt (exit 130)
        body = {"renting_server": sending[-1].server_id, "type": "on-demand"}
        raise interrupted_after_send(app, body, started) from None


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(rent)
