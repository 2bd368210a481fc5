"""The ``clore`` script's entry point: ``clore --version`` answers before anything is loaded.

Everything else goes to :func:`clore_cli._main.run` (click, the plugins, the commands).
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:  # the line click prints, without click or the plugins
        from ._version import __version__

        sys.stdout.write(f"clore, version {__version__}\n")
        sys.exit(0)
    from ._main import run as run_command

    run_command()
