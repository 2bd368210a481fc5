"""Property: ``rent`` under random refusals, drops and crashes never leaves more than one
order per run — counting a crashed run together with the run after it — and never rents
above the cap.

A Hypothesis state machine runs ``rent`` against the sandbox (real rate limits, virtual
time). Around each run, other renters take servers between the listing and the send,
hosts raise prices past the cap, create_order's answer is dropped, times out, is a 5xx page
or a 429 (executed or not), and the process may die at a random request (before it
reaches the API, or after the API executed it). A crash starts a new "process": another
pid, its own journals, the dead process's files.

Per run, with ``new`` = orders the account gained during it:
- a result: ``new`` is exactly its order, priced at or under the cap;
- no offer, or a refusal about the renter: nothing new;
- an unknown outcome: at most one new order;
- a crash: at most one; the next run then makes none if the crashed run left one (it
  reports it, :class:`PreviousRentOrder`), so the pair never holds two;
- every order ever made costs at most the cap of the run that made it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clore_ai import CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai._inflight import InflightJournal
from clore_ai._rent_journal import RentJournal
from clore_ai.renting import NoOfferError, PreviousRentOrder, RentOutcomeUnknown, plan_rent, rent
from clore_ai.sandbox import RateLimits, Sandbox

from ..conftest import FakeClock
from .rent_helpers import Crash, MarketTransport, set_price, take

KEY = "sk-rent-machine-0001"
IMAGE = "cloreai/ubuntu22.04-cuda12"
FAULTS = [None, None, "drop_before", "drop_after", "timeout_after", "html_5xx", "rate_limit"]
FAULTS.append("rate_limit_after")
USD_KEYS = {
    "bitcoin": "on_demand_btc",
    "CLORE-Blockchain": "on_demand_clore",
    "USD-Blockchain": "on_demand_usd",
}


class RentMachine(RuleBasedStateMachine):
    outcomes: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.sandbox = Sandbox(servers=40, clock=self.clock, rate_limits=RateLimits(), deploy_seconds=5)
        self.state_dir = Path(tempfile.mkdtemp(prefix="clore-rent-"))
        self.transport = MarketTransport(self.sandbox, KEY, sleep=self.clock.sleep)
        self.client = CloreAI(
            api_key=KEY,
            transport=self.transport,
            limiter=RateLimiter(clock=self.clock),
            sleep=self.clock.sleep,
            max_retries=2,
            reconcile_timeout=10,
        )
        self.pid = 1000
        self.dead: set[int] = set()
        self.new_process()
        self.client.wallets()
        self.caps: dict[int, float] = {}  # order id -> the cap (USD/h) of the run that made it
        self.left_by_crash: set[int] = set()  # orders a crashed/unknown run may have left
        self.taken_by_others: set[int] = set()

    def new_process(self) -> None:
        """A fresh process: new pid, journals read from the files the dead one left."""
        self.pid += 1

        def alive(pid: int) -> bool:
            return pid not in self.dead

        self.journal = RentJournal(self.state_dir / "rent.json", clock=self.clock, pid=self.pid, alive=alive)
        # (on the wall clock, as create_order stamps its entries)
        path = self.state_dir / "orders.json"
        self.client._core.order_journal = InflightJournal(path, pid=self.pid, alive=alive)

    def orders(self) -> set[int]:
        return {o["id"] for o in self.sandbox.orders_created(KEY)}

    def usd_per_hour_of(self, order: dict[str, Any]) -> float:
        wire = self.sandbox.catalogue.servers[order["si"]].wire["price"]
        native = wire["on_demand"][order["currency"]]
        usd = wire["usd"][USD_KEYS[order["currency"]]]
        return float(order["price"] * usd / native / 24)

    @rule(
        cap_rank=st.sampled_from([3, 1, 0, 6]),  # the cap: the USD price of the offer of this rank
        currency=st.sampled_from(["usd", "btc"]),
        fallback=st.sampled_from([2, 0, 1, 3]),
        taken=st.lists(st.sampled_from([False, True, True]), min_size=4, max_size=4),
        raise_price=st.integers(min_value=-1, max_value=3),
        fault=st.sampled_from(FAULTS),
        execute=st.sampled_from([None, True, False]),
        crash_on=st.sampled_from(
            [None] * 6
            + [
                ("create_order", 1, "after"),  # the order was made, the process died before the answer
                ("create_order", 2, "after"),
                ("create_order", 1, "before"),
                ("my_orders", 1, "after"),
                ("my_orders", 2, "before"),
                ("marketplace", 1, "after"),
            ]
        ),
    )
    def rent_once(
        self,
        cap_rank: int,
        currency: str,
        fallback: int,
        taken: list[bool],
        raise_price: int,
        fault: str | None,
        execute: bool | None,
        crash_on: tuple[str, int, str] | None,
    ) -> None:
        plan = plan_rent(self.client, "gpus>=1", currency=currency)
        if not plan.offers:
            self.outcomes["market empty"] += 1
            return
        cap = plan.offers[min(cap_rank, len(plan.offers) - 1)].usd_per_hour
        assert cap is not None
        tries: list[int] = []

        def other_renters(server_id: int) -> None:
            index = len(tries)
            tries.append(server_id)
            if index < len(taken) and taken[index]:
                take(self.sandbox, KEY, server_id)
                self.taken_by_others.add(server_id)
            if index == raise_price:  # the host raises the price past the cap while we send
                coin = {"usd": "USD-Blockchain", "btc": "bitcoin"}[currency]
                per_day = self.sandbox.catalogue.servers[server_id].wire["price"]["on_demand"][coin]
                set_price(self.sandbox, server_id, coin, per_day * 3)

        self.transport.before_create = other_renters
        if fault is not None:
            ambiguous = fault not in ("drop_before", "rate_limit")  # those never reach the API
            options: dict[str, Any] = {"execute": execute} if execute is not None and ambiguous else {}
            self.sandbox.faults.inject("create_order", fault, **options)
        self.transport.crash_on = crash_on
        before = self.orders()
        pending, self.left_by_crash = self.left_by_crash, set()
        try:
            result = rent(
                self.client,
                "gpus>=1",
                image=IMAGE,
                currency=currency,
                max_price_usd=cap,
                fallback=fallback,
                journal=self.journal,
            )
        except Crash:
            new = self.orders() - before
            self.outcomes["crash, order left" if new else "crash, none"] += 1
            assert len(new) <= 1
            assert not (new and pending), "a crashed run and the one before both left orders"
            self.left_by_crash = new | pending
            self.dead.add(self.pid)
            self.new_process()
        except PreviousRentOrder as previous:
            self.outcomes["reported a previous order"] += 1
            assert self.orders() == before, "reported a previous order and rented again"
            assert set(previous.order_ids) <= pending | before
        except RentOutcomeUnknown:
            new = self.orders() - before
            self.outcomes["unknown, created" if new else "unknown, none"] += 1
            assert len(new) <= 1 and not (new and pending)
            self.left_by_crash = new | pending
        except (
            NoOfferError,
            ex.FieldError,
            ex.RateLimitError,
            ex.APIConnectionError,
            ex.InvalidResponseError,
        ):
            self.outcomes["no order"] += 1
            assert self.orders() == before
            assert not pending, "a crashed run's order was not reported"
        else:
            self.outcomes["rented after a refusal" if len(result.attempts) > 1 else "rented"] += 1
            assert not pending, "rented while a crashed run's order was unreported"
            assert self.orders() - before == {result.order.id}
            assert result.usd_per_hour is not None and result.usd_per_hour <= cap
        finally:
            self.transport.before_create = None
            self.transport.crash_on = None
            self.sandbox.faults.clear()
        for order_id in self.orders() - before:
            self.caps[order_id] = cap

    @invariant()
    def never_above_the_cap(self) -> None:
        for order in self.sandbox.orders_created(KEY):
            if order["id"] in self.caps:
                assert self.usd_per_hour_of(order) <= self.caps[order["id"]] * (1 + 1e-9)

    @rule(seconds=st.floats(min_value=0, max_value=600))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def others_free_their_servers(self) -> None:
        for server_id in self.taken_by_others:
            take(self.sandbox, KEY, server_id, rented=False)
        self.taken_by_others.clear()

    def teardown(self) -> None:
        self.client.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def test_rent_never_leaves_two_orders_nor_pays_above_the_cap() -> None:
    RentMachine.outcomes.clear()
    run_state_machine_as_test(
        RentMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    reached = set(RentMachine.outcomes)
    expected = {
        "rented",
        "rented after a refusal",
        "no order",
        "crash, order left",
        "crash, none",
        "reported a previous order",
        "unknown, none",
    }
    assert expected <= reached, RentMachine.outcomes
