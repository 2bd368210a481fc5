"""Doing one step every ``interval`` seconds: what ``MarketWatch.run`` and ``SpotKeeper.run``
share (sync and async), with the clock and the sleeper injected for virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Callable, TypeVar

from .exceptions import APIConnectionError, InvalidResponseError, RateLimitError

__all__ = ["TRANSIENT_ERRORS", "apolled", "polled"]

T = TypeVar("T")

# What a long-running loop survives (after the client's own retries): the next round tries again.
TRANSIENT_ERRORS = (APIConnectionError, RateLimitError, InvalidResponseError)


def _pause(clock: Callable[[], float], interval: float, until: float | None) -> float:
    return interval if until is None else max(0.0, min(interval, until - clock()))


def polled(
    step: Callable[[], T],
    *,
    clock: Callable[[], float],
    interval: float,
    sleep: Callable[[float], None],
    until: float | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> Iterator[T]:
    """``step()``'s results, one every ``interval`` until ``until`` (a ``clock`` time) or forever.

    Transient errors go to ``on_error`` and the next round tries again; without ``on_error``
    they are raised. The consumer stops the loop by leaving it.
    """
    while until is None or clock() < until:
        try:
            result = step()
        except TRANSIENT_ERRORS as error:
            if on_error is None:
                raise
            on_error(error)
        else:
            yield result
        sleep(_pause(clock, interval, until))


async def apolled(
    step: Callable[[], Awaitable[T]],
    *,
    clock: Callable[[], float],
    interval: float,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    until: float | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> AsyncIterator[T]:
    """:func:`polled` for coroutines (``sleep``: ``asyncio.sleep`` unless one is injected)."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    while until is None or clock() < until:
        try:
            result = await step()
        except TRANSIENT_ERRORS as error:
            if on_error is None:
                raise
            on_error(error)
        else:
            yield result
        await sleep(_pause(clock, interval, until))
