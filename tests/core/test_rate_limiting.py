"""The client keeps the server's limits: reservations in virtual time, and a real loopback
server that records arrivals while coroutines and threads hammer it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter
from clore_ai._limiter import limiter_for_key

from ..conftest import FakeClock


def test_reservations_are_spaced_and_fifo(clock: FakeClock) -> None:
    limiter = RateLimiter(interval=1.0, order_interval=5.0, clock=clock)
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]
    assert limiter.backlog() == 4.0
    assert limiter.reserve(order=True) == 4.0  # next free general slot
    assert limiter.reserve(order=True) == 9.0  # 5 s after the previous order
    clock.advance(100)
    assert limiter.reserve() == 0.0


ARRIVALS = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=6, allow_nan=False),  # time since the previous caller
        st.booleans(),  # a create_order
        st.booleans(),  # cancelled while waiting for its slot
    ),
    min_size=1,
    max_size=40,
)


def grant(schedule: list[tuple[float, bool, bool]], skip_cancelled: bool) -> dict[int, float]:
    """Send time of each caller (by index) under one limiter in virtual time."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(interval=1.0, order_interval=5.0, clock=clock)
    slots = {}
    for index, (gap, order, cancelled) in enumerate(schedule):
        clock.advance(gap)
        if skip_cancelled and cancelled:
            continue
        slots[index] = clock.now + limiter.reserve(order=order)
    return slots


@given(schedule=ARRIVALS)
@settings(max_examples=300, deadline=None)
def test_limiter_in_virtual_time_is_spaced_fifo_and_wastes_at_most_one_slot_per_cancellation(
    schedule: list[tuple[float, bool, bool]],
) -> None:
    slots = grant(schedule, skip_cancelled=False)
    arrival, times = 0.0, []
    previous_order = float("-inf")
    for index, (gap, order, _) in enumerate(schedule):
        arrival += gap
        times.append(slots[index])
        # Work-conserving: the earliest instant the two limits allow, never later.
        earliest = max(arrival, times[-2] + 1.0 if len(times) > 1 else arrival)
        if order:
            earliest = max(earliest, previous_order + 5.0)
            previous_order = slots[index]
        assert slots[index] == pytest.approx(earliest)
    assert times == sorted(times)  # first come, first served
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(times, times[1:]))
    orders = [slots[i] for i, (_, order, _) in enumerate(schedule) if order]
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(orders, orders[1:]))
    # A waiter that gives up keeps its slot unused: the others lose at most one interval
    # per cancellation before them (and one order interval if it was an order).
    without = grant(schedule, skip_cancelled=True)
    for index, slot in without.items():
        before = schedule[:index]
        allowance = sum(1.0 + (5.0 if order else 0.0) for _, order, cancelled in before if cancelled)
        assert slots[index] <= slot + allowance + 1e-9


def test_reservations_from_many_threads_never_collide(clock: FakeClock) -> None:
    limiter = RateLimiter(interval=1.0, clock=clock)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            wait = limiter.reserve()
            with lock:
                slots.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(slots) == [float(i) for i in range(400)]


def test_throttle_pushes_every_caller_back_exponentially(clock: FakeClock) -> None:
    limiter = RateLimiter(interval=1.0, clock=clock)
    limiter.reserve()
    assert limiter.throttled() == 1.0
    assert limiter.throttled() == 2.0
    assert limiter.throttled(retry_after=7) == 7.0
    assert limiter.reserve() == pytest.approx(7.0)
    limiter.succeeded()
    clock.advance(60)
    assert limiter.throttled() == 1.0


def test_one_limiter_per_key_shared_by_sync_and_async_clients() -> None:
    sync, other = CloreAI(api_key="shared-key-1234"), AsyncCloreAI(api_key="shared-key-1234")
    assert sync.limiter is other.limiter is limiter_for_key("shared-key-1234")
    assert CloreAI(api_key="another-key-5678").limiter is not sync.limiter


@pytest.fixture
def server_process() -> Iterator[str]:
    """A sandbox server in its own process (its own GIL), rate limits scaled 10x down."""
    process = subprocess.Popen(
        [sys.executable, "-m", "clore_ai.sandbox", "--port", "0", "--servers", "20", "--rate-scale", "0.1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split(" on ", 1)[1].split(" ", 1)[0]
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_server_sees_spaced_arrivals_from_coroutines_and_threads(server_process: str) -> None:
    """12 coroutines, 3 threads and 2 create_orders on one key; 0.1 s / 0.5 s limits."""
    url = server_process
    limiter = RateLimiter(interval=0.104, order_interval=0.51)
    key = "concurrency-key-0001"

    async def coroutines() -> list[Any]:
        async with AsyncCloreAI(api_key=key, base_url=url, limiter=limiter) as client:
            return await asyncio.gather(*(client.wallets() for _ in range(12)))

    def thread_calls() -> None:
        with CloreAI(api_key=key, base_url=url, limiter=limiter) as client:
            for _ in range(3):
                client.my_orders()

    threads = [threading.Thread(target=thread_calls) for _ in range(3)]
    for t in threads:
        t.start()
    results = asyncio.run(coroutines())
    for t in threads:
        t.join()
    with CloreAI(api_key=key, base_url=url, limiter=limiter) as client:
        client.create_order(server_id=123, image="x/y", type="on-demand", currency="bitcoin")
        client.create_order(server_id=6, image="x/y", type="on-demand", currency="bitcoin")
    records = httpx.get(url.replace("/v1", "/_sandbox/requests")).json()
    assert len(results) == 12
    arrivals = sorted(r["at"] for r in records)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) >= 12 + 9 + 2 * 3
    assert min(gaps) >= 0.1
    assert [r for r in records if r["code"] == 5] == []
    orders = [r["at"] for r in records if r["endpoint"] == "create_order"]
    assert orders[1] - orders[0] >= 0.5


# One "worker" = a user's terminal running three `clore` commands in a row.
CLI_WORKER = """
import subprocess, sys
for command in (["wallets"], ["orders"], ["wallets", "-o", "json"]):
    subprocess.run([sys.executable, "-m", "clore_cli", *command], check=True, capture_output=True)
"""


@pytest.mark.slow
def test_four_clore_processes_with_one_key_take_turns(tmp_path: Any) -> None:
    """4 terminals x 3 `clore` commands, one key, the real 1 request/s limit: all succeed, no code 5."""
    pytest.importorskip("clore_cli")  # CI also runs tests/core with clore-core alone
    from clore_ai.sandbox import Sandbox, SandboxServer

    key = "process-shared-key-0042"
    sandbox = Sandbox(servers=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(CLORE_API_KEY=key, XDG_CACHE_HOME=str(tmp_path / "cache"), CLORE_DISABLE_PLUGINS="1")
    with SandboxServer(sandbox) as server:
        env["CLORE_API_URL"] = server.url
        workers = [
            subprocess.Popen([sys.executable, "-c", CLI_WORKER], env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], errors
    arrivals = sorted(r.at for r in sandbox.requests)
    assert len(arrivals) == 12
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 1.0
    assert all(r.code == 0 for r in sandbox.requests)
    state = list((tmp_path / "cache" / "clore").glob("ratelimit-*.json"))
    assert len(state) == 1 and key not in state[0].name and key not in state[0].read_text()


def test_a_corrupt_or_far_future_state_file_is_repaired(tmp_path: Any) -> None:
    from clore_ai._limiter import ProcessSlots

    now = [1000.0]
    path = tmp_path / "ratelimit-x.json"
    slots = ProcessSlots(path, clock=lambda: now[0])
    path.write_text("{broken")
    assert slots.claim(1.0, False, 5.0) == 0.0
    path.write_text('{"last": 999999999.0}')  # far future: not obeyed forever
    assert slots.claim(1.0, False, 5.0) == 0.0
    assert slots.claim(1.0, False, 5.0) == pytest.approx(1.0)
    now[0] += 1.0
    assert slots.claim(1.0, True, 5.0) == 0.0
    now[0] += 1.0
    assert slots.claim(1.0, True, 5.0) == pytest.approx(4.0)


def test_a_call_that_would_queue_too_long_raises_at_once_without_taking_a_slot(clock: FakeClock) -> None:
    from clore_ai import RateLimitQueueTimeout
    from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport

    sandbox = Sandbox(servers=5, clock=clock, rate_limits=RateLimits())
    limiter = RateLimiter(clock=clock)
    for _ in range(10):  # ten calls already queued by other clients of the key: ~10 s
        limiter.reserve()
    backlog = limiter.backlog()

    def client(max_queue_wait: float) -> CloreAI:
        return CloreAI(
            api_key="sk-queue-0001",
            transport=SandboxTransport(sandbox, sleep=clock.sleep),
            limiter=limiter,
            sleep=clock.sleep,
            max_queue_wait=max_queue_wait,
        )

    impatient = client(3)
    started = clock.now
    with pytest.raises(RateLimitQueueTimeout) as caught:
        impatient.wallets()
    assert clock.now == started and not sandbox.requests  # no wait, nothing sent
    assert limiter.backlog() == backlog  # its slot was not taken
    assert caught.value.retry_after == pytest.approx(backlog)
    assert "max_queue_wait=3" in str(caught.value)
    patient = client(60)
    assert patient.wallets()
    assert clock.now - started >= backlog


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "3", True])
def test_max_queue_wait_is_checked(bad: Any) -> None:
    from clore_ai import InvalidInputError

    with pytest.raises(InvalidInputError, match="max_queue_wait"):
        CloreAI(api_key="sk-queue-0002", max_queue_wait=bad)
