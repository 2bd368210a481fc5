"""A small local cache of ids seen in recent output, for shell completion (never the network)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MAX_ITEMS = 5000


_mode = {"sandbox": False}


def select(*, sandbox: bool) -> None:
    """Which cache this process's commands fill: the sandbox's ids and the live API's are kept apart."""
    _mode["sandbox"] = sandbox


def cache_path(sandbox: bool | None = None) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    use_sandbox = _mode["sandbox"] if sandbox is None else sandbox
    return Path(base) / "clore" / ("completion-sandbox.json" if use_sandbox else "completion.json")


_memo: dict[str, Any] = {"key": None, "data": {}}


def _read(sandbox: bool | None = None) -> dict[str, Any]:
    """The cache file, parsed once per change (completion calls this on every keystroke)."""
    path = cache_path(sandbox)
    try:
        stat = path.stat()
    except OSError:
        return {}
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if _memo["key"] != key:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        _memo["key"], _memo["data"] = key, data if isinstance(data, dict) else {}
    return _memo["data"]  # type: ignore[no-any-return]


def remember(kind: str, items: list[tuple[str, str]]) -> None:
    """Keep ``(value, description)`` pairs for ``kind`` ("servers", "orders", "gpus", "images")."""
    data = dict(_read())
    data[kind] = [list(item) for item in items[:MAX_ITEMS]]
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".completion-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # completion is a convenience; never fail a command over it


def remember_gpus(servers: list[Any]) -> None:
    """The GPU names of a marketplace listing, for ``--gpu`` completion.

    Thousands of servers share a few hundred ``gpu_array`` values: each distinct array is
    flattened once (reading ``gpu_names`` of every server cost ~7 ms of a 5,000-server search).
    """
    names: set[str] = set()
    seen: set[tuple[Any, ...]] = set()
    for server in servers:
        array = server.gpu_array
        if array:
            key = tuple(array)
            try:
                if key in seen:
                    continue
                seen.add(key)
            except TypeError:  # nested lists (some answers carry them) are not hashable
                pass
        names.update(server.gpu_names)
    remember("gpus", sorted((name, "GPU") for name in names))


def recall(kind: str, sandbox: bool | None = None) -> list[tuple[str, str]]:
    return [(str(v), str(h)) for v, h in _read(sandbox).get(kind, []) if v is not None]


def _sandbox_of(ctx: Any) -> bool | None:
    """Whether the command being completed uses the sandbox: ``--sandbox`` on the line, or the
    shell's session; None (this process's mode) when neither tells."""
    if ctx is None:
        return None
    root = ctx.find_root()
    if root.params.get("sandbox"):
        return True
    holder = root.obj
    app = getattr(holder, "app", None)
    if app is not None:
        return bool(app.sandbox)
    return False


CURRENCY_CHOICES = [
    ("bitcoin", "BTC"),
    ("CLORE-Blockchain", "CLORE"),
    ("USD-Blockchain", "USDT-backed"),
    ("btc", "bitcoin"),
    ("clore", "CLORE-Blockchain"),
    ("usd", "USD-Blockchain"),
]


def complete_currency(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    return [
        CompletionItem(v, help=h) for v, h in CURRENCY_CHOICES if v.lower().startswith(incomplete.lower())
    ]


def completer(kind: str) -> Any:
    """A click ``shell_complete`` callback offering cached values of ``kind``."""

    def complete(ctx: Any, param: Any, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        needle = incomplete.lower()
        found = recall(kind, _sandbox_of(ctx))
        return [CompletionItem(v, help=h) for v, h in found if needle in v.lower()]

    return complete
