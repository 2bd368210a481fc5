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
    # `orders` also reads the marketplace (the USD rate of btc/clore orders) and the spot book
    # of server 6 (is spot order 39 outbid?): two more each
    reads = ("marketplace", "spot_marketplace")
    assert len([r for r in sandbox.requests if r.endpoint not in reads]) == 12
    assert len(arrivals) == 20
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 1.0
    assert all(r.code == 0 for r in sandbox.requests if r.endpoint != "marketplace")
    assert all(r.status == 200 for r in sandbox.requests)  # the marketplace's answer has no code
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


# ── rate limits under latency, fair turns across processes (reliability.md §3) ──

DELAYED = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),  # when the caller starts
        st.floats(min_value=0, max_value=2, allow_nan=False),  # time in transit to the server
        st.floats(min_value=0, max_value=2, allow_nan=False),  # time back with the answer
    ),
    min_size=2,
    max_size=12,
)


def arrivals_under_latency(callers: list[tuple[float, float, float]]) -> list[float]:
    """Concurrent reads through the real core and limiter in virtual time; the server's arrivals."""
    import heapq

    from clore_ai._core import ClientCore, Send, Sleep, code_only
    from clore_ai._secret import Secret

    clock = FakeClock(start=0.0)
    core = ClientCore(
        key=lambda: Secret("sk-latency-0001"),
        base_url="https://api.example.test/v1",
        max_retries=0,
        limiter=RateLimiter(interval=1.0, clock=clock),
        timeout=httpx.Timeout(30.0),
    )
    events: list[tuple[float, int, int, Any]] = []
    flows: dict[int, Any] = {}
    arrivals: list[float] = []
    sequence = 0
    for index, (start, _, _) in enumerate(callers):
        heapq.heappush(events, (start, sequence := sequence + 1, index, "start"))
    while events:
        at, _, index, value = heapq.heappop(events)
        clock.now = at
        try:
            if value == "start":
                flows[index] = core.call("wallets", code_only)
                step = next(flows[index])
            else:
                step = flows[index].send(value)
        except StopIteration:
            continue
        if isinstance(step, Sleep):
            heapq.heappush(events, (at + step.seconds, sequence := sequence + 1, index, None))
        else:
            assert isinstance(step, Send)
            there, back = callers[index][1:]
            arrivals.append(at + there)
            answer = httpx.Response(200, json={"code": 0}, request=step.request)
            heapq.heappush(events, (at + there + back, sequence := sequence + 1, index, answer))
    assert len(arrivals) == len(callers)
    return sorted(arrivals)


def test_a_delayed_first_request_does_not_crowd_the_next_arrival() -> None:
    # Sent at 0 and 1.0 apart, but the first spends 1.5 s in transit: 0.5 s apart at the server.
    arrivals = arrivals_under_latency([(0.0, 1.5, 0.1), (0.0, 0.0, 0.0)])
    assert arrivals[1] - arrivals[0] >= 1.0


@given(callers=DELAYED)
@settings(max_examples=200, deadline=None)
def test_arrivals_at_the_server_stay_an_interval_apart_whatever_the_upstream_delay(
    callers: list[tuple[float, float, float]],
) -> None:
    arrivals = arrivals_under_latency(callers)
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(arrivals, arrivals[1:]))


def test_a_cancelled_send_frees_the_key_at_once(clock: FakeClock) -> None:
    from clore_ai._core import ClientCore, Send, code_only
    from clore_ai._secret import Secret

    limiter = RateLimiter(interval=1.0, clock=clock)
    core = ClientCore(
        key=lambda: Secret("sk-latency-0002"),
        base_url="https://api.example.test/v1",
        max_retries=0,
        limiter=limiter,
    )
    flow = core.call("wallets", code_only)
    assert isinstance(next(flow), Send)
    flow.close()  # cancelled while waiting for the answer
    clock.advance(1.0)
    assert limiter.ready(lease=30.0) == 0.0


def slots_of(path: Any, clock: list[float]) -> Any:
    from clore_ai._limiter import ProcessSlots

    return ProcessSlots(path, clock=lambda: clock[0])


def test_turns_across_processes_are_first_come_first_served(tmp_path: Any) -> None:
    now = [1000.0]
    path = tmp_path / "ratelimit-fifo.json"
    looping, waiting = slots_of(path, now), slots_of(path, now)  # two processes, one key
    assert looping.claim(1.0, False, 5.0, ticket="a1", lease=30) == 0.0
    assert waiting.claim(1.0, False, 5.0, ticket="b1", lease=30) > 0  # queued behind a1
    now[0] += 0.3
    looping.finished()
    now[0] += 1.1  # the looping process is back first ...
    assert looping.claim(1.0, False, 5.0, ticket="a2", lease=30) > 0  # ... but b1 came first
    assert waiting.claim(1.0, False, 5.0, ticket="b1", lease=30) == 0.0
    waiting.finished()
    now[0] += 1.0
    assert looping.claim(1.0, False, 5.0, ticket="a2", lease=30) == 0.0


def test_an_unanswered_send_of_another_process_holds_the_key_until_its_answer(tmp_path: Any) -> None:
    now = [1000.0]
    path = tmp_path / "ratelimit-busy.json"
    first, second = slots_of(path, now), slots_of(path, now)
    assert first.claim(1.0, False, 5.0, ticket="a", lease=30) == 0.0
    now[0] += 5.0  # still in flight
    assert second.claim(1.0, False, 5.0, ticket="b", lease=30) > 0
    first.finished()
    now[0] += 1.0
    assert second.claim(1.0, False, 5.0, ticket="b", lease=30) == 0.0


def test_tickets_of_dead_or_gone_waiters_expire(tmp_path: Any) -> None:
    import json

    from clore_ai._limiter import TICKET_TTL

    now = [1000.0]
    path = tmp_path / "ratelimit-expiry.json"
    gone, alive = slots_of(path, now), slots_of(path, now)
    assert gone.claim(1.0, False, 5.0, ticket="g", lease=30) == 0.0
    assert gone.claim(1.0, False, 5.0, ticket="g2", lease=30) > 0  # queued, then never looks again
    gone.finished()
    now[0] += 1.5
    assert alive.claim(1.0, False, 5.0, ticket="x", lease=30) > 0  # g2 is still first
    now[0] += TICKET_TTL
    assert alive.claim(1.0, False, 5.0, ticket="x", lease=30) == 0.0
    alive.finished()
    # A process that died: its ticket (and its unanswered send) are dropped at once.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = json.loads(path.read_text())
    state.update(queue=[["d", dead.pid, now[0] + 2]], busy=now[0] + 30, busy_pid=dead.pid)
    path.write_text(json.dumps(state))
    now[0] += 1.0
    assert alive.claim(1.0, False, 5.0, ticket="y", lease=30) == 0.0


def test_an_unwritable_state_dir_warns_once_and_falls_back_to_a_private_temp_dir(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import stat
    import tempfile

    from clore_ai._limiter import ProcessSlots

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache dir should be")  # like a read-only home: mkdir fails
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    now = [1000.0]
    slots = ProcessSlots(blocker / "clore" / "ratelimit-ro.json", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="clore_ai"):
        assert slots.claim(1.0, False, 5.0) == 0.0
        assert slots.claim(1.0, False, 5.0) == pytest.approx(1.0)  # spacing across processes holds
        slots.finished()
    warnings = [r for r in caplog.records if r.name == "clore_ai" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not writable" in warnings[0].getMessage()
    fallback = slots.path.parent
    assert fallback.parent == tmp_path / "tmp" and slots.path.exists()
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700
    # Another process of the same key finds the same fallback file.
    other = ProcessSlots(blocker / "clore" / "ratelimit-ro.json", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="clore_ai"):
        assert other.claim(1.0, False, 5.0) > 0


@pytest.mark.slow
def test_clore_with_an_unwritable_cache_dir_prints_one_warning_line(tmp_path: Any) -> None:
    pytest.importorskip("clore_cli")
    from clore_ai.sandbox import Sandbox, SandboxServer

    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(
        CLORE_API_KEY="sk-readonly-cache-0001",
        XDG_CACHE_HOME=str(blocker),
        TMPDIR=str(tmp_path / "tmp"),
        CLORE_DISABLE_PLUGINS="1",
    )
    with SandboxServer(Sandbox(servers=3)) as server:
        env["CLORE_API_URL"] = server.url
        done = subprocess.run(
            [sys.executable, "-m", "clore_cli", "wallets"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "not writable" in lines[0], lines
    assert list((tmp_path / "tmp").glob("clore-*/ratelimit-*.json"))
