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
    """Loaded plugins with their versions (and the ones that failed or had a name refused)."""
    app = app_of(ctx)
    rows = [
        {"name": n, "distribution": d, "version": v, "status": app.host.status(n)}
        for n, d, v in app.host.distributions()
    ]
    rows += [
        {"name": n, "distribution": d, "version": v, "status": status}
        for n, d, v, status in app.host.not_loaded()
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
    """Forget the sandbox state: accounts (orders, balances), time line, market setting, journals.

    The journals are what clore kept about the sandbox's orders and jobs (order, rent and job
    journals, guard states, completions); the live API's are never touched."""
    from clore_ai.sandbox import FileStore, RateLimits, Sandbox

    from .._app import sandbox_journal_paths

    store = FileStore()
    Sandbox(servers=3, store=store, rate_limits=RateLimits.off(), ssh=False).reset()
    click.echo(f"Sandbox state reset ({store.path})")
    for path in sandbox_journal_paths():
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            click.echo(f"warning: cannot delete {path}: {error.strerror}", err=True)
            continue
        click.echo(f"Forgot {path}")


STATUS_COLUMNS = [
    Column("state_file", "State file"),
    Column("time", "Sandbox time"),
    Column("speed", "Speed", fmt="{:g}x"),
    Column("ahead_seconds", "Ahead of the clock (s)", fmt="{:,.0f}", derived=True),
    Column("market", "Market"),
    Column("seed", "Market seed"),
    Column("epoch_seconds", "Market step (s)", fmt="{:g}"),
    Column("epoch", "Market epoch"),
]


def _cli_sandbox() -> Any:
    """The sandbox `clore --sandbox` uses, with this process's CLORE_SANDBOX_* settings."""
    from clore_ai.sandbox import FileStore, RateLimits, Sandbox

    from .._app import sandbox_market_from_environment

    market, speed = sandbox_market_from_environment()
    return Sandbox(servers=3, store=FileStore(), rate_limits=RateLimits.off(), market=market, speed=speed)


def _emit_status(ctx: click.Context, sandbox: Any) -> None:
    from datetime import datetime, timezone

    info = sandbox.market_status()
    motion = info["motion"]
    row = {
        "state_file": str(sandbox.store.path),
        "time": datetime.fromtimestamp(info["now"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "timestamp": info["now"],
        "speed": info["speed"],
        "ahead_seconds": info["offset"],
        "market": "moving" if motion else "still",
        "seed": motion["seed"] if motion else None,
        "epoch_seconds": motion["epoch_seconds"] if motion else None,
        "epoch": info["epoch"],
    }
    app_of(ctx).emit(Dataset("Sandbox", STATUS_COLUMNS, [row], id_key="state_file", vertical=True))


@sandbox.command()
@output_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """The sandbox's time, speed and market (still or moving), and where its state is kept."""
    _emit_status(ctx, _cli_sandbox())


def _speed_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from clore_ai.sandbox import speed_from_text

    try:
        return None if value is None else speed_from_text(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@sandbox.command()
@click.argument("setting", required=False, metavar="[still|moving|moving:SEED]")
@click.option("--seed", type=int, help="The moving market's seed (the same seed, the same market).")
@click.option(
    "--speed",
    callback=_speed_option,
    metavar="X",
    help="Sandbox seconds per real second, e.g. 60: an hour of market in a minute (1: real time).",
)
@output_options
@click.pass_context
def market(ctx: click.Context, setting: str | None, seed: int | None, speed: float | None) -> None:
    """Make the sandbox market move or stand still, and set how fast its time runs.

    Moving: other renters take and free servers, prices drift, rival spot bids come and go.
    The setting is kept in the state file for every later `clore --sandbox` command. Without
    arguments: the current setting.

    CLORE_SANDBOX_MARKET and CLORE_SANDBOX_SPEED override it for one process.
    """
    import dataclasses

    from clore_ai.sandbox import MarketMotion, market_from_text

    sandbox = _cli_sandbox()
    if setting is None and seed is None and speed is None:
        _emit_status(ctx, sandbox)
        return
    current = sandbox.market_status()
    try:
        motion = market_from_text(setting) if setting is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SETTING") from None
    if setting is None and current["motion"]:
        motion = MarketMotion.from_json(current["motion"])
    if seed is not None:
        if motion is None:
            raise click.UsageError("--seed is for a moving market: clore sandbox market moving --seed N")
        motion = dataclasses.replace(motion, seed=seed)
    sandbox.configure_market(motion, speed=speed if speed is not None else current["speed"])
    _emit_status(ctx, sandbox)


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_ADVANCE = 366 * 86400


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    import re

    match = re.fullmatch(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)([smhd]?)", value.strip().lower())
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else -1.0
    if not 0 < seconds <= MAX_ADVANCE:
        raise click.BadParameter(
            f"{value[:40]!r} is not a duration like 90, 90s, 15m, 2h or 1d (at most 366 days)"
        )
    return seconds


@sandbox.command()
@click.argument("duration", callback=_duration, metavar="DURATION")
@output_options
@click.pass_context
def advance(ctx: click.Context, duration: float) -> None:
    """Jump the sandbox's time forward by DURATION: 90, 90s, 15m, 2h or 1d.

    For every later `clore --sandbox` command: orders age and spend, a moving market moves on.
    """
    sandbox = _cli_sandbox()
    sandbox.advance(duration)
    _emit_status(ctx, sandbox)


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
