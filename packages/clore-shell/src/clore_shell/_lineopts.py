"""Root options (``clore --profile X ...``) typed on a shell line: found by click's own parser.

The shell's session keeps one App (client, limiter, caches). A line that names options of the
root ``clore`` group gets its own short-lived App built by the root group itself, exactly as
``clore OPTIONS COMMAND`` would build it, with the session's settings filled in for the root
options the line does not name. ``--sandbox`` on a live shell is refused: nothing is sent.
"""

from __future__ import annotations

import logging
import re
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


def without_clore(words: list[str]) -> list[str]:
    """A line typed as on the system shell, ``clore orders -q``, is the line ``orders -q``."""
    return words[1:] if words[:1] == ["clore"] else words


# Redirection: a word that starts with | < > (or 2> &>), or has an unquoted | inside.
_REDIRECTION = re.compile(r"[|<>]|[0-9&]>")
# An operator between a word and a number is a comparison of search's query (`price < 1`).
_COMPARISON = re.compile(r"[<>]=?")
_NUMBER = re.compile(r"[0-9][0-9.,]*%?")


_QUOTED = "\0"  # stands for a quoted or escaped character: never an operator


def _unquoted_words(text: str) -> list[str]:
    """The line's words as a POSIX shell splits them, each quoted or escaped character
    replaced by :data:`_QUOTED`: what is left is what a shell would read as operators."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
            else:
                if quote == '"' and char == "\\" and index + 1 < len(text):
                    index += 1
                word.append(_QUOTED)
        elif char.isspace():
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
        else:
            in_word = True
            if char in "'\"":
                quote = char
            elif char == "\\" and index + 1 < len(text):
                index += 1
                word.append(_QUOTED)
            else:
                word.append(char)
        index += 1
    if in_word:
        words.append("".join(word))
    return words


def redirection(text: str) -> str | None:
    """The first unquoted pipe or redirection on the line (``|``, ``>``, ``>>``, ``<``,
    ``2>``, ``>file``, ``a|b``); None when there is none. ``search price < 1`` and
    ``gpus >=2`` are comparisons, not redirections; a quoted ``'|'`` is a plain word."""
    words = _unquoted_words(text)
    for index, word in enumerate(words):
        if not (_REDIRECTION.match(word) or "|" in word):
            continue
        operator = _COMPARISON.match(word)
        if operator and "|" not in word:
            rest = word[operator.end() :]
            after = rest or (words[index + 1] if index + 1 < len(words) else "")
            before = words[index - 1] if index > 0 else "-"
            if _NUMBER.fullmatch(after) and not before.startswith("-"):
                continue
        return word.replace(_QUOTED, "…")
    return None


def asks_for_help(words: list[str]) -> bool:
    """True when the line asks click for a help page: ``-h``/``--help`` given as an option
    of the root group or of the command the line names (not as an option's value)."""
    from click.core import ParameterSource

    try:
        ctx = cli.make_context("clore", list(words), resilient_parsing=True)
        while True:
            option = ctx.command.get_help_option(ctx)
            name = option.name if option is not None else None
            if name and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
                return True
            if not isinstance(ctx.command, click.Group):
                return False
            args = [*_protected_args(ctx), *ctx.args]
            if not args:
                return False
            name, command, rest = ctx.command.resolve_command(ctx, args)
            if command is None or name is None:
                return False
            ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=True)
    except (click.ClickException, click.exceptions.Exit):
        return False


def _protected_args(ctx: click.Context) -> list[str]:
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = getattr(ctx, "protected_args", [])
    return list(protected)


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
    rest = [*_protected_args(ctx), *ctx.args]
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
