"""clore_cli: the ``clore`` command and its plugin host.

Plugins import :data:`hookimpl` and, for output formats, :class:`clore_cli.formats.OutputFormat`.
``pluggy`` is imported when :data:`hookimpl` is first used, so ``clore --version`` needs none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    import pluggy

    hookimpl: pluggy.HookimplMarker

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("clore")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
