"""The shell's toolbar: stale data is marked (and recovers), money comes first at narrow
widths, amounts keep their width between refreshes, and the refresher never draws a spinner."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from clore_ai import APIConnectionError, CloreAI, Wallet
from clore_cli._app import App
from clore_shell.toolbar import SessionState, refresh_once, toolbar_text

from ..conftest import FakeClock
from .test_shell import app

__all__ = ["app"]  # the fixture, imported for these tests


class Outage:
    """``CloreAI.my_orders`` fails as if the API server were gone, while ``down`` is True."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        real = CloreAI.my_orders

        def my_orders(client: Any, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise APIConnectionError("could not connect")
            return real(client, *args, **kwargs)

        monkeypatch.setattr(CloreAI, "my_orders", my_orders)


def kinds(text: str) -> list[str]:
    """Which parts a toolbar shows, whatever their form: ``['mode', 'balance', 'burn']``."""
    names = {"bal": "balance", "balance": "balance", "burn": "burn", "profile": "profile", "output": "output"}
    found = []
    for index, part in enumerate(text.split(" | ")):
        first = part.split(" ")[0]
        if index == 0:
            found.append("mode")
        elif part.endswith(" orders"):
            found.append("orders")
        elif first in ("offline", "stale", "API", "refresh", "data"):
            found.append("stale")
        else:
            found.append(names.get(first, first))
    return found


def test_a_failed_refresh_marks_every_part_stale_with_its_age_and_a_good_one_clears_it(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_shell.toolbar import refresh

    outage = Outage(monkeypatch)
    state = SessionState(clock=clock)
    assert refresh(app, state)
    fresh = toolbar_text(app, state, width=200)
    assert "2 active orders" in fresh and "balance 0.05" in fresh and "burn $0.1363/h" in fresh
    assert "old" not in fresh and "unreachable" not in fresh
    outage.down = True
    clock.advance(240)
    assert not refresh(app, state)  # recorded, never raised
    wide = toolbar_text(app, state, width=200)
    assert "API unreachable, data 4m old" in wide, wide
    assert "2 active orders" in wide and "balance 0.05" in wide and "burn $0.1363/h" in wide  # kept, marked
    narrow = toolbar_text(app, state, width=80)
    assert kinds(narrow)[:2] == ["mode", "stale"] and "offline 4m" in narrow, narrow
    assert len(narrow) <= 80 and "bal " in narrow and "burn " in narrow, narrow
    clock.advance(3600)  # long gone: still shown, with its age, never silently dropped
    assert "data 1h 4m old" in toolbar_text(app, state, width=200)
    assert "offline 1h" in toolbar_text(app, state, width=80)
    outage.down = False
    assert refresh(app, state)
    back = toolbar_text(app, state, width=200)
    assert "old" not in back and "unreachable" not in back and "offline" not in back, back


def test_an_error_that_is_not_the_network_says_refresh_failed(
    app: App, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai import AuthError
    from clore_shell.toolbar import refresh

    state = SessionState(clock=clock)
    assert refresh(app, state)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AuthError("invalid api key")

    monkeypatch.setattr(CloreAI, "wallets", refused)  # the orders still answer
    clock.advance(60)
    assert not refresh(app, state)
    text = toolbar_text(app, state, width=200)
    assert "refresh failed, data 1m old" in text  # the balance's age: the oldest part shown
    assert "stale 1m" in toolbar_text(app, state, width=80)


def test_data_not_refreshed_for_three_minutes_shows_its_age_without_a_failure(
    app: App, clock: FakeClock
) -> None:
    state = SessionState(clock=clock)
    refresh_once(app, state)
    clock.advance(170)
    assert "old" not in toolbar_text(app, state)
    clock.advance(130)  # a refresh that hangs
    assert "data 5m old" in toolbar_text(app, state)


def test_before_any_answer_an_unreachable_api_is_said(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    from clore_shell.toolbar import refresh

    Outage(monkeypatch).down = True
    state = SessionState()
    assert not refresh(app, state)
    text = toolbar_text(app, state)
    assert "API unreachable" in text and "? active orders" in text and "balance …" in text


def test_the_refresher_retries_soon_after_a_failure_and_draws_no_spinner(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clore_shell.toolbar as toolbar
    from clore_cli import _spinner
    from clore_shell.toolbar import start_refresher

    outcomes = iter([False, True])
    seen: list[Any] = []

    def one_refresh(app: Any, state: SessionState) -> bool:
        with _spinner.waiting(isatty=lambda: True, timer=lambda s, a: pytest.fail("a spinner")) as spinner:
            seen.append(type(spinner).__name__)
        return next(outcomes)

    monkeypatch.setattr(toolbar, "refresh", one_refresh)
    waits: list[float | None] = []
    second = threading.Event()

    class Wake(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            if len(waits) == 2:
                second.set()
                return super().wait()  # until stopped
            return True

    state = SessionState(wake=Wake())
    stop = start_refresher(app, state, every=120.0, retry=30.0)
    assert second.wait(10)
    stop.set()
    assert waits == [30.0, 120.0]  # failed: again in 30 s; then every 120 s
    assert seen == ["_NoSpinner", "_NoSpinner"]  # a spinner from this thread would scroll the prompt


def refreshed_with(app: App, monkeypatch: pytest.MonkeyPatch, btc: float, clore: float) -> SessionState:
    wallets = [Wallet(name="bitcoin", balance=btc), Wallet(name="CLORE-Blockchain", balance=clore)]
    monkeypatch.setattr(CloreAI, "wallets", lambda self: wallets)
    state = SessionState()
    refresh_once(app, state)
    return state


def test_at_80_columns_the_sandbox_shows_balance_and_burn(app: App) -> None:
    state = SessionState()
    refresh_once(app, state)
    for width in (80, 100, 120):
        text = toolbar_text(app, state, width=width)
        assert len(text) <= width, (width, text)
        assert {"mode", "balance", "burn"} <= set(kinds(text)), (width, text)
    assert toolbar_text(app, state, width=80) == (
        " SANDBOX | 2 orders | bal 0.0500 btc, 999.7k clore | burn $0.136/h, 901d left"
    )
    wide = toolbar_text(app, state, width=160)
    assert kinds(wide) == ["mode", "profile", "orders", "balance", "burn", "output"], wide
    assert "burn $0.1363/h, runway 901d 13h clore" in wide


def test_money_is_dropped_last_and_nothing_flickers_between_refreshes(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old toolbar showed the balance only when its digits were short (0.05 btc, not
    0.04999886 btc), and kept `output table` while dropping the burn."""
    states = [
        refreshed_with(app, monkeypatch, 0.05, 999_712.78),
        refreshed_with(app, monkeypatch, 0.04999886, 999_712.7),
        refreshed_with(app, monkeypatch, 0.049, 999_700.0),
    ]
    for width in range(30, 220):
        shown = [kinds(toolbar_text(app, state, width=width)) for state in states]
        assert shown[0] == shown[1] == shown[2], (width, shown)  # same parts after every refresh
        text = toolbar_text(app, states[1], width=width)
        assert len(text) <= width or kinds(text) == ["mode"], (width, text)
        for less, more in (("output", "profile"), ("profile", "balance"), ("profile", "burn")):
            if less in shown[0]:
                assert more in shown[0], (width, shown[0])  # the less useful part goes first
        lengths = {len(toolbar_text(app, state, width=width)) for state in states}
        assert len(lengths) == 1, (width, lengths)  # amounts keep their width


def test_the_rate_limit_wait_never_pushes_money_out(app: App) -> None:
    state = SessionState()
    refresh_once(app, state)
    client = app.client()
    client.limiter.interval = 5.0
    client.limiter.reserve()
    client.limiter.reserve()
    assert "waiting" in toolbar_text(app, state) and "for the rate limit" in toolbar_text(app, state)
    assert "wait " in toolbar_text(app, state, width=120)
    for width in (80, 100):
        text = toolbar_text(app, state, width=width)
        assert {"balance", "burn"} <= set(kinds(text)), (width, text)


def test_small_and_large_amounts_stay_short_and_readable(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    state = refreshed_with(app, monkeypatch, 1.234e-05, 1.5e6)
    assert "balance 0.00001234 btc, 1,500,000.00 clore" in toolbar_text(app, state)
    assert "bal 0.0000123 btc, 1.5M clore" in toolbar_text(app, state, width=80)


def test_compact_numbers() -> None:
    from clore_cli.formats import compact_number

    cases = {0.04999886: "0.0500", 999_712.78: "999.7k", 1.5e6: "1.5M", 12.345: "12.3", 0.1363: "0.136"}
    cases.update({999.96: "1.0k", 0: "0", -2.5: "-2.50", 3e9: "3.0B", 1e-12: "~0", 0.00001234: "0.0000123"})
    assert {value: compact_number(value) for value in cases} == cases
