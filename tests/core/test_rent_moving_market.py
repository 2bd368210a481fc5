"""rent on the sandbox's moving market, end to end: servers taken by other renters while we
send, prices drifting, hours passing — every order under the cap, never two per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai._rent_journal import RentJournal
from clore_ai.renting import NoOfferError, plan_rent, rent
from clore_ai.sandbox import MarketMotion, RateLimits, Sandbox, SandboxTransport, VirtualClock

KEY = "sk-moving-market-0001"
IMAGE = "cloreai/ubuntu22.04-cuda12"
QUERY = "gpus>=1 price<0.5"


@pytest.fixture
def market(tmp_path: Path) -> Any:
    clock = VirtualClock()
    sandbox = Sandbox(servers=120, clock=clock, market=MarketMotion(seed=7), rate_limits=RateLimits())
    client = CloreAI(
        api_key=KEY,
        transport=SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep),
        limiter=RateLimiter(clock=clock),
        sleep=clock.sleep,
        reconcile_timeout=10,
    )
    journal = RentJournal(tmp_path / "rent.json", clock=clock)
    yield clock, sandbox, client, journal
    client.close()


def test_renting_under_a_cap_while_servers_are_taken(market: Any) -> None:
    clock, sandbox, client, journal = market
    plan = plan_rent(client, QUERY, currency="usd")
    first, second, third = (offer.server_id for offer in plan.offers[:3])
    sandbox.take_server(first, when_ordered=True)  # other renters win the race for the best two
    sandbox.take_server(second, when_ordered=True)
    result = rent(client, QUERY, image=IMAGE, currency="usd", journal=journal)
    assert [(a.server_id, a.outcome) for a in result.attempts] == [
        (first, "taken"),
        (second, "taken"),
        (third, "ordered"),
    ]
    assert result.usd_per_hour is not None and result.usd_per_hour < 0.5
    assert [o["id"] for o in sandbox.orders_created(KEY)] == [result.order.id]

    # Hours later the market has moved (taken, freed, prices drifted): each run rents at most
    # one server, always under the cap, or says there is none.
    rented = {result.order.id}
    for _hour in range(6):
        clock.advance(3600)
        before = {o["id"] for o in sandbox.orders_created(KEY)}
        try:
            later = rent(client, QUERY, image=IMAGE, currency="usd", max_price_usd=0.3, journal=journal)
        except NoOfferError:
            assert {o["id"] for o in sandbox.orders_created(KEY)} == before
            continue
        new = {o["id"] for o in sandbox.orders_created(KEY)} - before
        assert new == {later.order.id}
        assert later.usd_per_hour is not None and later.usd_per_hour <= 0.3
        assert later.order.price == later.price_per_day  # charged what was checked (required_price)
        rented |= new
    assert len(rented) >= 4
