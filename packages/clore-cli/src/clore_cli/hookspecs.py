"""The hooks a clore plugin can implement (pluggy project ``clore``).

A plugin is a module or object with functions decorated by :data:`clore_cli.hookimpl`,
registered through the ``clore`` entry-point group::

    [project.entry-points.clore]
    my_plugin = "my_package.plugin"

The built-in commands and output formats are registered through these same hooks.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("clore")


@hookspec
def clore_register_commands(cli: Any) -> None:
    """Add commands to the root ``clore`` click group: ``cli.add_command(my_command)``."""


@hookspec
def clore_register_output_formats() -> Any:
    """Return a list of :class:`clore_cli.formats.OutputFormat` subclasses, each with a unique ``name``."""
