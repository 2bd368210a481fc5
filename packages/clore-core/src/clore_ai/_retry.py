"""What to retry and how long to wait: pure functions, no I/O."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Callable, Mapping

from .exceptions import (
    APICertificateError,
    APIConnectionError,
    CloreAPIError,
    DBError,
    InvalidResponseError,
    RateLimitError,
    ResponseTooLargeError,
)

__all__ = ["MAX_RETRY_AFTER", "backoff_delay", "is_retryable_read", "parse_retry_after"]

MAX_RETRY_AFTER = 60.0
BASE_DELAY = 0.5
MAX_DELAY = 8.0


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Exponential back-off ``min(0.5·2^attempt, 8)`` with jitter in [75 %, 100 %]."""
    ceiling = min(BASE_DELAY * (1 << min(attempt, 16)), MAX_DELAY)
    return ceiling * (1.0 - 0.25 * rng())


def is_retryable_read(error: CloreAPIError) -> bool:
    """Reads are retried on transient failures only, never on codes 2/3/4/6, bad certificates
    or oversize answers (the same answer would come again)."""
    if isinstance(error, (APICertificateError, ResponseTooLargeError)):
        return False
    if isinstance(error, (APIConnectionError, RateLimitError, DBError)):
        return True
    if isinstance(error, InvalidResponseError):
        status = error.http_status
        return status is None or status == 408 or status >= 500 or 200 <= status < 300
    return False


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Garbage or negative values give None (the caller falls back to back-off).
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value:  # not NaN
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - now()
    if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, inf
        return None
    return seconds
