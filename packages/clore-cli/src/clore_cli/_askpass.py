"""Hand a password to OpenSSH without putting it in argv or the environment.

OpenSSH reads passwords from the terminal or from an ``SSH_ASKPASS`` program. We write the
password to a 0600 file in a fresh 0700 directory and point ``SSH_ASKPASS`` at a two-line
shell script beside it that prints the file and deletes it on the first password prompt (any
other prompt gets no answer). The environment only names the file; ssh runs as a child of
clore, and the directory is removed when it ends, whether or not ssh asked. (OpenSSH closes
every inherited descriptor above stderr, so a pipe cannot carry the password to the helper.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

__all__ = ["askpass_environment"]

_SCRIPT = """#!/bin/sh
case "$1" in
  *assword*|*ASSWORD*) cat "$CLORE_ASKPASS_FILE" && rm -f "$CLORE_ASKPASS_FILE" ;;
  *) exit 1 ;;
esac
"""


@contextlib.contextmanager
def askpass_environment(password: str) -> Iterator[dict[str, str]]:
    """Environment variables for an ``ssh`` child that answers its password prompt with ``password``."""
    folder = tempfile.mkdtemp(prefix="clore-askpass-")
    try:
        secret = os.path.join(folder, "password")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        script = os.path.join(folder, "askpass")
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_SCRIPT)
        yield {
            "SSH_ASKPASS": script,
            "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": os.environ.get("DISPLAY", ":0"),
            "CLORE_ASKPASS_FILE": secret,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
