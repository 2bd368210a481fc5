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


def _quoting_bash() -> Any:
    """click's bash completion, with values that hold spaces or shell characters escaped
    (``RTX\\ 3090``): bash inserts a completion as typed text. zsh (compadd, _describe) and
    fish quote what they insert themselves, so their values go out unchanged."""
    import re

    from click.shell_completion import BashComplete, CompletionItem

    unsafe = re.compile(r"([^\w@%+=:,./-])")

    class QuotingBashComplete(BashComplete):
        # `read -r`: the script keeps the backslashes this class writes.
        source_template = BashComplete.source_template.replace(
            "IFS=',' read type value", "IFS=',' read -r type value"
        )

        def format_completion(self, item: CompletionItem) -> str:
            escaped = unsafe.sub(r"\\\1", str(item.value))
            return f"{item.type},{escaped}"

    return QuotingBashComplete


@hookimpl
def clore_register_commands(cli: Any) -> None:
    from click.shell_completion import add_completion_class

    add_completion_class(_quoting_bash(), "bash")
    cli.add_command(plugins)
    cli.add_command(completion)
    cli.add_command(sandbox)
