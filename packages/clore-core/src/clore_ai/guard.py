"""The budget guard: watch the account's spending, warn near a limit, cancel past it (if allowed).

Three limits, each optional (at least one is needed):

* ``max_hourly_usd`` — the burn rate of the active orders, USD per hour;
* ``max_spend_usd`` — USD spent **since the guard started** (see :class:`GuardState`): every
  order's spend beyond what it had spent when the guard first saw it (all of it for an order
  created after the start), counted on ended orders too, at the current rates;
* ``min_runway_hours`` — for every wallet that active orders pay from, balance / burn rate.

A limit is **crossed** when the value is above a maximum (``>``) or below the minimum (``<``),
and **near** from ``near`` (0.8) of a maximum (``>=``), or from minimum / ``near`` down for the
runway (``<=``). :func:`check` is the pure judgement: a :class:`~clore_ai.spending.SpendSummary`
and the spend so far in, a :class:`Verdict` out, with the orders to cancel, newest first:

* hourly: the newest orders, as few as bring the burn rate back to the limit or under it;
* runway: per wallet below the limit, the newest orders paying from it, as few as bring its
  runway back to the limit (all of them when the balance cannot cover even one);
* spend: every active order — the budget is spent, and any running order spends more.

:class:`Guard` (and :class:`AsyncGuard`) run checks in a loop: a failed request is logged as an
``error`` event and retried after a back-off; the state is a JSON file (written atomically,
mode 0600) so a restart continues the spend count; each cancellation is appended to a JSON-lines
log (what, why, the numbers). **Nothing is ever cancelled unless ``cancel=True``**; without it
the guard reports what it would cancel (``would-cancel`` events).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ._calls import Call, CallFlow, adrive, drive
from .exceptions import CloreAPIError, InvalidInputError
from .models import Order, Wallet
from .spending import (
    OrderSpend,
    SpendSummary,
    implied_usd_rates,
    needs_usd_rates,
    summarize,
)

__all__ = [
    "LIMITS",
    "AsyncGuard",
    "Guard",
    "GuardEvent",
    "GuardLimits",
    "GuardState",
    "GuardStateError",
    "PlannedCancel",
    "Reading",
    "Verdict",
    "check",
    "default_guard_paths",
]

log = logging.getLogger(__name__)

LIMITS = ("max_hourly", "max_spend", "min_runway")
_RANK = {"ok": 0, "near": 1, "crossed": 2}


class GuardStateError(CloreAPIError):
    """The guard's state file cannot be read or written; the message names the file."""


def _usd(value: float | None, digits: int = 2) -> str:
    return "$?" if value is None else f"${value:,.{digits}f}"


def _hours(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,.1f} h"


# ── limits and the verdict ─────────────────────────────────────────────────


@dataclass(frozen=True)
class GuardLimits:
    """USD per hour, USD since the start, hours of runway; ``near`` is the warning fraction."""

    max_hourly_usd: float | None = None
    max_spend_usd: float | None = None
    min_runway_hours: float | None = None
    near: float = 0.8

    def __post_init__(self) -> None:
        values = {
            "max_hourly_usd": self.max_hourly_usd,
            "max_spend_usd": self.max_spend_usd,
            "min_runway_hours": self.min_runway_hours,
        }
        for name, value in values.items():
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidInputError(f"{name} must be a number above 0, got {value!r}", code=2)
        if all(value is None for value in values.values()):
            raise InvalidInputError(
                "give at least one limit: max_hourly_usd, max_spend_usd or min_runway_hours", code=2
            )
        if isinstance(self.near, bool) or not isinstance(self.near, (int, float)) or not 0 < self.near <= 1:
            raise InvalidInputError(
                f"near must be a fraction above 0 and at most 1, got {self.near!r}", code=2
            )


@dataclass(frozen=True)
class Reading:
    """One limit against its value now. ``currency`` names the wallet of a runway reading."""

    limit: str
    value: float | None
    threshold: float
    level: str
    currency: str | None = None

    @property
    def text(self) -> str:
        if self.limit == "max_hourly":
            return f"burn {_usd(self.value, 4)}/h (max {_usd(self.threshold, 4)})"
        if self.limit == "max_spend":
            return f"spent {_usd(self.value)} (max {_usd(self.threshold)})"
        coin = f" {self.currency}" if self.currency else ""
        return f"runway{coin} {_hours(self.value)} (min {_hours(self.threshold)})"


@dataclass(frozen=True)
class PlannedCancel:
    """An order the verdict would cancel, and the limits (``LIMITS`` names) that call for it."""

    order: OrderSpend
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    level: str  # "ok", "near" or "crossed": the worst reading
    readings: tuple[Reading, ...]
    cancel: tuple[PlannedCancel, ...]
    summary: SpendSummary
    spent_usd: float

    @property
    def crossed(self) -> tuple[Reading, ...]:
        return tuple(r for r in self.readings if r.level == "crossed")

    @property
    def near(self) -> tuple[Reading, ...]:
        return tuple(r for r in self.readings if r.level == "near")

    @property
    def text(self) -> str:
        return f"{self.level}: " + ", ".join(r.text for r in self.readings)


def _level_max(value: float | None, limit: float, near: float) -> str:
    if value is None:
        return "ok"
    return "crossed" if value > limit else "near" if value >= limit * near else "ok"


def _level_min(value: float | None, limit: float, near: float) -> str:
    if value is None:
        return "ok"
    return "crossed" if value < limit else "near" if value * near <= limit else "ok"


def _lasts(balance: float | None, orders: Sequence[OrderSpend]) -> float:
    """Hours ``balance`` lasts with these orders burning it (infinite when nothing burns)."""
    burn = sum(o.coin_per_hour or 0.0 for o in orders)
    return math.inf if burn <= 0 else max(0.0, balance or 0.0) / burn


def check(summary: SpendSummary, limits: GuardLimits, spent_usd: float = 0.0) -> Verdict:
    """Judge ``summary`` against ``limits``; ``spent_usd`` is the spend so far (for ``max_spend``)."""
    active = list(summary.active_orders)  # newest first
    readings: list[Reading] = []
    reasons: dict[int, list[str]] = {}

    def plan(order: OrderSpend, reason: str) -> None:
        reasons.setdefault(order.order_id, [])
        if reason not in reasons[order.order_id]:
            reasons[order.order_id].append(reason)

    if limits.max_hourly_usd is not None:
        limit = limits.max_hourly_usd
        reading = Reading(
            "max_hourly", summary.usd_per_hour, limit, _level_max(summary.usd_per_hour, limit, limits.near)
        )
        readings.append(reading)
        if reading.level == "crossed":
            kept = [o for o in active if o.usd_per_hour is not None]
            while kept and sum(o.usd_per_hour or 0.0 for o in kept) > limit:
                plan(kept.pop(0), "max_hourly")
    if limits.max_spend_usd is not None:
        limit = limits.max_spend_usd
        reading = Reading("max_spend", spent_usd, limit, _level_max(spent_usd, limit, limits.near))
        readings.append(reading)
        if reading.level == "crossed":
            for order in active:
                plan(order, "max_spend")
    if limits.min_runway_hours is not None:
        limit = limits.min_runway_hours
        burning = [w for w in summary.wallets if w.runway_hours is not None]
        for wallet in burning:
            level = _level_min(wallet.runway_hours, limit, limits.near)
            readings.append(Reading("min_runway", wallet.runway_hours, limit, level, wallet.currency))
            if level == "crossed":
                paying = [o for o in active if o.currency == wallet.currency and o.coin_per_hour]
                while paying and _lasts(wallet.balance, paying) < limit:
                    plan(paying.pop(0), "min_runway")
        if not burning:
            readings.append(Reading("min_runway", None, limit, "ok"))
    level = max((r.level for r in readings), key=_RANK.__getitem__, default="ok")
    planned = tuple(PlannedCancel(o, tuple(reasons[o.order_id])) for o in active if o.order_id in reasons)
    return Verdict(level, tuple(readings), planned, summary, spent_usd)


# ── state on disk ──────────────────────────────────────────────────────────


@dataclass
class GuardState:
    """What the guard remembers between checks and restarts (one JSON file).

    ``baseline``/``spent`` are coin amounts per order id: the spend when the guard first saw
    the order (0 for an order created after ``started_at``) and the last spend seen. The spend
    since the start is ``spent - baseline`` summed over orders, at the current USD rates.
    ``cancelled`` maps the ids the guard cancelled to when; ``pending`` holds an id whose
    cancel was sent but not yet recorded (a restart settles it).
    """

    started_at: float
    baseline: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    coins: dict[str, str] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    rates_at: float | None = None
    cancelled: dict[str, float] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: int = 0
    version: int = 1

    def observe(self, orders: Sequence[Order]) -> None:
        """Track each order's spend (ended orders keep their last amount)."""
        for order in orders:
            key = str(order.id)
            if order.spend is None or order.currency is None:
                continue
            if key not in self.baseline:
                fresh = order.ct is not None and order.ct >= self.started_at
                self.baseline[key] = 0.0 if fresh else float(order.spend)
            self.spent[key] = max(float(order.spend), self.spent.get(key, 0.0))
            self.coins[key] = order.currency

    def spent_usd(self, rates: dict[str, float]) -> float:
        """USD spent since ``started_at`` (orders whose coin has no rate left out)."""
        total = 0.0
        for key, amount in self.spent.items():
            rate = rates.get(self.coins.get(key, ""))
            if rate is not None:
                total += max(0.0, amount - self.baseline.get(key, amount)) * rate
        return total

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuardState:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("started_at"), (int, float)):
            raise ValueError("not a guard state")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        state = cls(**known)
        for name in ("baseline", "spent", "coins", "rates", "cancelled", "pending"):
            if not isinstance(getattr(state, name), dict):
                raise ValueError(f"{name} is not an object")
        return state

    @classmethod
    def load(cls, path: Path) -> GuardState | None:
        """The state in ``path``; None when there is none; :class:`GuardStateError` when damaged."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise GuardStateError(f"cannot read the guard state {path}: {error.strerror}") from None
        try:
            return cls.from_json(data.decode("utf-8"))  # not UTF-8 is damaged too (UnicodeDecodeError)
        except (ValueError, TypeError):
            raise GuardStateError(
                f"the guard state {path} is damaged; move it away, or start afresh with "
                "`clore guard --reset` (reset=True in Python)"
            ) from None

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed over), readable by the owner only."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".guard-")
            try:
                os.chmod(tmp, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(self.to_json())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise GuardStateError(f"cannot write the guard state {path}: {error.strerror}") from None


def default_guard_paths(account: str, sandbox: bool = False) -> tuple[Path, Path]:
    """``($XDG_STATE_HOME/clore/guard/ACCOUNT.json, .../ACCOUNT.cancellations.jsonl)``.

    ``account`` names whose spending this is (the CLI passes the profile); characters other
    than letters, digits, ``.``, ``_`` and ``-`` become ``_``. A sandbox's spending is kept
    in its own folder (``guard/sandbox/``), so no live profile's name can ever share a file
    with it and ``clore sandbox reset`` can forget it whole.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", account)[:100] or "default"
    folder = Path(base) / "clore" / "guard"
    if sandbox:
        folder = folder / "sandbox"
    return folder / f"{name}.json", folder / f"{name}.cancellations.jsonl"


def _append_line(path: Path, record: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise GuardStateError(f"cannot write the cancellation log {path}: {error.strerror}") from None


# ── events ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class GuardEvent:
    """Something to tell: ``check`` (every check; ``level`` ok/near/crossed), ``cancelled``,
    ``would-cancel`` (without ``cancel=True``), ``cancel-failed``, ``error`` (a check could not
    be made; ``retry_in`` seconds), ``resumed`` (a state file was loaded)."""

    kind: str
    at: float
    message: str
    level: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "event": self.kind,
            "at": when,
            "time": self.at,
            "level": self.level,
            "message": self.message,
            **self.data,
        }


def _reading_dict(reading: Reading) -> dict[str, Any]:
    return {k: v for k, v in asdict(reading).items() if v is not None or k == "value"}


def _order_dict(order: OrderSpend) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "server_id": order.server_id,
        "currency": order.currency,
        "price_per_day": order.price_per_day,
        "usd_per_hour": order.usd_per_hour,
        "spent": order.spent,
        "spent_usd": order.spent_usd,
        "created": order.created,
    }


# ── the runner: one sans-IO flow, two drivers ──────────────────────────────

# A request the flow needs answered: (client method, keyword arguments).


class _GuardCore:
    """Everything but the I/O: the drivers below only call the client and sleep."""

    def __init__(
        self,
        limits: GuardLimits,
        *,
        cancel: bool,
        dry_run: bool,
        state_path: Path | None,
        log_path: Path | None,
        interval: float,
        rates_every: float,
        clock: Callable[[], float],
        on_event: Callable[[GuardEvent], None] | None,
        reset: bool,
        max_backoff: float,
    ) -> None:
        if not isinstance(interval, (int, float)) or not math.isfinite(interval) or interval <= 0:
            raise InvalidInputError(f"interval must be a number of seconds above 0, got {interval!r}", code=2)
        self.limits = limits
        self.cancel_allowed = bool(cancel) and not dry_run
        self.dry_run = bool(dry_run)
        self.state_path, self.log_path = state_path, log_path
        self.interval, self.rates_every, self.max_backoff = (
            float(interval),
            float(rates_every),
            float(max_backoff),
        )
        self.clock = clock
        self.on_event = on_event
        self.failures = 0
        self.events: list[GuardEvent] = []
        loaded = None if reset or state_path is None else GuardState.load(state_path)
        self.state = loaded or GuardState(started_at=clock())
        self.resumed = loaded is not None
        self._save()

    # events and persistence

    def emit(self, kind: str, message: str, level: str | None = None, **data: Any) -> GuardEvent:
        event = GuardEvent(kind, self.clock(), message, level, data)
        self.events.append(event)
        del self.events[:-100]
        log.info("%s", message)  # on_event decides what people see
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _save(self) -> None:
        if self.state_path is not None:
            self.state.save(self.state_path)

    def _record(self, record: dict[str, Any]) -> None:
        if self.log_path is not None:
            _append_line(self.log_path, record)

    def started(self) -> None:
        if self.resumed:
            since = datetime.fromtimestamp(self.state.started_at, tz=timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"
            )
            self.emit(
                "resumed", f"guard resumed: counting spend since {since}", started_at=self.state.started_at
            )

    def backoff(self, error: BaseException) -> float:
        """After a failed check: how long to wait (doubling, at most ``max_backoff``)."""
        self.failures += 1
        wait = float(
            min(self.interval * 2.0 ** min(self.failures - 1, 16), max(self.interval, self.max_backoff))
        )
        self.emit("error", f"check failed: {error}; retrying in {wait:g} s", error=str(error), retry_in=wait)
        return wait

    # the flow of one check

    def flow(self) -> CallFlow[Verdict]:
        orders: list[Order] = yield Call("my_orders", kwargs={"include_completed": True})
        wallets: list[Wallet] = yield Call("wallets")
        now = self.clock()
        if needs_usd_rates(orders) and (
            self.state.rates_at is None or now - self.state.rates_at >= self.rates_every
        ):
            try:
                servers = yield Call("marketplace", kwargs={"available_only": False})
                self.state.rates, self.state.rates_at = implied_usd_rates(servers), now
            except CloreAPIError as error:
                if not self.state.rates:
                    raise
                self.emit(
                    "error",
                    f"USD rates not refreshed ({error}); using those of the last check",
                    error=str(error),
                )
        orders = self._settle_pending(orders, now)
        self.state.observe(orders)
        self.state.checks += 1
        summary = summarize(orders, wallets, self.state.rates, now)
        verdict = check(summary, self.limits, self.state.spent_usd(summary.rates))
        self._save()
        self.failures = 0
        self.emit(
            "check",
            verdict.text,
            verdict.level,
            usd_per_hour=summary.usd_per_hour,
            spent_usd=verdict.spent_usd,
            readings=[_reading_dict(r) for r in verdict.readings],
            unpriced_orders=list(summary.unpriced_orders),
            active_orders=len(summary.active_orders),
        )
        for planned in verdict.cancel:
            yield from self._cancel(planned, verdict)
        return verdict

    def _settle_pending(self, orders: list[Order], now: float) -> list[Order]:
        """Orders the guard cancelled count as ended; a cancel sent before a restart is settled."""
        by_id = {str(o.id): o for o in orders}
        for key, record in list(self.state.pending.items()):
            order = by_id.get(key)
            if order is not None and order.expired:
                self._record({**record, "result": "cancelled (confirmed after a restart)"})
                self.state.cancelled[key] = now
            del self.state.pending[key]
        return [
            o.model_copy(update={"expired": True})
            if str(o.id) in self.state.cancelled and not o.expired
            else o
            for o in orders
        ]

    def _cancel(self, planned: PlannedCancel, verdict: Verdict) -> CallFlow[None]:
        order = planned.order
        why = " and ".join(
            r.text
            for r in verdict.crossed
            if r.limit in planned.reasons and (r.currency is None or r.currency == order.currency)
        )
        details = {**_order_dict(order), "reasons": list(planned.reasons)}
        if not self.cancel_allowed:
            because = "--dry-run" if self.dry_run else "add --cancel to cancel orders past a limit"
            self.emit(
                "would-cancel",
                f"would cancel order {order.order_id} ({why}); not cancelled: {because}",
                "crossed",
                **details,
            )
            return
        now = self.clock()
        record = {
            "at": datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "time": now,
            **details,
            "readings": [_reading_dict(r) for r in verdict.readings],
            "usd_per_hour_total": verdict.summary.usd_per_hour,
            "spent_usd_total": verdict.spent_usd,
        }
        key = str(order.order_id)
        self.state.pending[key] = record
        self._save()
        try:
            result = yield Call("cancel_order", kwargs={"order_id": order.order_id})
        except CloreAPIError as error:
            del self.state.pending[key]
            self._save()
            self.emit(
                "cancel-failed",
                f"could not cancel order {order.order_id}: {error}",
                "crossed",
                error=str(error),
                **details,
            )
            return
        outcome = "already ended" if isinstance(result, dict) and result.get("already_ended") else "cancelled"
        self._record({**record, "result": outcome})
        del self.state.pending[key]
        self.state.cancelled[key] = now
        self._save()
        self.emit(
            "cancelled", f"cancelled order {order.order_id} ({why})", "crossed", result=outcome, **details
        )


_DOC_OPTIONS = """
    ``cancel``: cancel orders when a limit is crossed (default False: only ``would-cancel``
    events); ``dry_run``: cancel nothing even so (its ``would-cancel`` events say it was a
    dry run, not that cancelling is off). ``state_path``/``log_path``: the state file and the
    JSON-lines cancellation log (None: kept in memory / not written; see
    :func:`default_guard_paths`). ``reset``: ignore a
    saved state and count spend from now. ``interval``: seconds between checks;
    ``rates_every``: seconds between fetches of the marketplace's USD rates (only with
    btc/clore orders). ``on_event``: called with every :class:`GuardEvent`. ``clock`` and
    ``sleep`` are injectable for tests.
"""


class Guard(_GuardCore):
    __doc__ = "The budget guard on a :class:`~clore_ai.CloreAI` client." + _DOC_OPTIONS

    def __init__(
        self,
        client: Any,
        limits: GuardLimits,
        *,
        cancel: bool = False,
        dry_run: bool = False,
        state_path: Path | None = None,
        log_path: Path | None = None,
        reset: bool = False,
        interval: float = 60.0,
        rates_every: float = 900.0,
        max_backoff: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = time.sleep,
        on_event: Callable[[GuardEvent], None] | None = None,
    ) -> None:
        super().__init__(
            limits,
            cancel=cancel,
            dry_run=dry_run,
            state_path=state_path,
            log_path=log_path,
            interval=interval,
            rates_every=rates_every,
            clock=clock,
            on_event=on_event,
            reset=reset,
            max_backoff=max_backoff,
        )
        self.client, self.sleep = client, sleep

    def check(self) -> Verdict:
        """One check: fetch, judge, cancel if allowed. A failed fetch raises its CloreAPIError."""
        return drive(self.flow(), self.client)

    def run(self, checks: int | None = None) -> Verdict | None:
        """Check every ``interval`` seconds (``checks`` times, or until interrupted); a failed
        check is an ``error`` event and a retry after a back-off. Returns the last verdict."""
        self.started()
        verdict, done = None, 0
        while checks is None or done < checks:
            try:
                verdict = self.check()
                wait = self.interval
            except CloreAPIError as error:
                wait = self.backoff(error)
            done += 1
            if checks is None or done < checks:
                self.sleep(wait)
        return verdict


class AsyncGuard(_GuardCore):
    __doc__ = "The budget guard on an :class:`~clore_ai.AsyncCloreAI` client." + _DOC_OPTIONS

    def __init__(
        self,
        client: Any,
        limits: GuardLimits,
        *,
        cancel: bool = False,
        dry_run: bool = False,
        state_path: Path | None = None,
        log_path: Path | None = None,
        reset: bool = False,
        interval: float = 60.0,
        rates_every: float = 900.0,
        max_backoff: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        on_event: Callable[[GuardEvent], None] | None = None,
    ) -> None:
        import asyncio

        super().__init__(
            limits,
            cancel=cancel,
            dry_run=dry_run,
            state_path=state_path,
            log_path=log_path,
            interval=interval,
            rates_every=rates_every,
            clock=clock,
            on_event=on_event,
            reset=reset,
            max_backoff=max_backoff,
        )
        self.client, self.sleep = client, sleep or asyncio.sleep

    async def check(self) -> Verdict:
        """One check: fetch, judge, cancel if allowed. A failed fetch raises its CloreAPIError."""
        return await adrive(self.flow(), self.client)

    async def run(self, checks: int | None = None) -> Verdict | None:
        """The async :meth:`Guard.run`."""
        self.started()
        verdict, done = None, 0
        while checks is None or done < checks:
            try:
                verdict = await self.check()
                wait = self.interval
            except CloreAPIError as error:
                wait = self.backoff(error)
            done += 1
            if checks is None or done < checks:
                await self.sleep(wait)
        return verdict
