"""The spot-bid assistant: where a bid stands in a server's spot book, what would win now,
and a keeper that holds an order on top at the lowest price under a cap.

The API's rules for changing a bid (``set_spot_price``): raising is allowed at any time;
lowering at most once per 600 s and by at most ``max_step`` per change, and a refusal is a
code 6 with details (``can_lower_every_600_seconds`` + ``time_to_lowering``,
``exceeded_max_step`` + ``max_step``). The keeper follows them and learns from the refusals::

    from clore_ai import CloreAI
    from clore_ai.spotbid import SpotKeeper, spot_position

    with CloreAI() as client:
        market = client.spot_marketplace(6)
        position = spot_position(market, 6, order_id=39)
        print(position.rank, position.lowest_winning_bid)

        keeper = SpotKeeper(39, cap=0.00005)          # per day, in the order's coin
        for action in keeper.run(client):             # one BidAction per step, forever
            print(action.message)

Every price is **per day in the order's coin**, as the API quotes bids; ``*_usd_per_hour``
properties convert at the spot book's own ``currency_rates_in_usd``. Bids in different coins
are compared in USD, as the API ranks them. ``plan_bid`` is the pure decision;
:class:`SpotKeeper` applies it through a sync or an async client (one flow, see ``_calls``).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from ._calls import Call, CallFlow, adrive, drive
from ._polling import TRANSIENT_ERRORS, apolled, polled
from ._spot_rules import SpotRulesJournal, spot_rules_for_key
from .exceptions import CloreAPIError, FieldError
from .models import HOURS_PER_DAY, Order, SpotMarket, SpotOffer

__all__ = [
    "LOWERING_PERIOD",
    "TRANSIENT_ERRORS",
    "Bid",
    "BidAction",
    "SpotBidError",
    "SpotKeeper",
    "SpotPosition",
    "aorder_position",
    "find_spot_order_flow",
    "just_above",
    "keep_winning",
    "order_position",
    "order_position_flow",
    "plain_amount",
    "plan_bid",
    "spot_position",
    "tick_of",
]

#: Seconds between two lowerings of one bid (``can_lower_every_600_seconds``).
LOWERING_PERIOD = 600.0
#: The smallest step a bid moves by, per coin (satoshis; cents of CLORE and USD).
TICKS = {"bitcoin": 1e-8, "CLORE-Blockchain": 0.01, "USD-Blockchain": 0.01}
#: Errors a long-running watch or keeper survives: the next round tries again.


class SpotBidError(CloreAPIError):
    """The order cannot be kept: not yours, not a spot order, or ended; one sentence."""


def tick_of(currency: str | None) -> float:
    return TICKS.get(currency or "", 1e-8)


def _decimals(tick: float) -> int:
    return max(0, round(-math.log10(tick)))


def round_up(value: float, tick: float) -> float:
    """``value`` rounded up to a multiple of ``tick`` (float noise tolerated)."""
    return round(math.ceil(value / tick - 1e-6) * tick, _decimals(tick))


def just_above(value: float, tick: float) -> float:
    """The smallest multiple of ``tick`` strictly above ``value``."""
    return round((math.floor(value / tick + 1e-6) + 1) * tick, _decimals(tick))


@dataclass(frozen=True)
class Bid:
    """One bid of a spot book: ``price`` per day in ``currency``, ``usd_per_day`` at the book's rate."""

    order_id: int
    price: float | None
    currency: str | None
    usd_per_day: float | None
    active: bool
    mine: bool

    @classmethod
    def of(cls, market: SpotMarket, offer: SpotOffer) -> Bid:
        return cls(
            offer.order_id,
            offer.price,
            offer.currency,
            market.usd_per_day(offer),
            bool(offer.active),
            bool(offer.my),
        )


@dataclass(frozen=True)
class SpotPosition:
    """Where an order (or a would-be bid in ``currency``) stands in one server's spot book.

    ``rank`` 1 is the highest bid (the API runs it); ``lowest_winning_bid`` is per day in
    ``currency``: one step above the best other bid, at least the server's ``minimum``.
    """

    server_id: int
    currency: str | None
    order_id: int | None = None
    bid: float | None = None
    rank: int | None = None
    bids: int = 0
    winning: bool = False
    top: Bid | None = None
    top_other: Bid | None = None
    minimum: float | None = None
    lowest_winning_bid: float | None = None
    rate: float | None = None  # USD per coin of ``currency``

    def usd_per_day(self, price: float | None) -> float | None:
        return None if price is None or self.rate is None else price * self.rate

    @property
    def bid_usd_per_hour(self) -> float | None:
        usd = self.usd_per_day(self.bid)
        return None if usd is None else usd / HOURS_PER_DAY

    @property
    def lowest_winning_usd_per_hour(self) -> float | None:
        usd = self.usd_per_day(self.lowest_winning_bid)
        return None if usd is None else usd / HOURS_PER_DAY

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bid_usd_per_hour"] = self.bid_usd_per_hour
        data["lowest_winning_usd_per_hour"] = self.lowest_winning_usd_per_hour
        return data


def _minimum(market: SpotMarket, currency: str | None) -> float | None:
    pricing = market.server.min_pricing if market.server else None
    value = (pricing or {}).get(currency or "")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _beat(other: Bid, currency: str | None, rate: float | None) -> float | None:
    """The lowest bid in ``currency`` that ranks strictly above ``other``."""
    tick = tick_of(currency)
    if other.price is None:
        return None
    if other.currency == currency:
        return just_above(other.price, tick)
    if rate is None or other.usd_per_day is None:
        return None
    candidate = just_above(other.usd_per_day / rate, tick)
    while candidate * rate <= other.usd_per_day:  # float noise in the conversion
        candidate = round(candidate + tick, _decimals(tick))
    return candidate


def spot_position(
    market: SpotMarket, server_id: int, *, order_id: int | None = None, currency: str | None = None
) -> SpotPosition:
    """The position of ``order_id`` in ``market`` (or of a new bid in ``currency``).

    An order that is not in the book gives a position with ``bid`` None.
    """
    bids = [Bid.of(market, offer) for offer in market.offers or []]
    ranked = sorted(bids, key=lambda b: -(b.usd_per_day if b.usd_per_day is not None else -1.0))
    mine = next((b for b in bids if b.order_id == order_id), None) if order_id is not None else None
    if mine is not None:
        currency = mine.currency
    rate = (market.currency_rates_in_usd or {}).get(currency or "")
    others = [b for b in ranked if b.order_id != order_id]
    top_other = others[0] if others else None
    minimum = _minimum(market, currency)
    above = _beat(top_other, currency, rate) if top_other is not None else None
    if top_other is not None and above is None:
        lowest = None  # cannot compare across coins without rates
    else:
        floor = round_up(minimum, tick_of(currency)) if minimum is not None else tick_of(currency)
        lowest = max(floor, above) if above is not None else floor
    active = next((b for b in bids if b.active), None)
    return SpotPosition(
        server_id=server_id,
        currency=currency,
        order_id=order_id if mine is not None else None,
        bid=mine.price if mine is not None else None,
        rank=ranked.index(mine) + 1 if mine is not None else None,
        bids=len(bids),
        winning=bool(mine and mine.active),
        top=active or (ranked[0] if ranked else None),
        top_other=top_other,
        minimum=minimum,
        lowest_winning_bid=lowest,
        rate=rate,
    )


def find_spot_order_flow(order_id: int) -> CallFlow[Order]:
    """One of my active spot orders, or :class:`SpotBidError` saying why not."""
    orders = yield Call("my_orders")
    found = next((o for o in orders if o.id == order_id), None)
    if found is None:
        raise SpotBidError(f"order {order_id} is not one of your active orders (see: clore orders)")
    if not found.spot:
        raise SpotBidError(f"order {order_id} is an on-demand order; only spot orders have a bid")
    if found.server_id is None:
        raise SpotBidError(f"order {order_id} does not say which server it is on")
    return found  # type: ignore[no-any-return]


def order_position_flow(order_id: int) -> CallFlow[SpotPosition]:
    order = yield from find_spot_order_flow(order_id)
    assert order.server_id is not None
    market = yield Call("spot_marketplace", (order.server_id,))
    return spot_position(market, order.server_id, order_id=order_id)


def order_position(client: Any, order_id: int) -> SpotPosition:
    """Where my spot order ``order_id`` stands now (two requests: my_orders, spot_marketplace)."""
    return drive(order_position_flow(order_id), client)


async def aorder_position(client: Any, order_id: int) -> SpotPosition:
    return await adrive(order_position_flow(order_id), client)


# ── the keeper ────────────────────────────────────────────────────────────

#: What a keeper step did: a price change, or why it held.
ACTION_KINDS = ("raise", "lower", "hold", "out_of_reach", "ended")


@dataclass(frozen=True)
class BidAction:
    """One step of the keeper. Prices per day in ``currency``; ``new`` is set for raise/lower.

    ``applied`` is True once the API accepted the change; ``dry_run`` marks a change that was
    only planned.
    """

    kind: str
    order_id: int
    server_id: int | None
    currency: str | None
    at: float
    current: float | None
    new: float | None
    target: float | None
    cap: float
    winning: bool
    reason: str
    rate: float | None = None
    applied: bool = False
    dry_run: bool = False

    @property
    def changes_price(self) -> bool:
        return self.kind in ("raise", "lower")

    def usd_per_hour(self, price: float | None) -> float | None:
        return None if price is None or self.rate is None else price * self.rate / HOURS_PER_DAY

    @property
    def message(self) -> str:
        """One line for people: ``order 41: raise 0.00004 → 0.0000412 bitcoin/day (…)``."""
        head = f"order {self.order_id}: "
        if self.changes_price:
            verb = ("would " if self.dry_run else "") + self.kind
            change = f"{plain_amount(self.current)} → {plain_amount(self.new)} {self.currency}/day"
            return f"{head}{verb} {change} ({self.reason})"
        return f"{head}{self.kind.replace('_', ' ')} ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = (
            datetime.fromtimestamp(self.at, tz=timezone.utc)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
        data["new_usd_per_hour"] = self.usd_per_hour(self.new)
        data["cap_usd_per_hour"] = self.usd_per_hour(self.cap)
        data["message"] = self.message
        return data


#: ``(per_day, currency, usd_rate) -> text``: how a reason writes an amount.
AmountText = Callable[[float, "str | None", "float | None"], str]


def plain_amount(value: float | None) -> str:
    """``0.00005965``, ``1,500.00``: no exponent, no float noise."""
    if value is None:
        return "?"
    return f"{value:.8f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.2f}"


def plan_bid(
    position: SpotPosition,
    *,
    cap: float,
    now: float,
    lower_after: float | None = None,
    max_step: float | None = None,
    amount_text: AmountText | None = None,
) -> BidAction:
    """The next move for the order at ``position``: the pure rule the keeper follows.

    ``amount_text(per_day, currency, usd_rate)`` writes the amounts its reason names (the
    lowest winning bid, the cap, ``max_step``); bare numbers by default. The CLI passes one
    that adds the coin and USD.

    - the lowest winning bid is above ``cap``: ``out_of_reach`` (a bid above the cap is
      lowered toward it);
    - the bid is below it: ``raise`` to exactly it (raising is always allowed);
    - the bid is above it: ``lower`` to it, by at most ``max_step``, and only from
      ``lower_after`` on (else ``hold``, saying when);
    - otherwise ``hold``: winning at the lowest price.

    Never proposes a price above ``cap`` nor below the lowest winning bid.
    """
    tick = tick_of(position.currency)

    def amount(value: float | None) -> str:
        if amount_text is None or value is None:
            return plain_amount(value)
        return amount_text(value, position.currency, position.rate)

    base = BidAction(
        "hold",
        position.order_id or 0,
        position.server_id,
        position.currency,
        now,
        position.bid,
        None,
        position.lowest_winning_bid,
        cap,
        position.winning,
        "",
        position.rate,
    )
    bid, target = position.bid, position.lowest_winning_bid
    if bid is None:
        return replace(base, kind="ended", reason="the order is no longer in the spot book")
    if target is None:
        return replace(base, reason="the lowest winning bid is unknown (no USD rates in the book)")
    reachable = target <= cap * (1 + 1e-12)
    goal = target if reachable else cap
    out_of_reach = f"the lowest winning bid {amount(target)} is above the cap {amount(cap)}"
    eps = tick * 1e-3
    if bid < goal - eps:
        if not reachable:
            return replace(base, kind="out_of_reach", reason=out_of_reach)
        return replace(base, kind="raise", new=goal, reason=f"lowest winning bid now, cap {amount(cap)}")
    if bid > goal + eps:
        if lower_after is not None and now < lower_after:
            wait = math.ceil(lower_after - now)
            why = "above the cap" if not reachable else "overbidding"
            return replace(base, reason=f"{why}; lowering allowed again in {wait} s")
        new = goal if max_step is None else max(goal, round_up(bid - max_step, tick))
        if new >= bid - eps:
            return replace(
                base, reason=f"the API's max_step {amount(max_step)} is below one step of the coin"
            )
        why = f"lowest winning bid {amount(target)}" if reachable else f"above the cap {amount(cap)}"
        if max_step is not None and new > goal:
            why += f"; at most {amount(max_step)} per lowering"
        return replace(base, kind="lower", new=new, reason=why)
    if not reachable:
        return replace(base, kind="out_of_reach", reason=out_of_reach)
    return replace(
        base, reason="winning at the lowest bid" if position.winning else "at the lowest winning bid"
    )


class SpotKeeper:
    """Keeps one spot order winning at the lowest price under ``cap`` (per day, order coin).

    ``step``/``astep`` read the book, decide (:func:`plan_bid`) and change the price unless
    ``dry_run``; ``run``/``arun`` repeat every ``interval`` seconds until the order ends.
    The lowering rules are kept here: the keeper lowers at most once per ``lowering_period``,
    and learns ``max_step`` and ``time_to_lowering`` from the API's code 6 answers.
    """

    def __init__(
        self,
        order_id: int,
        cap: float,
        *,
        dry_run: bool = False,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        lowering_period: float = LOWERING_PERIOD,
        rules: SpotRulesJournal | None = None,
        remember: bool = True,
        amount_text: AmountText | None = None,
    ) -> None:
        if not (isinstance(cap, (int, float)) and math.isfinite(cap) and cap > 0):
            raise ValueError("the cap must be a positive number (per day, in the order's coin)")
        self.order_id = order_id
        self.cap = float(cap)
        self.dry_run = dry_run
        self.interval = interval
        self.clock = clock
        self.lowering_period = lowering_period
        self.server_id: int | None = None
        self.currency: str | None = None
        self.lower_after: float | None = None
        self.max_step: float | None = None
        self.lowered_at: list[float] = []  # when this keeper lowered the bid (accepted)
        # What the API said about lowering is kept per order for the next keeper (see
        # _spot_rules); ``rules`` is that journal, found from the client's key when None.
        self._rules = rules
        self._remember = remember
        self._recalled = False
        self.amount_text = amount_text  # how reasons write amounts (see plan_bid)

    # the flow: decisions once, for both clients

    def position_flow(self) -> CallFlow[SpotPosition]:
        """Read the order's spot book (and, the first time, which server it is on)."""
        if self.server_id is None:
            order = yield from find_spot_order_flow(self.order_id)
            self.server_id, self.currency = order.server_id, order.currency
        assert self.server_id is not None
        market = yield Call("spot_marketplace", (self.server_id,))
        return spot_position(market, self.server_id, order_id=self.order_id)

    def step_flow(self) -> CallFlow[BidAction]:
        position = yield from self.position_flow()
        now = self.clock()
        action = self.plan(position, now)
        if self.dry_run or not action.changes_price:
            return replace(action, dry_run=self.dry_run and action.changes_price)
        for _ in range(4):
            try:
                yield Call("set_spot_price", (self.order_id, action.new))
            except FieldError as refusal:
                retry = self._learn(refusal, now)
                if retry is None:
                    raise
                if not retry:  # the book moved under us: look again next step
                    return replace(action, kind="hold", new=None, reason=f"the API said {refusal.error}")
                action = self.plan(position, now)
                if not action.changes_price:
                    return action
                continue
            if action.kind == "lower":
                self.lowered_at.append(now)
                self.lower_after = now + self.lowering_period
            return replace(action, applied=True)
        return replace(
            action, kind="hold", new=None, reason="the API kept refusing the change; trying again later"
        )

    def plan(self, position: SpotPosition, now: float) -> BidAction:
        action = plan_bid(
            position,
            cap=self.cap,
            now=now,
            lower_after=self.lower_after,
            max_step=self.max_step,
            amount_text=self.amount_text,
        )
        return replace(action, order_id=self.order_id)

    def _learn(self, refusal: FieldError, now: float) -> bool | None:
        """Read the rule out of a code 6 answer: True to plan again, False to hold until the
        next step, None when it is not about the price."""
        details = refusal.details
        if refusal.error == "exceeded_max_step" and isinstance(details.get("max_step"), (int, float)):
            self.max_step = float(details["max_step"])
            return True
        if refusal.error == "can_lower_every_600_seconds":
            wait = details.get("time_to_lowering")
            seconds = float(wait) if isinstance(wait, (int, float)) else self.lowering_period
            self.lower_after = now + max(0.0, seconds)
            return True
        if refusal.error in ("amount_too_low", "too_low_price"):
            return False  # the server's minimum rose since the book was read
        if refusal.error in ("order_dont_exist", "order_not_active"):
            raise SpotBidError(
                f"order {self.order_id} has ended or is not yours (API: {refusal.error})"
            ) from None
        return None

    # runners

    def step(self, client: Any) -> BidAction:
        before = self._recall(client)
        try:
            return drive(self.step_flow(), client)
        finally:
            self._keep(before)

    async def astep(self, client: Any) -> BidAction:
        before = self._recall(client)
        try:
            return await adrive(self.step_flow(), client)
        finally:
            self._keep(before)

    def _recall(self, client: Any) -> tuple[float | None, float | None]:
        """Before a step: on the first one, what an earlier keeper learnt about this order."""
        if self._remember and not self._recalled:
            self._recalled = True
            if self._rules is None:
                core = getattr(client, "_core", None)  # a clore client; anything else: no key
                secret = core._key() if core is not None else None
                self._rules = spot_rules_for_key(secret.reveal() if secret is not None else None)
            wait, max_step = self._rules.waiting(self.order_id, self.clock())
            if wait > 0:
                self.lower_after = max(self.lower_after or 0.0, self.clock() + wait)
            if self.max_step is None:
                self.max_step = max_step
        return self.lower_after, self.max_step

    def _keep(self, before: tuple[float | None, float | None]) -> None:
        """After a step: what it learnt, for the next keeper of this order."""
        if self._remember and self._rules is not None and (self.lower_after, self.max_step) != before:
            self._rules.put(
                self.order_id, lower_after=self.lower_after, keeper_now=self.clock(), max_step=self.max_step
            )

    def run(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        until: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> Iterator[BidAction]:
        """Steps every ``interval`` until the order ends (or ``until``, a ``clock`` time)."""
        rounds = polled(
            lambda: self.step(client),
            clock=self.clock,
            interval=self.interval,
            sleep=sleep,
            until=until,
            on_error=on_error,
        )
        for action in rounds:
            yield action
            if action.kind == "ended":
                return

    async def arun(
        self,
        client: Any,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        until: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> AsyncIterator[BidAction]:
        rounds = apolled(
            lambda: self.astep(client),
            clock=self.clock,
            interval=self.interval,
            sleep=sleep,
            until=until,
            on_error=on_error,
        )
        async for action in rounds:
            yield action
            if action.kind == "ended":
                return


def keep_winning(
    client: Any,
    order_id: int,
    cap: float,
    *,
    interval: float = 60.0,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    until: float | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> Iterator[BidAction]:
    """``SpotKeeper(order_id, cap, ...).run(client, ...)`` in one call (synchronous client)."""
    keeper = SpotKeeper(order_id, cap, dry_run=dry_run, interval=interval, clock=clock)
    return keeper.run(client, sleep=sleep, until=until, on_error=on_error)
