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
from .._rentable import COIN_SHORT, coin_names, not_rentable, on_gigaspot
from ..formats import Column, Dataset

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
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


_OPS["=="] = operator.eq
_TERM_ANYWHERE = re.compile(
    r"\s*(?P<key>[A-Za-z_]+)\s*(?:(?P<op>>=|<=|!=|==|=|>|<)|\s(?P<in>in)\s)\s*"
    r"(?P<value>[^\s,]+(?:\s*,\s*[^\s,]+)*)\s*"
)
Term = tuple[str, str, Callable[[Any, Any], bool], Any, str]


def _number(key: str, raw: str) -> float:
    text = raw.strip()
    percent = text.endswith("%")
    try:
        value = float(Number().convert(text.rstrip("%"), None, None))
    except click.BadParameter:
        raise click.UsageError(f"{key} needs a number, got {shown(raw)}") from None
    if key == "reliability" and (percent or value > 1):
        value /= 100  # reliability>90% (or >90) means 0.9
    return value


def parse_query(terms: tuple[str, ...]) -> list[Term]:
    """``gpu=4090 gpus >= 2``, ``gpu==4090,3090``, ``gpu in 4090,3090``, ``reliability>90%``."""
    text = " ".join(terms)
    parsed: list[Term] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TERM_ANYWHERE.match(text, position)
        key = match.group("key").lower() if match else ""
        if not match or key not in QUERY_KEYS:
            bad = (text[position:].split() or [text])[0]
            raise click.UsageError(
                f"cannot read query term {shown(bad)}; use KEY<OP>VALUE (OP: = == != < <= > >=, "
                f"or KEY in A,B), KEY in {', '.join(sorted(QUERY_KEYS))}"
            )
        position = match.end()
        op = "=" if match.group("in") else match.group("op").replace("==", "=")
        values = [v.strip() for v in match.group("value").split(",")]
        field, kind = QUERY_KEYS[key]
        if kind == "number":
            parsed_values: list[Any] = [_number(key, v) for v in values]
        else:
            if op not in ("=", "!="):
                raise click.UsageError(f"{key} compares text: use = or !=")
            parsed_values = [v.lower() for v in values]
        if len(parsed_values) > 1 and op not in ("=", "!="):
            raise click.UsageError(f"a list of values needs = or != ({key}={match.group('value')})")
        label = match.group(0).strip()
        parsed.append((field, kind, _OPS[op], parsed_values, label))
    return parsed


def _matches(
    server: Any, field: str, kind: str, op: Callable[[Any, Any], bool], values: Any, _label: str = ""
) -> bool:
    actual = FIELDS[field](server)
    if actual is None:
        return False
    if kind == "text":
        hit = any(value in str(actual).lower() for value in values)
        return hit if op is operator.eq else not hit
    number = float(actual)
    if op is operator.eq:
        return any(number == value for value in values)
    if op is operator.ne:
        return all(number != value for value in values)
    return bool(op(number, values[0]))


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


_GPU_PREFIX = re.compile(r"^\s*\d+\s*x\s*|\b(NVIDIA|GeForce|AMD|Radeon)\s+", re.IGNORECASE)


def short_gpu(model: str | None) -> str | None:
    """``1x NVIDIA GeForce RTX 4090`` -> ``RTX 4090`` (the count is in GPUs)."""
    return _GPU_PREFIX.sub("", model).strip() or model if model else None


def server_row(server: Any, currency: str | None) -> dict[str, Any]:
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
        "cuda": _cuda(server),
        "max_rental_hours": server.mrl,
        "rented": bool(server.rented),
        "currencies": list(server.allowed_coins or []),
        "coins": coin_names(server.allowed_coins),
        "gigaspot": on_gigaspot(server),
        "rentable": not_rentable(server, currency) is None,
        "not_rentable_because": not_rentable(server, currency),
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
    help="Comma-separated keys: " + ", ".join(SORT_KEYS) + " (best first; +key ascending, -key descending).",
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
    help="Include rented and GigaSPOT servers (JSON marks them: rentable, not_rentable_because).",
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
    for field, descending in reversed(order):  # stable sorts, last key first
        matching.sort(key=functools.partial(_sort_value, field=field, descending=descending))
    total = len(matching)
    if not matching:
        app.note(_why_empty(servers, terms, hidden, gpu=gpu, include_rented=include_rented))
    rows = [server_row(s, coin) for s in matching[:limit]]
    remember(
        "servers",
        [
            (str(r["id"]), f"{r['gpu']} ${r['usd_per_hour'] or 0:.3f}/h")
            for r in rows
            if r["rentable"] and not r["rented"]
        ],
    )
    remember("gpus", sorted({(name, "GPU") for s in servers for name in s.gpu_names}))
    columns = [
        Column("id", "ID", "right", no_wrap=True),
        Column("gpu", "GPU", in_table=False),
        Column("gpu_short", "GPU", no_wrap=True),
        Column("gpus", "GPUs", "right", no_wrap=True),
        Column("ram_gb", "RAM", "right", "{:.0f}", no_wrap=True),
        Column("cpu", "CPU", in_table=False),
        Column("usd_per_hour", "$/hour", "right", "${:.4f}", no_wrap=True),
        Column("usd_per_day", "$/day", "right", "${:.2f}", in_table=False),
        Column("spot_usd_per_hour", "spot/h", "right", "${:.4f}", no_wrap=True),
        Column("country", "CC", no_wrap=True),
        Column("reliability", "Rel", "right", "{:.2f}", no_wrap=True),
        Column("coins", "Coins", no_wrap=True),
    ]
    if coin:
        columns.append(Column("price_per_day_" + coin, f"{coin}/day", "right", "{:.8g}"))
    app.emit(
        Dataset(
            "GPU marketplace",
            columns,
            rows,
            footer=_footer(len(rows), total, hidden, coin),
        )
    )


def _why_empty(
    servers: list[Any], terms: list[Term], hidden: dict[str, int], *, gpu: str | None, include_rented: bool
) -> str:
    """Which term left nothing: "searched 190 servers; `gpu=5090` excluded them all"."""
    where = "available servers" if not include_rented else "servers"
    text = f"no server matches: searched {len(servers)} {where}"
    if not servers:
        options = " (--gpu, --min-gpu, --min-ram or --max-price excluded them all)" if gpu else ""
        return text + options + ("" if include_rented else "; --all includes rented servers")
    left = list(servers)
    for term in terms:
        kept = [s for s in left if _matches(s, *term)]
        if not kept:
            return text + f"; `{term[4]}` excluded the {len(left)} left"
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
