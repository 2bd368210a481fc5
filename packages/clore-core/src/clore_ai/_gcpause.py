"""``gc_paused()``: cyclic garbage collection held off while a burst of objects is built.

Parsing a marketplace answer, or reading the nested models of every server, allocates
hundreds of thousands of container objects that are all still alive; CPython's generational
collector (3.9 to 3.13) keeps scanning them as they pile up, which costs more than the work
itself (50,000 servers: parse 1.2 s → 0.35 s with it paused). Nothing cyclic is made there,
so nothing is lost by waiting; reference counting still frees everything else at once.

The pause is scoped: nested and concurrent pauses (threads) share one count, and the last
one to leave restores the state found by the first, also when the body raises. A collector
that was already disabled stays disabled.

Leaving the pause does not hand the collector its backlog. Re-enabled as it was, the
collector's first pass would walk every container made during the pause (the parsed answer,
and every module a command imported meanwhile): 10-15 ms of a 5,000-server ``clore
search``, a third of reading every nested model. Instead the survivors are moved straight
into the oldest generation (``gc.freeze()`` then ``gc.unfreeze()``: two list splices, no
walk), where the next full collection looks at them as it looks at every long-lived object.
Nothing is kept from the collector: a cycle made during the pause is still found, by that
full collection. This is skipped when anyone else has frozen objects (``gc.freeze()`` before
``fork``), whose freeze must not be undone. CPython 3.12's own collector parks immortal
objects in the permanent generation (375 deep-frozen tuples at start-up; 3.11 and 3.13 have
none), so there a freeze count no larger than it was when this module was imported (and
small: any real freeze moves thousands) is CPython's, not a caller's. Moving those objects
is harmless (the next collection parks them again), and without it every pause on 3.12 left
its whole backlog to the young collections (a 5,000-server read of every nested object:
59 → 37 ms).

Objects moved that way do not count towards CPython's own trigger for a full collection, so
in a long-lived process (``clore shell``, a service polling the marketplace) cycles made
during pauses could wait for one a long time. Every :data:`FULL_COLLECTION_EVERY`-th pause
therefore ends with a full collection instead: memory stays bounded, and a one-shot command,
which ends long before that, never pays for it.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from typing import Iterator

__all__ = ["gc_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False

#: Pauses between two full collections (see above).
FULL_COLLECTION_EVERY = 64
_pauses_since_full = 0

#: Permanent-generation objects that nobody froze: CPython 3.12 parks immortal objects there
#: itself (375 on 3.12.1), where a caller's ``gc.freeze()`` moves every tracked object (4,600
#: even in a bare ``python -S``) and so is never mistaken for them.
_PARKED_BY_CPYTHON = gc.get_freeze_count() if sys.version_info[:2] == (3, 12) else 0
if _PARKED_BY_CPYTHON > 1_000:
    _PARKED_BY_CPYTHON = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the ``with`` body (or the decorated function)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                _end_pause()


def _end_pause() -> None:
    """Re-enable the collector: age the young objects, or every so often collect everything."""
    global _pauses_since_full
    _pauses_since_full += 1
    if _pauses_since_full >= FULL_COLLECTION_EVERY:
        _pauses_since_full = 0
        gc.enable()
        gc.collect()
        return
    if gc.get_freeze_count() <= _PARKED_BY_CPYTHON:  # to the oldest generation, no scan
        gc.freeze()
        gc.unfreeze()
    gc.enable()
