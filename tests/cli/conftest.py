"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The endpoints the sandbox was asked for, in order."""
    from clore_ai.sandbox import Sandbox

    endpoints: list[str] = []
    handle = Sandbox.handle

    def recording(self: Sandbox, method: str, path: str, *args: Any) -> Any:
        endpoints.append(path.rstrip("/").rsplit("/", 1)[-1])
        return handle(self, method, path, *args)

    monkeypatch.setattr(Sandbox, "handle", recording)
    return endpoints
