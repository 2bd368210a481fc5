"""Output formats: commands produce a :class:`Dataset`, a format renders it.

Plugins add formats by returning :class:`OutputFormat` subclasses from the
``clore_register_output_formats`` hook.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Collection

__all__ = [
    "Column",
    "CsvFormat",
    "Dataset",
    "JsonFormat",
    "OutputFormat",
    "TableFormat",
    "DERIVED_KEYS",
    "round_derived",
    "coin_amount",
    "compact_number",
    "derived_number",
    "exact_amount",
    "human_number",
    "json_document",
    "json_line",
    "plain_number",
    "sanitize",
    "usd_amount",
    "usd_per_hour",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Neutralise C0/C1 control characters (terminal escapes) in strings from the API."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass
class Column:
    key: str
    header: str
    justify: str = "left"  # "left" or "right"
    # Numbers in human formats: a pattern ("{:.0f}") or a function (usd_per_hour, usd_amount).
    fmt: str | Callable[[float], str] | None = None
    max_width: int | None = None  # tables cut longer cells with "…"; JSON/CSV keep them whole
    no_wrap: bool = False  # tables keep the cell on one line (ids, statuses, amounts)
    in_table: bool = True  # False: only in CSV (and JSON, which has every field), not in tables
    coin_key: str | None = None  # the row's currency field: the cell reads "0.00000400 btc", "$1.25"
    derived: bool = False  # computed here, not sent by the API: JSON/CSV give it as derived_number()
    labels: dict[str, str] | None = None  # shorter words for values in tables; JSON/CSV keep the value
    optional: bool = False  # a table too wide for the terminal leaves it out (the right-most first)


@dataclass
class Dataset:
    """Rows of plain values (str, int, float, bool, None, and lists or mappings of them) with
    their columns. JSON has every field of a row; CSV and tables the columns."""

    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    id_key: str = "id"
    footer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vertical: bool = False  # one record: the table format prints "Key  value" lines, never cut

    def cell(self, row: dict[str, Any], column: Column) -> str:
        value = row.get(column.key)
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if column.labels and isinstance(value, str) and value in column.labels:
            return column.labels[value]
        if column.coin_key and isinstance(value, (int, float)):
            return coin_amount(value, row.get(column.coin_key))
        if column.fmt and isinstance(value, (int, float)):
            return column.fmt(value) if callable(column.fmt) else column.fmt.format(value)
        if isinstance(value, float):
            return human_number(value)
        if isinstance(value, dict):  # container port -> public port, coin -> price
            return ", ".join(f"{sanitize(str(k))} → {_plain(v)}" for k, v in value.items()) or "-"
        if isinstance(value, (list, tuple)):
            return ", ".join(_plain(v) for v in value) or "-"
        return sanitize(str(value))

    def exact_rows(self) -> list[dict[str, Any]]:
        """The rows as JSON and CSV give them: a number a column marks ``derived`` to 15
        significant digits (:func:`derived_number`), a field that is no column by the same rule
        as a document (:data:`DERIVED_KEYS`, :func:`round_derived`), everything else as it is."""
        derived = {c.key: c.derived for c in self.columns}

        def exact(key: str, value: Any) -> Any:
            if key in derived:
                return round_derived(value, every=True) if derived[key] else value
            return round_derived(value, every=key in DERIVED_KEYS)

        return [{key: exact(key, value) for key, value in row.items()} for row in self.rows]


def _plain(value: Any) -> str:
    """One item of a mapping or list cell, numbers for people like any other cell."""
    return human_number(value) if isinstance(value, float) else sanitize(str(value))


def human_number(value: float) -> str:
    """``4e-06`` -> ``0.000004``, ``0.045000000000000005`` -> ``0.045``: no exponent, no float
    noise; never ``0`` for what is not 0 (``1e-12`` -> ``0.000000000001``)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= 1e6:
        return f"{value:,.2f}"
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return _not_zero(text, value)


def _not_zero(text: str, value: float) -> str:
    """``text`` (``value`` to a number of decimals), or, when those decimals round a number
    that is not 0 to 0, its first 4 significant digits in plain decimals: ``0.00000000005``."""
    if value == 0:
        return text.lstrip("-") or "0"
    if text.lstrip("-").replace(",", "").strip("0.") != "":  # "0", "0.00000000" and "" read 0
        return text
    from decimal import Decimal

    return format(Decimal(f"{value:.4g}"), "f")


COIN_SHORT = {"bitcoin": "btc", "CLORE-Blockchain": "clore", "USD-Blockchain": "usd"}
COIN_TICKERS = {"bitcoin": "BTC", "CLORE-Blockchain": "CLORE", "USD-Blockchain": "USD"}


def coin_amount(value: Any, currency: str | None, *, quote: bool = False, keep_zeros: bool = False) -> str:
    """A coin amount for people, never with an exponent (``3e-05``) nor float noise.

    Tables (the default): ``0.00003117 btc``, ``1,108.85 clore``, ``$1.25`` — 8 decimals for
    btc, else 2 (6 below 1), trailing zeros dropped (kept with ``keep_zeros``: ``0.05000000 btc``,
    so an amount that changes keeps its width); ``unknown`` when not a number.
    Quotes before money moves (``quote=True``): ``0.00006615 BTC``, ``1663.3 CLORE`` — the exact
    amount to 8 decimals, no thousands separator, the ticker (USD: ``$1.25``); ``?`` when not a
    number. Either way an amount those decimals would show as 0 shows its first 4 significant
    digits (``0.00000000005 BTC``), never 0; an amount someone typed is :func:`exact_amount`'s.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "?" if quote else "unknown"
    if quote and currency == "USD-Blockchain":
        return usd_amount(value)  # USD is dollars everywhere, quotes too
    if quote:
        from decimal import Context, Decimal

        exact = Decimal(repr(float(value)))  # a context wide enough for any float: no overflow
        text = format(exact.quantize(Decimal("0.00000001"), context=Context(prec=400)).normalize(), "f")
        return f"{_not_zero(text, value)} {COIN_TICKERS.get(currency or '', currency or '')}"
    short = COIN_SHORT.get(currency or "", currency or "")
    if short == "usd":
        return usd_amount(value)
    digits = 8 if short == "btc" else 2 if abs(value) >= 1 else 6
    text = f"{value:,.{digits}f}"
    if not keep_zeros:
        text = text.rstrip("0").rstrip(".")
    return f"{_not_zero(text, value)} {short}".strip()


def exact_amount(value: Any, currency: str | None) -> str:
    """An amount someone typed (or the API sent), echoed whole: every digit it has, never an
    exponent nor rounded away (``1e-09`` -> ``0.000000001 BTC``, ``0.00006615 BTC``); USD as
    :func:`usd_amount`. For the amounts quotes echo back; computed ones are :func:`coin_amount`'s."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return coin_amount(value, currency, quote=True)
    if currency == "USD-Blockchain":
        return usd_amount(value)
    return f"{plain_number(value)} {COIN_TICKERS.get(currency or '', currency or '')}".strip()


def plain_number(value: float) -> str:
    """Every digit of ``value``'s shortest repr in plain decimals: ``1e-09`` -> ``0.000000001``,
    ``100.0`` -> ``100``, ``1663.3`` -> ``1663.3`` (what to type to give it back)."""
    from decimal import Decimal

    return format(Decimal(repr(float(value))).normalize(), "f")


def compact_number(value: float) -> str:
    """A number in at most about 6 characters, for narrow places (the shell's toolbar):
    3 significant digits below 1,000 with their zeros kept (``0.0500``, ``12.3``, ``1.50``),
    then one decimal and k, M, B or T (``999.7k``, ``1.5M``); never an exponent (``~0`` below 0.000000005)."""
    if not math.isfinite(value):
        return str(value)
    if value < 0:
        return "-" + compact_number(-value)
    if value == 0:
        return "0"
    if value < 1000:
        decimals = min(8, max(0, 2 - math.floor(math.log10(value))))
        text = f"{value:.{decimals}f}"
        if float(text) == 0:  # below 0.000000005
            return "~0"
        if float(text) < 1000:  # 999.96 rounds up to 1000: shown as 1.0k
            return text
    for suffix, unit in (("k", 1e3), ("M", 1e6), ("B", 1e9)):
        if round(value / unit, 1) < 1000:
            return f"{value / unit:.1f}{suffix}"
    return f"{value / 1e12:,.1f}T"


def usd_amount(value: Any) -> str:
    """USD for people, one rule everywhere: ``$1,417.14`` from $1 up (thousands separators,
    2 decimals); below $1 up to 4 significant digits, at least 2 decimals: ``$0.28``,
    ``$0.2834``, ``$0.045``, ``$0.000446``; ``$?`` when not a number. Prices per hour:
    :func:`usd_per_hour`."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "$?"
    sign, value = ("-" if value < 0 else ""), abs(_significant(value))
    if value >= 1 or value == 0:
        return f"{sign}${value:,.2f}"
    from decimal import Decimal

    whole, _, decimals = format(Decimal(f"{value:.4g}"), "f").partition(".")  # 1e-05: 0.00001
    return f"{sign}${whole}.{decimals.ljust(2, '0')}"


def usd_per_hour(value: Any) -> str:
    """A USD price per hour, as search's ``$/hour``: always 4 decimals (``$0.2800``,
    ``$1,417.1416``); one that would read ``$0.0000`` but is not 0 as :func:`usd_amount`."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "$?"
    if value != 0 and abs(value) < 0.00005:
        return usd_amount(value)
    value = _significant(value)
    return f"-${-value:,.4f}" if value < 0 else f"${value:,.4f}"


def _significant(value: float) -> float:
    """``value`` to 15 significant digits, what a float holds for sure: a product such as
    68022869999999.99 (1e9 BTC at a USD rate) reads 68022870000000."""
    return float(f"{value:.15g}")


def derived_number(value: Any) -> Any:
    """A number computed here rather than sent by the API (USD at a rate, per hour from per day,
    hours a balance covers), as JSON and CSV give it: 15 significant digits, which drops the
    float noise of the arithmetic (``0.27999999999999997`` -> ``0.28``) and nothing a person or
    a program could use. What the API sent is never passed through this: it stays bit-identical."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.15g}")
    return value


#: The fields that hold computed numbers in the JSON documents commands build themselves
#: (quotes, spend, guard, spot-bid and watch lines, repricing, jobs) and in the fields of a
#: Dataset's rows that are no column (a Dataset's columns say it with ``derived``): USD at a
#: rate, per hour from per day, runways, projections, readings, the clock's times. One list,
#: so that every JSON and CSV emitter (``App.emit``, ``App.emit_document``, ``App.emit_line``)
#: writes them by the same rule; a test runs every command with ``-o json`` to keep it so.
DERIVED_KEYS = frozenset(
    {
        "usd_per_hour",
        "usd_per_day",
        "spot_usd_per_hour",
        "previous_usd_per_hour",
        "bid_usd_per_hour",
        "top_bid_usd_per_hour",
        "top_other_usd_per_hour",
        "lowest_winning_usd_per_hour",
        "lowest_winning_usd_per_day",
        "new_usd_per_hour",
        "cap_usd_per_hour",
        "current_usd_per_hour",
        "current_usd_per_day",
        "new_usd_per_day",
        "current_percentile",
        "new_percentile",
        "market_median_per_day",
        "spend_usd",
        "spent_usd",
        "cost_usd",
        "burn_per_hour",
        "coin_per_hour",
        "projected",
        "projected_usd",
        "runway_hours",
        "remaining_hours",
        "shortest_runway_hours",
        "hours_covered",
        "rate",
        "rates",
        "usd_rate",
        "cap",  # spot-bid --auto: a USD cap in the order's coin
        "value",  # guard: what a limit reads (USD per hour, USD spent, hours of runway)
        "time",  # the clock: guard lines, job and sandbox times in Unix seconds
        "timestamp",
        "started_at",
        "ended_at",
        "ahead_seconds",
    }
)


def round_derived(value: Any, keys: Collection[str] = DERIVED_KEYS, *, every: bool = False) -> Any:
    """``value`` (a JSON document) with every number under one of ``keys``, at any depth, as
    :func:`derived_number` gives it; everything else as it is."""
    if isinstance(value, dict):
        return {k: round_derived(v, keys, every=every or k in keys) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_derived(item, keys, every=every) for item in value]
    return derived_number(value) if every else value


def json_document(value: Any) -> str:
    """A JSON document as commands print it (``-o json``): numbers under :data:`DERIVED_KEYS`
    to 15 significant digits, every other value exact, non-ASCII text as it is."""
    return json.dumps(round_derived(value), indent=2, ensure_ascii=False, default=str)


def json_line(value: Any) -> str:
    """One JSON object on one line, as streams print them (``watch``, ``guard``, ``spot-bid
    --auto`` with ``-o json``; ``CLORE_EVENT``): the numbers as :func:`json_document` has them."""
    return json.dumps(round_derived(value), ensure_ascii=False, default=str)


class OutputFormat:
    """Base class of output formats. ``name`` is what ``-o NAME`` selects."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def render(self, data: Dataset, *, color: bool) -> str:
        raise NotImplementedError


class JsonFormat(OutputFormat):
    name = "json"
    description = "JSON array of objects with stable field names (alone on stdout)"

    def render(self, data: Dataset, *, color: bool) -> str:
        return json.dumps(data.exact_rows(), indent=2, ensure_ascii=False, default=str)


class CsvFormat(OutputFormat):
    name = "csv"
    description = "CSV with a header row"

    def render(self, data: Dataset, *, color: bool) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.key for c in data.columns])
        for row in data.exact_rows():
            writer.writerow([_csv_value(row.get(c.key)) for c in data.columns])
        return buffer.getvalue().rstrip("\n")


def _csv_value(value: Any) -> str:
    """A cell for spreadsheets and people: floats in plain decimals with every digit their
    shortest repr has (``1e-06`` -> ``0.000001``, ``1e+16`` -> ``10000000000000000``);
    ``true``/``false`` as JSON writes them; empty for None; a list or a mapping (ports, a
    price per coin, warnings) as compact JSON text whose numbers are written the same way
    (``{"22":40811}``, ``{"bitcoin":0.00006615,"CLORE-Blockchain":1663.3}``)."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf
    if isinstance(value, (bool, int, float, dict, list, tuple)):
        return _plain_json(value)
    return sanitize(str(value))


def _plain_json(value: Any) -> str:
    """``value`` as compact JSON with every float in plain decimals (never an exponent) and
    control characters escaped; NaN and infinities as Python's json writes them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return json.dumps(value)
        from decimal import Decimal

        return format(Decimal(repr(value)), "f")
    if isinstance(value, dict):
        items = (f"{_json_string(str(k))}:{_plain_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_plain_json(item) for item in value) + "]"
    return _json_string(str(value))


def _json_string(text: str) -> str:
    """A JSON string with DEL and C1 control characters escaped too (json escapes C0 only)."""
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


class TableFormat(OutputFormat):
    name = "table"
    description = "a table for people (default)"

    def render(self, data: Dataset, *, color: bool) -> str:
        if data.vertical and data.rows:
            return _vertical(data)
        shown = [c for c in data.columns if c.in_table]
        # Plain at a terminal (NO_COLOR, --no-color) still fits the terminal's width.
        terminal = None if color else _terminal_columns()
        if not color and terminal is None and data.rows:
            from ._plain_table import plain_table

            drawn = plain_table(data, shown)
            if drawn is not None:  # exactly what rich would print, without rich
                return drawn
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Text, not str: what the API sent is shown as it is, never read as rich markup
        # ("[/x]" would end the command with a MarkupError) nor as emoji codes.
        table = Table(
            title=Text(data.title) if data.title else None,
            title_justify="left",
            header_style="bold" if color else "",
        )
        for column in shown:
            table.add_column(
                Text(column.header),
                justify="right" if column.justify == "right" else "left",
                max_width=column.max_width,
                overflow="ellipsis" if column.max_width else "fold",
                no_wrap=bool(column.max_width) or column.no_wrap,
            )
        for row in data.rows:
            table.add_row(*(Text(data.cell(row, c)) for c in shown), style=None)
        width = None if color else terminal or 200
        console = Console(force_terminal=color, no_color=not color, width=width, highlight=False)
        left_out = (
            _fit_by_leaving_out(data, shown, console.width) if (color or terminal) and data.rows else []
        )
        if left_out:  # the table again, without them
            return TableFormat().render(_without(data, left_out), color=color)
        narrow = (color or terminal) and data.rows and _too_wide(data, shown, console.width)
        with console.capture() as capture:
            if narrow:
                console.print(Text(_records(data, shown)))
            elif data.rows:
                console.print(table)
            else:
                console.print(Text(f"{data.title}: nothing to show"))
            if data.footer:
                if narrow:  # set apart from the last record, as the title is from the first
                    console.print()
                console.print(Text(data.footer))
        return capture.get().rstrip("\n")


def _terminal_columns() -> int | None:
    """The width of the terminal standard output is, or None when it is not one."""
    import shutil
    import sys

    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):  # replaced or closed
        return None
    return shutil.get_terminal_size().columns


def _fit_by_leaving_out(data: Dataset, shown: list[Column], width: int) -> list[Column]:
    """The optional columns to leave out, right-most first, until the table fits ``width``;
    none when it fits already or cannot fit even without them (then it becomes records)."""
    if not _too_wide(data, shown, width):
        return []
    kept, left_out = list(shown), []
    for column in reversed(shown):
        if column.optional:
            kept.remove(column)
            left_out.append(column)
            if not _too_wide(data, kept, width):
                return left_out
    return []


def _without(data: Dataset, left_out: list[Column]) -> Dataset:
    names = ", ".join(column.header for column in reversed(left_out))
    note = f"{names} left out at this width: widen the terminal or use -o json"
    return replace(
        data,
        columns=[column for column in data.columns if column not in left_out],
        footer=f"{data.footer}; {note}" if data.footer else note,
    )


def _too_wide(data: Dataset, columns: list[Column], width: int) -> bool:
    """The table cannot fit ``width`` without cutting words (or one-line cells) into pieces."""
    from rich.cells import cell_len

    def narrowest(column: Column) -> int:
        cells = [data.cell(row, column) for row in data.rows]
        if column.no_wrap or column.max_width:
            need = max(cell_len(cell) for cell in cells)
            need = min(need, column.max_width) if column.max_width else need
        else:
            need = max((cell_len(word) for cell in cells for word in cell.split()), default=1)
        return max(need, *(cell_len(word) for word in column.header.split()))

    return sum(narrowest(c) + 3 for c in columns) + 1 > width


def _records(data: Dataset, columns: list[Column]) -> str:
    """Rows as blocks of "Key  value" lines, for a terminal too narrow for the table."""
    width = max(len(c.header) for c in columns)
    blocks = [sanitize(data.title)] if data.title else []
    for row in data.rows:
        blocks.append("\n".join(f"  {c.header.ljust(width)}  {data.cell(row, c)}" for c in columns))
    return "\n\n".join(blocks)


def _vertical(data: Dataset) -> str:
    """One record as "Key  value" lines: long values (an ssh command, a host) are never cut;
    the columns only CSV has (``in_table=False``: a coin the cells already name) are left out."""
    columns = [c for c in data.columns if c.in_table]
    width = max(len(c.header) for c in columns)
    blocks = []
    for row in data.rows:
        lines = [sanitize(data.title)] if data.title else []
        lines += [f"  {c.header.ljust(width)}  {data.cell(row, c)}" for c in columns]
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    return text + (f"\n{sanitize(data.footer)}" if data.footer else "")
