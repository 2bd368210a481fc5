"""The spot-bid assistant: positions in a book, the keeper's rule (table + Hypothesis) and the
keeper on the sandbox's moving market in virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clore_ai import AsyncCloreAI, CloreAI, FieldError, RateLimiter
from clore_ai._spot_rules import SpotRulesJournal
from clore_ai.models import SpotMarket
from clore_ai.sandbox import MarketMotion, RateLimits, Sandbox, SandboxTransport, VirtualClock
from clore_ai.spotbid import (
    LOWERING_PERIOD,
    SpotBidError,
    SpotKeeper,
    SpotPosition,
    just_above,
    order_position,
    plan_bid,
    spot_position,
)

RATES = {"bitcoin": 68022.87, "CLORE-Blockchain": 0.002705, "USD-Blockchain": 1.0}
KEY = "sk-spotbid-0001"


def book(offers: list[tuple[int, float, str, bool]], minimum: dict[str, float] | None = None) -> SpotMarket:
    active = max(offers, key=lambda o: o[1] * RATES[o[2]])[0] if offers else None
    return SpotMarket.model_validate(
        {
            "market": {
                "currency_rates_in_usd": RATES,
                "offers": [
                    {"offer_id": i, "bid": p, "currency": c, "my": mine, "active": i == active}
                    for i, p, c, mine in offers
                ],
                "server": {"min_pricing": minimum or {"bitcoin": 0.000002}, "online": True},
            }
        }
    )


# ── positions ──────────────────────────────────────────────────────────────


def test_position_ranks_by_usd_and_the_lowest_winning_bid_beats_the_best_other_across_coins() -> None:
    market = book([(41, 1500.0, "CLORE-Blockchain", False), (39, 0.000004, "bitcoin", True)])
    position = spot_position(market, 6, order_id=39)
    assert (position.rank, position.bids, position.winning) == (2, 2, False)
    assert position.top_other is not None and position.top_other.order_id == 41
    # 1500 CLORE = $4.0575/day; in bitcoin one satoshi step above that
    assert position.lowest_winning_bid == 0.00005965
    assert position.lowest_winning_bid * RATES["bitcoin"] > 1500 * RATES["CLORE-Blockchain"]
    assert (position.lowest_winning_bid - 1e-8) * RATES["bitcoin"] <= 1500 * RATES["CLORE-Blockchain"]


def test_position_same_coin_is_one_step_above_and_never_below_the_minimum() -> None:
    market = book([(1, 0.00003, "bitcoin", False), (2, 0.00001, "bitcoin", True)])
    assert spot_position(market, 6, order_id=2).lowest_winning_bid == 0.00003001
    alone = book([(2, 0.00001, "bitcoin", True)], minimum={"bitcoin": 0.0000025})
    position = spot_position(alone, 6, order_id=2)
    assert position.winning and position.rank == 1 and position.lowest_winning_bid == 0.0000025


def test_position_of_a_server_without_my_order_per_coin() -> None:
    market = book([(1, 2.0, "USD-Blockchain", False)], minimum={"USD-Blockchain": 1.0, "bitcoin": 0.00001})
    usd = spot_position(market, 6, currency="USD-Blockchain")
    assert usd.order_id is None and usd.bid is None and usd.lowest_winning_bid == 2.01
    btc = spot_position(market, 6, currency="bitcoin")
    assert btc.lowest_winning_bid == just_above(2.0 / RATES["bitcoin"], 1e-8)


# ── the rule ───────────────────────────────────────────────────────────────


def position(bid: float | None, target: float, winning: bool = False) -> SpotPosition:
    return SpotPosition(
        server_id=6,
        currency="bitcoin",
        order_id=39,
        bid=bid,
        winning=winning,
        lowest_winning_bid=target,
        rate=RATES["bitcoin"],
    )


@pytest.mark.parametrize(
    ("bid", "target", "cap", "lower_after", "max_step", "kind", "new"),
    [
        (0.00001, 0.00002, 0.00005, None, None, "raise", 0.00002),  # outbid: raise to exactly the target
        (0.00004, 0.00002, 0.00005, None, None, "lower", 0.00002),  # overbidding: lower to it
        (0.00004, 0.00002, 0.00005, None, 0.00001, "lower", 0.00003),  # by at most max_step
        (0.00004, 0.00002, 0.00005, 1e12, None, "hold", None),  # lowered less than 600 s ago
        (0.00002, 0.00002, 0.00005, None, None, "hold", None),  # winning at the lowest bid
        (0.00001, 0.00006, 0.00005, None, None, "out_of_reach", None),  # the cap is too low
        (0.00008, 0.00006, 0.00005, None, None, "lower", 0.00005),  # above the cap: down to it
        (0.00005, 0.00006, 0.00005, None, None, "out_of_reach", None),  # at the cap, still losing
        (None, 0.00002, 0.00005, None, None, "ended", None),  # not in the book any more
    ],
)
def test_plan_bid(
    bid: float | None,
    target: float,
    cap: float,
    lower_after: float | None,
    max_step: float | None,
    kind: str,
    new: float | None,
) -> None:
    action = plan_bid(position(bid, target), cap=cap, now=1000.0, lower_after=lower_after, max_step=max_step)
    assert (action.kind, action.new) == (kind, new)
    if kind == "hold" and lower_after:
        assert "lowering allowed again in" in action.reason


class FakeSpotAPI:
    """One server's spot book with the API's set_spot_price rules; the best other bid moves."""

    def __init__(self, bid: float, minimum: float, share: float = 0.3) -> None:
        self.bid, self.minimum, self.share = bid, minimum, share
        self.other: float | None = None
        self.now = 0.0
        self.last_lowering: float | None = None
        self.changes: list[tuple[float, float, float]] = []  # (at, from, to)
        self.refused: list[str] = []  # the code 6 errors it answered

    def my_orders(self) -> list[Any]:
        from clore_ai.models import Order

        return [
            Order.model_validate({"id": 39, "si": 6, "spot": True, "currency": "bitcoin", "price": self.bid})
        ]

    def spot_marketplace(self, server_id: int) -> SpotMarket:
        offers = [(39, self.bid, "bitcoin", True)]
        if self.other is not None:
            offers.insert(0, (7, self.other, "bitcoin", False))
        return book(offers, minimum={"bitcoin": self.minimum})

    def set_spot_price(self, order_id: int, price: float) -> dict[str, Any]:
        try:
            return self._set_spot_price(price)
        except FieldError as refusal:
            self.refused.append(str(refusal.error))
            raise

    def _set_spot_price(self, price: float) -> dict[str, Any]:
        if price < self.minimum - 1e-12:
            raise FieldError(code=6, response={"code": 6, "error": "amount_too_low"})
        if price < self.bid - 1e-12:
            if self.last_lowering is not None and self.now - self.last_lowering < LOWERING_PERIOD:
                wait = LOWERING_PERIOD - (self.now - self.last_lowering)
                raise FieldError(
                    code=6,
                    response={"code": 6, "error": "can_lower_every_600_seconds", "time_to_lowering": wait},
                )
            step = round(self.bid * self.share, 8)
            if self.bid - price > step + 1e-12:
                raise FieldError(code=6, response={"code": 6, "error": "exceeded_max_step", "max_step": step})
            self.last_lowering = self.now
        self.changes.append((self.now, self.bid, price))
        self.bid = price
        return {"code": 0}


SATOSHI = 1e-8
events = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(min_value=100, max_value=9000)),  # best other bid, satoshis/day
        st.floats(min_value=1, max_value=1500, allow_nan=False),  # seconds to the next look
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(min_value=200, max_value=9000),
    cap=st.integers(min_value=200, max_value=8000),
    moves=events,
    forgets=st.booleans(),
)
def test_keeper_never_above_the_cap_lowers_by_the_rules_and_wins_whenever_it_can(
    start: int, cap: int, moves: list[tuple[int | None, float]], forgets: bool
) -> None:
    api = FakeSpotAPI(start * SATOSHI, minimum=150 * SATOSHI)
    memory = SpotRulesJournal(None)  # this example's own (a file is shared across examples)
    keeper = SpotKeeper(39, cap * SATOSHI, clock=lambda: api.now, rules=memory)
    for other, gap in moves:
        api.other = None if other is None else other * SATOSHI
        if forgets:  # a fresh keeper (a restart): what it knows is what the last one wrote down
            keeper = SpotKeeper(39, cap * SATOSHI, clock=lambda: api.now, rules=memory)
        before = api.bid
        action = keeper.step(api)
        changed = api.bid != before
        assert changed == (action.applied and action.changes_price)
        if changed and api.bid > before:
            assert api.bid <= cap * SATOSHI + 1e-15  # raises never above the cap
        target = max(150 * SATOSHI, (other + 1) * SATOSHI if other is not None else 0)
        if target <= cap * SATOSHI + 1e-15:
            assert api.bid >= target - 1e-15  # winning whenever it can under the cap
            assert other is None or api.bid > other * SATOSHI
        api.now += gap
    lowerings = [(at, a, b) for at, a, b in api.changes if b < a]
    for (first, _, _), (second, _, _) in zip(lowerings, lowerings[1:]):
        assert second - first >= LOWERING_PERIOD
    for _, a, b in lowerings:
        assert a - b <= round(a * 0.3, 8) + 1e-12


def test_keeper_learns_max_step_and_time_to_lowering_from_code_6() -> None:
    api = FakeSpotAPI(0.0001, minimum=0.000001)
    api.other = 0.00001
    keeper = SpotKeeper(39, 0.001, clock=lambda: api.now)
    first = keeper.step(api)  # wants 0.00001001, may drop 30 %: learns max_step, lowers by it
    assert first.kind == "lower" and first.applied and api.bid == pytest.approx(0.00007)
    assert keeper.max_step == pytest.approx(0.00003)
    api.now += 100
    second = keeper.step(api)
    assert second.kind == "hold" and "lowering allowed again in 500 s" in second.reason
    fresh = SpotKeeper(39, 0.001, clock=lambda: api.now, remember=False)  # a restart knowing nothing:
    held = fresh.step(api)  # the API says when
    assert (
        held.kind == "hold" and "500 s" in held.reason and fresh.lower_after == pytest.approx(api.now + 500)
    )
    assert api.refused == ["exceeded_max_step", "can_lower_every_600_seconds"]


def test_a_restarted_keeper_knows_what_the_last_one_learnt_without_asking() -> None:
    api = FakeSpotAPI(0.0001, minimum=0.000001)
    api.other = 0.00001
    kept = SpotRulesJournal(None, clock=lambda: api.now)  # the file; its clock is the wall's

    def keeper(**options: Any) -> SpotKeeper:  # another process each time: cron, a dry run
        return SpotKeeper(39, 0.001, clock=lambda: api.now, rules=kept, **options)

    first = keeper().step(api)  # learns max_step, lowers
    assert first.kind == "lower" and first.applied and api.refused == ["exceeded_max_step"]
    api.now += 100
    again = keeper()
    held = again.step(api)
    assert held.kind == "hold" and "lowering allowed again in 500 s" in held.reason
    assert again.max_step == pytest.approx(0.00003) and api.refused == ["exceeded_max_step"]  # not asked
    dry = keeper(dry_run=True).step(api)
    assert dry.kind == "hold" and "500 s" in dry.reason  # a dry run predicts what a run would do
    api.now += 500
    later = keeper().step(api)  # the wait is over: lowers
    assert later.kind == "lower" and later.applied and api.bid == pytest.approx(0.000049)
    assert "can_lower_every_600_seconds" not in api.refused  # (this API's max_step follows the bid)


def test_keeper_dry_run_changes_nothing() -> None:
    api = FakeSpotAPI(0.00001, minimum=0.000001)
    api.other = 0.00002
    action = SpotKeeper(39, 0.001, dry_run=True, clock=lambda: api.now).step(api)
    assert action.kind == "raise" and action.dry_run and not action.applied
    assert action.message.startswith("order 39: would raise 0.00001 → 0.00002001 bitcoin/day")
    assert api.changes == []


def test_the_cap_must_be_positive() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            SpotKeeper(39, bad)


# ── on the sandbox's moving market, in virtual time ───────────────────────


def moving_sandbox() -> tuple[Sandbox, VirtualClock]:
    clock = VirtualClock()
    return Sandbox(servers=20, clock=clock, market=MarketMotion(seed=7), rate_limits=RateLimits()), clock


def sync_client(sandbox: Sandbox, clock: VirtualClock) -> CloreAI:
    transport = SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep)
    return CloreAI(api_key=KEY, transport=transport, limiter=RateLimiter(clock=clock), sleep=clock.sleep)


def test_keeper_keeps_a_bid_winning_on_the_moving_market_never_above_the_cap() -> None:
    sandbox, clock = moving_sandbox()
    with sync_client(sandbox, clock) as client:
        minimum = client.spot_marketplace(123).server.min_pricing["bitcoin"]
        client.create_order(
            server_id=123, image="cloreai/ubuntu", type="spot", currency="bitcoin", spot_price=minimum
        )
        order_id = sandbox.orders_created(KEY)[-1]["id"]
        cap = round(minimum * 1.6, 8)
        keeper = SpotKeeper(order_id, cap, interval=60, clock=sandbox.now)
        actions = []
        for action in keeper.run(client, sleep=clock.sleep, until=sandbox.now() + 8 * 3600):
            actions.append(action)
            after = order_position(client, order_id)
            # every price the keeper set is under the cap, and it wins whenever it can
            assert after.bid is not None and after.bid <= cap + 1e-15
            if action.target is not None and action.target <= cap:
                assert after.winning, action
        kinds = {a.kind for a in actions if a.applied}
        assert {"raise", "lower"} <= kinds  # rivals outbid it and left again
        lowered = [a.at for a in actions if a.kind == "lower" and a.applied]
        assert all(b - a >= LOWERING_PERIOD for a, b in zip(lowered, lowered[1:]))
        refusals = [r for r in sandbox.requests if r.endpoint == "set_spot_price" and r.code != 0]
        assert refusals == []  # it knew the rules before the API had to say them
        assert all(r.status != 429 for r in sandbox.requests)


def test_keeper_on_the_async_client_is_the_same_flow() -> None:
    sandbox, clock = moving_sandbox()
    transport = SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep)

    async def scenario() -> list[str]:
        async with AsyncCloreAI(
            api_key=KEY, transport=transport, limiter=RateLimiter(clock=clock), sleep=clock.async_sleep
        ) as client:
            market = await client.spot_marketplace(123)
            minimum = market.server.min_pricing["bitcoin"]
            await client.create_order(
                server_id=123, image="cloreai/ubuntu", type="spot", currency="bitcoin", spot_price=minimum
            )
            order_id = sandbox.orders_created(KEY)[-1]["id"]
            sandbox.place_bid(123, round(minimum * 5, 8), "bitcoin")
            keeper = SpotKeeper(order_id, round(minimum * 10, 8), clock=sandbox.now)
            kinds = []
            async for action in keeper.arun(client, sleep=clock.async_sleep, until=sandbox.now() + 180):
                kinds.append(action.kind)
            return kinds

    kinds = asyncio.run(scenario())
    assert kinds[0] == "raise" and kinds[1:] and set(kinds[1:]) <= {"hold", "raise"}


def test_keeper_refuses_an_order_that_is_not_a_spot_order_of_mine() -> None:
    sandbox, clock = moving_sandbox()
    with sync_client(sandbox, clock) as client:
        with pytest.raises(SpotBidError, match="not one of your active orders"):
            SpotKeeper(999_999, 1.0, clock=sandbox.now).step(client)
        client.create_order(server_id=123, image="cloreai/ubuntu", type="on-demand", currency="bitcoin")
        on_demand = sandbox.orders_created(KEY)[-1]["id"]
        with pytest.raises(SpotBidError, match="on-demand"):
            SpotKeeper(on_demand, 1.0, clock=sandbox.now).step(client)


def test_a_minimum_that_rose_after_the_book_was_read_is_a_hold_not_a_failure() -> None:
    api = FakeSpotAPI(0.00001, minimum=0.000001)
    api.other = 0.00002
    keeper = SpotKeeper(39, 0.001, clock=lambda: api.now)
    refuse = api.set_spot_price

    def rose(order_id: int, price: float) -> dict[str, Any]:
        api.minimum = 0.0001  # between our read of the book and our change
        return refuse(order_id, price)

    api.set_spot_price = rose  # type: ignore[method-assign]
    action = keeper.step(api)
    assert action.kind == "hold" and "amount_too_low" in action.reason and api.changes == []


def test_a_sandbox_clock_that_jumps_or_starts_over_never_blocks_a_lowering_long() -> None:
    wall = [1_000.0]
    kept = SpotRulesJournal(None, clock=lambda: wall[0])
    kept.put(39, lower_after=5_450.0, keeper_now=5_000.0, max_step=0.00003)  # 450 s to wait
    assert kept.waiting(39, keeper_now=5_000.0) == (450.0, 0.00003)
    wall[0] += 100
    assert kept.waiting(39, keeper_now=5_100.0)[0] == 350.0  # both clocks agree
    assert kept.waiting(39, keeper_now=5_600.0)[0] == 0.0  # `sandbox advance`: its clock says go
    assert kept.waiting(39, keeper_now=10.0)[0] == 350.0  # `sandbox reset`: never more than the wall says
    keeper = SpotKeeper(39, 0.001, clock=lambda: 10.0, rules=kept)
    keeper._recall(None)
    assert keeper.lower_after == 360.0 and keeper.max_step == 0.00003  # its own clock + what is left
    wall[0] += 3600
    assert kept.get(39) is None  # forgotten an hour after it was written
