"""plugins and sandbox: about clore itself."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._main import app_of, output_options
from ..formats import Column, Dataset


@click.command()
@output_options
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """Loaded plugins with their versions (and the ones that failed)."""
    app = app_of(ctx)
    rows = [
        {"name": n, "distribution": d, "version": v, "status": "loaded"}
        for n, d, v in app.host.distributions()
    ]
    rows += [
        {"name": n, "distribution": None, "version": None, "status": f"skipped: {why}"}
        for n, why in app.host.broken
    ]
    app.emit(
        Dataset(
            "Plugins",
            [
                Column("name", "Plugin"),
                Column("distribution", "Distribution"),
                Column("version", "Version"),
                Column("status", "Status"),
            ],
            rows,
            id_key="name",
            footer="Output formats: " + ", ".join(sorted(app.formats)),
        )
    )


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script: eval "$(clore completion bash)".

    Server ids, order ids, GPU names and images complete from what recent commands showed
    (a local cache), so pressing TAB never waits for the network.
    """
    from click.shell_completion import get_completion_class

    from .._main import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "clore", "_CLORE_COMPLETE").source())


@click.group()
def sandbox() -> None:
    """The offline sandbox used by `clore --sandbox`."""


@sandbox.command()
def reset() -> None:
    """Forget the sandbox account state (orders, balances) kept between runs."""
    from clore_ai.sandbox import FileStore

    store = FileStore()
    store.reset()
    click.echo(f"Sandbox state reset ({store.path})")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(plugins)
    cli.add_command(completion)
    cli.add_command(sandbox)
