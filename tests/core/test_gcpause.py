"""gc_paused(): the cyclic collector is paused only inside, and restored after, also on errors."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from clore_ai._endpoints import _MARKETPLACE
from clore_ai._gcpause import gc_paused


def test_the_collector_is_restored_after_the_body_and_after_an_exception() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer pause still holds after the inner one
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_pauses_restore_once_the_last_one_leaves() -> None:
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(10)
    with gc_paused():
        pass
    assert not gc.isenabled()  # the worker still holds its pause
    leave.set()
    worker.join(10)
    assert gc.isenabled()


def test_parsing_restores_the_collector_also_when_the_body_is_bad() -> None:
    code, servers = _MARKETPLACE(b'{"code": 0, "servers": [{"id": 1}]}')
    assert code == 0 and [s.id for s in servers] == [1]
    assert gc.isenabled()
    with pytest.raises(ValueError):
        _MARKETPLACE(b"{not json")
    assert gc.isenabled()


def test_objects_made_during_the_pause_skip_the_young_generations_and_nothing_stays_frozen() -> None:
    gc.collect()
    parked = gc.get_freeze_count()  # 0, or on 3.12 the immortal objects CPython parks there
    with gc_paused():
        made = [[i] for i in range(50_000)]  # a burst of live containers
    assert gc.get_freeze_count() <= parked  # nothing of ours stays frozen
    assert gc.get_count()[0] < 1_000  # not a backlog of 50,000 for the next young collection
    assert gc.isenabled()
    del made


def test_a_cycle_made_during_the_pause_is_still_collected() -> None:
    import weakref

    class Node:
        pass

    with gc_paused():
        node = Node()
        node.itself = node  # type: ignore[attr-defined]
        alive = weakref.ref(node)
        del node
    assert alive() is not None  # a cycle: reference counting alone never frees it
    gc.collect()
    assert alive() is None


def test_a_freeze_made_by_the_caller_is_left_as_it_was() -> None:
    import clore_ai._gcpause as gcpause

    # Under the pause's lock: a thread an earlier test left behind may be ending a pause
    # (its freeze/unfreeze between our freeze and our count would undo our freeze).
    with gcpause._lock:
        gc.freeze()  # as a pre-fork server does
        frozen = gc.get_freeze_count()
    try:
        with gc_paused():
            _ = [[i] for i in range(1_000)]
        with gcpause._lock:  # not undone (an unfreeze makes it 0); a frozen temporary may die
            assert frozen - 10 <= gc.get_freeze_count() <= frozen
    finally:
        with gcpause._lock:
            gc.unfreeze()


def test_cycles_left_by_many_pauses_are_collected_in_a_long_session() -> None:
    import weakref

    import clore_ai._gcpause as gcpause

    class Node:
        pass

    gc.collect()
    alive: list[weakref.ref[Any]] = []
    for _ in range(5 * gcpause.FULL_COLLECTION_EVERY):  # a long shell session's commands
        with gc_paused():
            node = Node()
            node.itself = node  # type: ignore[attr-defined]
            alive.append(weakref.ref(node))
            del node
            _ = [[i] for i in range(200)]  # and whatever else a command makes
    left = sum(1 for ref in alive if ref() is not None)
    assert left < gcpause.FULL_COLLECTION_EVERY  # not one per pause: full collections ran
