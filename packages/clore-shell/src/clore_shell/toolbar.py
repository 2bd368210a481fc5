"""The bottom toolbar: profile, sandbox or live, wallet balance, active orders, burn rate and
runway, rate-limit wait. Everything comes from what the background refresher stored."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SessionState:
    """What the background refresher learned; read by the toolbar, never fetched by it."""

    balance: str = "…"
    active_orders: int | None = None
    burn_usd_per_hour: float | None = None  # the active orders' USD per hour
    runway_hours: float | None = None  # the wallet that runs out first, at that rate
    runway_coin: str | None = None
    last_refresh: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)

    def refresh_soon(self, *, clear: bool = False) -> None:
        """Fetch the balance and orders again now (after `use`, deploy, cancel...)."""
        if clear:
            with self.lock:
                self.balance, self.active_orders = "…", None
                self.burn_usd_per_hour = self.runway_hours = self.runway_coin = None
        self.wake.set()


# Spending older than this shows its age; older than SPEND_HIDDEN_AFTER it is not shown.
SPEND_AGE_SHOWN_AFTER = 180.0
SPEND_HIDDEN_AFTER = 900.0


def spend_text(state: SessionState, now: float | None = None) -> str | None:
    """``burn $0.1363/h, runway 901d 13h clore`` from the last refresh, with its age once it
    is a few minutes old (``, 5m old``); None before the first refresh or when too old."""
    from clore_cli.commands.orders import uptime
    from clore_cli.commands.spending import runway_text
    from clore_cli.formats import COIN_SHORT, usd_per_hour

    with state.lock:
        burn, runway, coin, at = (
            state.burn_usd_per_hour,
            state.runway_hours,
            state.runway_coin,
            state.last_refresh,
        )
    if burn is None or at is None:
        return None
    age = (time.time() if now is None else now) - at
    if age > SPEND_HIDDEN_AFTER:
        return None
    text = f"burn {usd_per_hour(burn)}/h"
    if runway is not None:
        text += f", runway {runway_text(runway)} {COIN_SHORT.get(coin or '', coin or '')}".rstrip()
    if age > SPEND_AGE_SHOWN_AFTER:
        text += f" ({uptime(age)} old)"
    return text


def api_label(app: Any) -> str:
    """``SANDBOX``, ``LIVE``, or ``API host:port`` when ``CLORE_API_URL`` names another API."""
    api: str = app.api_name
    return api.upper() if api in ("sandbox", "live") else f"API {api}"


def toolbar_text(
    app: Any, state: SessionState, line: str | None = None, now: float | None = None, width: int | None = None
) -> str:
    """The session's API and profile first; ``this line: ...`` when the line being typed
    names root options (``--profile work ...``) that change what it will use.

    With ``width`` (the terminal's columns) a part that does not fit is left out whole, rather
    than the terminal cutting a word in two; the shorter parts after it still show.
    """
    mode = api_label(app)
    orders = "?" if state.active_orders is None else str(state.active_orders)
    parts = [f" {mode}", f"profile {app.profile}"]
    target = _line_target(app, line)
    if target:
        parts.append(f"this line: {target}")
    parts.append(f"{orders} active orders")
    spending = spend_text(state, now)
    if spending:  # before the balance: what an 80-column terminal cuts is the end of the line
        parts.append(spending)
    parts.append(f"balance {state.balance}")
    client = app._client
    if client is not None:
        wait = client.limiter.backlog()
        if wait > 0.05:
            parts.append(f"waiting {wait:.1f}s for the rate limit")
    parts.append("output " + (app.default_output or "table"))
    if width is not None:
        from prompt_toolkit.utils import get_cwidth  # terminal cells, not characters

        kept = parts[:2]
        for part in parts[2:]:
            if get_cwidth(" | ".join([*kept, part])) <= width:
                kept.append(part)
        parts = kept
    return " | ".join(parts)


def _line_target(app: Any, line: str | None) -> str | None:
    import shlex

    from ._lineopts import MAX_INTERACTIVE, line_root_options, line_target

    if not line or len(line) > MAX_INTERACTIVE or not line.lstrip().startswith("-"):
        return None
    try:
        given = line_root_options(shlex.split(line))
    except ValueError:
        return None
    return line_target(app, given) if given else None


def refresh_once(app: Any, state: SessionState) -> None:
    """Warm the caches: orders, wallets, marketplace ids and GPU names."""
    from clore_cli._cache import remember, remember_gpus
    from clore_cli.api import not_rentable
    from clore_cli.formats import coin_amount, usd_per_hour

    # Each part is shown as soon as its answer is in: the key's requests go 1 s apart, so
    # waiting for all three left the toolbar at "?" for seconds after the shell started.
    client = app.client()
    orders = client.my_orders()
    remember("orders", [(str(o.id), f"{o.type} on {o.server_id} ({o.status})") for o in orders])
    with state.lock:
        state.active_orders = len(orders)
    wallets = client.wallets()
    shown = [coin_amount(w.balance, w.name) for w in wallets if w.balance]  # 1,500,000 clore, not 1.5e+06
    with state.lock:
        state.balance = ", ".join(shown[:2]) or "0"
    servers = client.marketplace()
    rentable = [s for s in servers if not s.rented and not not_rentable(s)]
    remember("servers", [(str(s.id), f"{s.gpu_model} {usd_per_hour(s.price_usd)}/h") for s in rentable])
    remember_gpus(servers)
    from clore_ai.spending import implied_usd_rates, summarize

    summary = summarize(orders, wallets, implied_usd_rates(servers), app.now())
    shortest = summary.shortest_runway
    with state.lock:
        state.burn_usd_per_hour = summary.usd_per_hour
        state.runway_hours = shortest.runway_hours if shortest else None
        state.runway_coin = shortest.currency if shortest else None
        state.last_refresh = time.time()


class _Stop(threading.Event):
    """Stopping also wakes the refresher, so it ends at once."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


def start_refresher(app: Any, state: SessionState, every: float = 120.0) -> threading.Event:
    stop = _Stop(state.wake)

    def loop() -> None:
        while not stop.is_set():
            try:
                refresh_once(app, state)
            except Exception:  # noqa: BLE001 - the toolbar shows stale data, the shell goes on
                pass
            state.wake.wait(every)
            state.wake.clear()

    threading.Thread(target=loop, name="clore-shell-refresh", daemon=True).start()
    return stop
