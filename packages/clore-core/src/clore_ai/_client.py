"""The two clients: thin drivers of the sans-IO flows in ``_core``.

They differ only in how they sleep and send (``time.sleep`` + ``httpx.Client`` versus
``asyncio.sleep`` + ``httpx.AsyncClient``); every endpoint is declared once in
``_endpoints``.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType
from typing import Any, Callable, Optional

from . import _httpx  # noqa: F401 - first: httpx without its command-line module

# isort: split
import httpx

from ._core import DEFAULT_BASE_URL, ClientCore, Flow, Outcome, Send, Sleep
from ._endpoints import Endpoints
from ._limiter import RateLimiter, limiter_for_key
from ._secret import Secret, mask
from ._transfer import DEFAULT_MAX_RESPONSE_BYTES, bound_client, check_max_response_bytes
from ._validation import MAX_SECONDS, check_number, shown
from .credentials import ENV_KEY, ResolvedKey, environment_key_applies, resolve_api_key
from .exceptions import CloreAPIError, InvalidInputError

__all__ = ["AsyncCloreAI", "CloreAI"]


MAX_RETRIES = 100


def _check_settings(
    timeout: Any, max_retries: Any, max_queue_wait: Any, reconcile_timeout: Any, profile: Any
) -> None:
    """The constructor's options, checked before anything else: one :class:`InvalidInputError`."""
    if (
        isinstance(max_retries, bool)
        or not isinstance(max_retries, int)
        or not 0 <= max_retries <= MAX_RETRIES
    ):
        raise InvalidInputError(
            f"max_retries must be a whole number from 0 to {MAX_RETRIES}, got {shown(max_retries)}", code=2
        )
    check_number("timeout", timeout, minimum=0.0, maximum=MAX_SECONDS, above=True)
    if max_queue_wait is not None:
        check_number("max_queue_wait", max_queue_wait, minimum=0.0, maximum=MAX_SECONDS)
    check_number("reconcile_timeout", reconcile_timeout, minimum=0.0, maximum=MAX_SECONDS)
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise InvalidInputError(f"profile must be a non-empty name, got {shown(profile)}", code=2)


# Attributes of the official clore-ai 0.1.1 client that do not exist here, and what to use.
_OFFICIAL_ATTRIBUTES = {
    "rate_limiter": "clore-ai 0.1.1's `rate_limiter` is `limiter` here: a RateLimiter shared by every "
    "client of the same key (pass limiter=RateLimiter(...) to the constructor to choose one)",
    "client": "clore-ai 0.1.1's `client` (the httpx client) is internal here; pass transport=... "
    "to the constructor to route requests, and use `with CloreAI(...)` or close() to release it",
    "_request": "clore-ai 0.1.1's `_request` is not public here; every endpoint is a method "
    "(see docs/sdk.md), and the raw answer of unknown fields stays on each model",
}


class _BaseClient(Endpoints):
    _default_sleep: Callable[[float], Any]

    #: The default API address (clore-ai 0.1.1 named it ``BASE_URL`` too).
    BASE_URL = DEFAULT_BASE_URL

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        *,
        transport: Any = None,
        profile: Optional[str] = None,
        limiter: Optional[RateLimiter] = None,
        reconcile_timeout: float = 30.0,
        max_queue_wait: Optional[float] = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Optional[Callable[[float], Any]] = None,
    ) -> None:
        """See the class docstring; ``sleep`` replaces the driver's sleep (tests).

        ``max_queue_wait``: the longest this client waits in the key's rate-limit queue
        before a call raises :class:`RateLimitQueueTimeout` (None: as long as it takes).
        ``max_response_bytes``: the largest decoded answer read (256 MiB); a larger one raises
        :class:`ResponseTooLargeError` and is not retried.
        """
        _check_settings(timeout, max_retries, max_queue_wait, reconcile_timeout, profile)
        max_response_bytes = check_max_response_bytes(max_response_bytes)
        self._sleep: Any = sleep or type(self)._default_sleep
        self._http: Any = None
        self._profile = profile
        self._key_lock = threading.Lock()
        self._key_known = False
        self._resolved_key: ResolvedKey | None = None
        failure: CloreAPIError | None = None
        env_key_applies = os.environ.get(ENV_KEY) and environment_key_applies(profile)
        if (api_key is not None and api_key != "") or env_key_applies:
            # Cheap to find (no keyring): resolved now, so a bad key fails here.
            try:
                self._resolve_key(api_key)
            except CloreAPIError as error:
                failure = error
        del api_key  # not in this frame's locals when the error leaves
        if failure is not None:
            raise failure.with_traceback(None)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self._transport = transport

        def limiter_for(secret: Secret | None) -> RateLimiter:
            return limiter or limiter_for_key(secret.reveal() if secret else None)

        self._core = ClientCore(
            key=self._secret,
            key_ready=lambda: self._key_known,
            base_url=base_url or os.environ.get("CLORE_API_URL") or DEFAULT_BASE_URL,
            max_retries=max_retries,
            limiter=limiter_for,
            reconcile_timeout=float(reconcile_timeout),
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            max_queue_wait=None if max_queue_wait is None else float(max_queue_wait),
            max_response_bytes=max_response_bytes,
        )
        self._core.journal_scope = getattr(transport, "journal_scope", None)

    def _resolve_key(self, api_key: Optional[str] = None) -> Optional[ResolvedKey]:
        """The key, looked up once: argument, ``CLORE_API_KEY`` (default profile only), keyring,
        config file.

        Without an argument or ``CLORE_API_KEY`` this runs only when a key is needed (an
        authenticated call, :attr:`api_key_hint`, :attr:`key_source`): a public call never
        imports or probes the keyring.
        """
        with self._key_lock:
            if self._key_known:
                return self._resolved_key
            failure: CloreAPIError | None = None
            try:
                self._resolved_key = resolve_api_key(api_key, profile=self._profile)
            except CloreAPIError as error:  # a bad key or config file: leave without the key
                failure = error
            del api_key
            if failure is not None:
                raise failure.with_traceback(None)
            self._key_known = True
            return self._resolved_key

    @property
    def _resolved(self) -> Optional[ResolvedKey]:
        return self._resolve_key()

    def _secret(self) -> Optional[Secret]:
        resolved = self._resolve_key()
        return resolved.secret if resolved else None

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def limiter(self) -> RateLimiter:
        return self._core.limiter

    @property
    def api_key(self) -> Optional[str]:
        """The API key in use (as clore-ai 0.1.1 has it), or None.

        Reading it gives the whole key, for code that passes it on; the client's ``repr``, logs
        and errors still show only ``****abcd`` (:attr:`api_key_hint`).
        """
        return self._resolved.secret.reveal() if self._resolved else None

    @api_key.setter
    def api_key(self, value: Optional[str]) -> None:
        """Use another key (``None``: none; calls that need one raise ``AuthError``)."""
        from ._secret import Secret
        from .credentials import ResolvedKey

        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInputError("api_key must be a non-empty text or None", code=2)
        with self._key_lock:
            profile = self._resolved_key.profile if self._resolved_key else (self._profile or "default")
            self._resolved_key = (
                ResolvedKey(Secret(value.strip()), "argument", profile) if value is not None else None
            )
            self._key_known = True
        del value
        self._core.key_changed()  # the rate limiter and the order journal belong to the key

    def __getattr__(self, name: str) -> Any:
        hint = _OFFICIAL_ATTRIBUTES.get(name)
        if hint is not None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}: {hint}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def api_key_hint(self) -> str:
        """The key as ``****abcd`` (never the whole key)."""
        return mask(self._resolved.secret.reveal()) if self._resolved else "(none)"

    @property
    def key_source(self) -> Optional[str]:
        """Where the key came from: argument, environment, keyring or config file."""
        return self._resolved.source if self._resolved else None

    def _httpx_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "timeout": self._core.timeout,
            "follow_redirects": False,  # httpx would forward the `auth` header to any host
        }
        if self._transport is not None:
            options["transport"] = self._transport
        elif self.base_url.startswith("http://"):
            # Plain HTTP is only allowed to loopback (check_base_url) and redirects are not
            # followed, so no TLS can happen: skip loading the CA bundle (~30 ms per process).
            options["verify"] = False
        return options

    def __repr__(self) -> str:
        if "_core" not in self.__dict__:  # still being built (a traceback shows this frame)
            return f"{type(self).__name__}(...)"
        hint = self.api_key_hint if self._key_known else "(not looked up yet)"
        return f"{type(self).__name__}(base_url={self.base_url!r}, key={hint!r})"


class CloreAI(_BaseClient):
    """Synchronous Clore.ai client.

    ``api_key`` falls back to ``CLORE_API_KEY``, the OS keyring and ``~/.clore/config.json``;
    ``base_url`` to ``CLORE_API_URL`` and ``https://api.clore.ai/v1``. ``transport`` takes any
    httpx transport (for example :class:`clore_ai.sandbox.SandboxTransport`).
    """

    _default_sleep = staticmethod(time.sleep)
    _http: Optional[httpx.Client]

    def _client(self) -> httpx.Client:
        if self._http is None:  # built lazily: creating an SSL context costs start-up time
            self._http = bound_client(httpx.Client(**self._httpx_options()))
        return self._http

    def _send(self, request: httpx.Request) -> Outcome:
        exchange = self._core.exchange(request)
        exchange.enter()
        try:
            response = self._client().send(request, stream=True)
            try:
                if exchange.start(response):
                    for chunk in response.iter_raw() if exchange.raw else response.iter_bytes():
                        exchange.feed(chunk)
            finally:
                response.close()
            return exchange.finish()
        except httpx.HTTPError as error:
            return error
        finally:
            exchange.exit()

    def _drive(self, flow: Flow[Any]) -> Any:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    step = flow.send(None)
                else:
                    assert isinstance(step, Send)
                    step = flow.send(self._send(step.request))
        except StopIteration as stop:
            return stop.value
        except BaseException:
            flow.close()  # lets create_order log an interrupted send
            raise

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> CloreAI:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


async def _asyncio_sleep(seconds: float) -> None:
    # asyncio is imported when an async client first waits: importing it costs every
    # synchronous user (the `clore` command) ~10 ms of start-up.
    import asyncio

    await asyncio.sleep(seconds)


class AsyncCloreAI(_BaseClient):
    """Asynchronous Clore.ai client: the same methods as :class:`CloreAI`, awaited."""

    _default_sleep = staticmethod(_asyncio_sleep)
    _is_async = True  # its endpoints are coroutine methods (``_endpoints.Endpoints``)
    _http: Optional[httpx.AsyncClient]
    _http_loop: Any = None

    def _client(self) -> httpx.AsyncClient:
        import asyncio

        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:  # built outside a loop (a test looking at the transports)
            loop = None
        old = self._http_loop
        if self._http is not None and old is not None and old is not loop and old.is_closed():
            # Used again from a new event loop (a second ``asyncio.run``): the old connections
            # belonged to the closed loop and can neither be used nor closed; start afresh.
            self._http = None
        if self._http is None:
            self._http = bound_client(httpx.AsyncClient(**self._httpx_options()))
            self._http_loop = loop
        return self._http

    async def _send(self, request: httpx.Request) -> Outcome:
        exchange = self._core.exchange(request)
        exchange.enter()
        try:
            response = await self._client().send(request, stream=True)
            try:
                if exchange.start(response):
                    async for chunk in response.aiter_raw() if exchange.raw else response.aiter_bytes():
                        exchange.feed(chunk)
            finally:
                await response.aclose()
            return exchange.finish()
        except httpx.HTTPError as error:
            return error
        finally:
            exchange.exit()

    async def _drive(self, flow: Flow[Any]) -> Any:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    step = flow.send(None)
                else:
                    assert isinstance(step, Send)
                    step = flow.send(await self._send(step.request))
        except StopIteration as stop:
            return stop.value
        except BaseException:
            flow.close()
            raise

    async def close(self) -> None:
        http, self._http = self._http, None
        dead = self._http_loop is not None and self._http_loop.is_closed()  # it closed its sockets
        if http is not None and not dead:
            await http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncCloreAI:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()
