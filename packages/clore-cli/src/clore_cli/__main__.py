"""``python -m clore_cli`` runs the ``clore`` command."""

from ._entry import run

run()
