"""The hooks a clore plugin can implement (pluggy project ``clore``).

A plugin is a module or object with functions decorated by :data:`clore_cli.hookimpl`,
registered through the ``clore`` entry-point group::

    [project.entry-points.clore]
    my_plugin = "my_package.plugin"

The built-in commands and output formats are registered through these same hooks, first.
Each plugin's hooks register into a staging area, committed only when all of them succeed: a
plugin whose hook raises is skipped whole, and a name a built-in or an earlier plugin already
holds is refused (docs/plugins.md, "When something goes wrong").
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("clore")


@hookspec
def clore_register_commands(cli: Any) -> None:
    """Add commands to the root ``clore`` click group: ``cli.add_command(my_command)``.

    ``cli`` is a staging group holding only this plugin's commands; they join ``clore`` when
    all of the plugin's hooks have succeeded."""


@hookspec
def clore_register_output_formats() -> Any:
    """Return a list of :class:`clore_cli.formats.OutputFormat` subclasses, each with a unique ``name``."""
