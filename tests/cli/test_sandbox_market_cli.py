"""`clore sandbox market` / `status` and CLORE_SANDBOX_MARKET / CLORE_SANDBOX_SPEED: the CLI
sandbox's market moves on one time line kept in the state file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clore_ai.sandbox import MarketMotion
from clore_cli.testing import run_clore, sandbox_for


def search(home: Path) -> list[dict[str, Any]]:
    result = run_clore(["--sandbox", "search", "--all", "--limit", "1000", "-o", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = result.json()
    return rows


def status(home: Path) -> dict[str, Any]:
    result = run_clore(["sandbox", "status", "-o", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    row: dict[str, Any] = result.json()[0]
    return row


def test_a_stored_moving_market_changes_what_search_shows(tmp_path: Path) -> None:
    still = search(tmp_path)
    assert search(tmp_path) == still  # a still market: the same rows every time
    result = run_clore(["sandbox", "market", "moving:7", "--speed", "1000000", "-o", "json"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    row = result.json()[0]
    assert (row["market"], row["seed"], row["speed"]) == ("moving", 7, 1000000)
    first = search(tmp_path)  # every real millisecond is 1000 sandbox seconds: 3 market steps
    second = search(tmp_path)
    assert first != still and second != first
    later = status(tmp_path)
    assert later["market"] == "moving" and later["ahead_seconds"] > 0
    assert later["time"].endswith("UTC")

    result = run_clore(["sandbox", "market", "still", "--speed", "1"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "still" in result.stdout
    back = status(tmp_path)
    assert (back["market"], back["speed"], back["seed"]) == ("still", 1, None)
    assert back["ahead_seconds"] >= later["ahead_seconds"]  # time never runs backwards
    assert search(tmp_path) == still


def test_the_environment_moves_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    still = search(tmp_path)
    monkeypatch.setenv("CLORE_SANDBOX_MARKET", "moving:2")
    assert search(tmp_path) != still
    row = status(tmp_path)
    assert (row["market"], row["seed"]) == ("moving", 2)
    monkeypatch.delenv("CLORE_SANDBOX_MARKET")
    assert status(tmp_path)["market"] == "still"  # nothing was stored


@pytest.mark.parametrize(
    ("name", "value"), [("CLORE_SANDBOX_MARKET", "wobbly"), ("CLORE_SANDBOX_SPEED", "fast")]
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = run_clore(["--sandbox", "search"], home=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and name in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_market_arguments_are_usage_errors(tmp_path: Path) -> None:
    for args in (["bogus"], ["--speed", "0"], ["still", "--seed", "3"]):
        result = run_clore(["sandbox", "market", *args], home=tmp_path)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.stderr
    assert status(tmp_path)["market"] == "still"


def test_advance_jumps_the_sandbox_time_for_later_commands(tmp_path: Path) -> None:
    def order_38() -> dict[str, Any]:
        result = run_clore(["--sandbox", "orders", "-o", "json"], home=tmp_path)
        assert result.exit_code == 0, result.stderr
        return next(r for r in result.json() if r["id"] == 38)

    before = order_38()
    result = run_clore(["sandbox", "advance", "1d", "-o", "json"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.json()[0]["ahead_seconds"] >= 86400
    after = order_38()
    # a day of order 38 (1108.85 CLORE per day) is spent, and its uptime says a day more
    assert after["spend"] - before["spend"] == pytest.approx(1108.85, rel=0.01)
    assert after["uptime_seconds"] - before["uptime_seconds"] == pytest.approx(86400, abs=60)
    for bad in ("1y", "-5", "0", "soon"):
        result = run_clore(["sandbox", "advance", "--", bad], home=tmp_path)
        assert result.exit_code == 2 and "duration like" in result.stderr, bad


def test_tests_set_the_scene_for_clore_runs_through_sandbox_for(tmp_path: Path) -> None:
    scene = sandbox_for(tmp_path)
    scene.configure_market(MarketMotion(seed=4))
    scene.take_server(123, when_ordered=True)
    assert scene.motion() == MarketMotion(seed=4)
    result = run_clore(["--sandbox", "sandbox", "status", "-o", "json"], home=tmp_path)
    assert result.json()[0]["seed"] == 4
    args = ["--sandbox", "deploy", "123", "--image", "cloreai/pytorch", "--currency", "bitcoin"]
    args += ["--type", "on-demand", "--yes"]
    lost = run_clore(args, home=tmp_path)
    assert lost.exit_code != 0 and "server-already-rented" in lost.stderr + lost.stdout
    scene.free_server(123)
    won = run_clore(args, home=tmp_path)
    assert won.exit_code == 0, won.stderr
    state = scene.account_state("sandbox-cli-account")
    assert state is not None and any(o["si"] == 123 for o in state["orders"].values())


def test_a_reset_sandbox_forgets_its_journals_never_the_live_ones(tmp_path: Path) -> None:
    from clore_ai import credentials
    from clore_ai._inflight import journal_for_key
    from clore_ai.guard import default_guard_paths
    from clore_ai.jobs import JobJournal, JobRecord, default_journal_path
    from clore_cli.testing import isolated_home

    deploy = ["--sandbox", "deploy", "123", "--image", "ubuntu", "--type", "on-demand"]
    deploy += ["--currency", "usd", "--yes", "-o", "json"]
    first = run_clore(deploy, home=tmp_path)
    assert first.exit_code == 0, first.stderr
    with isolated_home(tmp_path):
        JobJournal(default_journal_path(sandbox=True)).add(JobRecord("j-sandbox", "old", order_id=1000))
        JobJournal(default_journal_path()).add(JobRecord("j-live", "mine", order_id=1000))
        live_journal = journal_for_key("a-live-key")
        live_journal.claim(live_journal.begin(123, {"image": "ubuntu"}), 1000)
        live_guard = default_guard_paths("default")[0]
        sandbox_guard = default_guard_paths("default", sandbox=True)[0]
        # live profiles named like the sandbox or its folder keep their own guard files
        credentials.write_config({"profiles": {"sandbox-prod": {"api_key": "sk-live-sandbox-prod-1"}}})
        live_named_like_sandbox = [*default_guard_paths("sandbox-prod"), *default_guard_paths("sandbox")]
        for guard in (live_guard, sandbox_guard, *live_named_like_sandbox):
            guard.parent.mkdir(parents=True, exist_ok=True)
            guard.write_text("{}")
        live_files = [default_journal_path(), live_journal.path, live_guard, *live_named_like_sandbox]

    reset = run_clore(["sandbox", "reset"], home=tmp_path)
    assert reset.exit_code == 0, reset.stderr
    assert "Forgot" in reset.stdout and "jobs-sandbox.json" in reset.stdout

    # The order journal no longer holds the first deploy's claim: the next deploy finds its order
    again = run_clore(deploy, home=tmp_path)
    assert again.exit_code == 0, again.stderr
    assert again.json()[0]["server_id"] == 123
    jobs = run_clore(["--sandbox", "jobs", "-o", "json"], home=tmp_path)
    assert jobs.exit_code == 0 and jobs.json() == [], jobs.stdout  # the old sandbox's jobs are gone
    live_jobs = run_clore(["jobs", "-o", "json"], home=tmp_path)
    assert [j["id"] for j in live_jobs.json()] == ["j-live"]
    assert all(path is not None and path.exists() for path in live_files)
    assert not sandbox_guard.exists()
