"""The plugin manager: built-ins first, then the ``clore`` entry points; broken plugins are skipped."""

from __future__ import annotations

import os
import sys
from typing import Any

import pluggy

from . import hookspecs

BUILTIN_MODULES = (
    "clore_cli.commands.market",
    "clore_cli.commands.orders",
    "clore_cli.commands.spending",
    "clore_cli.commands.remote",
    "clore_cli.commands.rent",
    "clore_cli.commands.account",
    "clore_cli.commands.host",
    "clore_cli.commands.gigaspot",
    "clore_cli.commands.jobs",
    "clore_cli.commands.meta",
    "clore_cli.commands.watch",
    "clore_cli.commands.spotbid",
    "clore_cli._builtin_formats",
)


class PluginHost:
    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("clore")
        self.pm.add_hookspecs(hookspecs)
        self.broken: list[tuple[str, str]] = []  # (plugin, reason)
        self.entries: dict[str, Any] = {}  # plugin name -> the entry point it was loaded from
        self.unloaded: dict[str, Any] = {}  # plugin name -> entry point: disabled, or failed to load
        self.disabled: list[str] = []  # names in CLORE_DISABLE_PLUGINS
        import importlib

        for name in BUILTIN_MODULES:
            self.pm.register(importlib.import_module(name), name=name)
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        from ._entry_points import entry_points

        found = entry_points("clore")
        disabled = {n.strip() for n in os.environ.get("CLORE_DISABLE_PLUGINS", "").split(",") if n.strip()}
        self.disabled = sorted(disabled)
        for entry in found:
            if entry.name in disabled:
                self.unloaded[entry.name] = entry
                continue
            if self.pm.get_plugin(entry.name) is not None:
                continue
            try:
                plugin = entry.load()
                self.pm.register(plugin, name=entry.name)
                self.entries[entry.name] = entry
                self.pm.check_pending()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not break clore
                self._forget(entry.name)
                self.unloaded[entry.name] = entry
                self.broken.append((entry.name, f"{type(error).__name__}: {error}"))

    def _forget(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def register_commands(self, cli: Any) -> None:
        for impl in self.pm.hook.clore_register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as error:  # noqa: BLE001
                self.broken.append((impl.plugin_name, f"{type(error).__name__}: {error}"))

    def output_formats(self) -> dict[str, Any]:
        formats: dict[str, Any] = {}
        for impl in self.pm.hook.clore_register_output_formats.get_hookimpls():
            try:
                classes: Any = impl.function() or []
            except Exception as error:  # noqa: BLE001
                self.broken.append((impl.plugin_name, f"{type(error).__name__}: {error}"))
                continue
            for cls in classes:
                name = getattr(cls, "name", "")
                if not name or name in formats:
                    self.broken.append((impl.plugin_name, f"output format {name!r} is unnamed or taken"))
                    continue
                formats[name] = cls
        return formats

    def distributions(self) -> list[tuple[str, str, str]]:
        """(plugin name, distribution, version) of every registered plugin."""
        from ._version import __version__

        result = []
        for name, _ in self.pm.list_name_plugin():
            entry = self.entries.get(name)
            source = _distribution_of(entry) if entry is not None else None
            result.append((name, *(source or ("clore-cli (built-in)", __version__))))
        return result

    def not_loaded(self) -> list[tuple[str, str | None, str | None, str]]:
        """(plugin, distribution, version, status) of the plugins that are not running:
        failed to load or register, or switched off with CLORE_DISABLE_PLUGINS."""
        rows: list[tuple[str, str | None, str | None, str]] = []
        for name, why in self.broken:
            entry = self.unloaded.get(name)
            source = _distribution_of(entry) if entry is not None else None
            rows.append((name, *(source or (None, None)), f"skipped: {why}"))
        for name in self.disabled:
            entry = self.unloaded.get(name)
            if entry is None:
                rows.append((name, None, None, "CLORE_DISABLE_PLUGINS names it, but no plugin has this name"))
            else:
                rows.append(
                    (name, *(_distribution_of(entry) or (None, None)), "disabled (CLORE_DISABLE_PLUGINS)")
                )
        return rows

    def warn_broken(self) -> None:
        for name, reason in self.broken:
            print(f"warning: plugin {name} was skipped: {reason}", file=sys.stderr)


def _distribution_of(entry: Any) -> tuple[str, str] | None:
    """(name, version) of the distribution that declares ``entry``, if it can be found."""
    dist = getattr(entry, "dist", None)
    if dist is None:  # Python 3.9: entry points do not know their distribution
        from importlib.metadata import distributions

        wanted = ("clore", getattr(entry, "name", None), getattr(entry, "value", None))
        dist = next(
            (
                candidate
                for candidate in distributions()
                if any((ep.group, ep.name, ep.value) == wanted for ep in candidate.entry_points)
            ),
            None,
        )
    return (dist.metadata["Name"], dist.version) if dist is not None else None
