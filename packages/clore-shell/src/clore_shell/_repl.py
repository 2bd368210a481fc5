"""The read-eval-print loop: every line goes through the same click tree as `clore`."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from functools import partial
from typing import Any, Callable, Iterable, TextIO

import click
from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.shortcuts import clear as clear_screen

from clore_cli._main import cli, new_app_holder, run_args

from ._lineopts import (
    MAX_LINE,
    asks_for_help,
    parse_root,
    redirection,
    run_with_root_options,
    without_clore,
)
from .completer import BoundedAutoSuggest, CloreCompleter
from .history import SafeHistory, history_path, is_secret_line
from .keybindings import shell_key_bindings
from .toolbar import SessionState, start_refresher, toolbar_text

EXIT = -1
SHELL_HELP = """Shell commands:
  help                 this text and the commands below
  use PROFILE          switch to another stored API key (see: profiles)
  set output FORMAT    default output for the session (table, json, csv, ...)
  clear                clear the screen (also Ctrl-L)
  exit [N], quit       leave (exit N: with status N; also Ctrl-D)
  Ctrl-C               clear the line, or stop the running command
Every other line is a clore command line; a leading `clore` may be left out.
Options of clore itself (--profile NAME, --debug, ...) apply to their line only.
Pipes and redirection (| > >> <) are not supported: use your system shell.
"""
# Commands after which the toolbar's balance and order count are fetched again.
CHANGES_ACCOUNT = frozenset({"deploy", "cancel", "spot-price", "auth", "config", "guard"})


class LeaveShell(Exception):
    """``exit N``: leave the shell with status N."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _profiles() -> list[str]:
    from clore_cli._app import known_profiles

    return known_profiles()


def prompt_text(app: Any) -> str:
    """The prompt names the API and the profile a line uses: ``clore[sandbox]> ``,
    ``clore[live:work]> ``, or ``clore[work@127.0.0.1:8080]> `` for the API ``CLORE_API_URL`` names."""
    api = app.api_name
    if api == "sandbox":
        return "clore[sandbox]> "
    return f"clore[live:{app.profile}]> " if api == "live" else f"clore[{app.profile}@{api}]> "


def known_keys(app: Any) -> list[str]:
    """Keys a history line must not contain: the current client's and every stored profile's.

    Used only for comparison in memory; never printed or logged.
    """
    import os

    from clore_ai import credentials

    keys: list[str] = []
    client = app._client
    resolved = getattr(client, "_resolved", None) if client is not None else None
    if resolved is not None:
        keys.append(resolved.secret.reveal())
    keys.append(os.environ.get(credentials.ENV_KEY) or "")
    try:
        data = credentials.read_config()
    except Exception:  # noqa: BLE001 - an unreadable config has no keys to compare
        data = {}
    keys.append(data.get("api_key") or "")
    for entry in (data.get("profiles") or {}).values():
        if isinstance(entry, dict):
            keys.append(entry.get("api_key") or "")
    return [key for key in keys if isinstance(key, str) and len(key) >= 8]


def run_line(line: str, holder: Any, state: SessionState | None = None) -> int:
    """Run one shell line; return its exit status (EXIT to leave; ``exit N`` raises LeaveShell).

    ``state``: the toolbar's, refreshed after ``use`` and after commands that change the account.
    """
    status = _run_line(line, holder)
    if state is not None and (status == _REFRESH or _changes_account(line)):
        state.refresh_soon(clear=status == _REFRESH)
    return 0 if status == _REFRESH else status


_REFRESH = -2  # `use` succeeded: the toolbar forgets the old profile's balance


def _changes_account(line: str) -> bool:
    try:
        words = without_clore(shlex.split(line))
    except ValueError:
        return False
    rest = parse_root(words)[1] if words else []
    return bool(rest) and rest[0] in CHANGES_ACCOUNT


def _redirection_refused(text: str, holder: Any) -> int | None:
    """A line with a pipe or a redirection is refused with one line, nothing sent: the
    shell runs click commands, not a system shell. The message gives the line to run there."""
    if redirection(text) is None:
        return None
    app = holder.app
    line = re.sub(r"^clore(\s+|$)", "", text)
    try:
        given = parse_root(shlex.split(line))[0]
    except ValueError:
        given = {}
    prefix = ["clore"]
    if app.sandbox and "sandbox" not in given:
        prefix.append("--sandbox")
    if app.profile != "default" and "profile" not in given:
        prefix += ["--profile", shlex.quote(app.profile)]
    from clore_cli._errors import report

    message = "pipes and redirection are not supported in the shell; nothing was sent."
    if is_secret_line(line, known_keys(app)):  # never echo a password, token or key back
        message += " Run the command in your system shell."
    else:
        message += f" In your system shell: {' '.join([*prefix, line])}"
    report(message, 2, as_json=False)  # as every CLI error: one line, wrapped between words at a terminal
    return 2


def _paged(run: Callable[[], int], app: Any, before: str = "") -> int:
    """Run a help line with its output collected, then show it as any long output is
    shown: through the pager when it is taller than the screen."""
    collected = io.StringIO()
    with contextlib.redirect_stdout(collected):
        status = run()
    text = before + collected.getvalue().rstrip("\n")
    if text:  # nothing when the line failed (its error went to stderr)
        app.show(text)
    return status


def _run_line(line: str, holder: Any) -> int:
    app = holder.app
    if len(line) > MAX_LINE:
        click.echo(
            f"error: the line is too long ({len(line):,} characters, at most {MAX_LINE:,}); nothing was run",
            err=True,
        )
        return 2
    text = line.strip()
    if not text or text.startswith("#"):
        return 0
    try:
        words = shlex.split(text)
    except ValueError as error:
        click.echo(f"error: cannot read the line: {error}", err=True)
        return 2
    refused = _redirection_refused(text, holder)
    if refused is not None:
        return refused
    words = without_clore(words) or ["help"]  # `clore orders`, as hints and the system shell say it
    head = words[0]
    if head in ("exit", "quit"):
        if len(words) == 1:
            return EXIT
        if len(words) == 2 and words[1].isdigit() and int(words[1]) <= 255:
            raise LeaveShell(int(words[1]))
        click.echo(f"error: {head} [N], N a whole number from 0 to 255", err=True)
        return 2
    if words == ["help"]:
        return _paged(partial(run_args, ["--help"], holder), app, before=SHELL_HELP + "\n")
    if head == "clear":
        clear_screen()
        return 0
    if head == "use":
        if len(words) != 2:
            click.echo("error: use PROFILE (e.g. use work)", err=True)
            return 2
        from clore_cli._app import unknown_profile_message

        unknown = unknown_profile_message(words[1])
        if unknown:
            click.echo(f"error: {unknown}; still using profile {app.profile}", err=True)
            return 2
        app.close()  # the next command builds a client with the other profile's key
        app.profile = words[1]
        click.echo(f"Using profile {words[1]}")
        return _REFRESH
    if head == "set":
        if len(words) != 3 or words[1] != "output" or words[2] not in app.formats:
            click.echo(f"error: set output FORMAT, FORMAT one of {', '.join(sorted(app.formats))}", err=True)
            return 2
        app.default_output = words[2]
        return 0
    given, rest = parse_root(words)
    if rest[:1] == ["shell"]:
        click.echo("error: already in the shell", err=True)
        return 2
    run = partial(run_with_root_options, words, given, holder) if given else partial(run_args, words, holder)
    if asks_for_help(words):  # a help page is long output too: paged when taller than the screen
        return _paged(run, app)
    return run()


def run_script(lines: Iterable[str], holder: Any) -> int:
    """Piped input: no prompts; the status is the last failing command's (0 if none failed),
    or N after ``exit N``."""
    status = 0
    for line in lines:
        try:
            code = run_line(line, holder)
        except LeaveShell as leave:
            return leave.status
        if code == EXIT:
            break
        if code != 0:
            status = code
    return status


#: How often the prompt is redrawn while it waits, so the toolbar shows what the background
#: refresher learned (and the rate-limit wait counting down) without a keystroke.
TOOLBAR_REDRAW_SECONDS = 1.0


def run_shell(app: Any, *, stdin: TextIO | None = None, refresh: bool = True, session: Any = None) -> int:
    holder = new_app_holder(app)
    app.in_shell = True
    stream = stdin or sys.stdin
    if session is None and not stream.isatty():
        return run_script(stream, holder)
    state = SessionState()
    stop = start_refresher(app, state) if refresh else None
    if session is None:
        session = PromptSession(
            history=SafeHistory(history_path(sandbox=app.sandbox), known_keys=lambda: known_keys(app)),
            auto_suggest=BoundedAutoSuggest(),
            completer=CloreCompleter(cli, holder, _profiles),
            complete_while_typing=True,
            bottom_toolbar=lambda: toolbar_text(
                app,
                state,
                line=get_app().current_buffer.text,
                width=get_app().output.get_size().columns,
            ),
            key_bindings=shell_key_bindings(),
            refresh_interval=TOOLBAR_REDRAW_SECONDS,  # the refresher's answers show without a key
        )
    try:
        while True:
            try:
                line = session.prompt(lambda: prompt_text(app))
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            try:
                if run_line(line, holder, state) == EXIT:
                    return 0
            except LeaveShell as leave:
                return leave.status
    finally:
        if stop is not None:
            stop.set()
