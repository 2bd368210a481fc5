"""Property: whatever fails and whatever else is ordered meanwhile, one create_order call makes
at most one order, and its result tells the truth (reliability.md §A3).

A Hypothesis state machine runs random sequences of create_order calls on random servers
against the sandbox (real rate limits, virtual time), injecting a fault at a random point —
before the request arrives, after the server executed it but before the answer, in the
answer, or in the reconciliation reads after a good answer — while other orders of the same account
appear concurrently (another terminal renting another server during our call), and while
another process with the same key rents the SAME server during our call (through the SDK's
order journal, with the same or another image, still looking for its order or done).

Per call, with ``new`` = orders that appeared on the target server during the call:
- a returned order: exactly one new order, and it is the returned one;
- a definitive refusal (codes 2/3/4/6 with no earlier ambiguity, local validation, a rate
  limit that never let the request through): no new order;
- "outcome unknown": at most one new order;
- anything else is a bug.
Orders the other process made on the same server are never ours: never returned, never
counted as ours above.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from clore_ai import CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai._inflight import ACCEPTED, REFUSED, UNKNOWN, InflightJournal
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport
from clore_ai.sandbox._api import _fingerprint

from ..conftest import FakeClock

KEY = "sk-state-machine-0001"
# Faults whose request never reaches the API (safe to resend) and ambiguous ones.
UNSENT = ["drop_before", "rate_limit"]
AMBIGUOUS = ["drop_after", "timeout_after", "html_5xx", "truncated_json", "invalid_json", "rate_limit_after"]
DEFINITIVE = (ex.InvalidInputError, ex.FieldError, ex.AuthError, ex.InvalidEndpointError)


class ConcurrentOrders(SandboxTransport):
    """Before forwarding our create_order, lets "another terminal" rent another server;
    after it, can break the reads that look for the new order."""

    def __init__(self, sandbox: Sandbox, clock: FakeClock, journal_path: Path) -> None:
        super().__init__(sandbox, sleep=clock.sleep)
        self.pending_other: int | None = None
        self.after_answer: tuple[str, int] | None = None  # (fault kind, times) on my_orders
        # (server, image, how it ends): another process renting the same server meanwhile
        self.same_server_rival: tuple[int, str, str] | None = None
        self.rival_journal = InflightJournal(journal_path, pid=os.getppid())  # a live process
        self.foreign: set[int] = set()  # orders the other process made

    def rival_rents(self, server_id: int, image: str, ends: str) -> None:
        """The other process journals its create, and it reaches the API a moment before ours
        (so it does not use up our rate-limit slot); it then is still looking for its order,
        has claimed it, or gave up not knowing."""
        body = {"renting_server": server_id, "image": image, "type": "on-demand", "currency": "bitcoin"}
        token = self.rival_journal.begin(server_id, body)
        before = {o["id"] for o in self.sandbox.orders_created(KEY)}
        with self.sandbox._lock, self.sandbox.store.transaction() as accounts:
            account = accounts[_fingerprint(KEY)]
            stamps = {k: account.get(k) for k in ("last_request", "last_create_order")}
        self.sandbox._execute("POST", "create_order", {}, {"auth": KEY}, json.dumps(body).encode())
        with self.sandbox._lock, self.sandbox.store.transaction() as accounts:
            accounts[_fingerprint(KEY)].update(stamps)
        made = {o["id"] for o in self.sandbox.orders_created(KEY)} - before
        self.foreign |= made
        if not made:
            self.rival_journal.mark(token, REFUSED)
        elif ends == "claimed":
            self.rival_journal.claim(token, made.pop())
        else:
            self.rival_journal.mark(token, ACCEPTED if ends == "looking" else UNKNOWN)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.same_server_rival is not None and request.url.path.endswith("/create_order"):
            self.rival_rents(*self.same_server_rival)
            self.same_server_rival = None
        if self.pending_other is not None and request.url.path.endswith("/create_order"):
            body = {
                "renting_server": self.pending_other,
                "image": "cloreai/other",
                "type": "on-demand",
                "currency": "bitcoin",
            }
            self.sandbox.handle("POST", "/v1/create_order", {}, {"auth": KEY}, json.dumps(body).encode())
            self.pending_other = None
        response = super().handle_request(request)
        if self.after_answer is not None and request.url.path.endswith("/create_order"):
            kind, times = self.after_answer
            self.sandbox.faults.inject("my_orders", kind, times=times)
            self.after_answer = None
        return response


class OrderMachine(RuleBasedStateMachine):
    outcomes: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.sandbox = Sandbox(servers=40, clock=self.clock, rate_limits=RateLimits(), deploy_seconds=5)
        self.state_dir = Path(tempfile.mkdtemp(prefix="clore-orders-"))
        self.transport = ConcurrentOrders(self.sandbox, self.clock, self.state_dir / "orders.json")
        self.client = CloreAI(
            api_key=KEY,
            transport=self.transport,
            limiter=RateLimiter(clock=self.clock),
            sleep=self.clock.sleep,
            max_retries=2,
            reconcile_timeout=10,
        )
        # This "process" and the other one share one journal file, as two `clore` processes do.
        self.client._core.order_journal = InflightJournal(self.state_dir / "orders.json")
        catalogue = self.client.marketplace(available_only=False)
        self.servers = [s.id for s in catalogue if not s.gigaspot]
        self.initially_free = {s.id for s in catalogue if not s.gigaspot and not s.rented}
        self.calls = 0

    def pick_server(self, pick: int) -> int:
        """Mostly a server that can be rented now; every sixth pick any server (code 6 paths)."""
        overrides = (self.sandbox.account_state(KEY) or {}).get("rented_overrides", {})
        free = [s for s in self.servers if overrides.get(str(s), s not in self.initially_free) is False]
        pool = self.servers if pick % 6 == 0 or not free else free
        return pool[pick % len(pool)]

    def orders_on(self, server_id: int) -> set[int]:
        return {o["id"] for o in self.sandbox.orders_created(KEY) if o["si"] == server_id}

    @rule(
        pick=st.integers(min_value=0, max_value=10_000),
        fault=st.sampled_from([None, *UNSENT, *AMBIGUOUS]),
        fault_on=st.sampled_from(
            ["create_order", "create_order", "my_orders", "reconciliation", "reconciliation"]
        ),
        fault_times=st.integers(min_value=1, max_value=4),
        execute=st.sampled_from([None, True, False]),
        concurrent=st.booleans(),
        rival=st.sampled_from([None, None, None, "same image", "other image"]),
        rival_ends=st.sampled_from(["looking", "claimed", "unknown"]),
        bad_input=st.integers(min_value=0, max_value=9).map(lambda n: n == 0),
    )
    def create_order(
        self,
        pick: int,
        fault: str | None,
        fault_on: str,
        fault_times: int,
        execute: bool | None,
        concurrent: bool,
        rival: str | None,
        rival_ends: str,
        bad_input: bool,
    ) -> None:
        self.calls += 1
        server_id = self.pick_server(pick)
        image = "cloreai/ubuntu22.04-cuda12"
        if rival is not None:
            their_image = image if rival == "same image" else "cloreai/other"
            self.transport.same_server_rival = (server_id, their_image, rival_ends)
        others = [s for s in self.servers if s != server_id]
        self.transport.pending_other = others[pick % len(others)] if concurrent else None
        if fault is not None and fault_on == "reconciliation":  # after the answer arrived
            # Some polls fail and a later one finds the order, or (times >= 3) every poll fails.
            self.transport.after_answer = (fault, fault_times * 3 if fault_times < 3 else 100)
        elif fault is not None:
            options: dict[str, Any] = {"times": fault_times}
            if fault in AMBIGUOUS and execute is not None:
                options["execute"] = execute
            self.sandbox.faults.inject(fault_on, fault, **options)
        before = self.orders_on(server_id)
        arguments = {
            "server_id": server_id,
            "image": image,
            "type": "on-demand",
            "currency": "bitcoin",
            "ssh_password": "bad-password-" * 3 if bad_input else "Secret123",
        }
        try:
            order = self.client.create_order(**arguments)
        except ex.OrderOutcomeUnknown as unknown:  # OrderPendingError included
            mine = self.orders_on(server_id) - before - self.transport.foreign
            self.outcomes["unknown, created" if mine else "unknown, none"] += 1
            if unknown.candidate_order_ids:
                self.outcomes["unknown, whose"] += 1
                assert set(unknown.candidate_order_ids) <= self.orders_on(server_id) - before
            assert len(mine) <= 1
            assert str(server_id) in str(unknown) and "orders" in str(unknown)
        except (*DEFINITIVE, ex.RateLimitError, ex.APIConnectionError, ex.InvalidResponseError) as error:
            # Raised without ambiguity: the SDK only does that when nothing can exist.
            self.outcomes["refused"] += 1
            mine = self.orders_on(server_id) - before - self.transport.foreign
            assert not mine, f"{type(error).__name__} but an order exists"
        else:
            self.outcomes["reconciled" if order.reconciled else "created"] += 1
            assert order.id not in self.transport.foreign, "returned the other process's order"
            new = self.orders_on(server_id) - before - self.transport.foreign
            assert new == {order.id}, f"returned {order.id}, new orders on the server: {new}"
            assert not bad_input
        finally:
            self.sandbox.faults.clear()
            self.transport.pending_other = self.transport.after_answer = None
            self.transport.same_server_rival = None

    def teardown(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)

    @rule(seconds=st.floats(min_value=0, max_value=600))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(pick=st.integers(min_value=0, max_value=100))
    def cancel_one(self, pick: int) -> None:
        orders = self.client.my_orders()
        if orders:
            self.client.cancel_order(orders[pick % len(orders)].id)


def test_one_call_makes_at_most_one_order_and_its_result_tells_the_truth() -> None:
    OrderMachine.outcomes.clear()
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=8,
            # A fixed seed: every branch below must be reached, and a random seed reached the
            # rarest one ("unknown, created") only about ten times in 150 runs, so now and then
            # not at all. Any change to the flows changes which sequences run all the same.
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # The property is only as good as the branches it reached.
    reached = set(OrderMachine.outcomes)
    expected = {"created", "reconciled", "refused", "unknown, none", "unknown, created", "unknown, whose"}
    assert expected <= reached, OrderMachine.outcomes
