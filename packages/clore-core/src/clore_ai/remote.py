"""Run commands on a rented server and copy files to and from it, over SSH.

    from clore_ai.remote import Remote, SSHTarget

    target = SSHTarget.from_order(order, password="...")
    with Remote(target) as remote:
        status = remote.exec("nvidia-smi", stdout=sys.stdout.buffer.write)
        remote.upload("work", "work")
        remote.download("work/out.txt", "out.txt")

:class:`AsyncRemote` is the implementation (asyncssh, so no OpenSSH is needed, it works on
Windows, and a password is never put on a command line); :class:`Remote` is the same API,
synchronous, driving an :class:`AsyncRemote` on a private event-loop thread.

Copies (``upload``/``download``) take a file or a directory (recursively). The destination
is the copy itself: ``upload("work", "job")`` makes ``job`` hold what ``work`` holds, however
often it runs; a file copied onto an existing directory, or a path ending in ``/``, goes
inside it under its own name. Each file is written to a temporary name beside its
destination and renamed into place, so an interrupted copy never leaves a half file under the
real name, and a file whose size and modification time (whole seconds; copies keep it) already
match is skipped: re-running a copy sends only what changed. Remote paths are relative to the
login directory; ``~/`` is accepted at their start.

Needs the ``ssh`` extra: ``pip install 'clore-core[ssh]'`` (the ``clore`` command has it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import signal
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Coroutine, TypeVar

from .exceptions import RemoteError, RemoteLoginRefused

if TYPE_CHECKING:  # pragma: no cover
    import asyncssh

    from .models import Order

__all__ = ["AsyncRemote", "CopySummary", "Remote", "RemoteError", "RemoteLoginRefused", "SSHTarget"]

Progress = Callable[[int, int], None]
Sink = Callable[[bytes], None]
_T = TypeVar("_T")
_CHUNK = 65536
PART_SUFFIX = ".clore-part"


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to log in. ``password`` is never shown (not in ``repr`` either)."""

    host: str
    port: int
    username: str = "root"
    password: str | None = field(default=None, repr=False)
    key_file: Path | None = None

    @classmethod
    def from_order(
        cls, order: Order, *, password: str | None = None, key_file: str | Path | None = None
    ) -> SSHTarget:
        """The order's SSH address: its ``pub_cluster`` and the public port of container port 22."""
        host = order.ssh_host
        port = order.ssh_port
        if not host or not port:
            raise RemoteError(
                f"order {order.id} has no SSH port (it needs container port 22 as tcp, "
                "e.g. `clore deploy --port 22:tcp`, and a running container)"
            )
        return cls(host, int(port), password=password, key_file=Path(key_file) if key_file else None)

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


def _remote_path(path: str) -> str:
    """``~`` and ``~/x`` → relative to the login directory (where SFTP starts)."""
    if path in ("~", "~/", ""):
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    return path


def _part_name(path: str, join: Callable[..., str], split: Callable[[str], tuple[str, str]]) -> str:
    head, tail = split(path)
    return join(head, f".{tail}{PART_SUFFIX}") if head else f".{tail}{PART_SUFFIX}"


def _exit_status(process: asyncssh.SSHClientProcess[bytes]) -> int:
    """The command's exit status; a command ended by a signal counts 128 + its number, like a shell."""
    if process.exit_status is not None and process.exit_status >= 0:
        return int(process.exit_status)
    if process.exit_signal:
        name = process.exit_signal[0]
        with contextlib.suppress(KeyError):
            return 128 + int(signal.Signals[f"SIG{name}"])
        return 128 + 9
    return 255


@dataclass(frozen=True)
class CopySummary:
    """What one upload/download did: ``copied`` files were sent (``bytes_sent`` of them), the
    other ``skipped`` already matched the destination by size and modification time."""

    files: int
    copied: int
    skipped: int
    total_bytes: int
    bytes_sent: int

    @property
    def nothing_sent(self) -> bool:
        return self.copied == 0


class _Tally:
    """Bytes done out of a total, for one upload/download; calls ``progress`` as it grows."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.skipped_files = 0
        self.skipped_bytes = 0
        self._progress = progress
        self.report()

    def add(self, count: int) -> None:
        self.done += count
        self.report()

    def skip(self, count: int) -> None:
        """A file that already matches: counted as done, never sent."""
        self.skipped_files += 1
        self.skipped_bytes += count
        self.add(count)

    def summary(self, files: int) -> CopySummary:
        return CopySummary(
            files=files,
            copied=files - self.skipped_files,
            skipped=self.skipped_files,
            total_bytes=self.total,
            bytes_sent=self.total - self.skipped_bytes,
        )

    def report(self) -> None:
        if self._progress is not None:
            self._progress(self.done, self.total)


class AsyncRemote:
    """One SSH connection to a server (opened on first use): exec, upload, download."""

    def __init__(self, target: SSHTarget, *, connect_timeout: float = 15.0) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self._connection: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Lock | None = None

    async def __aenter__(self) -> AsyncRemote:
        await self._connected()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ── connection ────────────────────────────────────────────────────────

    async def _connected(self) -> asyncssh.SSHClientConnection:
        if self._connection is not None:
            return self._connection
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connection is None:
                self._connection = await self._connect()
        return self._connection

    async def _open(self, open_channel: Callable[[asyncssh.SSHClientConnection], Awaitable[_T]]) -> _T:
        """``open_channel`` on the cached connection; when the server had closed that
        connection (servers drop idle ones), once more on a new one. A channel that never
        opened started nothing, so nothing runs twice."""
        import asyncssh

        connection = await self._connected()
        try:
            return await open_channel(connection)
        except asyncssh.ChannelOpenError:
            if not connection.is_closed():
                raise
        if self._connection is connection:
            self._connection = None
        return await open_channel(await self._connected())

    async def _connect(self) -> asyncssh.SSHClientConnection:
        try:
            import asyncssh
        except ImportError:
            raise RemoteError("SSH needs the asyncssh package: pip install 'clore-core[ssh]'") from None
        target = self.target
        options: dict[str, Any] = {
            "username": target.username,
            "password": target.password,
            # Clore containers get a new host key with every order: there is nothing to pin.
            "known_hosts": None,
            "connect_timeout": self.connect_timeout,
        }
        if target.key_file is not None:
            if not target.key_file.expanduser().is_file():
                raise RemoteError(f"cannot read the key file {target.key_file}")
            options["client_keys"] = [str(target.key_file.expanduser())]
        if target.password is not None and target.key_file is None:
            options["client_keys"] = None  # the password only: no agent or default keys first
            options["agent_path"] = None
        try:
            return await asyncssh.connect(target.host, target.port, **options)
        except asyncssh.PermissionDenied:
            if target.password is None and target.key_file is None:
                raise RemoteLoginRefused(
                    f"{target} refused the login: no password or key file was given, and your ssh "
                    "agent and default keys did not work"
                ) from None
            how = "the password" if target.password is not None else "the key"
            if target.password is not None and target.key_file is not None:
                how = "the password or the key"
            raise RemoteLoginRefused(f"{target} refused the login: {how} did not work") from None
        except asyncssh.KeyImportError as error:
            raise RemoteError(f"cannot use the key file {target.key_file}: {error}") from None
        except (asyncio.TimeoutError, TimeoutError):
            raise RemoteError(
                f"timed out connecting to {target.host}:{target.port} after {self.connect_timeout:g} s"
            ) from None
        except OSError as error:
            why = error.strerror or str(error) or type(error).__name__
            raise RemoteError(f"cannot connect to {target.host}:{target.port}: {why}") from None
        except asyncssh.Error as error:
            raise RemoteError(f"SSH to {target.host}:{target.port} failed: {error.reason}") from None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
            with contextlib.suppress(Exception):
                await connection.wait_closed()

    # ── exec ──────────────────────────────────────────────────────────────

    async def exec(
        self,
        command: str,
        *,
        stdout: Sink | None = None,
        stderr: Sink | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> int:
        """Runs ``command`` with the login shell; returns its exit status (128 + N if signal N
        ended it). Output is handed to ``stdout``/``stderr`` chunk by chunk as it arrives."""
        import asyncssh

        try:
            process = await self._open(lambda connection: connection.create_process(command, encoding=None))
        except asyncssh.Error as error:
            raise RemoteError(f"cannot start the command on {self.target}: {error.reason}") from None
        try:
            return await asyncio.wait_for(self._finish(process, stdout, stderr, stdin), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            process.close()
            raise RemoteError(f"the command on {self.target} did not finish within {timeout:g} s") from None
        except (asyncssh.Error, ConnectionError) as error:
            reason = getattr(error, "reason", None) or str(error)
            raise RemoteError(f"the connection to {self.target} broke: {reason}") from None

    async def _finish(
        self,
        process: asyncssh.SSHClientProcess[bytes],
        stdout: Sink | None,
        stderr: Sink | None,
        stdin: bytes | None,
    ) -> int:
        async def pump(reader: asyncssh.SSHReader[bytes], sink: Sink | None) -> None:
            while True:
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    return
                if sink is not None:
                    sink(chunk)

        async def feed() -> None:
            if stdin:
                process.stdin.write(stdin)
                await process.stdin.drain()
            process.stdin.write_eof()

        await asyncio.gather(feed(), pump(process.stdout, stdout), pump(process.stderr, stderr))
        await process.wait_closed()
        if process.exit_status is None and not process.exit_signal:
            raise RemoteError(f"the connection to {self.target} closed before the command finished")
        return _exit_status(process)

    async def interactive(self) -> int:
        """A login shell on this process's terminal (POSIX; raw mode while it runs); returns
        its exit status. ``clore ssh`` uses it when OpenSSH is not installed."""
        import shutil
        import termios
        import tty

        import asyncssh

        columns, rows = shutil.get_terminal_size()
        try:
            process = await self._open(
                lambda connection: connection.create_process(
                    term_type=os.environ.get("TERM") or "xterm", term_size=(columns, rows), encoding=None
                )
            )
        except asyncssh.Error as error:
            raise RemoteError(f"cannot open a shell on {self.target}: {error.reason}") from None
        loop = asyncio.get_running_loop()
        keyboard, screen = sys.stdin.fileno(), sys.stdout.fileno()

        def typed() -> None:
            data = os.read(keyboard, _CHUNK)
            if data:
                process.stdin.write(data)
            else:
                loop.remove_reader(keyboard)
                process.stdin.write_eof()

        async def show(reader: asyncssh.SSHReader[bytes]) -> None:
            while True:
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    return
                os.write(screen, chunk)

        saved = termios.tcgetattr(keyboard)
        tty.setraw(keyboard)
        loop.add_reader(keyboard, typed)
        try:
            await asyncio.gather(show(process.stdout), show(process.stderr))
            await process.wait_closed()
        finally:
            loop.remove_reader(keyboard)
            termios.tcsetattr(keyboard, termios.TCSADRAIN, saved)
        return _exit_status(process)

    # ── copies ────────────────────────────────────────────────────────────

    @contextlib.asynccontextmanager
    async def _sftp(self) -> AsyncIterator[asyncssh.SFTPClient]:
        import asyncssh

        try:
            client = await self._open(lambda connection: connection.start_sftp_client())
        except asyncssh.Error as error:
            raise RemoteError(f"{self.target} does not offer SFTP: {error.reason}") from None
        try:
            yield client
        except asyncssh.SFTPError as error:
            raise RemoteError(f"copy on {self.target} failed: {error.reason}") from None
        finally:
            client.exit()

    async def upload(
        self, local: str | Path, remote: str, *, progress: Progress | None = None
    ) -> CopySummary:
        """Copies a local file or directory (recursively) to ``remote`` on the server."""
        source = Path(local).expanduser()
        if not source.exists():
            raise RemoteError(f"local path {local} does not exist")
        async with self._sftp() as sftp:
            destination = _remote_path(remote)
            if source.is_dir():
                pairs = [(path, posixpath.join(destination, *rel)) for path, rel in _local_files(source)]
                directories = [destination] + [
                    posixpath.join(destination, *rel) for rel in _local_directories(source)
                ]
            else:
                if remote.endswith("/") or await sftp.isdir(destination):
                    destination = posixpath.join(destination, source.name)
                pairs = [(source, destination)]
                parent = posixpath.dirname(destination)  # made as a download makes it locally
                directories = [parent] if parent not in ("", "/", ".") else []
            tally = _Tally(sum(path.stat().st_size for path, _ in pairs), progress)
            for directory in directories:
                await sftp.makedirs(directory, exist_ok=True)
            for path, target in pairs:
                await self._put(sftp, path, target, tally)
        return tally.summary(len(pairs))

    async def _put(self, sftp: asyncssh.SFTPClient, path: Path, target: str, tally: _Tally) -> None:
        import asyncssh

        info = path.stat()
        with contextlib.suppress(asyncssh.SFTPNoSuchFile, asyncssh.SFTPFailure):
            attrs = await sftp.stat(target)
            if (
                attrs.size == info.st_size
                and attrs.mtime is not None
                and int(attrs.mtime) == int(info.st_mtime)
            ):
                tally.skip(info.st_size)
                return
        part = _part_name(target, posixpath.join, posixpath.split)
        before = tally.done

        def moved(_src: bytes, _dst: bytes, copied: int, _total: int) -> None:
            tally.done = before + copied
            tally.report()

        await sftp.put(str(path), part, preserve=True, progress_handler=moved)
        tally.done = before + info.st_size
        try:
            await sftp.posix_rename(part, target)
        except asyncssh.SFTPOpUnsupported:
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(target)
            await sftp.rename(part, target)

    async def download(
        self, remote: str, local: str | Path, *, progress: Progress | None = None
    ) -> CopySummary:
        """Copies a file or directory (recursively) from the server to ``local``."""
        import asyncssh

        source = _remote_path(remote)
        destination = Path(local).expanduser()
        async with self._sftp() as sftp:
            try:
                attrs = await sftp.stat(source)
            except asyncssh.SFTPNoSuchFile:
                raise RemoteError(f"remote path {remote} does not exist on {self.target}") from None
            directories: list[Path]
            if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
                files, folders = await _remote_tree(sftp, source)
                pairs = [(path, destination.joinpath(*rel), size) for path, rel, size in files]
                directories = [destination] + [destination.joinpath(*rel) for rel in folders]
            else:
                if str(local).endswith(("/", os.sep)) or destination.is_dir():
                    destination = destination / posixpath.basename(source.rstrip("/"))
                pairs = [(source, destination, int(attrs.size or 0))]
                directories = []
            tally = _Tally(sum(size for _, _, size in pairs), progress)
            try:
                for directory in directories:
                    directory.mkdir(parents=True, exist_ok=True)
                for path, target, size in pairs:
                    await self._get(sftp, path, target, size, tally)
            except OSError as error:
                raise RemoteError(f"cannot write {error.filename or local}: {error.strerror}") from None
        return tally.summary(len(pairs))

    async def _get(
        self, sftp: asyncssh.SFTPClient, path: str, target: Path, size: int, tally: _Tally
    ) -> None:
        attrs = await sftp.stat(path)
        with contextlib.suppress(FileNotFoundError):
            info = target.stat()
            if info.st_size == size and attrs.mtime is not None and int(attrs.mtime) == int(info.st_mtime):
                tally.skip(size)
                return
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}{PART_SUFFIX}")
        before = tally.done

        def moved(_src: bytes, _dst: bytes, copied: int, _total: int) -> None:
            tally.done = before + copied
            tally.report()

        await sftp.get(path, str(part), preserve=True, progress_handler=moved)
        tally.done = before + size
        os.replace(part, target)


def _local_files(root: Path) -> list[tuple[Path, tuple[str, ...]]]:
    found = []
    for directory, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file():
                found.append((path, path.relative_to(root).parts))
    return found


def _local_directories(root: Path) -> list[tuple[str, ...]]:
    return [Path(d).relative_to(root).parts for d, _, _ in sorted(os.walk(root)) if Path(d) != root]


async def _remote_tree(
    sftp: asyncssh.SFTPClient, root: str
) -> tuple[list[tuple[str, tuple[str, ...], int]], list[tuple[str, ...]]]:
    """(files as (path, relative parts, size), directories as relative parts) under ``root``."""
    files: list[tuple[str, tuple[str, ...], int]] = []
    directories: list[tuple[str, ...]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while pending:
        path, rel = pending.pop()
        for entry in sorted(await sftp.readdir(path), key=lambda e: str(e.filename)):
            name = str(entry.filename)
            if name in (".", ".."):
                continue
            mode = entry.attrs.permissions or 0
            child, child_rel = posixpath.join(path, name), (*rel, name)
            if stat.S_ISDIR(mode):
                directories.append(child_rel)
                pending.append((child, child_rel))
            elif stat.S_ISREG(mode):
                files.append((child, child_rel, int(entry.attrs.size or 0)))
    return files, directories


class Remote:
    """:class:`AsyncRemote` for synchronous code: the same methods, blocking.

    It runs an :class:`AsyncRemote` on an event loop in a private thread; the ``stdout``,
    ``stderr`` and ``progress`` callbacks are called from that thread.
    """

    def __init__(self, target: SSHTarget, *, connect_timeout: float = 15.0) -> None:
        self.target = target
        self._remote = AsyncRemote(target, connect_timeout=connect_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Remote:
        try:
            self._run(self._remote._connected())
        except BaseException:
            self.close()  # no event-loop thread left behind by a failed login
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, _T] | Awaitable[_T]) -> _T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="clore-remote", daemon=True)
            self._thread.start()
        future = asyncio.run_coroutine_threadsafe(_awaited(coroutine), self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def exec(
        self,
        command: str,
        *,
        stdout: Sink | None = None,
        stderr: Sink | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> int:
        return self._run(
            self._remote.exec(command, stdout=stdout, stderr=stderr, stdin=stdin, timeout=timeout)
        )

    def interactive(self) -> int:
        return self._run(self._remote.interactive())

    def upload(self, local: str | Path, remote: str, *, progress: Progress | None = None) -> CopySummary:
        return self._run(self._remote.upload(local, remote, progress=progress))

    def download(self, remote: str, local: str | Path, *, progress: Progress | None = None) -> CopySummary:
        return self._run(self._remote.download(remote, local, progress=progress))

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(self._remote.close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
            self._loop = self._thread = None


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    return await awaitable
