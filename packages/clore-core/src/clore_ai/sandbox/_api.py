"""The sandbox API: one request in, one response out, following clore-api.md.

:meth:`Sandbox.handle` takes a method, path, query, headers and body and returns a
:class:`SandboxResponse`. The httpx transport and the loopback HTTP server both call it,
so they behave identically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from typing_extensions import TypeGuard

from ._account import CREATION_FEES, FIRST_ORDER_ID, new_account_state
from ._catalogue import RATES, Catalogue, CatalogueServer, build_catalogue
from ._faults import Fault, FaultPlan
from ._market import MarketMotion, moved_price
from ._store import FileStore, MemoryStore
from ._timeline import (
    FORCED_KINDS,
    MARKET_KEY,
    SharedMarket,
    section_of,
    stored_motion,
    stored_speed,
    virtual_now,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._ssh import Endpoint

__all__ = ["RateLimits", "RequestRecord", "Sandbox", "SandboxResponse"]

HTTP_STATUS_FOR_CODE = {0: 200, 1: 500, 2: 400, 3: 401, 4: 404, 5: 429, 6: 200}
#: Code 6 errors the live API sends with another HTTP status than 200 (recorded: github
#: dieuhaukieuhanh/gpuvietnam, create_order ``currency-not-allowed`` with HTTP 500).
HTTP_STATUS_FOR_ERROR = {"currency-not-allowed": 500}
LOWERING_PERIOD = 600
MAX_STEP_SHARE = 0.3  # a spot bid may drop by at most 30 % of its value per change
EPSILON = 1e-12
_CITIES = ("msk", "prg", "fra", "hel")
#: The domain of sandbox hosts that have no server behind them (sample orders, orders without ssh).
SANDBOX_DOMAIN = "clore-sandbox.invalid"


@dataclass(frozen=True)
class RateLimits:
    """Per-key limits the sandbox enforces (429 + ``{"code":5}`` when exceeded)."""

    interval: float = 1.0
    order_interval: float = 5.0

    @classmethod
    def off(cls) -> RateLimits:
        return cls(0.0, 0.0)

    def scaled(self, factor: float) -> RateLimits:
        return RateLimits(self.interval * factor, self.order_interval * factor)


@dataclass(frozen=True)
class SandboxResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None  # "connect", "drop" or "timeout": the transport fails instead
    delay: float = 0.0  # seconds to wait before answering (latency fault)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it (for tests: arrival gaps, what was sent)."""

    at: float
    key: str
    endpoint: str
    method: str
    status: int
    code: int | None


class _Answer(Exception):
    """Raised by a rule to answer with an error code at once."""

    def __init__(self, code: int, error: str | None = None, **extra: Any) -> None:
        super().__init__(error or str(code))
        self.payload: dict[str, Any] = {"code": code}
        if error is not None:
            self.payload["error"] = error
        self.payload.update(extra)


#: Requests after which the sandbox's SSH endpoints are brought in line with the orders.
_SSH_ENDPOINTS = frozenset(
    {"create_order", "cancel_order", "cancel_orders", "my_orders", "create_gigaspot_orders"}
)


class _SSHHosting(Protocol):
    def apply(self, wanted: Mapping[str, Endpoint]) -> None: ...


def _fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class Sandbox:
    """A stateful, offline Clore.ai API.

    ``servers``/``seed`` shape the marketplace; ``clock`` (wall seconds) drives order
    times, spend, deployment, spot lowering and rate limits; ``rate_limits`` may be
    ``RateLimits.off()``; ``state_file`` persists accounts across processes.

    ``market`` makes the marketplace move with time (:class:`MarketMotion`: other renters,
    drifting prices, competing spot bids); ``speed`` runs the sandbox's time ``speed`` times
    faster than ``clock`` on one time line kept in the store (shared by the processes using
    one state file). Without them (and with nothing set by :meth:`configure_market` in the
    store) the market stands still, as it always did.

    ``ssh``: give every order with container port 22 a real SSH server on 127.0.0.1 (needs
    ``clore-core[ssh]``, POSIX). ``None`` (the default) turns it on for a file-backed sandbox
    (what ``clore --sandbox`` uses; ``CLORE_SANDBOX_SSH=0`` turns it off) and off in memory.
    In memory the servers run in a thread of this process; call :meth:`close` to stop them.
    """

    def __init__(
        self,
        *,
        servers: int = 300,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        rate_limits: RateLimits | None = None,
        deploy_seconds: float = 5.0,
        state_file: str | None = None,
        store: MemoryStore | FileStore | None = None,
        market: MarketMotion | None = None,
        speed: float | None = None,
        ssh: bool | None = None,
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError("speed must be a positive number")
        self.catalogue: Catalogue = build_catalogue(servers, seed)
        self.clock = clock
        self.market = market
        self.speed = speed
        self._shared = SharedMarket({}, None, 0.0)
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self.deploy_seconds = deploy_seconds
        self.store = store or (FileStore(state_file) if state_file else MemoryStore())
        self.faults = FaultPlan()
        self.ssh = self._wants_ssh(ssh)
        self._ssh_host: _SSHHosting | None = None
        self.requests: deque[RequestRecord] = deque(maxlen=100_000)
        self._lock = threading.RLock()
        self._body_cache: dict[str, tuple[int, bytes]] = {}
        self._routes: dict[str, tuple[str, Callable[..., dict[str, Any] | bytes], bool]] = {
            "wallets": ("GET", self._wallets, True),
            "marketplace": ("GET", self._marketplace, False),
            "my_servers": ("GET", self._my_servers, True),
            "server_config": ("GET", self._server_config, True),
            "my_orders": ("GET", self._my_orders, True),
            "spot_marketplace": ("GET", self._spot_marketplace, True),
            "set_server_settings": ("POST", self._set_server_settings, True),
            "set_spot_price": ("POST", self._set_spot_price, True),
            "cancel_order": ("POST", self._cancel_order, True),
            "cancel_orders": ("POST", self._cancel_orders, True),
            "create_order": ("POST", self._create_order, True),
            "poh_balance": ("GET", self._poh_balance, True),
            "renter_fees": ("GET", self._renter_fees, True),
            "get_gigaspot": ("GET", self._get_gigaspot, True),
            "create_gigaspot_orders": ("POST", self._create_gigaspot_orders, True),
            "edit_gigaspot_orders": ("POST", self._edit_gigaspot_orders, True),
        }

    def _wants_ssh(self, ssh: bool | None) -> bool:
        from ._ssh import ssh_available

        if ssh is None:
            on = isinstance(self.store, FileStore) and os.environ.get("CLORE_SANDBOX_SSH", "1") != "0"
            return on and ssh_available()
        if ssh and not ssh_available():
            raise RuntimeError(
                "the sandbox's SSH endpoints need asyncssh on a POSIX system: pip install 'clore-core[ssh]'"
            )
        return ssh

    def _ssh_hosting(self) -> _SSHHosting:
        if self._ssh_host is None:
            if isinstance(self.store, FileStore):
                from ._sshd import DaemonSSHHost

                self._ssh_host = DaemonSSHHost(self.store.path.resolve())
            else:
                import tempfile
                from pathlib import Path

                from ._ssh import ThreadedSSHHost

                self._ssh_host = ThreadedSSHHost(Path(tempfile.mkdtemp(prefix="clore-sandbox-ssh-")))
        return self._ssh_host

    def close(self) -> None:
        """Stops this sandbox's in-process SSH servers (a file-backed sandbox's host process
        stops by itself once no order needs it)."""
        from ._ssh import ThreadedSSHHost

        host, self._ssh_host = self._ssh_host, None
        if isinstance(host, ThreadedSSHHost):
            import shutil

            host.close()
            shutil.rmtree(host.host.root, ignore_errors=True)

    def ssh_home(self, api_key: str, order_id: int) -> str | None:
        """The container directory of an order's SSH endpoint (tests look inside it)."""
        host = self._ssh_host
        if host is None:
            return None
        from ._ssh import ThreadedSSHHost

        name = f"{_fingerprint(api_key)}-{order_id}"
        if isinstance(host, ThreadedSSHHost):
            return str(host.host.home_of(name))
        from ._sshd import DaemonSSHHost

        assert isinstance(host, DaemonSSHHost)
        return str(host.dir / "containers" / name)

    # ── entry point ───────────────────────────────────────────────────────

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> SandboxResponse:
        endpoint = path.rstrip("/").rsplit("/", 1)[-1]
        fault = self.faults.take(endpoint)
        if fault is not None and not fault.execute:
            # It still arrived: tests count arrivals, executed or not.
            key = headers.get("auth")
            fingerprint = _fingerprint(key) if key else "anonymous"
            answer = self._fault_response(fault, None)
            self.requests.append(
                RequestRecord(self.clock(), fingerprint, endpoint, method.upper(), answer.status, None)
            )
            return answer
        status, payload_bytes, endpoints = self._execute(method.upper(), endpoint, query, headers, body)
        if endpoints is not None:
            self._ssh_hosting().apply(endpoints)
        response = SandboxResponse(status, payload_bytes, {"content-type": "application/json"})
        return self._fault_response(fault, response) if fault is not None else response

    def _execute(
        self, method: str, endpoint: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, Endpoint] | None]:
        """The answer, and the SSH endpoints every account's orders need now (when this
        request is one that may change them)."""
        key = headers.get("auth")
        endpoints = None
        with self._lock, self.store.transaction() as accounts:
            now = self._begin(accounts)
            fingerprint = _fingerprint(key) if key else "anonymous"
            try:
                route = self._routes.get(endpoint)
                if route is None or route[0] != method:
                    raise _Answer(4)
                _, rule, needs_auth = route
                if key is not None and key.startswith("invalid"):
                    raise _Answer(3)
                if key is None and needs_auth:
                    raise _Answer(3)
                account = accounts.get(fingerprint)
                if account is None:
                    first_id = int(section_of(accounts).get("next_order_id", FIRST_ORDER_ID))
                    account = accounts[fingerprint] = new_account_state(fingerprint, now, first_id)
                for order in account["orders"].values():
                    # spot billing follows the book epoch by epoch: keep what is billed so far,
                    # so the next request starts from here instead of from the order's creation
                    self._bill(account, order, now)
                self._check_rate(account, endpoint, now)
                args = self._arguments(method, query, body)
                result = rule(account, args, now)
            except _Answer as answer:
                result = answer.payload
            code = None if isinstance(result, bytes) else int(result.get("code", 0))
            status = HTTP_STATUS_FOR_CODE.get(code if code is not None else 0, 200)
            if code == 6 and isinstance(result, dict):
                status = HTTP_STATUS_FOR_ERROR.get(str(result.get("error")), status)
            self.requests.append(RequestRecord(now, fingerprint, endpoint, method, status, code))
            if self.ssh and endpoint in _SSH_ENDPOINTS:
                from ._ssh import endpoints_of

                endpoints = endpoints_of(accounts)
        return status, result if isinstance(result, bytes) else _dumps(result), endpoints

    def _arguments(self, method: str, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = dict(query)
        if body:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise _Answer(2) from None
            if isinstance(decoded, list):  # the GigaSPOT batches are JSON arrays
                args["_items"] = decoded
                return args
            if not isinstance(decoded, dict):
                raise _Answer(2)
            args.update(decoded)
        return args

    def _check_rate(self, account: dict[str, Any], endpoint: str, now: float) -> None:
        limits = self.rate_limits
        last = account.get("last_request")
        if last is not None and now - last < limits.interval - EPSILON:
            raise _Answer(5)
        if endpoint == "create_order":
            last_order = account.get("last_create_order")
            if last_order is not None and now - last_order < limits.order_interval - EPSILON:
                raise _Answer(5)
            account["last_create_order"] = now
        account["last_request"] = now

    def _fault_response(self, fault: Fault, real: SandboxResponse | None) -> SandboxResponse:
        kind = fault.kind
        if kind == "latency":
            base = real or SandboxResponse(200, b'{"code":0}', {"content-type": "application/json"})
            return SandboxResponse(base.status, base.body, base.headers, delay=fault.latency)
        if kind == "drop_before":
            return SandboxResponse(0, b"", drop="connect", delay=fault.latency)
        if kind == "drop_after":
            return SandboxResponse(0, b"", drop="drop", delay=fault.latency)
        if kind == "timeout_after":
            return SandboxResponse(0, b"", drop="timeout", delay=fault.latency)
        if kind == "html_5xx":
            page = (
                f"<html><head><title>{fault.status} Bad Gateway</title></head><body>cloudflare</body></html>"
            )
            return SandboxResponse(
                fault.status, page.encode(), {"content-type": "text/html"}, delay=fault.latency
            )
        if kind == "truncated_json":
            body = real.body if real else b'{"code":0}'
            return SandboxResponse(200, body[: max(1, len(body) // 2)], {"content-type": "application/json"})
        if kind == "invalid_json":
            return SandboxResponse(200, b'{"code": 0, oops', {"content-type": "application/json"})
        headers = {"content-type": "application/json"}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        return SandboxResponse(429, b'{"code":5}', headers, delay=fault.latency)

    def _begin(self, accounts: dict[str, Any], wall: float | None = None) -> float:
        """The virtual time of this request; what the market looks like at it."""
        now = virtual_now(accounts, self.clock() if wall is None else wall, self.speed)
        motion = self.market if self.market is not None else stored_motion(accounts)
        self._shared = SharedMarket(section_of(accounts), motion, now)
        return now

    # ── the market's time and motion: for tests and tools ─────────────────

    def now(self) -> float:
        """The sandbox's (virtual) time: what orders, spend and the market move by."""
        with self._lock, self.store.transaction() as accounts:
            return self._begin(accounts)

    def advance(self, seconds: float) -> float:
        """Move the sandbox's time ``seconds`` forward; its new time.

        With a :class:`VirtualClock` (any clock with ``advance``) the clock moves; otherwise
        the time line kept in the store jumps, for every process using it (``clore sandbox
        advance``): orders age and spend, the market moves on.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("the sandbox's time only moves forward")
        advance = getattr(self.clock, "advance", None)
        if advance is not None:
            advance(seconds)
            return self.now()
        with self._lock, self.store.transaction() as accounts:
            wall = self.clock()
            now = virtual_now(accounts, wall, self.speed)
            speed = self.speed if self.speed is not None else stored_speed(accounts)
            timeline = {"wall": wall, "at": now + seconds, "speed": speed}
            section_of(accounts, create=True)["timeline"] = timeline
            return now + seconds

    def motion(self) -> MarketMotion | None:
        """The market motion in effect: ``Sandbox(market=...)``, else the stored setting."""
        with self._lock, self.store.transaction() as accounts:
            self._begin(accounts)
            return self._shared.motion

    def market_status(self) -> dict[str, Any]:
        """The time line and market motion in effect: ``now``, ``speed``, ``motion``, ``epoch``."""
        with self._lock, self.store.transaction() as accounts:
            wall = self.clock()
            now = self._begin(accounts, wall)
            timeline = section_of(accounts).get("timeline")
            motion = self._shared.motion
            return {
                "now": now,
                "speed": self.speed if self.speed is not None else stored_speed(accounts),
                "offset": (now - wall) if timeline else 0.0,
                "motion": motion.to_json() if motion else None,
                "epoch": motion.epoch(now) if motion else None,
            }

    def configure_market(self, motion: MarketMotion | None, *, speed: float = 1.0) -> None:
        """Keep a market setting in the store, for every sandbox using it (``clore sandbox
        market``): ``motion`` (None: a still market) and ``speed``. Arguments given to
        ``Sandbox(market=..., speed=...)`` still win in that process."""
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError("speed must be a positive number")
        with self._lock, self.store.transaction() as accounts:
            now = self._begin(accounts)  # anchor the time line at the old speed first
            self._bill_every_account(accounts, now)  # spot orders won under the old motion until now
            settings: dict[str, Any] = {"speed": float(speed)}
            if motion is not None:
                settings["motion"] = motion.to_json()
            section_of(accounts, create=True)["settings"] = settings
            virtual_now(accounts, self.clock(), self.speed)
            self._body_cache.clear()

    def _mark(self, kind: str, key: str, value: Any) -> None:
        with self._lock, self.store.transaction() as accounts:
            self._begin(accounts)
            section_of(accounts, create=True).setdefault(kind, {})[key] = value

    def take_server(
        self, server_id: int, *, seconds: float | None = None, when_ordered: bool = False
    ) -> None:
        """Another renter takes ``server_id`` now (for every account), for ``seconds`` of
        sandbox time or until :meth:`free_server`: ``rented`` in the marketplace, and
        ``create_order`` on-demand answers ``server-already-rented``.

        ``when_ordered=True`` plays the race instead: the server still looks free, and the
        next on-demand ``create_order`` on it loses (``server-already-rented``); from then on
        it is taken as above."""
        if when_ordered:
            self._mark("race", str(server_id), seconds)
            return
        until = None if seconds is None else self.now() + seconds
        self._mark("taken", str(server_id), until)

    def set_offline(self, server_id: int, *, seconds: float | None = None) -> None:
        """``server_id`` goes offline (``server-offline``; ``online: false`` in its spot market)."""
        until = None if seconds is None else self.now() + seconds
        self._mark("offline", str(server_id), until)

    def free_server(self, server_id: int) -> None:
        """Undo :meth:`take_server` and :meth:`set_offline` for ``server_id``."""
        with self._lock, self.store.transaction() as accounts:
            section = section_of(accounts)
            for kind in FORCED_KINDS:
                (section.get(kind) or {}).pop(str(server_id), None)

    def place_bid(
        self, server_id: int, bid: float, currency: str = "bitcoin", *, seconds: float | None = None
    ) -> int:
        """Another user bids ``bid`` (per day, in ``currency``) for ``server_id``'s spot
        market; the highest bid in USD is the active one. Returns the offer id."""
        with self._lock, self.store.transaction() as accounts:
            now = self._begin(accounts)
            self._bill_every_account(accounts, now)  # the bid competes from now on
            section = section_of(accounts, create=True)
            offer_id = int(section.get("next_offer", 2_000_000))
            section["next_offer"] = offer_id + 1
            until = None if seconds is None else now + seconds
            section.setdefault("bids", {})[str(offer_id)] = {
                "server": server_id,
                "bid": float(bid),
                "currency": currency,
                "until": until,
            }
            return offer_id

    def withdraw_bid(self, offer_id: int) -> None:
        """Remove a bid :meth:`place_bid` made."""
        with self._lock, self.store.transaction() as accounts:
            self._bill_every_account(accounts, self._begin(accounts))  # it competed until now
            (section_of(accounts).get("bids") or {}).pop(str(offer_id), None)

    # ── inspection helpers for tests ──────────────────────────────────────

    def account_state(self, api_key: str) -> dict[str, Any] | None:
        with self._lock, self.store.transaction() as accounts:
            state = accounts.get(_fingerprint(api_key))
            return json.loads(json.dumps(state)) if state is not None else None

    def orders_created(self, api_key: str) -> list[dict[str, Any]]:
        """Orders the key created in this sandbox (ids >= 1000), newest last."""
        state = self.account_state(api_key) or {"orders": {}}
        return sorted((o for o in state["orders"].values() if o["id"] >= 1000), key=lambda o: o["id"])

    def reset(self) -> None:
        """Forget every account, the time line, the market setting and what was forced on the
        market, but not how far order ids got: a reset sandbox numbers new orders on from there.

        Order ids are never given twice, as on the live API. The SDK's journals (per key, in
        the cache folder, and shared with the live API's when the key is the same) remember
        the orders they adopted by id; an id handed out again would look like an order an
        earlier call had claimed, and the new create_order would not find its own order.
        """
        with self._lock:
            with self.store.transaction() as accounts:
                next_id = max(
                    [int(section_of(accounts).get("next_order_id", FIRST_ORDER_ID))]
                    + [int(a.get("next_order_id", 0)) for k, a in accounts.items() if k != MARKET_KEY]
                )
                accounts.clear()
                if next_id > FIRST_ORDER_ID:
                    accounts[MARKET_KEY] = {"next_order_id": next_id}
            if self._ssh_host is not None:
                self._ssh_host.apply({})
            self._body_cache.clear()
            self.faults.clear()
            self.requests.clear()

    # ── shared pieces ─────────────────────────────────────────────────────

    def _balances(self, account: dict[str, Any], now: float) -> dict[str, float]:
        balances = dict(account["deposits"])
        for order in account["orders"].values():
            currency = order["currency"]
            balances[currency] = (
                balances.get(currency, 0.0)
                - order.get("creation_fee", 0.0)
                - self._spend(account, order, now)
            )
        return balances

    def _spend(self, account: dict[str, Any], order: dict[str, Any], now: float) -> float:
        """What the order has cost by ``now``: what it was billed until its last checkpoint
        (``_spent`` up to ``_billed_to``, see :meth:`_bill`), plus its price per day since
        then — for a spot order only while its bid is the highest on the server's book."""
        since = float(order.get("_billed_to", order["ct"]))
        end = min(now, float(order.get("_ended_at") or now))
        seconds = max(0.0, end - since)
        if order.get("spot") and seconds > 0:
            seconds = self._winning_seconds(account, order, since, end)
        return float(order.get("_spent", 0.0)) + float(order["price"]) * seconds / 86400.0

    def _bill(self, account: dict[str, Any], order: dict[str, Any], now: float) -> None:
        """Keep what the order cost until ``now`` as billed. Called before anything that changes
        what it costs from now on (its price, the bids against it, the market's motion, its
        end), so the change applies only from the moment it happened."""
        if order.get("_ended_at"):
            return
        order["_spent"] = self._spend(account, order, now)
        order["_billed_to"] = max(now, float(order.get("_billed_to", order["ct"])))

    def _bill_every_account(self, accounts: dict[str, Any], now: float) -> None:
        """:meth:`_bill` every running order of every account (the market they share changes)."""
        for key, account in accounts.items():
            if key != MARKET_KEY:
                for order in account["orders"].values():
                    self._bill(account, order, now)

    def _reprice(self, account: dict[str, Any], order: dict[str, Any], price: float, now: float) -> None:
        """A new price per day applies from ``now`` on; the time before keeps the old one."""
        self._bill(account, order, now)
        order["price"] = float(price)

    def _winning_seconds(
        self, account: dict[str, Any], order: dict[str, Any], since: float, end: float
    ) -> float:
        """The seconds between ``since`` and ``end`` in which the spot order's bid was the
        highest on its server's book: a spot order runs, and is billed, only then (Clore's
        renter docs: an outbid spot order stops and stops paying; the book shows it
        ``active: false``). The book changes only at the market's epochs and when a forced
        rival bid expires; other changes are billed up to their moment first (:meth:`_bill`)."""
        shared = self._shared
        cuts = {since, end}
        motion = shared.motion
        if motion is not None:
            epoch = motion.epoch(since) + 1
            while motion.epoch_start(epoch) < end:
                cuts.add(motion.epoch_start(epoch))
                epoch += 1
        for bid in (shared.section.get("bids") or {}).values():
            until = bid.get("until")
            if until is not None and since < float(until) < end:
                cuts.add(float(until))
        points = sorted(cuts)
        return sum(
            later - start
            for start, later in zip(points, points[1:])
            if self._wins_at(account, order, SharedMarket(shared.section, motion, start))
        )

    def _wins_at(self, account: dict[str, Any], order: dict[str, Any], shared: SharedMarket) -> bool:
        """Whether the order's bid is above every other bid on its server at ``shared.now``
        (a tie goes to the other bid, as in :meth:`_spot_book`)."""
        entry = self.catalogue.servers.get(order["si"])
        wire = self._catalogue_wire(account, entry, shared)[0] if entry is not None else None
        mine = float(order["price"]) * RATES.get(order["currency"], 0.0)
        return all(
            mine > o["bid"] * RATES.get(o["currency"], 0.0)
            for o in self._rival_offers(order["si"], wire, shared)
        )

    def _hosted_market_entry(self, account: dict[str, Any], hosted: dict[str, Any]) -> dict[str, Any]:
        coins = hosted.get("allowed_coins") or ["bitcoin"]
        usd_pricing = hosted.get("usd_pricing") or {}
        flat = "on_demand" in usd_pricing
        usd = usd_pricing if flat else usd_pricing.get(coins[0], {})
        return {
            "id": hosted["id"],
            "owner": account["user_id"],
            "mrl": hosted.get("mrl", 72),
            "price": {
                "on_demand": {c: hosted["pricing"].get(c, 0) for c in coins},
                "spot": {c: hosted["spot_pricing"].get(c, 0) for c in coins},
                "usd": {
                    "on_demand_btc": usd.get("on_demand", 0),
                    "on_demand_clore": usd.get("on_demand", 0),
                    "on_demand_usd": usd.get("on_demand", 0),
                    "spot": usd.get("spot", 0),
                },
            },
            "rented": bool(account["rented_overrides"].get(str(hosted["id"]), False)),
            "specs": hosted.get("specs"),
            "reliability": 1.0,
            "allowed_coins": coins,
            "rating": {"avg": 5, "cnt": 3},
            "gpu_array": hosted.get("gpu_array", []),
            "gigaspot": False,
            "cuda_version": "12.4",
        }

    def _public_hosted(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        return [h for h in account["hosted"].values() if h.get("id") and h.get("visibility") == "public"]

    def _catalogue_wire(
        self, account: dict[str, Any], entry: CatalogueServer, shared: SharedMarket | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(marketplace object, online) of a catalogue server now (or at ``shared.now``), as
        the account sees it; ``entry.wire`` itself when nothing differs from the catalogue."""
        wire = entry.wire
        override = account["rented_overrides"].get(str(entry.id))
        shared = shared or self._shared
        motion = shared.motion
        price = wire["price"]
        rented = override if override is not None else wire["rented"]
        online = entry.online
        if motion is not None:
            epoch = motion.epoch(shared.now)
            price = moved_price(price, motion.price_factor_in_epoch(entry.id, epoch))
            if entry.id not in motion.still_servers:
                # my own on-demand order holds a server; otherwise other renters decide
                rented = override is True or motion.taken_in_epoch(entry.id, epoch)
                online = not motion.offline_in_epoch(entry.id, epoch)
        rented = rented or shared.forced("taken", entry.id)
        online = online and not shared.forced("offline", entry.id)
        if rented == wire["rented"] and price is wire["price"]:
            return wire, online
        return {**wire, "rented": rented, "price": price}, online

    def _server_wire(
        self, account: dict[str, Any], server_id: int
    ) -> tuple[dict[str, Any] | None, bool, bool]:
        """(marketplace object, online, owned by the account)."""
        entry = self.catalogue.servers.get(server_id)
        if entry is not None:
            wire, online = self._catalogue_wire(account, entry)
            return dict(wire), online, False
        for hosted in self._public_hosted(account):
            if hosted["id"] == server_id:
                return self._hosted_market_entry(account, hosted), bool(hosted.get("online")), True
        return None, False, False

    def _touch(self, account: dict[str, Any]) -> None:
        account["version"] = account.get("version", 0) + 1

    # ── endpoints ─────────────────────────────────────────────────────────

    def _wallets(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        balances = self._balances(account, now)
        wallets = [
            {
                "name": name,
                "deposit": info["deposit"],
                "balance": round(balances.get(name, 0.0), 8),
                "withdrawal_fee": {"bitcoin": 0.00005, "CLORE-Blockchain": 50, "USD-Blockchain": 1}[name],
            }
            for name, info in account["wallets"].items()
        ]
        return {"wallets": wallets, "code": 0}

    def _marketplace(self, account: dict[str, Any], args: dict[str, Any], now: float) -> bytes:
        # Bodies are cached by what makes them differ (rented overrides, public hosted
        # servers), so fresh accounts share one body and a 5,000-server answer is serialised
        # once per state change, not once per request.
        # With a moving market, the epoch is part of the signature: one body per epoch.
        hosted = self._public_hosted(account)
        overrides = account["rented_overrides"]
        signature = json.dumps([overrides, hosted, self._shared.signature()], sort_keys=True)
        cached = self._body_cache.get(signature)
        if cached is not None:
            return cached[1]
        servers = [self._catalogue_wire(account, entry)[0] for entry in self.catalogue.servers.values()]
        servers.extend(self._hosted_market_entry(account, h) for h in hosted)
        body = _dumps({"servers": servers, "my_servers": [h["id"] for h in hosted], "code": 0})
        if len(self._body_cache) > 64:
            self._body_cache.clear()
        self._body_cache[signature] = (0, body)
        return body

    def _my_servers(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        servers = []
        for hosted in account["hosted"].values():
            item = {
                k: v
                for k, v in hosted.items()
                if k not in ("spot_pricing", "mrl", "background_job", "initialized")
            }
            item["min_spot_pricing"] = hosted.get("spot_pricing", {})
            if hosted.get("id"):
                item["gpu_count"] = len(hosted.get("gpu_array", []))
                item["allowed_currencies"] = hosted.get("allowed_coins", [])
            servers.append(item)
        return {"servers": servers, "limit": 16, "code": 0}

    def _find_hosted(self, account: dict[str, Any], name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise _Answer(2)
        hosted = account["hosted"].get(name)
        if hosted is None:
            raise _Answer(6, "server_dont_exist")
        return hosted  # type: ignore[no-any-return]

    def _server_config(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        hosted = self._find_hosted(account, args.get("server_name"))
        config = {k: v for k, v in hosted.items() if k not in ("init_token", "working_properly")}
        return {"config": config, "creation_completed": bool(hosted.get("id")), "code": 0}

    def _order_wire(self, account: dict[str, Any], order: dict[str, Any], now: float) -> dict[str, Any]:
        wire = {k: v for k, v in order.items() if not k.startswith("_") and k != "ports"}
        wire["spend"] = round(self._spend(account, order, now), 8)
        ended = bool(order.get("_ended_at"))
        wire["expired"] = ended
        wire["online"] = not ended
        if not order.get("spot") and not ended:
            # As the live API answers (real-samples README): a running on-demand order carries
            # neither `spot` nor `expired`. An ended one keeps `expired: true` (our best guess).
            wire.pop("spot", None)
            wire.pop("expired", None)
        wire["mon_container"] = 2 if now >= order.get("_deployed_at", 0) else 1
        entry = self.catalogue.servers.get(order["si"])
        if entry is not None:
            for name in ("specs", "rating", "reliability", "cuda_version", "gpu_array"):
                if name in entry.wire:
                    wire[name] = entry.wire[name]
        return wire

    def _my_orders(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        completed = str(args.get("return_completed", "false")).lower() == "true"
        orders = [
            self._order_wire(account, order, now)
            for order in sorted(account["orders"].values(), key=lambda o: o["id"])
            if completed or not order.get("_ended_at")
        ]
        return {"orders": orders, "limit": 999999, "code": 0}

    def _rival_offers(
        self, server_id: int, wire: dict[str, Any] | None, shared: SharedMarket
    ) -> list[dict[str, Any]]:
        """Other users' bids on ``server_id`` at ``shared.now``: the catalogue's, the moving
        market's (``wire``: the server's marketplace object then) and the forced ones."""
        entry = self.catalogue.servers.get(server_id)
        offers = [dict(o) for o in (entry.spot_offers if entry else ())]
        motion = shared.motion
        if motion is not None and entry is not None and wire is not None:
            coins = wire.get("allowed_coins") or []
            minimums = {c: v for c, v in wire["price"]["spot"].items() if c in coins}
            offers += motion.competing_bids(server_id, shared.now, minimums)
        offers += shared.forced_bids(server_id)
        return offers

    def _spot_book(
        self, account: dict[str, Any], server_id: int, wire: dict[str, Any]
    ) -> list[dict[str, Any]]:
        offers = self._rival_offers(server_id, wire, self._shared)
        for order in account["orders"].values():
            if order["si"] == server_id and order.get("spot") and not order.get("_ended_at"):
                offers.append(
                    {
                        "offer_id": order["id"],
                        "bid": order["price"],
                        "active": False,
                        "my": True,
                        "currency": order["currency"],
                    }
                )
        if offers:
            best = max(offers, key=lambda o: o["bid"] * RATES.get(o["currency"], 0.0))
            for offer in offers:
                offer["active"] = offer is best
        return offers

    def _spot_marketplace(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        raw = args.get("market")
        if raw is None or not str(raw).isdigit():
            raise _Answer(2)
        server_id = int(raw)
        wire, online, _ = self._server_wire(account, server_id)
        if wire is None:
            return {"market": {"offers": [], "server": None}, "exists": False, "code": 0}
        market = {
            "currency_rates_in_usd": dict(RATES),
            "offers": self._spot_book(account, server_id, wire),
            "server": {
                "min_pricing": dict(wire["price"]["spot"]),
                "mrl": int(wire.get("mrl", 720)) * 3600,
                "visibility": "public",
                "online": online,
            },
        }
        return {"market": market, "exists": True, "code": 0}

    def _set_server_settings(
        self, account: dict[str, Any], args: dict[str, Any], now: float
    ) -> dict[str, Any]:
        hosted = self._find_hosted(account, args.get("name"))
        legacy = ("availability", "mrl", "on_demand", "spot")
        per_currency = any(f"{c}_{k}" in args for c in RATES for k in ("on_demand", "spot"))
        if not per_currency and not all(name in args for name in legacy):
            raise _Answer(6, "not_all_parameters_present")
        mrl = args.get("mrl", hosted.get("mrl"))
        if not _is_int(mrl) or not 6 <= mrl <= 3000:
            raise _Answer(6, "invalid_mrl")
        if "availability" in args and not isinstance(args["availability"], bool):
            raise _Answer(6, "invalid_input")
        prices: dict[tuple[str, str], float] = {}
        for currency in RATES:
            for kind in ("on_demand", "spot"):
                key = f"{currency}_{kind}"
                if currency == "bitcoin" and not per_currency:
                    key = kind
                if key in args:
                    if not _is_number(args[key]) or args[key] < 0:
                        raise _Answer(6, "invalid_input")
                    prices[(currency, kind)] = float(args[key])
        enabled = {}
        for currency in RATES:
            key = f"enabled-{currency}"
            if key in args:
                if not isinstance(args[key], bool):
                    raise _Answer(6, "invalid_input")
                enabled[currency] = args[key]
        autoprice = args.get("autoprice")
        if autoprice is not None and not isinstance(autoprice, bool):
            raise _Answer(6, "invalid_input")
        usd_pricing = args.get("usd_pricing")
        if usd_pricing is not None and not (
            isinstance(usd_pricing, dict)
            and set(usd_pricing) <= {"on_demand", "spot"}
            and all(_is_number(v) and v >= 0 for v in usd_pricing.values())
        ):
            raise _Answer(6, "invalid_input")
        hosted["mrl"] = mrl
        if enabled:
            coins = [c for c in hosted.get("allowed_coins", []) if enabled.get(c, True)]
            coins += [c for c, on in enabled.items() if on and c not in coins]
            hosted["allowed_coins"] = coins
        if autoprice is not None:
            current = hosted.get("autoprice")
            if isinstance(current, dict):
                hosted["autoprice"] = dict.fromkeys(current, "usd" if autoprice else False)
            else:
                hosted["autoprice"] = "usd" if autoprice else False
        if usd_pricing is not None:
            current = hosted.get("usd_pricing")
            if isinstance(current, dict) and current and "on_demand" not in current and "spot" not in current:
                for per_coin in current.values():
                    if isinstance(per_coin, dict):
                        per_coin.update(usd_pricing)
            else:
                hosted["usd_pricing"] = {**(current or {}), **usd_pricing}
        if "availability" in args:
            hosted["visibility"] = "public" if args["availability"] else "hidden"
        for (currency, kind), value in prices.items():
            hosted["pricing" if kind == "on_demand" else "spot_pricing"][currency] = value
        self._touch(account)
        return {"code": 0}

    def _own_order(self, account: dict[str, Any], raw: Any, missing: str) -> dict[str, Any]:
        if not _is_int(raw):
            raise _Answer(2)
        order = account["orders"].get(str(raw))
        if order is None:
            raise _Answer(6, missing)
        return order  # type: ignore[no-any-return]

    def _set_spot_price(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        desired = args.get("desired_price")
        if not _is_number(desired) or desired <= 0:
            raise _Answer(2)
        order = self._own_order(account, args.get("order_id"), "order_dont_exist")
        if not order.get("spot") or order.get("_ended_at"):
            raise _Answer(6, "order_dont_exist")
        wire, _, _ = self._server_wire(account, order["si"])
        minimum = (wire or {}).get("price", {}).get("spot", {}).get(order["currency"], 0.0)
        if desired < minimum - EPSILON:
            raise _Answer(6, "amount_too_low")
        current = order["price"]
        if desired < current - EPSILON:
            last = account["last_lowering"].get(str(order["id"]))
            if last is not None and now - last < LOWERING_PERIOD:
                raise _Answer(
                    6,
                    "can_lower_every_600_seconds",
                    time_to_lowering=math.ceil(LOWERING_PERIOD - (now - last)),
                )
            max_step = round(current * MAX_STEP_SHARE, 8)
            if current - desired > max_step + EPSILON:
                raise _Answer(6, "exceeded_max_step", max_step=max_step)
            account["last_lowering"][str(order["id"])] = now
        self._reprice(account, order, desired, now)
        return {"code": 0}

    def _end_order(self, account: dict[str, Any], order: dict[str, Any], now: float) -> None:
        self._bill(account, order, now)
        order["_ended_at"] = now
        if not order.get("spot"):
            account["rented_overrides"][str(order["si"])] = False
        self._touch(account)

    def _cancel_order(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        issue = args.get("issue")
        if issue is not None and not isinstance(issue, str):
            raise _Answer(2)
        if isinstance(issue, str) and len(issue) > 2048:
            raise _Answer(6, "issue_description_too_long")
        order = self._own_order(account, args.get("id"), "you_dont_own_this_order")
        if order.get("_ended_at"):
            raise _Answer(6, "order_not_active")
        self._end_order(account, order, now)
        if issue:
            order["_issue_reported"] = True
        return {"code": 0}

    def _cancel_orders(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        ids = args.get("order_ids")
        if not isinstance(ids, list) or not ids or not all(_is_int(i) for i in ids):
            raise _Answer(2)
        failed = []
        for order_id in ids:
            order = account["orders"].get(str(order_id))
            if order is None or order.get("_ended_at"):
                failed.append(order_id)
            else:
                self._end_order(account, order, now)
        return {"failed_to_cancel": failed, "code": 0}

    # ── GigaSPOT ──────────────────────────────────────────────────────────

    def _get_gigaspot(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "my_user_id": account["user_id"],
            "v1_snapshot_url": f"https://sandbox.invalid/gigaspot_{int(now)}.json",
            "clore_price": RATES["CLORE-Blockchain"],
            "creation_fees": {"CLORE-Blockchain": 0},
            "code": 0,
        }

    def _gigaspot_items(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        items = args.get("_items")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise _Answer(2)
        return items

    def _create_gigaspot_orders(
        self, account: dict[str, Any], args: dict[str, Any], now: float
    ) -> dict[str, Any]:
        """Bids on catalogue servers whose ``gigaspot`` flag is set; the book is the marketplace's."""
        failed_oc: list[Any] = []
        failed_rent: list[Any] = []
        too_low: list[Any] = []
        for item in self._gigaspot_items(args):
            server_id, currency, price = item.get("renting_server"), item.get("currency"), item.get("price")
            if not _is_int(server_id) or not _is_number(price) or not isinstance(item.get("image"), str):
                raise _Answer(2)
            entry = self.catalogue.servers.get(server_id)
            wire = self._catalogue_wire(account, entry)[0] if entry is not None else None
            mine = any(
                o["si"] == server_id and o.get("gigaspot") and not o.get("_ended_at")
                for o in account["orders"].values()
            )
            if (
                wire is None
                or wire.get("gigaspot") is not True
                or currency not in wire.get("allowed_coins", [])
                or mine  # one GigaSPOT order per server and account
            ):
                failed_rent.append(server_id)
                continue
            oc = item.get("oc")
            if (
                not isinstance(oc, list)
                or len(oc) != len(wire.get("gpu_array") or [None])
                or not all(isinstance(o, dict) and _is_int(o.get("pl")) for o in oc)
            ):
                failed_oc.append(server_id)
                continue
            if price < wire["price"]["spot"].get(currency, 0.0) - EPSILON:
                too_low.append(server_id)
                continue
            if self._balances(account, now).get(str(currency), 0.0) < price / 24.0:
                failed_rent.append(server_id)
                continue
            order_args = {
                "image": item["image"],
                "currency": currency,
                "type": "spot",
                "ports": {"22": "tcp"},
            }
            self._store_new_order(account, order_args, dict(wire), float(price), 0.0, now)
            account["orders"][str(account["next_order_id"] - 1)]["gigaspot"] = True
        return {
            "failed_to_oc_servers": failed_oc,
            "failed_to_rent_servers": failed_rent,
            "too_low_bids_servers": too_low,
            "code": 0,
        }

    def _edit_gigaspot_orders(
        self, account: dict[str, Any], args: dict[str, Any], now: float
    ) -> dict[str, Any]:
        done: list[Any] = []
        failed: list[Any] = []
        too_low: list[Any] = []
        for item in self._gigaspot_items(args):
            order_id, price = item.get("order_id"), item.get("price")
            if not _is_int(order_id) or not _is_number(price):
                raise _Answer(2)
            order = account["orders"].get(str(order_id))
            if order is None or not order.get("gigaspot") or order.get("_ended_at"):
                failed.append(order_id)
                continue
            entry = self.catalogue.servers.get(order["si"])
            wire = self._catalogue_wire(account, entry)[0] if entry else None
            minimum = wire["price"]["spot"].get(order["currency"], 0.0) if wire else 0.0
            if price < minimum - EPSILON:
                too_low.append(order_id)
                continue
            self._reprice(account, order, price, now)
            done.append(order_id)
        if done:
            self._touch(account)
        return {
            "success_to_update_ids": done,
            "failed_to_update_ids": failed,
            "too_low_bid_ids": too_low,
            "code": 0,
        }

    def _poh_balance(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "items": [],
            "balance": {
                "total": 0,
                "free_amount": 0,
                "reward_amount": 0,
                "offers": {
                    "rented_amount": 0,
                    "rented_on_marketplace_amount": 0,
                    "rented_finished_amount": 0,
                    "leased_amount": 0,
                    "leased_finished_amount": 0,
                },
            },
            "count": 0,
            "code": 0,
        }

    def _renter_fees(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        base = dict.fromkeys(RATES, 10)
        return {
            "renter_fees": {"on_demand": {"base": base}, "spot": {"base": dict(base)}},
            "poh_config": {"max_reduction_percent": 50, "max_poh_amount": 100000},
            "creation_fees": {
                "on_demand": dict(CREATION_FEES["on-demand"]),
                "spot": dict(CREATION_FEES["spot"]),
            },
            "poh_balance": 0,
            "code": 0,
        }

    # ── create_order ──────────────────────────────────────────────────────

    @staticmethod
    def _check_order_input(args: dict[str, Any]) -> None:
        """Code 2 for malformed input, in the order the fields are documented."""
        ok = (
            isinstance(args.get("currency"), str)
            and isinstance(args.get("image"), str)
            and bool(args.get("image"))
            and _is_int(args.get("renting_server"))
            and args.get("type") in ("on-demand", "spot")
        )
        if ok and args["type"] == "spot":
            ok = _is_number(args.get("spotprice")) and args["spotprice"] > 0
        password = args.get("ssh_password")
        if ok and password is not None:
            ok = isinstance(password, str) and len(password) <= 32  # punctuation accepted, as live
        if ok and args.get("ssh_key") is not None:
            ok = isinstance(args["ssh_key"], str) and len(args["ssh_key"]) <= 3072
        if ok and args.get("jupyter_token") is not None:
            ok = isinstance(args["jupyter_token"], str) and len(args["jupyter_token"]) <= 32
        ports = args.get("ports")
        if ok and ports is not None:
            ok = isinstance(ports, dict) and all(
                str(p).isdigit() and v in ("tcp", "http") for p, v in ports.items()
            )
        env = args.get("env")
        if ok and env is not None:
            ok = isinstance(env, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in env.items()
            )
        if ok and args.get("autossh_entrypoint") is not None:
            ok = isinstance(args["autossh_entrypoint"], bool)
        if ok and args.get("required_price") is not None:
            ok = _is_number(args["required_price"])
        if not ok:
            raise _Answer(2)

    def _create_order(self, account: dict[str, Any], args: dict[str, Any], now: float) -> dict[str, Any]:
        self._check_order_input(args)
        server_id, currency, spot = args["renting_server"], args["currency"], args["type"] == "spot"
        wire, online, owned = self._server_wire(account, server_id)
        if wire is None:
            raise _Answer(6, "server-dont-exist")
        if owned:
            raise _Answer(6, "cant_rent_from_yourself")
        if wire.get("gigaspot") is True:
            raise _Answer(6, "machine-is-on-gigaspot")
        if not online:
            raise _Answer(6, "server-offline")
        if currency not in (wire.get("allowed_coins") or []):
            raise _Answer(6, "currency-not-allowed")
        mine = [o for o in account["orders"].values() if o["si"] == server_id and not o.get("_ended_at")]
        if not spot and not wire.get("rented") and self._shared.lose_race(server_id):
            raise _Answer(6, "server-already-rented")
        if not spot and wire.get("rented"):
            raise _Answer(6, "server-already-rented")
        if spot and any(o.get("spot") for o in mine):
            raise _Answer(6, "you_already_have_spot_order")
        if spot:
            minimum = wire["price"]["spot"].get(currency, 0.0)
            if args["spotprice"] < minimum - EPSILON:
                raise _Answer(6, "too_low_price", min_price=minimum)
            price = float(args["spotprice"])
        else:
            price = float(wire["price"]["on_demand"][currency])
            required = args.get("required_price")
            if required is not None and abs(required - price) > max(EPSILON, price * 1e-6):
                raise _Answer(6, "price_changed", current_price=price)
        fee = CREATION_FEES["spot" if spot else "on-demand"].get(currency, 0.0)
        if self._balances(account, now).get(currency, 0.0) < fee + price / 24.0:
            raise _Answer(6, "not_enough_balance")
        self._store_new_order(account, args, wire, price, fee, now)
        return {"code": 0}

    def _store_new_order(
        self,
        account: dict[str, Any],
        args: dict[str, Any],
        wire: dict[str, Any],
        price: float,
        fee: float,
        now: float,
    ) -> None:
        order_id = account["next_order_id"]
        account["next_order_id"] = order_id + 1
        ports = {str(k): v for k, v in (args.get("ports") or {"22": "tcp"}).items()}
        digest = hashlib.sha256(f"{order_id}:{wire['id']}".encode()).hexdigest()
        tcp = [
            f"{p}:{10000 + (int(p) * 7 + order_id * 13) % 50000}"
            for p, kind in ports.items()
            if kind == "tcp"
        ]
        http = [p for p, kind in ports.items() if kind == "http"]
        # Shaped like the live hosts, under .invalid (RFC 2606): nothing ever resolves or reaches them.
        hosts = [f"n{int(digest[0], 16) % 5 + 1}.{_CITIES[int(digest[1], 16) % 4]}.{SANDBOX_DOMAIN}"]
        ssh: dict[str, Any] | None = None
        if self.ssh and ports.get("22") == "tcp":
            from ._ssh import allocate_port, hash_password

            port = allocate_port()
            tcp = [f"22:{port}" if entry.startswith("22:") else entry for entry in tcp]
            hosts = ["127.0.0.1"]
            password = args.get("ssh_password")
            ssh = {"port": port, "password": hash_password(password) if password else None}
            ssh["keys"] = args.get("ssh_key")
        order: dict[str, Any] = {
            "id": order_id,
            "si": wire["id"],
            "owner": wire.get("owner"),
            "image": args["image"],
            "currency": args["currency"],
            "price": price,
            "creation_fee": fee,
            "ct": int(now),
            "mrl": int(wire.get("mrl", 720)) * 3600,  # an order's mrl is in seconds
            "spot": args["type"] == "spot",
            "pub_cluster": hosts,
            "tcp_ports": tcp,
            "ports": ports,
            "_deployed_at": now + self.deploy_seconds,
        }
        if ssh is not None:
            order["_ssh"] = ssh  # a salted hash of the password, never the password
        if http:
            order["http_port"] = http[0]
            order["http_pub"] = f"{digest[2:15]}.{SANDBOX_DOMAIN}"
        account["orders"][str(order_id)] = order
        if args["type"] != "spot":
            account["rented_overrides"][str(wire["id"])] = True
        self._touch(account)
