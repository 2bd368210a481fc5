"""The sans-IO request core shared by :class:`CloreAI` and :class:`AsyncCloreAI`.

A call is a *flow*: a generator that yields :class:`Sleep` (wait this long) or
:class:`Send` (send this request) and receives, for each ``Send``, either the
``httpx.Response`` or the ``httpx.HTTPError`` the transport raised. It returns the result
or raises a clore error. Building requests, decoding responses, rate limiting, retries and
create_order reconciliation all live here; the clients only sleep and send.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, List, Mapping, Optional, TypeVar, Union
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import from_json

from ._limiter import RateLimiter, new_ticket
from ._retry import MAX_RETRY_AFTER, backoff_delay, is_retryable_read, parse_retry_after
from ._secret import Secret
from ._transfer import DEFAULT_MAX_RESPONSE_BYTES, BodyTooLarge, BoundedBody
from ._version import __version__
from .exceptions import (
    APICertificateError,
    APIConnectionError,
    APITimeoutError,
    CloreAPIError,
    DBError,
    InvalidResponseError,
    MissingAPIKeyError,
    OrderOutcomeUnknown,
    OrderPendingError,
    RateLimitError,
    ResponseTooLargeError,
    UnknownAPIError,
    error_for_code,
)
from .models import Order

__all__ = ["ClientCore", "Flow", "Send", "Sleep", "DEFAULT_BASE_URL"]

log = logging.getLogger("clore_ai")

DEFAULT_BASE_URL = "https://api.clore.ai/v1"
POLL_INTERVAL = 1.0
LEASE_SLACK = 1.0  # an attempt ends within its timeout (plus scheduling): then the key is free
T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Send:
    request: httpx.Request


Outcome = Union[httpx.Response, httpx.HTTPError]
Flow = Generator[Union[Sleep, Send], Optional[Outcome], T]
Parser = Callable[[bytes], "tuple[int, T]"]

# Failures after which the request provably never reached the server.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


# ── response decoding ──────────────────────────────────────────────────────


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int


def envelope_parser(field: str | None, model: type[Any], *, many: bool = False) -> Parser[Any]:
    """A parser for ``{"code": 0, field: ...}`` bodies.

    The body is parsed once with pydantic-core's JSON parser (faster than ``json.loads``)
    and the objects are validated from Python: unlike ``model_validate_json``, this lets
    lazily validated fields (``_lazy.py``) keep the parsed dicts without converting them.
    With ``many``, a list whose items do not all validate falls back to item-by-item
    validation, dropping (and logging) the broken ones: one odd server must not hide the
    whole marketplace.
    """
    envelope: Any = None
    if field is not None:
        annotation: Any = List[model] if many else Optional[model]  # type: ignore[valid-type]
        default: Any = [] if many else None
        envelope = type(
            f"_{field}_envelope",
            (_Envelope,),
            {"__annotations__": {field: annotation}, field: default},
        )

    def parse(body: bytes) -> tuple[int, Any]:
        data = from_json(body)
        if field is None:
            code = _Envelope.model_validate(data).code
            return code, (model.model_validate(data) if code == 0 else None)
        try:
            parsed = envelope.model_validate(data)
            return parsed.code, getattr(parsed, field)
        except ValidationError:
            if not many:
                raise
        code = _Envelope.model_validate(data).code
        items = data.get(field) if isinstance(data, dict) else None
        if code != 0 or not isinstance(items, list):
            raise ValueError("unexpected shape")
        kept = []
        for item in items:
            try:
                kept.append(model.model_validate(item))
            except ValidationError:
                log.warning("skipped a malformed %s entry in the response", field)
        return code, kept

    return parse


def code_only(body: bytes) -> tuple[int, dict[str, Any]]:
    return _Envelope.model_validate_json(body).code, {"code": 0}


def dict_body(body: bytes) -> tuple[int, dict[str, Any]]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return _Envelope.model_validate(data).code, data


def _error_body(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("code"), int) and not isinstance(data["code"], bool):
        return data
    return None


def _describe_body(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    size = len(response.content)
    return f"HTTP {response.status_code}, {kind}, {size} bytes"


def decode(response: httpx.Response, parse: Parser[T]) -> T:
    """Turn a response into a result or a typed clore error, whatever the HTTP status."""
    body = response.content
    status = response.status_code
    retry_after = parse_retry_after(response.headers)
    try:
        code, value = parse(body)
    except (ValidationError, ValueError, TypeError, RecursionError, AttributeError):
        code, value = -1, None
    if code == 0 and 200 <= status < 300:
        return value  # type: ignore[return-value]
    data = _error_body(body)
    if status == 429 or (data is not None and data["code"] == 5):
        raise RateLimitError(
            "rate limit exceeded (HTTP 429 / code 5)",
            code=5,
            response=data,
            http_status=status,
            retry_after=retry_after,
        )
    if data is not None and data["code"] != 0:
        raise error_for_code(data["code"], data, http_status=status)
    if data is not None and 200 <= status < 300:
        raise InvalidResponseError(
            "the API answered code 0 but the response did not have the expected fields",
            code=0,
            response=data,
            http_status=status,
        )
    raise InvalidResponseError(
        f"unexpected response from the Clore.ai API ({_describe_body(response)}); try again later",
        http_status=status,
    )


def _log_exchange(request: httpx.Request, outcome: Outcome | None) -> None:
    """Debug log of one exchange: method, URL, status, size — never headers or bodies (secrets)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    if isinstance(outcome, httpx.Response):
        result = f"HTTP {outcome.status_code}, {len(outcome.content)} bytes"
    else:
        result = type(outcome).__name__
    log.debug("%s %s -> %s", request.method, request.url, result)


def _certificate_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    for _ in range(8):  # httpx wraps httpcore, which wraps ssl
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def transport_error(error: httpx.HTTPError) -> CloreAPIError:
    """Our error for an httpx failure. It keeps no reference to the request (auth header)."""
    detail = type(error).__name__
    if isinstance(error, BodyTooLarge):
        return ResponseTooLargeError(
            f"the Clore.ai API's answer was larger than max_response_bytes={error.limit}; reading "
            "stopped there and the call was not retried",
            limit=error.limit,
        )
    if _certificate_failure(error):
        return APICertificateError(
            "the Clore.ai API's TLS certificate could not be verified; not retried. Check the system "
            "clock, proxies and CA certificates (SSL_CERT_FILE)"
        )
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"the Clore.ai API did not answer in time ({detail}); try again")
    if isinstance(error, httpx.UnsupportedProtocol):
        return APIConnectionError("the base URL is not an http(s) URL; check base_url/CLORE_API_URL")
    return APIConnectionError(f"could not reach the Clore.ai API ({detail}); check your network")


# ── the core ───────────────────────────────────────────────────────────────


def check_base_url(url: str) -> str:
    """HTTPS only, except on the loopback (the sandbox server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return url.rstrip("/")
    from .exceptions import InvalidInputError

    raise InvalidInputError(
        f"base URL must use https (plain http is allowed only on localhost): {parts.scheme}://{host}"
    )


class ClientCore:
    """Configuration plus the flows. One per client; no I/O."""

    def __init__(
        self,
        *,
        key: Callable[[], Secret | None],
        base_url: str,
        max_retries: int,
        limiter: RateLimiter,
        reconcile_timeout: float = 30.0,
        timeout: httpx.Timeout | None = None,
        max_queue_wait: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rng: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.max_response_bytes = max_response_bytes
        self.max_queue_wait = max_queue_wait
        self.timeout = timeout or httpx.Timeout(30.0, connect=10.0)
        self.base_url = check_base_url(base_url)
        self.max_retries = max_retries
        self.limiter = limiter
        self.reconcile_timeout = reconcile_timeout
        self._rng = rng
        self._wall_clock = wall_clock
        self._user_agent = f"clore-ai/{__version__} (+https://github.com/clore) httpx/{httpx.__version__}"

    # requests

    def build_request(
        self,
        endpoint: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        auth: bool = True,
    ) -> httpx.Request:
        headers = {"user-agent": self._user_agent, "accept": "application/json"}
        secret = self._key()
        if secret is not None:
            headers["auth"] = secret.reveal()
        elif auth:
            raise MissingAPIKeyError()
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["content"] = json.dumps(json_body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        # The timeout travels with the request: httpx before 0.28 does not apply the client's
        # timeout to a request it did not build, and a silent server would hang us forever.
        return httpx.Request(
            method,
            f"{self.base_url}/{endpoint}",
            params=params,
            headers=headers,
            extensions={"timeout": self.timeout.as_dict()},
            **kwargs,
        )

    def exchange(self, request: httpx.Request) -> BoundedBody:
        """The bounds of one attempt: ``timeout`` for all of it, ``max_response_bytes`` decoded."""
        return BoundedBody(request, limit=self.max_response_bytes, timeout=self.attempt_timeout)

    @property
    def attempt_timeout(self) -> float:
        read = self.timeout.read
        return 30.0 if read is None else read

    # reads (and idempotent writes)

    def call(
        self,
        endpoint: str,
        parse: Parser[T],
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        auth: bool = True,
        retry: bool = True,
    ) -> Flow[T]:
        """Send with rate limiting; retry transient failures up to ``max_retries``."""
        attempt = 0
        while True:
            request = self.build_request(
                endpoint, method=method, params=params, json_body=json_body, auth=auth
            )
            yield from self._take_slot()
            try:
                outcome = yield Send(request)
            finally:
                self.limiter.done()  # also when cancelled mid-send: the key is free again
            _log_exchange(request, outcome)
            try:
                if isinstance(outcome, httpx.HTTPError) or outcome is None:
                    raise transport_error(outcome) if outcome is not None else APIConnectionError()
                result = decode(outcome, parse)
            except CloreAPIError as error:
                delay = self._retry_delay(error, attempt, retry)
                if delay is None:
                    raise
                attempt += 1
                log.debug("retrying %s after %s (attempt %d)", endpoint, type(error).__name__, attempt)
                yield from self._wait(delay)
                continue
            self.limiter.succeeded()
            return result

    def _wait(self, seconds: float) -> Generator[Sleep, Any, None]:
        if seconds > 0:
            yield Sleep(seconds)

    def _take_slot(self, *, order: bool = False) -> Generator[Sleep, Any, None]:
        """Wait for a reserved slot, then for the key's turn: the previous send long enough
        ago, its answer in (one request in flight per key) and no older waiter in the
        cross-process queue. The send then holds the key for at most one attempt's time."""
        yield from self._wait(self.limiter.reserve(order=order, max_wait=self.max_queue_wait))
        ticket = new_ticket()
        lease = self.attempt_timeout + LEASE_SLACK
        try:
            while True:
                extra = self.limiter.ready(order=order, ticket=ticket, lease=lease)
                if extra <= 0:
                    return
                yield Sleep(extra)
        except BaseException:
            self.limiter.abandon(ticket)
            raise

    def _retry_delay(self, error: CloreAPIError, attempt: int, retry: bool) -> float | None:
        if isinstance(error, RateLimitError):
            if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
                return None
            # The limiter holds every caller back by the penalty; the next reservation
            # waits for it, so the flow itself need not sleep.
            self.limiter.throttled(error.retry_after)
            return 0.0 if retry and attempt < self.max_retries else None
        if not retry or attempt >= self.max_retries or not is_retryable_read(error):
            return None
        return backoff_delay(attempt, self._rng)

    # create_order

    def create_order(
        self, body: dict[str, Any], *, list_orders: Callable[[], Flow[list[Order]]]
    ) -> Flow[Order]:
        """Send create_order at most once per provably-failed attempt and return the new order.

        The API answers only ``{"code": 0}``. The order is found in ``my_orders`` as the
        newest order on ``renting_server`` that was not there before. After any failure
        that might have happened after sending, the request is never re-sent: the same
        search decides between returning the order and :class:`OrderOutcomeUnknown`.
        """
        server_id = int(body["renting_server"])
        spot = body.get("type") == "spot"
        before = yield from list_orders()
        known = {order.id for order in before}
        attempt = 0
        while True:
            request = self.build_request("create_order", method="POST", json_body=body)
            yield from self._take_slot(order=True)
            sent_at = self._wall_clock()
            try:
                outcome = yield Send(request)
                self.limiter.done()
                _log_exchange(request, outcome)
            except GeneratorExit:
                self.limiter.done()
                log.warning(
                    "create_order on server %s was interrupted after it was sent; the outcome is "
                    "unknown: check with `clore orders` before trying again",
                    server_id,
                )
                raise
            ambiguity, error = self._classify_order_outcome(outcome)
            if error is not None:
                # Only failures that provably never reached the server, and that reads would
                # retry too (so never a certificate failure), may be sent again.
                retryable = ambiguity is None and (
                    isinstance(error, RateLimitError)
                    or (isinstance(outcome, _UNSENT) and is_retryable_read(error))
                )
                if not retryable or attempt >= self.max_retries:
                    raise error
                if isinstance(error, RateLimitError):
                    self.limiter.throttled(error.retry_after, order=True)
                else:
                    yield from self._wait(backoff_delay(attempt, self._rng))
                attempt += 1
                continue
            order = yield from self._find_new_order(known, server_id, spot, list_orders)
            if order is not None:
                order.reconciled = ambiguity is not None
                return order
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(sent_at))
            if ambiguity is not None:
                raise OrderOutcomeUnknown(
                    f"create_order on server {server_id} was sent at {when} but {ambiguity}; it was "
                    "NOT re-sent and the order did not appear. Check with `clore orders` before retrying",
                    server_id=server_id,
                    sent_at=sent_at,
                    cause=ambiguity,
                )
            raise OrderPendingError(
                f"the API accepted create_order on server {server_id} at {when} but the order has not "
                f"appeared within {self.reconcile_timeout:g} s; check with `clore orders`",
                server_id=server_id,
                sent_at=sent_at,
                code=0,
            )

    def _classify_order_outcome(self, outcome: Outcome | None) -> tuple[str | None, CloreAPIError | None]:
        """(ambiguity, error): ambiguity names why the outcome is unknown; error is definitive."""
        if outcome is None:
            return "the request failed", None
        if isinstance(outcome, httpx.HTTPError):
            error = transport_error(outcome)
            if isinstance(outcome, _UNSENT):
                return None, error
            return f"the answer was lost ({type(outcome).__name__})", None
        try:
            decode(outcome, code_only)
        except RateLimitError as error:
            return None, error
        except (DBError, InvalidResponseError, UnknownAPIError) as error:
            return f"the answer was not a clear success or failure ({error.message})", None
        except CloreAPIError as error:
            return None, error
        return None, None

    def _find_new_order(
        self,
        known: set[int],
        server_id: int,
        spot: bool,
        list_orders: Callable[[], Flow[list[Order]]],
    ) -> Flow[Order | None]:
        deadline = self.limiter.clock() + self.reconcile_timeout
        while True:
            try:
                orders = yield from list_orders()
            except CloreAPIError as error:
                log.warning("could not list orders while looking for the new order: %s", error)
                orders = []
            claimed = self.limiter.claimed_order_ids
            candidates = [
                o
                for o in orders
                if o.id not in known
                and o.id not in claimed
                and o.server_id == server_id
                and bool(o.spot) == spot
            ]
            if candidates:
                newest = max(candidates, key=lambda o: (o.ct or 0, o.id))
                claimed.add(newest.id)
                return newest
            if self.limiter.clock() >= deadline:
                return None
            # Polls are spaced by the limiter; this only matters when it is switched off.
            yield from self._wait(max(0.0, POLL_INTERVAL - self.limiter.interval))
