"""`watch` and `spot-bid` inside `clore shell`: they run, print, complete, and the shell goes on."""

from __future__ import annotations

import json

import pytest

from clore_cli._app import App

from .test_shell import app, completions, drive

__all__ = ["app"]  # the fixture, imported for these tests


def test_watch_and_spot_bid_run_in_the_shell(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        "watch id=123 --initial --once -o json",
        "spot-bid 39 --auto --cap 0.0001 --once --dry-run -o json",
        "watch gpu>>1",
        "orders -q",
        "exit",
    ]
    assert drive(app, "\n".join(lines) + "\n") == 0
    captured = capsys.readouterr()
    event, action, *rest = captured.out.splitlines()
    assert json.loads(event)["kind"] == "offer_appeared"
    assert json.loads(action)["dry_run"] is True and "dry run: no bid will be changed" in captured.err
    assert "gpu compares text" in captured.err and rest[:2] == ["38", "39"]


def test_the_commands_complete(app: App) -> None:
    assert "spot-bid" in completions(app, "spot-b")
    assert "watch" in completions(app, "wat")
    assert {"--below", "--exec", "--once"} <= set(completions(app, "watch --"))
