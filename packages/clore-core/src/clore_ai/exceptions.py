"""Every error the SDK raises.

All of them derive from :class:`CloreAPIError`, so ``except CloreAPIError`` catches
everything the SDK can raise, including transport failures. Messages are short, say
what to do, and never contain an API key: exceptions keep the decoded response body,
never the request (which carries the ``auth`` header).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "APICertificateError",
    "AuthError",
    "CloreAPIError",
    "CloreError",
    "DBError",
    "FieldError",
    "InvalidEndpointError",
    "InvalidInputError",
    "InvalidResponseError",
    "ResponseTooLargeError",
    "MissingAPIKeyError",
    "OrderOutcomeUnknown",
    "OrderOwnerUnknown",
    "OrderPendingError",
    "OrderRateLimited",
    "RateLimitError",
    "RateLimitQueueTimeout",
    "RemoteError",
    "RemoteLoginRefused",
    "UnknownAPIError",
    "CredentialsError",
    "KeyringUnavailableError",
    "error_for_code",
]

_MAX_MESSAGE = 500


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class CloreAPIError(Exception):
    """Base class of every clore error.

    ``code`` is the API's body code (``None`` for failures that never got one, such as a
    dropped connection), ``response`` the decoded response body when there was one.
    """

    default_message = "the Clore.ai API reported an error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int | None = None,
        response: Mapping[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.response: dict[str, Any] | None = dict(response) if response is not None else None
        self.http_status = http_status
        self.message = _bounded(message or self.default_message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not pickle by default; errors cross process pools.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[CloreAPIError], state: dict[str, Any]) -> CloreAPIError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


CloreError = CloreAPIError
"""Alias: the root of the hierarchy under its conventional name."""


class DBError(CloreAPIError):
    """Code 1: the API reported a database error. Retried automatically for reads."""

    default_message = "the Clore.ai API reported a database error (code 1); try again shortly"


class InvalidInputError(CloreAPIError):
    """Code 2, or input rejected locally before any request was sent."""

    default_message = "the request data was rejected as invalid (code 2)"


class AuthError(CloreAPIError):
    """Code 3: the API key is missing or invalid."""

    default_message = "the API key was rejected (code 3); check CLORE_API_KEY or run `clore auth login`"


class MissingAPIKeyError(AuthError):
    """No API key was found in the argument, the environment, the keyring or the config file."""

    default_message = "no API key found: set CLORE_API_KEY, run `clore auth login`, or pass api_key=..."


class CredentialsError(CloreAPIError):
    """A key could not be stored, read or deleted (keyring or config file problem)."""


class KeyringUnavailableError(CredentialsError):
    """No keyring could store the key (absent, failing or not answering); nothing was stored.

    ``reason`` says which. Storing in the plain-text config file instead needs consent
    (``store_api_key(..., allow_file=True)``; ``clore auth login --insecure-storage``).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"could not store the key in the keyring: {reason}; nothing was stored")
        self.reason = reason


class InvalidEndpointError(CloreAPIError):
    """Code 4: the API does not know the endpoint."""

    default_message = "the Clore.ai API does not know this endpoint (code 4)"


class RateLimitError(CloreAPIError):
    """Code 5 or HTTP 429, still failing after the configured retries.

    ``retry_after`` is the delay the server asked for, in seconds, when it sent one.
    """

    default_message = "rate limit exceeded (code 5) after retrying; slow down and try again"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class RateLimitQueueTimeout(RateLimitError):
    """The client's own rate-limit queue would have made this call wait longer than the
    client's ``max_queue_wait``. Nothing was sent and no slot was taken; ``retry_after`` is
    the wait that was refused."""


class FieldError(CloreAPIError):
    """Code 6: a business error named by the ``error`` field of the response.

    ``error`` is that string (e.g. ``"not_enough_balance"``); ``details`` holds the extra
    fields the API sent with it (``max_step``, ``time_to_lowering``, ``min_price`` …).
    """

    default_message = "the Clore.ai API rejected the request (code 6)"

    @property
    def error(self) -> str | None:
        value = (self.response or {}).get("error")
        return value if isinstance(value, str) else None

    @property
    def details(self) -> dict[str, Any]:
        return {k: v for k, v in (self.response or {}).items() if k not in ("code", "error")}

    def __getattr__(self, name: str) -> Any:
        # e.max_step / e.time_to_lowering read the extra fields of the response.
        response = self.__dict__.get("response") or {}
        if name in response and name not in ("code",):
            return response[name]
        raise AttributeError(name)


class UnknownAPIError(CloreAPIError):
    """The API answered with a code this SDK does not know."""


class APIConnectionError(CloreAPIError):
    """The request did not complete: connection refused, reset, or dropped."""

    default_message = "could not reach the Clore.ai API; check your network and try again"


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    default_message = "the Clore.ai API did not answer in time; try again or raise timeout="


class APICertificateError(APIConnectionError):
    """The server's TLS certificate could not be verified. Never retried: it does not fix
    itself, and it may mean someone is intercepting the connection."""


class InvalidResponseError(CloreAPIError):
    """The API answered with something that is not a valid Clore.ai response (HTML, bad JSON …)."""

    default_message = "the Clore.ai API sent a response that could not be understood"


class ResponseTooLargeError(InvalidResponseError):
    """The decoded answer passed ``max_response_bytes``; reading stopped there. Never retried
    (the same answer would come again); after create_order the order is looked up instead."""

    default_message = "the Clore.ai API's answer was larger than max_response_bytes"

    def __init__(self, message: str | None = None, *, limit: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class OrderOutcomeUnknown(CloreAPIError):
    """A create_order request may or may not have created an order.

    The request was sent, then the answer was lost or unreadable, and the order did not
    show up in ``my_orders`` while the SDK looked for it. It was **not** re-sent. Check
    with ``clore orders`` (or ``client.my_orders()``) before trying again.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        server_id: int | None = None,
        sent_at: float | None = None,
        cause: str | None = None,
        candidate_order_ids: Sequence[int] = (),
        **kw: Any,
    ) -> None:
        self.server_id = server_id
        self.sent_at = sent_at
        self.cause = cause
        #: New orders on the server that may be this call's; none of them was adopted.
        self.candidate_order_ids: tuple[int, ...] = tuple(candidate_order_ids)
        super().__init__(message, **kw)


class OrderRateLimited(OrderOutcomeUnknown, RateLimitError):
    """create_order was answered 429 (code 5) until clore stopped: a :class:`RateLimitError`,
    as ``except RateLimitError`` around ``create_order`` expects, and an
    :class:`OrderOutcomeUnknown`, because a 429 can come after the order was made. No order
    of this call appeared in ``my_orders``; check with ``clore orders`` before trying again."""


class OrderPendingError(OrderOutcomeUnknown):
    """The API accepted create_order (``{"code": 0}``) but the order has not appeared yet."""


class OrderOwnerUnknown(OrderOutcomeUnknown):
    """A new order appeared on the server, but it may belong to another caller with the same
    key (another thread, task or process renting the same server at the same time), so it
    was not adopted. ``candidate_order_ids`` lists the orders that may be this call's."""


_BY_CODE: dict[int, type[CloreAPIError]] = {
    1: DBError,
    2: InvalidInputError,
    3: AuthError,
    4: InvalidEndpointError,
    5: RateLimitError,
    6: FieldError,
}


def error_for_code(
    code: int, response: Mapping[str, Any] | None = None, *, http_status: int | None = None
) -> CloreAPIError:
    """Build the exception for an API body ``code``."""
    cls = _BY_CODE.get(code, UnknownAPIError)
    message: str | None = None
    if cls is FieldError:
        error = (response or {}).get("error")
        extras = {k: v for k, v in (response or {}).items() if k not in ("code", "error")}
        shown = ", ".join(f"{k}={_short(v)}" for k, v in list(extras.items())[:4])
        message = f"API error: {_short(error)}" + (f" ({shown})" if shown else "")
    elif cls is UnknownAPIError:
        message = f"the Clore.ai API answered with unknown code {_short(code)}"
    return cls(message, code=code, response=response, http_status=http_status)


def _short(value: object, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RemoteError(CloreAPIError):
    """An SSH connection, login, command or file transfer on a rented server failed
    (:mod:`clore_ai.remote`). The message names the host and port, never a password or key."""

    default_message = "the SSH connection to the server failed"


class RemoteLoginRefused(RemoteError):
    """The server's SSH refused the login: the password or key given does not work there.
    Trying the same credentials again cannot help (a lost connection can)."""
