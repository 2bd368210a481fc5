"""Sandbox orders with a live SSH endpoint on 127.0.0.1, for the exec/copy/job tests.

In-process: the ``ssh_order`` fixture (tests/conftest.py) — ``Sandbox(ssh=True)`` with its
servers in a thread and one running order that takes :data:`SSH_PASSWORD` and the key in
``ssh_order.key_file`` (an :class:`SSHOrder`).

Child processes (``clore --sandbox ...``): :func:`cli_ssh_environment` gives them their own
home and state file with the SSH host process on, :func:`deploy_with_ssh` rents an order there
(:class:`CLIOrder`), :func:`stop_cli_ssh_host` stops the host process at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from clore_ai import CloreAI, Order
from clore_ai.remote import SSHTarget
from clore_ai.sandbox import Sandbox

SSH_PASSWORD = "sandbox-Pass-123"
SSH_KEY_ID = "clore-tests"
ORDER = {
    "server_id": 123,
    "image": "cloreai/ubuntu22.04-cuda12",
    "type": "on-demand",
    "currency": "bitcoin",
}


def make_key_pair(folder: Path) -> tuple[Path, str]:
    """An ed25519 key: (the private key file, 0600; the public key line)."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=SSH_KEY_ID)
    private = folder / "id_ed25519"
    fd = os.open(str(private), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    public = key.export_public_key().decode().strip()
    (folder / "id_ed25519.pub").write_text(public + "\n")
    return private, public


@dataclass
class SSHOrder:
    sandbox: Sandbox
    client: CloreAI
    api_key: str
    order: Order
    password: str
    key_file: Path

    @property
    def target(self) -> SSHTarget:
        """Logs in with the password."""
        return SSHTarget.from_order(self.order, password=self.password)

    @property
    def key_target(self) -> SSHTarget:
        """Logs in with the key."""
        return SSHTarget.from_order(self.order, key_file=self.key_file)

    @property
    def home(self) -> Path:
        """The order's container directory on this machine."""
        found = self.sandbox.ssh_home(self.api_key, self.order.id)
        assert found is not None
        return Path(found)


def cli_ssh_environment(folder: Path) -> dict[str, str]:
    """Environment for `clore --sandbox` child processes with their own home and state file in
    ``folder``, orders that run at once and the sandbox's SSH host process on (it exits 1 s
    after the last order ends). Stop the host at the end with :func:`stop_cli_ssh_host`."""
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "CLORE_SANDBOX_STATE": str(folder / "sandbox" / "state.json"),
        "CLORE_SANDBOX_SSH": "1",
        "CLORE_SANDBOX_DEPLOY_SECONDS": "0",
        "CLORE_SANDBOX_SSH_IDLE": "1",
        "CLORE_SANDBOX_SERVERS": "60",  # a small marketplace: quicker processes (server 123 is in it)
    }


def stop_cli_ssh_host(environment: dict[str, str]) -> None:
    from clore_ai.sandbox._sshd import DaemonSSHHost

    DaemonSSHHost(Path(environment["CLORE_SANDBOX_STATE"]).resolve()).stop()


CLORE = [sys.executable, "-m", "clore_cli", "--sandbox"]


def clore(
    environment: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``clore --sandbox ARGS`` as a child process (stdin: the text, else /dev/null)."""
    return subprocess.run(
        [*CLORE, *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


@dataclass
class CLIOrder:
    id: str
    port: int
    password_file: Path
    key_file: Path
    environment: dict[str, str]

    @property
    def state_file(self) -> Path:
        return Path(self.environment["CLORE_SANDBOX_STATE"])

    @property
    def host_dir(self) -> Path:
        """``<state file>.ssh``: the host process's files and the containers."""
        return self.state_file.with_name(self.state_file.name + ".ssh")

    @property
    def home(self) -> Path:
        """The order's container directory."""
        return next((self.host_dir / "containers").glob(f"*-{self.id}"))


def deploy_with_ssh(environment: dict[str, str], folder: Path, server: int = 123) -> CLIOrder:
    """``clore --sandbox deploy`` with :data:`SSH_PASSWORD` (read from stdin) and a new key."""
    key_file, _ = make_key_pair(folder)
    deployed = clore(
        environment,
        *f"deploy {server} --image cloreai/ubuntu --type on-demand --currency btc --yes -q".split(),
        "--ssh-password",
        "-",
        "--ssh-key",
        f"@{key_file}.pub",
        stdin=SSH_PASSWORD + "\n",
    )
    assert deployed.returncode == 0, deployed.stderr
    order_id = deployed.stdout.strip()
    password_file = folder / "password"
    password_file.write_text(SSH_PASSWORD + "\n")
    password_file.chmod(0o600)
    state = json.loads(Path(environment["CLORE_SANDBOX_STATE"]).read_text())
    orders = [o for account in state["accounts"].values() for o in account["orders"].values()]
    port = next(int(o["_ssh"]["port"]) for o in orders if str(o["id"]) == order_id)
    return CLIOrder(order_id, port, password_file, key_file, environment)
