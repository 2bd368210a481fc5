"""create_order spends money: it is sent at most once per call, whatever fails, and it
returns the order the API created (the API itself answers only {"code": 0})."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any

import pytest

from clore_ai import exceptions as ex
from clore_ai.models import Order
from clore_ai.sandbox import Sandbox

from ..conftest import KEY, Driver, FakeClock

ON_DEMAND = {
    "server_id": 123,
    "image": "cloreai/ubuntu22.04-cuda12",
    "type": "on-demand",
    "currency": "bitcoin",
    "ssh_password": "MySecurePass123",
    "ports": {"22": "tcp", "8888": "http"},
}


def create_requests(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.endpoint == "create_order"]


def test_returns_the_new_order_found_in_my_orders(driver: Driver, sandbox: Sandbox, clock: FakeClock) -> None:
    before = {w.name: w.balance for w in driver.call("wallets")}
    order = driver.call("create_order", **ON_DEMAND)
    created = sandbox.orders_created(KEY)
    assert [o["id"] for o in created] == [order.id]
    assert order.server_id == 123 and order.type == "on-demand" and order.reconciled is False
    assert order.pub_cluster and order.ssh_port and order.http_port == "8888"
    assert order.status == "deploying"
    assert len(create_requests(sandbox)) == 1
    # the server is now rented, and the wallet pays as the order runs
    (server,) = [s for s in driver.call("marketplace", available_only=False) if s.id == 123]
    assert server.rented is True
    clock.advance(86400)
    after = {w.name: w.balance for w in driver.call("wallets")}
    assert before["bitcoin"] - after["bitcoin"] >= order.price * 0.99


@pytest.mark.parametrize(
    "fault", ["drop_after", "timeout_after", "html_5xx", "truncated_json", "invalid_json"]
)
def test_ambiguous_failures_after_execution_are_reconciled_not_resent(
    driver: Driver, sandbox: Sandbox, fault: str
) -> None:
    sandbox.faults.inject("create_order", fault)
    order = driver.call("create_order", **ON_DEMAND)
    assert len(create_requests(sandbox)) == 1
    assert [o["id"] for o in sandbox.orders_created(KEY)] == [order.id]
    assert order.reconciled is True


@pytest.mark.parametrize("fault", ["html_5xx", "timeout_after", "drop_after"])
def test_ambiguous_failure_without_an_order_is_reported_as_unknown(
    driver: Driver, sandbox: Sandbox, fault: str
) -> None:
    sandbox.faults.inject("create_order", fault, execute=False)
    with pytest.raises(ex.OrderOutcomeUnknown) as info:
        driver.call("create_order", **ON_DEMAND)
    message = str(info.value)
    assert "server 123" in message and "clore orders" in message and "NOT re-sent" in message
    assert info.value.server_id == 123 and info.value.sent_at is not None
    assert len(create_requests(sandbox)) == 1
    assert sandbox.orders_created(KEY) == []


def test_code_1_after_send_is_ambiguous(
    make_driver: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai.sandbox import _api

    original = sandbox._create_order

    def executed_then_code_1(account: Any, args: Any, now: float) -> Any:
        original(account, args, now)
        raise _api._Answer(1)

    monkeypatch.setitem(sandbox._routes, "create_order", ("POST", executed_then_code_1, True))
    order = make_driver("sync", max_retries=10).call("create_order", **ON_DEMAND)
    assert order.reconciled is True and len(create_requests(sandbox)) == 1


def test_provably_unsent_failure_is_retried_once_and_one_order_exists(
    driver: Driver, sandbox: Sandbox
) -> None:
    sandbox.faults.inject("create_order", "drop_before")
    order = driver.call("create_order", **ON_DEMAND)
    assert len(sandbox.orders_created(KEY)) == 1 and order.reconciled is False
    assert len(sandbox.faults.fired) == 1


def test_code_5_is_retried_at_least_5_seconds_later(
    driver: Driver, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.faults.inject("create_order", "rate_limit")
    driver.call("create_order", **ON_DEMAND)
    throttled, accepted = create_requests(sandbox)
    assert (throttled.status, accepted.status) == (429, 200)
    assert accepted.at - throttled.at >= 5.0
    assert len(sandbox.orders_created(KEY)) == 1


def test_definitive_errors_are_raised_once(driver: Driver, sandbox: Sandbox) -> None:
    driver.call("create_order", **ON_DEMAND)
    with pytest.raises(ex.FieldError) as info:
        driver.call("create_order", **ON_DEMAND)
    assert info.value.error == "server-already-rented"
    assert len(create_requests(sandbox)) == 2


def test_max_retries_never_applies_to_a_sent_order(make_driver: Any, sandbox: Sandbox) -> None:
    sandbox.faults.inject("create_order", "timeout_after", times=5, execute=False)
    with pytest.raises(ex.OrderOutcomeUnknown):
        make_driver("sync", max_retries=10).call("create_order", **ON_DEMAND)
    assert len(create_requests(sandbox)) == 1


def test_accepted_but_not_visible_is_pending_not_none(
    make_driver: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Sandbox, "_store_new_order", lambda *a, **k: None)  # API says ok, order never shows
    with pytest.raises(ex.OrderPendingError, match="has not appeared"):
        make_driver("sync", reconcile_timeout=5).call("create_order", **ON_DEMAND)


def test_two_concurrent_spot_orders_on_different_servers_get_their_own_orders(
    sandbox: Sandbox, make_driver: Any
) -> None:
    d = make_driver("async")
    other = next(
        s
        for s in sandbox.catalogue.ordered()
        if s.id not in (6, 123, 5738)
        and s.online
        and not s.wire["gigaspot"]
        and "bitcoin" in s.wire["allowed_coins"]
    )
    spot = {"image": "cloreai/pytorch", "type": "spot", "currency": "bitcoin"}

    async def both() -> Any:
        return await asyncio.gather(
            d.client.create_order(server_id=123, spot_price=0.000005, **spot),
            d.client.create_order(
                server_id=other.id, spot_price=other.wire["price"]["spot"]["bitcoin"], **spot
            ),
        )

    first, second = d._loop.run_until_complete(both())  # type: ignore[union-attr]
    assert (first.server_id, second.server_id) == (123, other.id)
    assert first.id != second.id


def test_cancelled_task_after_send_logs_that_the_outcome_is_unknown(
    sandbox: Sandbox, make_driver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_driver("async")
    sandbox.faults.inject("create_order", "latency", latency=30.0)

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(d.client.create_order(**ON_DEMAND))
        for _ in range(50):
            await asyncio.sleep(0)
            if create_requests(sandbox):
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # the transport's latency uses the fake clock's async sleep; make it block instead
    transport = d.client._transport
    transport._async_sleep = lambda seconds: asyncio.sleep(3600)
    with caplog.at_level(logging.WARNING, logger="clore_ai"):
        d._loop.run_until_complete(cancel_midway())  # type: ignore[union-attr]
    assert "outcome is unknown" in caplog.text
    # The caller can tell which server may now be billing, and since when.
    assert "server 123" in caplog.text and "billing" in caplog.text
    assert re.search(r"sent at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", caplog.text)


def test_python_sdk_examples_errors(driver: Driver, sandbox: Sandbox) -> None:
    """too_low_price carries min_price; spot below the minimum creates nothing."""
    with pytest.raises(ex.FieldError) as info:
        driver.call(
            "create_order", server_id=123, image="x/y", type="spot", currency="bitcoin", spot_price=0.000001
        )
    assert info.value.error == "too_low_price" and info.value.min_price > 0.000001
    assert sandbox.orders_created(KEY) == []


# ── whose order is it? (another caller with the same key on the same server) ─────────


def rival_journal() -> Any:
    """The order journal as another live process of this user sees it (same file, other pid)."""
    from clore_ai._inflight import InflightJournal, journal_for_key

    return InflightJournal(journal_for_key(KEY).path, pid=os.getppid())


def rent_directly(sandbox: Sandbox, body: dict[str, Any]) -> int:
    """Create an order with this key without going through our client; returns its id."""
    answer = sandbox.handle("POST", "/v1/create_order", {}, {"auth": KEY}, json.dumps(body).encode())
    assert answer.status == 200, answer.body
    return max(o["id"] for o in sandbox.orders_created(KEY))


def lose_our_create_after(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, meanwhile: Any) -> None:
    """Our first create_order never reaches the API (its answer times out); ``meanwhile``
    runs just before, as another caller renting at the same moment."""
    from clore_ai.sandbox._api import SandboxResponse

    original = sandbox.handle
    done: list[bool] = []

    def handle(method: str, path: str, *rest: Any) -> Any:
        if path.endswith("/create_order") and not done:
            done.append(True)
            meanwhile()
            return SandboxResponse(0, b"", drop="timeout")
        return original(method, path, *rest)

    monkeypatch.setattr(sandbox, "handle", handle)


WIRE_BODY = {"renting_server": 123, "image": ON_DEMAND["image"], "type": "on-demand", "currency": "bitcoin"}


@pytest.fixture(params=["sync", "async"])
def shared_api(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Any) -> Any:
    """A client of an API that other processes of this user reach too, as the live API: a
    sandbox with a state file (an in-memory one keeps its create_order journal to itself)."""
    from clore_ai.sandbox import RateLimits

    from ..conftest import make_client

    sandbox = Sandbox(
        servers=60,
        clock=clock,
        rate_limits=RateLimits(),
        deploy_seconds=5.0,
        state_file=tmp_path / "api.json",
    )
    made = Driver(request.param, lambda **kw: make_client(request.param, sandbox, clock, **kw))
    yield made, sandbox
    made.close()


def test_a_lost_create_never_adopts_the_order_another_process_made_on_the_same_server(
    shared_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai._inflight import ACCEPTED

    driver, sandbox = shared_api

    rival = rival_journal()
    theirs: list[int] = []

    def other_process_rents_123() -> None:
        token = rival.begin(123, {**WIRE_BODY, "ssh_password": "TheirPass1"})
        theirs.append(rent_directly(sandbox, WIRE_BODY))
        rival.mark(token, ACCEPTED)  # still looking for its order in my_orders

    lose_our_create_after(monkeypatch, sandbox, other_process_rents_123)
    with pytest.raises(ex.OrderOutcomeUnknown) as info:
        driver.call("create_order", **ON_DEMAND)
    assert info.value.candidate_order_ids == (theirs[0],)
    assert str(theirs[0]) in str(info.value) and "another" in str(info.value)
    assert not isinstance(info.value, ex.OrderPendingError)


def test_two_callers_in_one_process_never_get_the_same_order(
    sandbox: Sandbox, make_driver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's create is lost; B (same key, same server) rents it. B gets the order, A does not."""
    d = make_driver("async")
    sandbox.faults.inject("create_order", "timeout_after", execute=False)

    async def both() -> list[Any]:
        return await asyncio.gather(
            d.client.create_order(**ON_DEMAND), d.client.create_order(**ON_DEMAND), return_exceptions=True
        )

    first, second = d._loop.run_until_complete(both())  # type: ignore[union-attr]
    (created,) = sandbox.orders_created(KEY)
    assert isinstance(second, Order) and second.id == created["id"] and second.reconciled is False
    assert isinstance(first, ex.OrderOutcomeUnknown) and not isinstance(first, ex.OrderPendingError)


def test_a_new_order_with_other_visible_fields_is_never_adopted(
    driver: Driver, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order on the same server with another image (the web dashboard, say) is not ours."""
    lose_our_create_after(
        monkeypatch, sandbox, lambda: rent_directly(sandbox, {**WIRE_BODY, "image": "someone/else"})
    )
    with pytest.raises(ex.OrderOutcomeUnknown) as info:
        driver.call("create_order", **ON_DEMAND)
    assert info.value.candidate_order_ids == ()


def test_fields_my_orders_leaves_out_neither_confirm_nor_refute(
    driver: Driver, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real my_orders answer has no `spot` on an on-demand order, and may lack others."""
    wire = Sandbox._order_wire

    def sparse(self: Sandbox, account: Any, order: Any, now: float) -> Any:
        shown = wire(self, account, order, now)
        for name in ("spot", "image", "currency", "tcp_ports", "http_port", "price"):
            shown.pop(name, None)
        return shown

    monkeypatch.setattr(Sandbox, "_order_wire", sparse)
    sandbox.faults.inject("create_order", "drop_after")
    order = driver.call("create_order", **ON_DEMAND)
    assert order.reconciled is True and [o["id"] for o in sandbox.orders_created(KEY)] == [order.id]


def test_a_429_after_the_order_executed_is_found_not_resent(driver: Driver, sandbox: Sandbox) -> None:
    sandbox.faults.inject("create_order", "rate_limit_after")
    order = driver.call("create_order", **ON_DEMAND)
    assert len(create_requests(sandbox)) == 1
    assert [o["id"] for o in sandbox.orders_created(KEY)] == [order.id] and order.reconciled is True


def test_a_429_whose_order_shows_up_late_is_adopted_not_reported_as_rented(
    driver: Driver, sandbox: Sandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order appears in my_orders only after the resend was refused: still ours."""
    wire = Sandbox._my_orders
    hidden_until = clock.now + 8.0

    def late(self: Sandbox, account: Any, args: Any, now: float) -> Any:
        shown = wire(self, account, args, now)
        if now < hidden_until:
            shown["orders"] = []
        return shown

    monkeypatch.setattr(Sandbox, "_my_orders", late)
    sandbox.faults.inject("create_order", "rate_limit_after")
    order = driver.call("create_order", **ON_DEMAND)
    assert [o["id"] for o in sandbox.orders_created(KEY)] == [order.id] and order.reconciled is True


def test_ctrl_c_while_looking_for_an_accepted_order_warns_that_it_may_be_billing(
    make_driver: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Interrupted after the answer, while polling my_orders: the order exists, say so."""
    monkeypatch.setattr(Sandbox, "_store_new_order", lambda *a, **k: None)  # never shows up
    d = make_driver("sync")
    sleep = d.client._sleep

    def interrupt_once_sent(seconds: float) -> None:
        if create_requests(sandbox):
            raise KeyboardInterrupt
        sleep(seconds)

    d.client._sleep = interrupt_once_sent
    with caplog.at_level(logging.WARNING, logger="clore_ai"), pytest.raises(KeyboardInterrupt):
        d.call("create_order", **ON_DEMAND)
    assert "server 123" in caplog.text and "billing" in caplog.text and "clore orders" in caplog.text


def test_a_429_on_the_last_attempt_is_reported_as_a_possible_order(
    make_driver: Any, sandbox: Sandbox
) -> None:
    """Out of retries on a 429: it may have come after the order was made, so no plain failure;
    but the reference's ``except RateLimitError`` around create_order still catches it."""
    sandbox.faults.inject("create_order", "rate_limit", times=5)
    with pytest.raises(ex.OrderOutcomeUnknown) as info:
        make_driver("sync", max_retries=1, reconcile_timeout=5).call("create_order", **ON_DEMAND)
    assert "429" in str(info.value) and "server 123" in str(info.value)
    assert isinstance(info.value, ex.RateLimitError) and isinstance(info.value, ex.OrderRateLimited)
    assert info.value.code == 5
    assert len(create_requests(sandbox)) == 2 and sandbox.orders_created(KEY) == []


@pytest.mark.parametrize("found", [True, False])
def test_a_429_with_a_long_retry_after_after_the_order_never_hangs(
    driver: Driver, sandbox: Sandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, found: bool
) -> None:
    """Retry-After: 3600 on create_order: the key is not held back an hour, nothing is re-sent,
    the order is looked for within reconcile_timeout and adopted, or reported as unknown."""
    if not found:
        method, wire, auth = sandbox._routes["my_orders"]

        def hidden(account: Any, args: Any, now: float) -> Any:
            shown = wire(account, args, now)
            assert isinstance(shown, dict)
            shown["orders"] = []
            return shown

        monkeypatch.setitem(sandbox._routes, "my_orders", (method, hidden, auth))  # never shows up
    sandbox.faults.inject("create_order", "rate_limit_after", retry_after=3600)
    start = clock.now
    if found:
        order = driver.call("create_order", **ON_DEMAND)
        assert [o["id"] for o in sandbox.orders_created(KEY)] == [order.id] and order.reconciled is True
    else:
        with pytest.raises(ex.OrderOutcomeUnknown) as info:
            driver.call("create_order", **ON_DEMAND)
        assert "server 123" in str(info.value) and "may" in str(info.value)
        assert isinstance(info.value, ex.RateLimitError) and info.value.retry_after == 3600
    assert len(create_requests(sandbox)) == 1
    assert clock.now - start < 120  # reconcile_timeout (30 s) plus spacing, never the hour
