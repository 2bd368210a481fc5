"""The marketplace query language: ``gpu=4090,3090 gpus>=2 price<0.40 reliability>90%``.

One place reads, matches and ranks marketplace servers, so ``clore search``, ``clore rent``,
``clore watch`` and scripts agree on what a query means::

    from clore_ai import CloreAI
    from clore_ai.query import MarketQuery, rank, not_rentable

    query = MarketQuery.parse("gpu=4090 gpus>=2 price<0.40")
    offers = rank(
        (s for s in client.marketplace() if query.matches(s) and not not_rentable(s, "USD-Blockchain")),
        "price",
    )

``price`` is USD per hour, ``price_day`` USD per day, ``reliability`` 0.9 or 90%. A query that
cannot be read raises :class:`QueryError` (an :class:`InvalidInputError`) with one sentence.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

from .exceptions import InvalidInputError

__all__ = [
    "FIELDS",
    "QUERY_KEYS",
    "SORT_KEYS",
    "MarketQuery",
    "QueryError",
    "QueryTerm",
    "SortKey",
    "not_rentable",
    "on_gigaspot",
    "parse_sort",
    "rank",
]

_SHOWN = 80


class QueryError(InvalidInputError):
    """A query or sort spec that cannot be read; the message is one sentence for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def _shown(value: Any) -> str:
    text = repr(str(value))
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _cuda(server: Any) -> float | None:
    version = server.cuda_version
    return float(version) if version and version.replace(".", "", 1).isdigit() else None


# The fields queries filter and sort on, read straight from a MarketplaceServer (never from a
# table row: a 50,000-server marketplace is filtered without building a row per server).
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

# query key -> (field, kind)
QUERY_KEYS: dict[str, tuple[str, str]] = {
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
# sort key -> (field, best first is descending)
SORT_KEYS: dict[str, tuple[str, bool]] = {
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

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_TERM = re.compile(
    r"\s*(?P<key>[A-Za-z_]+)\s*(?:(?P<op>>=|<=|!=|==|=|>|<)|\s(?P<in>in)\s)\s*"
    r"(?P<value>[^\s,]+(?:\s*,\s*[^\s,]+)*)\s*"
)
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")  # ASCII: float() takes "١"


def _number(key: str, raw: str) -> float:
    text = raw.strip()
    percent = text.endswith("%")
    digits = text.rstrip("%")
    if not _NUMBER.fullmatch(digits) or not math.isfinite(float(digits)):
        raise QueryError(f"{key} needs a number, got {_shown(raw)}")
    value = float(digits)
    if key == "reliability" and (percent or value > 1):
        value /= 100  # reliability>90% (or >90) means 0.9
    return value


@dataclass(frozen=True)
class QueryTerm:
    """One term: ``gpus>=2`` is field ``gpus``, op ``>=``, values ``(2.0,)``."""

    field: str
    kind: str  # "number" or "text"
    op: str  # one of = != < <= > >=
    values: tuple[Any, ...]
    label: str  # the term as written, for messages

    def matches(self, server: Any) -> bool:
        actual = FIELDS[self.field](server)
        if actual is None:
            return False
        if self.kind == "text":
            hit = any(value in str(actual).lower() for value in self.values)
            return hit if self.op == "=" else not hit
        number = float(actual)
        if self.op == "=":
            return any(number == value for value in self.values)
        if self.op == "!=":
            return all(number != value for value in self.values)
        return bool(_OPS[self.op](number, self.values[0]))


@dataclass(frozen=True)
class MarketQuery:
    """A parsed query; all terms must match (an empty query matches every server)."""

    terms: tuple[QueryTerm, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> MarketQuery:
        """``"gpu=4090 gpus >= 2"``, ``"gpu==4090,3090"``, ``"gpu in 4090,3090"``, ``"reliability>90%"``."""
        joined = text if isinstance(text, str) else " ".join(text)
        terms: list[QueryTerm] = []
        position = 0
        while position < len(joined.rstrip()):
            match = _TERM.match(joined, position)
            key = match.group("key").lower() if match else ""
            if not match or key not in QUERY_KEYS:
                bad = (joined[position:].split() or [joined])[0]
                raise QueryError(
                    f"cannot read query term {_shown(bad)}; use KEY<OP>VALUE (OP: = == != < <= > >=, "
                    f"or KEY in A,B), KEY in {', '.join(sorted(QUERY_KEYS))}"
                )
            position = match.end()
            op = "=" if match.group("in") else match.group("op").replace("==", "=")
            raw_values = [v.strip() for v in match.group("value").split(",")]
            field, kind = QUERY_KEYS[key]
            if kind == "number":
                values: tuple[Any, ...] = tuple(_number(key, v) for v in raw_values)
            else:
                if op not in ("=", "!="):
                    raise QueryError(f"{key} compares text: use = or !=")
                values = tuple(v.lower() for v in raw_values)
            if len(values) > 1 and op not in ("=", "!="):
                raise QueryError(f"a list of values needs = or != ({key}={match.group('value')})")
            terms.append(QueryTerm(field, kind, op, values, match.group(0).strip()))
        return cls(tuple(terms), joined.strip())

    def matches(self, server: Any) -> bool:
        return all(term.matches(server) for term in self.terms)

    def bound(self, field: str, op: str) -> float | None:
        """The tightest bound the query puts on ``field`` with ``op`` (``<`` or ``<=``...), if any."""
        found = [t.values[0] for t in self.terms if t.field == field and t.op == op and t.kind == "number"]
        if not found:
            return None
        return float(min(found) if op in ("<", "<=") else max(found))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


def parse_sort(spec: str) -> list[SortKey]:
    """``"price"``, ``"-gpus,price"``: keys best first; ``+key`` ascending, ``-key`` descending."""
    keys = []
    for part in spec.split(","):
        name = part.strip()
        sign, name = (name[0], name[1:]) if name[:1] in ("+", "-") else ("", name)
        if name not in SORT_KEYS:
            raise QueryError(
                f"cannot sort by {_shown(part)}; use {', '.join(sorted(SORT_KEYS))} (+key/-key: up/down)"
            )
        field, best_first_descending = SORT_KEYS[name]
        keys.append(SortKey(field, {"-": True, "+": False}.get(sign, best_first_descending)))
    return keys


def _sort_value(server: Any, key: SortKey) -> tuple[int, float]:
    value = FIELDS[key.field](server)
    if value is None or (key.field.startswith("usd") and not value):
        return (1, 0.0)  # missing prices last, whatever the direction
    number = float(value)
    return (0, -number if key.descending else number)


def rank(servers: Iterable[Any], sort: str | list[SortKey] = "price") -> list[Any]:
    """The servers ordered by ``sort`` (stable: equal servers keep their marketplace order)."""
    keys = parse_sort(sort) if isinstance(sort, str) else sort
    ranked = list(servers)
    for key in reversed(keys):  # stable sorts, last key first
        ranked.sort(key=lambda s, k=key: _sort_value(s, k))  # type: ignore[misc]
    return ranked


def on_gigaspot(server: Any) -> bool:
    """The server is on GigaSPOT: create_order refuses it (``machine-is-on-gigaspot``)."""
    flag = getattr(server, "on_gigaspot", None)
    if isinstance(flag, bool):
        return flag
    return bool(server.gigaspot)


_COIN_SHORT = {"bitcoin": "btc", "CLORE-Blockchain": "clore", "USD-Blockchain": "usd"}


def not_rentable(server: Any, currency: str | None = None, *, on_demand: bool = False) -> str | None:
    """Why create_order cannot rent ``server`` (in ``currency``), or None when it can.

    By default this is about what the server is (on GigaSPOT, or not taking the coin).
    ``on_demand=True`` also judges it as it is now, for an on-demand order: a server rented
    on-demand refuses one (``server-already-rented``), while a spot bid may still be placed.
    """
    if on_gigaspot(server):
        return "on GigaSPOT"
    if currency and currency not in (server.allowed_coins or []):
        return f"does not take {_COIN_SHORT.get(currency, currency)}"
    if on_demand and server.rented:
        return "rented on-demand now (a spot bid can still be placed)"
    return None
