"""Shell history: a 0600 file that never keeps lines carrying secrets.

A line is judged on its words as the command parser sees them (shell-style splitting, so
``--ssh-""password`` is ``--ssh-password``), and also on a lenient split with quotes removed
(so an unparseable line with an unbalanced quote is judged too). A line is dropped when a word
is a secret option or a prefix of one (``--env``, ``--en``, ``--ssh-password=...``), names the
api key setting, is ``auth login``, or contains anything that looks like a known API key
(the current client's or a stored profile's; compared in memory, never printed).

Looks like a key: with invisible characters removed from the line and the key (format
characters such as a zero-width space or a soft hyphen, every kind of space, control
characters), the line shares a run of :func:`key_run` characters with the key — 12, or
75 % of a shorter key (at least 6, or the whole key when it is shorter still). A key pasted
with a zero-width space inside, or missing its last character, is still caught; random
keys share no such run with ordinary command lines.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import unicodedata
from pathlib import Path
from typing import Callable, Iterable

from prompt_toolkit.history import FileHistory

from ._lineopts import MAX_LINE

# Long options that carry a secret (plus those found in the command tree, see secret_options()).
SECRET_OPTIONS = frozenset(
    {"--ssh-password", "--jupyter-token", "--env", "--api-key", "--password", "--token"}
)
_SECRET_NAME = re.compile(r"password|token|secret|api.?key|^-*envs?$", re.IGNORECASE)
_QUOTES = re.compile(r"[\"'\\]")
_SHORTEST_PREFIX = 3  # "--e" already counts as a prefix of "--env"

_found: tuple[frozenset[str], frozenset[str]] | None = None


def secret_options() -> tuple[frozenset[str], frozenset[str]]:
    """(long, short) option strings of the command tree (plugins included) that carry secrets."""
    global _found
    if _found is None:
        long_opts: set[str] = set(SECRET_OPTIONS)
        short_opts: set[str] = set()
        try:
            import click

            from clore_cli._main import _host, cli

            _host()
            stack: list[object] = [cli]
            while stack:
                command = stack.pop()
                for param in getattr(command, "params", []):
                    if not isinstance(param, click.Option):
                        continue
                    opts = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
                    secret = getattr(param, "hide_input", False) or any(_SECRET_NAME.search(o) for o in opts)
                    secret = secret or bool(param.name and _SECRET_NAME.search(param.name))
                    if secret and opts:
                        long_opts.update(o.lower() for o in opts if o.startswith("--"))
                        short_opts.update(o for o in opts if not o.startswith("--"))
                stack.extend(getattr(command, "commands", {}).values())
        except Exception:  # noqa: BLE001 - the static list still applies
            pass
        _found = (frozenset(long_opts), frozenset(short_opts))
    return _found


def _secret_word(word: str, long_opts: frozenset[str], short_opts: frozenset[str]) -> bool:
    lowered = word.lower()
    normalized = lowered.replace("-", "_")
    if "api_key" in normalized or "apikey" in normalized:
        return True
    if lowered.startswith("--"):
        name = lowered.split("=", 1)[0]
        if len(name) >= _SHORTEST_PREFIX and any(option.startswith(name) for option in long_opts):
            return True
        return any(name.startswith(option) for option in long_opts)
    if word.startswith("-") and len(word) >= 2:
        return any(f"-{letter}" in short_opts for letter in word[1:])
    return False


def _judge(words: list[str], keys: list[str]) -> bool:
    long_opts, short_opts = secret_options()
    lowered = [w.lower() for w in words]
    if "auth" in lowered and "login" in lowered:
        return True
    if any(_secret_word(word, long_opts, short_opts) for word in words):
        return True
    return any(key in word for key in keys for word in words)


_LONG_RUN = 12
_SHORTEST_RUN = 6


def _visible(text: str) -> str:
    """``text`` without format characters (Cf), spaces (Z*) and control characters (Cc)."""
    return "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc", "Zs", "Zl", "Zp"))


def key_run(length: int) -> int:
    """How many characters in a row a line must share with a key of ``length`` to look like it."""
    return min(length, max(_SHORTEST_RUN, min(_LONG_RUN, math.ceil(0.75 * length))))


def _looks_like_a_key(line: str, keys: list[str]) -> bool:
    seen = _visible(line)
    for raw in keys:
        key = _visible(raw)
        if not key:
            continue
        run = key_run(len(key))
        if any(key[i : i + run] in seen for i in range(len(key) - run + 1)):
            return True
    return False


def is_secret_line(line: str, keys: Iterable[str] = ()) -> bool:
    """True when the line must not be written to the history file."""
    known = [key for key in keys if key]
    if any(key in line for key in known) or _looks_like_a_key(line, known):
        return True
    lenient = _QUOTES.sub("", line).split()
    if _judge(lenient, known):
        return True
    try:
        words = shlex.split(line)
    except ValueError:
        return False  # judged above on the lenient split
    return _judge(words, known)


def history_path(sandbox: bool = False) -> Path:
    """The live API's shell history, or the sandbox's (kept apart: no sandbox line recalled live)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clore" / ("sandbox_shell_history" if sandbox else "shell_history")


class SafeHistory(FileHistory):
    def __init__(self, path: Path | None = None, known_keys: Callable[[], list[str]] | None = None) -> None:
        target = path or history_path()
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not target.exists():
            target.touch(mode=0o600)
        os.chmod(target, 0o600)
        self._known_keys = known_keys or (lambda: [])
        super().__init__(str(target))

    def store_string(self, string: str) -> None:
        if len(string) > MAX_LINE:
            return
        try:
            keys = self._known_keys()
        except Exception:  # noqa: BLE001 - without the keys, keep the line out to be safe
            return
        if is_secret_line(string, keys):
            return
        super().store_string(string)
