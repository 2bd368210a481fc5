"""Host repricing and occupancy: pure functions over what the API returns.

Price a server you host from the live market of the same GPU model::

    from clore_ai import CloreAI
    from clore_ai.repricing import propose

    client = CloreAI()
    mine = client.my_servers()
    configs = [client.server_config(s.name) for s in mine if s.id]
    proposals = propose(
        configs,
        client.marketplace(available_only=False),
        percentile=25,
        floor_usd_per_day=2.4,          # whole server, USD per day
        exclude_ids={s.id for s in mine if s.id},
    )

Rules (docs/host.md says the same for people):

* **Comparables** are the marketplace servers whose GPUs are all of the same model as
  yours (``RTX 3090``, whatever the vendor prefix), not on GigaSPOT, not yours, that accept
  the currency and show a price above 0 in it. Rented servers count: their price is what
  the market pays.
* Prices are compared **per GPU**: an 8×4090 host is priced against 4090s per GPU, and
  the proposal is that per-GPU price times the host's GPU count.
* Each currency and kind is priced on its own: on-demand against the market's on-demand
  prices, the spot minimum against the market's spot minimums, both **per day** in that
  coin (the API's unit).
* :func:`percentile` interpolates linearly between the closest ranks (NumPy's default,
  Hyndman–Fan type 7); :func:`percentile_rank` is its inverse: 0 is the cheapest
  comparable, 100 the dearest.
* ``floor_usd_per_day`` / ``ceiling_usd_per_day`` bound the whole server's price in USD
  per day; they are converted to each coin at the USD rates the marketplace's own prices
  imply (:func:`implied_usd_rates`).
* Fewer than ``min_comparables`` (default 5) comparables: no proposal, a reason instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from .exceptions import InvalidInputError
from .models import HOURS_PER_DAY, _count_from_description, _flatten_names
from .spending import implied_usd_rates  # one definition of the rates the market implies

__all__ = [
    "KINDS",
    "MIN_COMPARABLES",
    "SINCE_UNKNOWN",
    "Distribution",
    "PriceProposal",
    "ServerOccupancy",
    "gpu_model_of",
    "implied_usd_rates",
    "market_distribution",
    "occupancy",
    "percentile",
    "percentile_rank",
    "price_decimals",
    "propose",
]

KINDS = ("on_demand", "spot")
MIN_COMPARABLES = 5
SINCE_UNKNOWN = "the API does not say when a rental started"

_DECIMALS = {"bitcoin": 8, "CLORE-Blockchain": 2, "USD-Blockchain": 4}
_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|amd|radeon)\b")


def price_decimals(currency: str) -> int:
    """Decimals a proposed price keeps: 8 for bitcoin, 2 for CLORE, 4 for USD."""
    return _DECIMALS.get(currency, 8)


# ── GPU models ─────────────────────────────────────────────────────────────


def _model_key(name: str) -> str:
    """``" NVIDIA GeForce RTX 3090"`` and ``"RTX 3090"`` are both ``"rtx 3090"``."""
    return " ".join(_VENDOR_WORDS.sub(" ", name.lower()).split())


def _gpu_names(server: Any) -> list[str]:
    names = _flatten_names(getattr(server, "gpu_array", None))
    if names:
        return names
    specs = getattr(server, "specs", None)
    description = getattr(specs, "gpu", None) if specs is not None else None
    if not description:
        return []
    match = re.match(r"\s*(\d+)\s*x\s*(.+)", description)
    if match:
        return [match.group(2)] * int(match.group(1))
    return [description] * max(1, _count_from_description(description))


def gpu_model_of(server: Any) -> tuple[str, int] | None:
    """``("rtx 3090", 2)`` for a server with two RTX 3090: the model (lower case, no vendor
    words) and the GPU count. None without GPUs or with GPUs of different models."""
    names = _gpu_names(server)
    models = {_model_key(name) for name in names}
    if len(models) != 1 or not next(iter(models)):
        return None
    return next(iter(models)), len(names)


# ── percentiles ────────────────────────────────────────────────────────────


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``values``, interpolating linearly between the
    closest ranks (NumPy's default): p=0 is the minimum, p=100 the maximum."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be from 0 to 100, got {p}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    if fraction == 0 or ordered[low] == ordered[high]:
        return float(ordered[low])
    return float(ordered[low] + fraction * (ordered[high] - ordered[low]))


def percentile_rank(values: Sequence[float], value: float) -> float:
    """Where ``value`` sits among ``values``, 0–100: the inverse of :func:`percentile`.

    Below the cheapest it is 0, above the dearest 100; between two neighbours it is
    interpolated; on a run of equal values it is the middle of the run.
    """
    if not values:
        raise ValueError("percentile rank among no values")
    ordered = sorted(values)
    n = len(ordered)
    if n == 1:
        return 50.0 if value == ordered[0] else (0.0 if value < ordered[0] else 100.0)
    if value < ordered[0]:
        return 0.0
    if value > ordered[-1]:
        return 100.0
    equal = [i for i, v in enumerate(ordered) if v == value]
    if equal:
        return 100 * (equal[0] + equal[-1]) / 2 / (n - 1)
    above = next(i for i, v in enumerate(ordered) if v > value)
    below = above - 1
    fraction = (value - ordered[below]) / (ordered[above] - ordered[below])
    return 100 * (below + fraction) / (n - 1)


# ── the market ─────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Distribution:
    """Per-GPU prices per day of the comparables of one GPU model, currency and kind."""

    gpu_model: str
    currency: str
    kind: str  # "on_demand" or "spot"
    per_gpu_per_day: tuple[float, ...]  # ascending
    server_ids: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.per_gpu_per_day)


def _market_price(server: Any, currency: str, kind: str) -> float | None:
    if currency not in (server.allowed_coins or []):
        return None
    value = server.price_per_day(currency) if kind == "on_demand" else server.spot_price_per_day(currency)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return None
    return float(value)


def _comparables_by_model(market: Iterable[Any], excluded: set[int]) -> dict[str, list[tuple[Any, int]]]:
    """The market's servers that can be comparables, by GPU model, with their GPU counts."""
    groups: dict[str, list[tuple[Any, int]]] = {}
    for server in market:
        if server.id in excluded or server.on_gigaspot:
            continue
        model = gpu_model_of(server)
        if model is not None:
            groups.setdefault(model[0], []).append((server, model[1]))
    return groups


def _distribution(group: Iterable[tuple[Any, int]], gpu_model: str, currency: str, kind: str) -> Distribution:
    found: list[tuple[float, int]] = []
    for server, count in group:
        price = _market_price(server, currency, kind)
        if price is not None:
            found.append((price / count, server.id))
    found.sort()
    return Distribution(
        gpu_model, currency, kind, tuple(p for p, _ in found), tuple(server_id for _, server_id in found)
    )


def market_distribution(
    market: Iterable[Any],
    gpu_model: str,
    currency: str,
    kind: str,
    *,
    exclude_ids: Iterable[int] = (),
) -> Distribution:
    """The comparables' per-GPU prices per day, ascending (see the module's rules).
    ``gpu_model`` is a key as :func:`gpu_model_of` gives it (``"rtx 3090"``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    groups = _comparables_by_model(market, set(exclude_ids))
    return _distribution(groups.get(gpu_model, ()), gpu_model, currency, kind)


# ── proposals ──────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class PriceProposal:
    """One price of one server: what it is, what the market says it should be.

    Every price is **per day** in ``currency`` for the whole server; ``*_usd_per_day`` /
    ``*_usd_per_hour`` convert at ``usd_rate``. ``new_per_day`` is None when ``skipped``
    says why no price is proposed.
    """

    server: str
    server_id: int | None
    gpu_model: str | None
    gpu_count: int
    currency: str
    kind: str
    current_per_day: float | None
    new_per_day: float | None
    target_percentile: float
    current_percentile: float | None
    new_percentile: float | None
    comparables: int
    market_median_per_day: float | None  # the comparables' per-GPU median × gpu_count
    clamped: str | None  # "floor", "ceiling" or None
    usd_rate: float | None
    skipped: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return self.new_per_day is not None and self.new_per_day != self.current_per_day

    def _usd(self, per_day: float | None) -> float | None:
        return None if per_day is None or self.usd_rate is None else per_day * self.usd_rate

    @property
    def current_usd_per_day(self) -> float | None:
        return self._usd(self.current_per_day)

    @property
    def new_usd_per_day(self) -> float | None:
        return self._usd(self.new_per_day)

    @property
    def current_usd_per_hour(self) -> float | None:
        usd = self.current_usd_per_day
        return None if usd is None else usd / HOURS_PER_DAY

    @property
    def new_usd_per_hour(self) -> float | None:
        usd = self.new_usd_per_day
        return None if usd is None else usd / HOURS_PER_DAY


def _rounded(value: float, decimals: int, rounding: str = ROUND_HALF_EVEN) -> float:
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(step, rounding=rounding))


def _clamp(value: float, low: float | None, high: float | None, decimals: int) -> tuple[float, str | None]:
    """``value`` kept within [low, high] and rounded to ``decimals`` without leaving it
    (rounded inwards; unrounded when the window is narrower than one step)."""
    target, clamped = value, None
    if low is not None and value < low:
        target, clamped = low, "floor"
    elif high is not None and value > high:
        target, clamped = high, "ceiling"

    def inside(candidate: float) -> bool:
        return (low is None or candidate >= low) and (high is None or candidate <= high)

    candidates = [_rounded(target, decimals)]
    if low is not None:
        candidates.append(_rounded(low, decimals, ROUND_CEILING))
    if high is not None:
        candidates.append(_rounded(high, decimals, ROUND_FLOOR))
    if clamped == "ceiling":
        candidates.reverse()
    return next((c for c in candidates if inside(c)), target), clamped


def _coins_of(config: Any) -> list[str]:
    coins = getattr(config, "allowed_coins", None) or getattr(config, "allowed_currencies", None)
    if coins:
        return list(coins)
    return [c for c, v in (config.pricing or {}).items() if c in _DECIMALS and v]


def _current_prices(config: Any, kind: str) -> Mapping[str, Any]:
    if kind == "on_demand":
        return config.pricing or {}
    return getattr(config, "spot_pricing", None) or getattr(config, "min_spot_pricing", None) or {}


def _autoprice_on_for(config: Any, currency: str) -> bool:
    autoprice = config.autoprice
    if isinstance(autoprice, Mapping):
        return bool(autoprice.get(currency))
    return bool(autoprice) and isinstance(autoprice, (str, bool))


def propose(
    servers: Iterable[Any],
    market: Iterable[Any],
    *,
    percentile: float,
    floor_usd_per_day: float | None = None,
    ceiling_usd_per_day: float | None = None,
    kinds: Sequence[str] = KINDS,
    currencies: Sequence[str] | None = None,
    exclude_ids: Iterable[int] = (),
    usd_rates: Mapping[str, float] | None = None,
    min_comparables: int = MIN_COMPARABLES,
) -> list[PriceProposal]:
    """For each server (``ServerConfig`` or ``MyServer``), currency it accepts (or of
    ``currencies``) and kind: its current price, the ``percentile``-th price of its
    comparables, clamped to the floor and ceiling, rounded to the coin's decimals.

    The servers themselves and ``exclude_ids`` (your other servers) are never comparables.
    """
    if not 0 <= percentile <= 100:
        raise InvalidInputError(f"the percentile must be from 0 to 100, got {percentile}", code=2)
    bounds = (floor_usd_per_day, ceiling_usd_per_day)
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise InvalidInputError("the floor is above the ceiling", code=2)
    mine = list(servers)
    listing = list(market)
    excluded = set(exclude_ids) | {s.id for s in mine if s.id is not None}
    rates = dict(usd_rates) if usd_rates is not None else implied_usd_rates(listing)
    groups = _comparables_by_model(listing, excluded)
    proposals: list[PriceProposal] = []
    for config in mine:
        model = gpu_model_of(config)
        coins = _coins_of(config)
        wanted = list(currencies) if currencies is not None else coins
        for currency in wanted:
            for kind in kinds:
                proposals.append(
                    _propose_one(
                        config,
                        model,
                        currency,
                        kind,
                        accepted=currency in coins,
                        groups=groups,
                        target=percentile,
                        floor_usd=floor_usd_per_day,
                        ceiling_usd=ceiling_usd_per_day,
                        rate=rates.get(currency),
                        min_comparables=min_comparables,
                    )
                )
    return proposals


def _propose_one(
    config: Any,
    model: tuple[str, int] | None,
    currency: str,
    kind: str,
    *,
    accepted: bool,
    groups: dict[str, list[tuple[Any, int]]],
    target: float,
    floor_usd: float | None,
    ceiling_usd: float | None,
    rate: float | None,
    min_comparables: int,
) -> PriceProposal:
    raw = _current_prices(config, kind).get(currency)
    current = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    empty = PriceProposal(
        server=config.name or "",
        server_id=config.id,
        gpu_model=model[0] if model else None,
        gpu_count=model[1] if model else 0,
        currency=currency,
        kind=kind,
        current_per_day=current,
        new_per_day=None,
        target_percentile=float(target),
        current_percentile=None,
        new_percentile=None,
        comparables=0,
        market_median_per_day=None,
        clamped=None,
        usd_rate=rate,
    )
    if model is None:
        return replace(empty, skipped="no GPU model known (never connected, or mixed GPUs)")
    if not accepted:
        return replace(empty, skipped=f"{config.name} does not accept this currency")
    values, count = (
        _distribution(groups.get(model[0], ()), model[0], currency, kind).per_gpu_per_day,
        model[1],
    )
    found = replace(
        empty,
        comparables=len(values),
        current_percentile=percentile_rank(values, current / count) if values and current else None,
        market_median_per_day=percentile(values, 50) * count if values else None,
    )
    if len(values) < min_comparables:
        return replace(
            found, skipped=f"only {len(values)} comparable offers (at least {min_comparables} needed)"
        )
    if (floor_usd is not None or ceiling_usd is not None) and not rate:
        return replace(found, skipped="no USD rate known for this currency to apply the floor or ceiling")
    low = floor_usd / rate if floor_usd is not None and rate else None
    high = ceiling_usd / rate if ceiling_usd is not None and rate else None
    new, clamped = _clamp(percentile(values, target) * count, low, high, price_decimals(currency))
    warnings = []
    if _autoprice_on_for(config, currency):
        warnings.append(
            f"autoprice (USD) is on for {currency}: Clore may replace this price from the USD pricing"
        )
    return replace(
        found,
        new_per_day=new,
        new_percentile=percentile_rank(values, new / count),
        clamped=clamped,
        warnings=tuple(warnings),
    )


# ── occupancy ──────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ServerOccupancy:
    """Whether one of your servers is rented, as far as the API tells.

    ``rented`` comes from ``my_servers`` when it says (``rented_source="my_servers"``), else
    from the server's marketplace entry (``"marketplace"``; only public servers are
    listed), else it is None. ``rented_until`` is the end of the rental (``remaining_time``)
    when told. The start of a rental and the price its renter pays are not told to hosts:
    ``since`` is always None (see :data:`SINCE_UNKNOWN`) and the prices are the ones you
    list now, per day in each coin.
    """

    name: str
    server_id: int | None
    gpu: str | None
    online: bool | None
    listed: bool | None
    rented: bool | None
    rented_source: str | None
    rented_until: datetime | None
    on_demand_per_day: dict[str, float]
    spot_per_day: dict[str, float]
    on_demand_usd_per_day: float | None
    since: datetime | None = None


def _positive_prices(prices: Mapping[str, Any] | None, coins: Sequence[str]) -> dict[str, float]:
    return {
        coin: float(value)
        for coin, value in (prices or {}).items()
        if coin in coins and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    }


def occupancy(my_servers: Iterable[Any], market: Iterable[Any]) -> list[ServerOccupancy]:
    """One :class:`ServerOccupancy` per server of ``my_servers()``, in that order."""
    listed = {server.id: server for server in market}
    result = []
    for server in my_servers:
        entry = listed.get(server.id) if server.id is not None else None
        if server.rented is not None:
            rented, source = server.rented, "my_servers"
        elif entry is not None and entry.rented is not None:
            rented, source = bool(entry.rented), "marketplace"
        else:
            rented, source = None, None
        coins = _coins_of(server)
        # What renters see on the marketplace, else the host's own USD pricing.
        usd = entry.price_usd_per_day if entry is not None else None
        for coin in coins:
            if usd is None:
                usd = server.usd_price_per_day(coin, "on_demand")
        result.append(
            ServerOccupancy(
                name=server.name or "",
                server_id=server.id,
                gpu=server.gpu_model,
                online=server.online,
                listed=server.is_public,
                rented=rented,
                rented_source=source,
                rented_until=server.rented_until if rented else None,
                on_demand_per_day=_positive_prices(server.pricing, coins),
                spot_per_day=_positive_prices(_current_prices(server, "spot"), coins),
                on_demand_usd_per_day=usd,
            )
        )
    return result
