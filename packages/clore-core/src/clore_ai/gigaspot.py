"""GigaSPOT bids: what can be bid on a server, the checks made before a bid is sent, and the
orders a placed bid made.

::

    from clore_ai import CloreAI
    from clore_ai.gigaspot import check_gigaspot_bid, place_gigaspot_bids

    with CloreAI() as client:
        server = next(s for s in client.marketplace(available_only=False) if s.id == 539)
        check_gigaspot_bid(server, 539, "CLORE-Blockchain", 40.0)  # raises before anything is sent
        placed = place_gigaspot_bids(client, [{"renting_server": 539, "currency": "CLORE-Blockchain",
                                               "image": "a3f9c4d7e5b088d8a0bff880", "price": 40.0,
                                               "oc": [{"pl": 300}]}])
        print([o.id for o in placed.orders], placed.result.ok)

``create_gigaspot_orders`` answers only which servers did *not* get an order; the new
orders' ids come from ``my_orders``, read before the bid and again after it (as
``create_order`` finds its order): an order that was not there before, on a server whose bid
went through, in the bid's coin.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from ._calls import Call, CallFlow, adrive, drive
from ._validation import GIGASPOT_MAX_PRICE, GIGASPOT_MIN_PRICE, plain_number
from .exceptions import CloreAPIError, InvalidInputError
from .models import GigaSpotCreateResult, Order

__all__ = [
    "GigaSpotBidRefused",
    "GigaSpotPlacement",
    "aplace_gigaspot_bids",
    "check_gigaspot_bid",
    "lowest_bid",
    "new_gigaspot_orders",
    "place_gigaspot_bids",
]

FIND_WITHIN = 30.0  # seconds the new orders are looked for in my_orders after a bid
POLL_INTERVAL = 2.0


def lowest_bid(server: Any, currency: str) -> float | None:
    """The lowest GigaSPOT bid per day in ``currency`` that can be placed on ``server``: its
    minimum, raised to the floor every GigaSPOT price must reach (0.0001 per day in any coin).
    None when there is none: no minimum, or one above the 5000 per day every GigaSPOT price
    stays under."""
    minimum: float | None = server.spot_price_per_day(currency)
    if minimum is None or minimum > GIGASPOT_MAX_PRICE:
        return None
    return max(minimum, GIGASPOT_MIN_PRICE)


class GigaSpotBidRefused(InvalidInputError):
    """A bid refused before it was sent (code 2). ``reason`` is ``not-on-gigaspot``,
    ``currency-not-accepted`` (``accepted``: the coins the server takes), ``below-minimum``
    (``minimum``: the lowest bid per day in ``currency``) or ``minimum-above-cap`` (the
    server's minimum in ``currency`` is above the 5000 per day cap: no bid in it can be placed;
    ``accepted``: the coins a bid can be placed in)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        server_id: int,
        currency: str,
        price: float,
        minimum: float | None = None,
        accepted: Sequence[str] = (),
    ) -> None:
        super().__init__(message, code=2)
        self.reason = reason
        self.server_id = server_id
        self.currency = currency
        self.price = price
        self.minimum = minimum
        self.accepted = list(accepted)


def check_gigaspot_bid(server: Any, server_id: int, currency: str, price: float) -> None:
    """Raise :class:`GigaSpotBidRefused` when a bid of ``price`` per day in ``currency`` on
    ``server`` (None: not on the marketplace) would be refused: the server is not on
    GigaSPOT, does not take the coin, or the bid is under its minimum (:func:`lowest_bid`)."""
    from .query import on_gigaspot

    about: dict[str, Any] = {"server_id": server_id, "currency": currency, "price": price}
    if server is None or not on_gigaspot(server):
        raise GigaSpotBidRefused(
            f"server {server_id} is not on GigaSPOT; nothing was sent (see: clore gigaspot)",
            reason="not-on-gigaspot",
            **about,
        )
    coins = [str(c) for c in server.allowed_coins or []]
    if currency not in coins:
        raise GigaSpotBidRefused(
            f"server {server_id} does not accept {currency}; it accepts {', '.join(coins) or 'no coin'}; "
            "nothing was sent",
            reason="currency-not-accepted",
            accepted=coins,
            **about,
        )
    wanted = server.spot_price_per_day(currency)
    if wanted is not None and wanted > GIGASPOT_MAX_PRICE:
        others = [c for c in coins if c != currency and lowest_bid(server, c) is not None]
        hint = f"; bid in {' or '.join(others)}" if others else ""
        raise GigaSpotBidRefused(
            f"server {server_id} takes GigaSPOT bids in {currency} from {plain_number(wanted)} "
            f"{currency}/day, above the {plain_number(GIGASPOT_MAX_PRICE)} per day no GigaSPOT price "
            f"may pass: no bid in {currency} can be placed{hint} (nothing was sent)",
            reason="minimum-above-cap",
            minimum=wanted,
            accepted=others,
            **about,
        )
    minimum = lowest_bid(server, currency)
    if minimum is not None and price < minimum:
        raise GigaSpotBidRefused(
            f"the bid {plain_number(price)} {currency}/day is below the minimum GigaSPOT bid of server "
            f"{server_id}: {plain_number(minimum)} {currency}/day; bid at least that (nothing was sent)",
            reason="below-minimum",
            minimum=minimum,
            **about,
        )


@dataclass
class GigaSpotPlacement:
    """What a bid did: the API's ``result``, the servers whose bid went through (``placed``)
    and the orders found for them (``orders``; fewer than ``placed`` when an order did not
    appear in my_orders in time, or my_orders could not be read: ``lookup_error``)."""

    result: GigaSpotCreateResult
    placed: list[int] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    lookup_error: CloreAPIError | None = None

    @property
    def missing(self) -> list[int]:
        """Placed servers whose order was not found."""
        found = {o.server_id for o in self.orders}
        return [s for s in self.placed if s not in found]


def _placed_servers(orders: Sequence[Mapping[str, Any]], result: GigaSpotCreateResult) -> list[int]:
    failed = {
        str(s)
        for s in (
            *result.failed_to_rent_servers,
            *result.too_low_bids_servers,
            *result.failed_to_oc_servers,
        )
    }
    return [int(o["renting_server"]) for o in orders if str(o["renting_server"]) not in failed]


def new_gigaspot_orders(
    before: set[int], now: Sequence[Order], placed: Mapping[int, str | None]
) -> list[Order]:
    """The orders in ``now`` a bid made: not among the ids ``before`` the bid, on a server of
    ``placed`` (server id → the bid's coin), in that coin, not ended."""
    made = []
    for order in now:
        server = order.server_id
        if order.id in before or server is None or server not in placed or order.expired:
            continue
        coin = placed[server]
        if coin is None or order.currency == coin:
            made.append(order)
    return made


def _send_flow(orders: Sequence[Mapping[str, Any]]) -> CallFlow[tuple[set[int], GigaSpotCreateResult]]:
    before: list[Order] = yield Call("my_orders")  # a failure here: nothing was sent
    result: GigaSpotCreateResult = yield Call("create_gigaspot_orders", (list(orders),))
    return {o.id for o in before}, result


def _orders_flow() -> CallFlow[list[Order]]:
    orders: list[Order] = yield Call("my_orders")
    return orders


class _Finder:
    """Looks for the orders of a placed bid until all are found or ``within`` has passed."""

    def __init__(
        self,
        orders: Sequence[Mapping[str, Any]],
        before: set[int],
        result: GigaSpotCreateResult,
        within: float,
        clock: Callable[[], float],
    ) -> None:
        self.placement = GigaSpotPlacement(result, _placed_servers(orders, result))
        self.coins = {int(o["renting_server"]): o.get("currency") for o in orders}
        self.before = before
        self.deadline = clock() + within
        self.clock = clock

    def done(self) -> bool:
        return not self.placement.missing

    def seen(self, orders: list[Order] | None, error: CloreAPIError | None) -> bool:
        """Take one my_orders answer; True when the search is over."""
        self.placement.lookup_error = error
        if orders is not None:
            placed = {s: self.coins.get(s) for s in self.placement.placed}
            self.placement.orders = new_gigaspot_orders(self.before, orders, placed)
        return self.done() or self.clock() >= self.deadline


def place_gigaspot_bids(
    client: Any,
    orders: Sequence[Mapping[str, Any]],
    *,
    find_within: float = FIND_WITHIN,
    poll_interval: float = POLL_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> GigaSpotPlacement:
    """Send ``create_gigaspot_orders(orders)`` once (it spends money) and find the orders it
    made in ``my_orders`` (looked at again every ``poll_interval`` seconds for at most
    ``find_within``). A failed look-up after the bid is not raised: the bid was sent, so it is
    in ``lookup_error`` and the orders stay unknown."""
    before, result = drive(_send_flow(orders), client)
    finder = _Finder(orders, before, result, find_within, clock)
    while not finder.done():
        try:
            found: list[Order] | None = drive(_orders_flow(), client)
            error = None
        except CloreAPIError as failure:
            found, error = None, failure
        if finder.seen(found, error):
            break
        sleep(poll_interval)
    return finder.placement


async def aplace_gigaspot_bids(
    client: Any,
    orders: Sequence[Mapping[str, Any]],
    *,
    find_within: float = FIND_WITHIN,
    poll_interval: float = POLL_INTERVAL,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GigaSpotPlacement:
    """:func:`place_gigaspot_bids` on an :class:`~clore_ai.AsyncCloreAI` client."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    before, result = await adrive(_send_flow(orders), client)
    finder = _Finder(orders, before, result, find_within, clock)
    while not finder.done():
        try:
            found: list[Order] | None = await adrive(_orders_flow(), client)
            error = None
        except CloreAPIError as failure:
            found, error = None, failure
        if finder.seen(found, error):
            break
        await sleep(poll_interval)
    return finder.placement
