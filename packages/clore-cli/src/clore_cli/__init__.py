"""clore_cli: the ``clore`` command and its plugin host.

Plugins import :data:`hookimpl` and, for output formats, :class:`clore_cli.formats.OutputFormat`.
"""

import pluggy

from ._version import __version__

hookimpl = pluggy.HookimplMarker("clore")

__all__ = ["__version__", "hookimpl"]
