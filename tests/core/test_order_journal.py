"""The journal of in-flight create_orders (``clore_ai._inflight``): one order goes to one
caller across threads and processes, stale entries are ignored and cleaned, and the file
never holds a secret (reliability.md §1)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from clore_ai._inflight import ACCEPTED, PENDING, UNKNOWN, InflightJournal, journal_for_key

from ..conftest import KEY

BODY = {
    "renting_server": 123,
    "image": "cloreai/ubuntu22.04-cuda12",
    "type": "on-demand",
    "currency": "bitcoin",
    "ports": {"22": "tcp"},
}
SECRETS = {
    "ssh_password": "HunterTwo9000",
    "jupyter_token": "tok3nSecretValue",
    "env": {"HF_TOKEN": "hf_supersecretvalue"},
    "command": "echo s3cr3t-in-a-script",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_journal_file_holds_no_secret(tmp_path: Path) -> None:
    journal = journal_for_key(KEY)
    token = journal.begin(123, {**BODY, **SECRETS})
    journal.mark(token, ACCEPTED)
    assert journal.path is not None and KEY not in str(journal.path)
    text = journal.path.read_text(encoding="utf-8")
    for secret in ("HunterTwo9000", "tok3nSecretValue", "hf_supersecretvalue", "s3cr3t-in-a-script", KEY):
        assert secret not in text
    assert "cloreai/ubuntu22.04-cuda12" in text  # what my_orders can show is kept, to tell orders apart
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"


def test_every_client_of_a_key_in_a_process_shares_one_journal() -> None:
    assert journal_for_key(KEY) is journal_for_key(KEY)
    assert journal_for_key(KEY) is not journal_for_key(KEY + "-other")


def test_stale_entries_are_ignored_and_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    clock = Clock()
    dead = 3_999_999
    mine = InflightJournal(path, clock=clock, alive=lambda pid: pid != dead)
    crashed = InflightJournal(path, clock=clock, pid=dead)
    old = InflightJournal(path, clock=clock, pid=os.getppid())
    crashed_token = crashed.begin(123, BODY)  # its process is gone
    old.begin(123, BODY, sent_at=clock.now - 601)  # older than the bound
    finished = InflightJournal(path, clock=clock, pid=dead)
    claim_token = finished.begin(124, BODY)
    assert finished.claim(claim_token, 77)  # a process that adopted order 77 and exited

    own = mine.begin(123, BODY)
    assert mine.rivals(own, 123) == []  # neither the dead process's nor the old entry counts
    left = {e.token for e in mine.entries()}
    assert crashed_token not in left and len(left) == 2  # ours, and the dead process's claim
    assert 77 in mine.claimed_order_ids()  # a claim outlives its process, up to the age bound
    clock.now += 601
    assert mine.entries() == []


def test_a_live_caller_on_the_same_server_is_a_rival_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    mine, other = InflightJournal(path), InflightJournal(path, pid=os.getppid())
    own, theirs = mine.begin(123, BODY), other.begin(123, BODY)
    other.begin(999, BODY)  # another server: not a rival
    assert [(r.token, r.state) for r in mine.rivals(own, 123)] == [(theirs, PENDING)]
    other.mark(theirs, UNKNOWN)  # ended without knowing: its order may still show up
    assert [r.state for r in mine.rivals(own, 123)] == [UNKNOWN]
    assert other.claim(theirs, 5)
    assert mine.rivals(own, 123) == []


def test_one_order_is_claimed_by_one_caller_among_threads_and_processes(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    journal = InflightJournal(path)
    tokens = [journal.begin(123, BODY) for _ in range(16)]
    barrier = threading.Barrier(len(tokens))
    won: list[bool] = []

    def claim(token: str) -> None:
        barrier.wait()
        won.append(journal.claim(token, 42))

    threads = [threading.Thread(target=claim, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 15 + [True]
    other_process = InflightJournal(path, pid=os.getppid())
    assert other_process.claim(other_process.begin(123, BODY), 42) is False


def test_an_unwritable_cache_still_coordinates_callers_in_the_process(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    journal = InflightJournal(blocker / "orders.json")
    first, second = journal.begin(123, BODY), journal.begin(123, BODY)
    assert journal.claim(first, 9) and not journal.claim(second, 9)


@pytest.mark.slow
def test_another_process_sees_our_in_flight_create_and_our_claim(tmp_path: Path) -> None:
    """A real second process reads the same file: our live entry is its rival, our claim is ours."""
    path = tmp_path / "orders.json"
    mine = InflightJournal(path)
    token = mine.begin(123, BODY)
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from clore_ai._inflight import InflightJournal\n"
        "j = InflightJournal(Path(sys.argv[1]))\n"
        "t = j.begin(123, {})\n"
        "print(json.dumps([len(j.rivals(t, 123)), j.claim(t, 42)]))\n"
    )

    def other_process() -> Any:
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    assert other_process() == "[1, true]"  # sees us in flight; 42 was free
    assert mine.claim(token, 42) is False  # the other process took it
    assert other_process() == "[1, false]"  # our entry is still live; 42 stays taken


def test_a_sandbox_started_afresh_gives_the_same_key_a_new_order_1000_that_is_adopted() -> None:
    """A script run twice, each with a fresh ``Sandbox()`` and the same key: the first run's
    claim of order 1000 (kept for 10 minutes) made the second run's own order 1000 look taken,
    and create_order raised OrderPendingError. An id claimed with another creation time is
    another order; a claim without one still hides the id (the live API never reuses ids)."""
    from types import SimpleNamespace

    from clore_ai import CloreAI, RateLimiter
    from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport

    now = [1_800_000_000.0]
    for run in (1, 2):
        sandbox = Sandbox(rate_limits=RateLimits.off(), clock=lambda: now[0])
        limiter = RateLimiter(interval=0, order_interval=0)
        transport = SandboxTransport(sandbox)
        with CloreAI(
            api_key="twice-key", transport=transport, limiter=limiter, reconcile_timeout=0.5
        ) as client:
            order = client.create_order(
                server_id=123, image="cloreai/pytorch", type="on-demand", currency="usd"
            )
            assert order.id == 1000, run
        now[0] += 60  # the second run, a minute later

    from clore_ai._inflight import ClaimedOrders

    claims = [
        SimpleNamespace(order_id=1000, order_ct=1_800_000_000.0),
        SimpleNamespace(order_id=7, order_ct=None),
    ]
    claimed = ClaimedOrders(claims)
    assert SimpleNamespace(id=1000, ct=1_800_000_000) in claimed
    assert SimpleNamespace(id=1000, ct=1_800_000_060) not in claimed  # the id handed out again
    assert SimpleNamespace(id=1000, ct=None) in claimed and SimpleNamespace(id=7, ct=5) in claimed
    assert SimpleNamespace(id=8, ct=None) not in claimed


def test_two_in_memory_sandboxes_on_one_virtual_clock_keep_their_journals_apart() -> None:
    """The same script run twice in one process with ``VirtualClock()``: both orders are 1000,
    created at the same virtual second, so id and time cannot tell them apart; an in-memory
    sandbox's journal is its own."""
    from clore_ai import CloreAI, RateLimiter
    from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport, VirtualClock

    created = []
    for _ in range(2):
        sandbox = Sandbox(rate_limits=RateLimits.off(), clock=VirtualClock())
        limiter = RateLimiter(interval=0, order_interval=0)
        transport = SandboxTransport(sandbox)
        with CloreAI(api_key="vc-key", transport=transport, limiter=limiter, reconcile_timeout=0.5) as client:
            order = client.create_order(
                server_id=123, image="cloreai/pytorch", type="on-demand", currency="usd"
            )
            created.append((order.id, order.ct))
    assert created[0] == created[1] and created[0][0] == 1000  # indistinguishable, and both adopted
