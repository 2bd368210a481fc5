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
    from clore_ai._gcpause import gc_paused

    # Start-up (click, the command tree, the plugins) makes tens of thousands of objects that
    # live as long as the process; the collector would scan them ~40 times meanwhile (~5 ms).
    with gc_paused():
        from ._main import _host, prepare_process
        from ._main import run as run_command

        prepare_process()  # before the plugins load: they may print a warning
        _host()
    run_command()
