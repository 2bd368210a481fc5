"""search and spot: the marketplace, with honest units."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import click

from .. import hookimpl
from .._cache import complete_currency, completer, remember, remember_gpus
from .._main import app_of, gc_paused, output_options
from .._params import MAX_ID, Number, WholeNumber
from .._rentable import COIN_SHORT, coin_names, not_rentable, on_gigaspot
from ..formats import Column, Dataset, coin_amount, human_number, usd_amount, usd_per_hour

# The query language, matching and ranking live in the SDK (clore_ai.query); it is imported
# when a command runs, not here: `clore --help` must not import pydantic. The sort keys are
# spelled out for the help text (a test checks they are the SDK's SORT_KEYS).
SORT_KEY_NAMES = ("price", "gpu", "gpus", "ram", "reliability", "rating", "id", "price_day", "spot_price")


def parse_query(terms: tuple[str, ...]) -> Any:
    """The query as a :class:`clore_ai.query.MarketQuery`; a bad term is a usage error."""
    from clore_ai.query import MarketQuery, QueryError

    try:
        return MarketQuery.parse(terms)
    except QueryError as error:
        raise click.UsageError(str(error)) from None


def parse_sort(spec: str) -> Any:
    from clore_ai.query import QueryError
    from clore_ai.query import parse_sort as sdk_parse_sort

    try:
        return sdk_parse_sort(spec)
    except QueryError as error:
        raise click.UsageError(str(error)) from None


_GPU_PREFIX = re.compile(r"^\s*\d+\s*x\s*|\b(NVIDIA|GeForce|AMD|Radeon)\s+", re.IGNORECASE)


def short_gpu(model: str | None) -> str | None:
    """``1x NVIDIA GeForce RTX 4090`` -> ``RTX 4090`` (the count is in GPUs)."""
    return _GPU_PREFIX.sub("", model).strip() or model if model else None


def server_row(server: Any, currency: str | None) -> dict[str, Any]:
    from clore_ai.query import FIELDS

    row = {
        "id": server.id,
        "gpu": server.gpu_model,
        "gpu_short": short_gpu(server.gpu_model),
        "gpus": server.gpu_count,
        "ram_gb": FIELDS["ram_gb"](server),
        "cpu": server.specs.cpu if server.specs else None,
        "usd_per_hour": server.price_usd,
        "usd_per_day": server.price_usd_per_day,
        "spot_usd_per_hour": server.spot_price_usd,
        "country": server.location,
        "reliability": server.reliability,
        "rating": FIELDS["rating"](server),
        "cuda": FIELDS["cuda"](server),
        "max_rental_hours": server.mrl,
        "rented": bool(server.rented),
        "currencies": list(server.allowed_coins or []),
        "coins": coin_names(server.allowed_coins),
        "gigaspot": on_gigaspot(server),
        # as deploy would judge an on-demand order now: a rented server refuses one
        "rentable": not_rentable(server, currency, on_demand=True) is None,
        "not_rentable_because": not_rentable(server, currency, on_demand=True),
        "availability": _availability(server, currency),
    }
    if currency:
        row["price_per_day_" + currency] = server.price_per_day(currency)
    return row


@click.command()
@click.argument("query", nargs=-1)
@click.option("--gpu", help="GPU model substring, e.g. 4090.", shell_complete=completer("gpus"))
@click.option("--min-gpu", type=WholeNumber(min=1, max=1024), help="Minimum number of GPUs.")
@click.option("--min-ram", type=Number(0), help="Minimum RAM in GB.")
@click.option("--max-price", type=Number(0), help="Maximum on-demand price in USD per hour.")
@click.option(
    "--sort",
    "sort_spec",
    default="price",
    show_default=True,
    help="Comma-separated keys: "
    + ", ".join(SORT_KEY_NAMES)
    + " (best first; +key ascending, -key descending).",
)
@click.option(
    "--limit",
    type=WholeNumber(min=1),
    default=20,
    show_default=True,
    help="How many servers to show.",
)
@click.option(
    "--currency",
    help="Only servers that accept this currency (btc, clore, usd), with their price per day in it.",
    shell_complete=complete_currency,
)
@click.option(
    "--all",
    "include_rented",
    is_flag=True,
    help=(
        "Include rented and GigaSPOT servers (a Free column says which; JSON: rentable, "
        "not_rentable_because)."
    ),
)
@output_options
@click.pass_context
@gc_paused
def search(
    ctx: click.Context,
    query: tuple[str, ...],
    gpu: str | None,
    min_gpu: int | None,
    min_ram: float | None,
    max_price: float | None,
    sort_spec: str,
    limit: int,
    currency: str | None,
    include_rented: bool,
) -> None:
    """Search the marketplace. QUERY terms: 'gpu=4090,3090 gpus>=2 price<1 reliability>90%'.

    Operators = == != < <= > >= (spaces around them are fine); lists: gpu=4090,3090 or
    'gpu in 4090,3090'. price is USD per hour; price_day USD per day; reliability 0.9 or 90%.
    """
    from clore_ai.query import rank

    market_query = parse_query(query)
    order = parse_sort(sort_spec)
    coin = None
    if currency:
        from clore_ai import InvalidInputError, normalize_currency

        try:
            coin = normalize_currency(currency)
        except InvalidInputError as error:
            raise click.BadParameter(str(error), param_hint="--currency") from None
    app = app_of(ctx)
    servers = app.client().marketplace(
        gpu=gpu,
        min_gpu_count=min_gpu,
        min_ram_gb=min_ram,
        max_price_usd=max_price,
        available_only=not include_rented,
    )
    # Filter and sort the servers themselves; rows only for the `limit` shown.
    matching = [s for s in servers if market_query.matches(s)]
    hidden = {"GigaSPOT": 0, "currency": 0}
    if not include_rented:  # deploy cannot rent these: never on top of the list
        kept = []
        for server in matching:
            if on_gigaspot(server):
                hidden["GigaSPOT"] += 1
            elif coin and coin not in (server.allowed_coins or []):
                hidden["currency"] += 1
            else:
                kept.append(server)
        matching = kept
    elif coin:
        matching = [s for s in matching if coin in (s.allowed_coins or [])]
    matching = rank(matching, order)
    total = len(matching)
    if not matching:
        options = {"--gpu": gpu, "--min-gpu": min_gpu, "--min-ram": min_ram, "--max-price": max_price}
        given = " ".join(f"{name} {_plain(value)}" for name, value in options.items() if value is not None)
        why = _why_empty(servers, market_query.terms, hidden, options=given, include_rented=include_rented)
        app.note(why)
    rows = [server_row(s, coin) for s in matching[:limit]]
    remember(
        "servers",
        [
            (str(r["id"]), f"{r['gpu']} {usd_per_hour(r['usd_per_hour'])}/h")
            for r in rows
            if r["rentable"] and not r["rented"]
        ],
    )
    remember_gpus(servers)
    columns = [
        Column("id", "ID", "right", no_wrap=True),
        Column("gpu", "GPU model", in_table=False),
        Column("gpu_short", "GPU", no_wrap=True),
        Column("gpus", "GPUs", "right", no_wrap=True),
        Column("ram_gb", "RAM", "right", "{:.0f}", no_wrap=True),
        Column("cpu", "CPU", in_table=False),
        Column("usd_per_hour", "$/hour", "right", usd_per_hour, no_wrap=True, derived=True),
        Column("usd_per_day", "$/day", "right", usd_amount, in_table=False),
        Column("spot_usd_per_hour", "spot/h", "right", usd_per_hour, no_wrap=True, derived=True),
        Column("country", "CC", no_wrap=True, optional=True),
        Column("reliability", "Rel", "right", "{:.2f}", no_wrap=True, optional=True),
        Column("coins", "Coins"),  # the one column that may wrap: the table stays a table at 80
    ]
    if include_rented:  # what deploy cannot rent on-demand is among them: say which, briefly
        columns.insert(1, Column("availability", "Free", no_wrap=True, labels=_FREE_CELL))
    if coin:  # "0.0000985 btc", "1,108.85 clore", "$45.00": like coin amounts everywhere
        columns.append(
            Column(
                "price_per_day_" + coin,
                "Price/day",
                "right",
                partial(coin_amount, currency=coin),
                no_wrap=True,
            )
        )
    app.emit(
        Dataset(
            "GPU marketplace",
            columns,
            rows,
            footer=_footer(len(rows), total, hidden, coin) + (_FREE_LEGEND if include_rented else ""),
        )
    )


#: The Free cell of `search --all`: short, so the table still fits 80 columns (the footer says "GS").
_FREE_CELL = {"free": "yes", "rented": "no", "GigaSPOT": "GS"}
_FREE_LEGEND = "; Free: no = rented on-demand (a spot bid can still be placed), GS = on GigaSPOT"


def _availability(server: Any, currency: str | None) -> str:
    """A word for the table of `search --all`: free, rented, GigaSPOT or the coin it lacks."""
    if on_gigaspot(server):
        return "GigaSPOT"
    if currency and currency not in (server.allowed_coins or []):
        return f"no {COIN_SHORT.get(currency, currency)}"
    return "rented" if server.rented else "free"


def _plain(value: Any) -> str:
    return human_number(value) if isinstance(value, float) else str(value)


def _why_empty(
    servers: list[Any],
    terms: tuple[Any, ...],
    hidden: dict[str, int],
    *,
    options: str,
    include_rented: bool,
) -> str:
    """Which term left nothing: "searched 190 servers; `gpu=5090` excluded them all"."""
    where = "available servers" if not include_rented else "servers"
    text = f"no server matches: searched {len(servers)} {where}"
    if not servers:
        also = "" if include_rented else "; --all also searches rented servers"
        if options:  # the SDK applied them: the servers they excluded were never counted
            return f"no {where[:-1]} matches {options}{also}"
        return text + also
    left = list(servers)
    for term in terms:
        kept = [s for s in left if term.matches(s)]
        if not kept:
            return text + f"; `{term.label}` excluded the {len(left)} left"
        left = kept
    reasons = [
        f"{n} {why}"
        for why, n in (("on GigaSPOT", hidden["GigaSPOT"]), ("not taking the currency", hidden["currency"]))
        if n
    ]
    return text + (f"; the rest cannot be rented ({', '.join(reasons)})" if reasons else "")


def _footer(shown_count: int, total: int, hidden: dict[str, int], coin: str | None) -> str:
    text = f"Showing {shown_count} of {total} servers; prices in USD per hour, RAM in GB"
    if coin:
        text += f"; only servers that accept {COIN_SHORT.get(coin, coin)}"
    notes = []
    if hidden["GigaSPOT"]:
        notes.append(f"{hidden['GigaSPOT']} on GigaSPOT")
    if hidden["currency"]:
        notes.append(f"{hidden['currency']} not taking {COIN_SHORT.get(coin or '', coin)}")
    if notes:
        text += f" ({' and '.join(notes)} hidden: deploy cannot rent them; --all shows them)"
    return text


@click.command()
@click.argument("server_id", type=WholeNumber(min=1, max=MAX_ID), shell_complete=completer("servers"))
@output_options
@click.pass_context
def spot(ctx: click.Context, server_id: int) -> None:
    """Show the spot market (bids per day) of one server."""
    app = app_of(ctx)
    market = app.client().spot_marketplace(server_id)
    if market.exists is False:
        raise click.ClickException(f"server {server_id} does not exist (find servers with `clore search`)")
    rows = []
    for offer in market.offers or []:
        usd_day = market.usd_per_day(offer)
        rows.append(
            {
                "order_id": offer.order_id,
                "price_per_day": offer.price,
                "currency": offer.currency,
                "usd_per_day": usd_day,
                "usd_per_hour": usd_day / 24 if usd_day is not None else None,
                "active": offer.active,
                "mine": offer.my,
            }
        )
    online = market.server.online if market.server else None
    app.emit(
        Dataset(
            f"Spot market - server {server_id}",
            [
                Column("order_id", "Order ID", "right"),
                Column("price_per_day", "Bid/day", "right", coin_key="currency"),
                Column("currency", "Currency", in_table=False),  # the Bid/day cells name the coin
                Column("usd_per_hour", "$/hour", "right", usd_per_hour, derived=True),
                Column("usd_per_day", "$/day", "right", usd_amount, derived=True),
                Column("active", "Active"),
                Column("mine", "Mine"),
            ],
            rows,
            id_key="order_id",
            footer=_winning_now(market, server_id),
            extra={"online": online},
        )
    )


def _winning_now(market: Any, server_id: int) -> str | None:
    """``Lowest winning bid now: 0.00005965 btc or 1,500.01 clore per day (…)``."""
    from clore_ai.spotbid import spot_position

    coins = list((market.server.min_pricing if market.server else None) or {})
    bids = [spot_position(market, server_id, currency=coin).lowest_winning_bid for coin in coins]
    shown = [coin_amount(bid, coin) for bid, coin in zip(bids, coins) if bid is not None]
    if not shown:
        return None
    return (
        f"Lowest winning bid now: {' or '.join(shown)} per day (details: clore spot-bid --server {server_id})"
    )


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(search)
    cli.add_command(spot)
