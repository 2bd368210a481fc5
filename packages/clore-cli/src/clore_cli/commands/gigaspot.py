"""gigaspot, gigaspot-order: GigaSPOT servers and bids (they cannot be rented with deploy)."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._api_errors import cli_terms
from .._errors import BadInput
from .._main import app_of, output_options
from .._params import MAX_ID, Number, WholeNumber
from ..formats import Column, Dataset, sanitize, usd_amount, usd_per_hour
from .market import short_gpu

UBUNTU_IMAGE = "a3f9c4d7e5b088d8a0bff880"  # Clore's CCR image ids (clore-gigaspot)
HIVEOS_IMAGE = "c9a4e2f6b7d488d8f0bab0ff"
IMAGES = {"ubuntu": UBUNTU_IMAGE, "hiveos": HIVEOS_IMAGE}
DEFAULT_PL = 300  # watts per GPU when --pl is not given
USD_COIN = "USD-Blockchain"
ANSWER_HINT = " (the request with --dry-run, else the API's answer)"
DRY_RUN_HINT = " (the quote and the request)"


def lowest_bid(server: Any, coin: str) -> float | None:
    """The lowest GigaSPOT bid per day in ``coin`` on ``server`` (:func:`clore_ai.gigaspot.lowest_bid`)."""
    from clore_ai.gigaspot import lowest_bid as sdk_lowest_bid

    return sdk_lowest_bid(server, coin)


def _bid_warnings(price: float, minimum: float | None) -> list[str]:
    """A bid far above the server's minimum (a typo?; one under it is refused before this):
    stderr says it after ``warning:``, JSON has it in ``warnings``."""
    from .spotbid import OVERBID_WARNING_FACTOR

    if minimum and price > OVERBID_WARNING_FACTOR * minimum:
        return [f"the bid is {price / minimum:,.0f}× the server's minimum bid"]
    return []


def _cheapest_bid(server: Any, rates: dict[str, float]) -> tuple[str | None, float | None, float | None]:
    """(currency, lowest bid per day in it, in USD per day) over the coins the host accepts."""
    best: tuple[str | None, float | None, float | None] = (None, None, None)
    for coin in server.allowed_coins or []:
        native = lowest_bid(server, coin)
        rate = rates.get(coin)
        if native is None or rate is None:
            continue
        usd = native * rate
        if best[2] is None or usd < best[2]:
            best = (coin, native, usd)
    return best


@click.command()
@click.option("--gpu", help="Only servers whose GPU name contains this text.")
@click.option("--limit", type=WholeNumber(min=1), default=30, show_default=True, help="Rows shown.")
@output_options
@click.pass_context
def gigaspot(ctx: click.Context, gpu: str | None, limit: int) -> None:
    """Servers on GigaSPOT, lowest minimum bid first (rent them with gigaspot-order)."""
    from .._consent import COIN_NAMES, implied_usd_rates

    app = app_of(ctx)
    servers = app.client().marketplace(gpu=gpu, available_only=False)
    rates = implied_usd_rates(servers)
    rows = []
    for server in servers:
        if not server.on_gigaspot:
            continue
        coin, native, usd = _cheapest_bid(server, rates)
        rows.append(
            {
                "id": server.id,
                "gpu": server.gpu_model,
                "gpu_short": short_gpu(server.gpu_model),
                "gpus": server.gpu_count,
                "min_bid_per_day": native,
                "coin": COIN_NAMES.get(coin, coin) if coin else None,
                "currency": coin,
                "usd_per_hour": None if usd is None else usd / 24,
                "usd_per_day": usd,
                "location": server.location,
            }
        )
    rows.sort(key=lambda r: (r["usd_per_day"] is None, r["usd_per_day"] or 0.0))
    app.emit(
        Dataset(
            "Servers on GigaSPOT",
            [
                Column("id", "ID", "right", no_wrap=True),
                Column("gpu", "GPU model", in_table=False),
                Column("gpu_short", "GPU", no_wrap=True),  # as in search: the count has its column
                Column("gpus", "GPUs", "right", no_wrap=True),
                Column("min_bid_per_day", "Min bid/day", "right", coin_key="currency"),
                Column("coin", "Coin", in_table=False),  # the cell names it: 0.00002646 btc
                Column("usd_per_hour", "USD/h", "right", usd_per_hour, derived=True),
                Column("usd_per_day", "USD/day", "right", usd_amount, derived=True),
                Column("location", "Loc"),
            ],
            rows[:limit],
            footer=f"{len(rows)} servers on GigaSPOT" + (f", {limit} shown" if len(rows) > limit else ""),
        )
    )


def _refusal(refused: Any, rate: float | None) -> BadInput:
    """A bid :func:`clore_ai.gigaspot.check_gigaspot_bid` refused, in the CLI's words (exit 2)."""
    from clore_ai._validation import plain_number

    from .._consent import price_text
    from .._rentable import COIN_SHORT, coin_names

    if refused.reason == "below-minimum":
        minimum = price_text(refused.minimum, refused.currency, rate)
        return BadInput(
            f"--price {plain_number(refused.price)} is below the minimum GigaSPOT bid of server "
            f"{refused.server_id}: {minimum}; bid at least {plain_number(refused.minimum)} (nothing was sent)"
        )
    if refused.reason == "minimum-above-cap":
        coin = COIN_SHORT.get(refused.currency, refused.currency)
        others = [COIN_SHORT.get(c, c) for c in refused.accepted]
        hint = f"; bid with --currency {' or '.join(others)}" if others else ""
        return BadInput(
            f"server {refused.server_id} takes GigaSPOT bids in {coin} from "
            f"{plain_number(refused.minimum)} {coin}/day, above the 5000/day cap on every GigaSPOT "
            f"price, so no {coin} bid can be placed{hint}; nothing was sent"
        )
    if refused.reason == "currency-not-accepted":
        coins = refused.accepted
        hint = f" (use --currency {COIN_SHORT.get(coins[0], coins[0])})" if coins else ""
        coin = COIN_SHORT.get(refused.currency, refused.currency)
        return BadInput(
            f"server {refused.server_id} does not accept {coin}; "
            f"it takes {coin_names(coins)}{hint}; nothing was sent"
        )
    return BadInput(str(refused))


@click.group("gigaspot-order")
def gigaspot_order() -> None:
    """Bid on GigaSPOT servers (create) or change a bid (edit). Both spend money: they show
    the price in the coin and in USD per hour and per day and ask first."""


def _consent(
    app: Any,
    ctx: click.Context,
    lines: list[str],
    body: Any,
    endpoint: str,
    dry_run: bool,
    yes: bool,
    warnings: list[str],
) -> bool:
    from .._consent import ask, explain

    explain("\n".join([*lines, *(f"warning: {w}" for w in warnings)]))
    if dry_run:
        app.emit_document({"request": {"endpoint": endpoint, "body": body}, "warnings": warnings})
        app.note("dry run: nothing was sent")
        return False
    if not yes and not ask("Send this GigaSPOT order?"):
        app.note("cancelled: nothing was sent")
        ctx.exit(1)
    return True


@gigaspot_order.command("create")
@click.argument("server_id", type=WholeNumber(min=1, max=MAX_ID))
@click.option("--price", type=Number(0, min_open=True), required=True, help="Bid per DAY in --currency.")
@click.option(
    "--currency", required=True, help="bitcoin, CLORE-Blockchain, USD-Blockchain (or btc, clore, usd)."
)
@click.option(
    "--image",
    default="ubuntu",
    show_default=True,
    help="ubuntu, hiveos, or a CCR image id.",
)
@click.option(
    "--pl",
    type=WholeNumber(min=1, max=10_000),
    default=None,
    help="GPU power limit in watts, every GPU (default 300).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the price and the request body; send nothing.")
@output_options
@click.pass_context
def create(
    ctx: click.Context,
    server_id: int,
    price: float,
    currency: str,
    image: str,
    pl: int | None,
    yes: bool,
    dry_run: bool,
) -> None:
    """Bid on GigaSPOT server SERVER_ID at PRICE per day; prints the new order (-q: its id).

    Shows the bid, the server's minimum and your wallet in the coin and in USD per hour and
    per day, and asks first. A bid below the minimum is refused before anything is sent."""
    from clore_ai import InvalidInputError, normalize_currency
    from clore_ai._validation import build_gigaspot_create_body
    from clore_ai.gigaspot import GigaSpotBidRefused, check_gigaspot_bid, place_gigaspot_bids

    from .._consent import implied_usd_rates, need_consent_channel, price_text
    from .orders import ORDER_RECORD, order_row, quoted_rates, wallet_balance, wallet_line

    watts = pl or DEFAULT_PL
    order = {"currency": currency, "image": IMAGES.get(image, image), "price": price, "oc": [{"pl": watts}]}
    try:
        coin = normalize_currency(currency)
        build_gigaspot_create_body([{**order, "renting_server": server_id}])  # checked before any request
    except InvalidInputError as error:
        raise click.UsageError(cli_terms(str(error))) from None
    need_consent_channel(yes, dry_run)
    app = app_of(ctx)
    if dry_run:  # the plan with its request is no table; the new order is one (as deploy's)
        app.supports_output("clore gigaspot-order create --dry-run", "json", hint=DRY_RUN_HINT)
    servers = app.client().marketplace(available_only=False)
    server = next((s for s in servers if s.id == server_id), None)
    rate = implied_usd_rates(servers).get(coin)
    try:
        check_gigaspot_bid(server, server_id, coin, price)
    except GigaSpotBidRefused as refused:
        raise _refusal(refused, rate) from None
    assert server is not None  # checked above
    gpus = max(1, server.gpu_count)
    order = {**order, "renting_server": server_id, "currency": coin, "oc": [{"pl": watts}] * gpus}
    try:
        body = build_gigaspot_create_body([order])
    except InvalidInputError as error:
        raise click.UsageError(cli_terms(str(error))) from None
    minimum = lowest_bid(server, coin)
    lines = [
        f"GigaSPOT server {server_id}: {sanitize(str(server.gpu_model))}",
        f"Bid: {price_text(price, coin, rate, exact=True)}",
        f"Minimum bid: {price_text(minimum, coin, rate)}",
        f"Power limit: {watts} W on {gpus} GPU(s)",
        wallet_line(wallet_balance(app, coin), coin, price),
    ]
    warnings = _bid_warnings(price, minimum)
    if not _consent(app, ctx, lines, body, "create_gigaspot_orders", dry_run, yes, warnings):
        return
    placement = place_gigaspot_bids(app.client(), [order])
    result = placement.result
    failed = {
        "failed_to_rent_servers": "could not be rented (a bid of yours on it already? see `clore orders`)",
        "too_low_bids_servers": "bid too low: its minimum rose (see `clore gigaspot`)",
        "failed_to_oc_servers": "power limit refused (try another --pl)",
    }
    problems = [text for key, text in failed.items() if getattr(result, key)]
    if problems:
        made = ", ".join(str(o.id) for o in placement.orders)
        after = f"; yet order {made} was made and bills (see: clore orders)" if made else "; nothing bills"
        failure = click.ClickException(f"server {server_id}: {'; '.join(problems)}{after}")
        failure.details = {key: getattr(result, key) for key in failed}  # type: ignore[attr-defined]
        raise failure
    if not placement.orders:
        why = f" (my_orders failed: {placement.lookup_error})" if placement.lookup_error else ""
        app.note(
            f"GigaSPOT bid on server {server_id} placed; its order has not appeared in your orders yet"
            f"{why}: see `clore orders`"
        )
        return
    ids = [o.id for o in placement.orders]
    stop = f" (stop it with `clore cancel {ids[0]}`)" if len(ids) == 1 else ""
    app.note(f"GigaSPOT bid on server {server_id} placed: order {', '.join(map(str, ids))}{stop}")
    rates = quoted_rates(coin, price, price * rate if rate is not None else None)
    # the warnings stderr showed before the bid, in JSON too (a script never sees stderr's)
    rows = [{**order_row(o, rates, app.now()), "warnings": warnings} for o in placement.orders]
    app.emit(Dataset("New GigaSPOT order", ORDER_RECORD, rows, vertical=True))


@gigaspot_order.command("edit")
@click.argument("order_id", type=WholeNumber(min=1, max=MAX_ID))
@click.option(
    "--price", type=Number(0, min_open=True), required=True, help="New bid per DAY in the order's coin."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show current → new and the request body; send nothing.")
@output_options
@click.pass_context
def edit(ctx: click.Context, order_id: int, price: float, yes: bool, dry_run: bool) -> None:
    """Change the bid of GigaSPOT order ORDER_ID to PRICE per day."""
    from clore_ai import InvalidInputError
    from clore_ai._validation import build_gigaspot_edit_body

    from .._consent import implied_usd_rates, need_consent_channel, price_text

    try:
        body = build_gigaspot_edit_body([{"order_id": order_id, "price": price}])
    except InvalidInputError as error:
        raise click.UsageError(cli_terms(str(error))) from None
    need_consent_channel(yes, dry_run)
    app = app_of(ctx)
    app.supports_output("clore gigaspot-order edit", "json", hint=ANSWER_HINT)
    order = next((o for o in app.client().my_orders() if o.id == order_id), None)
    if order is None:
        raise click.ClickException(f"order {order_id} is not one of your active orders (see: clore orders)")
    coin = order.currency or "?"
    servers = app.client().marketplace(available_only=False)
    server = next((s for s in servers if s.id == order.server_id), None)
    if server is not None and not server.on_gigaspot:
        kind = f"spot-price {order_id} PRICE" if order.spot else f"cancel {order_id}"
        raise BadInput(
            f"order {order_id} is not a GigaSPOT order (server {order.server_id} is not on GigaSPOT); "
            f"nothing was sent (see: clore {kind})"
        )
    rate = implied_usd_rates(servers).get(coin)
    if server is not None:
        from clore_ai.gigaspot import GigaSpotBidRefused, check_gigaspot_bid

        try:
            check_gigaspot_bid(server, server.id, coin, price)
        except GigaSpotBidRefused as refused:
            if refused.reason in ("below-minimum", "minimum-above-cap"):  # the rest: the API's to say
                raise _refusal(refused, rate) from None
    now, new = price_text(order.price, coin, rate), price_text(price, coin, rate, exact=True)
    lines = [f"GigaSPOT order {order_id}: bid {now} → {new}"]
    warnings = _bid_warnings(price, lowest_bid(server, coin) if server is not None else None)
    if not _consent(app, ctx, lines, body, "edit_gigaspot_orders", dry_run, yes, warnings):
        return
    result = app.client().edit_gigaspot_orders([{"order_id": order_id, "price": price}])
    if app.wants_json:
        app.emit_document({**result.model_dump(), "warnings": warnings})
    if result.too_low_bid_ids:
        raise click.ClickException(f"order {order_id}: the bid is below the server's minimum")
    if result.failed_to_update_ids:
        raise click.ClickException(f"order {order_id} could not be updated (is it a live GigaSPOT order?)")
    if not app.wants_json:
        click.echo(f"GigaSPOT order {order_id} now bids {price_text(price, coin, rate)}")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (gigaspot, gigaspot_order):
        cli.add_command(command)
