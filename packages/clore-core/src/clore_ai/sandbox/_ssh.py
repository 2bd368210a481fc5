"""The sandbox's SSH endpoints: one asyncssh server per running order, on 127.0.0.1 only.

An order's "container" is a private directory. Commands run with ``/bin/sh -c`` in it (cwd and
``HOME``), a login without a command gets ``/bin/sh -i`` (under a pseudo-terminal when the
client asks for one), and SFTP is rooted (chroot) at it. It is a sandbox for trying clore, not
isolation: the commands run as you, on your machine. See docs/sandbox.md.

:class:`SSHHost` serves a set of :class:`Endpoint` on one asyncio loop. Two ways to run it:

* :class:`ThreadedSSHHost` — a loop in a daemon thread of this process (in-memory sandboxes);
* :mod:`clore_ai.sandbox._sshd` — a detached process per state file (``clore --sandbox``),
  started and reached through :class:`DaemonSSHHost`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import shutil
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    import asyncssh

__all__ = [
    "Endpoint",
    "SSHHost",
    "ThreadedSSHHost",
    "allocate_port",
    "check_password",
    "endpoints_of",
    "hash_password",
    "ssh_available",
]

LOGIN = "root"
_PBKDF2_ROUNDS = 20_000
_CHUNK = 65536


def ssh_available() -> bool:
    """asyncssh is installed (the ``clore-core[ssh]`` extra) and this is a POSIX system."""
    import importlib.util

    return os.name == "posix" and importlib.util.find_spec("asyncssh") is not None


def hash_password(password: str) -> str:
    """A salted PBKDF2 hash: what the sandbox stores instead of the order's ssh password."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS)
    encoded_salt, encoded_digest = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"pbkdf2-sha256${_PBKDF2_ROUNDS}${encoded_salt}${encoded_digest}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, rounds, salt, digest = stored.split("$")
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(rounds))
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def allocate_port() -> int:
    """A free port on 127.0.0.1 now; the order keeps it for its whole life."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Endpoint:
    """What one order's SSH server needs: its port, its container name and its credentials."""

    name: str  # "<account fingerprint>-<order id>": the container directory's name
    port: int
    password_hash: str | None = None
    authorized_keys: str | None = None


def endpoints_of(accounts: Mapping[str, Any]) -> dict[str, Endpoint]:
    """Every order of every account that has an SSH endpoint and has not ended."""
    found: dict[str, Endpoint] = {}
    for fingerprint, account in accounts.items():
        for order in (account.get("orders") or {}).values():
            ssh = order.get("_ssh")
            if not ssh or order.get("_ended_at"):
                continue
            name = f"{fingerprint}-{order['id']}"
            found[name] = Endpoint(name, int(ssh["port"]), ssh.get("password"), ssh.get("keys"))
    return found


def _public_keys(text: str | None) -> list[bytes]:
    import asyncssh

    keys = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        with contextlib.suppress(asyncssh.KeyImportError, ValueError):
            keys.append(asyncssh.import_public_key(line).public_data)
    return keys


def _server_class() -> Callable[[Endpoint], asyncssh.SSHServer]:
    import asyncssh

    class OrderServer(asyncssh.SSHServer):
        """Logs in ``root`` with the order's password or one of its keys; nothing else."""

        def __init__(self, endpoint: Endpoint) -> None:
            self._endpoint = endpoint
            self._keys = _public_keys(endpoint.authorized_keys)

        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return self._endpoint.password_hash is not None

        def validate_password(self, username: str, password: str) -> bool:
            stored = self._endpoint.password_hash
            return username == LOGIN and stored is not None and check_password(password, stored)

        def public_key_auth_supported(self) -> bool:
            return bool(self._keys)

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == LOGIN and key.public_data in self._keys

    return OrderServer


def _environment(home: Path, term: str | None) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PWD": str(home),
        "USER": LOGIN,
        "LOGNAME": LOGIN,
        "SHELL": "/bin/sh",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    if term:
        env["TERM"] = term
    return env


async def _pump_in(process: asyncssh.SSHServerProcess[bytes], write: Any, close: Any) -> None:
    """Client stdin → the command, until the client sends EOF."""
    import asyncssh

    try:
        while True:
            data = await process.stdin.read(_CHUNK)
            if not data:
                break
            await write(data)
    except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
        pass
    except (OSError, asyncssh.Error):
        return
    with contextlib.suppress(OSError):
        await close()


async def _run_with_pipes(process: asyncssh.SSHServerProcess[bytes], argv: list[str], home: Path) -> int:
    child = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(home),
        env=_environment(home, None),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    stdin = child.stdin

    async def write(data: bytes) -> None:
        stdin.write(data)
        await stdin.drain()

    async def close() -> None:
        stdin.close()

    async def pump_out(reader: asyncio.StreamReader, sink: Any) -> None:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                return
            sink.write(data)

    feeding = asyncio.ensure_future(_pump_in(process, write, close))
    try:
        await asyncio.gather(pump_out(child.stdout, process.stdout), pump_out(child.stderr, process.stderr))
        return await child.wait()
    finally:
        feeding.cancel()
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            await child.wait()


#: Makes the pseudo-terminal on stdin the controlling terminal of the new session, then
#: becomes the command (job control and Ctrl-C work); no preexec_fn, which threads make unsafe.
_WITH_CONTROLLING_TERMINAL = (
    sys.executable,
    "-c",
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])",
)


async def _run_with_pty(process: asyncssh.SSHServerProcess[bytes], argv: list[str], home: Path) -> int:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    columns, rows, _, _ = process.get_terminal_size()
    if columns and rows:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        child = await asyncio.create_subprocess_exec(
            *_WITH_CONTROLLING_TERMINAL,
            *argv,
            cwd=str(home),
            env=_environment(home, process.get_terminal_type()),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    loop = asyncio.get_running_loop()
    output_done = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(master, _CHUNK)
        except OSError:
            data = b""
        if data:
            process.stdout.write(data)
        else:
            loop.remove_reader(master)
            if not output_done.done():
                output_done.set_result(None)

    async def write(data: bytes) -> None:
        os.write(master, data)

    async def close() -> None:
        os.write(master, b"\x04")

    loop.add_reader(master, readable)
    feeding = asyncio.ensure_future(_pump_in(process, write, close))
    try:
        status = await child.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(output_done), 1.0)
        return status
    finally:
        feeding.cancel()
        loop.remove_reader(master)
        os.close(master)
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)


class SSHHost:
    """Serves :class:`Endpoint` objects; :meth:`apply` makes the served set match a new one.

    Containers live under ``root``: ``root/<endpoint name>``, created on first use and removed
    when the order ends (like a container's disk on Clore).
    """

    def __init__(self, root: Path, host_key: asyncssh.SSHKey | None = None) -> None:
        import asyncssh

        self.root = root
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self._servers: dict[str, tuple[Endpoint, asyncssh.SSHAcceptor]] = {}
        self._sessions: dict[str, set[asyncio.Task[None]]] = {}  # endpoint name → running sessions
        self.failed: dict[str, str] = {}  # endpoint name → why it could not listen

    @property
    def ports(self) -> dict[str, int]:
        return {name: endpoint.port for name, (endpoint, _) in self._servers.items()}

    def home_of(self, name: str) -> Path:
        return self.root / name

    async def apply(self, wanted: Mapping[str, Endpoint]) -> None:
        for name in list(self._servers):
            endpoint, _ = self._servers[name]
            if wanted.get(name) != endpoint:
                await self._stop(name, remove_home=name not in wanted)
        for name, endpoint in wanted.items():
            if name not in self._servers:
                await self._start(endpoint)
        for name in list(self.failed):
            if name not in wanted:
                del self.failed[name]

    async def close(self) -> None:
        for name in list(self._servers):
            await self._stop(name, remove_home=False)

    async def _start(self, endpoint: Endpoint) -> None:
        import asyncssh

        home = self.home_of(endpoint.name)
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        server_class = _server_class()

        async def session(process: asyncssh.SSHServerProcess[bytes]) -> None:
            task = asyncio.current_task()
            assert task is not None
            running = self._sessions.setdefault(endpoint.name, set())
            running.add(task)
            serving = asyncio.ensure_future(serve(process))
            closed = asyncio.ensure_future(process.channel.wait_closed())
            try:
                # A client that goes away (Ctrl-C, a timeout) ends its command too.
                await asyncio.wait({serving, closed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pending in (serving, closed):
                    pending.cancel()
                await asyncio.gather(serving, closed, return_exceptions=True)
                running.discard(task)

        async def serve(process: asyncssh.SSHServerProcess[bytes]) -> None:
            command = process.command
            argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh", "-i"]
            runner = _run_with_pty if process.get_terminal_type() else _run_with_pipes
            try:
                status = await runner(process, argv, home)
            except OSError as error:
                process.stderr.write(f"sandbox: cannot run the command: {error.strerror}\n".encode())
                status = 127
            with contextlib.suppress(OSError, asyncssh.Error):
                process.exit(status if status >= 0 else 128 - status)

        try:
            acceptor = await asyncssh.create_server(
                lambda: server_class(endpoint),
                "127.0.0.1",
                endpoint.port,
                server_host_keys=[self.host_key],
                process_factory=session,
                encoding=None,
                line_editor=False,
                sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(home).encode()),
                allow_scp=False,
                agent_forwarding=False,
                x11_forwarding=False,
                allow_pty=True,
                reuse_address=True,
            )
        except OSError as error:
            self.failed[endpoint.name] = f"port {endpoint.port}: {error.strerror}"
            return
        self.failed.pop(endpoint.name, None)
        self._servers[endpoint.name] = (endpoint, acceptor)

    async def _stop(self, name: str, *, remove_home: bool) -> None:
        """Stops listening and ends the sessions still running (their commands are killed)."""
        _, acceptor = self._servers.pop(name)
        acceptor.close()
        await acceptor.wait_closed()
        sessions = self._sessions.pop(name, set())
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        if remove_home:
            shutil.rmtree(self.home_of(name), ignore_errors=True)


class ThreadedSSHHost:
    """An :class:`SSHHost` on an event loop in a daemon thread (for in-memory sandboxes)."""

    def __init__(self, root: Path) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox-ssh", daemon=True)
        self._thread.start()
        self.host = self._call(self._make(root))

    @staticmethod
    async def _make(root: Path) -> SSHHost:
        return SSHHost(root)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def apply(self, wanted: Mapping[str, Endpoint]) -> None:
        self._call(self.host.apply(wanted))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self.host.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
