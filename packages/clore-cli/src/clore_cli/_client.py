"""The CLI's client: the SDK client that also remembers whether create_order went out."""

from __future__ import annotations

from typing import Any

import httpx

from clore_ai import CloreAI


class TrackingCloreAI(CloreAI):
    """Sets :attr:`create_order_sent` as soon as a create_order request starts to be sent.

    A Ctrl-C before that provably sent nothing (plain ``interrupted``, exit 130); after it, an
    order may exist and bill (``clore deploy`` says so, exit 7).
    """

    create_order_sent = False

    def _send(self, request: httpx.Request) -> Any:
        if request.url.path.rstrip("/").endswith("/create_order"):
            self.create_order_sent = True
        return super()._send(request)
