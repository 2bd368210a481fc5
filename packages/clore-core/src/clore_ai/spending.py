"""What your orders cost: per order, per wallet and for the account, in the coin and in USD.

The API prices every order **per day** in its coin and reports ``spend`` (the coin spent so
far). This module turns a snapshot of orders, wallets and USD rates into the numbers a renter
watches: USD per hour, uptime and spend per order; the burn rate per coin and in USD; each
wallet's runway at that rate; the projected cost of N more hours::

    from clore_ai import CloreAI
    from clore_ai.spending import fetch_spend

    with CloreAI() as client:
        summary = fetch_spend(client)
    print(summary.usd_per_hour, summary.shortest_runway)

Everything here but :func:`fetch_spend` / :func:`fetch_spend_async` is pure: it reads the
models it is given and a ``now`` (Unix seconds), so it is the same for the sync and the async
client, for the CLI, the shell's toolbar and the budget guard (:mod:`clore_ai.guard`).

USD rates are USD per coin. :func:`implied_usd_rates` takes the median rate the marketplace's
own on-demand prices imply (each server lists its price in the coin and in USD); a USD order
needs no rate. An order whose coin has no rate has ``usd_per_hour`` None and is listed in
:attr:`SpendSummary.unpriced_orders` rather than counted as free.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .models import HOURS_PER_DAY, Order, Wallet

__all__ = [
    "USD_COIN",
    "OrderSpend",
    "SpendSummary",
    "WalletRunway",
    "fetch_spend",
    "fetch_spend_async",
    "implied_usd_rates",
    "needs_usd_rates",
    "order_spend",
    "summarize",
]

USD_COIN = "USD-Blockchain"
_USD_KEYS = {"bitcoin": "on_demand_btc", "CLORE-Blockchain": "on_demand_clore"}


def implied_usd_rates(servers: Iterable[Any]) -> dict[str, float]:
    """USD per coin: for each coin, the median of ``price.usd`` / ``price.on_demand`` over
    the marketplace servers that list both (``USD-Blockchain`` is 1)."""
    ratios: dict[str, list[float]] = {currency: [] for currency in _USD_KEYS}
    for server in servers:
        price = server.price
        if price is None or price.usd is None or not price.on_demand:
            continue
        for currency, key in _USD_KEYS.items():
            native, usd = price.on_demand.get(currency), getattr(price.usd, key)
            if native and usd and native > 0 and usd > 0:
                ratios[currency].append(usd / native)
    rates = {USD_COIN: 1.0}
    for currency, values in ratios.items():
        if values:
            values.sort()
            rates[currency] = values[len(values) // 2]
    return rates


def needs_usd_rates(orders: Iterable[Order]) -> bool:
    """Whether any priced order is in a coin other than USD (only then are rates fetched)."""
    return any(o.currency != USD_COIN and o.price is not None for o in orders)


def _active(order: Order) -> bool:
    return not order.expired


@dataclass(frozen=True)
class OrderSpend:
    """One order's cost. Coin amounts are in ``currency``; ``*_usd`` at the rate given.

    ``uptime_seconds`` counts from the order's creation (``ct``) to ``now`` (None for an
    ended order, whose end time the API does not give). ``remaining_hours`` is the time left
    before the maximum rental length ends the order (None when unknown).
    """

    order_id: int
    server_id: int | None
    currency: str | None
    spot: bool
    active: bool
    created: int | None
    price_per_day: float | None
    coin_per_hour: float | None
    usd_per_hour: float | None
    uptime_seconds: int | None
    spent: float | None
    spent_usd: float | None
    remaining_hours: float | None

    def projected(self, hours: float) -> float | None:
        """The coin this order spends in the next ``hours`` (never past its rental length)."""
        if not self.active or self.coin_per_hour is None:
            return 0.0 if not self.active else None
        left = hours if self.remaining_hours is None else min(hours, max(0.0, self.remaining_hours))
        return self.coin_per_hour * left


def order_spend(order: Order, rates: dict[str, float] | None = None, now: float | None = None) -> OrderSpend:
    """The cost of ``order`` at ``now`` (default: the current time) and ``rates`` (USD per coin)."""
    now = time.time() if now is None else now
    rate = ({USD_COIN: 1.0} | (rates or {})).get(order.currency or "")
    active = _active(order)
    per_hour = None if order.price is None else order.price / HOURS_PER_DAY
    uptime = max(0, int(now - order.ct)) if active and order.ct is not None else None
    remaining = None
    if active and order.ct is not None and order.mrl:
        remaining = max(0.0, (order.ct + order.mrl - now) / 3600)
    return OrderSpend(
        order_id=order.id,
        server_id=order.server_id,
        currency=order.currency,
        spot=bool(order.spot),
        active=active,
        created=order.ct,
        price_per_day=order.price,
        coin_per_hour=per_hour,
        usd_per_hour=None if per_hour is None or rate is None else per_hour * rate,
        uptime_seconds=uptime,
        spent=order.spend,
        spent_usd=None if order.spend is None or rate is None else order.spend * rate,
        remaining_hours=remaining,
    )


@dataclass(frozen=True)
class WalletRunway:
    """One coin: its balance, what the active orders burn from it, and how long it lasts.

    ``runway_hours`` is ``balance / burn_per_hour`` (0 for an empty or negative balance);
    None when nothing burns this coin. ``usd_per_hour`` is None without a rate.
    """

    currency: str
    balance: float | None
    burn_per_hour: float
    usd_per_hour: float | None
    runway_hours: float | None
    orders: int


@dataclass(frozen=True)
class SpendSummary:
    """The account's spending at ``now``: orders (active first, newest first), wallets, totals."""

    now: float
    rates: dict[str, float]
    orders: tuple[OrderSpend, ...]
    wallets: tuple[WalletRunway, ...]

    @property
    def active_orders(self) -> tuple[OrderSpend, ...]:
        return tuple(o for o in self.orders if o.active)

    @property
    def usd_per_hour(self) -> float:
        """The burn rate in USD per hour of the active orders that have a USD rate."""
        return sum(o.usd_per_hour for o in self.active_orders if o.usd_per_hour is not None)

    @property
    def unpriced_orders(self) -> tuple[int, ...]:
        """Active orders without a USD price (no rate for their coin): not in ``usd_per_hour``."""
        return tuple(o.order_id for o in self.active_orders if o.usd_per_hour is None)

    @property
    def shortest_runway(self) -> WalletRunway | None:
        """The wallet that runs out first at the current burn rate (None when nothing burns)."""
        burning = [w for w in self.wallets if w.runway_hours is not None]
        return min(burning, key=lambda w: w.runway_hours or 0.0) if burning else None

    def projected_coin(self, hours: float) -> dict[str, float]:
        """What the active orders spend in the next ``hours``, per coin (each order stops at
        the end of its maximum rental length)."""
        totals: dict[str, float] = {}
        for order in self.active_orders:
            amount = order.projected(hours)
            if amount is not None and order.currency is not None:
                totals[order.currency] = totals.get(order.currency, 0.0) + amount
        return totals

    def projected_usd(self, hours: float) -> float:
        """:meth:`projected_coin` in USD (coins without a rate left out: see ``unpriced_orders``)."""
        return sum(
            amount * self.rates[coin]
            for coin, amount in self.projected_coin(hours).items()
            if coin in self.rates
        )


def _newest_first(spends: Iterable[OrderSpend]) -> list[OrderSpend]:
    return sorted(spends, key=lambda o: (o.active, o.created or 0, o.order_id), reverse=True)


def summarize(
    orders: Sequence[Order],
    wallets: Sequence[Wallet],
    rates: dict[str, float] | None = None,
    now: float | None = None,
) -> SpendSummary:
    """The :class:`SpendSummary` of these orders and wallets at ``now`` and ``rates``."""
    now = time.time() if now is None else now
    known = {USD_COIN: 1.0} | dict(rates or {})
    spends = _newest_first(order_spend(o, known, now) for o in orders)
    balances = {w.name: w.balance for w in wallets}
    coins = list(balances) + sorted({o.currency for o in spends if o.active and o.currency} - set(balances))
    runways = []
    for coin in coins:
        burning = [o for o in spends if o.active and o.currency == coin and o.coin_per_hour is not None]
        burn = sum(o.coin_per_hour or 0.0 for o in burning)
        balance = balances.get(coin)
        runway = None
        if burn > 0:
            runway = max(0.0, balance or 0.0) / burn
        rate = known.get(coin)
        runways.append(
            WalletRunway(coin, balance, burn, None if rate is None else burn * rate, runway, len(burning))
        )
    return SpendSummary(now=now, rates=known, orders=tuple(spends), wallets=tuple(runways))


def fetch_spend(client: Any, *, now: float | None = None) -> SpendSummary:
    """Orders, wallets and (only for btc/clore orders) the marketplace's USD rates, summarized."""
    orders = client.my_orders()
    wallets = client.wallets()
    rates = implied_usd_rates(client.marketplace(available_only=False)) if needs_usd_rates(orders) else {}
    return summarize(orders, wallets, rates, now)


async def fetch_spend_async(client: Any, *, now: float | None = None) -> SpendSummary:
    """:func:`fetch_spend` for :class:`~clore_ai.AsyncCloreAI`."""
    orders = await client.my_orders()
    wallets = await client.wallets()
    servers = await client.marketplace(available_only=False) if needs_usd_rates(orders) else []
    return summarize(orders, wallets, implied_usd_rates(servers) if servers else {}, now)
