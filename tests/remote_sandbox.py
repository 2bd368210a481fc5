"""Sandbox orders with a live SSH endpoint on 127.0.0.1, for the exec/copy/job tests.

Fixtures (in tests/conftest.py): ``ssh_order`` — an in-process sandbox (``Sandbox(ssh=True)``,
servers in a thread) with one running order that takes :data:`SSH_PASSWORD` and the key in
``ssh_order.key_file``; ``cli_ssh_state`` — ``clore --sandbox`` in this test's own state file
with the SSH host process on (stopped at teardown).
"""

from __future__ import annotations

import os
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
