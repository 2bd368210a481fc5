"""Shared pieces of the rent tests: other renters taking servers, crashes at chosen points."""

from __future__ import annotations

import json
from typing import Any, Callable

import httpx

from clore_ai.sandbox import Sandbox, SandboxTransport
from clore_ai.sandbox._api import _fingerprint


class Crash(BaseException):
    """A process dying mid-run (not an Exception: nothing in the SDK may catch it)."""


def take(sandbox: Sandbox, key: str, server_id: int, rented: bool = True) -> None:
    """Another renter takes (or frees) ``server_id``, as this account's marketplace sees it."""
    with sandbox._lock, sandbox.store.transaction() as accounts:
        account = accounts.get(_fingerprint(key))
        assert account is not None, "the account exists once it has sent a request"
        account["rented_overrides"][str(server_id)] = rented


def set_price(sandbox: Sandbox, server_id: int, currency: str, per_day: float) -> None:
    """The host changes the on-demand price (in ``currency`` and its USD value)."""
    wire = sandbox.catalogue.servers[server_id].wire
    old = wire["price"]["on_demand"][currency]
    wire["price"]["on_demand"][currency] = per_day
    usd_key = {"bitcoin": "on_demand_btc", "CLORE-Blockchain": "on_demand_clore"}.get(currency)
    if usd_key and old:
        wire["price"]["usd"][usd_key] = wire["price"]["usd"][usd_key] * per_day / old
    sandbox._body_cache.clear()


class MarketTransport(SandboxTransport):
    """The sandbox, plus a hook run on each create_order before it reaches the API (servers
    taken between listing and sending) and a crash at a chosen request."""

    def __init__(self, sandbox: Sandbox, key: str, **kwargs: Any) -> None:
        super().__init__(sandbox, **kwargs)
        self.key = key
        self.before_create: Callable[[int], None] | None = None
        # (request number, "before" or "after" it reaches the API) at which the process dies
        self.crash_at: tuple[int, str] | None = None
        # or (endpoint, its n-th request from now, "before"/"after")
        self.crash_on: tuple[str, int, str] | None = None
        self.count = 0

    def _crashes(self, request: httpx.Request, when: str) -> bool:
        if self.crash_at == (self.count, when):
            self.crash_at = None
            return True
        if self.crash_on is not None and request.url.path.endswith("/" + self.crash_on[0]):
            endpoint, nth, moment = self.crash_on
            if when == "before" and nth > 1:
                self.crash_on = (endpoint, nth - 1, moment)
            elif nth == 1 and moment == when:
                self.crash_on = None
                return True
        return False

    def _hooks(self, request: httpx.Request) -> None:
        self.count += 1
        if self._crashes(request, "before"):
            raise Crash()
        if self.before_create is not None and request.url.path.endswith("/create_order"):
            self.before_create(int(json.loads(request.content)["renting_server"]))

    def _after(self, request: httpx.Request) -> None:
        if self._crashes(request, "after"):
            raise Crash()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self._hooks(request)
        response = super().handle_request(request)
        self._after(request)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self._hooks(request)
        response = await super().handle_async_request(request)
        self._after(request)
        return response


def create_requests(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.endpoint == "create_order"]
