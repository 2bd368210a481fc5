"""Market watch: typed events from successive snapshots of the marketplace and my spot bids.

A snapshot is what one poll sees: the offers that match a query and can be rented now, and
where each of my spot orders stands in its server's book. :func:`diff` compares two snapshots
(pure); :class:`MarketWatch` polls through a sync or an async client and yields events::

    from clore_ai import CloreAI
    from clore_ai.watch import MarketWatch

    watch = MarketWatch("gpu=4090 price<0.40", below=0.30)
    with CloreAI() as client:
        for event in watch.run(client):      # polls every watch.interval seconds, forever
            print(event.message)

Events (``WatchEvent.kind``):

- ``offer_appeared``: a server matches the query and is rentable, and did not on the previous
  poll (it was freed, repriced into the query, or listed);
- ``price_dropped``: a matching offer's on-demand price went from at or above ``below`` (USD per
  hour) to under it (only with ``below``);
- ``spot_outbid``: one of my spot orders stopped winning, a new one of mine is not winning, or
  a losing one was outbid again (the best other bid rose).

The first poll is the baseline: it fires nothing, unless ``initial=True``, when every matching
offer fires ``offer_appeared`` and every losing spot order ``spot_outbid``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ._calls import Call, CallFlow, adrive, drive
from ._polling import apolled, polled
from .exceptions import AuthError
from .query import MarketQuery, not_rentable
from .spotbid import SpotPosition, plain_amount, spot_position

__all__ = ["EVENT_KINDS", "MarketWatch", "OfferView", "Snapshot", "WatchEvent", "diff"]

EVENT_KINDS = ("offer_appeared", "price_dropped", "spot_outbid")


@dataclass(frozen=True)
class OfferView:
    """What the watch keeps of a matching server (prices in USD)."""

    server_id: int
    gpu: str | None
    gpus: int
    usd_per_hour: float | None
    spot_usd_per_hour: float | None
    country: str | None
    reliability: float | None

    @classmethod
    def of(cls, server: Any) -> OfferView:
        return cls(
            server.id,
            server.gpu_model,
            server.gpu_count,
            server.price_usd,
            server.spot_price_usd,
            server.location,
            server.reliability,
        )


@dataclass(frozen=True)
class Snapshot:
    """One poll: matching offers by server id, my spot orders' positions by order id."""

    at: float
    offers: Mapping[int, OfferView] = field(default_factory=dict)
    spot: Mapping[int, SpotPosition] = field(default_factory=dict)
    spot_watched: bool = False


@dataclass(frozen=True)
class WatchEvent:
    kind: str
    at: float
    server_id: int
    message: str
    offer: OfferView | None = None
    previous_usd_per_hour: float | None = None
    position: SpotPosition | None = None

    def as_dict(self) -> dict[str, Any]:
        """Flat, JSON-ready: the same keys for every kind (None where they do not apply)."""
        offer, position = self.offer, self.position
        top = position.top_other if position else None
        return {
            "kind": self.kind,
            "at": datetime.fromtimestamp(self.at, tz=timezone.utc)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
            "server_id": self.server_id,
            "gpu": offer.gpu if offer else None,
            "gpus": offer.gpus if offer else None,
            "usd_per_hour": offer.usd_per_hour if offer else None,
            "previous_usd_per_hour": self.previous_usd_per_hour,
            "spot_usd_per_hour": offer.spot_usd_per_hour if offer else None,
            "country": offer.country if offer else None,
            "order_id": position.order_id if position else None,
            "bid": position.bid if position else None,
            "currency": position.currency if position else None,
            "bid_usd_per_hour": position.bid_usd_per_hour if position else None,
            "top_bid_usd_per_hour": top.usd_per_day / 24 if top and top.usd_per_day is not None else None,
            "lowest_winning_bid": position.lowest_winning_bid if position else None,
            "message": self.message,
        }

    def environment(self) -> dict[str, str]:
        """For a command run on the event: ``CLORE_EVENT`` (the JSON) and flat ``CLORE_*`` values."""
        data = self.as_dict()
        env = {"CLORE_EVENT": json.dumps(data), "CLORE_EVENT_KIND": self.kind}
        flat = {
            "CLORE_SERVER_ID": data["server_id"],
            "CLORE_PRICE_USD_HOUR": data["usd_per_hour"],
            "CLORE_PREVIOUS_PRICE_USD_HOUR": data["previous_usd_per_hour"],
            "CLORE_GPU": data["gpu"],
            "CLORE_ORDER_ID": data["order_id"],
            "CLORE_BID": data["bid"],
            "CLORE_CURRENCY": data["currency"],
            "CLORE_LOWEST_WINNING_BID": data["lowest_winning_bid"],
        }
        env.update({name: _env_value(value) for name, value in flat.items() if value is not None})
        return env


def _env_value(value: Any) -> str:
    """``4e-06`` -> ``0.000004``, ``0.44937083333333333`` -> ``0.44937083``: numbers a shell
    script can print and ``bc`` can read (8 decimals: a satoshi; CLORE_EVENT keeps them exact)."""
    if isinstance(value, float):
        from decimal import Decimal

        return format(Decimal(repr(round(value, 8))), "f")
    return str(value)


def _usd(value: float | None) -> str:
    return "$?" if value is None else f"${value:.4f}"


def _appeared(offer: OfferView, at: float) -> WatchEvent:
    text = f"server {offer.server_id} ({offer.gpu or '?'}) available at {_usd(offer.usd_per_hour)}/h"
    return WatchEvent("offer_appeared", at, offer.server_id, text, offer=offer)


def _outbid(position: SpotPosition, at: float) -> WatchEvent:
    top = position.top_other
    by = f" by order {top.order_id}" if top else ""
    text = (
        f"spot order {position.order_id} on server {position.server_id} is outbid{by}; "
        f"lowest winning bid now {plain_amount(position.lowest_winning_bid)} {position.currency}/day"
    )
    return WatchEvent("spot_outbid", at, position.server_id, text, position=position)


def _top_usd(position: SpotPosition) -> float:
    top = position.top_other
    return top.usd_per_day if top and top.usd_per_day is not None else 0.0


def diff(
    previous: Snapshot | None, current: Snapshot, *, below: float | None = None, initial: bool = False
) -> list[WatchEvent]:
    """The events between two snapshots (``previous`` None: the first poll, see ``initial``)."""
    at = current.at
    if previous is None:
        if not initial:
            return []
        previous = Snapshot(at, spot_watched=current.spot_watched)
    events = [_appeared(o, at) for sid, o in sorted(current.offers.items()) if sid not in previous.offers]
    if below is not None:
        for sid, offer in sorted(current.offers.items()):
            before = previous.offers.get(sid)
            now_usd = offer.usd_per_hour
            if before is None or now_usd is None or now_usd >= below:
                continue
            if before.usd_per_hour is None or before.usd_per_hour >= below:
                text = (
                    f"server {sid} ({offer.gpu or '?'}) dropped to {_usd(now_usd)}/h "
                    f"from {_usd(before.usd_per_hour)}/h (below {_usd(below)}/h)"
                )
                events.append(
                    WatchEvent(
                        "price_dropped", at, sid, text, offer=offer, previous_usd_per_hour=before.usd_per_hour
                    )
                )
    if current.spot_watched and previous.spot_watched:
        for order_id, position in sorted(current.spot.items()):
            before_position = previous.spot.get(order_id)
            if position.winning or position.bid is None:
                continue
            if (
                before_position is None
                or before_position.winning
                or _top_usd(position) > _top_usd(before_position) + 1e-12
            ):
                events.append(_outbid(position, at))
    return events


class MarketWatch:
    """Polls the marketplace (and my spot books) and yields :class:`WatchEvent` s.

    ``query`` is the marketplace query language (:mod:`clore_ai.query`); ``currency`` keeps
    only servers that take that coin; ``my_spot`` also watches my spot orders (needs a key:
    without one the watch goes on without them). ``clock`` stamps snapshots (and their events):
    the API's time, which for a sandbox is the sandbox's (``clock=sandbox.now``).
    """

    def __init__(
        self,
        query: MarketQuery | str = "",
        *,
        below: float | None = None,
        my_spot: bool = True,
        currency: str | None = None,
        initial: bool = False,
        interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.query = query if isinstance(query, MarketQuery) else MarketQuery.parse(query)
        self.below = below
        self.my_spot = my_spot
        self.currency = currency
        self.initial = initial
        self.interval = interval
        self.clock = clock
        self.previous: Snapshot | None = None

    def snapshot_flow(self) -> CallFlow[Snapshot]:
        servers = yield Call("marketplace")
        offers = {
            s.id: OfferView.of(s)
            for s in servers
            if not s.rented and self.query.matches(s) and not_rentable(s, self.currency) is None
        }
        spot: dict[int, SpotPosition] = {}
        watched = self.my_spot
        if watched:
            try:
                orders = yield Call("my_orders")
            except AuthError:
                self.my_spot = watched = False  # no key: offers only, from now on
                orders = []
            for order in orders:
                if order.spot and not order.expired and order.server_id is not None:
                    market = yield Call("spot_marketplace", (order.server_id,))
                    spot[order.id] = spot_position(market, order.server_id, order_id=order.id)
        return Snapshot(self.clock(), offers, spot, watched)

    def update(self, snapshot: Snapshot) -> list[WatchEvent]:
        """The events ``snapshot`` brings; it becomes the baseline of the next poll."""
        events = diff(self.previous, snapshot, below=self.below, initial=self.initial)
        self.previous = snapshot
        return events

    def poll(self, client: Any) -> list[WatchEvent]:
        return self.update(drive(self.snapshot_flow(), client))

    async def apoll(self, client: Any) -> list[WatchEvent]:
        return self.update(await adrive(self.snapshot_flow(), client))

    def run(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        until: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> Iterator[WatchEvent]:
        """Poll every ``interval`` seconds until ``until`` (a ``timer`` time) or forever.

        ``timer`` (default: ``clock``) is what ``sleep`` waits on; a different one lets
        ``clock`` stamp events in another time, such as a sandbox's that runs faster.
        Network faults and rate limiting (after the client's own retries) go to ``on_error``
        and the next poll tries again; without ``on_error`` they are raised.
        """
        rounds = polled(
            lambda: self.poll(client),
            clock=timer or self.clock,
            interval=self.interval,
            sleep=sleep,
            until=until,
            on_error=on_error,
        )
        for events in rounds:
            yield from events

    async def arun(
        self,
        client: Any,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        until: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """:meth:`run` on an :class:`~clore_ai.AsyncCloreAI` client."""
        rounds = apolled(
            lambda: self.apoll(client),
            clock=timer or self.clock,
            interval=self.interval,
            sleep=sleep,
            until=until,
            on_error=on_error,
        )
        async for events in rounds:
            for event in events:
                yield event
