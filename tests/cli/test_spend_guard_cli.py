"""clore spend, clore guard and the spend columns of clore orders, against the CLI sandbox."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from clore_cli._main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def guard_files() -> tuple[Path, Path]:
    folder = Path(os.environ["HOME"]) / ".local" / "state" / "clore" / "guard" / "sandbox"
    return folder / "default.json", folder / "default.cancellations.jsonl"


def active_orders(capsys: pytest.CaptureFixture[str]) -> list[int]:
    code, out, _ = run(capsys, "--sandbox", "orders", "-q")
    assert code == 0
    return [int(line) for line in out.split()]


def test_orders_json_has_uptime_and_spend_in_the_coin_and_in_usd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--sandbox", "orders", "-o", "json")
    rows = json.loads(out)
    assert code == 0 and rows
    for row in rows:
        rate = row["usd_per_hour"] * 24 / row["price_per_day"]  # USD per coin, as the row applies it
        assert row["spend_usd"] == pytest.approx(row["spend"] * rate)
        assert 6 * 3600 <= row["uptime_seconds"] < 6 * 3600 + 300  # the seed orders started 6 h ago
        assert row["uptime"].startswith("6h")
    code, out, _ = run(capsys, "--sandbox", "orders")
    assert "Uptime" in out and "Spent" in out and "6h 0m" in out


def test_spend_sums_the_orders_and_gives_each_wallet_its_runway(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--sandbox", "orders", "-o", "json")
    orders = json.loads(out)
    _, out, _ = run(capsys, "--sandbox", "wallets", "-o", "json")
    balances = {w["currency"]: w["balance"] for w in json.loads(out)}
    code, out, _ = run(capsys, "--sandbox", "spend", "--hours", "10", "-o", "json")
    summary = json.loads(out)
    assert code == 0
    assert summary["usd_per_hour"] == pytest.approx(sum(o["usd_per_hour"] for o in orders), rel=1e-6)
    assert summary["projected_usd"] == pytest.approx(10 * summary["usd_per_hour"], rel=1e-6)
    wallets = {w["currency"]: w for w in summary["wallets"]}
    for order in orders:
        wallet = wallets[order["currency"]]
        assert wallet["burn_per_hour"] == pytest.approx(order["price_per_day"] / 24)
        assert wallet["runway_hours"] == pytest.approx(
            balances[order["currency"]] / (order["price_per_day"] / 24), rel=1e-4
        )
    assert wallets["USD-Blockchain"]["runway_hours"] is None  # nothing burns it
    shortest = min((w for w in summary["wallets"] if w["runway_hours"]), key=lambda w: w["runway_hours"])
    assert summary["shortest_runway_currency"] == shortest["currency"]

    code, out, _ = run(capsys, "--sandbox", "spend", "--hours", "10")
    assert (
        code == 0 and "Next 10 h" in out and "Burn $0.13" in out and "runs out first: CLORE-Blockchain" in out
    )
    assert "e-0" not in out  # no exponents for people
    assert run(capsys, "--sandbox", "spend", "--hours", "0")[0] == 2


def test_guard_once_exits_9_past_a_limit_and_cancels_nothing_without_the_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--sandbox", "guard", "--max-hourly", "0.05", "--once", "-o", "json")
    assert code == 9
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["check", "would-cancel", "would-cancel"]
    assert events[0]["level"] == "crossed" and events[0]["usd_per_hour"] > 0.05
    assert json.loads(err.splitlines()[-1])["exit_code"] == 9
    assert active_orders(capsys) == [38, 39]
    code, out, _ = run(capsys, "--sandbox", "guard", "--max-hourly", "10", "--once")
    lines = out.splitlines()
    assert code == 0 and "guard resumed: counting spend since" in lines[0]  # the state of the first run
    assert lines[1].split(" ", 1)[1] == "ok: burn $0.1363/h (max $10.0000)"


def test_a_would_cancel_line_says_why_nothing_was_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    """`--cancel --dry-run` said "not cancelled: this guard does not cancel", as if --cancel
    had not been given."""
    guard = ["--sandbox", "guard", "--max-hourly", "0.13", "--once"]
    code, out, _ = run(capsys, *guard, "--cancel", "--dry-run")
    assert (
        code == 9
        and "would cancel order 39 (burn $0.1363/h (max $0.1300)); not cancelled: --dry-run\n" in out
    )
    assert "does not cancel" not in out and "add --cancel" not in out
    code, out, _ = run(capsys, *guard, "--cancel", "--dry-run", "-o", "json")
    (event,) = [e for e in map(json.loads, out.splitlines()) if e["event"] == "would-cancel"]
    assert event["message"].endswith("not cancelled: --dry-run")
    code, out, _ = run(capsys, *guard)
    assert code == 9 and out.rstrip().endswith("not cancelled: add --cancel to cancel orders past a limit")
    assert active_orders(capsys) == [38, 39]


def test_guard_cancel_needs_consent_then_cancels_the_newest_and_logs_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    state, log = guard_files()
    code, _, err = run(capsys, "--sandbox", "guard", "--max-hourly", "0.13", "--cancel", "--once")
    assert code == 2 and "add --yes" in err and not state.exists()
    code, out, _ = run(
        capsys, "--sandbox", "guard", "--max-hourly", "0.13", "--cancel", "--dry-run", "--once"
    )
    assert code == 9 and "would cancel order 39" in out and active_orders(capsys) == [38, 39]

    code, out, err = run(capsys, "--sandbox", "guard", "--max-hourly", "0.13", "--cancel", "--yes", "--once")
    assert code == 9 and "cancelled order 39" in out and err.endswith("; cancelled order 39\n")
    assert active_orders(capsys) == [38]  # the newest ($0.011/h) was enough: $0.125/h is under $0.13
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert (
        record["order_id"] == 39 and record["reasons"] == ["max_hourly"] and record["result"] == "cancelled"
    )
    code, out, _ = run(capsys, "--sandbox", "guard", "--max-hourly", "0.13", "--cancel", "--yes", "--once")
    assert code == 0 and "near: burn $0.1250/h" in out and len(log.read_text().splitlines()) == 1


def test_guard_keeps_running_until_interrupted_and_stops_cleanly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai import guard as guard_module

    checks: list[int] = []
    real = guard_module.Guard.check

    def check_then_interrupt(self: Any) -> Any:
        checks.append(1)
        if len(checks) == 3:
            raise KeyboardInterrupt
        self.sleep = lambda seconds: None  # no real waiting in a test
        return real(self)

    monkeypatch.setattr(guard_module.Guard, "check", check_then_interrupt)
    code, out, err = run(capsys, "--sandbox", "guard", "--min-runway", "24", "--interval", "5")
    assert code == 0 and "guard stopped; its state is kept in" in err
    assert out.count("ok: runway") == 2


@pytest.mark.parametrize(
    "args",
    [
        ["guard", "--once"],
        ["guard", "--max-hourly", "-1"],
        ["guard", "--max-spend", "nan"],
        ["guard", "--max-hourly", "1", "--near", "2"],
        ["guard", "--max-hourly", "1", "--interval", "0"],
        ["guard", "--max-hourly", "1e300"],
        ["guard", "--max-spend", "1e300"],
        ["guard", "--min-runway", "1e300"],
    ],
)
def test_guard_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run(capsys, "--sandbox", *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert not guard_files()[0].exists()


@pytest.mark.parametrize("columns", [80, 160])
def test_spend_table_is_readable_in_an_80_column_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: int
) -> None:
    """A table too wide for the terminal becomes "Key  value" blocks instead of cut cells."""
    from clore_cli.commands.spending import spend_columns
    from clore_cli.formats import Dataset, TableFormat

    _, out, _ = run(capsys, "--sandbox", "spend", "--hours", "10", "-o", "json")
    rows = json.loads(out)["wallets"]
    monkeypatch.setenv("COLUMNS", str(columns))
    data = Dataset("Spending (next 10 h)", spend_columns(10), rows, id_key="currency", footer="a footer")
    text = TableFormat().render(data, color=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert max(len(line) for line in plain.splitlines()) <= columns
    for wallet in ("bitcoin", "CLORE-Blockchain", "USD-Blockchain"):
        assert wallet in plain  # never cut to "CLORE-Block"
    assert "0.00000017 btc" in plain and "$0.1250" in plain and plain.rstrip().endswith("a footer")


def test_spend_footer_counts_one_order_in_the_singular(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--sandbox", "cancel", "38", "--yes")[0] == 0
    code, out, _ = run(capsys, "--sandbox", "spend")
    assert code == 0 and "over 1 order;" in out


def test_spend_footer_is_not_cut_mid_sentence_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--sandbox", "spend", "--hours", "10")
    footer = out.splitlines()[-2:]
    assert code == 0 and footer[0].startswith("Burn $") and footer[0].endswith(".")
    assert footer[1] == (
        "btc/clore in USD at the rates the marketplace's prices imply; orders stop at their rental length"
    )


def test_a_sandbox_guard_never_shares_files_with_a_live_profile_named_like_it() -> None:
    from clore_ai.guard import default_guard_paths

    sandbox_prod = default_guard_paths("prod", sandbox=True)
    for live_name in ("sandbox-prod", "sandbox_prod", "sandbox/prod", "prod"):
        assert not set(default_guard_paths(live_name)) & set(sandbox_prod), live_name
