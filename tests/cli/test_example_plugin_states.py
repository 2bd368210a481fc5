"""With the example plugin installed its command and format exist everywhere; without, neither."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def clore(*args: str, disable: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if disable:
        env["CLORE_DISABLE_PLUGINS"] = "example"
    return subprocess.run(
        [sys.executable, "-m", "clore_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_with_the_plugin() -> None:
    pytest.importorskip("clore_plugins_example")
    assert "cheapest" in clore("--help").stdout
    assert "clore-plugins-example" in clore("plugins", "-o", "csv").stdout
    assert clore("--sandbox", "search", "--limit", "1", "-o", "markdown").stdout.startswith(
        "**GPU marketplace**"
    )
    assert clore("--sandbox", "cheapest", "-o", "json").returncode == 0
    completion = {"COMP_WORDS": "clore wallets -o m", "COMP_CWORD": "3", "_CLORE_COMPLETE": "bash_complete"}
    done = subprocess.run(
        [sys.executable, "-m", "clore_cli"], env={**os.environ, **completion}, capture_output=True, text=True
    )
    assert "plain,markdown" in done.stdout.split()


def test_in_the_shell_with_the_plugin() -> None:
    pytest.importorskip("clore_plugins_example")
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from clore_cli._app import App
    from clore_cli._main import _host, cli, new_app_holder
    from clore_shell.completer import CloreCompleter

    completer = CloreCompleter(cli, new_app_holder(App(_host(), sandbox=True)))

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("chea") == ["cheapest"]
    assert "markdown" in complete("search -o ")
    assert "markdown" in complete("set output ")


def test_without_the_plugin() -> None:
    refused = clore("--sandbox", "search", "-o", "markdown", disable=True)
    assert refused.returncode == 2 and "not an output format" in refused.stderr
    missing = clore("--sandbox", "cheapest", disable=True)
    assert missing.returncode == 2 and "No such command 'cheapest'" in missing.stderr
    assert "cheapest" not in clore("--help", disable=True).stdout
