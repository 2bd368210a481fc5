"""A spinner on stderr for any wait longer than half a second (API answer, rate limit, back-off).

Only at a terminal: when stderr is not a TTY nothing is drawn at all. Started lazily by a
timer, so quick answers show nothing; stopped when the wait ends, before any output. One at
a time: a wait inside another (a request while ``deploy --wait`` polls) keeps the outer one.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

THRESHOLD = 0.5
API_TEXT = "waiting for the Clore.ai API…"


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


Timer = Callable[[float, Callable[[], None]], _Cancellable]


def _thread_timer(seconds: float, action: Callable[[], None]) -> _Cancellable:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


_active = threading.local()


class Spinner:
    """One wait's spinner; :meth:`update` changes its text (also before it is shown)."""

    def __init__(self, text: str, *, stream: Any, make_status: Callable[[str], Any] | None) -> None:
        self.text = text
        self.stream = stream
        self._make_status = make_status
        self._lock = threading.Lock()
        self._status: Any = None
        self._done = False

    @property
    def shown(self) -> bool:
        return self._status is not None

    def _show(self) -> None:
        with self._lock:
            if self._done or self._status is not None:
                return
            if self._make_status is not None:
                status = self._make_status(self.text)
            else:
                from rich.console import Console

                status = Console(file=self.stream, stderr=True).status(self.text)
            status.start()
            self._status = status

    def update(self, text: str) -> None:
        with self._lock:
            if text == self.text:
                return
            self.text = text
            if self._status is not None:
                self._status.update(text)

    def _stop(self) -> None:
        with self._lock:
            self._done = True
            if self._status is not None:
                self._status.stop()


class _NoSpinner(Spinner):
    def update(self, text: str) -> None:
        self.text = text


@contextmanager
def waiting(
    text: str = API_TEXT,
    *,
    threshold: float = THRESHOLD,
    stream: Any = None,
    isatty: Callable[[], bool] | None = None,
    timer: Timer | None = None,
    make_status: Callable[[str], Any] | None = None,
) -> Iterator[Spinner]:
    """Show ``text`` with a spinner on stderr if the block takes longer than ``threshold`` seconds."""
    stream = sys.stderr if stream is None else stream
    outer: Spinner | None = getattr(_active, "spinner", None)
    if outer is not None:  # nested: the outer wait's spinner goes on
        yield _NoSpinner(text, stream=stream, make_status=None)
        return
    try:
        tty = isatty() if isatty is not None else bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        tty = False
    if not tty:
        yield _NoSpinner(text, stream=stream, make_status=None)
        return
    spinner = Spinner(text, stream=stream, make_status=make_status)
    pending = (timer or _thread_timer)(threshold, spinner._show)
    _active.spinner = spinner
    try:
        yield spinner
    finally:
        _active.spinner = None
        pending.cancel()
        spinner._stop()


def current() -> Spinner | None:
    """The spinner of the wait under way in this thread, if any."""
    spinner: Spinner | None = getattr(_active, "spinner", None)
    return spinner


def silence_this_thread() -> None:
    """No spinner is ever drawn for a wait in the calling thread: for a background thread
    (the shell's toolbar refresher), whose waits must not draw over the prompt."""
    _active.spinner = _NoSpinner("", stream=None, make_status=None)
