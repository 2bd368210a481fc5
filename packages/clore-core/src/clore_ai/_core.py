"""The sans-IO request core shared by :class:`CloreAI` and :class:`AsyncCloreAI`.

A call is a *flow*: a generator that yields :class:`Sleep` (wait this long) or
:class:`Send` (send this request) and receives, for each ``Send``, either the
``httpx.Response`` or the ``httpx.HTTPError`` the transport raised. It returns the result
or raises a clore error. Building requests, decoding responses, rate limiting, retries and
create_order reconciliation all live here; the clients only sleep and send.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, List, Mapping, Optional, TypeVar, Union
from urllib.parse import urlsplit

from . import _httpx  # noqa: F401 - first: httpx without its command-line module

# isort: split
import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import from_json

from ._gcpause import gc_paused
from ._inflight import ACCEPTED, REFUSED, UNKNOWN, InflightJournal, journal_for_key, order_matches
from ._lazy import UnreadableItem, read_leniently, share_batch, unread_fields_of
from ._limiter import RateLimiter, new_ticket
from ._rawjson import ListingDecoder, listing_decoder
from ._retry import MAX_RETRY_AFTER, backoff_delay, is_retryable_read, parse_retry_after
from ._secret import Secret
from ._transfer import DEFAULT_MAX_RESPONSE_BYTES, BodyTooLarge, BoundedBody
from ._version import __version__
from .exceptions import (
    APICertificateError,
    APIConnectionError,
    APITimeoutError,
    AuthError,
    CloreAPIError,
    DBError,
    InvalidResponseError,
    MissingAPIKeyError,
    OrderOutcomeUnknown,
    OrderOwnerUnknown,
    OrderPendingError,
    OrderRateLimited,
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


def envelope_parser(
    field: str | None,
    model: type[Any],
    *,
    many: bool = False,
    skip: Callable[[Any], bool] | None = None,
) -> Parser[Any]:
    """A parser for ``{"code": 0, field: ...}`` bodies.

    The body is parsed once with pydantic-core's JSON parser (faster than ``json.loads``)
    and the objects are validated from Python: unlike ``model_validate_json``, this lets
    lazily validated fields (``_lazy.py``) keep the parsed dicts without converting them.
    The whole answer is validated strictly first (the fast path). With ``many``, when some
    items fail, each of those is read leniently (``_lazy.read_leniently``): a field of an
    unexpected shape is set aside and reads ``None``, the item is kept. Only an item that no
    reading can turn into the model (not an object, no readable ``id``) is left out, and the
    number left out is logged as a WARNING: nothing vanishes silently.

    ``skip`` (with ``many``) drops raw items before any model is built for them: only for
    items the caller would filter out anyway and that are certainly readable (a marketplace
    server plainly ``"rented": true`` when only available ones are wanted). The parsed
    answer then never holds models - nor, after the drop, raw objects - for them. A raw item
    is a parsed object, or for models with lazy fields the struct of ``_rawjson``'s fast
    reading (every field an attribute), so ``skip`` must read both.
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

    fast: list[ListingDecoder | None] = []  # built on first use: a TypeAdapter costs import time

    def parse(body: bytes) -> tuple[int, Any]:
        with gc_paused():  # a burst of live containers: see _gcpause
            if many and field is not None:
                if not fast:
                    fast.append(listing_decoder(field, model, skip))
                decode = fast[0]
                found = decode(body) if decode is not None else None
                if found is not None:  # nested objects kept as JSON text: see _rawjson
                    share_batch(found)
                    return 0, found
            return _parse(body)

    def _parse(body: bytes) -> tuple[int, Any]:
        data = from_json(body)
        total = None
        if skip is not None and many and isinstance(data, dict) and isinstance(data.get(field), list):
            total = len(data[field])
            data[field] = [item for item in data[field] if not skip(item)]
        if field is None:
            code = _Envelope.model_validate(data).code
            if code != 0:
                return code, None
            try:
                return code, model.model_validate(data)
            except ValidationError:
                return code, _read_one(model, data, alone=True)
        try:
            parsed = envelope.model_validate(data)
        except ValidationError:
            pass
        else:
            found = getattr(parsed, field)
            if many:
                share_batch(found)
            return parsed.code, found
        code = _Envelope.model_validate(data).code
        items = data.get(field) if isinstance(data, dict) else None
        if code != 0:
            return code, None
        if items is None:
            return code, [] if many else None
        if not many:
            return code, _read_one(model, items, alone=True)
        if not isinstance(items, list):
            raise ValueError("unexpected shape")
        kept = []
        lost = inner = 0
        for item in items:
            try:
                kept.append(model.model_validate(item))
            except ValidationError:
                try:
                    kept.append(_read_one(model, item, alone=False))
                except UnreadableItem:
                    lost += 1
                else:
                    inner += len(_left_out_elements(kept[-1]))
        if lost:
            log.warning(
                "%d of %d %s in the response could not be read and %s left out",
                lost,
                total or len(items),
                field,
                "was" if lost == 1 else "were",
            )
        if inner:
            log.warning(
                "%d list element(s) inside %s of the response could not be read and were left out "
                "(raw values in unread_fields)",
                inner,
                field,
            )
        share_batch(kept)
        return code, kept

    return parse


def _left_out_elements(instance: Any) -> list[str]:
    """Paths of the list elements (an offer, a coin) lenient reading took out of a list."""
    unread = unread_fields_of(instance)
    return sorted(path for path in unread if path.rpartition(".")[2].split("#")[0].isdigit())


def _read_one(model: type[Any], data: Any, *, alone: bool) -> Any:
    """One object read leniently; fields set aside are logged at INFO (the item is kept),
    list elements left out at WARNING (for a list answer, once for all its items)."""
    instance = read_leniently(model, data)
    log.info(
        "read a %s with field(s) of an unexpected shape: %s (kept raw in unread_fields)",
        model.__name__,
        ", ".join(sorted(unread_fields_of(instance))),
    )
    elements = _left_out_elements(instance) if alone else []
    if elements:
        log.warning(
            "%d list element(s) of the %s response could not be read and were left out: %s "
            "(raw values in unread_fields)",
            len(elements),
            model.__name__,
            ", ".join(elements),
        )
    return instance


def code_only(body: bytes) -> tuple[int, dict[str, Any]]:
    return _Envelope.model_validate_json(body).code, {"code": 0}


def dict_body(body: bytes) -> tuple[int, dict[str, Any]]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return _Envelope.model_validate(data).code, data


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _error_body(body: bytes) -> dict[str, Any] | None:
    data = _json_object(body)
    if data is not None and isinstance(data.get("code"), int) and not isinstance(data["code"], bool):
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
    if status == 401:  # the key was refused before the API could say code 3 (a gateway's page)
        raise AuthError(
            "the API key was rejected (HTTP 401); check CLORE_API_KEY or run `clore auth login`",
            code=3,
            response=_json_object(body),
            http_status=status,
        )
    raise InvalidResponseError(
        f"unexpected response from the Clore.ai API ({_describe_body(response)}); try again later",
        response=_json_object(body),  # a JSON object without a code is still kept
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


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: Any) -> str:
    """HTTPS only, except on the loopback (the sandbox server): the parsed host must be
    ``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``), not just look like one."""
    from .exceptions import InvalidInputError

    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("base URL must be text like https://api.clore.ai/v1", code=2)
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
        httpx.URL(url.strip())
    except (ValueError, httpx.InvalidURL):
        raise InvalidInputError(
            "base URL is not a valid URL; check its host and port (1-65535)", code=2
        ) from None
    if not host or parts.port == 0:
        raise InvalidInputError("base URL needs a host (and a port from 1 to 65535)", code=2)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(host)):
        return url.strip().rstrip("/")
    raise InvalidInputError(
        f"base URL must use https (plain http is allowed only on localhost): {parts.scheme}://{host}"[:200],
        code=2,
    )


class ClientCore:
    """Configuration plus the flows. One per client; no I/O."""

    def __init__(
        self,
        *,
        key: Callable[[], Secret | None],
        base_url: str,
        max_retries: int,
        limiter: RateLimiter | Callable[[Secret | None], RateLimiter],
        key_ready: Callable[[], bool] | None = None,
        reconcile_timeout: float = 30.0,
        timeout: httpx.Timeout | None = None,
        max_queue_wait: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rng: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        # False while the key is not looked up yet (the keyring is probed lazily): a public
        # call then goes without one, under the anonymous limiter, and never resolves it.
        self._key_ready = key_ready or (lambda: True)
        self._limiter: RateLimiter | None = None
        if isinstance(limiter, RateLimiter):
            self._limiter = limiter
            self._limiter_for: Callable[[Secret | None], RateLimiter] = lambda _secret: limiter
        else:
            self._limiter_for = limiter
        self.max_response_bytes = max_response_bytes
        self.max_queue_wait = max_queue_wait
        self.timeout = timeout or httpx.Timeout(30.0, connect=10.0)
        self.base_url = check_base_url(base_url)
        self.max_retries = max_retries
        self.reconcile_timeout = reconcile_timeout
        self._rng = rng
        self._wall_clock = wall_clock
        self._user_agent = f"clore-ai/{__version__} (+https://github.com/clore) httpx/{httpx.__version__}"
        # The create_order journal of this key, shared with every client and process (_inflight).
        self.order_journal: InflightJournal | None = None
        # An API that lives only in this process (the transport says so): its journal is its own.
        self.journal_scope: Any = None

    @property
    def limiter(self) -> RateLimiter:
        """The limiter of this client's key (looked up the first time it is needed)."""
        if self._limiter is None:
            self._limiter = self._limiter_for(self._key())
        return self._limiter

    def key_changed(self) -> None:
        """The client's key was replaced: its limiter and order journal are looked up again."""
        self._limiter = None
        self.order_journal = None

    def _keyed(self, auth: bool) -> bool:
        """Whether a call goes with the key: always when it needs one, else once it is known."""
        return auth or self._limiter is not None or self._key_ready()

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
        secret = self._key() if self._keyed(auth) else None
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
        retried: list[CloreAPIError] | None = None,
    ) -> Flow[T]:
        """Send with rate limiting; retry transient failures up to ``max_retries``.

        ``retried`` collects the failures that were retried, for a caller whose answer
        depends on whether an earlier attempt may have reached the API (a dropped answer).
        """
        attempt = 0
        # One limiter for the whole call, chosen with the key it sends (none: anonymous).
        limiter = self.limiter if self._keyed(auth) else self._limiter_for(None)
        while True:
            request = self.build_request(
                endpoint, method=method, params=params, json_body=json_body, auth=auth
            )
            yield from self._take_slot(limiter=limiter)
            try:
                outcome = yield Send(request)
            finally:
                limiter.done()  # also when cancelled mid-send: the key is free again
            _log_exchange(request, outcome)
            try:
                if isinstance(outcome, httpx.HTTPError) or outcome is None:
                    raise transport_error(outcome) if outcome is not None else APIConnectionError()
                result = decode(outcome, parse)
            except CloreAPIError as error:
                delay = self._retry_delay(error, attempt, retry, limiter)
                if delay is None:
                    raise
                if retried is not None:
                    retried.append(error)
                attempt += 1
                log.debug("retrying %s after %s (attempt %d)", endpoint, type(error).__name__, attempt)
                yield from self._wait(delay)
                continue
            limiter.succeeded()
            return result

    def _wait(self, seconds: float) -> Generator[Sleep, Any, None]:
        if seconds > 0:
            yield Sleep(seconds)

    def _take_slot(
        self, *, order: bool = False, limiter: RateLimiter | None = None
    ) -> Generator[Sleep, Any, None]:
        """Wait for a reserved slot, then for the key's turn: the previous send long enough
        ago, its answer in (one request in flight per key) and no older waiter in the
        cross-process queue. The send then holds the key for at most one attempt's time."""
        limiter = limiter or self.limiter
        yield from self._wait(limiter.reserve(order=order, max_wait=self.max_queue_wait))
        ticket = new_ticket()
        lease = self.attempt_timeout + LEASE_SLACK
        try:
            while True:
                extra = limiter.ready(order=order, ticket=ticket, lease=lease)
                if extra <= 0:
                    return
                yield Sleep(extra)
        except BaseException:
            limiter.abandon(ticket)
            raise

    def _retry_delay(
        self, error: CloreAPIError, attempt: int, retry: bool, limiter: RateLimiter | None = None
    ) -> float | None:
        if isinstance(error, RateLimitError):
            if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER:
                return None
            # The limiter holds every caller back by the penalty; the next reservation
            # waits for it, so the flow itself need not sleep.
            (limiter or self.limiter).throttled(error.retry_after)
            return 0.0 if retry and attempt < self.max_retries else None
        if not retry or attempt >= self.max_retries or not is_retryable_read(error):
            return None
        return backoff_delay(attempt, self._rng)

    # create_order

    def _order_journal(self) -> InflightJournal:
        if self.order_journal is None:
            secret = self._key()
            key = secret.reveal() if secret is not None else None
            self.order_journal = journal_for_key(key, self.journal_scope)
        return self.order_journal

    def create_order(
        self, body: dict[str, Any], *, list_orders: Callable[[], Flow[list[Order]]]
    ) -> Flow[Order]:
        """Send create_order at most once per provably-failed attempt and return the new order.

        The API answers only ``{"code": 0}``. The order is found in ``my_orders`` as the one
        new order on ``renting_server`` that matches every field of the request my_orders
        shows, and that no other caller with this key may own (the order journal,
        ``_inflight``). After any failure that might have happened after sending — a 429
        included — nothing is re-sent until a look at my_orders shows the order is absent;
        the same search decides between returning the order and :class:`OrderOutcomeUnknown`.
        """
        before = yield from list_orders()
        call = _OrderCall(body, int(body["renting_server"]), {o.id for o in before}, self._order_journal())
        try:
            return (yield from self._create_order(call, list_orders))
        except GeneratorExit:  # a cancelled task, Ctrl-C: the caller must learn an order may exist
            if call.may_exist:
                log.warning(
                    "create_order on server %s was sent at %s and interrupted before clore knew its "
                    "result; the outcome is unknown and the order may exist and be billing: check "
                    "with `clore orders` before trying again",
                    call.server_id,
                    _utc(call.sent_at),
                )
            raise
        finally:
            if call.ticket is not None:  # no-op once the call recorded how it ended
                call.journal.mark(call.ticket, UNKNOWN)

    def _create_order(self, call: _OrderCall, list_orders: Callable[[], Flow[list[Order]]]) -> Flow[Order]:
        attempt = 0
        refusal: CloreAPIError | None = None
        while True:
            request = self.build_request("create_order", method="POST", json_body=call.body)
            yield from self._take_slot(order=True)
            call.sent_at = self._wall_clock()
            if call.ticket is None:
                call.ticket = call.journal.begin(call.server_id, call.body, call.sent_at)
            call.may_exist = True
            try:
                outcome = yield Send(request)
            finally:
                self.limiter.done()  # also when cancelled mid-send: the key is free again
            _log_exchange(request, outcome)
            if isinstance(outcome, _UNSENT) and not call.maybe_sent:
                call.may_exist = False  # this attempt never left, and no earlier one may have worked
            ambiguity, error = self._classify_order_outcome(outcome)
            call.rate_limited = error if isinstance(error, RateLimitError) else None
            if isinstance(error, RateLimitError):
                # A proxy or the API may answer 429 after the order was made: from now on an
                # order may exist, and nothing is re-sent before my_orders shows it does not.
                call.maybe_sent = True
            long_wait = (
                isinstance(error, RateLimitError)
                and error.retry_after is not None
                and error.retry_after > MAX_RETRY_AFTER
            )
            if isinstance(error, RateLimitError):
                # Never hold the key back longer than reads would wait: the my_orders look-up
                # that follows must not be pushed back by an hour while an order may bill.
                retry_after = error.retry_after
                self.limiter.throttled(
                    None if retry_after is None else min(retry_after, MAX_RETRY_AFTER), order=True
                )
            if long_wait:
                # Asked to wait longer than clore ever waits: never re-sent; look for the order
                # (within reconcile_timeout), adopt it if it is ours, else say it may exist.
                ambiguity = _LONG_429
            elif error is not None:
                # Only failures that provably never reached the server, and that reads would
                # retry too (so never a certificate failure), may be sent again.
                retryable = ambiguity is None and (
                    isinstance(error, RateLimitError)
                    or (isinstance(outcome, _UNSENT) and is_retryable_read(error))
                )
                if retryable and attempt < self.max_retries:
                    if not isinstance(error, RateLimitError):  # a 429 throttled the key above
                        yield from self._wait(backoff_delay(attempt, self._rng))
                    if not call.maybe_sent:
                        attempt += 1
                        continue
                    absent = yield from self._provably_absent(call, list_orders)
                    if absent:
                        attempt += 1
                        continue
                    ambiguity = _AFTER_429
                elif call.maybe_sent:
                    # A refusal (server-already-rented …) after a 429 may be about our own order,
                    # and so may the last 429 itself: look before raising either.
                    ambiguity = _AFTER_429
                    refusal = None if isinstance(error, RateLimitError) else error
                else:
                    call.journal.mark(call.ticket, REFUSED)
                    raise error
            elif ambiguity is None:
                call.accepted = True
                call.journal.mark(call.ticket, ACCEPTED)
            order, candidates = yield from self._find_new_order(call, list_orders)
            if order is not None:
                order.reconciled = ambiguity is not None
                return order
            raise self._order_not_found(call, ambiguity, candidates, refusal)

    def _order_not_found(
        self, call: _OrderCall, ambiguity: str | None, candidates: list[int], refusal: CloreAPIError | None
    ) -> OrderOutcomeUnknown:
        where = f"create_order on server {call.server_id} was sent at {_utc(call.sent_at)}"
        details: dict[str, Any] = {"server_id": call.server_id, "sent_at": call.sent_at}
        if candidates:
            shown = ", ".join(str(i) for i in candidates[:5]) + (" …" if len(candidates) > 5 else "")
            return OrderOwnerUnknown(
                f"{where}; new order(s) {shown} appeared on that server, but another caller with this "
                "key may have rented it at the same time, so clore cannot tell which order is yours. It was "
                "NOT re-sent and nothing was adopted. Check with `clore orders` before retrying",
                cause=ambiguity or "another caller rented the same server",
                candidate_order_ids=candidates,
                **details,
            )
        if refusal is not None:
            return OrderOutcomeUnknown(
                f"{where}; the API answered 429, which can come after an order was made, then refused "
                f"the resend ({refusal.message}) and no order of yours appeared. Check with `clore "
                "orders` before retrying",
                cause=_AFTER_429,
                **details,
            )
        if ambiguity is not None:
            message = (
                f"{where} but {ambiguity}; it was NOT re-sent and the order did not appear. Check "
                "with `clore orders` before retrying"
            )
            if call.rate_limited is not None:  # rate limited to the end: a RateLimitError too
                retry_after = call.rate_limited.retry_after
                return OrderRateLimited(message, cause=ambiguity, retry_after=retry_after, code=5, **details)
            return OrderOutcomeUnknown(message, cause=ambiguity, **details)
        return OrderPendingError(
            f"the API accepted create_order on server {call.server_id} at {_utc(call.sent_at)} but the "
            f"order has not appeared within {self.reconcile_timeout:g} s; check with `clore orders`",
            code=0,
            **details,
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

    def _provably_absent(self, call: _OrderCall, list_orders: Callable[[], Flow[list[Order]]]) -> Flow[bool]:
        """Before a resend: True only if my_orders was read and shows no order that may be ours."""
        try:
            orders = yield from list_orders()
        except CloreAPIError as error:
            log.warning("could not list orders before re-sending create_order: %s", error)
            return False
        claimed = call.journal.claimed_orders()  # other callers' orders
        return not [o for o in orders if o not in claimed and self._may_be_ours(call, o)]

    def _may_be_ours(self, call: _OrderCall, order: Order) -> bool:
        return (
            order.id not in call.known
            and order.server_id == call.server_id
            and order_matches(order, call.body)
        )

    def _pick_order(self, call: _OrderCall, orders: list[Order]) -> tuple[Order | None, list[int]]:
        """(the order this call adopts, or None; the ids it could not tell apart from others').

        An order is adopted only when it is the one new unclaimed order that matches the
        request, and no other caller with this key that may own an order on the server
        (another thread, task or process, from the journal) asked for one it also matches —
        except that a call the API answered code 0 knows its order exists, so a rival whose
        answer was lost does not stop it (one account cannot hold two orders on one server).
        """
        claimed = call.journal.claimed_orders()
        new = [o for o in orders if o not in claimed and self._may_be_ours(call, o)]
        if not new:
            return None, []
        rivals = [
            rival
            for rival in call.journal.rivals(call.ticket or "", call.server_id)
            if any(order_matches(o, rival.visible) for o in new)
        ]
        unopposed = not rivals or (call.accepted and all(r.state != ACCEPTED for r in rivals))
        if len(new) == 1 and unopposed:
            if call.ticket is not None and call.journal.claim(call.ticket, new[0]):
                return new[0], []
            return None, []  # another caller claimed it a moment ago: not ours
        return None, sorted(o.id for o in new)

    def _find_new_order(
        self, call: _OrderCall, list_orders: Callable[[], Flow[list[Order]]]
    ) -> Flow[tuple[Order | None, list[int]]]:
        deadline = self.limiter.clock() + self.reconcile_timeout
        candidates: list[int] = []
        while True:
            try:
                orders: list[Order] | None = yield from list_orders()
            except CloreAPIError as error:
                log.warning("could not list orders while looking for the new order: %s", error)
                orders = None
            if orders is not None:
                order, candidates = self._pick_order(call, orders)
                if order is not None:
                    return order, []
            if self.limiter.clock() >= deadline:
                return None, candidates
            # Polls are spaced by the limiter; this only matters when it is switched off.
            yield from self._wait(max(0.0, POLL_INTERVAL - self.limiter.interval))


_LONG_429 = (
    f"the API answered 429 (rate limited) asking to wait longer than {MAX_RETRY_AFTER:g} s; a 429 can "
    "come after the order was made, so an order may exist and be billing"
)
_AFTER_429 = "the API answered 429 (rate limited), which a proxy or the API can send after the order was made"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


@dataclass
class _OrderCall:
    """One create_order call: what it asked for and what it has learnt so far."""

    body: dict[str, Any]
    server_id: int
    known: set[int]  # order ids that existed before the call
    journal: InflightJournal
    ticket: str | None = None  # its journal entry, written right before the first send
    sent_at: float = 0.0
    accepted: bool = False  # the API answered code 0: an order of this call exists
    maybe_sent: bool = False  # an answer (a 429) might have come after the order was made
    may_exist: bool = False  # a request was sent that might have created an order
    rate_limited: RateLimitError | None = None  # the last answer, when it was a 429
