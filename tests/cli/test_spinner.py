"""The spinner on stderr: only after half a second, only at a terminal, never on stdout."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from clore_cli import _spinner
from clore_cli._client import TrackingCloreAI


class FakeTimer:
    """Records the scheduled action; the test fires it (the threshold passed) or not."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self.action: Callable[[], None] | None = None
        self.cancelled = False

    def __call__(self, seconds: float, action: Callable[[], None]) -> FakeTimer:
        self.seconds, self.action = seconds, action
        return self

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        assert self.action is not None
        self.action()


class FakeStatus:
    def __init__(self, log: list[str], text: str) -> None:
        self.log = log
        log.append(f"start {text}")

    def start(self) -> None:
        self.log.append("shown")

    def update(self, text: str) -> None:
        self.log.append(f"update {text}")

    def stop(self) -> None:
        self.log.append("stop")


def test_shown_only_after_the_threshold() -> None:
    timer, log = FakeTimer(), []  # type: ignore[var-annotated]
    with _spinner.waiting(
        "waiting…", isatty=lambda: True, timer=timer, make_status=lambda t: FakeStatus(log, t)
    ) as spinner:
        assert timer.seconds == 0.5
        assert log == [] and not spinner.shown  # a quick answer draws nothing
        timer.fire()
        assert log == ["start waiting…", "shown"]
        spinner.update("waiting for our turn…")
    assert log[-2:] == ["update waiting for our turn…", "stop"]
    assert timer.cancelled


def test_a_quick_wait_draws_nothing() -> None:
    timer, log = FakeTimer(), []  # type: ignore[var-annotated]
    with _spinner.waiting("w", isatty=lambda: True, timer=timer, make_status=lambda t: FakeStatus(log, t)):
        pass
    assert timer.cancelled
    timer.fire()  # a timer that fires late anyway: the wait is over, nothing is shown
    assert log == []


def test_nothing_when_stderr_is_not_a_terminal() -> None:
    timer, log = FakeTimer(), []  # type: ignore[var-annotated]
    with _spinner.waiting("w", isatty=lambda: False, timer=timer, make_status=lambda t: FakeStatus(log, t)):
        pass
    assert timer.action is None and log == []


def test_nested_waits_keep_the_outer_spinner() -> None:
    outer, inner, log = FakeTimer(), FakeTimer(), []  # type: ignore[var-annotated]
    make: Any = lambda t: FakeStatus(log, t)  # noqa: E731
    with _spinner.waiting("order", isatty=lambda: True, timer=outer, make_status=make):
        outer.fire()
        with _spinner.waiting("api", isatty=lambda: True, timer=inner, make_status=make):
            pass
        assert _spinner.current() is not None
    assert inner.action is None and log == ["start order", "shown", "stop"]
    assert _spinner.current() is None


def test_rich_draws_on_the_given_stream_only(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    timer = FakeTimer()
    with _spinner.waiting("waiting for the Clore.ai API…", isatty=lambda: True, timer=timer, stream=stream):
        timer.fire()
    assert capsys.readouterr().out == ""
    assert "waiting for the Clore.ai API" in stream.getvalue() or stream.getvalue() == ""


def test_a_slow_client_call_starts_the_spinner(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    real = _spinner.waiting

    def recording(text: str = _spinner.API_TEXT, **kwargs: Any) -> Any:
        seen.append(text)
        return real(text, isatty=lambda: False)

    monkeypatch.setattr(_spinner, "waiting", recording)
    from clore_cli._main import main

    assert main(["--sandbox", "search", "--limit", "1", "-o", "json"]) == 0
    assert seen and set(seen) == {_spinner.API_TEXT}


def test_sleep_text_names_the_rate_limit() -> None:
    from clore_ai import RateLimiter
    from clore_ai.sandbox import Sandbox, SandboxTransport

    limiter = RateLimiter(interval=1.0)
    client = TrackingCloreAI(api_key="k", transport=SandboxTransport(Sandbox()), limiter=limiter)
    limiter.reserve()
    limiter.reserve()  # the second one waits: a backlog
    assert client._sleep_text() == "waiting for our turn (rate limit: 1 request/s per key)…"
    client.close()


def test_piped_stderr_has_no_spinner_characters() -> None:
    env = {**os.environ, "CLORE_SANDBOX_SERVERS": "20000"}
    done = subprocess.run(
        [sys.executable, "-m", "clore_cli", "--sandbox", "search", "--all", "--limit", "9", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    assert not any(c in done.stderr + done.stdout for c in frames)
    assert "waiting for" not in done.stderr
