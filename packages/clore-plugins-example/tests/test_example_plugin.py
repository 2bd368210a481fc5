"""Tests as a third party writes them: through `clore`, against the sandbox, with clore_cli.testing."""

from __future__ import annotations

from pathlib import Path

import pytest

from clore_cli.testing import run_clore


def test_cheapest_lists_one_row_per_gpu_model_sorted_by_price(tmp_path: Path) -> None:
    result = run_clore(["--sandbox", "cheapest", "-o", "json"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    models = [row["gpu"] for row in rows]
    assert len(models) == len(set(models)) > 5
    prices = [row["usd_per_hour"] for row in rows]
    assert prices == sorted(prices)
    for row in rows:
        assert row["usd_per_day"] == pytest.approx(row["usd_per_hour"] * 24)
        assert row["offers"] >= 1 and row["server_id"] > 0


def test_cheapest_filters_by_gpu_and_agrees_with_search(tmp_path: Path) -> None:
    result = run_clore(["--sandbox", "cheapest", "--gpu", "4090", "-o", "json"], home=tmp_path)
    (row,) = result.json()
    search = run_clore(
        ["--sandbox", "search", "--gpu", "4090", "--limit", "1", "-o", "json"], home=tmp_path
    ).json()
    assert row["gpu"] == "RTX 4090" and row["server_id"] == search[0]["id"]


def test_markdown_format_for_any_command(tmp_path: Path) -> None:
    result = run_clore(["--sandbox", "search", "--limit", "2", "-o", "markdown"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "**GPU marketplace**"
    assert lines[2].startswith("| ID | GPU model | GPU |") and lines[3].startswith("|---:|---|")
    assert len([line for line in lines if line.startswith("| ")]) == 3


def test_markdown_escapes_pipes_and_control_characters() -> None:
    from clore_cli.formats import Column, Dataset
    from clore_plugins_example import MarkdownFormat

    data = Dataset("t", [Column("name", "Name")], [{"name": "a|b\x1b[31m"}])
    text = MarkdownFormat().render(data, color=False)
    assert "a\\|b\\x1b[31m" in text


def test_listed_by_clore_plugins(tmp_path: Path) -> None:
    rows = run_clore(["plugins", "-o", "json"], home=tmp_path).json()
    assert {
        "name": "example",
        "distribution": "clore-plugins-example",
        "version": "0.2.0",
        "status": "loaded",
    } in rows
