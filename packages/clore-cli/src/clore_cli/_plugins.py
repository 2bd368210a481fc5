"""The plugin manager: built-ins first, then the ``clore`` entry points; broken plugins are skipped.

Every plugin's hooks run at start-up into a staging area of its own (an empty click group,
a list of formats). Only when all of a plugin's hooks succeed is what it staged committed:
a plugin whose hook raises leaves nothing behind and is reported as skipped. A command or
format name that a built-in or an earlier plugin already holds is refused (the holder keeps
it); the rest of that plugin is loaded. Both are said once, on stderr, at load time.
"""

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

#: Who holds a name that was there before any hook ran (commands of the root group itself).
_ROOT = "clore"


class PluginHost:
    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("clore")
        self.pm.add_hookspecs(hookspecs)
        self.broken: list[tuple[str, str]] = []  # (plugin, reason): failed to load, or a hook raised
        self.refused: dict[str, list[str]] = {}  # plugin -> "command 'x' (taken by ...)", in order
        self.entries: dict[str, Any] = {}  # plugin name -> the entry point it was loaded from
        self.unloaded: dict[str, Any] = {}  # plugin name -> entry point: disabled, or failed to load
        self.disabled: list[str] = []  # names in CLORE_DISABLE_PLUGINS
        self.format_owners: dict[str, str] = {}  # format name -> the plugin that registered it
        self._formats: dict[str, Any] | None = None  # set once the hooks have run
        self._warnings: list[str] = []  # what warn_broken() prints, in load order
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
                self._skip(entry.name, f"{type(error).__name__}: {error}")

    def _forget(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.unloaded[name] = entry

    def _skip(self, name: str, reason: str) -> None:
        self.broken.append((name, reason))
        self._warnings.append(f"plugin {name} was skipped: {reason}")

    def _refuse(self, name: str, what: str, holder: str | None, kind: str) -> None:
        """``what`` of plugin ``name`` is not added: ``holder`` has its name (None: it has none)."""
        if holder is None:
            short, long = "no name", "it has no name"
        else:
            by = f"a built-in {kind}" if holder == _ROOT or holder in BUILTIN_MODULES else f"plugin {holder}"
            short, long = f"taken by {by}", f"the name is taken by {by}"
        self.refused.setdefault(name, []).append(f"{what} ({short})")
        self._warnings.append(f"plugin {name}: {what} was refused: {long}")

    def register_commands(self, cli: Any) -> None:
        """Run every plugin's hooks (once) and add the commands that were accepted to ``cli``."""
        self._run_hooks(cli)

    def output_formats(self) -> dict[str, Any]:
        """The accepted output formats, by name (the hooks run now if they have not yet)."""
        if self._formats is None:
            self._run_hooks(None)
        assert self._formats is not None
        return dict(self._formats)

    def _run_hooks(self, cli: Any) -> None:
        if self._formats is not None:
            return
        self._formats = {}
        existing: dict[str, Any] = dict(cli.commands) if cli is not None else {}
        command_owners: dict[str, str] = {}
        accepted: dict[str, Any] = {}
        # Registration order, not pluggy's call order (tryfirst/trylast): the built-ins always win.
        for name, plugin in list(self.pm.list_name_plugin()):
            staged = self._stage(name, plugin, {**existing, **accepted})
            if staged is None:
                continue
            commands, formats = staged
            for command_name, command in commands.items():
                holder = command_owners.get(command_name)
                if holder is None and existing.get(command_name, command) is not command:
                    holder = _ROOT
                if holder is not None:
                    self._refuse(name, f"command {command_name!r}", holder, "command")
                    continue
                command_owners[command_name] = name
                accepted[command_name] = command
            for cls in formats:
                format_name = getattr(cls, "name", "")
                if not format_name:
                    self._refuse(name, f"output format {cls.__name__}", None, "format")
                    continue
                holder = self.format_owners.get(format_name)
                if holder is not None:
                    self._refuse(name, f"output format {format_name!r}", holder, "format")
                    continue
                self.format_owners[format_name] = name
                self._formats[format_name] = cls
        if cli is not None:
            for command_name, command in accepted.items():
                cli.add_command(command, command_name)

    def _stage(
        self, name: str, plugin: Any, visible: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]] | None:
        """What ``plugin``'s hooks register, or None (and the plugin is gone) when one raised.

        The staging group holds the commands accepted so far (``visible``), so a plugin can
        add a subcommand to a built-in group (``cli.commands["host"].add_command(...)``); what
        it returns is only the names it added or replaced at the top.
        """
        import click

        from .formats import OutputFormat

        staging = click.Group(name="clore", commands=dict(visible))
        formats: list[Any] = []
        failures: list[str] = []
        for hook_name in ("clore_register_commands", "clore_register_output_formats"):
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    if impl.hookwrapper or getattr(impl, "wrapper", False):
                        raise TypeError("hook wrappers are not supported")
                    result = impl.function(*({"cli": staging}[arg] for arg in impl.argnames))
                    if hook_name == "clore_register_output_formats":
                        returned = list(result or [])
                        for cls in returned:
                            if not (isinstance(cls, type) and issubclass(cls, OutputFormat)):
                                raise TypeError(f"{cls!r} is not an OutputFormat subclass")
                        formats += returned
                except Exception as error:  # noqa: BLE001 - a broken plugin must not break clore
                    failures.append(f"{hook_name} raised {type(error).__name__}: {error}")
        if failures:
            self._forget(name)
            self._skip(name, "; ".join(failures))
            return None
        added = {key: command for key, command in staging.commands.items() if visible.get(key) is not command}
        return added, formats

    def plugin_of_format(self, name: str) -> str | None:
        """The plugin that registered the output format ``name``; None for a built-in one."""
        owner = self.format_owners.get(name)
        return None if owner is None or owner in BUILTIN_MODULES else owner

    def distributions(self) -> list[tuple[str, str, str]]:
        """(plugin name, distribution, version) of every registered plugin."""
        result = []
        for name, _ in self.pm.list_name_plugin():
            result.append((name, *self._source(name)))
        return result

    def status(self, name: str) -> str:
        """``loaded``, with the names it was refused, of a registered plugin."""
        refused = self.refused.get(name)
        return f"loaded; refused: {', '.join(refused)}" if refused else "loaded"

    def _source(self, name: str) -> tuple[str, str]:
        from ._version import __version__

        entry = self.entries.get(name)
        source = _distribution_of(entry) if entry is not None else None
        return source or ("clore-cli (built-in)", __version__)

    def not_loaded(self) -> list[tuple[str, str | None, str | None, str]]:
        """(plugin, distribution, version, status) of the plugins that are not running:
        failed to load or register, or switched off with CLORE_DISABLE_PLUGINS."""
        rows: list[tuple[str, str | None, str | None, str]] = []
        for name, why in self.broken:
            entry = self.unloaded.get(name)
            source: tuple[str, str] | None = _distribution_of(entry) if entry is not None else None
            if source is None and name in BUILTIN_MODULES:
                source = self._source(name)
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
        """One ``warning:`` line per skipped plugin and per refused name (each said once)."""
        from .formats import sanitize

        for line in self._warnings:
            print(f"warning: {sanitize(line)}", file=sys.stderr)
        self._warnings = []


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
