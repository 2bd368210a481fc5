"""`clore watch` and `clore spot-bid` as a user runs them on the sandbox: JSON lines, --exec with
the event in its environment, exit codes, consent and --dry-run for --auto."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clore_cli._main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--sandbox", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ── watch ──────────────────────────────────────────────────────────────────


def test_watch_once_prints_one_json_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "watch", "id=123", "--initial", "--once", "-o", "json")
    assert code == 0, err
    (line,) = out.splitlines()
    event = json.loads(line)
    assert event["kind"] == "offer_appeared" and event["server_id"] == 123
    assert event["usd_per_hour"] > 0 and event["at"].endswith("Z")
    code, out, _ = run(capsys, "watch", "id=123", "--initial", "--once")
    assert code == 0 and " offer_appeared  server 123 (" in out and "available at $" in out


def test_watch_exec_gets_the_event_in_its_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "record.py"
    script.write_text(
        "import json, os, sys\n"
        "keys = [k for k in os.environ if k.startswith('CLORE_')]\n"
        "json.dump({k: os.environ[k] for k in keys}, open(sys.argv[1], 'w'))\n"
        "print('hello from the command')\n"
    )
    record = tmp_path / "event.json"
    command = f"{sys.executable} {script} {record}"
    code, out, err = run(capsys, "watch", "id=123", "--initial", "--once", "-o", "json", "--exec", command)
    assert code == 0, err
    env = json.loads(record.read_text())
    assert env["CLORE_EVENT_KIND"] == "offer_appeared" and env["CLORE_SERVER_ID"] == "123"
    assert json.loads(env["CLORE_EVENT"]) == json.loads(out)
    assert float(env["CLORE_PRICE_USD_HOUR"]) > 0
    assert "hello from the command" in err and "hello" not in out  # stdout stays JSON lines


def test_a_failing_exec_command_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    command = f'{sys.executable} -c "import sys; sys.exit(3)"'
    code, out, err = run(capsys, "watch", "id=123", "--initial", "--once", "--exec", command)
    assert code == 0 and "offer_appeared" in out
    assert "exited with status 3" in err


def test_watch_bad_input_is_one_line_exit_2_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    for args in (
        ["gpu>>4090"],
        ["id=1", "--exec", "no-such-program-here --x"],
        ["id=1", "--exec", "unclosed 'quote"],
        ["id=1", "--below", "0.3"],  # a USD price needs its unit
        ["id=1", "--interval", "0"],
        ["id=1", "--below", "1e300/h"],  # no price is that high: a typo, not a threshold
        ["id=1", "--below", "\u0661/h"],
    ):
        code, out, err = run(capsys, "watch", *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (args, err)
    assert sent == []


def test_watch_that_never_reached_the_api_exits_6_and_says_when_it_retries(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai import APIConnectionError
    from clore_ai.watch import MarketWatch

    def unreachable(self: Any, client: Any) -> Any:
        raise APIConnectionError("could not connect to the API")

    now = [1_000_000.0]

    def virtual_sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(MarketWatch, "poll", unreachable)
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "sleep", virtual_sleep)
    code, out, err = run(capsys, "watch", "gpus>=1", "--timeout", "45", "--interval", "30")
    assert code == 6 and out == "", err
    assert "trying again in 30 s" in err and "trying again in 15 s" in err  # the last wait is what is left
    assert err.strip().splitlines()[-1].startswith("error: could not connect to the API")


def test_watch_timeout_without_an_event_exits_11(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "watch", "id=999999", "--once", "--timeout", "0.01")
    assert code == 11 and out == "" and "no event in 0.01 s" in err
    code, out, err = run(capsys, "watch", "id=999999", "--timeout", "0.01", "-o", "json")
    assert code == 11 and out == "" and json.loads(err) == {"error": "no event in 0.01 s", "exit_code": 11}


# ── spot-bid ───────────────────────────────────────────────────────────────


def position(capsys: pytest.CaptureFixture[str], order_id: int = 39) -> dict[str, Any]:
    code, out, err = run(capsys, "spot-bid", str(order_id), "-o", "json")
    assert code == 0, err
    (record,) = json.loads(out)
    return record  # type: ignore[no-any-return]


def test_spot_bid_shows_position_and_the_lowest_winning_bid(capsys: pytest.CaptureFixture[str]) -> None:
    record = position(capsys)
    assert record["server_id"] == 6 and record["currency"] == "bitcoin"
    assert record["rank"] == 2 and record["bids"] >= 2 and record["winning"] is False
    assert record["lowest_winning_bid"] > record["bid"] and record["lowest_winning_usd_per_hour"] > 0
    code, out, _ = run(capsys, "spot-bid", "39")
    assert code == 0 and "Lowest winning bid/day" in out and " btc" in out and "e-0" not in out
    code, out, _ = run(capsys, "spot-bid", "--server", "6", "-o", "json")
    rows = json.loads(out)
    assert code == 0 and {r["currency"] for r in rows} >= {"bitcoin"}
    assert all(r["lowest_winning_bid"] >= (r["minimum"] or 0) for r in rows)


def test_spot_bid_usage_errors(capsys: pytest.CaptureFixture[str], sent: list[str]) -> None:
    for args in (
        [],
        ["39", "--server", "6"],
        ["39", "--auto"],  # no cap
        ["39", "--cap", "0.001"],  # a cap without --auto
        ["39", "--auto", "--cap", "-1"],
        ["39", "--auto", "--cap", "0.3/week"],
        ["39", "--auto", "--cap", "1e300", "--dry-run"],  # was an unexpected decimal error
        ["39", "--auto", "--cap", "\u0661", "--dry-run"],
    ):
        code, _, err = run(capsys, "spot-bid", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, err)
    code, _, err = run(capsys, "spot-bid", "39", "--auto", "--cap", "0.001")
    assert code == 2 and "refusing to spend money without a terminal" in err
    assert sent == []


def test_spot_bid_auto_dry_run_sends_no_price_change(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    before = position(capsys)
    code, out, err = run(
        capsys, "spot-bid", "39", "--auto", "--cap", "0.0001", "--dry-run", "--once", "-o", "json"
    )
    assert code == 0, err
    action = json.loads(out)
    assert action["kind"] == "raise" and action["dry_run"] and not action["applied"]
    assert action["new"] == before["lowest_winning_bid"]
    assert "Cap: 0.0001 BTC/day, 0.00000417 BTC/h ($6.80/day, $0.2834/h)" in err and "dry run" in err
    assert "set_spot_price" not in sent
    assert position(capsys)["bid"] == before["bid"]


def test_spot_bid_auto_asks_then_keeps_the_order_winning(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, sent: list[str]
) -> None:
    at_a_terminal = pytest.MonkeyPatch()  # undone alone: the fixtures' HOME and sandbox stay
    request.addfinalizer(at_a_terminal.undo)

    def terminal(answer: str) -> None:
        stdin = io.StringIO(answer)
        stdin.isatty = lambda: True  # type: ignore[method-assign]
        at_a_terminal.setattr(sys, "stdin", stdin)
        at_a_terminal.setattr(sys.stderr, "isatty", lambda: True, raising=False)

    terminal("n\n")
    code, _, err = run(capsys, "spot-bid", "39", "--auto", "--cap", "0.25/h", "--once")
    assert code == 1 and "Keep order 39 winning under this cap? [y/N]" in err
    assert "not started: nothing was sent; order 39 keeps its bid" in err and "cancelled" not in err
    assert "Cap: 0.00008821 BTC/day, 0.00000368 BTC/h ($6.00/day, $0.2500/h)" in " ".join(err.split())
    assert "set_spot_price" not in sent
    terminal("y\n")
    code, out, err = run(capsys, "spot-bid", "39", "--auto", "--cap", "0.25/h", "--once")
    assert code == 0 and "order 39: raise 0.000004 BTC/day ($" in out, err  # in the coin and in USD
    assert re.search(r"/h\) → [0-9.]+ BTC/day \(\$[0-9.]+/day, \$[0-9.]+/h\) \(", out), out
    after = position(capsys)
    assert (
        after["winning"] and after["bid"] == after["lowest_winning_bid"] and sent.count("set_spot_price") == 1
    )
    at_a_terminal.undo()
    code, out, err = run(capsys, "spot-bid", "39", "--auto", "--cap", "0.25/h", "--once", "--yes")
    assert code == 0 and "hold (winning at the lowest bid)" in out, err


def test_spot_price_shows_the_change_and_needs_consent(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, sent: list[str]
) -> None:
    """A bid changes money: without a terminal it needs --yes; at one it asks; either way the
    bid now, the new one and the lowest winning bid are shown in the coin and in USD first."""
    code, _, err = run(capsys, "spot-price", "39", "0.5")
    assert code == 2 and err.count("\n") == 1 and "refusing to change a spot bid without a terminal" in err
    assert sent == []  # refused before any request

    code, _, err = run(capsys, "spot-price", "39", "0.5", "--dry-run")
    assert code == 0 and "dry run: nothing was sent" in err
    assert "bids 0.000004 BTC/day, 0.00000017 BTC/h ($" in err and "not winning" in err
    assert "New bid: 0.5 BTC/day, 0.02083333 BTC/h ($34,011.43/day, $1,417.1431/h)" in err
    lowest = r"Lowest winning bid now: 0\.0000\d+ BTC/day, 0\.\d+ BTC/h \(\$[0-9.]+/day, \$[0-9.]+/h\)"
    assert re.search(lowest, err), err
    assert "warning: the new bid is 8,382× the lowest winning bid" in err
    assert "Wallet: 0.05 BTC (covers about 2 hours)" in err  # what the wallet pays at the new bid
    assert "set_spot_price" not in sent

    at_a_terminal = pytest.MonkeyPatch()
    request.addfinalizer(at_a_terminal.undo)
    stdin = io.StringIO("n\n")
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    at_a_terminal.setattr(sys, "stdin", stdin)
    at_a_terminal.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = run(capsys, "spot-price", "39", "0.00005")
    assert code == 1 and "Change the bid of order 39? [y/N]" in err and out.strip() == ""
    assert "warning: the new bid does not win now" in err
    assert "not changed: nothing was sent; order 39 keeps its bid" in err and "set_spot_price" not in sent
    at_a_terminal.setattr(sys, "stdin", io.StringIO("y\n"))
    sys.stdin.isatty = lambda: True  # type: ignore[method-assign]
    code, out, err = run(capsys, "spot-price", "39", "0.00006")
    # click 8.1.0 writes the prompt's trailing space to stdout; later versions do not
    assert code == 0 and out.lstrip(" ") == "Order 39 now bids 0.00006 BTC/day ($4.08/day, $0.1701/h)\n", (
        out,
        err,
    )
    assert sent.count("set_spot_price") == 1
    at_a_terminal.undo()
    code, out, _ = run(capsys, "spot-bid", "39", "-o", "json")
    assert json.loads(out)[0]["bid"] == 0.00006


def test_spot_bid_csv_names_the_coin_of_every_amount(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spot-bid", "39", "-o", "csv")
    header, row = out.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(",")))
    assert (
        code == 0 and values["currency"] == "bitcoin" and values["top_other_currency"] == "CLORE-Blockchain"
    )


def test_spot_price_below_the_server_minimum_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    code, _, err = run(capsys, "spot-price", "39", "0.0000000001", "--yes")
    assert code == 2 and err.count("\n") == 1
    # the bid as typed, every digit (never "0 BTC/day"), and the minimum it is under
    assert (
        "error: the bid 0.0000000001 BTC/day is below the minimum spot price of server 6: "
        "0.0000025 BTC/day now; bid at least that" in err
    )
    code, _, err = run(capsys, "spot-price", "38", "1", "--yes")
    assert code == 1 and err.strip() == "error: order 38 is an on-demand order; only spot orders have a bid"
    assert "set_spot_price" not in sent


def test_deploy_spot_quote_says_whether_the_bid_wins_and_warns_on_a_typo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy = ["deploy", "3812", "--image", "ubuntu", "--type", "spot", "--currency", "btc", "--dry-run"]
    code, _, err = run(capsys, *deploy, "--spot-price", "1")  # meant 0.0001?
    assert code == 0 and re.search(r"Lowest winning bid now: 0\.0000\d+ BTC/day", err), err
    assert re.search(r"warning: this bid is [\d,]+× the lowest winning bid", err)
    code, out, _ = run(capsys, "spot-bid", "--server", "6", "-o", "json")  # a server others bid on
    book = next(row for row in json.loads(out) if row["currency"] == "bitcoin")
    between = (book["minimum"] + book["lowest_winning_bid"]) / 2  # the server takes it; it does not win
    on_6 = ["deploy", "6", *deploy[2:]]
    code, _, err = run(capsys, *on_6, "--spot-price", f"{between:.8f}")
    assert (
        code == 0
        and "warning: this bid does not win now" in err
        and "(see: clore spot-bid --server 6)" in err
    )
    code, _, err = run(capsys, *on_6, "--spot-price", f"{book['minimum'] / 2:.8f}")
    assert code == 2 and "is below the minimum spot price of server 6" in err and "nothing was sent" in err
    code, _, err = run(capsys, *on_6, "--spot-price", f"{book['lowest_winning_bid']:.8f}")
    assert code == 0 and "warning" not in err


def test_spot_bid_on_an_order_that_is_not_mine_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "spot-bid", "424242")
    assert (
        code == 1
        and err.strip() == "error: order 424242 is not one of your active orders (see: clore orders)"
    )
    code, _, err = run(capsys, "spot-bid", "38", "-o", "json")
    assert code == 1 and "on-demand" in json.loads(err)["error"]


# ── as a user on the sandbox's moving market (state file shared by the runs) ──


def test_outbid_on_the_moving_market_the_watch_says_so_and_spot_bid_wins_it_back(tmp_path: Path) -> None:
    from clore_cli.testing import run_clore, sandbox_for

    def clore(*args: str) -> Any:
        result = run_clore(["--sandbox", *args], home=tmp_path)
        assert result.exit_code == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    scene = sandbox_for(tmp_path)
    from clore_ai.sandbox import MarketMotion

    scene.configure_market(MarketMotion(seed=7))
    (raised,) = clore("spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json")
    assert raised["kind"] == "raise" and raised["applied"]
    rival = scene.place_bid(6, 0.0005, "bitcoin")  # someone outbids me
    # a query that matches no offer: with --initial only my spot orders can fire
    (event,) = clore("watch", "id=999999", "--initial", "--once", "-o", "json")
    assert event["kind"] == "spot_outbid" and event["order_id"] == 39
    assert event["lowest_winning_bid"] == 0.00050001
    (back,) = clore("spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json")
    assert back["kind"] == "raise" and back["new"] == 0.00050001 and back["new"] <= back["cap"]
    scene.withdraw_bid(rival)
    (lower,) = clore("spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json")
    assert lower["kind"] == "lower" and lower["new"] < back["new"]  # by at most the API's step
    (held,) = clore("spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json")
    assert held["kind"] == "hold" and "lowering allowed again in" in held["reason"]  # the API said when
    scene.advance(600)
    (again,) = clore("spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json")
    assert again["kind"] == "lower" and again["new"] < lower["new"]
    status = run_clore(["--sandbox", "spot-bid", "39", "-o", "json"], home=tmp_path)
    assert json.loads(status.stdout)[0]["winning"]


def test_watch_says_the_sandbox_time_as_guard_and_spot_bid_do(tmp_path: Path) -> None:
    """Under `clore sandbox market moving:7 --speed 60` watch stamped its events with the wall
    clock while spot-bid --auto and guard said the sandbox's time."""
    from datetime import datetime, timezone

    from clore_cli.testing import run_clore, sandbox_for

    scene = sandbox_for(tmp_path)
    scene.advance(3 * 86_400)  # the sandbox's time is days ahead of the wall clock
    sandbox_now = scene.now()

    def at(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()

    shown = run_clore(["--sandbox", "watch", "id=123", "--initial", "--once", "-o", "json"], home=tmp_path)
    assert shown.exit_code == 0, shown.stderr
    (event,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert abs(at(event["at"]) - sandbox_now) < 120, (event["at"], sandbox_now)
    table = run_clore(["--sandbox", "watch", "id=123", "--initial", "--once"], home=tmp_path)
    assert table.exit_code == 0 and abs(at(table.stdout.split()[0]) - sandbox_now) < 120, table.stdout
    (action,) = [
        json.loads(line)
        for line in run_clore(
            ["--sandbox", "spot-bid", "39", "--auto", "--cap", "0.001", "--yes", "--once", "-o", "json"],
            home=tmp_path,
        ).stdout.splitlines()
    ]
    assert abs(at(action["at"]) - at(event["at"])) < 120  # one clock for both


def test_ctrl_c_stops_watch_and_the_keeper_cleanly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)  # Ctrl-C while waiting for the next poll
    code, out, err = run(capsys, "watch", "id=123", "--initial", "--no-my-spot")
    assert code == 130 and "offer_appeared" in out and "stopped (Ctrl-C) after 1 event" in err
    assert "error" not in err
    code, out, err = run(capsys, "spot-bid", "39", "--auto", "--cap", "0.0001", "--yes")
    assert code == 130 and "order 39: raise" in out
    assert "stopped (Ctrl-C); order 39 keeps the bid it has" in err


def test_spot_bid_server_footer_counts_one_bid_in_the_singular(tmp_path: Path) -> None:
    from clore_cli.testing import run_clore, sandbox_for

    sandbox_for(tmp_path).place_bid(123, 0.00001, "bitcoin")
    result = run_clore(["--sandbox", "spot-bid", "--server", "123"], home=tmp_path)
    assert result.exit_code == 0 and "1 bid in the book;" in result.stdout, result.stdout


def test_an_action_line_gives_each_amount_its_units_once() -> None:
    from clore_ai.spotbid import SpotPosition, plan_bid
    from clore_cli._consent import logged_price_text
    from clore_cli.commands.spotbid import _action_line

    def planned(bid: float, target: float, cap: float, **rules: Any) -> str:
        where = SpotPosition(6, "bitcoin", order_id=41, bid=bid, lowest_winning_bid=target, rate=68000.0)
        return _action_line(plan_bid(where, cap=cap, now=0.0, amount_text=logged_price_text, **rules))

    # a USD cap converted to the coin prints like the tick-rounded target: units once each
    line = planned(0.00005, 0.00005965, 0.0000596500001)
    assert line.count("BTC/day") == 3 and line.count("0.00005965 BTC/day (") == 2, line
    line = planned(0.00005, 0.00002, 0.00003, max_step=0.000001)  # lowering, by max_step
    assert line.endswith(
        "(lowest winning bid 0.00002 BTC/day ($1.36/day, $0.0567/h); "
        "at most 0.000001 BTC/day ($0.068/day, $0.0028/h) per lowering)"
    ), line
    line = planned(0.00001, 0.00006, 0.00003)  # out of reach: both amounts with units
    assert "the lowest winning bid 0.00006 BTC/day ($4.08/day, $0.1700/h) is above the cap 0.00003" in line
