"""The App: one per process (or per shell session) — settings, client, formats, output."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._errors import BadInput, PluginFailed
from .formats import Dataset, OutputFormat

if TYPE_CHECKING:
    from clore_ai import CloreAI
    from clore_ai.sandbox import MarketMotion, Sandbox

    from ._plugins import PluginHost

SANDBOX_KEY = "sandbox-cli-account"
# The sandbox's own base URL: `--debug` lines show which API a request went to. It never
# resolves (.invalid) and the sandbox transport answers every request without the network.
SANDBOX_URL = "https://sandbox.clore.invalid/v1"


class App:
    def __init__(
        self,
        host: PluginHost,
        *,
        profile: str | None = None,
        sandbox: bool = False,
        debug: bool = False,
        color: bool | None = None,
        timeout: float | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout  # --timeout: seconds per request (None: the SDK's default)
        self.profile = profile or os.environ.get("CLORE_PROFILE") or "default"
        self.sandbox = sandbox
        self.debug = debug
        # Set by `clore shell`: programs that take the terminal (ssh) run as a child and the
        # shell's prompt comes back; long output goes through a pager at a terminal.
        self.in_shell = False
        from ._cache import select

        select(sandbox=sandbox)  # the sandbox's ids never complete in a live command, nor the reverse
        no_color = "NO_COLOR" in os.environ
        at_a_terminal = sys.stdout is not None and sys.stdout.isatty()  # None: stdout closed (>&-)
        self.color = (at_a_terminal and not no_color) if color is None else color
        self.default_output: str | None = None  # the shell's `set output FORMAT`
        self.output: str | None = None
        self.quiet = False
        self._client: CloreAI | None = None
        self._sandbox_api: Sandbox | None = None  # the offline API behind --sandbox, once built
        self._formats: dict[str, type[OutputFormat]] | None = None

    @property
    def api_name(self) -> str:
        """Which API commands reach, for prompts: ``sandbox``, ``live``, or the host and port
        ``CLORE_API_URL`` names when it is not the live API (a sandbox server, a proxy).

        Only the host and port are taken from the URL: credentials in it are never shown.
        """
        if self.sandbox:
            return "sandbox"
        url = os.environ.get("CLORE_API_URL", "").strip()
        if not url:
            return "live"
        from urllib.parse import urlsplit

        from clore_ai import DEFAULT_BASE_URL

        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:  # an unreadable port: the SDK will say so on the first request
            return "custom API"
        if not host or host == urlsplit(DEFAULT_BASE_URL).hostname:
            return "live"
        return f"{host}:{port}" if port else host

    def reset_line_state(self) -> None:
        """Per-command settings (-o, -q) do not leak from one shell line into the next."""
        self.output = self.default_output
        self.quiet = False

    # formats

    @property
    def formats(self) -> dict[str, type[OutputFormat]]:
        if self._formats is None:
            self._formats = self.host.output_formats()
        return self._formats

    @property
    def wants_json(self) -> bool:
        return self.output == "json"

    def emit(self, data: Dataset) -> None:
        if self.quiet:
            for row in data.rows:
                click.echo(row.get(data.id_key))
            return
        name = self.output or "table"
        self.show(self.render(name, data))

    def render(self, name: str, data: Dataset) -> str:
        """``data`` in the output format ``name``. A plugin's format that fails is one line
        naming the plugin (exit 13), not an unexpected error of clore's."""
        try:
            return self.formats[name]().render(data, color=self.color and name == "table")
        except click.ClickException:
            raise
        except Exception as error:
            owner = self.host.plugin_of_format(name)
            if owner is None:  # a built-in format: clore's own bug, reported as unexpected
                raise
            if self.debug:
                import traceback

                traceback.print_exc()
            raise PluginFailed(
                f"output format {name!r} (plugin {owner}) failed: {type(error).__name__}: {error}"
            ) from error

    def emit_document(self, document: Any) -> None:
        """Print one JSON document (``-o json`` of a command that is not a table: a quote and
        its request, a plan, a summary) by the rule every JSON output follows
        (:func:`~clore_cli.formats.json_document`)."""
        from .formats import json_document

        self.show(json_document(document))

    def emit_line(self, document: Any) -> None:
        """Print one JSON line of a stream (``watch``, ``guard``, ``spot-bid --auto``) and flush."""
        from .formats import json_line

        click.echo(json_line(document))
        sys.stdout.flush()

    def supports_output(self, what: str, *formats: str, hint: str = "") -> None:
        """Refuse, before anything is sent (one line, exit 2), an ``-o`` format ``what`` cannot
        print: a stream of events or a plan with its request is no table, so no CSV. ``formats``
        are the ones it prints (``table`` is always one); ``hint`` says what they look like."""
        name = self.output or "table"
        if name == "table" or name in formats:
            return
        choices = " or ".join(f"-o {f}" for f in formats)
        raise BadInput(
            f"{what} cannot print -o {name}: it is not a table; use {choices}{hint}, or leave -o out"
        )

    def show(self, text: str) -> None:
        """Print ``text``; in the shell at a terminal, through a pager when it is taller than the screen."""
        if self.in_shell and _taller_than_terminal(text):
            click.echo_via_pager(text if text.endswith("\n") else text + "\n", color=self.color)
            return
        click.echo(text)

    def run_terminal_program(self, command: list[str]) -> int:
        """Hand the terminal to ``command``. Outside the shell the process becomes the program
        (exec, never returns); in the shell it runs as a child, Ctrl-C goes to the child only,
        and its exit status is returned when it ends."""
        if not self.in_shell:
            os.execvp(command[0], command)
        import signal
        import subprocess

        child = subprocess.Popen(command)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)

    def note(self, message: str) -> None:
        """Human chatter goes to stderr, so stdout stays machine-readable."""
        click.echo(message, err=True)

    # the client

    def client(self) -> CloreAI:
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def now(self) -> float:
        """The API's time in Unix seconds: with ``--sandbox`` the sandbox's time (it may run
        faster or have been advanced), else the wall clock. Uptimes and deadlines use it."""
        if self.sandbox:
            self.client()
            if self._sandbox_api is not None:
                return self._sandbox_api.now()
        import time

        return time.time()

    def client_for_key(self, key: str) -> CloreAI:
        """A new client using ``key`` (to check a key before storing it), in this app's mode."""
        return self._build_client(key)

    def quick_client(self, seconds: float) -> CloreAI:
        """A separate client for one quick look-up: no retries, no queueing, ``seconds`` per request."""
        return self._build_client(timeout=seconds, max_retries=0, max_queue_wait=seconds)

    def _build_client(self, key: str | None = None, **options: Any) -> CloreAI:
        import logging

        from ._client import TrackingCloreAI as CloreAI

        if self.timeout is not None:
            options.setdefault("timeout", self.timeout)

        if self.debug:
            logging.basicConfig(level=logging.DEBUG, format="debug: %(name)s: %(message)s")
            _redact_httpx_logs()
        if self.sandbox:
            unknown = None if key else unknown_profile_message(self.profile)
            if unknown:  # the sandbox needs no key, but a mistyped --profile is still a mistake
                raise UnknownProfile(unknown)
            from clore_ai import RateLimiter
            from clore_ai.sandbox import FileStore, RateLimits, Sandbox, SandboxTransport

            # The persisted CLI sandbox does not enforce rate limits (each `clore` process
            # would otherwise wait on the previous one); the client need not space requests.
            deploy_seconds = float(os.environ.get("CLORE_SANDBOX_DEPLOY_SECONDS", "5"))
            servers = int(os.environ.get("CLORE_SANDBOX_SERVERS", "300"))  # the marketplace's size
            market, speed = sandbox_market_from_environment()
            sandbox = Sandbox(
                servers=servers,
                store=FileStore(),
                rate_limits=RateLimits.off(),
                deploy_seconds=deploy_seconds,
                market=market,
                speed=speed,
            )
            self._sandbox_api = sandbox
            unlimited = RateLimiter(interval=0, order_interval=0)
            return CloreAI(
                api_key=key or SANDBOX_KEY,
                base_url=SANDBOX_URL,
                transport=SandboxTransport(sandbox),
                limiter=unlimited,
                **options,
            )
        if key:
            return CloreAI(api_key=key, **options)
        client = CloreAI(profile=self.profile, **options)
        # A named profile with no key anywhere is most likely mistyped: say so. The default
        # profile is not checked here: a keyless public command must not probe the keyring.
        if self.profile not in (None, "default") and client.key_source is None:
            unknown = unknown_profile_message(self.profile)
            if unknown:
                client.close()
                raise UnknownProfile(unknown)
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def sandbox_journal_paths() -> list[Path]:
    """What clore keeps on this machine about the sandbox's orders, besides its state file:
    the sandbox key's create_order, rent, spot-rule and rate-limit files, the sandbox's job
    journal, the guard's states (``guard/sandbox/``) and the sandbox's completions.

    `clore sandbox reset` deletes them with the state: they describe orders of a sandbox
    that no longer exists (an order an earlier deploy claimed, a job on an order that is
    gone, a guard's spend). Each is the sandbox's by name or folder (the sandbox key's
    fingerprint, ``-sandbox``, ``guard/sandbox/``); the live API's files are never listed.
    """
    from clore_ai._limiter import KEY_STATE_KINDS, key_state_path
    from clore_ai.guard import default_guard_paths
    from clore_ai.jobs import default_journal_path

    from ._cache import cache_path

    paths = [key_state_path(kind, SANDBOX_KEY) for kind in KEY_STATE_KINDS]
    paths += [default_journal_path(sandbox=True), cache_path(sandbox=True)]
    guard_folder = default_guard_paths("default", sandbox=True)[0].parent
    if guard_folder.is_dir():
        paths += sorted(path for path in guard_folder.iterdir() if path.is_file())
    return paths


class UnknownProfile(BadInput):
    pass


class BadSandboxSetting(BadInput):
    pass


def sandbox_market_from_environment() -> tuple[MarketMotion | None, float | None]:
    """``CLORE_SANDBOX_MARKET`` (still, moving, moving:SEED) and ``CLORE_SANDBOX_SPEED``: this
    process's market motion and speed (None: what ``clore sandbox market`` stored)."""
    from clore_ai.sandbox import market_from_text, speed_from_text

    market_text = os.environ.get("CLORE_SANDBOX_MARKET", "").strip()
    speed_text = os.environ.get("CLORE_SANDBOX_SPEED", "").strip()
    try:
        market = market_from_text(market_text) if market_text else None
        speed = speed_from_text(speed_text) if speed_text else None
    except ValueError as exc:
        name = "CLORE_SANDBOX_MARKET" if "market" in str(exc) else "CLORE_SANDBOX_SPEED"
        raise BadSandboxSetting(f"{name}: {exc}") from None
    return market, speed


def login_command(profile: str) -> str:
    """The command that stores a key for ``profile``."""
    return "clore auth login" if profile == "default" else f"clore --profile {profile} auth login"


def known_profiles() -> list[str]:
    """``default`` and every profile in the config file (an unreadable file: ``default`` only)."""
    from clore_ai import credentials

    try:
        data = credentials.read_config()
    except Exception:  # noqa: BLE001 - the error reaches the user when a key is read
        return [credentials.DEFAULT_PROFILE]
    names = [name for name in (data.get("profiles") or {}) if isinstance(name, str)]
    return [credentials.DEFAULT_PROFILE, *sorted(n for n in names if n != credentials.DEFAULT_PROFILE)]


def unknown_profile_message(profile: str) -> str | None:
    """``unknown profile 'wrok' (known: default, work)``; None when ``profile`` is known.

    A profile whose key is only in the keyring counts as known too.
    """
    known = known_profiles()
    if profile in known:
        return None
    from clore_ai import credentials

    try:
        if credentials.stored_api_key(profile) is not None:
            return None
    except Exception:  # noqa: BLE001 - a damaged key is reported where it is read
        return None
    return (
        f"unknown profile {profile!r} (known: {', '.join(known)}); create it with: {login_command(profile)}"
    )


def _taller_than_terminal(text: str) -> bool:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        return False
    import shutil

    rows = shutil.get_terminal_size().lines
    return text.count("\n") + 1 > rows - 2


def _redact_httpx_logs() -> None:
    """httpx logs URLs only, but keep its header-level loggers quiet: `auth` is not masked there."""
    import logging

    for name in ("httpcore", "httpcore.http11", "httpcore.connection"):
        logging.getLogger(name).setLevel(logging.INFO)
