"""The budget guard: verdicts at the limits, what it cancels, never without cancel=True, state
across restarts, network faults — and a property: with cancel it cancels exactly when a limit
is crossed (never before, always when, and just enough)."""

from __future__ import annotations

import asyncio
import json
import math
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_ai import AsyncCloreAI, Order, RateLimiter, Wallet
from clore_ai.guard import AsyncGuard, Guard, GuardEvent, GuardLimits, GuardState, GuardStateError, check
from clore_ai.sandbox import SandboxTransport
from clore_ai.spending import summarize

from .spend_world import KEY, World

NOW = 1_800_000_000


def order(
    order_id: int, usd_per_day: float, *, age_hours: float = 1.0, currency: str = "USD-Blockchain"
) -> Order:
    ct = int(NOW - age_hours * 3600)
    return Order.model_validate(
        {"id": order_id, "currency": currency, "price": usd_per_day, "ct": ct, "spend": 0.0}
    )


def wallets(usd: float = 1000.0) -> list[Wallet]:
    return [Wallet(name="USD-Blockchain", balance=usd)]


def verdict(orders: list[Order], limits: GuardLimits, spent: float = 0.0, usd: float = 1000.0) -> Any:
    return check(summarize(orders, wallets(usd), {}, NOW), limits, spent)


# ── the pure judgement ─────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("usd_per_hour", "level"),
    [(0.79, "ok"), (0.8, "near"), (1.0, "near"), (1.0001, "crossed")],
)
def test_hourly_limit_levels_at_the_boundaries(usd_per_hour: float, level: str) -> None:
    result = verdict([order(1, usd_per_hour * 24)], GuardLimits(max_hourly_usd=1.0))
    assert result.level == level
    assert bool(result.cancel) == (level == "crossed")


@pytest.mark.parametrize(
    ("spent", "level"), [(7.99, "ok"), (8.0, "near"), (10.0, "near"), (10.01, "crossed")]
)
def test_spend_limit_levels_at_the_boundaries(spent: float, level: str) -> None:
    assert verdict([order(1, 24.0)], GuardLimits(max_spend_usd=10.0), spent).level == level


@pytest.mark.parametrize(
    ("balance", "level"), [(9.99, "crossed"), (10.0, "near"), (12.5, "near"), (12.6, "ok")]
)
def test_runway_limit_levels_at_the_boundaries(balance: float, level: str) -> None:
    # $1/h from a wallet of `balance` dollars: `balance` hours of runway against a 10 h minimum
    assert verdict([order(1, 24.0)], GuardLimits(min_runway_hours=10.0), usd=balance).level == level


def test_hourly_cancels_the_newest_orders_and_only_as_many_as_needed() -> None:
    orders = [order(1, 24.0, age_hours=5), order(2, 24.0, age_hours=3), order(3, 12.0, age_hours=1)]
    # $2.5/h against $1.6: the newest ($0.5) is not enough, the next ($1) is; the oldest stays
    result = verdict(orders, GuardLimits(max_hourly_usd=1.6))
    assert [p.order.order_id for p in result.cancel] == [3, 2]
    assert all(p.reasons == ("max_hourly",) for p in result.cancel)


def test_spend_past_its_limit_cancels_every_active_order_newest_first() -> None:
    orders = [order(1, 1.0, age_hours=5), order(2, 1.0, age_hours=3)]
    result = verdict(orders, GuardLimits(max_spend_usd=5.0), spent=5.5)
    assert [p.order.order_id for p in result.cancel] == [2, 1]


def test_runway_cancels_newest_orders_of_that_wallet_until_it_lasts() -> None:
    orders = [order(1, 24.0, age_hours=5), order(2, 24.0, age_hours=1)]
    # $2/h from $15: 7.5 h < 10 h; without the newest, $1/h: 15 h
    result = verdict(orders, GuardLimits(min_runway_hours=10.0), usd=15.0)
    assert [p.order.order_id for p in result.cancel] == [2]
    assert result.crossed[0].currency == "USD-Blockchain"


def test_limits_are_checked_before_anything_runs() -> None:
    from clore_ai import InvalidInputError

    for bad in ({}, {"max_hourly_usd": 0}, {"max_spend_usd": math.nan}, {"min_runway_hours": -1}):
        with pytest.raises(InvalidInputError):
            GuardLimits(**bad)
    with pytest.raises(InvalidInputError):
        GuardLimits(max_hourly_usd=1, near=1.5)


# ── the runner on the sandbox ──────────────────────────────────────────────


def crossing_world() -> tuple[World, list[int]]:
    world = World()
    world.set_balances(usd=500.0)
    ids = [world.add_order("USD-Blockchain", 24.0, age_hours=4 - i) for i in range(3)]  # $1/h each
    return world, ids


def test_without_cancel_nothing_is_cancelled_only_reported() -> None:
    world, ids = crossing_world()
    events: list[GuardEvent] = []
    guard = Guard(
        world.client, GuardLimits(max_hourly_usd=1.5), clock=world.sandbox.now, on_event=events.append
    )
    result = guard.check()
    assert result.level == "crossed" and [p.order.order_id for p in result.cancel] == ids[::-1][:2]
    assert world.cancel_requests() == []
    assert [e.kind for e in events] == ["check", "would-cancel", "would-cancel"]
    assert all(not o.get("_ended_at") for o in world.raw_orders())


def test_a_dry_run_with_cancel_cancels_nothing_and_says_it_was_a_dry_run() -> None:
    world, _ = crossing_world()
    for options, why in (({"cancel": True, "dry_run": True}, "--dry-run"), ({}, "add --cancel")):
        events: list[GuardEvent] = []
        guard = Guard(
            world.client,
            GuardLimits(max_hourly_usd=1.5),
            clock=world.sandbox.now,
            on_event=events.append,
            **options,
        )
        guard.check()
        would = [e.message for e in events if e.kind == "would-cancel"]
        assert len(would) == 2 and all(m.split("; not cancelled: ")[1].startswith(why) for m in would), would
    assert world.cancel_requests() == []


def test_cancel_stops_the_newest_orders_and_records_why(tmp_path: Path) -> None:
    world, ids = crossing_world()
    state, log = tmp_path / "guard.json", tmp_path / "cancellations.jsonl"
    guard = Guard(
        world.client,
        GuardLimits(max_hourly_usd=1.2),
        cancel=True,
        state_path=state,
        log_path=log,
        clock=world.sandbox.now,
    )
    guard.check()
    ended = [o["id"] for o in world.raw_orders() if o.get("_ended_at")]
    assert sorted(ended) == sorted(ids[1:])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["order_id"] for r in records] == [ids[2], ids[1]]
    assert records[0]["reasons"] == ["max_hourly"] and records[0]["result"] == "cancelled"
    assert records[0]["usd_per_hour"] == pytest.approx(1.0) and records[0][
        "usd_per_hour_total"
    ] == pytest.approx(3.0)
    assert {r["limit"] for r in records[0]["readings"]} == {"max_hourly"}
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and stat.S_IMODE(log.stat().st_mode) == 0o600
    assert guard.check().level == "near"  # $1/h against $1.2: under, but within 80 %
    assert len(world.cancel_requests()) == 2


def test_a_restart_keeps_the_spend_count_and_never_cancels_twice(tmp_path: Path) -> None:
    world = World()
    world.set_balances(usd=500.0)
    old = world.add_order("USD-Blockchain", 24.0, age_hours=10)  # $10 spent before the guard
    paths = {"state_path": tmp_path / "g.json", "log_path": tmp_path / "g.jsonl"}
    limits = GuardLimits(max_spend_usd=5.0)
    first = Guard(world.client, limits, cancel=True, clock=world.sandbox.now, **paths)
    assert first.check().spent_usd == 0.0  # what was spent before the start does not count
    world.clock.advance(3 * 3600)
    assert first.check().spent_usd == pytest.approx(3.0)
    new = world.add_order("USD-Blockchain", 48.0)  # created after the start: all of it counts
    world.clock.advance(3600)
    del first  # the process ends

    events: list[GuardEvent] = []
    second = Guard(
        world.client, limits, cancel=True, clock=world.sandbox.now, on_event=events.append, **paths
    )
    second.run(checks=1)
    assert events[0].kind == "resumed"
    check_event = next(e for e in events if e.kind == "check")
    assert check_event.data["spent_usd"] == pytest.approx(4.0 + 2.0)  # past $5: crossed
    assert sorted(e.data["order_id"] for e in events if e.kind == "cancelled") == sorted([old, new])

    third = Guard(world.client, limits, cancel=True, clock=world.sandbox.now, **paths)
    world.clock.advance(3600)
    assert third.check().spent_usd == pytest.approx(6.0)  # ended orders bill no more
    assert len(world.cancel_requests()) == 2
    assert len((tmp_path / "g.jsonl").read_text().splitlines()) == 2
    assert not GuardState.load(tmp_path / "g.json").pending  # type: ignore[union-attr]


def test_a_cancel_sent_just_before_a_crash_is_recorded_once_after_the_restart(tmp_path: Path) -> None:
    world, ids = crossing_world()
    paths = {"state_path": tmp_path / "g.json", "log_path": tmp_path / "g.jsonl"}

    class CrashAfterCancel:
        def __getattr__(self, name: str) -> Any:
            method = getattr(world.client, name)
            if name != "cancel_order":
                return method

            def cancel(**kwargs: Any) -> Any:
                method(**kwargs)
                raise KeyboardInterrupt  # the process dies between the answer and the record

            return cancel

    limits = GuardLimits(max_hourly_usd=2.5)
    with pytest.raises(KeyboardInterrupt):
        Guard(CrashAfterCancel(), limits, cancel=True, clock=world.sandbox.now, **paths).check()
    assert not (tmp_path / "g.jsonl").exists()
    restarted = Guard(world.client, limits, cancel=True, clock=world.sandbox.now, **paths)
    assert restarted.check().level == "near"  # $2/h left
    records = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert [r["order_id"] for r in records] == [ids[2]]
    assert records[0]["result"] == "cancelled (confirmed after a restart)"
    assert len(world.cancel_requests()) == 1


def test_network_faults_are_survived_with_back_off(tmp_path: Path) -> None:
    world, ids = crossing_world()
    client = world.new_client(max_retries=0)
    world.sandbox.faults.inject("my_orders", "drop_before", times=3)
    world.sandbox.faults.inject("cancel_order", "html_5xx", times=1, execute=False)
    events: list[GuardEvent] = []
    sleeps: list[float] = []
    guard = Guard(
        client,
        GuardLimits(max_hourly_usd=2.5),
        cancel=True,
        interval=30,
        clock=world.sandbox.now,
        sleep=sleeps.append,
        on_event=events.append,
    )
    guard.run(checks=5)
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["error", "error", "error"]
    assert sleeps[:3] == [30, 60, 120] and sleeps[3] == 30  # back-off, then the interval again
    assert "cancel-failed" in kinds and kinds.count("cancelled") == 1
    assert [o["id"] for o in world.raw_orders() if o.get("_ended_at")] == [ids[2]]


def test_a_damaged_state_file_is_one_clear_error(tmp_path: Path) -> None:
    world, _ = crossing_world()
    path = tmp_path / "g.json"
    path.write_text("{not json")
    with pytest.raises(GuardStateError, match="damaged"):
        Guard(world.client, GuardLimits(max_hourly_usd=1), state_path=path)
    Guard(world.client, GuardLimits(max_hourly_usd=1), state_path=path, reset=True)
    assert GuardState.load(path) is not None
    path.write_bytes(b"\x00\xff not text")  # was an unexpected UnicodeDecodeError
    with pytest.raises(
        GuardStateError, match="damaged; move it away, or start afresh with `clore guard --reset`"
    ):
        Guard(world.client, GuardLimits(max_hourly_usd=1), state_path=path)


def test_async_guard_runs_the_same_flow() -> None:
    world, ids = crossing_world()

    async def run() -> Any:
        async with AsyncCloreAI(
            api_key=KEY,
            transport=SandboxTransport(world.sandbox),
            limiter=RateLimiter(interval=0, order_interval=0),
        ) as client:
            sleeps: list[float] = []

            async def sleep(seconds: float) -> None:
                sleeps.append(seconds)

            guard = AsyncGuard(
                client, GuardLimits(max_hourly_usd=1.5), cancel=True, clock=world.sandbox.now, sleep=sleep
            )
            return await guard.run(checks=2), sleeps

    last, sleeps = asyncio.run(run())
    assert sleeps == [60.0] and last.level == "ok"  # $1/h left against $1.5
    assert sorted(o["id"] for o in world.raw_orders() if o.get("_ended_at")) == sorted(ids[1:])


# ── the property ───────────────────────────────────────────────────────────

coins = st.sampled_from(["USD-Blockchain", "bitcoin"])
order_specs = st.lists(
    st.tuples(coins, st.floats(0.5, 60.0), st.floats(0.0, 48.0)),  # coin, USD per day, age in hours
    min_size=0,
    max_size=6,
)
steps = st.lists(
    st.tuples(st.floats(0.0, 30.0), st.one_of(st.none(), st.tuples(coins, st.floats(0.5, 60.0)))),
    min_size=1,
    max_size=5,
)  # hours to wait, and maybe a new order
limit_sets = st.fixed_dictionaries(
    {},
    optional={
        "max_hourly_usd": st.floats(0.05, 8.0),
        "max_spend_usd": st.floats(0.5, 60.0),
        "min_runway_hours": st.floats(1.0, 200.0),
    },
).filter(bool)


def _close(value: float, limit: float) -> bool:
    return abs(value - limit) <= 1e-6 * max(1.0, abs(limit))


class Model:
    """The limits recomputed from the sandbox's raw orders: price per day, coin, end time."""

    def __init__(self, world: World, rates: dict[str, float]) -> None:
        self.world, self.rates = world, rates
        self.baseline: dict[int, float] = {}
        self.started = world.clock()

    def spend(self, raw: dict[str, Any], now: float) -> float:
        end = raw.get("_ended_at") or now
        return round(raw["price"] * max(0.0, end - raw["ct"]) / 86400, 8)

    def readings(self, limits: dict[str, float]) -> tuple[dict[str, float], bool]:
        """Each limit's value, and whether any is too close to its limit to call."""
        now, raws = self.world.clock(), self.world.raw_orders()
        active = [o for o in raws if not o.get("_ended_at")]
        for o in raws:
            fresh = o["ct"] >= self.started
            self.baseline.setdefault(o["id"], 0.0 if fresh else self.spend(o, now))
        hourly = sum(o["price"] / 24 * self.rates[o["currency"]] for o in active)
        spent = sum((self.spend(o, now) - self.baseline[o["id"]]) * self.rates[o["currency"]] for o in raws)
        deposits = self.world.deposits()
        runway = math.inf
        for coin in {o["currency"] for o in active}:
            burn = sum(o["price"] / 24 for o in active if o["currency"] == coin)
            left = deposits.get(coin, 0.0) - sum(self.spend(o, now) for o in raws if o["currency"] == coin)
            runway = min(runway, max(0.0, left) / burn)
        values = {"max_hourly_usd": hourly, "max_spend_usd": spent, "min_runway_hours": runway}
        unclear = any(_close(values[name], limit) for name, limit in limits.items())
        return values, unclear


def crossed(values: dict[str, float], limits: dict[str, float]) -> bool:
    return any(
        values[name] < limit if name == "min_runway_hours" else values[name] > limit
        for name, limit in limits.items()
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=order_specs, steps=steps, limits=limit_sets, usd=st.floats(1.0, 300.0), cancel=st.booleans())
def test_guard_cancels_exactly_when_a_limit_is_crossed(
    orders: list[tuple[str, float, float]],
    steps: list[tuple[float, tuple[str, float] | None]],
    limits: dict[str, float],
    usd: float,
    cancel: bool,
) -> None:
    world = World(servers=4)
    btc_rate = 10.0  # a coin worth $10: balances far above the wire's 8 decimals
    rates = {"USD-Blockchain": 1.0, "bitcoin": btc_rate}
    world.set_balances(usd=usd, btc=usd / btc_rate)
    for coin, usd_per_day, age in orders:
        world.add_order(coin, usd_per_day / rates[coin], age_hours=age)
    model = Model(world, rates)
    guard = Guard(world.client, GuardLimits(**limits), cancel=cancel, clock=world.sandbox.now)
    guard.state.rates, guard.state.rates_at = dict(rates), world.clock()  # the rates of this world
    guard.rates_every = math.inf
    for hours, new_order in [(0.0, None), *steps]:
        world.clock.advance(hours * 3600)
        if new_order is not None:
            coin, usd_per_day = new_order
            world.add_order(coin, usd_per_day / rates[coin])
        before, unclear = model.readings(limits)
        active_before = {o["id"] for o in world.raw_orders() if not o.get("_ended_at")}
        requests = len(world.cancel_requests())
        result = guard.check()
        sent = len(world.cancel_requests()) - requests
        ended = active_before - {o["id"] for o in world.raw_orders() if not o.get("_ended_at")}
        if not cancel:
            assert sent == 0 and not ended  # never without the flag
            continue
        assert ended == {p.order.order_id for p in result.cancel} and sent == len(ended)
        if unclear:
            continue
        assert bool(ended) == (crossed(before, limits) and bool(active_before))  # never before, always when
        after, unclear_after = model.readings(limits)
        if ended and not unclear_after:
            assert not crossed(after, limits) or ("max_spend_usd" in limits and not (active_before - ended))
        if ended and set(limits) == {"max_hourly_usd"}:
            # just enough: without its oldest cancellation the rate would still be too high
            oldest = min(ended, key=lambda i: next((o["ct"], i) for o in world.raw_orders() if o["id"] == i))
            raw = next(o for o in world.raw_orders() if o["id"] == oldest)
            assert (
                after["max_hourly_usd"] + raw["price"] / 24 * rates[raw["currency"]]
                > limits["max_hourly_usd"] - 1e-9
            )


def test_on_the_moving_market_the_guard_cancels_when_its_budget_is_spent() -> None:
    from clore_ai import CloreAI
    from clore_ai.sandbox import MarketMotion, RateLimits, Sandbox, VirtualClock

    clock = VirtualClock()
    sandbox = Sandbox(servers=20, clock=clock, market=MarketMotion(seed=7), rate_limits=RateLimits.off())
    client = CloreAI(
        api_key="sk-moving-market-guard",
        transport=SandboxTransport(sandbox, sleep=clock.sleep),
        limiter=RateLimiter(interval=0, order_interval=0),
        sleep=clock.sleep,
    )
    events: list[GuardEvent] = []
    guard = Guard(
        client,
        GuardLimits(max_spend_usd=1.0),
        cancel=True,
        interval=1800,
        clock=sandbox.now,
        sleep=clock.sleep,
        on_event=events.append,
    )
    guard.run(checks=20)  # ten sandbox hours, a check every half hour, no real waiting
    checks = [e for e in events if e.kind == "check"]
    crossed_at = next(i for i, e in enumerate(checks) if e.level == "crossed")
    # order 38 spends $0.125/h (spot order 39 is outbid on server 6 and costs nothing): $1 is
    # spent after 8 h, so the check at 8.5 h crosses
    assert checks[crossed_at].at - checks[0].at == 8.5 * 3600
    assert checks[crossed_at - 1].level == "near" and checks[crossed_at - 1].data["spent_usd"] <= 1.0
    cancelled = [e for e in events if e.kind == "cancelled"]
    assert [e.data["order_id"] for e in cancelled] == [39, 38] and all(
        e.at == checks[crossed_at].at for e in cancelled
    )
    assert client.my_orders() == []
    client.close()
