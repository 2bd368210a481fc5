"""clore_ai.spending against the sandbox: every number recomputed here from the raw order
(price per day, creation time, deposits) and the sandbox's exchange rates."""

from __future__ import annotations

import asyncio

import pytest

from clore_ai import AsyncCloreAI, RateLimiter
from clore_ai.sandbox import RATES, SandboxTransport
from clore_ai.spending import fetch_spend, fetch_spend_async, order_spend, summarize

from .spend_world import KEY, World


def test_order_and_account_numbers_follow_the_raw_orders() -> None:
    world = World()
    world.set_balances(usd=100.0, clore=50_000.0, btc=0.001)
    usd_id = world.add_order("USD-Blockchain", 12.0, age_hours=3)  # $0.50/h
    clore_id = world.add_order("CLORE-Blockchain", 2400.0, age_hours=10, fee=10.0)
    world.clock.advance(2 * 3600)
    summary = fetch_spend(world.client, now=world.sandbox.now())
    now = world.clock()
    raw = {o["id"]: o for o in world.raw_orders()}
    by_id = {o.order_id: o for o in summary.orders}

    usd = by_id[usd_id]
    assert usd.uptime_seconds == int(now - raw[usd_id]["ct"]) == 5 * 3600
    assert usd.coin_per_hour == usd.usd_per_hour == pytest.approx(12.0 / 24)
    assert usd.spent == usd.spent_usd == pytest.approx(12.0 * 5 / 24)
    clore = by_id[clore_id]
    clore_rate = RATES["CLORE-Blockchain"]
    assert clore.coin_per_hour == pytest.approx(100.0)
    assert clore.usd_per_hour == pytest.approx(100.0 * clore_rate, rel=1e-3)
    assert clore.spent == pytest.approx(2400.0 * 12 / 24)
    assert clore.spent_usd == pytest.approx(1200.0 * clore_rate, rel=1e-3)

    assert summary.usd_per_hour == pytest.approx(0.5 + 100.0 * clore_rate, rel=1e-3)
    wallets = {w.currency: w for w in summary.wallets}
    assert wallets["USD-Blockchain"].balance == pytest.approx(100.0 - 2.5)
    assert wallets["USD-Blockchain"].runway_hours == pytest.approx(97.5 / 0.5)
    clore_left = 50_000.0 - 10.0 - 1200.0
    assert wallets["CLORE-Blockchain"].runway_hours == pytest.approx(clore_left / 100.0)
    assert wallets["bitcoin"].runway_hours is None and wallets["bitcoin"].burn_per_hour == 0
    assert summary.shortest_runway is not None and summary.shortest_runway.currency == "USD-Blockchain"
    assert summary.projected_coin(10) == pytest.approx({"USD-Blockchain": 5.0, "CLORE-Blockchain": 1000.0})
    assert summary.projected_usd(10) == pytest.approx(5.0 + 1000.0 * clore_rate, rel=1e-3)
    assert summary.unpriced_orders == ()

    # Time passes: spend grows, the balance drains, the runway shortens by as much
    world.clock.advance(10 * 3600)
    later = fetch_spend(world.client, now=world.sandbox.now())
    usd_later = next(w for w in later.wallets if w.currency == "USD-Blockchain")
    assert usd_later.balance == pytest.approx(97.5 - 5.0)
    assert usd_later.runway_hours == pytest.approx(195.0 - 10.0)


def test_projection_stops_at_the_rental_length_and_ended_orders_cost_nothing_more() -> None:
    world = World()
    world.set_balances(usd=100.0)
    short = world.add_order("USD-Blockchain", 24.0, age_hours=1, mrl_hours=3)  # $1/h, 2 h left
    long = world.add_order("USD-Blockchain", 48.0, age_hours=1)  # $2/h
    summary = fetch_spend(world.client, now=world.clock())
    by_id = {o.order_id: o for o in summary.orders}
    assert by_id[short].remaining_hours == pytest.approx(2.0)
    assert by_id[short].projected(10) == pytest.approx(2.0)
    assert summary.projected_usd(10) == pytest.approx(2.0 + 20.0)
    world.client.cancel_order(long)
    world.clock.advance(3600)
    after = summarize(
        world.client.my_orders(include_completed=True), world.client.wallets(), {}, world.clock()
    )
    assert [o.order_id for o in after.active_orders] == [short]
    assert after.usd_per_hour == pytest.approx(1.0)
    ended = next(o for o in after.orders if o.order_id == long)
    assert ended.uptime_seconds is None and ended.projected(10) == 0.0
    assert ended.spent == pytest.approx(2.0)  # one hour at $2/h, then nothing


def test_an_order_without_a_usd_rate_is_unpriced_not_free() -> None:
    world = World()
    world.set_balances(clore=1000.0)
    order_id = world.add_order("CLORE-Blockchain", 240.0)
    orders, wallets = world.client.my_orders(), world.client.wallets()
    summary = summarize(orders, wallets, {}, world.clock())
    assert summary.unpriced_orders == (order_id,) and summary.usd_per_hour == 0
    assert summary.orders[0].usd_per_hour is None and summary.orders[0].coin_per_hour == 10.0
    assert summary.shortest_runway is not None and summary.shortest_runway.runway_hours == pytest.approx(
        100.0
    )
    assert order_spend(orders[0], {"CLORE-Blockchain": 0.5}, world.clock()).usd_per_hour == 5.0


def test_async_fetch_gives_the_same_summary() -> None:
    world = World()
    world.set_balances(usd=50.0, clore=10_000.0)
    world.add_order("USD-Blockchain", 6.0, age_hours=2)
    world.add_order("CLORE-Blockchain", 1200.0, age_hours=1)
    now = world.clock()
    sync = fetch_spend(world.client, now=now)

    async def run() -> object:
        async with AsyncCloreAI(
            api_key=KEY,
            transport=SandboxTransport(world.sandbox),
            limiter=RateLimiter(interval=0, order_interval=0),
        ) as client:
            return await fetch_spend_async(client, now=now)

    assert asyncio.run(run()) == sync
