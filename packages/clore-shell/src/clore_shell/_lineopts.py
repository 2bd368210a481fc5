"""Root options (``clore --profile X ...``) typed on a shell line: found by click's own parser.

The shell's session keeps one App (client, limiter, caches). A line that names options of the
root ``clore`` group gets its own short-lived App built by the root group itself, exactly as
``clore OPTIONS COMMAND`` would build it, with the session's settings filled in for the root
options the line does not name. ``--sandbox`` on a live shell is refused: nothing is sent.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from clore_cli._main import _AppHolder, cli, run_args

from .toolbar import api_label

# Lines longer than this are refused (a paste gone wrong, not a command).
MAX_LINE = 16_384
# Completion, suggestions and the toolbar's line preview look at lines up to this length only:
# each keystroke then costs a bounded amount of work, however long the line grows.
MAX_INTERACTIVE = 2_000

SANDBOX_REFUSED = (
    "error: --sandbox cannot change a running shell (this one uses the live API); nothing was sent."
    " Start `clore --sandbox shell` for the sandbox."
)


def line_root_options(words: list[str]) -> dict[str, Any]:
    """The root group's options given on this line, ``{param name: value}`` (help/version excluded).

    Generic: every option of the root group, including one a plugin or a later change adds.
    A line the root parser rejects gives ``{}``; running it then fails at the same place.
    """
    return parse_root(words)[0]


def parse_root(words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(root options given on the line, the words after them: the command and its arguments)."""
    from click.core import ParameterSource

    if not words or not words[0].startswith("-"):
        return {}, list(words)
    try:
        ctx = cli.make_context("clore", list(words), resilient_parsing=True)
    except (click.ClickException, click.exceptions.Exit):
        return {}, list(words)
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = getattr(ctx, "protected_args", [])
    rest = [*protected, *ctx.args]
    given: dict[str, Any] = {}
    for param in cli.params:
        if not param.name or not param.expose_value:
            continue
        if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
            given[param.name] = ctx.params.get(param.name)
    return given, rest


def refused(app: Any, given: dict[str, Any]) -> str | None:
    """Why this line may not run in this session (None: it may)."""
    if given.get("sandbox") and not app.sandbox:
        return SANDBOX_REFUSED
    return None


def line_target(app: Any, given: dict[str, Any]) -> str:
    """Which API and profile the line will use, for the toolbar."""
    if refused(app, given):
        return "refused (--sandbox in a live shell)"
    profile = given.get("profile") or app.profile
    return f"{api_label(app)} profile {profile}"


def _session_setting(app: Any, name: str) -> Any:
    if name == "no_color":
        return not app.color
    return getattr(app, name, None)


def inherited_args(app: Any, given: dict[str, Any]) -> list[str]:
    """The session's settings as root options, for each root option the line does not name."""
    args: list[str] = []
    for param in cli.params:
        if not isinstance(param, click.Option) or not param.name or param.name in given:
            continue
        if not param.expose_value or not param.opts[0].startswith("--"):
            continue
        value = _session_setting(app, param.name)
        if param.is_flag:
            if value is True:
                args.append(param.opts[0])
        elif value is not None and not isinstance(value, bool) and not param.multiple:
            args += [param.opts[0], str(value)]
    return args


class _LineHolder(_AppHolder):
    """Receives the App the root group builds for one line; gives it the session's output."""

    def __init__(self, session_app: Any) -> None:
        self._session_app = session_app
        self._app: Any = None
        super().__init__()

    @property
    def app(self) -> Any:
        return self._app

    @app.setter
    def app(self, value: Any) -> None:
        if value is not None:
            value.default_output = self._session_app.default_output
            value.output = self._session_app.default_output
            value.in_shell = self._session_app.in_shell
        self._app = value


def run_with_root_options(words: list[str], given: dict[str, Any], holder: Any) -> int:
    """Run a line that names root options: on its own App (closed after the line), or refuse it."""
    app = holder.app
    reason = refused(app, given)
    if reason:
        click.echo(reason, err=True)
        return 2
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        return run_args([*inherited_args(app, given), *words], _LineHolder(app))
    finally:  # --debug on a line configures logging for that line only
        root.setLevel(level)
        root.handlers[:] = handlers
