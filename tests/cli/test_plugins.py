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

    class Nameless(OutputFormat):
        pass

    plugin = types.SimpleNamespace(clore_register_output_formats=hookimpl(lambda: [Table2, Nameless]))
    host.pm.register(plugin, name="dup")
    formats = host.output_formats()
    assert formats["table"].__module__ == "clore_cli.formats"
    assert host.status("dup") == (
        "loaded; refused: output format 'table' (taken by a built-in format), "
        "output format Nameless (no name)"
    )
    assert host.plugin_of_format("table") is None


def test_a_formats_hook_that_returns_no_format_classes_skips_the_plugin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = PluginHost(load_entry_points=False)
    host.pm.register(plugin_of(clore_register_output_formats=lambda: ["yaml"]), name="odd")
    host.pm.register(plugin_of(clore_register_output_formats=lambda: OutputFormat), name="single")
    assert sorted(host.output_formats()) == ["csv", "json", "table"]
    assert [name for name, _ in host.pm.list_name_plugin() if name in ("odd", "single")] == []
    host.warn_broken()
    host.warn_broken()  # said once
    assert capsys.readouterr().err.splitlines() == [
        "warning: plugin odd was skipped: clore_register_output_formats raised TypeError: "
        "'yaml' is not an OutputFormat subclass",
        "warning: plugin single was skipped: clore_register_output_formats raised TypeError: "
        "'type' object is not iterable",
    ]


def test_every_hookspec_has_a_test_and_is_documented() -> None:
    specs = [name for name in dir(hookspecs) if name.startswith("clore_")]
    assert specs == ["clore_register_commands", "clore_register_output_formats"]
    this_file = Path(__file__).read_text()
    docs = (ROOT / "docs" / "cli.md").read_text()
    for name in specs:
        assert f"def test_hook_{name}(" in this_file
        assert re.search(rf"^#+ .*`{name}", docs, flags=re.M), f"docs/cli.md has no heading for {name}"


def test_cli_reference_in_docs_is_generated_from_the_command_tree() -> None:
    """In a fresh interpreter: commands other tests register in this one must not count."""
    import subprocess
    import sys

    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr


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


def plugin_of(**hooks: Any) -> types.SimpleNamespace:
    """A plugin object whose hooks are the given functions (``hookimpl`` applied here)."""
    return types.SimpleNamespace(**{name: hookimpl(function) for name, function in hooks.items()})


def named_command(name: str, text: str) -> click.Command:
    @click.command(name)
    def command() -> None:
        click.echo(text)

    return command


def rows_by_name(capsys: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, Any]]]:
    assert main(["plugins", "-o", "json"]) == 0
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in json.loads(capsys.readouterr().out):
        rows.setdefault(row["name"], []).append(row)
    return rows


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: plugin")]


def test_a_plugin_can_add_a_subcommand_to_a_built_in_group(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def extend(cli: Any) -> None:
        cli.commands["host"].add_command(named_command("energy", "energy from hostext"))

    with_entry_points(FakeEntryPoint("hostext", plugin_of(clore_register_commands=extend)))
    assert main(["host", "energy"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "energy from hostext\n" and "warning" not in captured.err
    assert main(["--sandbox", "host", "occupancy", "-o", "json"]) == 0  # the built-in group still works
    capsys.readouterr()


def test_a_plugin_cannot_replace_a_built_in_or_an_earlier_plugins_command(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def takeover(cli: Any) -> None:
        for name in ("search", "deploy", "cancel", "hello"):
            cli.add_command(named_command(name, f"{name} from evil"))

    def late(cli: Any) -> None:  # trylast puts its hook before the built-ins' in pluggy's list
        cli.add_command(named_command("search", "search from late"))
        cli.add_command(named_command("hello", "hello from late"))
        cli.add_command(named_command("late-own", "late's own command"))

    with_entry_points(
        FakeEntryPoint("evil", plugin_of(clore_register_commands=takeover)),
        FakeEntryPoint("late", types.SimpleNamespace(clore_register_commands=hookimpl(trylast=True)(late))),
    )
    assert main(["--sandbox", "search", "--limit", "1", "-o", "json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1  # the built-in search answered
    assert warnings_in(captured.err) == [
        "warning: plugin evil: command 'search' was refused: the name is taken by a built-in command",
        "warning: plugin evil: command 'deploy' was refused: the name is taken by a built-in command",
        "warning: plugin evil: command 'cancel' was refused: the name is taken by a built-in command",
        "warning: plugin late: command 'search' was refused: the name is taken by a built-in command",
        "warning: plugin late: command 'hello' was refused: the name is taken by plugin evil",
    ]
    assert main(["deploy", "--help"]) == 0 and "evil" not in capsys.readouterr().out
    assert main(["hello"]) == 0 and capsys.readouterr().out == "hello from evil\n"
    assert main(["late-own"]) == 0 and capsys.readouterr().out == "late's own command\n"
    rows = rows_by_name(capsys)
    assert [row["status"] for row in rows["evil"]] == [
        "loaded; refused: command 'search' (taken by a built-in command), command 'deploy' "
        "(taken by a built-in command), command 'cancel' (taken by a built-in command)"
    ]
    assert [row["status"] for row in rows["late"]] == [
        "loaded; refused: command 'search' (taken by a built-in command), command 'hello' "
        "(taken by plugin evil)"
    ]


def test_a_plugin_whose_commands_hook_raises_is_removed_completely(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    class Yaml(OutputFormat):
        name = "yaml"

        def render(self, data: Dataset, *, color: bool) -> str:
            return "yaml"

    def register(cli: Any) -> None:
        cli.add_command(named_command("halfway", "halfway ran"))
        raise ValueError("boom in hook")

    with_entry_points(
        FakeEntryPoint(
            "badhook",
            plugin_of(clore_register_commands=register, clore_register_output_formats=lambda: [Yaml]),
        ),
        FakeEntryPoint("ok", make_plugin()),
    )
    assert main(["halfway"]) == 2
    captured = capsys.readouterr()
    assert "No such command 'halfway'" in captured.err
    assert warnings_in(captured.err) == [
        "warning: plugin badhook was skipped: clore_register_commands raised ValueError: boom in hook"
    ]
    assert main(["--sandbox", "wallets", "-o", "yaml"]) == 2
    assert "not an output format" in capsys.readouterr().err
    rows = rows_by_name(capsys)
    assert [row["status"] for row in rows["badhook"]] == [
        "skipped: clore_register_commands raised ValueError: boom in hook"
    ]
    assert [row["status"] for row in rows["ok"]] == ["loaded"]  # the next plugin is untouched
    assert main(["plugins"]) == 0
    footer = capsys.readouterr().out.splitlines()[-1]
    assert footer.startswith("Output formats:") and "yaml" not in footer and "upper" in footer


def test_a_failing_or_clashing_formats_hook_is_reported_at_load_time(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    class Json2(OutputFormat):
        name = "json"

        def render(self, data: Dataset, *, color: bool) -> str:
            return "not json"

    def raising() -> Any:
        raise KeyError("nope")

    with_entry_points(
        FakeEntryPoint(
            "keyerr",
            plugin_of(
                clore_register_commands=lambda cli: cli.add_command(named_command("kcmd", "kcmd ran")),
                clore_register_output_formats=raising,
            ),
        ),
        FakeEntryPoint("jsonclash", plugin_of(clore_register_output_formats=lambda: [Json2])),
    )
    assert main(["--help"]) == 0  # a command that never uses a format: warned all the same
    assert warnings_in(capsys.readouterr().err) == [
        "warning: plugin keyerr was skipped: clore_register_output_formats raised KeyError: 'nope'",
        "warning: plugin jsonclash: output format 'json' was refused: the name is taken by a built-in format",
    ]
    assert main(["kcmd"]) == 2  # the plugin's command went with it
    capsys.readouterr()
    rows = rows_by_name(capsys)
    assert [row["status"] for row in rows["keyerr"]] == [
        "skipped: clore_register_output_formats raised KeyError: 'nope'"
    ]
    assert [row["status"] for row in rows["jsonclash"]] == [
        "loaded; refused: output format 'json' (taken by a built-in format)"
    ]
    assert main(["--sandbox", "wallets", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)  # the built-in json, not the plugin's


def test_a_format_whose_render_fails_names_the_plugin(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    class Yaml(OutputFormat):
        name = "yaml"

        def render(self, data: Dataset, *, color: bool) -> str:
            raise RuntimeError("render boom")

    with_entry_points(FakeEntryPoint("badfmt", plugin_of(clore_register_output_formats=lambda: [Yaml])))
    assert main(["--sandbox", "wallets", "-o", "yaml"]) == 13
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: output format 'yaml' (plugin badfmt) failed: RuntimeError: render boom\n"
    assert "Traceback" not in captured.err


def test_hook_errors_and_refusals_are_warned_once_per_process(
    with_entry_points: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def register(cli: Any) -> None:
        raise ValueError("boom")

    search = named_command("search", "x")
    with_entry_points(
        FakeEntryPoint("badhook", plugin_of(clore_register_commands=register)),
        FakeEntryPoint("evil", plugin_of(clore_register_commands=lambda cli: cli.add_command(search))),
    )
    assert main(["--sandbox", "wallets"]) == 0
    assert len(warnings_in(capsys.readouterr().err)) == 2
    assert main(["--sandbox", "wallets"]) == 0
    assert main(["plugins"]) == 0
    assert warnings_in(capsys.readouterr().err) == []
