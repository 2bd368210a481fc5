"""The sandbox's SSH host process: ``python -m clore_ai.sandbox._sshd STATE_FILE``.

``clore --sandbox`` runs the sandbox inside short-lived processes that share a locked state
file; an SSH server must outlive them. So the sandbox starts this small detached process on
demand (one per state file) and talks to it through files in ``<state file>.ssh/``:

* ``host.lock`` — held (``flock``) by the live host for its whole life: at most one per state
  file, and "is it running?" is one non-blocking lock attempt;
* ``host.json`` — what it serves now (endpoint name → port, and ports it could not bind);
* ``host_key`` — its ed25519 host key (0600), kept so ``known_hosts`` stays valid;
* ``containers/<account>-<order>/`` — each order's container directory;
* ``host.log`` — its stderr.

It re-reads the state file when it changes (polling its modification time), serves every
order that has not ended on 127.0.0.1 only, stops serving an order when it ends, and exits
once no order has needed it for ``CLORE_SANDBOX_SSH_IDLE`` seconds (default 60); the next
sandbox request that creates or lists orders starts it again. :class:`DaemonSSHHost` is the
side that starts it and waits until it serves what the state file says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

from ._ssh import Endpoint, SSHHost, endpoints_of
from ._store import FileStore

__all__ = ["DaemonSSHHost", "host_dir", "main"]

POLL_SECONDS = 0.1
READY_SECONDS = 10.0
_SPAWNED: list[subprocess.Popen[bytes]] = []  # kept so no "still running" warning at exit


def host_dir(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".ssh")


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    """Yields True when the lock was free (and holds it meanwhile)."""
    import fcntl

    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_json(path: Path, payload: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".host-", dir=str(path.parent))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class DaemonSSHHost:
    """Starts the host process of a state file when needed and waits until it serves ``wanted``."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.dir = host_dir(state_file)

    def running(self) -> bool:
        if not (self.dir / "host.lock").exists():
            return False
        with _try_lock(self.dir / "host.lock") as free:
            return not free

    def apply(self, wanted: Mapping[str, Endpoint]) -> None:
        """Returns once the host serves the state file as it is now (``wanted`` is what this
        process just saw in it): at once when it already does, else after starting the host
        or letting it catch up. Another process may change the file meanwhile; a host that
        has applied a newer version is as good."""
        names = set(wanted)
        written = self._state_written()
        if self._serves(names, written):
            return
        if not self.running():
            if not names:
                return
            self._spawn()
        deadline = time.monotonic() + READY_SECONDS
        while not self._serves(names, written):
            if time.monotonic() > deadline:
                warnings.warn(
                    f"the sandbox's SSH host process did not come up in {READY_SECONDS:g} s; "
                    f"see {self.dir / 'host.log'}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return
            time.sleep(0.02)

    def _state_written(self) -> int | None:
        try:
            return self.state_file.stat().st_mtime_ns
        except OSError:
            return None

    def _serves(self, names: set[str], written: int | None) -> bool:
        status = _read_json(self.dir / "host.json")
        if status.get("pid") is None:
            return not names
        served = set(status.get("ports") or {}) | set(status.get("failed") or {})
        applied = status.get("applied")
        if written is None or not isinstance(applied, int):
            current = served == names
        else:  # the same modification time may hide a second write: then the names must match
            current = applied > written or (applied == written and served == names)
        return current and (not names or self.running())

    def _spawn(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "host.json").unlink()
        log = os.fdopen(
            os.open(str(self.dir / "host.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
        )
        try:
            _SPAWNED.append(
                subprocess.Popen(
                    [sys.executable, "-m", "clore_ai.sandbox._sshd", str(self.state_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                    close_fds=True,
                )
            )
        finally:
            log.close()

    def stop(self) -> None:
        """Ends the host process (tests; ``python -m clore_ai.sandbox._sshd --stop``)."""
        pid = _read_json(self.dir / "host.json").get("pid")
        if isinstance(pid, int) and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.02)


def _load_host_key(path: Path) -> Any:
    import asyncssh

    try:
        return asyncssh.read_private_key(str(path))
    except (OSError, asyncssh.KeyImportError):
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.export_private_key())
        return key


async def _serve(state_file: Path, idle_seconds: float) -> None:
    directory = host_dir(state_file)
    host = SSHHost(directory / "containers", _load_host_key(directory / "host_key"))
    store = FileStore(state_file)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stopping.set)
    seen: tuple[int, int] | None = None
    idle_since = time.monotonic()
    try:
        while not stopping.is_set():
            try:
                info = state_file.stat()
                stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
            except OSError:
                stamp = None
            if stamp != seen or host.failed:
                seen = stamp
                wanted = endpoints_of(store.snapshot()) if stamp is not None else {}
                await host.apply(wanted)
                _write_json(
                    directory / "host.json",
                    {
                        "pid": os.getpid(),
                        "applied": stamp[0] if stamp is not None else None,
                        "ports": host.ports,
                        "failed": host.failed,
                    },
                )
            if host.ports:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_seconds:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_SECONDS)
    finally:
        await host.close()
        with contextlib.suppress(FileNotFoundError):
            (directory / "host.json").unlink()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m clore_ai.sandbox._sshd STATE_FILE [--stop]", file=sys.stderr)
        return 2
    state_file = Path(args[0]).resolve()
    if "--stop" in args[1:]:
        DaemonSSHHost(state_file).stop()
        return 0
    directory = host_dir(state_file)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    idle = float(os.environ.get("CLORE_SANDBOX_SSH_IDLE", "60"))
    with _try_lock(directory / "host.lock") as free:
        if not free:
            return 0  # another host serves this state file
        asyncio.run(_serve(state_file, idle))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
