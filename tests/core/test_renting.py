"""rent: the best offer under the cap, the next one when it is taken, never two orders."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai._rent_journal import RentJournal
from clore_ai.models import MarketplaceServer
from clore_ai.query import MarketQuery
from clore_ai.renting import (
    NoOfferError,
    PreviousRentOrder,
    PriceCap,
    RentOutcomeUnknown,
    arent,
    build_plan,
    plan_rent,
    rent,
    usd_per_day,
)
from clore_ai.sandbox import Sandbox

from ..conftest import KEY, FakeClock
from .rent_helpers import Crash, MarketTransport, create_requests, set_price, take

IMAGE = "cloreai/ubuntu22.04-cuda12"


@pytest.fixture
def transport(sandbox: Sandbox, clock: FakeClock) -> MarketTransport:
    return MarketTransport(sandbox, KEY, sleep=clock.sleep, async_sleep=clock.async_sleep)


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> RentJournal:
    return RentJournal(tmp_path / "rent.json", clock=clock)


@pytest.fixture
def client(transport: MarketTransport, clock: FakeClock) -> Any:
    made = CloreAI(
        api_key=KEY,
        transport=transport,
        limiter=RateLimiter(clock=clock),
        sleep=clock.sleep,
        reconcile_timeout=10,
    )
    made.wallets()  # the account exists: other renters can take its servers
    yield made
    made.close()


def cheapest(client: Any, currency: str = "bitcoin", query: str = "") -> list[int]:
    plan = plan_rent(client, query, currency=currency)
    return [offer.server_id for offer in plan.offers]


# ── prices and the cap ─────────────────────────────────────────────────────


def server(**price: Any) -> MarketplaceServer:
    return MarketplaceServer.model_validate(
        {"id": 7, "allowed_coins": ["bitcoin", "USD-Blockchain"], "rented": False, "price": price}
    )


def test_the_cap_is_the_tightest_of_max_price_and_the_query() -> None:
    query = MarketQuery.parse("gpus>=2 price<0.40 price_day<=12")
    assert PriceCap.of(query, None) == PriceCap(0.40, True, "query term price<0.40")
    assert PriceCap.of(query, 0.30).usd_per_hour == 0.30  # type: ignore[union-attr]
    assert PriceCap.of(query, 0.45).strict  # type: ignore[union-attr]
    assert PriceCap.of(MarketQuery.parse("gpus>=2"), None) is None
    day = PriceCap.of(MarketQuery.parse("price_day<=4.8"), None)
    assert day is not None and day.usd_per_hour == pytest.approx(0.2) and not day.strict
    assert not PriceCap(0.4, True, "x").allows(0.4) and PriceCap(0.4, False, "x").allows(0.4)
    assert not PriceCap(0.4, False, "x").allows(None)  # a price that cannot be converted


def test_usd_value_is_the_apis_own_else_the_market_rate_else_unknown() -> None:
    shown = server(on_demand={"bitcoin": 0.0001}, usd={"on_demand_btc": 9.6})
    assert usd_per_day(shown, "bitcoin", {"bitcoin": 50_000.0}) == 9.6
    implied = server(on_demand={"bitcoin": 0.0001}, usd={"on_demand_btc": 0})
    assert usd_per_day(implied, "bitcoin", {"bitcoin": 50_000.0}) == pytest.approx(5.0)
    assert usd_per_day(implied, "bitcoin", {}) is None
    assert usd_per_day(server(on_demand={"USD-Blockchain": 4.8}), "USD-Blockchain") == 4.8
    # not convertible: never under a cap, and said so
    plan = build_plan([implied], MarketQuery.parse(""), "bitcoin", PriceCap(1, False, "x"), "price", 0)
    assert plan.offers == () and plan.left_out == {"price not convertible to USD": 1}


def test_plan_ranks_by_the_price_in_the_order_coin_and_sends_nothing(client: Any, sandbox: Sandbox) -> None:
    plan = plan_rent(client, "gpus>=1 price<0.5", currency="btc")
    hourly = [offer.usd_per_hour for offer in plan.offers]
    assert hourly == sorted(hourly) and all(h is not None and h < 0.5 for h in hourly)
    assert all("bitcoin" in o.server.allowed_coins and not o.server.rented for o in plan.offers)
    assert plan.left_out.get("taken", 0) > 0
    assert create_requests(sandbox) == []


# ── renting ────────────────────────────────────────────────────────────────


def test_rents_the_best_offer(client: Any, sandbox: Sandbox, journal: RentJournal) -> None:
    best = cheapest(client)[0]
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert result.server_id == best and result.order.server_id == best
    assert [o["id"] for o in sandbox.orders_created(KEY)] == [result.order.id]
    assert len(create_requests(sandbox)) == 1
    assert [a.outcome for a in result.attempts] == ["ordered"]
    assert journal.leftovers() == []


def test_taken_servers_fall_back_to_the_next_offer(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    first, second, third = cheapest(client)[:3]
    transport.before_create = lambda server_id: take(sandbox, KEY, server_id) if server_id == first else None
    seen: list[Any] = []
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal, on_attempt=seen.append)
    assert [(a.server_id, a.outcome, a.api_error) for a in result.attempts] == [
        (first, "taken", "server-already-rented"),
        (second, "ordered", None),
    ]
    assert seen == list(result.attempts)
    assert [o["si"] for o in sandbox.orders_created(KEY)] == [second]
    del third


def test_servers_seen_taken_are_skipped_without_sending(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    first, second, third = cheapest(client)[:3]

    def taken_meanwhile(server_id: int) -> None:
        if server_id == first:  # the first is taken, and the second too before the next try
            take(sandbox, KEY, first)
            take(sandbox, KEY, second)

    transport.before_create = taken_meanwhile
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal)
    outcomes = [(a.server_id, a.outcome, a.sent) for a in result.attempts]
    assert outcomes == [(first, "taken", True), (second, "taken", False), (third, "ordered", True)]
    assert len(create_requests(sandbox)) == 2


def test_fallback_bounds_the_tries_and_nothing_is_ordered(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    transport.before_create = lambda server_id: take(sandbox, KEY, server_id)  # always too late
    with pytest.raises(NoOfferError) as info:
        rent(client, "", image=IMAGE, currency="btc", fallback=2, journal=journal)
    assert len(create_requests(sandbox)) == 3
    assert sandbox.orders_created(KEY) == []
    assert "--fallback 2 used up" in str(info.value) and "nothing is billing" in str(info.value)
    assert [a.outcome for a in info.value.attempts] == ["taken"] * 3
    assert journal.leftovers() == []


def test_never_above_the_cap(client: Any, sandbox: Sandbox, journal: RentJournal) -> None:
    plan = plan_rent(client, "", currency="usd")
    cap = plan.offers[0].usd_per_hour
    assert cap is not None
    with pytest.raises(NoOfferError) as info:
        rent(client, "", image=IMAGE, currency="usd", max_price_usd=cap * 0.99, journal=journal)
    assert "can be rented in usd under the cap" in str(info.value) and "over the cap" in str(info.value)
    assert create_requests(sandbox) == []
    result = rent(client, f"price<={cap}", image=IMAGE, currency="usd", journal=journal)
    assert result.usd_per_hour is not None and result.usd_per_hour <= cap


def test_a_price_raised_before_the_try_is_rechecked_against_the_cap(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    plan = plan_rent(client, "", currency="usd")
    first, second = plan.offers[0], plan.offers[1]
    cap = second.usd_per_hour
    assert cap is not None

    def raise_first(server_id: int) -> None:
        if server_id == first.server_id:  # the host raises the price while we send
            set_price(sandbox, first.server_id, "USD-Blockchain", first.price_per_day * 10)

    transport.before_create = raise_first
    result = rent(client, "", image=IMAGE, currency="usd", max_price_usd=cap, plan=plan, journal=journal)
    # required_price made the API refuse the higher price; the next offer is under the cap
    assert [(a.server_id, a.outcome) for a in result.attempts] == [
        (first.server_id, "price changed"),
        (second.server_id, "ordered"),
    ]
    (order,) = sandbox.orders_created(KEY)
    assert order["si"] == second.server_id and order["price"] == second.price_per_day


def test_other_refusals_stop_without_trying_the_next(
    client: Any, sandbox: Sandbox, journal: RentJournal
) -> None:
    with sandbox._lock, sandbox.store.transaction() as accounts:
        for account in accounts.values():
            account["deposits"] = dict.fromkeys(account["deposits"], 0.0)
    with pytest.raises(ex.FieldError) as info:
        rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert info.value.error == "not_enough_balance"
    assert len(create_requests(sandbox)) == 1
    assert journal.leftovers() == []


def test_an_unknown_outcome_stops_and_stays_in_the_journal(
    client: Any, sandbox: Sandbox, journal: RentJournal
) -> None:
    first = cheapest(client)[0]
    sandbox.faults.inject("create_order", "drop_after", execute=False)
    with pytest.raises(RentOutcomeUnknown) as info:
        rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert "did not try another server" in str(info.value) and f"server {first}" in str(info.value)
    assert len(create_requests(sandbox)) == 1
    assert [a.outcome for a in info.value.attempts] == ["outcome unknown"]
    # the next run finds no order from it and goes ahead silently
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert result.server_id == first


def test_a_crash_mid_try_is_reported_by_the_next_run_once(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    first = cheapest(client)[0]
    # requests: my_orders (leftovers: none, so skipped) ... the crash comes right after
    # create_order reached the API and made the order
    transport.before_create = lambda server_id: setattr(transport, "crash_at", (transport.count, "after"))
    with pytest.raises(Crash):
        rent(client, "", image=IMAGE, currency="btc", journal=journal)
    (made,) = sandbox.orders_created(KEY)
    transport.before_create = None
    with pytest.raises(PreviousRentOrder) as info:
        rent(client, "", image=IMAGE, currency="btc", journal=journal)
    message = str(info.value)
    assert f"may have left order {made['id']}" in message and f"clore order {made['id']}" in message
    assert f"server {first}" in message and info.value.order_ids == (made["id"],)
    assert len(sandbox.orders_created(KEY)) == 1
    # said once: the run after that rents (another server: the first is ours now)
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert result.server_id != first and len(sandbox.orders_created(KEY)) == 2


def test_a_crash_before_sending_is_forgotten(
    client: Any, sandbox: Sandbox, transport: MarketTransport, journal: RentJournal
) -> None:
    # requests of the run: the marketplace, my_orders (create_order's look before), create_order
    transport.crash_at = (transport.count + 3, "before")
    with pytest.raises(Crash):
        rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert sandbox.orders_created(KEY) == [] and len(journal.leftovers()) == 1
    result = rent(client, "", image=IMAGE, currency="btc", journal=journal)
    assert len(sandbox.orders_created(KEY)) == 1 and result.order.id == sandbox.orders_created(KEY)[0]["id"]


def test_bad_input_sends_nothing(client: Any, sandbox: Sandbox, journal: RentJournal) -> None:
    before = len(sandbox.requests)
    for bad in (
        {"currency": "dogecoin"},
        {"fallback": -1},
        {"max_price_usd": 0},
        {"sort": "nonsense"},
        {"ports": {"22": "udp"}},
        {"ssh_password": "x" * 40},
    ):
        arguments = {"image": IMAGE, "currency": "btc", "journal": journal, **bad}
        with pytest.raises(ex.InvalidInputError) as info:
            rent(client, "gpus>=1", **arguments)
        assert "x" * 40 not in str(info.value)
    with pytest.raises(ex.InvalidInputError):
        rent(client, "gpus>>1", image=IMAGE, currency="btc", journal=journal)
    assert len(sandbox.requests) == before


def test_async_twin(sandbox: Sandbox, clock: FakeClock, journal: RentJournal) -> None:
    transport = MarketTransport(sandbox, KEY, sleep=clock.sleep, async_sleep=clock.async_sleep)

    async def scenario() -> Any:
        async with AsyncCloreAI(
            api_key=KEY, transport=transport, limiter=RateLimiter(clock=clock), sleep=clock.async_sleep
        ) as client:
            await client.wallets()
            tries: list[int] = []

            def first_is_taken(server_id: int) -> None:
                if not tries:
                    take(sandbox, KEY, server_id)
                tries.append(server_id)

            transport.before_create = first_is_taken
            return await arent(client, "gpus>=1", image=IMAGE, currency="btc", journal=journal)

    result = asyncio.new_event_loop().run_until_complete(scenario())
    assert [a.outcome for a in result.attempts] == ["taken", "ordered"]
    assert [o["si"] for o in sandbox.orders_created(KEY)] == [result.server_id]
