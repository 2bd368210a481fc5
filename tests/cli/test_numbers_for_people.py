"""Numbers in tables are for people (no exponent, no float noise, coins named, USD with $ and
thousands separators); JSON and CSV keep them exact."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from clore_cli.formats import Column, CsvFormat, Dataset
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
    assert shown["bitcoin"] == "0.049999 btc" and shown["USD-Blockchain"] == "$250.00"
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
        "0.000001,10000000000000000,0.30000000000000004,12,nan,True,"
    )
