"""The client-side rate limiter: one per API key per process.

Reservation-based: a caller takes the next free slot under a lock and is told how long to
sleep until it. Nobody polls, nobody reads-then-sleeps, so many threads and coroutines
sharing one limiter are spaced exactly ``interval`` apart in the order they asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_ORDER_INTERVAL",
    "KEY_STATE_KINDS",
    "RateLimiter",
    "key_fingerprint",
    "key_state_path",
    "limiter_for_key",
]

# The API allows 1 request/s and create_order once per 5 s. A small margin keeps arrivals
# at the server >= 1 s apart despite scheduling jitter between taking a slot and sending.
DEFAULT_INTERVAL = 1.03
DEFAULT_ORDER_INTERVAL = 5.1
MAX_THROTTLE_BACKOFF = 32.0

Clock = Callable[[], float]
FAR_FUTURE = 120.0  # a stored send time further ahead than this is corrupt, not obeyed
# A queued waiter renews its ticket each time it looks (at least every interval); a ticket
# not renewed for this long belongs to a waiter that died or gave up and is dropped.
TICKET_TTL = 3.0
DEFAULT_LEASE = 60.0  # how long a send may stay unanswered before the key is free again

log = logging.getLogger("clore_ai")
_tickets = itertools.count(1)


def new_ticket() -> str:
    """A waiter's place in the cross-process queue: unique per process, thread and call."""
    return f"{os.getpid()}-{threading.get_ident()}-{next(_tickets)}"


def fallback_state_dir() -> Optional[Path]:
    """A per-user directory under the temp dir (mode 0700, owned by us), or None."""
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    path = Path(tempfile.gettempdir()) / f"clore-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if not stat.S_ISDIR(info.st_mode) or not mine or stat.S_IMODE(info.st_mode) & 0o077:
        return None  # someone else's (or a symlink, or open to others): not trusted
    return path


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, AttributeError, ValueError):
        return True  # exists but not ours, or no way to tell
    return True


def shared_state_dir() -> Path:
    """Where the per-key state files live (falls back to :func:`fallback_state_dir`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clore"


class ProcessSlots:
    """The send state of one key, shared by every process through a locked file.

    The file lives in the user cache dir and is named by a hash of the key (never the key
    itself). Several `clore` processes with one key thus take turns instead of all being
    answered code 5. Wall-clock time is used because monotonic clocks differ per process.

    Turns are first come, first served: a waiter that may not send yet appends a ticket
    to the file's queue and only the head of the queue may send, so a process calling in a
    loop cannot starve another. Tickets are renewed by their waiter each time it looks; a
    ticket not renewed for ``TICKET_TTL`` seconds, or of a process that no longer exists,
    is dropped. A send holds the key (``busy``) until its answer, at most ``lease`` seconds.

    When the cache dir cannot be written (read-only home, say), one warning is logged and
    a per-user dir under the temp dir is used instead.
    """

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self._fell_back = False

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

    def _unusable(self, error: OSError) -> bool:
        """Switch to the fallback dir once; True when there is one to retry with."""
        if self._fell_back:
            return False
        self._fell_back = True
        fallback = fallback_state_dir()
        if fallback is None or fallback == self.path.parent:
            log.warning(
                "the rate-limit state dir %s is not writable (%s) and no private temp dir could be "
                "used: clore processes sharing this key are not spaced against each other",
                self.path.parent,
                type(error).__name__,
            )
            return False
        log.warning(
            "the rate-limit state dir %s is not writable (%s); using %s instead",
            self.path.parent,
            type(error).__name__,
            fallback,
        )
        self.path = fallback / self.path.name
        return True

    def _read(self, now: float) -> dict[str, Any]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        state: dict[str, Any] = {
            k: float(v)
            for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= now + FAR_FUTURE
        }
        pid = data.get("busy_pid")
        state.pop("busy_pid", None)  # a pid, not a time
        if isinstance(pid, int) and not isinstance(pid, bool):
            state["busy_pid"] = pid
        queue = data.get("queue")
        if isinstance(queue, list):
            state["queue"] = [
                [str(t[0]), t[1], float(t[2])]
                for t in queue
                if isinstance(t, list)
                and len(t) == 3
                and isinstance(t[2], (int, float))
                and not isinstance(t[2], bool)
                and now <= t[2] <= now + FAR_FUTURE  # expired (or corrupt) tickets are dropped
                and _alive(t[1])
            ]
        return state

    def claim(
        self,
        interval: float,
        order: bool,
        order_interval: float,
        *,
        ticket: Optional[str] = None,
        lease: Optional[float] = None,
    ) -> float:
        """0 and record the send if it may go now, else the seconds still to wait.

        With a ``ticket`` the caller queues: it may send only once every older ticket has
        been served or dropped. With a ``lease`` the send holds the key until
        :meth:`finished` (or ``lease`` seconds).
        """
        while True:
            try:
                return self._claim(interval, order, order_interval, ticket, lease)
            except OSError as error:
                if not self._unusable(error):
                    return 0.0  # in-process spacing still holds

    def _claim(
        self,
        interval: float,
        order: bool,
        order_interval: float,
        ticket: Optional[str],
        lease: Optional[float],
    ) -> float:
        with self._locked():
            now = self.clock()
            state = self._read(now)
            earliest = max(state.get("last", float("-inf")), state.get("last_done", float("-inf"))) + interval
            if order:
                earliest = max(earliest, state.get("last_order", float("-inf")) + order_interval)
            wait: float = earliest - now
            busy: float = state.get("busy", float("-inf"))
            if not _alive(int(state.get("busy_pid", 0))):
                busy = float("-inf")  # the sender died: its answer will never be recorded
            if now < busy:  # another send has not been answered yet
                wait = max(wait, min(interval, busy - now))
            queue: list[list[Any]] = state.get("queue", [])
            if ticket is not None:
                mine = [t for t in queue if t[0] == ticket]
                if mine:
                    mine[0][2] = now + TICKET_TTL
                else:
                    queue.append([ticket, os.getpid(), now + TICKET_TTL])
                if queue[0][0] != ticket:  # someone came first: look again soon
                    wait = max(wait, 0.05)
            if wait > 0:
                if ticket is not None:
                    state["queue"] = queue
                    self._write(state)
                return min(wait, max(interval, 0.05)) if ticket is not None else wait
            state["queue"] = [t for t in queue if t[0] != ticket]
            state["last"] = now
            if order:
                state["last_order"] = now
            if lease is not None:
                state["busy"] = now + lease
                state["busy_pid"] = os.getpid()
            self._write(state)
            return 0.0

    def abandon(self, ticket: str) -> None:
        """A waiter gave up: its ticket leaves the queue at once."""
        try:
            with self._locked():
                state = self._read(self.clock())
                queue = state.get("queue", [])
                if any(t[0] == ticket for t in queue):
                    state["queue"] = [t for t in queue if t[0] != ticket]
                    self._write(state)
        except OSError:
            pass

    def finished(self) -> None:
        """Record an answer: the next send of any process waits an interval after it, too."""
        while True:
            try:
                with self._locked():
                    now = self.clock()
                    state = self._read(now)
                    state["last_done"] = max(state.get("last_done", float("-inf")), now)
                    state.pop("busy", None)
                    state.pop("busy_pid", None)
                    self._write(state)
                return
            except OSError as error:
                if not self._unusable(error):
                    return

    def _write(self, state: dict[str, Any]) -> None:
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
        self._busy_until = float("-inf")  # a send not answered yet holds the key until then

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

    def ready(
        self, *, order: bool = False, ticket: Optional[str] = None, lease: Optional[float] = None
    ) -> float:
        """Called right before sending: 0 to go ahead, else how much longer to wait.

        The server counts a request when it *arrives*, which is somewhere between our send
        and its answer, and the time in transit is unknown: a request sent at t that spends
        1.5 s getting there arrives after one sent at t + 1.03 that went straight through.
        What the client can guarantee is one request in flight per key: with a ``lease``
        (the longest an attempt may take), a send waits until the previous one was answered
        (or its lease ran out) and ``interval`` after both that answer and the previous
        send. The previous arrival lies before its answer, so arrivals are >= ``interval``
        apart whatever the delays. ``ticket`` is the caller's place in the cross-process
        queue (see :class:`ProcessSlots`).
        """
        with self._lock:
            now = self.clock()
            earliest = max(self._last_sent, self._last_done) + self.interval
            if order:
                earliest = max(earliest, self._last_order_sent + self.order_interval)
            if now < earliest:
                return earliest - now
            if now < self._busy_until and self.interval > 0:
                # The answer comes at some unknown time >= now, and the next send waits an
                # interval after it: sleeping one interval is never too long.
                return min(self.interval, self._busy_until - now)
            if self.shared is not None:
                elsewhere = self.shared.claim(
                    self.interval, order, self.order_interval, ticket=ticket, lease=lease
                )
                if elsewhere > 0:
                    return elsewhere
            self._last_sent = now
            if order:
                self._last_order_sent = now
            if lease is not None:
                self._busy_until = now + lease
            return 0.0

    def abandon(self, ticket: str) -> None:
        """A caller stopped waiting for its turn (cancelled): free its place in the queue."""
        if self.shared is not None:
            self.shared.abandon(ticket)

    def done(self) -> None:
        """A request finished (answer or failure): the key is free again."""
        with self._lock:
            self._last_done = max(self._last_done, self.clock())
            self._busy_until = float("-inf")
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


#: What is kept per key in :func:`shared_state_dir`, one ``KIND-FINGERPRINT.json`` each: the
#: rate limiter's turns (here), the create_order journal (``_inflight``), the rent journal
#: (``_rent_journal``) and the spot lowering rules (``_spot_rules``).
KEY_STATE_KINDS = ("ratelimit", "orders", "rent", "spot")


def key_state_path(kind: str, api_key: str | None) -> Path:
    """Where ``kind`` (one of :data:`KEY_STATE_KINDS`) of this key is kept."""
    return shared_state_dir() / f"{kind}-{key_fingerprint(api_key)}.json"


def limiter_for_key(api_key: str | None) -> RateLimiter:
    """The process-wide limiter shared by every client of this key, sync and async."""
    name = key_fingerprint(api_key)
    with _registry_lock:
        limiter = _registry.get(name)
        if limiter is None:
            shared = ProcessSlots(key_state_path("ratelimit", api_key))
            limiter = _registry[name] = RateLimiter(shared=shared)
        return limiter
