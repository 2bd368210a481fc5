"""The journal of ``rent`` runs of one key: which run is trying which server right now.

A ``rent`` run tries offers one after another. If the process dies (a crash, Ctrl-C,
SIGKILL, a closed laptop) while a try is in flight, an order may exist that nobody was
told about. Before each try the run records the server it is about to rent and when;
after a definitive answer it clears the try, and when the run ends it removes itself.
The next ``rent`` with the same key reads the runs it finds left over, looks for their
orders in ``my_orders`` and says which order a previous run may have left (or, when
``my_orders`` shows none, forgets the run silently).

The file lives next to the create_order journal (``_inflight``) in the user cache dir,
named by a hash of the key, written atomically with mode 0600, locked for every change.
Entries hold no secrets: the fields ``my_orders`` can show (``_inflight.visible_fields``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from ._inflight import pid_alive, visible_fields
from ._limiter import key_fingerprint, shared_state_dir

__all__ = ["RentJournal", "RentRun", "rent_journal_for_key"]

T = TypeVar("T")

KEEP_FOR = 7 * 86400.0  # a run left over longer than this is forgotten


@dataclass
class RentRun:
    """One ``rent`` run; ``server_id`` is set while a create_order try is in flight."""

    token: str
    pid: int
    started_at: float
    query: str
    server_id: int | None = None
    sent_at: float | None = None
    visible: dict[str, Any] = field(default_factory=dict)
    state: str = "idle"  # idle, sending, unknown (create_order's outcome is unknown)

    @classmethod
    def from_json(cls, token: str, data: Any) -> RentRun | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                token=token,
                pid=int(data["pid"]),
                started_at=float(data["started_at"]),
                query=str(data.get("query", "")),
                server_id=None if data.get("server_id") is None else int(data["server_id"]),
                sent_at=None if data.get("sent_at") is None else float(data["sent_at"]),
                visible=dict(data.get("visible") or {}),
                state=str(data.get("state", "idle")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["token"]
        return data


class RentJournal:
    """The ``rent`` runs of one key. ``path=None`` keeps them in memory (one process)."""

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        self.path = path
        self.clock = clock
        self.pid = os.getpid() if pid is None else pid
        self.alive = alive
        self._lock = threading.Lock()
        self._memory: dict[str, RentRun] = {}
        self._active: set[str] = set()  # runs of this process still going
        self._started: dict[str, tuple[float, str]] = {}  # token -> (started at, query)

    # storage (the same discipline as the create_order journal: lock, read, change, replace)

    @contextlib.contextmanager
    def _file_lock(self, path: Path) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no cross-process lock on this platform
            yield
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self, path: Path) -> dict[str, RentRun]:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        raw = data.get("runs") if isinstance(data, dict) else None
        runs = {}
        for token, item in (raw or {}).items() if isinstance(raw, dict) else ():
            run = RentRun.from_json(str(token), item)
            if run is not None:
                runs[run.token] = run
        return runs

    def _save(self, path: Path, runs: dict[str, RentRun]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        payload = {"runs": {token: run.to_json() for token, run in runs.items()}}
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload))
        os.replace(tmp, path)

    def _change(self, change: Callable[[dict[str, RentRun]], T]) -> T:
        with self._lock:
            if self.path is not None:
                try:
                    with self._file_lock(self.path):
                        runs = self._load(self.path)
                        before = _snapshot(runs)
                        self._forget_old(runs)
                        result = change(runs)
                        if _snapshot(runs) != before:  # most calls only read: no write then
                            self._save(self.path, runs)
                        self._memory = runs
                        return result
                except OSError:
                    pass  # an unwritable cache: in-process runs still see each other
            self._forget_old(self._memory)
            return change(self._memory)

    def _forget_old(self, runs: dict[str, RentRun]) -> None:
        now = self.clock()
        for token, run in list(runs.items()):
            if now - run.started_at > KEEP_FOR:
                del runs[token]

    # the calls

    def start(self, query: str) -> str:
        """A new run; it is written to the file only while a try is in flight."""
        token = uuid.uuid4().hex
        self._active.add(token)
        self._started[token] = (self.clock(), query)
        return token

    def sending(self, token: str, server_id: int, body: Mapping[str, Any]) -> None:
        """Record, before create_order goes out, that this run is renting ``server_id``."""
        started_at, query = self._started.get(token, (self.clock(), ""))
        visible = visible_fields(body)
        run = RentRun(token, self.pid, started_at, query, server_id, self.clock(), visible, "sending")

        def record(runs: dict[str, RentRun]) -> None:
            runs[token] = run

        self._change(record)

    def refused(self, token: str) -> None:
        """The try was refused for sure: no order can exist from it, nothing to resolve."""
        self._change(lambda runs: runs.pop(token, None))

    def unknown(self, token: str) -> None:
        """create_order's outcome is unknown: the run stays for the next one to resolve."""

        def mark(runs: dict[str, RentRun]) -> None:
            run = runs.get(token)
            if run is not None:
                run.state = "unknown"

        self._change(mark)
        self._active.discard(token)

    def release(self, token: str) -> None:
        """The run stopped without saying how (interrupted): it stays, as a leftover."""
        self._active.discard(token)
        self._started.pop(token, None)

    def finish(self, token: str) -> None:
        """The run ended and its caller knows how (an order, or none for sure)."""
        self._active.discard(token)
        self._started.pop(token, None)
        self._change(lambda runs: runs.pop(token, None))

    def leftovers(self) -> list[RentRun]:
        """Runs that ended without saying how: of a process that is gone, or of this process
        but no longer running (Ctrl-C in ``clore shell``, a script's caught exception)."""

        def left(run: RentRun) -> bool:
            if run.token in self._active:
                return False
            return run.pid == self.pid or not self.alive(run.pid)

        return self._change(lambda runs: [run for run in runs.values() if left(run)])

    def forget(self, tokens: list[str]) -> None:
        def drop(runs: dict[str, RentRun]) -> None:
            for token in tokens:
                runs.pop(token, None)

        self._change(drop)


def _snapshot(runs: dict[str, RentRun]) -> list[tuple[str, dict[str, Any]]]:
    return sorted((token, run.to_json()) for token, run in runs.items())


_registry: dict[Path, RentJournal] = {}
_registry_lock = threading.Lock()


def rent_journal_for_key(api_key: str | None) -> RentJournal:
    """The rent journal of this key, shared by every client in this process and, through its
    file, by every process of this user."""
    path = shared_state_dir() / f"rent-{key_fingerprint(api_key)}.json"
    with _registry_lock:
        journal = _registry.get(path)
        if journal is None:
            journal = _registry[path] = RentJournal(path)
        return journal
