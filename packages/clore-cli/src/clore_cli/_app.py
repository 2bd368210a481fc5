"""The App: one per process (or per shell session) — settings, client, formats, output."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .formats import Dataset, OutputFormat

if TYPE_CHECKING:
    from clore_ai import CloreAI

    from ._plugins import PluginHost

SANDBOX_KEY = "sandbox-cli-account"


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
        no_color = "NO_COLOR" in os.environ
        self.color = (sys.stdout.isatty() and not no_color) if color is None else color
        self.default_output: str | None = None  # the shell's `set output FORMAT`
        self.output: str | None = None
        self.quiet = False
        self._client: CloreAI | None = None
        self._formats: dict[str, type[OutputFormat]] | None = None

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
        fmt = self.formats[name]()
        click.echo(fmt.render(data, color=self.color and name == "table"))

    def note(self, message: str) -> None:
        """Human chatter goes to stderr, so stdout stays machine-readable."""
        click.echo(message, err=True)

    # the client

    def client(self) -> CloreAI:
        if self._client is None:
            self._client = self._build_client()
        return self._client

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
            from clore_ai import RateLimiter
            from clore_ai.sandbox import FileStore, RateLimits, Sandbox, SandboxTransport

            # The persisted CLI sandbox does not enforce rate limits (each `clore` process
            # would otherwise wait on the previous one); the client need not space requests.
            deploy_seconds = float(os.environ.get("CLORE_SANDBOX_DEPLOY_SECONDS", "5"))
            servers = int(os.environ.get("CLORE_SANDBOX_SERVERS", "300"))  # the marketplace's size
            sandbox = Sandbox(
                servers=servers,
                store=FileStore(),
                rate_limits=RateLimits.off(),
                deploy_seconds=deploy_seconds,
            )
            unlimited = RateLimiter(interval=0, order_interval=0)
            return CloreAI(
                api_key=key or SANDBOX_KEY, transport=SandboxTransport(sandbox), limiter=unlimited, **options
            )
        return CloreAI(api_key=key, **options) if key else CloreAI(profile=self.profile, **options)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _redact_httpx_logs() -> None:
    """httpx logs URLs only, but keep its header-level loggers quiet: `auth` is not masked there."""
    import logging

    for name in ("httpcore", "httpcore.http11", "httpcore.connection"):
        logging.getLogger(name).setLevel(logging.INFO)
