"""A small local cache of ids seen in recent output, for shell completion (never the network)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MAX_ITEMS = 5000


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clore" / "completion.json"


_memo: dict[str, Any] = {"key": None, "data": {}}


def _read() -> dict[str, Any]:
    """The cache file, parsed once per change (completion calls this on every keystroke)."""
    path = cache_path()
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


def recall(kind: str) -> list[tuple[str, str]]:
    return [(str(v), str(h)) for v, h in _read().get(kind, []) if v is not None]


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
        return [CompletionItem(v, help=h) for v, h in recall(kind) if needle in v.lower()]

    return complete
