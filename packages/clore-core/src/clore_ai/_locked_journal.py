"""A small journal of entries kept in one JSON file shared by threads and processes.

The create_order journal (``_inflight``) and the rent journal (``_rent_journal``) keep
their entries the same way: a thread lock, then an ``flock`` on ``FILE.lock``, read the
file, change the entries, write them back atomically (a temporary file renamed over it,
mode 0600) only when they changed. An unusable file (an unwritable cache) falls back to
memory, so callers in one process still see each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

__all__ = ["JournalEntry", "LockedJournal"]

T = TypeVar("T")


class JournalEntry(Protocol):
    token: str

    def to_json(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=JournalEntry)


J = TypeVar("J", bound="LockedJournal[Any]")

_shared: dict[tuple[type, Path], Any] = {}
_shared_lock = threading.Lock()


class LockedJournal(Generic[E]):
    """Entries by token; subclasses say how an entry is read (``_read_entry``), which
    entries are dropped before every change (``_prune``) and the file's section name."""

    section = "entries"

    @classmethod
    def shared(cls: type[J], path: Path) -> J:
        """The one journal of this class on ``path`` in this process (its file is what the
        user's other processes share)."""
        with _shared_lock:
            journal = _shared.get((cls, path))
            if journal is None:
                journal = _shared[(cls, path)] = cls(path)
            return journal  # type: ignore[no-any-return,unused-ignore]

    def __init__(
        self, path: Path | None, *, clock: Callable[[], float] = time.time, pid: int | None = None
    ) -> None:
        self.path = path
        self.clock = clock
        self.pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()
        self._memory: dict[str, E] = {}

    def _read_entry(self, token: str, data: Any) -> E | None:
        raise NotImplementedError

    def _prune(self, entries: dict[str, E]) -> None:
        """Drop entries that no longer matter (too old, their process gone...)."""

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
            os.close(fd)  # closing releases the lock

    def _load(self, path: Path) -> dict[str, E]:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        raw = data.get(self.section) if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            return {}
        entries = {}
        for token, item in raw.items():
            entry = self._read_entry(str(token), item)
            if entry is not None:
                entries[entry.token] = entry
        return entries

    def _save(self, path: Path, entries: dict[str, E]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        payload = {self.section: {token: entry.to_json() for token, entry in entries.items()}}
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload))
        os.replace(tmp, path)

    def _change(self, change: Callable[[dict[str, E]], T]) -> T:
        """Run ``change`` on the live entries under both locks, then store them if changed."""
        with self._lock:
            if self.path is not None:
                try:
                    with self._file_lock(self.path):
                        entries = self._load(self.path)
                        before = _snapshot(entries)
                        self._prune(entries)
                        result = change(entries)
                        if _snapshot(entries) != before:  # most calls only read: no write then
                            self._save(self.path, entries)
                        self._memory = entries
                        return result
                except OSError:
                    pass  # an unwritable cache must not stop a call; in-process callers still agree
            self._prune(self._memory)
            return change(self._memory)


def _snapshot(entries: dict[str, E]) -> list[tuple[str, str]]:
    return sorted((token, json.dumps(entry.to_json(), sort_keys=True)) for token, entry in entries.items())
