"""The journal of create_order calls of one key: who is sending an order to which server.

The API answers create_order with only ``{"code": 0}``, so the SDK finds the new order in
``my_orders``. Two callers with the same key renting the same server (two threads, two
coroutines, two ``clore`` processes) would then see the same new order; each caller
must be able to tell that the order might be the other one's. Every create_order call
writes an entry here before it sends and records how it ended; an order a caller adopts
is *claimed* in its entry, so no other caller adopts it too.

The journal is a JSON file in the user cache dir, named by a hash of the key (never the
key), locked for every change, and shared by every client of the key in the process
(:func:`journal_for_key`). Entries hold no secrets: the request is kept as the fields
``my_orders`` can show (image, currency, type, price, ports) plus a hash of the body
without passwords, tokens, env values or the command. An entry is dropped once it is
older than ``stale_after``, and an in-flight entry as soon as its process is gone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from ._limiter import key_state_path
from ._locked_journal import LockedJournal

__all__ = [
    "ACCEPTED",
    "CLAIMED",
    "ClaimedOrders",
    "InflightEntry",
    "InflightJournal",
    "PENDING",
    "REFUSED",
    "UNKNOWN",
    "body_fingerprint",
    "journal_for_key",
    "order_matches",
    "visible_fields",
]

T = TypeVar("T")

# Entry states. PENDING: sent, no clear answer yet (or the answer was lost). ACCEPTED: the
# API answered code 0, the order is being looked for. CLAIMED: the caller adopted order_id.
# REFUSED: the API refused it; no order can exist. UNKNOWN: the call ended without knowing.
PENDING = "pending"
ACCEPTED = "accepted"
CLAIMED = "claimed"
REFUSED = "refused"
UNKNOWN = "unknown"
_IN_FLIGHT = (PENDING, ACCEPTED)
# States whose caller may own an order nobody has claimed yet.
MAY_OWN_AN_ORDER = (PENDING, ACCEPTED, UNKNOWN)

STALE_AFTER = 600.0  # seconds; far longer than one create_order call with its reconciliation
FAR_FUTURE = 120.0  # an entry dated further ahead than this is corrupt

# Request fields that my_orders can show back, and so can tell two orders apart. None is secret.
_VISIBLE = ("image", "currency", "type", "spotprice", "required_price", "ports")
# Fields left out of the fingerprint: secrets, or free text that may hold secrets.
_SECRET = ("ssh_password", "jupyter_token", "dockerhub_auth", "command", "env")


def visible_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a create_order body that an order in ``my_orders`` can confirm or refute."""
    return {name: body[name] for name in _VISIBLE if body.get(name) is not None}


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """A hash of the body without secrets: equal for the same request, and reveals none of it."""
    public = {k: v for k, v in body.items() if k not in _SECRET}
    public["env_names"] = sorted(body.get("env") or {})
    public["has_command"] = body.get("command") is not None
    text = json.dumps(public, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process there: trust the age bound alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@dataclass
class InflightEntry:
    token: str
    pid: int
    server_id: int
    fingerprint: str
    visible: dict[str, Any]
    sent_at: float
    state: str = PENDING
    order_id: int | None = None
    ended_at: float | None = None
    order_ct: float | None = None  # the claimed order's creation time (``ct``), when it showed one

    @classmethod
    def from_json(cls, token: str, data: Any) -> InflightEntry | None:
        if not isinstance(data, dict):
            return None
        try:
            entry = cls(
                token=token,
                pid=int(data["pid"]),
                server_id=int(data["server_id"]),
                fingerprint=str(data["fingerprint"]),
                visible=dict(data.get("visible") or {}),
                sent_at=float(data["sent_at"]),
                state=str(data.get("state", PENDING)),
                order_id=None if data.get("order_id") is None else int(data["order_id"]),
                ended_at=None if data.get("ended_at") is None else float(data["ended_at"]),
                order_ct=None if data.get("order_ct") is None else float(data["order_ct"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return entry

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["token"]
        return data


class InflightJournal(LockedJournal[InflightEntry]):
    """The create_order calls of one key, shared by threads (a lock) and processes (a locked file).

    ``path=None`` keeps the journal in memory (one process only). If the file cannot be
    used, the journal falls back to memory: in-process callers stay coordinated.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
        stale_after: float = STALE_AFTER,
    ) -> None:
        super().__init__(path, clock=clock, pid=pid)
        self.alive = alive
        self.stale_after = stale_after

    def _read_entry(self, token: str, data: Any) -> InflightEntry | None:
        return InflightEntry.from_json(token, data)

    def _prune(self, entries: dict[str, InflightEntry]) -> None:
        self._drop_stale(entries)

    def _drop_stale(self, entries: dict[str, InflightEntry]) -> None:
        now = self.clock()
        for token, entry in list(entries.items()):
            too_old = now - entry.sent_at > self.stale_after or entry.sent_at > now + FAR_FUTURE
            gone = entry.state in _IN_FLIGHT and entry.pid != self.pid and not self.alive(entry.pid)
            if too_old or gone or entry.state == REFUSED:
                del entries[token]

    # the calls

    def begin(self, server_id: int, body: Mapping[str, Any], sent_at: float | None = None) -> str:
        """Record a create_order about to be sent; returns the entry's token."""
        entry = InflightEntry(
            token=uuid.uuid4().hex,
            pid=self.pid,
            server_id=server_id,
            fingerprint=body_fingerprint(body),
            visible=visible_fields(body),
            sent_at=self.clock() if sent_at is None else sent_at,
        )

        def add(entries: dict[str, InflightEntry]) -> str:
            entries[entry.token] = entry
            return entry.token

        return self._change(add)

    def mark(self, token: str, state: str) -> None:
        """Record what the call knows now (ACCEPTED, REFUSED, UNKNOWN); an ended call stays ended."""

        def set_state(entries: dict[str, InflightEntry]) -> None:
            entry = entries.get(token)
            if entry is None or entry.state not in _IN_FLIGHT:
                return
            entry.state = state
            if state not in _IN_FLIGHT:
                entry.ended_at = self.clock()

        self._change(set_state)

    def claim(self, token: str, order: Any) -> bool:
        """Take ``order`` (from my_orders, or its id) for this call; False if another call
        already took it."""
        order_id, order_ct = _id_of(order), _creation_time(order)

        def take(entries: dict[str, InflightEntry]) -> bool:
            if order in ClaimedOrders(entries.values()):
                return False
            entry = entries.get(token)
            if entry is None:  # dropped as stale while we waited: record the claim again
                return False
            entry.state, entry.order_id, entry.ended_at = CLAIMED, order_id, self.clock()
            entry.order_ct = order_ct
            return True

        return self._change(take)

    def claimed_orders(self) -> ClaimedOrders:
        return self._change(lambda entries: ClaimedOrders(entries.values()))

    def claimed_order_ids(self) -> set[int]:
        return self._change(lambda entries: {e.order_id for e in entries.values() if e.order_id is not None})

    def rivals(self, token: str, server_id: int) -> list[InflightEntry]:
        """Other calls on ``server_id`` that may own an order nobody has claimed yet."""
        return self._change(
            lambda entries: [
                e
                for e in entries.values()
                if e.token != token and e.server_id == server_id and e.state in MAY_OWN_AN_ORDER
            ]
        )

    def entries(self) -> list[InflightEntry]:
        return self._change(lambda entries: list(entries.values()))


def _id_of(order: Any) -> int:
    return order if isinstance(order, int) else int(order.id)


def _creation_time(order: Any) -> float | None:
    ct = getattr(order, "ct", None)
    return float(ct) if isinstance(ct, (int, float)) and not isinstance(ct, bool) else None


class ClaimedOrders:
    """The orders other calls adopted: ``order in claimed``.

    An order is the claimed one when its id is, unless both show a creation time and the
    times differ: then the id was handed out again. The live API never does that, but a
    sandbox started afresh (``Sandbox()`` in a second run of a script) numbers its orders
    from 1000 again, and a claim of the first run's order 1000 (kept for ``STALE_AFTER``)
    must not hide the second run's.
    """

    def __init__(self, entries: Any) -> None:
        self._times: dict[int, set[float | None]] = {}
        for entry in entries:
            if entry.order_id is not None:
                self._times.setdefault(entry.order_id, set()).add(entry.order_ct)

    def __contains__(self, order: Any) -> bool:
        times = self._times.get(_id_of(order))
        if times is None:
            return False
        ct = _creation_time(order)
        return ct is None or None in times or ct in times


#: Journals of APIs that live only in this process (an in-memory sandbox), per API and key.
_PRIVATE: weakref.WeakKeyDictionary[Any, dict[str | None, InflightJournal]] = weakref.WeakKeyDictionary()
_PRIVATE_LOCK = threading.Lock()


def journal_for_key(api_key: str | None, scope: Any = None) -> InflightJournal:
    """The journal shared by every client of this key in this process (and, through its file,
    by every process of this user).

    ``scope`` is an API that exists only in this process (an in-memory ``Sandbox``): its
    orders concern no other process, and another one numbers its orders from 1000 again, so
    its journal is its own, in memory, and goes with it.
    """
    if scope is not None:
        with _PRIVATE_LOCK:
            journals = _PRIVATE.setdefault(scope, {})
            if api_key not in journals:
                journals[api_key] = InflightJournal(None)
            return journals[api_key]
    path = key_state_path("orders", api_key)
    return InflightJournal.shared(path)


def _image_name(image: str) -> str:
    name = image.strip().removeprefix("docker.io/")
    return name.removesuffix(":latest")


def order_matches(order: Any, wanted: Mapping[str, Any]) -> bool:
    """False only when ``order`` (from my_orders) shows a field that contradicts ``wanted``
    (a create_order body or an entry's visible fields).

    my_orders leaves fields out (a live on-demand order has no ``spot``), so a field the
    order does not show neither confirms nor refutes the match.
    """
    image = wanted.get("image")
    if image is not None and order.image is not None and _image_name(order.image) != _image_name(image):
        return False
    currency = wanted.get("currency")
    if currency is not None and order.currency is not None and order.currency != currency:
        return False
    spot = wanted.get("type") == "spot"
    if "type" in wanted and order.spot is not None and bool(order.spot) != spot:
        return False
    price = wanted.get("spotprice") if spot else wanted.get("required_price")
    shown = order.price
    if price is not None and shown is not None and not math.isclose(shown, price, rel_tol=1e-6):
        return False
    ports = wanted.get("ports") or {}
    tcp = {str(port) for port, kind in ports.items() if kind == "tcp"}
    if tcp and order.tcp_ports and not tcp <= set(order.tcp_ports):
        return False
    http = {str(port) for port, kind in ports.items() if kind == "http"}
    return not (http and order.http_port is not None and order.http_port not in http)
