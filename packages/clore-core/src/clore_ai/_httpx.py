"""Import httpx without its command-line client.

``httpx/__init__`` imports ``httpx._main`` (the ``httpx`` command: click, rich, pygments)
whenever those are installed, as they are next to the ``clore`` command: ~35 ms of every
``import clore_ai`` for a module the SDK never uses. While httpx is first imported,
``httpx._main`` is marked absent, so httpx keeps its stub ``main``; the mark is removed
afterwards, so ``import httpx._main`` still works for whoever wants it.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    _blocked = "httpx._main" not in sys.modules
    if _blocked:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if _blocked and "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]
