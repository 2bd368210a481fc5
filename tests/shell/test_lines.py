"""Lines typed as on the system shell: a leading `clore`, root options, pipes and redirection,
`--profile` completion, help pages through the pager, and no `shell` inside the shell."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from clore_cli._app import App
from clore_cli._main import new_app_holder
from clore_shell._repl import run_line

from .test_shell import app, completions, leave_shell, live_app

__all__ = ["app", "live_app"]  # the fixtures, imported for these tests


def test_a_leading_clore_is_accepted_as_the_hints_say_it(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = new_app_holder(app)
    assert run_line("clore orders -q", holder) == 0
    assert run_line("clore order 38 -o json", holder) == 0  # deploy's hint: `check it with clore order N`
    assert run_line("clore --sandbox orders -q", holder) == 0  # root options: applied to the line
    assert run_line("clore --profile default wallets -q", holder) == 0
    captured = capsys.readouterr()
    assert (
        captured.out.split()[:2] == ["38", "39"] and '"id": 38' in captured.out and "bitcoin" in captured.out
    )
    assert "No such command" not in captured.err
    assert run_line("clore", holder) == 0  # alone: the shell's help
    assert "Shell commands:" in capsys.readouterr().out
    assert run_line("clore shell", holder) == 2
    assert "already in the shell" in capsys.readouterr().err


def test_a_leading_clore_sandbox_in_a_live_shell_is_refused(
    live_app: tuple[App, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app, server = live_app
    assert run_line("clore --sandbox wallets -q", new_app_holder(app)) == 2
    assert "--sandbox cannot change a running shell" in capsys.readouterr().err
    assert list(server.sandbox.requests) == []


def test_completion_after_a_leading_clore_is_the_same(app: App) -> None:
    app.in_shell = True
    assert {"order", "orders"} <= set(completions(app, "clore ord"))
    assert completions(app, "clore orders --c") == completions(app, "orders --c") == ["--completed"]
    assert set(completions(app, "clore wallets -o ")) == set(completions(app, "wallets -o "))


def test_the_toolbar_previews_root_options_after_a_leading_clore(live_app: tuple[App, Any]) -> None:
    from clore_shell.toolbar import SessionState, toolbar_text

    app, _ = live_app
    bar = toolbar_text(app, SessionState(), line="clore --profile work wallets")
    assert "this line:" in bar and "profile work" in bar
    assert "refused" in toolbar_text(app, SessionState(), line="clore --sandbox orders")


def test_profile_values_complete_in_the_shell(app: App) -> None:
    from clore_ai import credentials

    credentials.write_config({"profiles": {"work": {"api_key": "sk-work-profile-key-00001111"}}})
    assert completions(app, "--profile ") == ["default", "work"]
    assert completions(app, "--profile w") == ["work"]
    assert completions(app, "clore --profile ") == ["default", "work"]


def test_profile_values_complete_in_bash() -> None:
    import subprocess

    from clore_ai import credentials

    credentials.write_config({"profiles": {"work": {"api_key": "sk-work-profile-key-00001111"}}})
    env = {
        **os.environ,
        "COMP_WORDS": "clore --profile ",
        "COMP_CWORD": "2",
        "_CLORE_COMPLETE": "bash_complete",
    }
    result = subprocess.run([sys.executable, "-m", "clore_cli"], env=env, capture_output=True, text=True)
    assert {"plain,default", "plain,work"} <= set(result.stdout.split()), result.stdout


@pytest.mark.parametrize(
    "line",
    [
        "search --limit 3 | head -2",
        "orders -q > /tmp/x",
        "orders -q >> /tmp/x",
        "orders -q >/tmp/x",
        "search < query.txt",
        "orders 2>/dev/null",
        "clore orders|wc -l",
        "clore --sandbox orders -q > /tmp/x",
    ],
)
def test_pipes_and_redirection_are_refused_in_one_line_and_nothing_is_sent(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    import clore_shell._repl as repl

    def sent(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("the line was run")

    monkeypatch.setattr(repl, "run_args", sent)
    monkeypatch.setattr(repl, "run_with_root_options", sent)
    assert run_line(line, new_app_holder(app)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "pipes and redirection are not supported in the shell; nothing was sent" in err
    rest = line.removeprefix("clore ").removeprefix("--sandbox ")
    assert err.rstrip().endswith(f"In your system shell: clore --sandbox {rest}"), err
    assert "positive numbers" not in err and "unexpected extra arguments" not in err


def test_quoted_operators_and_query_comparisons_are_not_redirection(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    from clore_shell._lineopts import redirection

    for line in (
        "search price < 1",
        "search gpus >= 2 price<1",
        "search gpus >=2",
        "watch gpu>>1",
        "deploy 1 --command 'echo hi > /tmp/x | cat'",
        'deploy 1 --command "a \\" | b"',
        "deploy 1 --command echo\\ \\|",
    ):
        assert redirection(line) is None, line
    assert redirection("orders -q > 1") == ">"  # after an option: not a comparison
    holder = new_app_holder(app)
    assert run_line("search price < 1 --limit 2 -q", holder) == 0
    assert len(capsys.readouterr().out.split()) == 2


def paged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the shell sends to the pager, at a terminal whose screen everything overflows."""
    import click

    import clore_cli._app as cli_app

    pages: list[str] = []
    monkeypatch.setattr(cli_app, "_taller_than_terminal", lambda text: True)
    monkeypatch.setattr(click, "echo_via_pager", lambda text, color=None: pages.append(str(text)))
    return pages


def test_help_and_help_options_go_through_the_pager(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = paged(monkeypatch)
    app.in_shell = True
    holder = new_app_holder(app)
    for line in ("help", "rent --help", "clore orders -h", "--profile default deploy --help", "--help"):
        assert run_line(line, holder) == 0, line
    assert capsys.readouterr().out == ""  # everything went to the pager
    assert len(pages) == 5
    assert pages[0].startswith("Shell commands:") and "Usage: clore [OPTIONS] COMMAND" in pages[0]
    assert pages[1].startswith("Usage: clore rent") and pages[2].startswith("Usage: clore orders")
    assert pages[3].startswith("Usage: clore deploy") and pages[4].startswith("Usage: clore [OPTIONS]")
    assert run_line("orders -q", holder) == 0 and len(pages) == 5  # other output: as before
    from clore_shell._lineopts import asks_for_help

    assert asks_for_help(["deploy", "1", "--help"]) and asks_for_help(["host", "-h"])
    assert not asks_for_help(["deploy", "1", "--command", "--help"])  # a value, not a help request


def test_the_shell_is_not_offered_inside_the_shell(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    app.in_shell = True  # what run_shell sets
    assert run_line("help", new_app_holder(app)) == 0
    out = capsys.readouterr().out
    assert "  shell " not in out and "  orders " in out
    assert "shell" not in completions(app, "sh") and "shell" not in completions(app, "clore sh")
    assert "ssh" in completions(app, "s")
    from clore_cli._main import main

    app.in_shell = False
    assert main(["--help"]) == 0
    assert "  shell " in capsys.readouterr().out  # `clore --help` outside the shell still lists it


def test_help_in_a_real_terminal_goes_through_the_pager(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    pager = tmp_path / "pager"
    pager.write_text(f"#!/bin/sh\ncat >> {tmp_path / 'paged.txt'}\necho '(paged)'\n")
    pager.chmod(0o755)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "clore_cli", "--sandbox", "shell"],
        env={**os.environ, "PAGER": str(pager)},
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 80),
    )
    child.expect(r"clore\[sandbox\]>")
    for line in ("help", "rent --help"):
        child.send(line + "\r")
        child.expect_exact("(paged)")  # the pager ran (a prompt redrawn meanwhile is no proof)
        child.expect(r"clore\[sandbox\]>")
    leave_shell(child, pexpect)
    paged_text = (tmp_path / "paged.txt").read_text()
    assert "Shell commands:" in paged_text and "Usage: clore rent" in paged_text


def test_a_refused_pipe_never_echoes_a_password_back(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import clore_shell._repl as repl

    monkeypatch.setattr(repl, "run_args", lambda *args, **kwargs: 0)
    line = "deploy 6 --image x/y --ssh-password hunter2secret | tee log"
    assert run_line(line, new_app_holder(app)) == 2
    err = capsys.readouterr().err
    assert "hunter2secret" not in err and "Run the command in your system shell." in err
