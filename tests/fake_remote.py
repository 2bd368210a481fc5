"""A stand-in for ``clore_ai.remote.Remote``: each order's "container" is a directory on this
machine, commands run there with ``sh -c``, copies are ``shutil`` copies.

It keeps what the jobs code must cope with: the container's SSH may not answer at first
(``refuse_first``), a connection may drop in the middle of a job (``drop_after``), and the
job's background process outlives the command that started it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

from clore_ai.jobs import SSHAuth


class LocalRemote:
    def __init__(self, root: Path, owner: LocalContainers) -> None:
        self.root = root
        self.owner = owner
        self.closed = False

    def __enter__(self) -> LocalRemote:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def _path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def exec(
        self,
        command: str,
        *,
        stdout: Callable[[bytes], None] | None = None,
        stderr: Callable[[bytes], None] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> int:
        self.owner.before_exec(command)
        done = subprocess.run(
            ["sh", "-c", command],
            cwd=self.root,
            input=stdin or b"",
            capture_output=True,
            env={**os.environ, "HOME": str(self.root)},
            timeout=timeout,
            check=False,
        )
        if stdout and done.stdout:
            stdout(done.stdout)
        if stderr and done.stderr:
            stderr(done.stderr)
        return done.returncode

    def upload(self, local: str | Path, remote: str, *, progress: Any = None) -> None:
        source, target = Path(local), self._path(remote)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)

    def download(self, remote: str, local: str | Path, *, progress: Any = None) -> None:
        source, target = self._path(remote), Path(local)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)


class LocalContainers:
    """The remote factory: ``run_job(..., remote_factory=LocalContainers(tmp_path))``."""

    def __init__(self, base: Path, *, refuse_first: int = 0, drop_after: int | None = None) -> None:
        self.base = base
        self.refuse_first = refuse_first
        self.drop_after = drop_after  # raise ConnectionError on this exec (counted across connections)
        self.execs = 0
        self.connections = 0
        self.auths: list[SSHAuth] = []
        self.on_exec: Callable[[str], None] | None = None
        self.password: str | None = None  # set: a login with another password is refused

    def root(self, order_id: int) -> Path:
        path = self.base / f"order-{order_id}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def before_exec(self, command: str) -> None:
        self.execs += 1
        if self.drop_after is not None and self.execs == self.drop_after:
            raise ConnectionError("connection reset by peer")
        if self.on_exec is not None:
            self.on_exec(command)

    def __call__(self, order: Any, auth: SSHAuth) -> LocalRemote:
        assert order.ssh_host and order.ssh_port, "the order has an SSH endpoint"
        assert auth.password or auth.key_file, "a job always logs in with a password or a key"
        self.auths.append(auth)
        self.connections += 1
        if self.connections <= self.refuse_first:
            raise ConnectionRefusedError("connection refused")
        if self.password is not None and auth.password != self.password:
            from clore_ai.exceptions import RemoteLoginRefused

            raise RemoteLoginRefused(
                f"{order.ssh_host}:{order.ssh_port} refused the login: the password did not work"
            )
        return LocalRemote(self.root(order.id), self)
