"""wallets, auth and config: the account and its key (never echoed, never in argv if avoidable)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from .. import hookimpl
from .._errors import BadInput
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
                Column("balance", "Balance", "right", no_wrap=True, coin_key="currency"),
                Column("deposit", "Deposit address"),
            ],
            rows,
            id_key="currency",
        )
    )


class AuthFailure(click.ClickException):
    exit_code = 4


# Keys that hold the file's structure: `config set` would corrupt it.
RESERVED_CONFIG_KEYS = ("profiles",)
# The settings clore reads from the file; `config set` refuses any other (it would be ignored).
CONFIG_KEYS = ("api_key",)


def _clean_key(raw: str) -> str:
    """The key as typed or piped, checked before anything is sent or stored.

    Whitespace around it (the newline of a paste) is dropped; a space, line break, invisible
    or non-ASCII character inside is refused with its position, never the key.
    """
    from clore_ai import credentials

    problem = credentials.api_key_problem(raw)
    if problem is not None:
        del raw  # not in this frame's locals when the error leaves
        raise BadInput(problem)
    return raw.strip()


def _read_key_line() -> str:
    try:
        return sys.stdin.readline()
    except UnicodeDecodeError:
        raise BadInput("the API key on standard input is not UTF-8 text; copy it again") from None


def _store_with_consent(app: Any, key: str, *, insecure_storage: bool) -> str:
    """Store in the keyring; plain text only with --insecure-storage or a "yes" at a terminal.

    Returns where the key went. Without a working keyring and without consent, nothing is
    stored and the command exits 4 (reliability.md §21).
    """
    from clore_ai import KeyringUnavailableError, credentials

    try:
        credentials.store_api_key(key, profile=app.profile, allow_file=False)
        return "the system keyring"
    except KeyringUnavailableError as error:
        reason = error.reason
    path = credentials.config_path()
    if not insecure_storage:
        from .._consent import at_a_terminal

        if not at_a_terminal():
            raise AuthFailure(
                f"no keyring could store the key ({reason}); nothing was stored. Re-run with "
                f"--insecure-storage to keep it in plain text in {path} (mode 0600), or set CLORE_API_KEY"
            )
        app.note(f"No keyring could store the key ({reason}).")
        if not click.confirm(f"Store it in plain text in {path} (mode 0600)?", default=False, err=True):
            raise AuthFailure("nothing was stored; set CLORE_API_KEY or install a keyring backend")
    stored = credentials.store_api_key(key, profile=app.profile, use_keyring=False)
    app.note(f"warning: the key is stored in plain text in {stored.path} (mode 0600)")
    return str(stored.path)


def _verify_and_store(app: Any, key: str, *, insecure_storage: bool) -> None:
    from clore_ai import AuthError, credentials

    key = _clean_key(key)
    with app.client_for_key(key) as client:  # a cheap call first: never store a key that does not work
        try:
            client.wallets()
        except AuthError:
            raise NoKey(
                f"the API rejected the key {credentials.mask(key)}; nothing was stored. Copy it again "
                "from clore.ai (Account → API) and run this again"
            ) from None
    where = _store_with_consent(app, key, insecure_storage=insecure_storage)
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
        key = _read_key_line()
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
        from .._app import login_command

        login = login_command(app.profile)
        raise NoKey(f"no API key for profile {app.profile}; run `{login}`")
    click.echo(f"Profile {app.profile}: key {found.masked} from {found.source}")


class NoKey(click.ClickException):
    """docs/cli.md: exit 4 = no API key."""

    exit_code = 4


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


@click.command()
@output_options
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """Stored profiles: name, key (last 4 characters only), where it is kept, which one is in use."""
    from clore_ai import credentials

    from .._app import known_profiles

    app = app_of(ctx)
    env_key = os.environ.get(credentials.ENV_KEY)
    rows = []
    for name in known_profiles():
        try:
            found = credentials.stored_api_key(name)
            key, where = (found.masked, found.source) if found else ("-", "no key stored")
        except Exception as error:  # noqa: BLE001 - one damaged entry does not hide the others
            key, where = "?", f"unreadable: {type(error).__name__}"
        if env_key and credentials.environment_key_applies(name):
            where += f" (overridden by {credentials.ENV_KEY})"
        rows.append(
            {
                "profile": name,
                "key": key,
                "stored_in": where,
                "default": name == credentials.DEFAULT_PROFILE,
                "current": name == app.profile,
            }
        )
    footer = None
    if env_key:
        footer = (
            f"{credentials.ENV_KEY} is set (key {credentials.mask(env_key)}): the default profile uses it; "
            "a named profile uses its own stored key"
        )
    app.emit(
        Dataset(
            "Profiles",
            [
                Column("profile", "Profile"),
                Column("key", "Key"),
                Column("stored_in", "Stored in"),
                Column("default", "Default"),
                Column("current", "Current"),
            ],
            rows,
            id_key="profile",
            footer=footer,
        )
    )


@click.group()
def config() -> None:
    """Read and write ~/.clore/config.json (api_key goes to the keyring).

    A damaged file is an error (exit 4) naming it; `config set` and `auth login` keep a
    damaged file as config.json.bak-<time> (mode 0600) before writing a repaired one.
    """


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.option(
    "--insecure-storage", is_flag=True, help="For api_key: allow the 0600 file when no keyring works."
)
@click.pass_context
def config_set(ctx: click.Context, key: str, value: str, insecure_storage: bool) -> None:
    """Set KEY to VALUE. For api_key, VALUE '-' reads the key from standard input.

    KEY is a setting clore reads: api_key. Any other key is refused (it would be ignored);
    `profiles` holds the other profiles' keys (use --profile with auth login).
    """
    from clore_ai import credentials

    app = app_of(ctx)
    if key == "api_key":
        secret = _clean_key(_read_key_line() if value == "-" else value)
        where = _store_with_consent(app, secret, insecure_storage=insecure_storage)
        click.echo(f"✓ Set api_key = {credentials.mask(secret)} ({where})")
        return
    if key in RESERVED_CONFIG_KEYS or not key.strip():
        raise BadInput(
            f"{key!r} cannot be set with `clore config set`: it would damage the file's structure "
            "(a profile's key is set with: clore --profile NAME auth login)"
        )
    if key not in CONFIG_KEYS:
        raise BadInput(
            f"{key!r} is not a setting clore reads; nothing was written (settings: {', '.join(CONFIG_KEYS)}; "
            "profiles: clore --profile NAME auth login)"
        )
    data = credentials.read_config_for_update()
    data[key] = value
    credentials.write_config(data)
    click.echo(f"✓ Set {key} = {value}")


@config.command("get")
@click.argument("key")
@click.pass_context
def config_get(ctx: click.Context, key: str) -> None:
    """Print one setting (api_key masked: the key of --profile, wherever it comes from)."""
    from clore_ai import credentials

    if key == "api_key":
        found = credentials.resolve_api_key(profile=app_of(ctx).profile)
        click.echo(f"api_key = {found.masked} ({found.source})" if found else "! api_key not set")
        return
    value = credentials.read_config().get(key)  # a damaged file is said first, as by every command
    if key not in CONFIG_KEYS:
        raise BadInput(f"{key!r} is not a setting clore reads (settings: {', '.join(CONFIG_KEYS)})")
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
    for command in (wallets, auth, config, profiles):
        cli.add_command(command)
    auth.add_command(profiles, "list")  # `clore auth list`: the same table
