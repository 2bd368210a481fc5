"""The ``clore`` entry points of the installed distributions, read without importlib.metadata.

Every command line loads the plugins, and ``importlib.metadata`` costs ~12-16 ms to import
(email, zipfile, csv and more) for what, on an ordinary installation, is reading the
``entry_points.txt`` of the ``*.dist-info`` and ``*.egg-info`` folders on ``sys.path``.
That reading is all this module does, with importlib.metadata's rules: ``sys.path`` in
order, the first distribution of a name wins, the same file format and the same ``load()``.

Wherever the installation is not ordinary - a zip or an egg on ``sys.path``, or a finder on
``sys.meta_path`` that provides distributions of its own - it hands the question to
importlib.metadata, which sees all of those.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from dataclasses import dataclass
from importlib.machinery import PathFinder
from typing import Any, Iterator, List, Optional

__all__ = ["FoundEntryPoint", "entry_points"]

_METADATA_DIRS = (".dist-info", ".egg-info")
# importlib.metadata's EntryPoint.pattern: "module", "module:attr.attr", either with "[extras]".
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class FoundEntryPoint:
    """One entry point, as :class:`importlib.metadata.EntryPoint` presents it."""

    name: str
    value: str
    group: str
    path: str  # the distribution's metadata folder

    def load(self) -> Any:
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} has an unreadable value {self.value!r}")
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)

    @property
    def dist(self) -> Any:
        """The distribution (importlib.metadata, imported only when this is asked for)."""
        from importlib.metadata import Distribution

        return Distribution.at(self.path)


class _NotOrdinary(Exception):
    """Something on sys.path that only importlib.metadata reads correctly."""


def entry_points(group: str) -> List[Any]:
    """The entry points of ``group`` of every installed distribution (the first of a name wins)."""
    try:
        return list(_scan(group))
    except _NotOrdinary:
        return _from_importlib_metadata(group)


def _scan(group: str) -> Iterator[FoundEntryPoint]:
    if any(
        finder is not PathFinder and getattr(finder, "find_distributions", None) is not None
        for finder in sys.meta_path
    ):
        raise _NotOrdinary
    seen: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        if os.path.isfile(folder) or folder.lower().endswith(".egg"):
            raise _NotOrdinary  # a zip, or an unpacked egg, on sys.path
        try:
            names = os.listdir(folder)  # in the folder's order, as importlib.metadata reads it
        except OSError:
            continue
        here: set[str] = set()
        for child in names:
            low = child.lower()
            if low.endswith(".egg"):
                raise _NotOrdinary
            if not low.endswith(_METADATA_DIRS):
                continue
            distribution = _normalized_name(child)
            if distribution in here:
                raise _NotOrdinary  # two versions side by side: importlib.metadata decides
            here.add(distribution)
            if distribution in seen:
                continue
            seen.add(distribution)
            path = os.path.join(folder, child)
            text = _read(os.path.join(path, "entry_points.txt"))
            if text:
                yield from _parse(text, group, path)


def _normalized_name(folder_name: str) -> str:
    """``Foo.Bar-1.0.dist-info`` → ``foo_bar`` (importlib.metadata's unique key)."""
    stem = os.path.splitext(folder_name)[0]
    return re.sub(r"[-_.]+", "_", stem.partition("-")[0]).lower()


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _parse(text: str, group: str, path: str) -> Iterator[FoundEntryPoint]:
    """``entry_points.txt``: ``[group]`` headers, ``name = value`` lines, ``#`` comments."""
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")  # as importlib.metadata reads it: "[ clore ]" is not "clore"
            continue
        if section != group or "=" not in line:
            continue
        name, value = line.split("=", 1)
        yield FoundEntryPoint(name.strip(), value.strip(), group, path)


def _from_importlib_metadata(group: str) -> List[Any]:
    from importlib.metadata import entry_points as metadata_entry_points

    try:
        return list(metadata_entry_points(group=group))
    except TypeError:  # Python 3.9 has no selection by group
        return list(dict(metadata_entry_points()).get(group, []))  # type: ignore[call-overload,unused-ignore]
