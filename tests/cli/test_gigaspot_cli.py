"""`clore gigaspot` lists the GigaSPOT servers; `clore gigaspot-order` bids with the deploy
consent rules: the price in the coin and in USD per hour and per day, a question, --yes
without a terminal, --dry-run."""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any

import pytest

from clore_cli._main import main

from .test_cli import state_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--sandbox", *args])
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "gigaspot", "--limit", "1000", "-o", "json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def usd_server(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return next(r for r in listed(capsys) if r["currency"] == "USD-Blockchain")


def test_the_list_shows_only_gigaspot_servers_with_named_coins_and_usd(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = listed(capsys)
    assert rows and all(r["usd_per_day"] is None or r["usd_per_day"] > 0 for r in rows)
    code, out, _ = run(capsys, "gigaspot", "--limit", "3")
    assert code == 0 and "Servers on GigaSPOT" in out and "$" in out
    assert "e-0" not in out and f"{len(rows)} servers on GigaSPOT, 3 shown" in out


def test_create_needs_yes_without_a_terminal_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "gigaspot-order", "create", "2849", "--price", "1", "--currency", "usd")
    assert code == 2 and "refusing to spend money without a terminal to confirm on; add --yes" in err
    assert not state_file().exists()


def test_dry_run_shows_the_price_and_the_body(capsys: pytest.CaptureFixture[str]) -> None:
    server = usd_server(capsys)
    price = round(server["min_bid_per_day"] * 1.2, 2)
    code, out, err = run(
        capsys, "gigaspot-order", "create", str(server["id"]), "--price", str(price), "--currency", "usd",
        "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert f"Bid: ${price:.2f}/day, $" in err and "/h" in err  # a USD bid: in dollars only
    assert "dry run: nothing was sent" in err
    body = json.loads(out)["request"]["body"]
    assert body == [
        {
            "currency": "USD-Blockchain",
            "image": "a3f9c4d7e5b088d8a0bff880",
            "renting_server": server["id"],
            "price": price,
            "oc": [{"pl": 300}],
        }
    ]
    code, out, _ = run(capsys, "orders", "-o", "json")
    assert [o["id"] for o in json.loads(out)] == [38, 39]


def test_asks_then_bids_then_edits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = usd_server(capsys)
    price = round(server["min_bid_per_day"] * 1.2, 2)
    stdin = io.StringIO("n\n")
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    args = ["gigaspot-order", "create", str(server["id"]), "--price", str(price), "--currency", "usd"]
    code, _, err = run(capsys, *args)
    assert code == 1 and "Send this GigaSPOT order? [y/N]" in err and "cancelled: nothing was sent" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    sys.stdin.isatty = lambda: True  # type: ignore[method-assign]
    code, out, err = run(capsys, *args)
    assert code == 0 and f"GigaSPOT bid on server {server['id']} placed: order " in err, err
    code, out, err = run(capsys, *args, "--yes")
    assert code == 1 and "could not be rented" in err and "nothing bills" in err  # one per server
    code, out, _ = run(capsys, "orders", "-o", "json")
    order = next(o for o in json.loads(out) if o["id"] not in (38, 39))
    code, out, err = run(
        capsys, "gigaspot-order", "edit", str(order["id"]), "--price", str(price * 2), "--yes"
    )
    assert code == 0 and f"GigaSPOT order {order['id']} now bids" in out, err
    assert "→" in err


def test_refusals_are_one_line_exit_2_and_send_nothing(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    """A bid known to be below the minimum was only warned about, then sent (exit 1, "bid too
    low"); a server not on GigaSPOT or not taking the coin exited 1 although nothing was sent."""
    server = usd_server(capsys)
    low = server["min_bid_per_day"] / 2
    code, out, _ = run(capsys, "search", "--all", "--limit", "1000", "-o", "json")
    picky = next(r for r in json.loads(out) if r["gigaspot"] and "btc" not in r["coins"].split())
    takes = picky["coins"]
    create = ["gigaspot-order", "create"]
    for args, says in (
        ([*create, "123", "--price", "1", "--currency", "usd", "--yes"], "server 123 is not on GigaSPOT"),
        (
            [*create, str(picky["id"]), "--price", "1", "--currency", "btc", "--yes"],
            f"server {picky['id']} does not accept btc; it takes {takes} "
            f"(use --currency {takes.split()[0]}); nothing was sent",
        ),
        (
            [*create, str(server["id"]), "--price", str(low), "--currency", "usd", "--yes"],
            f"--price {low:g} is below the minimum GigaSPOT bid of server {server['id']}: "
            f"${server['min_bid_per_day']:.2f}/day, $",
        ),
        ([*create, str(server["id"]), "--price", str(low), "--currency", "usd", "--dry-run"], "bid at least"),
    ):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == "" and err.count("\n") == 1 and says in err, (args, err)
    assert f"bid at least {server['min_bid_per_day']:g} (nothing was sent)" in err
    code, _, err = run(
        capsys, *create, str(server["id"]), "--price", str(low), "--currency", "usd", "-o", "json"
    )
    assert code == 2 and json.loads(err)["exit_code"] == 2  # refused before asking: no --yes needed
    code, _, err = run(capsys, "gigaspot-order", "edit", "38", "--price", "1", "--yes")
    assert code == 2 and err.strip() == (
        "error: order 38 is not a GigaSPOT order (server 5738 is not on GigaSPOT); nothing was sent "
        "(see: clore cancel 38)"
    )
    code, _, err = run(capsys, "gigaspot-order", "edit", "39", "--price", "0.9", "--yes")
    assert code == 2 and "order 39 is not a GigaSPOT order" in err and "see: clore spot-price 39 PRICE" in err
    assert "create_gigaspot_orders" not in sent and "edit_gigaspot_orders" not in sent


def test_a_coin_whose_minimum_is_above_the_cap_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    """Server 666 takes CLORE bids from 9585.95/day, above the 5000/day GigaSPOT cap: the quote
    said "Minimum bid: not set", sent the bid, and blamed "its minimum rose"."""
    code, out, err = run(
        capsys, "gigaspot-order", "create", "666", "--price", "100", "--currency", "clore", "--yes"
    )
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "server 666 takes GigaSPOT bids in clore from 9585.95 clore/day" in err
    assert "no clore bid can be placed; bid with --currency btc or usd; nothing was sent" in err
    assert "create_gigaspot_orders" not in sent


def test_a_placed_bid_keeps_its_warnings_in_json_and_prints_csv(capsys: pytest.CaptureFixture[str]) -> None:
    [row] = [r for r in listed(capsys) if r["id"] == 2849]
    price = str(row["min_bid_per_day"] * 100)
    args = ["gigaspot-order", "create", "2849", "--price", price, "--currency", "usd", "--yes"]
    code, out, err = run(capsys, *args, "-o", "json")
    assert code == 0, err
    [record] = json.loads(out)
    assert record["warnings"] == ["the bid is 100× the server's minimum bid"], record
    assert "warning: the bid is 100× the server's minimum bid" in err
    code, out, err = run(
        capsys,
        "gigaspot-order",
        "create",
        "5776",
        "--price",
        "700",
        "--currency",
        "clore",
        "--yes",
        "-o",
        "csv",
    )
    assert code == 0 and out.splitlines()[0].startswith("id,server_id,type,"), (out, err)


def test_a_bid_prints_its_new_order_and_the_quote_shows_the_wallet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bid said `placed (see: clore orders)`, even with -q, and its quote had no wallet."""
    servers = [r for r in listed(capsys) if r["currency"] == "USD-Blockchain"][:3]

    def args(row: dict[str, Any]) -> list[str]:
        price = str(row["min_bid_per_day"])
        return ["gigaspot-order", "create", str(row["id"]), "--price", price, "--currency", "usd", "--yes"]

    code, out, err = run(capsys, *args(servers[0]), "-q")
    assert code == 0, err
    order_id = int(out)  # only the id on stdout
    assert "Wallet: $250.00 (covers about " in err and " hours)" in err
    assert f"placed: order {order_id} (stop it with `clore cancel {order_id}`)" in err
    code, out, err = run(capsys, *args(servers[1]), "-o", "json")
    assert code == 0, err
    [record] = json.loads(out)
    assert (
        record["server_id"] == servers[1]["id"] and record["price_per_day"] == servers[1]["min_bid_per_day"]
    )
    assert record["currency"] == "USD-Blockchain" and record["type"] == "spot"
    assert record["warnings"] == []  # a bid at the minimum: nothing to warn about
    code, out, err = run(capsys, *args(servers[2]))
    assert code == 0 and "New GigaSPOT order" in out, err
    code, listed_orders, _ = run(capsys, "orders", "-o", "json")
    mine = {o["server_id"]: o["id"] for o in json.loads(listed_orders)}
    assert mine[servers[0]["id"]] == order_id and mine[servers[1]["id"]] == record["id"]
    assert re.search(rf"^  Order +{mine[servers[2]['id']]}$", out, flags=re.M), out


def test_an_edit_below_the_minimum_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str], sent: list[str]
) -> None:
    server = usd_server(capsys)
    code, out, err = run(
        capsys, "gigaspot-order", "create", str(server["id"]), "--price", str(server["min_bid_per_day"]),
        "--currency", "usd", "--yes", "-q",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "gigaspot-order", "edit", out.strip(), "--price", "0.0001", "--yes")
    assert code == 2 and "--price 0.0001 is below the minimum GigaSPOT bid of server" in err, err
    assert "edit_gigaspot_orders" not in sent


def test_the_minimum_bid_shown_is_one_that_can_be_sent(capsys: pytest.CaptureFixture[str]) -> None:
    """Every GigaSPOT price must be at least 0.0001 per day: a server minimum below it (in BTC)
    is shown raised to it, and a bid below it is refused in the CLI's words, before anything."""
    rows = listed(capsys)
    assert rows and all(r["min_bid_per_day"] >= 0.0001 for r in rows if r["min_bid_per_day"] is not None)
    code, _, err = run(
        capsys, "gigaspot-order", "create", "5776", "--price", "0.00003", "--currency", "btc", "--dry-run"
    )
    assert code == 2 and err.startswith(
        "error: --price must be at least 0.0001 and at most 5000, got 0.00003 "
    )
    assert "orders[0]" not in err and "e-05" not in err
