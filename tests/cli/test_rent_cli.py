"""`clore rent` against the sandbox: the offers and the quote, one question, fallback on taken
servers, the cap, dry runs that send nothing, JSON, exit codes, and a Ctrl-C mid-try that
the next run reports."""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path

import httpx
import pytest

from clore_ai.sandbox import SandboxTransport
from clore_ai.sandbox._api import _fingerprint
from clore_cli._app import SANDBOX_KEY
from clore_cli._main import main

RENT = "--sandbox rent gpus>=1 --image cloreai/ubuntu22.04-cuda12 --currency usd"


def run(capsys: pytest.CaptureFixture[str], command: str) -> tuple[int, str, str]:
    code = main(shlex.split(command))
    out, err = capsys.readouterr()
    return code, out, err


def created(capsys: pytest.CaptureFixture[str]) -> list[int]:
    """Ids of the orders the sandbox account made (its two seeded orders are 38 and 39)."""
    code, out, _ = run(capsys, "--sandbox orders -q")
    assert code == 0
    return [int(i) for i in out.split() if int(i) >= 1000]


class OtherRenters(SandboxTransport):
    """Another renter takes the first ``taken`` servers rent sends create_order for; with
    ``interrupt``, Ctrl-C arrives right after the API made the order."""

    taken = 0
    interrupt = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/create_order") and type(self).taken > 0:
            type(self).taken -= 1
            server_id = json.loads(request.content)["renting_server"]
            with self.sandbox._lock, self.sandbox.store.transaction() as accounts:
                accounts[_fingerprint(SANDBOX_KEY)]["rented_overrides"][str(server_id)] = True
        response = super().handle_request(request)
        if request.url.path.endswith("/create_order") and type(self).interrupt:
            type(self).interrupt = False
            raise KeyboardInterrupt
        return response


@pytest.fixture
def others(monkeypatch: pytest.MonkeyPatch) -> type[OtherRenters]:
    import clore_ai.sandbox

    monkeypatch.setattr(clore_ai.sandbox, "SandboxTransport", OtherRenters)
    OtherRenters.taken, OtherRenters.interrupt = 0, False
    return OtherRenters


def test_dry_run_shows_offers_quote_and_request_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, f"{RENT} --max-price 0.3 --ssh-password Secret123 --dry-run")
    assert code == 0, err
    assert "Offers for 'gpus>=1' in usd, at most $0.3000/h (max price $0.3/h), best first:" in err
    assert "  1. server " in err and "/day ($" in err and "left out:" in err and "taken" in err
    assert "Wallet:" in err and "covers about" in err and "dry run: nothing was sent" in err
    document = json.loads(out)
    first = document["may_try"][0]
    assert document["request"]["body"]["renting_server"] == first["server_id"]
    assert document["request"]["body"]["required_price"] == first["price_per_day"]
    assert document["request"]["body"]["ssh_password"] == "****" and "Secret123" not in out + err
    assert all(o["usd_per_hour"] <= 0.3 for o in document["may_try"])
    # a person gets the offers a real run could try, not every match (those are on stderr)
    assert "plan" not in document and len(document["may_try"]) == document["fallback"] + 1
    assert created(capsys) == []
    code, out, err = run(capsys, f"{RENT} --max-price 0.3 --dry-run -o json")
    assert code == 0, err
    plan = json.loads(out)["plan"]  # a script gets them all, and why the others were left out
    assert len(plan["offers"]) > len(document["may_try"]) and plan["left_out"]
    assert created(capsys) == []


def test_without_a_terminal_it_needs_yes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(capsys, RENT)
    assert code == 2 and "--yes" in err and err.count("\n") == 1
    assert created(capsys) == []


def test_asks_once_and_the_question_covers_the_fallbacks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))  # a person at a terminal answers no
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(capsys, f"{RENT} --fallback 3 price<0.25")
    assert code == 1 and "cancelled: nothing was sent" in err
    asked = " ".join(err.split())  # at a terminal the question is wrapped to its width
    assert "If it is taken, up to 3 other offer(s) may be rented instead, each $0.2500/h at most." in asked
    assert created(capsys) == []


def test_rents_and_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, f"{RENT} price<0.3 --yes -o json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["usd_per_hour"] < 0.3 and row["currency"] == "USD-Blockchain"
    assert [a["outcome"] for a in row["attempts"]] == ["ordered"]
    assert created(capsys) == [row["id"]]


def test_taken_servers_fall_back_and_each_try_is_shown(
    capsys: pytest.CaptureFixture[str], others: type[OtherRenters]
) -> None:
    others.taken = 2
    code, out, err = run(capsys, f"{RENT} --yes")
    assert code == 0, err
    assert err.count("(server-already-rented); trying the next offer") == 2
    assert "Tries" in out and out.count(": taken") == 2 and ": ordered" in out
    assert len(created(capsys)) == 1


def test_nothing_under_the_cap_or_fallback_used_up_exits_9(
    capsys: pytest.CaptureFixture[str], others: type[OtherRenters]
) -> None:
    code, _, err = run(capsys, f"{RENT} price<0.001 --yes")
    assert code == 12 and "no server on the marketplace matches 'gpus>=1 price<0.001'" in err
    code, _, err = run(capsys, f"{RENT} --max-price 0.001 --yes")
    assert code == 12 and "no server matching 'gpus>=1' can be rented in usd under the cap ($0.001/h" in err
    assert "over the cap" in err
    others.taken = 5
    code, _, err = run(capsys, f"{RENT} --fallback 1 --yes -o json")
    assert code == 12
    error = json.loads(err.strip().splitlines()[-1])
    assert error["exit_code"] == 12 and "--fallback 1 used up" in error["error"]
    assert created(capsys) == []


def test_bad_input_is_one_line_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for command, hint in (
        ("--sandbox rent gpus>>1 --image x/y --currency usd --yes", "gpus needs a number"),
        ("--sandbox rent gpus>=1 --image x/y --currency doge --yes", "--currency"),
        ("--sandbox rent gpus>=1 --image x/y --currency usd --port 22:udp --yes", "22:udp"),
        ("--sandbox rent gpus>=1 --image x/y --currency usd --sort nope --yes", "cannot sort by"),
    ):
        code, out, err = run(capsys, command)
        assert code == 2 and hint in err and out == "" and err.count("\n") == 1, (command, err)
    assert created(capsys) == []


def test_ctrl_c_mid_try_exits_7_and_the_next_run_names_the_order(
    capsys: pytest.CaptureFixture[str], others: type[OtherRenters]
) -> None:
    others.interrupt = True
    code, _, err = run(capsys, f"{RENT} --yes")
    assert code == 7 and "interrupted after create_order was sent" in err
    (order_id,) = created(capsys)
    code, _, err = run(capsys, "--sandbox orders")
    assert code == 0 and "note: a previous `clore rent`" in err and f"may have left order {order_id}" in err
    code, _, err = run(capsys, f"{RENT} --yes")
    assert code == 3
    assert f"may have left order {order_id}: check it with `clore order {order_id}`" in err
    assert created(capsys) == [order_id]
    code, _, err = run(capsys, f"{RENT} --yes")  # said once; now it rents
    assert code == 0, err
    assert len(created(capsys)) == 2


def test_works_in_the_shell_with_a_quoted_query(capsys: pytest.CaptureFixture[str]) -> None:
    from clore_cli._app import App
    from clore_cli._main import _host, new_app_holder
    from clore_shell._repl import _run_line

    app = App(_host(), sandbox=True, color=False)
    holder = new_app_holder(app)
    try:
        line = "rent 'gpus>=1 price<0.3' --image cloreai/ubuntu22.04-cuda12 --currency usd --yes -o json"
        assert _run_line(line, holder) == 0
        assert _run_line(line, holder) == 0  # the second run of the same shell: no "previous run"
        out = capsys.readouterr().out
    finally:
        app.close()
    rows = [json.loads(part) for part in out.replace("]\n[", "]\x00[").split("\x00")]
    assert len({row[0]["server_id"] for row in rows}) == 2
    assert all(row[0]["usd_per_hour"] < 0.3 for row in rows)


def test_the_cli_on_the_moving_market(tmp_path: Path) -> None:
    from clore_ai.sandbox import MarketMotion
    from clore_cli.testing import run_clore, sandbox_for

    rent = shlex.split(RENT.replace("gpus>=1", "'gpus>=1 price<0.5'"))
    home = tmp_path / "home"
    scene = sandbox_for(home)
    scene.configure_market(MarketMotion(seed=7))
    dry = run_clore([*rent, "--dry-run"], home=home)
    assert dry.exit_code == 0, dry.stderr
    best = dry.json()["may_try"][0]["server_id"]
    scene.take_server(best, when_ordered=True)
    result = run_clore([*rent, "--yes", "-o", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    (row,) = result.json()
    assert row["attempts"][0] == {**row["attempts"][0], "server_id": best, "outcome": "taken"}
    assert row["attempts"][-1]["outcome"] == "ordered" and row["usd_per_hour"] < 0.5
    assert f"server {best}: taken (server-already-rented); trying the next offer" in result.stderr
