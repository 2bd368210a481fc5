"""`clore server-settings` moves money only with consent (issue 14, host part).

It shows current → new for every setting in the coin and in USD per hour and per day, asks,
needs --yes without a terminal, warns on big changes and on a spot minimum above the
on-demand price, and says "nothing to change" when there is nothing to change.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from clore_cli._main import main

from .test_cli import state_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--sandbox", *args])
    out, err = capsys.readouterr()
    return code, out, err


def config(capsys: pytest.CaptureFixture[str], name: str = "MyGPU") -> dict[str, Any]:
    code, out, _ = run(capsys, "server-config", name, "-o", "json")
    assert code == 0
    return json.loads(out)[0]  # type: ignore[no-any-return]


def terminal(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    stdin = io.StringIO(answer)
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)


def test_without_a_terminal_it_needs_yes_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "server-settings", "MyGPU", "--on-demand", "0.0001", "--currency", "btc")
    assert code == 2 and out == ""
    assert (
        "refusing to change your server's settings without a terminal to confirm on; add --yes (or --dry-run)"
        in err
    )
    assert not state_file().exists()  # not even the current configuration was read


def test_shows_current_and_new_in_the_coin_and_in_usd_per_hour_and_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "server-settings", "MyGPU", "--on-demand", "0.0001", "--currency", "btc",
        "--on-demand-usd", "0.25/h", "--mrl", "96", "--unavailable", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    now = "0.00006615 BTC/day, 0.00000276 BTC/h ($4.50/day, $0.1875/h)"
    assert f"  on-demand price (bitcoin): {now} → 0.0001 BTC/day" in err
    assert "  on-demand price (USD pricing): $4.50/day, $0.1875/h → $6.00/day, $0.2500/h" in err
    assert "  max rental hours: 72 → 96" in err and "  available: yes → no" in err
    assert "e-0" not in err  # no float noise for people
    assert "dry run: nothing was sent" in err
    sent = json.loads(out)["request"]["body"]
    assert sent["bitcoin_on_demand"] == 0.0001 and sent["usd_pricing"] == {"on_demand": 6.0}
    assert sent["mrl"] == 96 and sent["availability"] is False
    assert config(capsys)["max_rental_hours"] == 72  # the dry run changed nothing


def test_asks_on_a_terminal_and_no_means_nothing_is_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal(monkeypatch, "n\n")
    code, _, err = run(capsys, "server-settings", "MyGPU", "--spot", "0.00004", "--currency", "btc")
    assert code == 1 and "Change the settings of MyGPU? [y/N]" in err
    assert "cancelled: nothing was sent" in err
    assert config(capsys)["min_spot_pricing_per_day"]["bitcoin"] == 0.00003307
    terminal(monkeypatch, "y\n")
    code, out, err = run(capsys, "server-settings", "MyGPU", "--spot", "0.00004", "--currency", "btc")
    assert code == 0 and "Settings of MyGPU updated" in out
    assert config(capsys)["min_spot_pricing_per_day"]["bitcoin"] == 0.00004


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (["--on-demand", "0.001", "--currency", "btc"], "on-demand price (bitcoin) becomes more than 3×"),
        (
            ["--on-demand", "0.00001", "--currency", "btc"],
            "on-demand price (bitcoin) becomes less than a third of",
        ),
        (["--on-demand-usd", "1/day"], "on-demand price (USD pricing) becomes less than a third of"),
        (
            ["--spot", "0.0001", "--currency", "btc"],
            "spot minimum (bitcoin) would be above the on-demand price",
        ),
        (["--spot-usd", "0.5/h"], "spot minimum (USD pricing) would be above the on-demand price"),
    ],
)
def test_warns_on_big_changes_and_spot_above_on_demand(
    capsys: pytest.CaptureFixture[str], args: list[str], warning: str
) -> None:
    code, _, err = run(capsys, "server-settings", "MyGPU", *args, "--dry-run")
    assert code == 0 and f"warning: the {warning}" in err


def test_a_small_change_has_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "server-settings", "MyGPU", "--on-demand", "0.00007", "--currency", "btc", "--dry-run"
    )
    assert code == 0 and "warning" not in err


def test_nothing_to_change(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "server-settings", "MyGPU")
    assert code == 2 and "nothing to change: give at least one setting" in err
    code, out, err = run(capsys, "server-settings", "MyGPU", "--mrl", "72", "--available", "--yes")
    assert code == 0 and out == ""
    assert "nothing to change: MyGPU already has these settings" in err


def test_coins_autoprice_and_per_currency_prices_reach_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "server-settings", "MyGPU", "--enable", "usd", "--disable", "btc", "--no-autoprice",
        "--on-demand", "1800", "--currency", "clore", "--yes", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["sent"]["enabled-USD-Blockchain"] is True and answer["sent"]["enabled-bitcoin"] is False
    assert answer["sent"]["CLORE-Blockchain_on_demand"] == 1800 and answer["sent"]["autoprice"] is False
    assert "  accepts bitcoin: yes → no" in err and "  autoprice (USD): yes → no" in err
    assert "1663.3 CLORE/day" in err and "1800 CLORE/day" in err
    shown = config(capsys)
    assert shown["pricing_per_day"]["CLORE-Blockchain"] == 1800
