"""search and spot: the marketplace, with honest units."""

from __future__ import annotations

import functools
import operator
import re
from typing import Any, Callable

import click

from .. import hookimpl
from .._cache import complete_currency, completer, remember
from .._main import app_of, gc_paused, output_options
from .._params import MAX_ID, Number, WholeNumber, shown
from ..formats import Column, Dataset

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_TERM = re.compile(r"^([a-z_]+)(>=|<=|!=|=|>|<)(.+)$")
# query key -> (row field, kind)
QUERY_KEYS = {
    "gpu": ("gpu", "text"),
    "gpus": ("gpus", "number"),
    "price": ("usd_per_hour", "number"),
    "price_day": ("usd_per_day", "number"),
    "ram": ("ram_gb", "number"),
    "country": ("country", "text"),
    "cc": ("country", "text"),
    "reliability": ("reliability", "number"),
    "rating": ("rating", "number"),
    "cuda": ("cuda", "number"),
    "id": ("id", "number"),
    "spot_price": ("spot_usd_per_hour", "number"),
}
SORT_KEYS = {
    "price": ("usd_per_hour", False),
    "gpu": ("gpus", True),
    "gpus": ("gpus", True),
    "ram": ("ram_gb", True),
    "reliability": ("reliability", True),
    "rating": ("rating", True),
    "id": ("id", False),
    "price_day": ("usd_per_day", False),
    "spot_price": ("spot_usd_per_hour", False),
}


def parse_query(terms: tuple[str, ...]) -> list[tuple[str, str, Callable[[Any, Any], bool], Any]]:
    parsed = []
    for term in " ".join(terms).split():
        match = _TERM.match(term.strip().lower() if "=" not in term else term.strip())
        if not match or match.group(1).lower() not in QUERY_KEYS:
            raise click.UsageError(
                f"cannot read query term {shown(term)}; use KEY<OP>VALUE, "
                f"KEY in {', '.join(sorted(QUERY_KEYS))}"
            )
        key, op, raw = match.group(1).lower(), match.group(2), match.group(3)
        field, kind = QUERY_KEYS[key]
        if kind == "number":
            try:
                value: Any = Number().convert(raw, None, None)
            except click.BadParameter:
                raise click.UsageError(f"{key} needs a number, got {shown(raw)}") from None
        else:
            if op not in ("=", "!="):
                raise click.UsageError(f"{key} compares text: use = or !=")
            value = raw.lower()
        parsed.append((field, kind, _OPS[op], value))
    return parsed


def _matches(server: Any, field: str, kind: str, op: Callable[[Any, Any], bool], value: Any) -> bool:
    actual = FIELDS[field](server)
    if actual is None:
        return False
    if kind == "text":
        hit = value in str(actual).lower()
        return hit if op is operator.eq else not hit
    return bool(op(float(actual), value))


def parse_sort(spec: str) -> list[tuple[str, bool]]:
    keys = []
    for part in spec.split(","):
        name = part.strip()
        sign, name = (name[0], name[1:]) if name[:1] in ("+", "-") else ("", name)
        if name not in SORT_KEYS:
            raise click.UsageError(
                f"cannot sort by {shown(part)}; use {', '.join(sorted(SORT_KEYS))} (+key/-key: up/down)"
            )
        field, best_first_descending = SORT_KEYS[name]
        keys.append((field, {"-": True, "+": False}.get(sign, best_first_descending)))
    return keys


def _cuda(server: Any) -> float | None:
    version = server.cuda_version
    return float(version) if version and version.replace(".", "", 1).isdigit() else None


# The fields search filters and sorts on, read straight from the server: the rows (and the
# table) are built only for the servers shown, never for a 50,000-server marketplace.
FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": lambda s: s.id,
    "gpu": lambda s: s.gpu_model,
    "gpus": lambda s: s.gpu_count,
    "ram_gb": lambda s: round(s.ram_gb, 1) if s.ram_gb is not None else None,
    "usd_per_hour": lambda s: s.price_usd,
    "usd_per_day": lambda s: s.price_usd_per_day,
    "spot_usd_per_hour": lambda s: s.spot_price_usd,
    "country": lambda s: s.location,
    "reliability": lambda s: s.reliability,
    "rating": lambda s: s.rating.avg if s.rating else None,
    "cuda": _cuda,
}


def server_row(server: Any, currency: str | None) -> dict[str, Any]:
    row = {
        "id": server.id,
        "gpu": server.gpu_model,
        "gpus": server.gpu_count,
        "ram_gb": FIELDS["ram_gb"](server),
        "cpu": (server.specs.cpu or "")[:30] if server.specs else None,
        "usd_per_hour": server.price_usd,
        "usd_per_day": server.price_usd_per_day,
        "spot_usd_per_hour": server.spot_price_usd,
        "country": server.location,
        "reliability": server.reliability,
        "rating": FIELDS["rating"](server),
        "cuda": _cuda(server),
        "max_rental_hours": server.mrl,
        "rented": bool(server.rented),
        "currencies": ",".join(server.allowed_coins or []),
    }
    if currency:
        row["price_per_day_" + currency] = server.price_per_day(currency)
    return row


def _sort_value(server: Any, *, field: str, descending: bool) -> tuple[int, float]:
    value = FIELDS[field](server)
    if value is None or (field.startswith("usd") and not value):
        return (1, 0.0)  # missing prices last, whatever the direction
    number = float(value)
    return (0, -number if descending else number)


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
    help="Comma-separated keys: price, price_day, gpus, ram, reliability, rating, id "
    "(best first; +key ascending, -key descending).",
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
    help="Also show the per-day price in this currency (btc, clore, usd).",
    shell_complete=complete_currency,
)
@click.option("--all", "include_rented", is_flag=True, help="Include rented servers.")
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
    """Search the marketplace. QUERY terms: 'gpu=4090 gpus>=2 price<0.4 country=DE reliability>0.9'.

    price is USD per hour; price_day USD per day.
    """
    terms = parse_query(query)
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
    matching = [s for s in servers if all(_matches(s, *t) for t in terms)]
    for field, descending in reversed(order):  # stable sorts, last key first
        matching.sort(key=functools.partial(_sort_value, field=field, descending=descending))
    total = len(matching)
    rows = [server_row(s, coin) for s in matching[:limit]]
    remember("servers", [(str(r["id"]), f"{r['gpu']} ${r['usd_per_hour'] or 0:.3f}/h") for r in rows])
    remember("gpus", sorted({(name, "GPU") for s in servers for name in s.gpu_names}))
    columns = [
        Column("id", "ID", "right"),
        Column("gpu", "GPU"),
        Column("gpus", "GPUs", "right"),
        Column("ram_gb", "RAM GB", "right"),
        Column("cpu", "CPU"),
        Column("usd_per_hour", "$/hour", "right", "${:.4f}"),
        Column("usd_per_day", "$/day", "right", "${:.2f}"),
        Column("spot_usd_per_hour", "spot $/h", "right", "${:.4f}"),
        Column("country", "CC"),
        Column("reliability", "Rel", "right", "{:.3f}"),
    ]
    if coin:
        columns.append(Column("price_per_day_" + coin, f"{coin}/day", "right", "{:.8g}"))
    app.emit(
        Dataset(
            "GPU marketplace",
            columns,
            rows,
            footer=f"Showing {len(rows)} of {total} servers; prices per hour and per day in USD",
        )
    )


@click.command()
@click.argument("server_id", type=WholeNumber(min=1, max=MAX_ID), shell_complete=completer("servers"))
@output_options
@click.pass_context
def spot(ctx: click.Context, server_id: int) -> None:
    """Show the spot market (bids per day) of one server."""
    app = app_of(ctx)
    market = app.client().spot_marketplace(server_id)
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
                Column("price_per_day", "Bid/day", "right", "{:.8g}"),
                Column("currency", "Currency"),
                Column("usd_per_hour", "$/hour", "right", "${:.4f}"),
                Column("usd_per_day", "$/day", "right", "${:.2f}"),
                Column("active", "Active"),
                Column("mine", "Mine"),
            ],
            rows,
            id_key="order_id",
            footer=None if market.exists is not False else f"server {server_id} does not exist",
            extra={"online": online},
        )
    )


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(search)
    cli.add_command(spot)
