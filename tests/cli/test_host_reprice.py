"""`clore host reprice` and `clore host occupancy` on the sandbox, as a user runs them.

Reprice shows current → new in the coin and in USD per hour and per day with the percentile
each sits at, sends nothing on --dry-run, asks once, needs --yes without a terminal, and
what it sends is what `server-config` shows afterwards.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

import clore_ai.sandbox
from clore_ai import CloreAI
from clore_ai.repricing import propose
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport
from clore_cli._main import main

from .test_cli import state_file

SERVERS = 120  # a smaller marketplace than the default 300: quicker, and still >5 RTX 3090s


@pytest.fixture(autouse=True)
def small_marketplace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLORE_SANDBOX_SERVERS", str(SERVERS))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--sandbox", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoints every `clore --sandbox` run of the test sends, in order."""
    endpoints: list[str] = []

    class Recording(Sandbox):
        def handle(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            endpoints.append(path.rstrip("/").rsplit("/", 1)[-1])
            return super().handle(method, path, *args, **kwargs)

    monkeypatch.setattr(clore_ai.sandbox, "Sandbox", Recording)
    return endpoints


def config(capsys: pytest.CaptureFixture[str], name: str = "MyGPU") -> dict[str, Any]:
    code, out, _ = run(capsys, "host", "config", name, "-o", "json")
    assert code == 0
    return json.loads(out)[0]  # type: ignore[no-any-return]


def expected(name: str, currency: str, kind: str, target: float) -> Any:
    """The proposal the SDK makes on a fresh sandbox account of the same marketplace."""
    client = CloreAI(
        api_key="other-account",
        transport=SandboxTransport(Sandbox(servers=SERVERS, rate_limits=RateLimits.off())),
    )
    mine = client.my_servers()
    proposals = propose(
        [client.server_config(name)],
        client.marketplace(available_only=False),
        percentile=target,
        exclude_ids={s.id for s in mine if s.id},
    )
    return next(p for p in proposals if p.currency == currency and p.kind == kind)


def terminal(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    stdin = io.StringIO(answer)
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)


def test_dry_run_shows_current_to_new_and_sends_no_settings(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    code, out, err = run(capsys, "host", "reprice", "MyGPU", "--percentile", "25", "--dry-run")
    assert code == 0, err
    want = expected("MyGPU", "bitcoin", "on_demand", 25)
    assert want.new_per_day is not None and want.comparables >= 5
    line = next(x for x in err.splitlines() if x.startswith("  on-demand price (bitcoin): "))
    assert "0.00006615 BTC/day, 0.00000276 BTC/h ($4.50/day, $0.1875/h) → " in line
    assert f"→ {want.new_per_day:.8f}".rstrip("0") in line and " BTC/h ($" in line and "/h)" in line
    assert f"p{want.current_percentile:.0f} → p25 of {want.comparables} offers" in line
    assert "Repricing" in out and "e-0" not in out + err
    assert "dry run: nothing was sent" in err
    assert "set_server_settings" not in sent and {"my_servers", "marketplace", "server_config"} <= set(sent)
    assert config(capsys)["pricing_per_day"]["bitcoin"] == 0.00006615


def test_json_has_exact_values_and_the_requests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "host", "reprice", "MyGPU", "--percentile", "40", "--kind", "spot", "--currency", "btc",
        "--dry-run", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    (row,) = document["proposals"]
    want = expected("MyGPU", "bitcoin", "spot", 40)
    assert row["new_per_day"] == want.new_per_day and row["current_per_day"] == 0.00003307
    assert row["comparables"] == want.comparables and row["kind"] == "spot" and row["currency"] == "bitcoin"
    assert row["new_usd_per_hour"] == pytest.approx(row["new_usd_per_day"] / 24)
    (request,) = document["requests"]
    assert request["endpoint"] == "set_server_settings"
    body = request["body"]
    assert body["bitcoin_spot"] == want.new_per_day
    # Unchanged prices and settings are sent as they are.
    assert body["bitcoin_on_demand"] == 0.00006615 and body["CLORE-Blockchain_spot"] == 831.6
    assert body["mrl"] == 72 and body["availability"] is True


def test_without_a_terminal_it_needs_yes_and_reads_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "host", "reprice", "--percentile", "25")
    assert code == 2 and out == ""
    assert (
        "refusing to change your servers' prices without a terminal to confirm on; add --yes (or --dry-run)"
        in err
    )
    assert not state_file().exists()


def test_asks_once_and_no_sends_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sent: list[str]
) -> None:
    terminal(monkeypatch, "n\n")
    code, _, err = run(capsys, "host", "reprice", "--percentile", "25")
    assert code == 1 and err.count("Change the prices of 2 servers? [y/N]") == 1
    assert "cancelled: nothing was sent" in err and "set_server_settings" not in sent


def test_yes_applies_and_server_config_shows_the_new_prices(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    want = expected("MyGPU", "CLORE-Blockchain", "on_demand", 60)
    code, out, err = run(
        capsys, "host", "reprice", "MyGPU", "--percentile", "60", "--kind", "on-demand", "--yes", "-o", "json"
    )
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result == {**result, "server": "MyGPU", "updated": True, "error": None}
    assert sent.count("set_server_settings") == 1
    shown = config(capsys)
    assert shown["pricing_per_day"]["CLORE-Blockchain"] == want.new_per_day
    assert shown["min_spot_pricing_per_day"] == {"bitcoin": 0.00003307, "CLORE-Blockchain": 831.6}
    # Run again: every price is where the market puts it.
    code, out, err = run(
        capsys, "host", "reprice", "MyGPU", "--percentile", "60", "--kind", "on-demand", "--yes"
    )
    assert code == 0 and "nothing to change" in err and sent.count("set_server_settings") == 1


def test_floor_and_ceiling_hold_the_price_and_say_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "host", "reprice", "MyGPU", "--percentile", "0", "--floor", "0.25/h", "--kind", "on-demand",
        "--currency", "usd", "--currency", "btc", "--dry-run", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    rows = {r["currency"]: r for r in json.loads(out)["proposals"]}
    assert rows["bitcoin"]["clamped"] == "floor" and rows["bitcoin"]["new_usd_per_day"] >= 6.0
    assert rows["USD-Blockchain"]["skipped"] == "MyGPU does not accept this currency"
    assert "held at the floor" in err and "warning: the on-demand price (bitcoin)" not in err
    code, _, err = run(
        capsys, "host", "reprice", "--percentile", "50", "--floor", "1/h", "--ceiling", "0.5/h"
    )
    assert code == 2 and "--floor is above --ceiling" in err


def test_a_big_move_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "host", "reprice", "MyGPU", "--percentile", "50", "--floor", "20/day", "--kind", "on-demand",
        "--currency", "btc", "--dry-run",
    )  # fmt: skip
    assert (
        code == 0 and "warning: the on-demand price (bitcoin) becomes more than 3× the current price" in err
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["Nope", "--percentile", "25"],
            "you have no server named Nope; your servers: MyGPU, Michael, rig-2025",
        ),
        (["--percentile", "101"], "'101' must be at most 100"),
        (["--percentile", "25", "--currency", "eur"], "eur"),
        ([], "Missing option '--percentile'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], sent: list[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "host", "reprice", *args, "--dry-run")
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert "set_server_settings" not in sent


def test_occupancy_says_rented_until_and_that_since_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "host", "occupancy")
    assert code == 0, err
    assert "1 of 3 servers rented; since: unknown (the API does not say when a rental started)" in out
    assert "2030-01-01 00:00 UTC" in out and "0.00006615 btc/day" in out and "e-0" not in out
    code, out, _ = run(capsys, "host", "occupancy", "-o", "json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["rig-2025"]["rented"] is True and rows["rig-2025"]["rented_source"] == "my_servers"
    assert rows["rig-2025"]["rented_until"] == "2030-01-01T00:00:00+00:00"
    assert rows["MyGPU"]["rented"] is False and rows["MyGPU"]["rented_source"] == "marketplace"
    assert rows["Michael"]["rented"] is None and rows["MyGPU"]["since"] is None
    assert rows["MyGPU"]["on_demand_per_day"] == {"bitcoin": 0.00006615, "CLORE-Blockchain": 1663.3}
    code, out, _ = run(capsys, "host", "occupancy", "-o", "csv")
    header, first = out.splitlines()[:2]
    record = dict(zip(header.split(","), first.split(",")))
    assert record["on_demand_per_day_clore"] == "1663.3" and record["on_demand_usd_per_hour"] == "0.1875"


def test_host_aliases_answer_like_the_flat_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "host", "servers", "-o", "json")[1] == run(capsys, "servers", "-o", "json")[1]
    assert config(capsys) == json.loads(run(capsys, "server-config", "MyGPU", "-o", "json")[1])[0]
    code, _, err = run(capsys, "host", "settings", "MyGPU", "--mrl", "96", "--dry-run")
    assert code == 0 and "max rental hours: 72 → 96" in err


def test_a_refused_server_is_reported_and_the_others_are_still_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai.sandbox._api import _Answer

    class Refusing(Sandbox):
        def _set_server_settings(self, account: Any, args: Any, now: float) -> Any:
            if args.get("name") == "MyGPU":
                raise _Answer(6, "invalid_input")
            return super()._set_server_settings(account, args, now)

    monkeypatch.setattr(clore_ai.sandbox, "Sandbox", Refusing)
    before = config(capsys)["pricing_per_day"]
    code, out, err = run(capsys, "host", "reprice", "--percentile", "50", "--kind", "on-demand", "--yes")
    assert code == 1
    assert "MyGPU: not updated: the API refused a setting as invalid" in err and "(API: invalid_input)" in err
    assert "Prices of rig-2025 updated" in out
    assert config(capsys)["pricing_per_day"] == before
    assert config(capsys, "rig-2025")["pricing_per_day"] != {"bitcoin": 0.0001323, "CLORE-Blockchain": 3326.6}


def test_in_the_shell_piped() -> None:
    import os
    import subprocess

    script = (
        "host occupancy -o json\n"
        "host reprice MyGPU --percentile 25 --kind spot --dry-run\n"
        "host reprice --percentile 25\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "clore_cli", "--sandbox", "shell"],
        input=script,
        capture_output=True,
        text=True,
        env={**os.environ, "CLORE_SANDBOX_SERVERS": str(SERVERS)},
        timeout=120,
    )
    assert '"rented_source": "my_servers"' in result.stdout and "Repricing" in result.stdout
    assert "dry run: nothing was sent" in result.stderr
    # Piped, there is no terminal to confirm on: the last line is refused, nothing sent.
    assert "add --yes (or --dry-run)" in result.stderr and result.returncode == 2
