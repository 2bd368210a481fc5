"""Market watch: the pure diff of two snapshots, and the watch on the sandbox's moving market in
virtual time (an offer appears, a price drops, my spot bid is outbid)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter
from clore_ai.sandbox import MarketMotion, RateLimits, Sandbox, SandboxTransport, VirtualClock
from clore_ai.spotbid import Bid, SpotPosition
from clore_ai.watch import MarketWatch, OfferView, Snapshot, diff

KEY = "sk-watch-0001"


def offer(server_id: int, usd: float) -> OfferView:
    return OfferView(server_id, "1x NVIDIA GeForce RTX 4090", 1, usd, None, "DE", 0.99)


def standing(order_id: int, winning: bool, top_usd_day: float | None) -> SpotPosition:
    top = None if top_usd_day is None else Bid(7, top_usd_day, "USD-Blockchain", top_usd_day, True, False)
    return SpotPosition(
        server_id=6,
        currency="USD-Blockchain",
        order_id=order_id,
        bid=1.0,
        winning=winning,
        top_other=top,
        lowest_winning_bid=2.0,
        rate=1.0,
    )


def snap(offers: list[OfferView] = (), spot: list[SpotPosition] = (), watched: bool = True) -> Snapshot:  # type: ignore[assignment]
    return Snapshot(1_767_225_600.0, {o.server_id: o for o in offers}, {p.order_id: p for p in spot}, watched)  # type: ignore[misc]


def kinds(events: list[Any]) -> list[tuple[str, int]]:
    return [(e.kind, e.position.order_id if e.position else e.server_id) for e in events]


def test_the_first_snapshot_is_the_baseline_unless_initial() -> None:
    first = snap([offer(1, 0.3)], [standing(39, False, 5.0), standing(40, True, 1.0)])
    assert diff(None, first) == []
    assert kinds(diff(None, first, initial=True)) == [("offer_appeared", 1), ("spot_outbid", 39)]


@pytest.mark.parametrize(
    ("before", "after", "below", "expected"),
    [
        ([], [offer(1, 0.5)], None, [("offer_appeared", 1)]),  # freed, listed or repriced into the query
        ([offer(1, 0.5)], [offer(1, 0.5)], None, []),
        ([offer(1, 0.5)], [], None, []),  # gone: no event
        ([offer(1, 0.5)], [offer(1, 0.25)], 0.3, [("price_dropped", 1)]),  # crossed the threshold
        ([offer(1, 0.5)], [offer(1, 0.25)], None, []),  # no threshold: no price events
        ([offer(1, 0.28)], [offer(1, 0.25)], 0.3, []),  # already below: once only
        ([offer(1, 0.5)], [offer(1, 0.35)], 0.3, []),  # dropped, not below
        ([offer(1, 0.3)], [offer(1, 0.29)], 0.3, [("price_dropped", 1)]),  # "below" is strict
        ([], [offer(1, 0.25)], 0.3, [("offer_appeared", 1)]),  # a new offer appears, not drops
    ],
)
def test_offer_events(
    before: list[OfferView], after: list[OfferView], below: float | None, expected: list[tuple[str, int]]
) -> None:
    assert kinds(diff(snap(before), snap(after), below=below)) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ([standing(39, True, 1.0)], [standing(39, False, 3.0)], [("spot_outbid", 39)]),  # lost the top
        ([standing(39, False, 3.0)], [standing(39, False, 3.0)], []),  # still losing to the same bid
        ([standing(39, False, 3.0)], [standing(39, False, 4.0)], [("spot_outbid", 39)]),  # outbid again
        ([standing(39, False, 3.0)], [standing(39, True, None)], []),  # winning again
        ([], [standing(40, False, 3.0)], [("spot_outbid", 40)]),  # a new order of mine, losing
        ([], [standing(40, True, None)], []),
    ],
)
def test_spot_events(
    before: list[SpotPosition], after: list[SpotPosition], expected: list[tuple[str, int]]
) -> None:
    assert kinds(diff(snap(spot=before), snap(spot=after))) == expected


def test_no_spot_events_when_spot_orders_were_not_looked_at() -> None:
    losing = [standing(39, False, 3.0)]
    assert diff(snap(spot=[standing(39, True, 1.0)], watched=False), snap(spot=losing)) == []


def test_event_json_and_environment_for_a_command() -> None:
    (event,) = diff(snap([offer(1, 0.5)]), snap([offer(1, 0.25)]), below=0.3)
    data = event.as_dict()
    assert data["kind"] == "price_dropped" and data["usd_per_hour"] == 0.25
    assert data["previous_usd_per_hour"] == 0.5 and data["at"] == "2026-01-01T00:00:00Z"
    env = event.environment()
    assert json.loads(env["CLORE_EVENT"]) == data
    assert env["CLORE_EVENT_KIND"] == "price_dropped" and env["CLORE_SERVER_ID"] == "1"
    assert env["CLORE_PRICE_USD_HOUR"] == "0.25" and "CLORE_ORDER_ID" not in env


def test_environment_numbers_have_no_exponent_nor_float_noise() -> None:
    """A script echoes $CLORE_BID or feeds it to bc: 0.000004, not 4e-06."""
    from dataclasses import replace

    tiny = replace(standing(39, False, 3.0), bid=4e-06, lowest_winning_bid=3.0000000000000004e-05)
    (event,) = diff(snap([offer(1, 0.5)]), snap([offer(1, 10.785 / 24)], spot=[tiny]), below=0.5)[-1:]
    env = event.environment()
    assert env["CLORE_BID"] == "0.000004" and env["CLORE_LOWEST_WINNING_BID"] == "0.00003"
    (drop,) = diff(snap([offer(1, 0.5)]), snap([offer(1, 10.785 / 24)]), below=0.5)
    assert drop.environment()["CLORE_PRICE_USD_HOUR"] == "0.449375"
    assert json.loads(drop.environment()["CLORE_EVENT"])["usd_per_hour"] == 10.785 / 24  # exact


# ── on the sandbox's moving market, in virtual time ───────────────────────


def moving() -> tuple[Sandbox, VirtualClock, CloreAI]:
    clock = VirtualClock()
    sandbox = Sandbox(servers=40, clock=clock, market=MarketMotion(seed=7), rate_limits=RateLimits())
    transport = SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep)
    client = CloreAI(api_key=KEY, transport=transport, limiter=RateLimiter(clock=clock), sleep=clock.sleep)
    return sandbox, clock, client


def test_watch_sees_an_offer_appear_when_another_renter_frees_it() -> None:
    sandbox, clock, client = moving()
    sandbox.take_server(123, seconds=900)
    watch = MarketWatch("id=123", my_spot=False, interval=60, clock=sandbox.now)
    taken_until = sandbox.now() + 900
    with client:
        seen = next(iter(watch.run(client, sleep=clock.sleep, until=sandbox.now() + 3600)))
    assert seen.kind == "offer_appeared" and seen.server_id == 123
    assert taken_until <= seen.at < taken_until + 120  # within two polls of being freed


def test_watch_sees_a_price_drop_below_the_threshold() -> None:
    sandbox, _, client = moving()
    with client:
        # the price of one server over 8 hours of the moving market, one value per 5-minute epoch
        prices = []
        for _ in range(96):
            server = next(s for s in client.marketplace(available_only=False) if s.id == 123)
            prices.append(server.price_usd)
            sandbox.advance(300)
        high = max(range(len(prices) // 2), key=lambda i: prices[i])
        low = min(range(high, len(prices)), key=lambda i: prices[i])
        assert prices[low] < prices[high]
        below = (prices[high] + prices[low]) / 2
        # the same day again (the market is a function of its seed and time): watch from `high`
        sandbox2, clock2, client2 = moving()
        clock2.advance(high * 300)
        watch = MarketWatch("id=123", below=below, my_spot=False, interval=300, clock=sandbox2.now)
        with client2:
            events = list(watch.run(client2, sleep=clock2.sleep, until=clock2.now + (low - high + 1) * 300))
    drops = [e for e in events if e.kind == "price_dropped"]
    assert drops and all(e.kind == "price_dropped" for e in events)  # nothing else happens to it
    for drop in drops:  # each one a crossing, from at or above the threshold to under it
        assert drop.offer is not None and drop.offer.usd_per_hour is not None
        assert drop.offer.usd_per_hour < below <= (drop.previous_usd_per_hour or 0)


def test_watch_sees_my_spot_order_outbid_sync_and_async() -> None:
    sandbox, clock, client = moving()
    with client:
        minimum = client.spot_marketplace(123).server.min_pricing["bitcoin"]
        client.create_order(
            server_id=123, image="cloreai/ubuntu", type="spot", currency="bitcoin", spot_price=minimum * 20
        )
        watch = MarketWatch("id=123", interval=60, clock=sandbox.now)
        baseline = watch.poll(client)
        assert baseline == [] and any(p.winning for p in watch.previous.spot.values())  # type: ignore[union-attr]
        sandbox.place_bid(123, round(minimum * 40, 8), "bitcoin")
        (event,) = watch.poll(client)
    assert event.kind == "spot_outbid" and event.position is not None and not event.position.winning

    async def again() -> list[str]:
        transport = SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep)
        async with AsyncCloreAI(
            api_key=KEY, transport=transport, limiter=RateLimiter(clock=clock), sleep=clock.async_sleep
        ) as aclient:
            fresh = MarketWatch("id=123", initial=True, interval=60, clock=sandbox.now)
            found = []
            async for e in fresh.arun(aclient, sleep=clock.async_sleep, until=sandbox.now() + 60):
                found.append(e.kind)
            return found

    assert "spot_outbid" in asyncio.run(again())


def test_watch_survives_network_faults_when_told_how_to_report_them() -> None:
    sandbox, clock, client = moving()
    sandbox.faults.inject("marketplace", "drop_before", times=20)
    errors: list[Exception] = []
    watch = MarketWatch("id=123", my_spot=False, initial=True, interval=60, clock=sandbox.now)
    with client:
        first = next(iter(watch.run(client, sleep=clock.sleep, on_error=errors.append)))
    assert first.kind == "offer_appeared" and errors


def test_events_say_the_clock_time_while_until_and_the_waits_follow_the_timer() -> None:
    """A sandbox at 60x: events in its time, the deadline in real seconds (the timer)."""
    sandbox, clock, client = moving()
    sandbox.advance(86_400)  # the sandbox's day is ahead of the timer's
    real = [0.0]
    waits: list[float] = []

    def real_sleep(seconds: float) -> None:
        waits.append(seconds)
        real[0] += seconds
        clock.advance(seconds * 60)

    watch = MarketWatch("gpus>=1", my_spot=False, initial=True, interval=2, clock=sandbox.now)
    with client:
        events = list(watch.run(client, sleep=real_sleep, until=5.0, timer=lambda: real[0]))
    assert events and waits == [2, 2, 1]  # 5 real seconds: three polls, the last wait what was left
    start = clock.now - 5 * 60  # the sandbox's time when the watch began: 2 + 2 + 1 real s at 60x
    assert all(start <= e.at <= clock.now for e in events), [e.at for e in events]


WATCHER = """
import sys
from clore_cli._main import main
sys.exit(main(["watch", "--no-my-spot", "--interval", "1", "--timeout", sys.argv[1], "id=1"]))
"""


@pytest.mark.slow
def test_two_watchers_with_one_key_keep_to_one_request_per_second(tmp_path: Any) -> None:
    """Two `clore watch` processes polling every second with one key: the API sees >= 1 s gaps."""
    pytest.importorskip("clore_cli")
    from clore_ai.sandbox import SandboxServer

    sandbox = Sandbox(servers=10)  # the real limits: 1 request/s per key, answered 429 beyond
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(CLORE_API_KEY=KEY, XDG_CACHE_HOME=str(tmp_path / "cache"), CLORE_DISABLE_PLUGINS="1")
    with SandboxServer(sandbox) as server:
        env["CLORE_API_URL"] = server.url
        watchers = [
            subprocess.Popen([sys.executable, "-c", WATCHER, "4"], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errors = [w.communicate(timeout=60)[1] for w in watchers]
    assert [w.returncode for w in watchers] == [11, 11], errors  # nothing appeared: exit 11
    arrivals = sorted(r.at for r in sandbox.requests)
    assert len(arrivals) >= 4  # the two shared the slots
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 1.0
    assert all(r.status == 200 for r in sandbox.requests)  # never a 429
