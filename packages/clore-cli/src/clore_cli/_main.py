"""The root ``clore`` group, global options, and ``main()`` with exit codes and error lines."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from ._errors import ExitCode, exit_code_for, report
from ._version import __version__


class FormatType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """``-o NAME``: validated against the formats registered by built-ins and plugins."""

    name = "format"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> str:
        holder = ctx.find_object(_AppHolder) if ctx else None
        names = sorted(holder.app.formats if holder and holder.app else _host().output_formats())
        if value not in names:
            from ._params import shown

            self.fail(f"{shown(value)} is not an output format; choose from {', '.join(names)}", param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: Any, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        holder = ctx.find_object(_AppHolder)
        formats = holder.app.formats if holder and holder.app else _host().output_formats()
        return [CompletionItem(n) for n in sorted(formats) if n.startswith(incomplete)]


def _seconds() -> Any:
    from ._params import Seconds

    return Seconds()


class _AppHolder:
    def __init__(self) -> None:
        self.app: Any = None


def output_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``-o/--output`` and ``-q/--quiet`` to a command that prints data."""

    def set_output(ctx: click.Context, param: Any, value: Any) -> Any:
        holder = ctx.find_object(_AppHolder)
        if holder and holder.app and value is not None:
            holder.app.output = value
        return value

    def set_quiet(ctx: click.Context, param: Any, value: Any) -> Any:
        holder = ctx.find_object(_AppHolder)
        if holder and holder.app and value:
            holder.app.quiet = True
        return value

    function = click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet, help="Print ids only."
    )(function)
    return click.option(
        "-o",
        "--output",
        type=FormatType(),
        expose_value=False,
        callback=set_output,
        is_eager=True,
        help="Output format: table (default), json, csv, or one from a plugin.",
    )(function)


def gc_paused(function: Callable[..., Any]) -> Callable[..., Any]:
    """Runs a command with the cyclic collector paused (``clore_ai._gcpause``), restored after.

    For commands that parse, filter, sort and format a burst of live objects (``search``);
    never for one that loops until interrupted. The SDK is imported only when it runs.
    """

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        from clore_ai._gcpause import gc_paused as paused

        with paused():
            return function(*args, **kwargs)

    return run


def _complete_profile(ctx: click.Context, param: Any, incomplete: str) -> list[Any]:
    """``--profile <TAB>``: the stored profiles (the config file only: no keyring, no network)."""
    from click.shell_completion import CompletionItem

    from ._app import known_profiles

    return [CompletionItem(name) for name in known_profiles() if name.startswith(incomplete)]


class CloreGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, except in the shell those marked ``hidden_in_shell`` (``shell``
        itself): left out of the shell's help and completion, as they cannot run there."""
        names = super().list_commands(ctx)
        holder = ctx.find_object(_AppHolder)
        if holder is None or holder.app is None or not getattr(holder.app, "in_shell", False):
            return names
        return [name for name in names if not getattr(self.commands.get(name), "hidden_in_shell", False)]

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write_text("Try it offline: clore --sandbox search")
        formatter.write_paragraph()
        formatter.write_text(
            "Exit codes: 0 done; 1 the API refused; 2 bad input (nothing was sent); 3 an order may or "
            "may not exist; 4 API key; 5 rate limited; 6 no connection; 7 interrupted after ordering "
            "(it bills); 8 --wait gave up (the order bills); 9 guard: a limit crossed; 10 run: the job "
            "failed; 11 watch: no event in time; 12 rent: nothing rented; 13 a plugin's output format "
            "failed; 130 Ctrl-C; 255 SSH failed."
        )


@click.group(cls=CloreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="clore", message="%(prog)s, version %(version)s")
@click.option(
    "--profile",
    metavar="NAME",
    envvar="CLORE_PROFILE",
    shell_complete=_complete_profile,
    help="Which stored API key to use.",
)
@click.option(
    "--sandbox", is_flag=True, help="Use the offline sandbox API (state kept between runs; no key needed)."
)
@click.option(
    "--debug", is_flag=True, help="Log requests and responses (secrets redacted) and show tracebacks."
)
@click.option("--no-color", is_flag=True, help="Plain output (also when NO_COLOR is set).")
@click.option(
    "--timeout",
    type=_seconds(),
    metavar="SECONDS",
    help="Give up on any one request after this many seconds (default 30).",
)
@click.pass_context
def cli(
    ctx: click.Context, profile: str | None, sandbox: bool, debug: bool, no_color: bool, timeout: float | None
) -> None:
    """Clore.ai GPU marketplace CLI.

    Prices are shown per hour and per day in USD; the API itself quotes per day.
    """
    holder = ctx.ensure_object(_AppHolder)
    if holder.app is not None:  # a long-lived App (the shell) keeps its client, limiter and caches
        holder.app.reset_line_state()
        return
    from ._app import App

    app = App(
        _host(),
        profile=profile,
        sandbox=sandbox,
        debug=debug,
        color=False if no_color else None,
        timeout=timeout,
    )
    holder.app = app
    ctx.obj = holder
    ctx.call_on_close(app.close)


_HOST: Any = None


def _host() -> Any:
    global _HOST
    if _HOST is None:
        from ._plugins import PluginHost

        _HOST = PluginHost()
        _HOST.register_commands(cli)
        _HOST.warn_broken()
    return _HOST


def app_of(ctx: click.Context) -> Any:
    holder = ctx.find_object(_AppHolder)
    assert holder is not None and holder.app is not None
    return holder.app


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command tree, map errors to one line and an exit code."""
    return run_args(sys.argv[1:] if argv is None else argv)


def new_app_holder(app: Any) -> _AppHolder:
    """Wrap a long-lived App so that every command line reuses it (``run_args(..., holder)``)."""
    holder = _AppHolder()
    holder.app = app
    return holder


def run_args(args: list[str], holder: _AppHolder | None = None) -> int:
    """Run one command line through the click tree; never raises, returns the exit code."""
    _host()
    as_json = _wants_json(args) or bool(holder and holder.app and holder.app.default_output == "json")
    debug = "--debug" in args or bool(holder and holder.app and holder.app.debug)
    holder = holder or _AppHolder()  # the error handler below can reach the App the line made
    try:
        result = cli.main(args=args, prog_name="clore", standalone_mode=False, obj=holder)
        if isinstance(result, int) and not isinstance(result, bool):  # ctx.exit(code) returns here
            return result
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.UsageError as error:
        message = _shorten_values(_usage_message(error, args))
        hint = (
            f" (see: clore {error.ctx.command_path.split(' ', 1)[1]} --help)"
            if error.ctx and " " in error.ctx.command_path
            else " (see: clore --help)"
        )
        report(message + hint, ExitCode.USAGE, as_json=as_json)
        return ExitCode.USAGE
    except click.ClickException as error:
        report(
            error.format_message(), error.exit_code, as_json=as_json, details=getattr(error, "details", None)
        )
        return error.exit_code
    except (KeyboardInterrupt, click.Abort):
        report("interrupted", ExitCode.INTERRUPTED, as_json=as_json)
        return ExitCode.INTERRUPTED
    except Exception as error:  # noqa: BLE001 - every error becomes one line
        from clore_ai import AuthError, CloreAPIError

        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(error, CloreAPIError):
            from ._api_errors import explain

            code = exit_code_for(error)
            details = {"api_code": error.code}
            if getattr(error, "error", None):
                details["api_error"] = error.error  # type: ignore[attr-defined]
            app = holder.app if holder else None
            sentence = explain(error, _server_names(app) if app is not None else None)
            if sentence is None and isinstance(error, AuthError):  # in the CLI's terms
                sentence = _key_problem(error, getattr(app, "profile", None) or "default")
            report(sentence or str(error), code, as_json=as_json, details=details)
            return code
        report(
            f"unexpected {type(error).__name__}: {error}; re-run with --debug",
            ExitCode.API_ERROR,
            as_json=as_json,
        )
        return ExitCode.API_ERROR
    return ExitCode.OK


def _server_names(app: Any) -> Any:
    """For ``server_dont_exist``: your server names, in one quick look-up."""

    def names() -> list[str]:
        with app.quick_client(3.0) as quick:
            return [str(s.name) for s in quick.my_servers() if getattr(s, "name", None)]

    return names


def _key_problem(error: Exception, profile: str) -> str:
    """No key, or a refused one: what to run for the profile in use (CLORE_API_KEY is only
    the default profile's key)."""
    from clore_ai import MissingAPIKeyError

    from ._app import login_command

    login = login_command(profile)
    if isinstance(error, MissingAPIKeyError):
        if profile == "default":
            return f"no API key found: set CLORE_API_KEY, run `{login}`, or try it offline with --sandbox"
        return f"no API key for profile {profile}: run `{login}` (CLORE_API_KEY is the default profile's key)"
    return (
        f"the API rejected the key of profile {profile}: run `{login}` with a key from clore.ai "
        "(Account → API)"
    )


def _usage_message(error: click.UsageError, args: list[str]) -> str:
    """click's message, in the CLI's terms where click's own would mislead: a negative number
    is not an unknown option, and a global option after the command belongs before it."""
    import re

    if isinstance(error, click.NoSuchOption):
        name = error.option_name
        if re.fullmatch(r"-[0-9.]+", name):
            given = next((a for a in args if a.startswith(name)), name)
            return f"{given} is not accepted here: ids, prices and amounts must be positive numbers"
        if error.ctx is not None and error.ctx.parent is not None:
            root = error.ctx.find_root().command
            option = next((p for p in root.params if name in p.opts), None)
            if option is not None:
                top = error.ctx
                while top.parent is not None and top.parent.parent is not None:
                    top = top.parent  # `host occupancy`: the option goes before `host`
                return (
                    f"{name} is an option of clore itself: put it before the command "
                    f"({_moved_before_command(args, name, top.info_name, option)})"
                )
    return error.format_message()


def _moved_before_command(args: list[str], name: str, command: str | None, option: Any) -> str:
    """The command line with the global option ``name`` (and its value) before ``command``."""
    import shlex

    if name == "--version" or command not in args:
        return f"clore {name}"
    at = args.index(command)
    where = next((i for i, a in enumerate(args) if i > at and (a == name or a.startswith(name + "="))), None)
    if where is None:
        return f"clore {name} {command} …"
    takes_value = not getattr(option, "is_flag", False) and "=" not in args[where]
    moved = args[where : where + (2 if takes_value else 1)]
    rest = args[:where] + args[where + len(moved) :]
    if any(a == name or a.startswith(name + "=") for a in args[:at]):  # given twice: once is enough
        return "clore " + shlex.join(rest)
    return "clore " + shlex.join(rest[:at] + moved + rest[at:])


def _shorten_values(message: str) -> str:
    """Long values echoed by click or the SDK (a 5,000-digit port) shown as their first ~80 characters."""
    import re

    return re.sub(r"[^\s']{81,}", lambda m: m.group()[:79] + "…", message)


def _wants_json(args: list[str]) -> bool:
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args) and args[i + 1] == "json":
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False


_PREPARED = False


def prepare_process() -> None:
    """What the ``clore`` process sets up before anything can print: SIGPIPE, termination as
    Ctrl-C, the SDK's warnings as ``warning:`` lines (once per process)."""
    global _PREPARED
    if not _PREPARED:
        _PREPARED = True
        _default_sigpipe()
        _termination_as_interrupt()
        _sdk_warnings_as_lines()


def run() -> None:
    prepare_process()
    from ._exit import exit_now

    exit_now(main())


def _sdk_warnings_as_lines() -> None:
    """The SDK's warnings (a key file others can read, an order whose outcome is unknown)
    reach stderr as ``warning: ...`` lines; with --debug the root logger shows them instead."""
    import logging

    class WarningLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if logging.getLogger().handlers:  # --debug configured full logging
                return
            from .formats import sanitize

            sys.stderr.write(f"warning: {sanitize(record.getMessage())}\n")

    logging.getLogger("clore_ai").addHandler(WarningLine(logging.WARNING))


def _default_sigpipe() -> None:
    """`clore search | head` ends quietly, like any Unix tool, instead of a BrokenPipeError."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _termination_as_interrupt() -> None:
    """SIGTERM and SIGHUP (`timeout`, CI cancellation, docker stop, a closed terminal) end
    the command like Ctrl-C: after create_order was sent it still says an order exists or
    may exist and is billing (exit 7); before, a plain interrupt (exit 130). Installed by
    the command's entry only, never by the SDK or on import, where the signals exist."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, _raise_interrupt)
