"""Numbers in tables are for people (no exponent, no float noise, coins named, USD with $ and
thousands separators); JSON and CSV keep them exact."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from clore_cli.formats import (
    Column,
    CsvFormat,
    Dataset,
    JsonFormat,
    coin_amount,
    derived_number,
    round_derived,
    usd_amount,
    usd_per_hour,
)
from clore_cli.testing import run_clore

EXPONENT = re.compile(r"\d[eE][-+]?\d")


def table_columns(text: str) -> dict[str, list[str]]:
    """Header -> cells of a table drawn with box characters."""
    lines = [line for line in text.splitlines() if line.startswith(("┃", "│"))]
    heads = [cell.strip() for cell in lines[0].strip("┃").split("┃")]
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines[1:]]
    return {head: [row[i] for row in rows] for i, head in enumerate(heads)}


@pytest.mark.parametrize(
    ("coin", "cell"),
    [
        ("btc", re.compile(r"0\.\d{1,8} btc")),
        ("clore", re.compile(r"\d{1,3}(,\d{3})*(\.\d{1,2})? clore")),
        ("usd", re.compile(r"\$\d{1,3}(,\d{3})*\.\d\d")),
    ],
)
def test_search_prices_in_a_coin_read_like_coin_amounts(
    tmp_path: Path, coin: str, cell: re.Pattern[str]
) -> None:
    result = run_clore(["--sandbox", "search", "--gpu", "4090", "--currency", coin], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    *_, (header, cells) = table_columns(result.stdout).items()  # the last column: the coin's
    assert cells and all(cell.fullmatch(text) for text in cells), cells
    assert header == "Price/day" and not EXPONENT.search(result.stdout)


def test_search_json_and_csv_keep_the_price_in_a_coin_exact(tmp_path: Path) -> None:
    args = ["--sandbox", "search", "--gpu", "4090", "--currency", "btc"]
    rows = run_clore([*args, "-o", "json"], home=tmp_path).json()
    exact = {row["id"]: row["price_per_day_bitcoin"] for row in rows}
    assert 9.85e-05 in exact.values() and 9.879e-05 in exact.values()
    table = list(csv.DictReader(io.StringIO(run_clore([*args, "-o", "csv"], home=tmp_path).stdout)))
    assert {int(row["id"]): float(row["price_per_day_bitcoin"]) for row in table} == exact


def test_wallets_show_balances_as_spend_does(tmp_path: Path) -> None:
    wallets = run_clore(["--sandbox", "wallets"], home=tmp_path)
    spend = run_clore(["--sandbox", "spend"], home=tmp_path)
    assert wallets.exit_code == 0 and spend.exit_code == 0, wallets.stderr + spend.stderr
    columns = table_columns(wallets.stdout)
    shown = dict(zip(columns["Currency"], columns["Balance"]))
    assert shown["bitcoin"] == "0.05 btc" and shown["USD-Blockchain"] == "$250.00"
    assert re.fullmatch(r"999,7\d\d\.\d\d clore", shown["CLORE-Blockchain"]), shown  # the orders burn
    columns = table_columns(spend.stdout)
    spent = dict(zip(columns["Wallet"], columns["Balance"]))
    assert shown["bitcoin"] == spent["bitcoin"] and shown["USD-Blockchain"] == spent["USD-Blockchain"]
    json_rows = run_clore(["--sandbox", "wallets", "-o", "json"], home=tmp_path).json()
    assert {row["currency"]: row["balance"] for row in json_rows}["USD-Blockchain"] == 250.0
    csv_text = run_clore(["--sandbox", "wallets", "-o", "csv"], home=tmp_path).stdout
    csv_rows = csv.DictReader(io.StringIO(csv_text))
    assert {row["currency"]: row["balance"] for row in csv_rows}["USD-Blockchain"] == "250.0"


def test_orders_csv_names_each_order_s_coin_and_price(tmp_path: Path) -> None:
    csv_text = run_clore(["--sandbox", "orders", "-o", "csv"], home=tmp_path).stdout
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    exact = {row["id"]: row for row in run_clore(["--sandbox", "orders", "-o", "json"], home=tmp_path).json()}
    assert [(row["id"], row["currency"]) for row in rows] == [("38", "CLORE-Blockchain"), ("39", "bitcoin")]
    for row in rows:
        assert float(row["price_per_day"]) == exact[int(row["id"])]["price_per_day"]
    table = run_clore(["--sandbox", "orders"], home=tmp_path).stdout
    assert "CLORE-Blockchain" not in table and "Price" not in table  # the table is full: CSV/JSON only


def test_csv_never_writes_an_exponent_and_keeps_every_digit(tmp_path: Path) -> None:
    csv_text = run_clore(["--sandbox", "orders", "-o", "csv"], home=tmp_path).stdout
    exact = {row["id"]: row for row in run_clore(["--sandbox", "orders", "-o", "json"], home=tmp_path).json()}
    assert not EXPONENT.search(csv_text), csv_text
    for row in csv.DictReader(io.StringIO(csv_text)):
        for key in ("price_per_day", "usd_per_hour"):  # (spend grows between the two runs)
            assert Decimal(row[key]) == Decimal(repr(exact[int(row["id"])][key])), (key, row)
    assert "0.000004" in csv_text  # order 39's bid, 4e-06 per day


def test_csv_numbers_in_plain_decimals() -> None:
    columns = [Column(key, key) for key in "abcdefg"]
    rows = [{"a": 1e-06, "b": 1e16, "c": 0.1 + 0.2, "d": 12, "e": float("nan"), "f": True, "g": None}]
    assert CsvFormat().render(Dataset("t", columns, rows), color=False).splitlines()[1] == (
        "0.000001,10000000000000000,0.30000000000000004,12,nan,true,"
    )


@pytest.mark.parametrize(
    ("value", "amount", "per_hour"),
    [
        (0, "$0.00", "$0.0000"),
        (0.28, "$0.28", "$0.2800"),
        (0.045000000000000005, "$0.045", "$0.0450"),
        (0.0425, "$0.0425", "$0.0425"),
        (0.000446, "$0.000446", "$0.0004"),
        (1e-05, "$0.00001", "$0.00001"),  # never "$0.0000" for what is not 0
        (6.72, "$6.72", "$6.7200"),
        (1417.1416, "$1,417.14", "$1,417.1416"),
        (68019.8, "$68,019.80", "$68,019.8000"),
        # 1e9 BTC at $68,022.87: the product's float noise (…999.99) is never shown
        (68022869999999.99, "$68,022,870,000,000.00", "$68,022,870,000,000.0000"),
        (None, "$?", "$?"),
    ],
)
def test_one_rule_for_usd(value: float | None, amount: str, per_hour: str) -> None:
    assert (usd_amount(value), usd_per_hour(value), coin_amount(value, "USD-Blockchain")) == (
        amount,
        per_hour,
        "unknown" if value is None else amount,
    )


USD = re.compile(r"\$(\d[\d,]*\.?\d*)(/h(?:our)?\b)?")
COMMANDS = [
    "search --limit 5",
    "orders",
    "order 38",
    "order 39",
    "spend",
    "gigaspot --limit 5",
    "spot-bid 39",
    "spot-bid --server 1130",
    "host occupancy",
    "cancel 38 --dry-run",
    "cancel 39 --dry-run",
    "deploy 1130 --image x/y --type on-demand --currency btc --dry-run",
    "deploy 1130 --image x/y --type spot --spot-price 2 --currency btc --dry-run",
    "deploy 1130 --image x/y --type on-demand --currency usd --dry-run",
    "rent gpu=4090 --image x/y --currency clore --dry-run",
    "spot-price 39 0.5 --dry-run",
]


def test_every_command_shows_usd_by_the_same_rule(tmp_path: Path) -> None:
    """$1 and up: thousands separators, 2 decimals; per hour: 4 decimals; coins named one way
    per line (BTC in quotes, btc in tables)."""
    seen = []
    for command in COMMANDS:
        result = run_clore(["--sandbox", *command.split()], home=tmp_path)
        assert result.exit_code == 0, (command, result.stderr)
        for line in (result.stdout + result.stderr).splitlines():
            if line.lstrip().startswith(("{", "[", '"')):
                continue  # JSON: exact numbers
            for number, hourly in USD.findall(line):
                seen.append(number)
                whole, _, decimals = number.partition(".")
                assert whole == f"{int(whole.replace(',', '')):,}", (command, line)
                if hourly:
                    assert len(decimals) == 4, (command, line)
                elif whole != "0":
                    assert len(decimals) == 2, (command, line)
            assert not (re.search(r"\bBTC\b", line) and re.search(r"\bbtc\b", line)), (command, line)
    assert any("," in number for number in seen)  # the big spot bid: $136,…


def significant_digits(number: str) -> int:
    digits = number.lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    return len(digits)


JSON_COMMANDS = [
    "search --all --limit 300",
    "search --currency clore",
    "orders",
    "order 39",
    "spend",
    "spot 6",
    "spot-bid 39",
    "gigaspot",
    "host occupancy",
    "host reprice --percentile 50 --dry-run",
    "deploy 1130 --image x/y --type on-demand --currency btc --dry-run",
    "deploy 1130 --image x/y --type spot --spot-price 0.0001 --currency btc --dry-run",
    "rent gpu=4090 --image x/y --currency btc --dry-run",
]


def test_json_has_no_float_noise_from_arithmetic(tmp_path: Path) -> None:
    """Computed numbers (USD per hour from per day, hours a balance covers, USD rates) are
    written to 15 significant digits: 0.28, not 0.27999999999999997."""
    for command in JSON_COMMANDS:
        result = run_clore(["--sandbox", *command.split(), "-o", "json"], home=tmp_path)
        assert result.exit_code == 0, (command, result.stderr)
        noisy = [
            n for n in re.findall(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", result.stdout) if significant_digits(n) > 15
        ]
        assert not noisy, (command, noisy[:3])
    rows = run_clore(["--sandbox", "search", "--gpu", "4090", "-o", "json"], home=tmp_path).json()
    assert next(row for row in rows if row["id"] == 1130)["usd_per_hour"] == 0.28  # 6.72/day ÷ 24
    csv_text = run_clore(["--sandbox", "search", "--gpu", "4090", "-o", "csv"], home=tmp_path).stdout
    assert ",0.28," in csv_text and "0.27999999999999997" not in csv_text


def test_only_derived_numbers_are_rounded_what_the_api_sent_stays_bit_identical() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004
    columns = [Column("wire", "Wire"), Column("computed", "Computed", derived=True)]
    data = Dataset("t", columns, [{"wire": noisy, "computed": noisy, "other": noisy}])
    assert json.loads(JsonFormat().render(data, color=False)) == [
        {"wire": noisy, "computed": 0.3, "other": noisy}
    ]
    assert CsvFormat().render(data, color=False).splitlines()[1] == "0.30000000000000004,0.3"
    for exact in (0.00009879, 6.72, 999712.75328913, 1e-08, 0.1234567890123):  # up to 15 digits: kept
        assert derived_number(exact) == exact
    assert derived_number(12146.73549954449) == 12146.7354995445
    assert round_derived({"quote": {"hours_covered": noisy, "price_per_day": noisy}}) == {
        "quote": {"hours_covered": 0.3, "price_per_day": noisy}
    }


def test_dust_is_never_shown_as_zero_even_with_fixed_decimals() -> None:
    from clore_cli.formats import coin_amount

    assert coin_amount(1e-9, "bitcoin", keep_zeros=True) == "0.000000001 btc"  # the toolbar's form
    assert coin_amount(0.0, "bitcoin", keep_zeros=True) == "0.00000000 btc"
    assert coin_amount(-0.0, "bitcoin") == "0 btc"
