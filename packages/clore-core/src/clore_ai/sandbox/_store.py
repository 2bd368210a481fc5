"""Where sandbox accounts live: in memory, or in a locked file shared by processes."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..exceptions import CloreAPIError

__all__ = ["FileStore", "MemoryStore", "default_state_path"]

FORMAT = 1


def default_state_path() -> Path:
    """``$CLORE_SANDBOX_STATE``, else ``$XDG_DATA_HOME/clore/sandbox.json``."""
    override = os.environ.get("CLORE_SANDBOX_STATE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clore" / "sandbox.json"


class MemoryStore:
    def __init__(self) -> None:
        self._accounts: dict[str, Any] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        yield self._accounts


class FileStore:
    """Accounts in a JSON file; each request is one transaction under an exclusive lock.

    The lock (``fcntl.flock`` on ``<file>.lock``) makes parallel ``clore --sandbox``
    processes take turns, and the file is replaced atomically, so a crash never leaves it
    half-written.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_state_path()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: no cross-process lock
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A corrupt sandbox state is only test data: start over, keeping a copy to look at.
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".corrupt"))
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        accounts = data.get("accounts")
        return accounts if isinstance(accounts, dict) else {}

    def _save(self, accounts: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", dir=str(self.path.parent))
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"format": FORMAT, "accounts": accounts}, handle, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _usable(self) -> Iterator[None]:
        """A state file that cannot be written (read-only HOME, a file where its folder should
        be) is one clore error naming it, not an OSError from inside the transport."""
        try:
            yield
            return
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        raise CloreAPIError(
            f"cannot use the sandbox state file {self.path}: {problem}; set CLORE_SANDBOX_STATE "
            "to a file in a folder you can write"
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        with self._usable(), self._locked():
            accounts = self._load()
            yield accounts
            self._save(accounts)

    def snapshot(self) -> dict[str, Any]:
        """The accounts as they are now, read under the lock, nothing written."""
        with self._usable(), self._locked():
            return self._load()
