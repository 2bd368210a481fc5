"""The table rich prints without colour, drawn without rich when that is certain to match.

Piped or redirected, a table is plain text: the same box characters and padding rich uses,
no styles. Importing rich (~13 ms) and laying a 20-row table out with it (~15 ms) was a
tenth of a whole ``clore search | ...``. When every cell is simple - one line of plain
characters, nothing to cut or wrap - the layout is fixed: each column as wide as its
widest cell plus one space each side, the title padded to the table's width above it, the
footer below. :func:`plain_table` draws exactly that and returns ``None`` for anything
else, which rich then draws as before (tests/cli/test_plain_table.py compares both on
generated tables, byte for byte).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .formats import Column, Dataset

__all__ = ["plain_table"]

#: Width rich gives the table when it is not drawn on a terminal (formats.TableFormat).
CONSOLE_WIDTH = 200

# One column per character, as rich measures them; anything else is left to rich. (Markup
# and emoji codes are not a concern: the table format hands rich Text, shown as it is.)
_SIMPLE = re.compile(r"[\x20-\x7e→…—–·×≈±°€£]*")


def _simple(text: str) -> bool:
    return _SIMPLE.fullmatch(text) is not None and text == text.strip()


def plain_table(data: Dataset, columns: list[Column]) -> str | None:
    """``data`` as rich would print it without colour at :data:`CONSOLE_WIDTH`, or ``None``."""
    header = [column.header for column in columns]
    rows = [[data.cell(row, column) for column in columns] for row in data.rows]
    if not all(_simple(text) for text in header) or not all(_simple(text) for row in rows for text in row):
        return None
    widths = [max(len(text) for text in cells) for cells in zip(header, *rows)]
    for column, width in zip(columns, widths):
        if column.max_width is not None and width > column.max_width:
            return None  # rich would cut the longest cells with "…"
    table_width = sum(widths) + 3 * len(widths) + 1
    if table_width > CONSOLE_WIDTH:
        return None  # rich would shrink and wrap columns
    lines = []
    if data.title:
        if not _simple(data.title) or len(data.title) > table_width:
            return None
        lines.append(data.title.ljust(table_width))
    right = [column.justify == "right" for column in columns]

    def line(left: str, fill: str, middle: str, end: str) -> str:
        return left + middle.join(fill * (width + 2) for width in widths) + end

    def cells(texts: list[str], edge: str) -> str:
        padded = (t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right))
        return edge + edge.join(f" {text} " for text in padded) + edge

    lines.append(line("┏", "━", "┳", "┓"))
    lines.append(cells(header, "┃"))
    lines.append(line("┡", "━", "╇", "┩"))
    lines.extend(cells(row, "│") for row in rows)
    lines.append(line("└", "─", "┴", "┘"))
    if data.footer:
        if not _simple(data.footer) or len(data.footer) > CONSOLE_WIDTH:
            return None
        lines.append(data.footer)
    return "\n".join(lines)
