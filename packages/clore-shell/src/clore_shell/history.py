"""Shell history: a 0600 file that never keeps lines carrying secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path

from prompt_toolkit.history import FileHistory

# Lines that carry a secret on the command line are not written to the history file.
SECRET_LINE = re.compile(r"(api_key|--ssh-password|--jupyter-token|--env\b|auth\s+login)", re.IGNORECASE)


def history_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clore" / "shell_history"


class SafeHistory(FileHistory):
    def __init__(self, path: Path | None = None) -> None:
        target = path or history_path()
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not target.exists():
            target.touch(mode=0o600)
        os.chmod(target, 0o600)
        super().__init__(str(target))

    def store_string(self, string: str) -> None:
        if SECRET_LINE.search(string):
            return
        super().store_string(string)
