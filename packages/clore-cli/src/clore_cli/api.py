"""The public API for plugin commands.

- :func:`app_of` gives a command the session's App (``app.client()``, ``app.emit(dataset)``,
  ``app.formats``, ``app.note(text)``), the same object in ``clore`` and in ``clore shell``;
- :func:`output_options` adds ``-o/--output`` (every registered format) and ``-q/--quiet``;
- :class:`~clore_cli.formats.Dataset` / :class:`~clore_cli.formats.Column` describe what a
  command prints; :class:`~clore_cli.formats.OutputFormat` is the base class of formats;
- :func:`usd_amount`, :func:`usd_per_hour` and :func:`coin_amount` write money for people the
  way every built-in command does (a :class:`Column`'s ``fmt`` may be one of them);
- :func:`not_rentable` says why ``deploy`` cannot rent a marketplace server (GigaSPOT, or a
  currency it does not accept), or None when it can.
"""

from ._main import app_of, output_options
from ._rentable import not_rentable
from .formats import Column, Dataset, OutputFormat, coin_amount, sanitize, usd_amount, usd_per_hour

__all__ = [
    "Column",
    "Dataset",
    "OutputFormat",
    "app_of",
    "coin_amount",
    "not_rentable",
    "output_options",
    "sanitize",
    "usd_amount",
    "usd_per_hour",
]
