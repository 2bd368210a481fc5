"""``python -m clore_cli`` runs the ``clore`` command."""

from ._main import run

run()
