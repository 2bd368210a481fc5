"""The client-side rate limiter: one per API key per process.

Reservation-based: a caller takes the next free slot under a lock and is told how long to
sleep until it. Nobody polls, nobody reads-then-sleeps, so many threads and coroutines
sharing one limiter are spaced exactly ``interval`` apart in the order they asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["DEFAULT_INTERVAL", "DEFAULT_ORDER_INTERVAL", "RateLimiter", "limiter_for_key", "key_fingerprint"]

# The API allows 1 request/s and create_order once per 5 s. A small margin keeps arrivals
# at the server >= 1 s apart despite scheduling jitter between taking a slot and sending.
DEFAULT_INTERVAL = 1.03
DEFAULT_ORDER_INTERVAL = 5.1
MAX_THROTTLE_BACKOFF = 32.0

Clock = Callable[[], float]
FAR_FUTURE = 120.0  # a stored send time further ahead than this is corrupt, not obeyed


def shared_state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clore"


class ProcessSlots:
    """The last send times of one key, shared by every process through a locked file.

    The file lives in the user cache dir and is named by a hash of the key (never the key
    itself). Several `clore` processes with one key thus take turns instead of all being
    answered code 5. Wall-clock time is used because monotonic clocks differ per process.
    """

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no cross-process lock on this platform
            yield
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self, now: float) -> dict[str, float]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            k: float(v)
            for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= now + FAR_FUTURE
        }

    def claim(self, interval: float, order: bool, order_interval: float) -> float:
        """0 and record the send if it may go now, else the seconds still to wait."""
        try:
            with self._locked():
                now = self.clock()
                state = self._read(now)
                earliest = (
                    max(state.get("last", float("-inf")), state.get("last_done", float("-inf"))) + interval
                )
                if order:
                    earliest = max(earliest, state.get("last_order", float("-inf")) + order_interval)
                if now < earliest:
                    return earliest - now
                state["last"] = now
                if order:
                    state["last_order"] = now
                self._write(state)
                return 0.0
        except OSError:
            return 0.0  # an unwritable cache must not stop the program; in-process spacing still holds

    def finished(self) -> None:
        """Record an answer: the next send of any process waits an interval after it, too."""
        try:
            with self._locked():
                now = self.clock()
                state = self._read(now)
                state["last_done"] = max(state.get("last_done", float("-inf")), now)
                self._write(state)
        except OSError:
            pass

    def _write(self, state: dict[str, float]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.path)


class RateLimiter:
    """At most one request per ``interval`` and one create_order per ``order_interval``."""

    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL,
        order_interval: float = DEFAULT_ORDER_INTERVAL,
        clock: Clock = time.monotonic,
        shared: ProcessSlots | None = None,
    ) -> None:
        if interval < 0 or order_interval < 0:
            raise ValueError("rate limiter intervals must be >= 0")
        self.interval = interval
        self.order_interval = order_interval
        self.clock = clock
        self.shared = shared
        self._lock = threading.Lock()
        self._next_any = float("-inf")
        self._next_order = float("-inf")
        self._throttle_streak = 0
        self._last_sent = float("-inf")
        self._last_done = float("-inf")
        self._last_order_sent = float("-inf")

    def reserve(self, *, order: bool = False, max_wait: float | None = None) -> float:
        """Take the next slot; return how many seconds to wait before sending.

        With ``max_wait``, a slot further away than that is not taken:
        :class:`~clore_ai.exceptions.RateLimitQueueTimeout` is raised instead.
        """
        with self._lock:
            now = self.clock()
            slot = max(now, self._next_any)
            if order:
                slot = max(slot, self._next_order)
            if max_wait is not None and slot - now > max_wait:
                from .exceptions import RateLimitQueueTimeout

                raise RateLimitQueueTimeout(
                    f"the next request slot of this key is {slot - now:.1f} s away, more than "
                    f"max_queue_wait={max_wait:g} s; nothing was sent",
                    retry_after=slot - now,
                )
            if order:
                self._next_order = slot + self.order_interval
            self._next_any = slot + self.interval
            return slot - now

    def backlog(self) -> float:
        """Seconds until the next free slot (0 when a request could go now); for status displays."""
        with self._lock:
            return max(0.0, self._next_any - self.clock())

    def ready(self, *, order: bool = False) -> float:
        """Called right before sending: 0 to go ahead, else how much longer to wait.

        The server counts a request when it *arrives*, which is somewhere between our send
        and its answer: a first request that spends 20 ms (or a TLS handshake) connecting
        arrives late and would crowd the next one. So a send waits ``interval`` after both
        the previous send and the previous answer; a late waker cannot shrink the gap either.
        """
        with self._lock:
            now = self.clock()
            earliest = max(self._last_sent, self._last_done) + self.interval
            if order:
                earliest = max(earliest, self._last_order_sent + self.order_interval)
            if now < earliest:
                return earliest - now
            if self.shared is not None:
                elsewhere = self.shared.claim(self.interval, order, self.order_interval)
                if elsewhere > 0:
                    return elsewhere
            self._last_sent = now
            if order:
                self._last_order_sent = now
            return 0.0

    def done(self) -> None:
        """A request finished (answer or failure)."""
        with self._lock:
            self._last_done = max(self._last_done, self.clock())
        if self.shared is not None:
            self.shared.finished()

    def throttled(self, retry_after: float | None = None, *, order: bool = False) -> float:
        """The server answered code 5 / HTTP 429: push every caller back.

        The penalty doubles with each consecutive throttle (1 s, 2 s, 4 s …) and is at
        least ``retry_after`` when the server sent one. Returns the penalty.
        """
        with self._lock:
            now = self.clock()
            backoff = min(self.interval * (1 << min(self._throttle_streak, 16)), MAX_THROTTLE_BACKOFF)
            self._throttle_streak += 1
            penalty = max(backoff, retry_after or 0.0)
            self._next_any = max(self._next_any, now + penalty)
            if order:
                self._next_order = max(self._next_order, now + max(penalty, self.order_interval))
            return penalty

    def succeeded(self) -> None:
        with self._lock:
            self._throttle_streak = 0


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str | None) -> str:
    """A stable, non-reversible name for a key (the key itself is never used as a name)."""
    if not api_key:
        return "anonymous"
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def limiter_for_key(api_key: str | None) -> RateLimiter:
    """The process-wide limiter shared by every client of this key, sync and async."""
    name = key_fingerprint(api_key)
    with _registry_lock:
        limiter = _registry.get(name)
        if limiter is None:
            shared = ProcessSlots(shared_state_dir() / f"ratelimit-{name}.json")
            limiter = _registry[name] = RateLimiter(shared=shared)
        return limiter
