"""Issue 14: a renter's first session on the sandbox — what search shows can be rented, money
moves only with consent, nothing is lost on a timeout, records and amounts read well."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clore_cli._main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def marketplace(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "--sandbox", "search", "--all", "--limit", "100000", "-o", "json")
    assert code == 0
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def my_order_ids(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return run(capsys, "--sandbox", "orders", "-q")[1].split()


def test_search_shows_only_what_deploy_can_rent(capsys: pytest.CaptureFixture[str]) -> None:
    everything = marketplace(capsys)
    giga = [r for r in everything if r["gigaspot"] and not r["rented"]]
    assert giga and all(not r["rentable"] and r["not_rentable_because"] == "on GigaSPOT" for r in giga)
    code, out, _ = run(capsys, "--sandbox", "search", "--limit", "100000", "-o", "json")
    shown = json.loads(out)
    assert code == 0 and shown and all(r["rentable"] and not r["gigaspot"] for r in shown)
    # the README's command: the footer says what was left out and why
    code, out, _ = run(capsys, "--sandbox", "search", "--limit", "100000")
    assert code == 0 and f"{len(giga)} on GigaSPOT hidden: deploy cannot rent them" in " ".join(out.split())


def test_search_all_marks_rented_servers_and_deploy_refuses_one_before_asking(
    capsys: pytest.CaptureFixture[str],
) -> None:
    everything = marketplace(capsys)
    rented = [r for r in everything if r["rented"] and not r["gigaspot"]]
    assert rented and all(not r["rentable"] and r["availability"] == "rented" for r in rented)
    assert all(r["not_rentable_because"].startswith("rented on-demand now") for r in rented)
    free = [r for r in everything if not r["rented"] and not r["gigaspot"]]
    assert free and all(r["rentable"] and r["availability"] == "free" for r in free)
    code, out, _ = run(capsys, "--sandbox", "search", "--all", "--sort", "id", "--limit", "100000")
    assert code == 0 and "Free" in out.splitlines()[2] and " rented " in out  # the table says which
    taken = rented[0]["id"]
    deploy = ["--sandbox", "deploy", str(taken), "--image", "ubuntu", "--type", "on-demand", "--yes"]
    deploy += ["--currency", rented[0]["coins"].split()[0]]
    code, _, err = run(capsys, *deploy)
    assert code == 2 and f"server {taken} is rented on-demand right now" in err and "--type spot" in err


def test_search_currency_keeps_servers_that_accept_it(capsys: pytest.CaptureFixture[str]) -> None:
    everything = marketplace(capsys)
    # a server may show a USD price without accepting USD: allowed_coins decides
    refusing = [r for r in everything if "USD-Blockchain" not in r["currencies"] and not r["gigaspot"]]
    assert refusing
    code, out, _ = run(capsys, "--sandbox", "search", "--currency", "usd", "--limit", "100000", "-o", "json")
    rows = json.loads(out)
    assert code == 0 and rows
    assert all("USD-Blockchain" in r["currencies"] and "usd" in r["coins"].split() for r in rows)
    assert not {r["id"] for r in refusing} & {r["id"] for r in rows}


def test_search_json_keeps_the_whole_cpu_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert any(len(r["cpu"] or "") > 30 for r in marketplace(capsys))


def test_deploy_refuses_gigaspot_and_other_currencies_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    everything = marketplace(capsys)
    giga = next(r for r in everything if r["gigaspot"])
    btc_only = next(r for r in everything if r["currencies"] == ["bitcoin"] and not r["gigaspot"])
    before = my_order_ids(capsys)
    deploy = "--sandbox deploy {} --image cloreai/pytorch --type on-demand --currency {} --yes"
    code, out, err = run(capsys, *shlex.split(deploy.format(giga["id"], "btc")))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"server {giga['id']} is on GigaSPOT and cannot be rented with deploy" in err
    code, out, err = run(capsys, *shlex.split(deploy.format(btc_only["id"], "usd")))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"server {btc_only['id']} does not accept usd; it takes btc (use --currency btc)" in err
    assert my_order_ids(capsys) == before  # nothing was created


def test_dry_run_shows_coin_amounts_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, *shlex.split("--sandbox deploy 123 --image x/y --type on-demand --currency btc --dry-run")
    )
    assert code == 0 and "?" not in err and "e-0" not in err
    assert (
        " BTC/day = " in err and " BTC/hour = $" in err and "Wallet: 0.05 BTC" in err
    )  # the tickers, as every quote


def test_cancel_needs_yes_without_a_terminal_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sandbox", "cancel", "38")
    assert code == 2 and out == "" and "--yes" in err and "data" in err
    assert "38" in my_order_ids(capsys)


def test_cancel_asks_on_a_terminal_showing_the_spend_and_the_data_loss() -> None:
    pexpect = pytest.importorskip("pexpect")
    args = shlex.split("-m clore_cli --sandbox cancel 38")
    child = pexpect.spawn(sys.executable, args, env=dict(os.environ), encoding="utf-8", timeout=20)
    child.expect(r"spent so far [0-9.]+ (BTC|CLORE)\.")
    child.expect("deletes the container with all its data")
    child.expect(r"Cancel order 38\? \[y/N\]")
    child.sendline("n")
    child.expect("not cancelled: nothing was sent")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    child = pexpect.spawn(sys.executable, args, env=dict(os.environ), encoding="utf-8", timeout=20)
    child.expect(r"Cancel order 38\? \[y/N\]")
    child.sendline("y")
    child.expect("Order 38 cancelled")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.mark.parametrize("quiet", [False, True])
def test_a_wait_that_times_out_keeps_the_order_id_and_exits_8(quiet: bool) -> None:
    env = {**os.environ, "CLORE_SANDBOX_DEPLOY_SECONDS": "600"}
    args = "-m clore_cli --sandbox deploy 123 --image x/y --type on-demand --currency btc --yes --wait"
    result = subprocess.run(
        [sys.executable, *shlex.split(args), "--timeout", "1", *(["-q"] if quiet else [])],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 8, result.stderr
    order_id = result.stdout.split()[0] if quiet else result.stdout.split()[1]
    assert order_id.isdigit()
    if quiet:
        assert result.stdout == f"{order_id}\n"
    else:
        assert result.stdout == f"Order {order_id} created; waiting for its container to start\n"
    assert re.search(
        rf"error: order {order_id} is still \w+ after 1 s; it exists and is billing: keep waiting with "
        rf"`clore ssh {order_id} --print`, or stop it with `clore cancel {order_id}`",
        result.stderr,
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_cheapest_and_completion_leave_out_gigaspot(capsys: pytest.CaptureFixture[str]) -> None:
    from clore_ai.sandbox import Sandbox
    from clore_plugins_example import cheapest_per_gpu

    giga_ids = {r["id"] for r in marketplace(capsys) if r["gigaspot"]}
    code, out, _ = run(capsys, "--sandbox", "cheapest", "-o", "json")
    assert code == 0 and not giga_ids & {r["server_id"] for r in json.loads(out)}
    assert callable(cheapest_per_gpu) and Sandbox  # the plugin uses the public not_rentable
    from clore_cli._cache import recall

    run(capsys, "--sandbox", "search", "--all", "--limit", "100000")
    assert not giga_ids & {int(value) for value, _ in recall("servers")}


def test_one_order_is_a_vertical_record_that_never_cuts_the_ssh_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "--sandbox", "order", "38", "-o", "json")
    (order,) = json.loads(out)
    assert code == 0 and order["tcp_ports"] == {"22": order["ssh_port"]}
    code, out, _ = run(capsys, "--sandbox", "order", "38")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "Order 38"
    assert f"  SSH            {order['ssh']}" in lines
    assert f"  Ports          22 → {order['ssh_port']}" in lines
    assert f"  Image          {order['image']}" in lines and f"  Host           {order['host']}" in lines
    assert "{" not in out and "e-0" not in out


def test_orders_show_uptime_and_spend_with_their_coin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--sandbox", "orders", "-o", "json")
    rows = json.loads(out)
    assert code == 0 and rows
    for row in rows:
        assert isinstance(row["spend"], float) and row["uptime_seconds"] > 0 and "usd_per_hour" in row
    code, out, _ = run(capsys, "--sandbox", "orders")
    assert code == 0 and "Uptime" in out and "Spent" in out and " btc " in out and "e-0" not in out


def test_numbers_in_tables_are_for_people_and_exact_in_json() -> None:
    from clore_cli.formats import Column, Dataset, JsonFormat, TableFormat, human_number

    assert human_number(4e-06) == "0.000004" and human_number(0.045000000000000005) == "0.045"
    data = Dataset(
        "t", [Column("a", "A"), Column("p", "P", coin_key="c")], [{"a": 4e-06, "p": 3e-05, "c": "bitcoin"}]
    )
    table = TableFormat().render(data, color=False)
    assert "0.000004" in table and "0.00003 btc" in table and "e-0" not in table
    assert json.loads(JsonFormat().render(data, color=False)) == [{"a": 4e-06, "p": 3e-05, "c": "bitcoin"}]


def search_ids(capsys: pytest.CaptureFixture[str], *args: str) -> list[int]:
    code, out, err = run(capsys, "--sandbox", "search", *args, "--limit", "100000", "-o", "json")
    assert code == 0, err
    return [r["id"] for r in json.loads(out)]


def test_query_language_takes_spaces_double_equals_lists_and_percentages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = search_ids(capsys, "gpu=4090 gpus>=1 reliability>0.9")
    assert plain
    assert search_ids(capsys, "gpu = 4090 gpus >= 1 reliability > 0.9") == plain
    assert search_ids(capsys, "gpu==4090", "gpus>=1", "reliability>90%") == plain
    both = set(search_ids(capsys, "gpu=4090,3090"))
    assert both == set(search_ids(capsys, "gpu=4090")) | set(search_ids(capsys, "gpu=3090"))
    assert set(search_ids(capsys, "gpu in 4090, 3090")) == both
    assert not both & set(search_ids(capsys, "gpu!=4090,3090"))
    code, out, err = run(capsys, "--sandbox", "search", "gpu>4090")
    assert code == 2 and out == "" and err.count("\n") == 1 and "use = or !=" in err


def test_an_empty_result_says_what_was_searched_and_which_term_excluded_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--sandbox", "search", "gpu=4090 price<0.0001 gpus>=1", "-o", "json")
    assert code == 0 and json.loads(out) == []
    assert re.fullmatch(
        r"no server matches: searched \d+ available servers; `price<0.0001` excluded the \d+ left\n", err
    )


def test_every_sort_key_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    from clore_ai.query import SORT_KEYS
    from clore_cli.commands.market import SORT_KEY_NAMES

    assert set(SORT_KEY_NAMES) == set(SORT_KEYS)
    code, out, _ = run(capsys, "search", "--help")
    flat = " ".join(out.split())
    assert code == 0 and all(key in flat for key in SORT_KEYS)


def test_the_docs_example_searches_find_servers_in_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    examples = re.findall(r"^clore search .*$", page, flags=re.MULTILINE)
    assert len(examples) >= 3
    for line in examples:
        args = shlex.split(line)[1:]
        code, out, err = run(capsys, "--sandbox", *args, "-o", "json")
        assert code == 0 and json.loads(out), (line, err)


def test_every_code_6_string_is_a_sentence_with_the_next_step() -> None:
    from clore_ai import FieldError
    from clore_cli._api_errors import CODE6, explain

    catalogue = (Path(__file__).parents[2] / "docs" / "reference" / "clore-api.md").read_text(
        encoding="utf-8"
    )
    section = catalogue.split("Code-6 error catalogue", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `([a-z0-9_-]+)` \|", section, flags=re.MULTILINE))
    documented.discard("error")  # the header row
    assert len(documented) >= 20 and documented <= set(CODE6)
    for name in documented:
        sentence = explain(FieldError(code=6, response={"code": 6, "error": name}), lambda: ["rig-1"])
        assert sentence and sentence.endswith(f"(API: {name})") and "{" not in sentence
        next_step = r"clore |see|pick|try|--|bid|lower|give|shorten|wallet|your servers"
        assert re.search(next_step, sentence), name
    waited = explain(
        FieldError(
            code=6, response={"code": 6, "error": "can_lower_every_600_seconds", "time_to_lowering": 412}
        )
    )
    assert waited and "try again in 412 s" in waited
    too_low = explain(
        FieldError(code=6, response={"code": 6, "error": "too_low_price", "min_price": 3.82e-06})
    )
    stepped = explain(
        FieldError(code=6, response={"code": 6, "error": "exceeded_max_step", "max_step": 1.2e-06})
    )
    assert too_low and "(0.00000382 per day)" in too_low
    assert stepped and "at most 0.0000012 per day" in stepped


def test_api_refusals_speak_in_cli_terms(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbox", "spot-price", "39", "0.0000000001", "--yes")
    assert code == 2 and "below the minimum spot price of server 6: 0.0000025 BTC/day now" in err
    code, _, err = run(capsys, "--sandbox", "spot-price", "38", "1", "--yes")
    assert code == 1 and "order 38 is an on-demand order; only spot orders have a bid" in err
    code, _, err = run(capsys, "--sandbox", "server-config", "nosuch")
    assert code == 1 and "you have no server with that name; your servers: MyGPU" in err
    deploy = "--sandbox deploy 123 --image x/y --currency btc --yes --type"
    code, _, err = run(capsys, *shlex.split(deploy), "on-demand", "--spot-price", "1")
    assert code == 2 and "--spot-price is only for spot orders; drop it or use --type spot" in err
    code, _, err = run(capsys, *shlex.split(deploy), "spot")
    assert code == 2 and "--spot-price is required for spot orders" in err and "spot_price" not in err


def test_exit_codes_follow_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "--sandbox", "spot", "99999")
    assert code == 1 and out == "" and "server 99999 does not exist" in err
    monkeypatch.delenv("CLORE_API_KEY", raising=False)
    code, _, err = run(capsys, "auth", "status")
    assert code == 4 and "auth login" in err


def test_the_readme_search_fits_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_cli.formats import TableFormat

    real = TableFormat.render
    monkeypatch.setattr(TableFormat, "render", lambda self, data, color: real(self, data, color=False))
    code, out, _ = run(capsys, "--sandbox", "search", "--gpu", "4090", "--limit", "5")
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert code == 0 and len(table) == 4 + 5 and max(len(line) for line in table) <= 80
    assert "RTX 4090" in out and "$" in out


def test_server_config_is_a_vertical_record_with_numbers_for_people(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "--sandbox", "server-config", "MyGPU")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Server MyGPU" and all(line.startswith("  ") for line in lines[1:])
    pricing = next(line for line in lines if "pricing per day" in line and "spot" not in line)
    assert "bitcoin → 0.0000" in pricing and not re.search(r"\de-\d", out)
    code, out, _ = run(capsys, "--sandbox", "server-config", "MyGPU", "-o", "json")
    assert code == 0 and isinstance(json.loads(out)[0]["pricing_per_day"]["bitcoin"], float)


def test_orders_show_usd_per_hour_for_every_coin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_cli import _consent

    calls: list[bool] = []
    real = _consent.implied_usd_rates

    def counted(servers: Any) -> dict[str, float]:
        calls.append(True)
        return real(servers)

    monkeypatch.setattr(_consent, "implied_usd_rates", counted)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(capsys, "--sandbox", "orders", "-o", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["currency"] for r in rows} - {"USD-Blockchain"}
    assert len(calls) == 1  # the rates are fetched once per command
    coins = {r["currency"]: r["usd_per_hour"] * 24 / r["price_per_day"] for r in rows}
    assert coins.get("USD-Blockchain", 1.0) == pytest.approx(1.0)
    for row in rows:  # exact raw values stay, USD per hour is added at one rate per coin
        assert row["usd_per_hour"] == pytest.approx(row["price_per_day"] * coins[row["currency"]] / 24)
        assert row["usd_per_hour"] > 0
    code, out, _ = run(capsys, "--sandbox", "orders")
    assert code == 0 and all(line.count("$") == 1 for line in out.splitlines() if " running " in line)
    assert max(len(line) for line in out.splitlines()[:-1]) <= 80


def test_orders_of_usd_only_fetch_no_rates_and_unknown_rates_show_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_cli.commands import orders as orders_module

    class Order:
        currency, price = "bitcoin", 0.0001

    class App:
        quiet = False

        def client(self) -> Any:
            raise AssertionError("no rates needed")

    usd = Order()
    usd.currency = "USD-Blockchain"
    assert orders_module.usd_rates_for(App(), [usd]) == {"USD-Blockchain": 1.0}
    with pytest.raises(AssertionError):
        orders_module.usd_rates_for(App(), [usd, Order()])
    from clore_cli.formats import Dataset, TableFormat

    row = {"id": 1, "server_id": 2, "type": "spot", "status": "running", "usd_per_hour": None}
    table = TableFormat().render(Dataset("t", orders_module.ORDER_COLUMNS, [row]), color=False)
    assert "│       - │" in table or " - " in table


def test_the_new_order_record_shows_usd_per_hour_as_the_quote_priced_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deploy = ["--sandbox", "deploy", "123", "--image", "ubuntu", "--type", "on-demand", "--currency", "btc"]
    code, out, _ = run(capsys, *deploy, "--dry-run")
    quoted = json.loads(out[out.index("{") :])["quote"]["usd_per_hour"]
    code, out, _ = run(capsys, *deploy, "--yes", "-o", "json")
    assert code == 0
    record = json.loads(out)[0]
    assert record["currency"] == "bitcoin" and record["usd_per_hour"] is not None
    assert abs(record["usd_per_hour"] - quoted) < 1e-12


def test_cancel_dry_run_shows_what_it_stops_in_coin_and_usd_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--sandbox", "cancel", "39", "--dry-run")
    assert code == 0 and out == ""
    assert re.search(r"It costs 0\.000004 BTC/day, 0\.00000017 BTC/h \(\$[0-9.]+/day, \$[0-9.]+/h\)", err), (
        err
    )
    assert "dry run: nothing was sent" in err
    assert "39" in my_order_ids(capsys)  # still running


def test_mistakes_a_new_user_makes_get_a_line_that_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a fresh user's session: each of these printed click's or the API's words before."""
    code, _, err = run(capsys, "--sandbox", "cancel", "-1", "--yes")  # was "No such option '-1'"
    assert code == 2 and err.startswith(
        "error: -1 is not accepted here: ids, prices and amounts must be positive"
    )
    code, _, err = run(capsys, "--sandbox", "spot-price", "39", "-0.1")  # was "No such option '-0'"
    assert code == 2 and "error: -0.1 is not accepted here" in err
    code, _, err = run(capsys, "orders", "--sandbox")
    assert code == 2 and "--sandbox is an option of clore itself: put it before the command" in err
    code, _, err = run(capsys, "--sandbox", "orders", "--profile", "work", "-o", "json")
    assert code == 2 and "(clore --sandbox --profile work orders -o json)" in err  # its value moves too
    code, _, err = run(capsys, "host", "occupancy", "--sandbox")  # a command of a group
    assert code == 2 and "(clore --sandbox host occupancy)" in err
    code, _, err = run(capsys, "--sandbox", "orders", "--sandbox")
    assert code == 2 and "(clore --sandbox orders)" in err  # given twice: the line without the second
    code, _, err = run(capsys, "--sandbox", "spot-price", "39", "1e21", "--dry-run")  # was a crash
    assert code == 2 and "'1e21' must be at most 1000000000" in err and "unexpected" not in err
    code, _, err = run(capsys, "orders", "--bogus")
    assert code == 2 and "No such option" in err and "--bogus" in err  # a real typo stays click's message
    code, _, err = run(capsys, "config", "get", "foo")  # was "! foo not set", exit 0
    assert code == 2 and err == "error: 'foo' is not a setting clore reads (settings: api_key)\n"
    code, _, err = run(capsys, "--profile", "nosuch", "auth", "status")
    assert code == 4 and "run `clore --profile nosuch auth login`" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("invalid-key-9876\n"))
    code, _, err = run(capsys, "--sandbox", "auth", "login", "--with-key")  # was "check CLORE_API_KEY"
    assert code == 4 and "the API rejected the key ****9876; nothing was stored" in err
    assert "CLORE_API_KEY" not in err
    code, _, err = run(capsys, "--sandbox", "search", "--gpu", "H100000", "--min-ram", "64.5")
    assert code == 0 and "no available server matches --gpu H100000 --min-ram 64.5" in err
    assert "searched 0" not in err  # the SDK filtered them: they were searched, not absent
    deploy = (
        "--sandbox deploy 3812 --image ubuntu --type on-demand --currency btc --required-price 0.0001 --yes"
    )
    code, _, err = run(capsys, *shlex.split(deploy))  # was "API error: price_changed (current_price=…)"
    assert code == 2 and "server 3812 costs 0.000101 BTC/day now, not your --required-price 0.0001" in err
    assert "nothing was sent" in err  # the quote already knew: refused before create_order
    from clore_ai import FieldError
    from clore_cli._api_errors import explain

    moved = {"code": 6, "error": "price_changed", "current_price": 0.000101}  # it moved meanwhile
    sentence = explain(FieldError(code=6, response=moved))
    assert sentence and "no longer your --required-price (it is 0.000101 per day now)" in sentence
    assert "nothing was rented" in sentence and sentence.endswith("(API: price_changed)")


def test_a_quote_at_an_80_column_terminal_is_wrapped_between_words() -> None:
    pexpect = pytest.importorskip("pexpect")
    args = shlex.split("-m clore_cli --sandbox cancel 39")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    child = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=20, dimensions=(50, 80))
    child.expect(r"Cancel order 39\? \[y/N\]")
    shown = child.before.replace("\r\n", "\n")
    child.sendline("n")
    child.expect(pexpect.EOF)
    lines = shown.strip("\n").splitlines()
    assert len(lines) > 2 and all(len(line) <= 80 for line in lines), lines
    words = " ".join(lines).split()
    assert "costs" in words and "BTC." in words, lines  # "It costs", never "It c" / "osts"
    assert " ".join(lines).startswith(
        "Order 39: spot on server 6, outbid (not running nor billed), spent so far 0 BTC. It costs"
    )


def at_80_columns(command: str) -> tuple[int, str]:
    """``clore --sandbox COMMAND`` on an 80-column terminal: (exit code, what it showed)."""
    pexpect = pytest.importorskip("pexpect")
    args = ["-m", "clore_cli", "--sandbox", *shlex.split(command)]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    child = pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=20, dimensions=(50, 80))
    child.expect(pexpect.EOF)
    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", child.before).replace("\r\n", "\n")
    return child.wait(), shown


def test_an_error_at_an_80_column_terminal_is_wrapped_between_words() -> None:
    # server 5738 is rented on-demand (the sandbox's order 38): refused before asking, one long line
    code, shown = at_80_columns("deploy 5738 --image ubuntu --type on-demand --currency usd")
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and len(lines) > 1, lines
    assert all(len(line) <= 80 for line in lines) and all(line.startswith("       ") for line in lines[1:])
    assert code == 2
    words = " ".join(line.strip() for line in lines).split()
    assert words[:4] == ["error:", "server", "5738", "is"] and "(server-already-rented);" in words, lines
    assert words[-2:] == ["--type", "spot"]  # every word whole: wrapped between words


def test_search_all_stays_a_table_at_80_columns_leaving_out_what_it_must() -> None:
    code, text = at_80_columns("search --all --limit 5 --sort gpu")
    lines = text.strip("\n").splitlines()
    assert code == 0
    assert all(len(line) <= 80 for line in lines), lines
    assert "┃ Free ┃" in text and "Rel" not in text.split("Showing")[0], text  # a table, without Rel
    footer = " ".join(text.split("Showing", 1)[1].split())
    assert "Rel left out at this width: widen the terminal or use -o json" in footer, footer
    assert "Free: no = rented on-demand" in footer and "GS = on GigaSPOT" in footer


def test_a_quote_that_is_not_on_a_terminal_is_printed_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbox", "cancel", "39", "--dry-run")
    first = err.splitlines()[0]
    assert (
        code == 0 and len(first) > 80 and first.endswith("/h) while it wins.")
    )  # one line: a pipe wraps nothing


def test_key_errors_name_what_to_run_for_the_profile_in_use(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer

    code, _, err = run(capsys, "--profile", "work", "wallets")
    assert code == 2 and "clore --profile work auth login" in err  # an unknown profile
    with SandboxServer(Sandbox(rate_limits=RateLimits.off())) as server:
        monkeypatch.setenv("CLORE_API_URL", server.url)
        monkeypatch.setenv("CLORE_API_KEY", "invalid-key-4321")  # the sandbox refuses it: code 3
        code, _, err = run(capsys, "wallets")
    assert code == 4 and err.strip() == (
        "error: the API rejected the key of profile default: run `clore auth login` with a key from "
        "clore.ai (Account → API)"
    )
    assert "4321" not in err
