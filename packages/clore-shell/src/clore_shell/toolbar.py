"""The bottom toolbar: profile, sandbox or live, wallet balance, active orders, burn rate and
runway, rate-limit wait. Everything comes from what the background refresher stored.

Staleness: each part remembers when it was fetched. Once a refresh fails (or the data is
older than :data:`STALE_AFTER`), one mark says so with the age of the oldest part shown
(``API unreachable, data 4m old``); the next successful refresh removes it.

Width: parts have a long and a short form; when the terminal is narrow, :data:`NARROWER`
says, step by step, which part gets shorter or is left out first. Money (balance, burn and
runway) goes last. Amounts keep a fixed number of decimals, so a refresh does not change a
part's width and the layout does not flicker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

# Data older than this is marked with its age even when no refresh has failed (a refresh
# that hangs). The refresher runs every REFRESH_SECONDS, or RETRY_SECONDS after a failure.
STALE_AFTER = 180.0
REFRESH_SECONDS = 120.0
RETRY_SECONDS = 30.0


@dataclass
class SessionState:
    """What the background refresher learned; read by the toolbar, never fetched by it."""

    active_orders: int | None = None
    balances: list[tuple[float, str]] | None = None  # (amount, currency) of the wallets shown
    burn_usd_per_hour: float | None = None  # the active orders' USD per hour
    runway_hours: float | None = None  # the wallet that runs out first, at that rate
    runway_coin: str | None = None
    orders_at: float | None = None  # when each part was fetched (clock seconds)
    balance_at: float | None = None
    last_refresh: float | None = None  # the burn and runway: the end of a whole refresh
    failed_at: float | None = None  # the latest refresh failed (None: it succeeded, or none ran)
    unreachable: bool = False  # ... because the API could not be reached
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)

    def refresh_soon(self, *, clear: bool = False) -> None:
        """Fetch the balance and orders again now (after `use`, deploy, cancel...)."""
        if clear:
            with self.lock:
                self.balances, self.active_orders = None, None
                self.burn_usd_per_hour = self.runway_hours = self.runway_coin = None
                self.orders_at = self.balance_at = self.last_refresh = None
        self.wake.set()

    def failed(self, error: BaseException) -> None:
        """A refresh ended with ``error``: what was fetched before stays, marked stale."""
        from clore_ai import APIConnectionError

        with self.lock:
            self.failed_at = self.clock()
            self.unreachable = isinstance(error, (APIConnectionError, OSError))


def _age(seconds: float) -> str:
    """``<1m``, ``4m``, ``1h 5m``, ``2d 3h``."""
    from clore_cli.commands.orders import uptime

    return "<1m" if seconds < 60 else uptime(seconds) or "<1m"


def _age_short(seconds: float) -> str:
    """The largest unit only: ``<1m``, ``4m``, ``1h``, ``2d``."""
    return _age(seconds).split(" ")[0]


def stale_mark(state: SessionState, now: float) -> list[str]:
    """``API unreachable, data 4m old`` and its short form ``offline 4m``; [] when fresh."""
    with state.lock:
        stamps = [state.orders_at, state.balance_at, state.last_refresh]
        failed, unreachable = state.failed_at is not None, state.unreachable
    known = [at for at in stamps if at is not None]
    oldest = now - min(known) if known else None
    if not failed and (oldest is None or oldest <= STALE_AFTER):
        return []
    what = "API unreachable" if unreachable else "refresh failed" if failed else ""
    short = "offline" if unreachable else "stale"
    if oldest is None:
        return [what, short]
    age = _age(oldest)
    return [f"{what}, data {age} old" if what else f"data {age} old", f"{short} {_age_short(oldest)}"]


def spend_forms(state: SessionState) -> list[str]:
    """The burn and runway from the last refresh, long and short: ``burn $0.1363/h, runway
    901d 13h clore`` and ``burn $0.136/h, 901d left``; [] before the first refresh."""
    from clore_cli.commands.spending import runway_text
    from clore_cli.formats import COIN_SHORT, compact_number, usd_per_hour

    with state.lock:
        burn, runway, coin = state.burn_usd_per_hour, state.runway_hours, state.runway_coin
    if burn is None:
        return []
    long = f"burn {usd_per_hour(burn)}/h"
    short = f"burn ${compact_number(burn)}/h"
    if runway is not None:
        long += f", runway {runway_text(runway)} {COIN_SHORT.get(coin or '', coin or '')}".rstrip()
        short += f", {_runway_short(runway)} left"
    return [long, short]


def _runway_short(hours: float) -> str:
    """The largest unit only: ``901d``, ``5h``, ``12m``."""
    if hours >= 48:
        return f"{int(hours // 24):,}d"
    return f"{int(hours)}h" if hours >= 1 else f"{int(hours * 60)}m"


def balance_forms(state: SessionState) -> list[str]:
    """``balance 0.04999886 btc, 999,712.78 clore`` and ``bal 0.0500 btc, 999.7k clore``."""
    from clore_cli.formats import COIN_SHORT, coin_amount, compact_number

    with state.lock:
        balances = state.balances
    if balances is None:
        return ["balance …"]
    if not balances:
        return ["balance 0"]
    long = ", ".join(coin_amount(amount, coin, keep_zeros=True) for amount, coin in balances)
    short = ", ".join(
        f"${compact_number(amount)}"
        if COIN_SHORT.get(coin) == "usd"
        else f"{compact_number(amount)} {COIN_SHORT.get(coin, coin)}"
        for amount, coin in balances
    )
    return [f"balance {long}", f"bal {short}"]


def api_label(app: Any) -> str:
    """``SANDBOX``, ``LIVE``, or ``API host:port`` when ``CLORE_API_URL`` names another API."""
    api: str = app.api_name
    return api.upper() if api in ("sandbox", "live") else f"API {api}"


DROP = "drop"
SHORTER = "shorter"
#: When the toolbar is wider than the terminal, these steps are taken in order until it
#: fits: the least useful part first; money (balance, burn and runway) last. The API
#: (SANDBOX, LIVE) and the line's own target (``this line: ...``) always stay.
NARROWER: tuple[tuple[str, str], ...] = (
    ("output", DROP),
    ("orders", SHORTER),
    ("wait", SHORTER),
    ("burn", SHORTER),
    ("stale", SHORTER),
    ("balance", SHORTER),
    ("profile", DROP),
    ("wait", DROP),
    ("orders", DROP),
    ("burn", DROP),
    ("balance", DROP),
    ("stale", DROP),
)


def toolbar_text(
    app: Any, state: SessionState, line: str | None = None, now: float | None = None, width: int | None = None
) -> str:
    """The session's API and profile first; ``this line: ...`` when the line being typed
    names root options (``--profile work ...``) that change what it will use.

    With ``width`` (the terminal's columns) the parts are made shorter, or left out whole,
    in the order :data:`NARROWER` gives, until the toolbar fits.
    """
    moment = state.clock() if now is None else now
    orders = "?" if state.active_orders is None else str(state.active_orders)
    parts: dict[str, list[str]] = {"mode": [f" {api_label(app)}"], "profile": [f"profile {app.profile}"]}
    target = _line_target(app, line)
    if target:
        parts["line"] = [f"this line: {target}"]
    mark = stale_mark(state, moment)
    if mark:
        parts["stale"] = mark
    parts["orders"] = [f"{orders} active orders", f"{orders} orders"]
    parts["balance"] = balance_forms(state)
    spending = spend_forms(state)
    if spending:
        parts["burn"] = spending
    client = app._client
    if client is not None:
        wait = client.limiter.backlog()
        if wait > 0.05:
            parts["wait"] = [f"waiting {wait:.1f}s for the rate limit", f"wait {wait:.1f}s"]
    parts["output"] = ["output " + (app.default_output or "table")]
    if width is None:
        return " | ".join(forms[0] for forms in parts.values())
    from prompt_toolkit.utils import get_cwidth  # terminal cells, not characters

    shown = {name: forms[0] for name, forms in parts.items()}
    steps = iter(NARROWER)
    while get_cwidth(" | ".join(shown.values())) > width:
        name, step = next(steps, ("", ""))
        if not name:
            break  # what always stays does not fit: the terminal cuts the end
        if name not in shown:
            continue
        if step == DROP:
            del shown[name]
        elif shown[name] != parts[name][-1]:
            shown[name] = parts[name][parts[name].index(shown[name]) + 1]
    return " | ".join(shown.values())


def _line_target(app: Any, line: str | None) -> str | None:
    import shlex

    from ._lineopts import MAX_INTERACTIVE, line_root_options, line_target, without_clore

    if not line or len(line) > MAX_INTERACTIVE:
        return None
    start = line.lstrip()
    if not start.startswith("-") and not start.startswith("clore "):
        return None
    try:
        given = line_root_options(without_clore(shlex.split(line)))
    except ValueError:
        return None
    return line_target(app, given) if given else None


def refresh_once(app: Any, state: SessionState) -> None:
    """Warm the caches: orders, wallets, marketplace ids and GPU names."""
    from clore_cli._cache import remember, remember_gpus
    from clore_cli.api import not_rentable
    from clore_cli.formats import usd_per_hour

    # Each part is shown as soon as its answer is in: the key's requests go 1 s apart, so
    # waiting for all three left the toolbar at "?" for seconds after the shell started.
    client = app.client()
    orders = client.my_orders()
    remember("orders", [(str(o.id), f"{o.type} on {o.server_id} ({o.status})") for o in orders])
    with state.lock:
        state.active_orders = len(orders)
        state.orders_at = state.clock()
    wallets = client.wallets()
    shown = [(float(w.balance), w.name) for w in wallets if w.balance]
    with state.lock:
        state.balances = shown[:2]
        state.balance_at = state.clock()
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
        state.last_refresh = state.clock()
        state.failed_at, state.unreachable = None, False


def refresh(app: Any, state: SessionState) -> bool:
    """One refresh for the background loop: True when it succeeded; a failure is recorded
    in ``state`` (the toolbar marks what it shows as stale), never raised."""
    try:
        refresh_once(app, state)
    except Exception as error:  # noqa: BLE001 - the toolbar says so, the shell goes on
        state.failed(error)
        return False
    return True


class _Stop(threading.Event):
    """Stopping also wakes the refresher, so it ends at once."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


def start_refresher(
    app: Any, state: SessionState, every: float = REFRESH_SECONDS, retry: float = RETRY_SECONDS
) -> threading.Event:
    """Refresh every ``every`` seconds; after a failure, again in ``retry`` seconds."""
    stop = _Stop(state.wake)

    def loop() -> None:
        from clore_cli._spinner import silence_this_thread

        silence_this_thread()  # a spinner drawn from here would scroll the prompt away
        while not stop.is_set():
            ok = refresh(app, state)
            state.wake.wait(every if ok else retry)
            state.wake.clear()

    threading.Thread(target=loop, name="clore-shell-refresh", daemon=True).start()
    return stop
