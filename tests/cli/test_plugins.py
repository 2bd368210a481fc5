"""The plugin host: every hookspec has a test here and a section in docs/cli.md."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any

import click
import pytest

from clore_cli import hookimpl, hookspecs
from clore_cli._main import main
from clore_cli._plugins import PluginHost
from clore_cli.formats import Dataset, OutputFormat

ROOT = Path(__file__).resolve().parents[2]


def make_plugin() -> types.ModuleType:
    plugin = types.ModuleType("clore_test_plugin")

    @click.command("hello")
    def hello() -> None:
        """Say hello from a plugin."""
        click.echo("hello from plugin")

    class Upper(OutputFormat):
        name = "upper"

        def render(self, data: Dataset, *, color: bool) -> str:
            return json.dumps(data.rows).upper()

    @hookimpl
    def clore_register_commands(cli: Any) -> None:
        cli.add_command(hello)

    @hookimpl
    def clore_register_output_formats() -> Any:
        return [Upper]

    plugin.clore_register_commands = clore_register_commands  # type: ignore[attr-defined]
    plugin.clore_register_output_formats = clore_register_output_formats  # type: ignore[attr-defined]
    return plugin


class FakeEntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.fixture
def with_entry_points(monkeypatch: pytest.MonkeyPatch) -> Any:
    import clore_cli._entry_points as entry_points_module
    import clore_cli._main as main_module

    def install(*entries: FakeEntryPoint) -> None:
        monkeypatch.setattr(entry_points_module, "entry_points", lambda group: list(entries))
        monkeypatch.setattr(main_module, "_HOST", None)
        fresh = click.Group.__new__(type(main_module.cli))
        fresh.__dict__.update(main_module.cli.__dict__)
        fresh.commands = dict(main_module.cli.commands)
        monkeypatch.setattr(main_module, "cli", fresh)

    return install


def test_hook_clore_register_commands(with_entry_points: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with_entry_points(FakeEntryPoint("test-plugin", make_plugin()))
    assert main(["hello"]) == 0
    assert capsys.readouterr().out.strip() == "hello from plugin"
    assert main(["--help"]) == 0
    assert "hello" in capsys.readouterr().out


def test_hook_clore_register_output_formats(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with_entry_points(FakeEntryPoint("test-plugin", make_plugin()))
    assert main(["--sandbox", "wallets", "-o", "upper"]) == 0
    assert '"CURRENCY": "BITCOIN"' in capsys.readouterr().out
    assert main(["--sandbox", "plugins", "-o", "json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert "test-plugin" in names and "clore_cli.commands.market" in names


def test_without_the_plugin_its_format_and_command_do_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sandbox", "wallets", "-o", "upper"]) == 2
    assert "not an output format" in capsys.readouterr().err
    assert main(["hello"]) == 2


def test_broken_plugins_are_reported_and_skipped(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with_entry_points(
        FakeEntryPoint("broken", ImportError("no module named nonsense")), FakeEntryPoint("ok", make_plugin())
    )
    assert main(["hello"]) == 0
    captured = capsys.readouterr()
    assert "plugin broken was skipped" in captured.err and "hello from plugin" in captured.out


def test_duplicate_format_names_are_refused() -> None:
    host = PluginHost(load_entry_points=False)

    class Table2(OutputFormat):
        name = "table"

    plugin = types.SimpleNamespace(clore_register_output_formats=hookimpl(lambda: [Table2]))
    host.pm.register(plugin, name="dup")
    formats = host.output_formats()
    assert formats["table"].__module__ == "clore_cli.formats"
    assert any("taken" in why for _, why in host.broken)


def test_every_hookspec_has_a_test_and_is_documented() -> None:
    specs = [name for name in dir(hookspecs) if name.startswith("clore_")]
    assert specs == ["clore_register_commands", "clore_register_output_formats"]
    this_file = Path(__file__).read_text()
    docs = (ROOT / "docs" / "cli.md").read_text()
    for name in specs:
        assert f"def test_hook_{name}(" in this_file
        assert re.search(rf"^#+ .*`{name}", docs, flags=re.M), f"docs/cli.md has no heading for {name}"


def test_cli_reference_in_docs_is_generated_from_the_command_tree() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(["--check"]) == 0


def test_plugin_distribution_is_found_without_entry_point_dist() -> None:
    """Python 3.9's entry points have no `.dist`: `clore plugins` still names the right package."""
    from clore_cli._plugins import _distribution_of

    class BareEntryPoint:  # what Python 3.9's importlib.metadata gives
        name = "example"
        value = "clore_plugins_example"

    found = _distribution_of(BareEntryPoint())
    assert found is not None and found[0] == "clore-plugins-example"
    assert _distribution_of(FakeEntryPoint("unknown", object())) is None


def test_plugins_lists_disabled_and_broken_plugins_with_their_distribution(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sys

    import clore_cli._main as main_module

    info = tmp_path / "clore_hello-0.1.0.dist-info"  # an installed plugin whose module is gone
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clore-hello\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[clore]\nhello = clore_no_such_module\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.setenv("CLORE_DISABLE_PLUGINS", "example,nosuch")
    monkeypatch.setattr(main_module, "_HOST", None)
    fresh = click.Group.__new__(type(main_module.cli))
    fresh.__dict__.update(main_module.cli.__dict__)
    fresh.commands = dict(main_module.cli.commands)
    monkeypatch.setattr(main_module, "cli", fresh)
    assert main(["plugins", "-o", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["example"]["status"] == "disabled (CLORE_DISABLE_PLUGINS)"
    assert rows["example"]["distribution"] == "clore-plugins-example" and rows["example"]["version"]
    assert rows["nosuch"]["status"] == "CLORE_DISABLE_PLUGINS names it, but no plugin has this name"
    assert rows["hello"]["status"].startswith("skipped: ModuleNotFoundError")
    assert (rows["hello"]["distribution"], rows["hello"]["version"]) == ("clore-hello", "0.1.0")
    assert rows["shell"]["status"] == "loaded"
