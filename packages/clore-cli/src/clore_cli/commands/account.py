"""wallets, auth and config: the account and its key (never echoed, never in argv if avoidable)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .. import hookimpl
from .._main import app_of, output_options
from ..formats import Column, Dataset


@click.command()
@output_options
@click.pass_context
def wallets(ctx: click.Context) -> None:
    """Wallet balances and deposit addresses."""
    app = app_of(ctx)
    rows = [
        {"currency": w.name, "balance": w.balance, "deposit": w.deposit, "withdrawal_fee": w.withdrawal_fee}
        for w in app.client().wallets()
    ]
    app.emit(
        Dataset(
            "Wallet balances",
            [
                Column("currency", "Currency"),
                Column("balance", "Balance", "right", "{:.8f}"),
                Column("deposit", "Deposit address"),
            ],
            rows,
            id_key="currency",
        )
    )


def _verify_and_store(app: Any, key: str, *, insecure_storage: bool) -> None:
    from clore_ai import CloreAI, credentials

    key = key.strip()
    if not key or any(c.isspace() for c in key):
        raise click.UsageError("an API key cannot be empty or contain spaces")
    with CloreAI(api_key=key) as client:  # a cheap call first: never store a key that does not work
        client.wallets()
    stored = credentials.store_api_key(
        key, profile=app.profile, allow_file=insecure_storage or sys.stdin.isatty()
    )
    where = "the system keyring" if stored.location == "keyring" else str(stored.path)
    if stored.warning:
        app.note(f"warning: {stored.warning}")
    click.echo(f"Key {credentials.mask(key)} verified and stored in {where} (profile {app.profile})")


@click.group()
def auth() -> None:
    """Log in, check and forget the API key (kept in the OS keyring)."""


@auth.command()
@click.option("--with-key", is_flag=True, help="Read the key from standard input (for scripts).")
@click.option("--insecure-storage", is_flag=True, help="Allow the 0600 config file when no keyring works.")
@click.pass_context
def login(ctx: click.Context, with_key: bool, insecure_storage: bool) -> None:
    """Store an API key after checking it with the API. The key is never an argument."""
    app = app_of(ctx)
    if with_key or not sys.stdin.isatty():
        key = sys.stdin.readline()
    else:
        key = click.prompt("API key (from clore.ai → API)", hide_input=True, err=True)
    _verify_and_store(app, key, insecure_storage=insecure_storage)


@auth.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Where the key comes from, showing only its last 4 characters."""
    from clore_ai import credentials

    app = app_of(ctx)
    found = credentials.resolve_api_key(profile=app.profile)
    if found is None:
        raise click.ClickException(f"no API key for profile {app.profile}; run `clore auth login`")
    click.echo(f"Profile {app.profile}: key {found.masked} from {found.source}")


@auth.command()
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Forget the stored key of this profile."""
    from clore_ai import credentials

    app = app_of(ctx)
    removed = credentials.delete_api_key(profile=app.profile)
    click.echo(
        f"Removed the key of profile {app.profile} from {' and '.join(removed)}"
        if removed
        else f"No stored key for profile {app.profile}"
    )


@click.group()
def config() -> None:
    """Read and write ~/.clore/config.json (api_key goes to the keyring)."""


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.pass_context
def config_set(ctx: click.Context, key: str, value: str) -> None:
    """Set KEY to VALUE. For api_key, VALUE '-' reads the key from standard input."""
    from clore_ai import credentials

    app = app_of(ctx)
    if key == "api_key":
        secret = sys.stdin.readline() if value == "-" else value
        stored = credentials.store_api_key(secret.strip(), profile=app.profile)
        if stored.warning:
            app.note(f"warning: {stored.warning}")
        click.echo(f"✓ Set api_key = {credentials.mask(secret.strip())} ({stored.location})")
        return
    data = credentials.read_config()
    data[key] = value
    credentials.write_config(data)
    click.echo(f"✓ Set {key} = {value}")


@config.command("get")
@click.argument("key")
def config_get(key: str) -> None:
    """Print one setting (api_key masked)."""
    from clore_ai import credentials

    if key == "api_key":
        found = credentials.resolve_api_key()
        click.echo(f"api_key = {found.masked} ({found.source})" if found else "! api_key not set")
        return
    value = credentials.read_config().get(key)
    click.echo(f"{key} = {value}" if value not in (None, "") else f"! {key} not set")


@config.command("show")
def config_show() -> None:
    """Print the whole configuration (keys masked)."""
    from clore_ai import credentials

    data = credentials.read_config()
    if not data:
        click.echo("No configuration found")
        return

    def masked(value: Any, name: str = "") -> Any:
        if isinstance(value, dict):
            return {k: masked(v, k) for k, v in value.items()}
        return credentials.mask(value) if name == "api_key" and isinstance(value, str) else value

    click.echo(json.dumps(masked(data), indent=2, sort_keys=True))


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (wallets, auth, config):
        cli.add_command(command)
