"""spot-bid: where a spot bid stands, what would win now, and --auto to keep it winning."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._cache import completer
from .._errors import ExitCode
from .._main import app_of, output_options
from .._params import MAX_ID, MAX_USD_PER_DAY, Number, Seconds, UsdPerTime, WholeNumber
from ..formats import Column, Dataset, usd_amount, usd_per_hour

LIVE_INTERVAL = 60.0
SANDBOX_INTERVAL = 2.0


class CapPrice(Number):
    """``--cap``: a bare number is per day in the order's coin (as the API bids); with a unit
    (``0.30/h``, ``$7/day``) it is USD, converted at the spot book's rate when the keeper starts."""

    name = "price"

    def __init__(self) -> None:
        super().__init__(0, min_open=True, max=MAX_USD_PER_DAY)  # the SDK's highest price, any coin

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> tuple[str, float]:  # type: ignore[override]
        if isinstance(value, tuple):
            return value
        text = str(value)
        if "/" in text or "$" in text:
            per_day = UsdPerTime().convert(text, param, ctx)
            if per_day <= 0:
                self.fail(f"{text!r} must be > 0", param, ctx)
            return ("usd", per_day)
        return ("coin", super().convert(text, param, ctx))


def _usd_hour(position: Any, price: float | None) -> float | None:
    usd = position.usd_per_day(price)
    return None if usd is None else usd / 24


def order_record(position: Any) -> dict[str, Any]:
    top = position.top_other
    return {
        "order_id": position.order_id,
        "server_id": position.server_id,
        "currency": position.currency,
        "bid": position.bid,
        "bid_usd_per_hour": position.bid_usd_per_hour,
        "rank": position.rank,
        "bids": position.bids,
        "winning": position.winning,
        "top_other_order_id": top.order_id if top else None,
        "top_other_bid": top.price if top else None,
        "top_other_currency": top.currency if top else None,
        "top_other_usd_per_hour": top.usd_per_day / 24 if top and top.usd_per_day is not None else None,
        "minimum": position.minimum,
        "lowest_winning_bid": position.lowest_winning_bid,
        "lowest_winning_usd_per_hour": position.lowest_winning_usd_per_hour,
        "lowest_winning_usd_per_day": position.usd_per_day(position.lowest_winning_bid),
    }


ORDER_COLUMNS = [
    Column("order_id", "Order"),
    Column("server_id", "Server"),
    Column("currency", "Currency", in_table=False),  # the cells name it; CSV needs it said
    Column("bid", "Bid/day", coin_key="currency"),
    Column("bid_usd_per_hour", "Bid $/hour", fmt=usd_per_hour, derived=True),
    Column("rank", "Rank"),
    Column("bids", "Bids in book"),
    Column("winning", "Winning"),
    Column("top_other_bid", "Best other bid/day", coin_key="top_other_currency"),
    Column("top_other_currency", "Best other currency", in_table=False),
    Column("top_other_usd_per_hour", "Best other $/hour", fmt=usd_per_hour, derived=True),
    Column("minimum", "Server minimum/day", coin_key="currency"),
    Column("lowest_winning_bid", "Lowest winning bid/day", coin_key="currency"),
    Column("lowest_winning_usd_per_hour", "Lowest winning $/hour", fmt=usd_per_hour, derived=True),
    Column("lowest_winning_usd_per_day", "Lowest winning $/day", fmt=usd_amount, derived=True),
]

SERVER_COLUMNS = [
    Column("currency", "Currency", no_wrap=True),
    Column("minimum", "Minimum/day", "right", coin_key="currency"),
    Column("lowest_winning_bid", "Wins now/day", "right", coin_key="currency"),
    Column("lowest_winning_usd_per_hour", "$/hour", "right", usd_per_hour, derived=True),
    Column("lowest_winning_usd_per_day", "$/day", "right", usd_amount, derived=True),
]


def show_server(app: Any, server_id: int) -> None:
    from clore_ai.spotbid import spot_position

    market = app.client().spot_marketplace(server_id)
    if market.exists is False:
        raise click.ClickException(f"server {server_id} does not exist (find servers with `clore search`)")
    pricing = (market.server.min_pricing if market.server else None) or {}
    coins = list(pricing) or list(market.currency_rates_in_usd or {})
    rows = []
    for coin in coins:
        position = spot_position(market, server_id, currency=coin)
        rows.append({k: v for k, v in order_record(position).items() if k in {c.key for c in SERVER_COLUMNS}})
    top = spot_position(market, server_id).top_other
    bids = len(market.offers or [])
    footer = f"{bids} bid{'' if bids == 1 else 's'} in the book"
    if top is not None and top.usd_per_day is not None:
        footer += f"; the best is order {top.order_id} at {usd_per_hour(top.usd_per_day / 24)}/h"
    app.emit(
        Dataset(
            f"Spot bids that would win now on server {server_id}",
            SERVER_COLUMNS,
            rows,
            id_key="currency",
            footer=footer + "; bids are per day",
        )
    )


def _standing_line(position: Any) -> str:
    """``Order 39 on server 6 bids 0.000004 BTC/day ($0.27/day, $0.0113/h); rank 2 of 2, not winning.``"""
    from .._consent import price_text

    standing = f"rank {position.rank} of {position.bids}, " + (
        "winning" if position.winning else "not winning"
    )
    return (
        f"Order {position.order_id} on server {position.server_id} "
        f"bids {price_text(position.bid, position.currency, position.rate)}; {standing}."
    )


def _consent_lines(position: Any, cap: float, *, typed: bool) -> list[str]:
    """``typed``: the cap is as given in the coin (every digit shown), not converted from USD."""
    from .._consent import price_text

    coin, rate = position.currency, position.rate
    return [
        _standing_line(position),
        f"Lowest winning bid now: {price_text(position.lowest_winning_bid, coin, rate)}",
        f"Cap: {price_text(cap, coin, rate, exact=typed)}",
        "The bid is raised to the lowest winning bid (never above the cap) and lowered when it "
        "overbids (at most once per 600 s, by at most the API's max_step).",
    ]


#: A bid this many times the lowest winning one gets a warning: it is most likely a typo.
OVERBID_WARNING_FACTOR = 3.0


def bid_warnings(price: float, lowest_winning: float | None, what: str, *, see: str) -> list[str]:
    """A warning when a bid will not win now, or is far above what would (most likely a typo);
    ``see`` is the command that shows the book."""
    if lowest_winning is None or lowest_winning <= 0:
        return []
    if price < lowest_winning:
        return [
            f"warning: {what} does not win now; a spot order runs and bills only while its bid is "
            f"the highest (see: {see})"
        ]
    if price > OVERBID_WARNING_FACTOR * lowest_winning:
        return [
            f"warning: {what} is {price / lowest_winning:,.0f}× the lowest winning bid; a winning order "
            "pays its own bid (clore spot-bid ORDER_ID --auto keeps it just above the others)"
        ]
    return []


def new_bid_lines(position: Any, price: float) -> list[str]:
    """What ``clore spot-price`` shows before it changes a bid: the bid now, the new one, the
    lowest bid that wins now, and a warning when the new bid will not win or overpays."""
    from .._consent import price_text

    coin, rate, lowest = position.currency, position.rate, position.lowest_winning_bid
    lines = [
        _standing_line(position),
        f"New bid: {price_text(price, coin, rate, exact=True)}",
        f"Lowest winning bid now: {price_text(lowest, coin, rate)}",
    ]
    lines.extend(bid_warnings(price, lowest, "the new bid", see=f"clore spot-bid {position.order_id}"))
    if position.bid is not None and price < position.bid:
        lines.append("Lowering is allowed once per 600 s, by at most the API's max_step.")
    return lines


def keep_winning(
    app: Any,
    ctx: click.Context,
    order_id: int,
    cap: tuple[str, float],
    *,
    interval: float | None,
    once: bool,
    yes: bool,
    dry_run: bool,
) -> None:
    import time

    from clore_ai.spotbid import SpotKeeper, order_position

    from .._consent import ask, explain, logged_price_text, need_consent_channel

    need_consent_channel(yes, dry_run)
    client = app.client()
    position = order_position(client, order_id)
    kind, value = cap
    if kind == "usd":
        if not position.rate:
            raise click.UsageError(
                f"the spot book has no USD rate for {position.currency}; give --cap in the coin"
            )
        value = value / position.rate
    explain("\n".join(_consent_lines(position, value, typed=kind == "coin")))
    if dry_run:
        app.note("dry run: no bid will be changed")
    elif not yes and not ask(f"Keep order {order_id} winning under this cap?"):
        app.note(f"not started: nothing was sent; order {order_id} keeps its bid")  # not "cancelled": it runs
        ctx.exit(1)
    keeper = SpotKeeper(
        order_id,
        value,
        amount_text=logged_price_text,  # reasons name amounts in the coin and in USD, as the question did
        dry_run=dry_run,
        interval=interval or (SANDBOX_INTERVAL if app.sandbox else LIVE_INTERVAL),
        clock=app.now,
    )

    def warn(error: Exception) -> None:
        app.note(f"warning: {error}; trying again in {keeper.interval:g} s")

    last: tuple[str, str] | None = None
    try:
        for action in keeper.run(client, sleep=time.sleep, on_error=warn):
            shown_now = (action.kind, action.reason.split(";")[0])
            if app.wants_json or action.changes_price or shown_now != last or once:
                if app.wants_json:
                    app.emit_line(action.as_dict())
                else:
                    click.echo(_action_line(action))
            last = shown_now
            if action.kind == "ended":
                app.note(f"order {order_id} has ended; nothing left to keep")
            if once:
                return
    except KeyboardInterrupt:
        app.note(f"stopped (Ctrl-C); order {order_id} keeps the bid it has (see: clore spot-bid {order_id})")
        ctx.exit(ExitCode.INTERRUPTED)


def _action_line(action: Any) -> str:
    """``…Z order 41: raise 0.00004 BTC/day ($2.72/day, $0.1133/h) → … (reason)``: in the coin
    and in USD, as the lines asking for consent say it."""
    from .._consent import logged_price_text
    from ..formats import sanitize

    at = action.as_dict()["at"]
    reason = sanitize(action.reason)  # its amounts carry their units (amount_text=logged_price_text)
    if not action.changes_price:
        return f"{at} order {action.order_id}: {action.kind.replace('_', ' ')} ({reason})"
    verb = ("would " if action.dry_run else "") + action.kind
    before = logged_price_text(action.current, action.currency, action.rate)
    after = logged_price_text(action.new, action.currency, action.rate)
    return f"{at} order {action.order_id}: {verb} {before} → {after} ({reason})"


@click.command("spot-bid")
@click.argument(
    "order_id", required=False, type=WholeNumber(min=1, max=MAX_ID), shell_complete=completer("orders")
)
@click.option(
    "--server",
    "server_id",
    metavar="SERVER_ID",
    type=WholeNumber(min=1, max=MAX_ID),
    help="A server instead of an order: what would win now, per coin.",
)
@click.option(
    "--auto", is_flag=True, help="Keep the order winning at the lowest bid under --cap, until Ctrl-C."
)
@click.option(
    "--cap",
    type=CapPrice(),
    help="With --auto: the highest bid, per day in the order's coin (or USD: 0.30/h, 7/day).",
)
@click.option(
    "--interval",
    type=Seconds(min=1.0),
    help="With --auto: seconds between looks at the book (default 60; 2 with --sandbox).",
)
@click.option("--once", is_flag=True, help="With --auto: one step, then exit.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="With --auto: show what would change; change nothing.")
@output_options
@click.pass_context
def spot_bid(
    ctx: click.Context,
    order_id: int | None,
    server_id: int | None,
    auto: bool,
    cap: tuple[str, float] | None,
    interval: float | None,
    once: bool,
    yes: bool,
    dry_run: bool,
) -> None:
    """Where a spot bid stands and the lowest bid that would win now; --auto keeps it winning.

    ORDER_ID: one of my spot orders. --server ID: any server, one line per coin it takes.
    """
    if (order_id is None) == (server_id is None):
        raise click.UsageError("give one spot ORDER_ID or --server SERVER_ID")
    if auto and (order_id is None or cap is None):
        raise click.UsageError("--auto needs an ORDER_ID and --cap (the highest bid to pay)")
    if not auto and (cap is not None or once or interval is not None):
        raise click.UsageError("--cap, --interval and --once go with --auto")
    app = app_of(ctx)
    if auto:
        app.supports_output("clore spot-bid --auto", "json", hint=" (one JSON object per step)")
    if server_id is not None:
        show_server(app, server_id)
        return
    assert order_id is not None
    if auto:
        assert cap is not None
        keep_winning(app, ctx, order_id, cap, interval=interval, once=once, yes=yes, dry_run=dry_run)
        return
    from clore_ai.spotbid import order_position

    position = order_position(app.client(), order_id)
    app.emit(
        Dataset(
            f"Spot order {order_id}",
            ORDER_COLUMNS,
            [order_record(position)],
            id_key="order_id",
            vertical=True,
        )
    )


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(spot_bid)
