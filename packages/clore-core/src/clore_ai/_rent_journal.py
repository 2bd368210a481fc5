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

import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from ._inflight import pid_alive, visible_fields
from ._limiter import key_state_path
from ._locked_journal import LockedJournal

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


class RentJournal(LockedJournal[RentRun]):
    section = "runs"

    """The ``rent`` runs of one key. ``path=None`` keeps them in memory (one process)."""

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
    ) -> None:
        super().__init__(path, clock=clock, pid=pid)
        self.alive = alive
        self._active: set[str] = set()  # runs of this process still going
        self._started: dict[str, tuple[float, str]] = {}  # token -> (started at, query)

    def _read_entry(self, token: str, data: Any) -> RentRun | None:
        return RentRun.from_json(token, data)

    def _prune(self, runs: dict[str, RentRun]) -> None:
        self._forget_old(runs)

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


def rent_journal_for_key(api_key: str | None) -> RentJournal:
    """The rent journal of this key, shared by every client in this process and, through its
    file, by every process of this user."""
    path = key_state_path("rent", api_key)
    return RentJournal.shared(path)
