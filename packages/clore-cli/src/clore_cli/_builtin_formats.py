"""The built-in output formats, registered through the same hook as plugins' formats."""

from __future__ import annotations

from typing import Any

from . import hookimpl
from .formats import CsvFormat, JsonFormat, TableFormat


@hookimpl
def clore_register_output_formats() -> Any:
    return [TableFormat, JsonFormat, CsvFormat]
