"""The sandbox as an httpx transport, for ``CloreAI(transport=...)`` and ``AsyncCloreAI``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from .. import _httpx  # noqa: F401 - first: httpx without its command-line module

# isort: split
import httpx

from ._api import Sandbox, SandboxResponse
from ._store import MemoryStore

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """One object serves both clients. ``sleep``/``async_sleep`` wait out latency faults."""

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        sleep: Callable[[float], Any] = time.sleep,
        async_sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.sandbox = sandbox or Sandbox()
        self._sleep = sleep
        self._async_sleep = async_sleep

    @property
    def journal_scope(self) -> Any:
        """The sandbox, when it lives only in this process (no state file): the SDK keeps the
        create_order journal of its orders apart from every other API's (``_inflight``)."""
        return self.sandbox if isinstance(self.sandbox.store, MemoryStore) else None

    def _answer(self, request: httpx.Request) -> SandboxResponse:
        query = dict(request.url.params.items())
        return self.sandbox.handle(request.method, request.url.path, query, request.headers, request.content)

    @staticmethod
    def _to_httpx(request: httpx.Request, answer: SandboxResponse) -> httpx.Response:
        if answer.drop == "connect":
            raise httpx.ConnectError("sandbox: connection refused", request=request)
        if answer.drop == "drop":
            raise httpx.RemoteProtocolError(
                "sandbox: server disconnected without sending a response", request=request
            )
        if answer.drop == "timeout":
            raise httpx.ReadTimeout("sandbox: read timed out", request=request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        answer = self._answer(request)
        if answer.delay:
            self._sleep(answer.delay)
        return self._to_httpx(request, answer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        answer = self._answer(request)
        if answer.delay:
            await self._async_sleep(answer.delay)
        return self._to_httpx(request, answer)
