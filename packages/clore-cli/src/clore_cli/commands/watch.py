"""watch: one line per market event (an offer appears, a price drops, my spot bid is outbid)."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._errors import ExitCode
from .._main import app_of, output_options
from .._params import Seconds, UsdPerTime, shown
from .market import parse_query

LIVE_INTERVAL = 30.0
SANDBOX_INTERVAL = 2.0


def event_line(event: Any, as_json: bool) -> str:
    """``2026-11-24T22:41:05Z offer_appeared  server 6 (…) available at $0.0708/h``, or its JSON."""
    from ..formats import json_line, sanitize

    data = event.as_dict()
    if as_json:
        return json_line(data)
    return f"{data['at']} {event.kind:<15} {sanitize(event.message)}"


def parse_command(text: str | None) -> list[str] | None:
    """``--exec CMD`` split like a shell would (no shell runs it); the program must exist."""
    import shlex
    import shutil

    if text is None:
        return None
    try:
        argv = shlex.split(text)
    except ValueError as error:
        raise click.UsageError(f"cannot read --exec {shown(text)}: {error}") from None
    if not argv:
        raise click.UsageError("--exec needs a command")
    if shutil.which(argv[0]) is None:
        raise click.UsageError(f"--exec: no program {shown(argv[0])} found")
    return argv


def run_command(app: Any, argv: list[str], event: Any) -> None:
    """Run ``argv`` with the event in its environment; its output goes to stderr; never fatal."""
    import os
    import subprocess

    try:
        done = subprocess.run(
            argv,
            # CLORE_EVENT: the JSON line -o json prints (computed numbers to 15 digits)
            env={**os.environ, **event.environment(), "CLORE_EVENT": event_line(event, True)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        app.note(f"warning: --exec could not run {shown(argv[0])}: {error.strerror or error}")
        return
    for stream in (done.stdout, done.stderr):
        if stream:
            click.echo(stream.rstrip("\n"), err=True)
    if done.returncode != 0:
        app.note(f"warning: --exec {shown(argv[0])} exited with status {done.returncode}")


@click.command()
@click.argument("query", nargs=-1)
@click.option(
    "--below",
    type=UsdPerTime(),
    metavar="USD/h",
    help="Also fire when a matching offer's price drops under this: 0.30/h or 7/day (USD).",
)
@click.option(
    "--my-spot/--no-my-spot",
    default=True,
    show_default=True,
    help="Also fire when one of my spot orders is outbid.",
)
@click.option(
    "--initial",
    is_flag=True,
    help="Fire for what already matches at the first poll (default: it is the baseline).",
)
@click.option(
    "--exec", "command", metavar="CMD", help="Run CMD on each event (CLORE_EVENT etc. in its environment)."
)
@click.option("--once", is_flag=True, help="Exit after the first event.")
@click.option(
    "--interval", type=Seconds(min=1.0), help="Seconds between polls (default 30; 2 with --sandbox)."
)
@click.option(
    "--timeout", "limit", type=Seconds(), help="Stop after this many seconds; exit 11 if nothing fired."
)
@output_options
@click.pass_context
def watch(
    ctx: click.Context,
    query: tuple[str, ...],
    below: float | None,
    my_spot: bool,
    initial: bool,
    command: str | None,
    once: bool,
    interval: float | None,
    limit: float | None,
) -> None:
    """Watch the market: one line per event (JSON lines with -o json) until Ctrl-C.

    Events: an offer matching QUERY appears (freed, repriced into the query, or listed), a
    matching offer's price drops under --below, one of my spot orders is outbid. QUERY is the
    search query language: gpu=4090 gpus>=2 price<0.40 (price in USD per hour).
    """
    import time

    from clore_ai.watch import MarketWatch

    app = app_of(ctx)
    app.supports_output("clore watch", "json", hint=" (one JSON object per event)")
    parsed = parse_query(query)
    argv = parse_command(command)
    client = app.client()
    if my_spot and not app.sandbox and client.key_source is None:
        app.note("no API key: watching offers only (clore auth login to watch your spot orders)")
        my_spot = False
    market_watch = MarketWatch(
        parsed,
        below=None if below is None else below / 24,
        my_spot=my_spot,
        initial=initial,
        interval=interval or (SANDBOX_INTERVAL if app.sandbox else LIVE_INTERVAL),
        clock=app.now,  # events say the API's time: with --sandbox the sandbox's, as guard and spot-bid
    )
    timer = time.time  # --timeout and --interval are real seconds (looked up now, so tests can move time)
    until = None if limit is None else timer() + limit

    failures: list[Exception] = []

    def warn(error: Exception) -> None:
        failures[:] = [error]
        wait = market_watch.interval if until is None else min(market_watch.interval, until - timer())
        then = f"trying again in {wait:.3g} s" if wait > 0 else "no time left (--timeout)"
        app.note(f"warning: {error}; {then}")

    fired = 0
    try:
        for event in market_watch.run(client, sleep=time.sleep, until=until, on_error=warn, timer=timer):
            fired += 1
            click.echo(event.server_id if app.quiet else event_line(event, app.wants_json))
            if argv is not None:
                run_command(app, argv, event)
            if once:
                return
    except KeyboardInterrupt:
        app.note(f"stopped (Ctrl-C) after {fired} event{'s' if fired != 1 else ''}")
        ctx.exit(ExitCode.INTERRUPTED)
    if fired == 0:
        if failures and market_watch.previous is None:
            raise failures[0]  # the market was never read: the API's error and its exit code
        raise NoEvent(f"no event in {limit:g} s")


class NoEvent(click.ClickException):
    """watch --timeout passed without an event: exit 11, the error line (a JSON object with -o json)."""

    exit_code = ExitCode.NO_EVENT


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(watch)
