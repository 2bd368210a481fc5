"""clore_shell: the ``clore shell`` REPL, registered as a clore plugin."""

from ._version import __version__

__all__ = ["__version__"]
