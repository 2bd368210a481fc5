"""Tables drawn without rich are byte for byte what rich draws (or rich draws them)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clore_cli import _plain_table
from clore_cli.formats import Column, Dataset, TableFormat
from clore_cli.testing import run_clore

# Plain text, and everything that makes rich do more than pad: markup, emoji codes, wide and
# combining characters, tabs, newlines, surrounding spaces, long cells.
TEXT = st.text(
    alphabet=st.sampled_from([*"abcXYZ019 $.,-/%()", "[", "]", ":", "→", "…", "中", "🚀", "é", "\t", "\n"]),
    max_size=14,
)


@st.composite
def datasets(draw: Any) -> tuple[Dataset, list[Column]]:
    count = draw(st.integers(1, 6))
    columns = [
        Column(
            f"c{i}",
            draw(TEXT),
            draw(st.sampled_from(["left", "right"])),
            max_width=draw(st.one_of(st.none(), st.integers(2, 12))),
            no_wrap=draw(st.booleans()),
        )
        for i in range(count)
    ]
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {c.key: st.one_of(st.none(), TEXT, st.integers(0, 10**6)) for c in columns}
            ),
            min_size=1,
            max_size=5,
        )
    )
    title = draw(st.one_of(st.just(""), TEXT, st.text(alphabet="ab ", min_size=30, max_size=60)))
    footer = draw(st.one_of(st.none(), TEXT, st.text(alphabet="ab :[]", min_size=0, max_size=230)))
    return Dataset(title, columns, rows, footer=footer), columns


def drawn_by_rich(data: Dataset, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patched:
        patched.setattr(_plain_table, "plain_table", lambda *args: None)
        return TableFormat().render(data, color=False)


@settings(max_examples=400, deadline=None)
@given(datasets())
def test_every_table_is_what_rich_would_print(case: tuple[Dataset, list[Column]]) -> None:
    data, _ = case
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert TableFormat().render(data, color=False) == drawn_by_rich(data, monkeypatch)


SIMPLE_TEXT = st.text(alphabet="abcXYZ019 $.,-/%()→…—·×", max_size=20).map(str.strip)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(SIMPLE_TEXT, st.sampled_from(["left", "right"])), min_size=1, max_size=7),
    st.data(),
)
def test_simple_tables_are_drawn_without_rich_exactly_as_rich_draws_them(
    spec: list[tuple[str, str]], data: Any
) -> None:
    columns = [Column(f"c{i}", header, justify) for i, (header, justify) in enumerate(spec)]
    rows = data.draw(
        st.lists(
            st.fixed_dictionaries({c.key: st.one_of(SIMPLE_TEXT, st.none()) for c in columns}), min_size=1
        )
    )
    title = data.draw(SIMPLE_TEXT.filter(lambda t: len(t) < 4))  # always fits: a table is 4 wide or more
    table = Dataset(title, columns, rows, footer=data.draw(SIMPLE_TEXT))
    drawn = _plain_table.plain_table(table, columns)
    assert drawn is not None
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert drawn == drawn_by_rich(table, monkeypatch)


def test_simple_tables_are_drawn_without_rich_and_odd_ones_by_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = [Column("id", "ID", "right"), Column("gpu", "GPU"), Column("p", "$/hour", "right", "${:.4f}")]
    rows = [{"id": 1, "gpu": "RTX 4090", "p": 0.5}, {"id": 12345, "gpu": "A", "p": None}]
    simple = Dataset("Marketplace", columns, rows, footer="Showing 2 of 2 servers")
    assert _plain_table.plain_table(simple, columns) == (
        "Marketplace                   \n"
        "┏━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━┓\n"
        "┃    ID ┃ GPU      ┃  $/hour ┃\n"
        "┡━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━┩\n"
        "│     1 │ RTX 4090 │ $0.5000 │\n"
        "│ 12345 │ A        │       - │\n"
        "└───────┴──────────┴─────────┘\n"
        "Showing 2 of 2 servers"
    )
    for odd in ("GPU 中", "two\nlines", " padded", "tab\there"):
        data = Dataset("Marketplace", columns, [{**rows[0], "gpu": odd}])
        assert _plain_table.plain_table(data, columns) is None
        assert TableFormat().render(data, color=False) == drawn_by_rich(data, monkeypatch)


def test_a_piped_search_is_drawn_without_rich(tmp_path: Any) -> None:
    drawn: list[str | None] = []
    real = _plain_table.plain_table

    def watched(*args: Any) -> str | None:
        drawn.append(real(*args))
        return drawn[-1]

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(_plain_table, "plain_table", watched)
        result = run_clore(["--sandbox", "search", "--limit", "5"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert drawn and drawn[0] is not None  # the search table took the path without rich
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(_plain_table, "plain_table", lambda *args: None)
        by_rich = run_clore(["--sandbox", "search", "--limit", "5"], home=tmp_path)
    assert result.stdout == by_rich.stdout


@pytest.mark.parametrize("color", [False, True])
def test_text_from_the_api_is_shown_as_it_is_never_read_as_markup(color: bool) -> None:
    columns = [Column("name", "[/] Name"), Column("gpu", "GPU")]
    rows = [{"name": "[/x] my [bold]box[/bold] :rocket:", "gpu": "RTX [/]"}]
    drawn = TableFormat().render(Dataset("[/0] servers", columns, rows, footer="[/y] done :ok:"), color=color)
    for text in (
        "[/x] my [bold]box[/bold] :rocket:",
        "RTX [/]",
        "[/0] servers",
        "[/] Name",
        "[/y] done :ok:",
    ):
        assert text in drawn  # (rich would raise MarkupError on "[/x]", and draw 🚀 for ":rocket:")


def test_records_of_a_table_too_wide_for_the_terminal_are_set_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns each row is a block of "Key  value" lines; a blank line separates the
    blocks from each other and from the title and the footer, so records never run together."""
    monkeypatch.setenv("COLUMNS", "80")
    columns = [
        Column("currency", "Currency"),
        Column("balance", "Balance"),
        Column("deposit", "Deposit address"),
    ]
    rows = [
        {"currency": c, "balance": 1.5, "deposit": c[0] * 60} for c in ("bitcoin", "CLORE-Blockchain", "USD")
    ]
    text = TableFormat().render(Dataset("Wallet balances", columns, rows, footer="3 wallets"), color=True)
    blocks = re.sub(r"\x1b\[[0-9;]*m", "", text).split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [
        "Wallet balances",
        "  Currency         bitcoin",
        "  Currency         CLORE-Blockchain",
        "  Currency         USD",
        "3 wallets",
    ]
    assert all(len(block.splitlines()) == 3 for block in blocks[1:-1])


def test_without_color_at_a_narrow_terminal_the_table_still_fits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR / --no-color at an 80-column terminal drew the table 200 wide and the terminal
    broke every line; now it is laid out for the terminal (records when it cannot fit)."""
    import os
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a: os.terminal_size((80, 24)))
    rows = [
        {"name": f"wallet {i}", "address": "bc1q" + "e3dd2c2bd961c6bff2f29aa73354774b8779" * 2}
        for i in range(2)
    ]
    data = Dataset(
        "Wallets", [Column("name", "Currency"), Column("address", "Deposit address", no_wrap=True)], rows
    )
    drawn = TableFormat().render(data, color=False)
    assert all(len(line) <= 80 for line in drawn.splitlines()), drawn
    assert "  Currency         wallet 0\n" in drawn and "\n\n  Currency         wallet 1" in drawn
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert "┃ Currency" in TableFormat().render(data, color=False)  # piped: the whole table, as before
