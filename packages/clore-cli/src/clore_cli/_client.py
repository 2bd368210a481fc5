"""The CLI's client: the SDK client that also remembers whether create_order went out, and
shows a spinner on stderr while a call waits longer than half a second (see ``_spinner``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clore_ai import CloreAI

from . import _spinner

if TYPE_CHECKING:  # imported for real by clore_ai, without httpx's own command line (clore_ai._httpx)
    import httpx


class TrackingCloreAI(CloreAI):
    """Sets :attr:`create_order_sent` as soon as a create_order request starts to be sent.

    A Ctrl-C before that provably sent nothing (plain ``interrupted``, exit 130); after it, an
    order may exist and bill (``clore deploy`` says so, exit 7).
    """

    create_order_sent = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sleep = self._sleep

        def noted_sleep(seconds: float) -> Any:
            spinner = _spinner.current()
            if spinner is not None:
                spinner.update(self._sleep_text())
            return sleep(seconds)

        self._sleep = noted_sleep

    def _sleep_text(self) -> str:
        try:
            limiter = self._core.limiter
            queued = limiter.backlog() > 0
        except Exception:  # noqa: BLE001 - only the spinner's text depends on it
            queued = False
        if queued:
            interval = limiter.interval
            rate = f"1 request/{interval:g}s" if interval != 1 else "1 request/s"
            return f"waiting for our turn (rate limit: {rate} per key)…"
        return "waiting before trying again…"

    def expect_create_order(self) -> None:
        """A command that may send create_order starts: forget an earlier command's send (in
        ``clore shell`` this client serves many commands)."""
        self.create_order_sent = False

    def _drive(self, flow: Any) -> Any:
        with _spinner.waiting(_spinner.API_TEXT):
            return super()._drive(flow)

    def _send(self, request: httpx.Request) -> Any:
        spinner = _spinner.current()
        if spinner is not None:
            spinner.update(_spinner.API_TEXT)
        if request.url.path.rstrip("/").endswith("/create_order"):
            self.create_order_sent = True
        return super()._send(request)
