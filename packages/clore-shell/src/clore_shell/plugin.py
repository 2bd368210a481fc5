"""Registers ``clore shell`` through the same hook as every other plugin."""

from __future__ import annotations

from typing import Any

import click

from clore_cli import hookimpl


class ShellCommand(click.Command):
    hidden_in_shell = True  # not in the shell's help nor its completion: it cannot run there


@click.command(cls=ShellCommand)
@click.pass_context
def shell(ctx: click.Context) -> None:
    """Interactive shell: every command, completion as you type, history (Ctrl-D leaves)."""
    from clore_cli._app import UnknownProfile, unknown_profile_message
    from clore_cli._main import app_of

    from ._repl import run_shell

    app = app_of(ctx)
    unknown = unknown_profile_message(app.profile)
    if unknown:  # a mistyped --profile: said now, not at the first command
        raise UnknownProfile(unknown)
    ctx.exit(run_shell(app))


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(shell)
