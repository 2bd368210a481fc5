"""Speed never changes what `clore search` shows: the same rows, order and values in every
format with and without the collector pause, and the rows a plain reference computes."""

from __future__ import annotations

import csv
import gc
import io
import json
from contextlib import nullcontext
from typing import Any

import pytest

from clore_ai import CloreAI, RateLimiter, _limiter
from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer
from clore_cli._main import main


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    with SandboxServer(Sandbox(servers=300, rate_limits=RateLimits.off())) as server:
        monkeypatch.setenv("CLORE_API_URL", server.url)
        monkeypatch.delenv("CLORE_API_KEY", raising=False)
        # The keyless searches share the anonymous limiter: unspaced here, so 24 searches
        # take no second each (the spacing itself is tested in test_rate_limiting.py).
        monkeypatch.setitem(_limiter._registry, "anonymous", RateLimiter(interval=0, order_interval=0))
        yield server.url


SEARCHES = [
    ["search", "--all", "--limit", "1000"],
    ["search", "--limit", "20"],
    ["search", "--sort", "-gpus,price", "--limit", "50", "gpus>=2"],
    ["search", "--min-gpu", "2", "--sort", "reliability", "--all", "--limit", "40"],
]


def outputs(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    shown = {}
    for args in SEARCHES:
        for fmt in ("table", "json", "csv"):
            assert main([*args, "-o", fmt]) == 0
            shown[f"{' '.join(args)} -o {fmt}"] = capsys.readouterr().out
            assert gc.isenabled()
    assert all(len(out.splitlines()) > 2 for out in shown.values())  # every search shows rows
    return shown


def test_search_shows_the_same_with_and_without_the_gc_pause(
    api: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = outputs(capsys)
    monkeypatch.setattr("clore_ai._gcpause.gc_paused", nullcontext)
    assert outputs(capsys) == paused


def test_search_shows_the_same_with_every_speed_up_off(
    api: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch validation of nested objects, dropping rented servers before any model is built,
    keeping nested objects as JSON text (``_rawjson``) and the collector pause change when
    work happens, never what is shown."""
    fast = outputs(capsys)
    from clore_ai import _core, _endpoints
    from clore_ai.models import MarketplaceServer

    monkeypatch.setattr("clore_ai._gcpause.gc_paused", nullcontext)
    monkeypatch.setattr("clore_ai._lazy.BATCH_AFTER", 10**9)
    monkeypatch.setattr(_core, "listing_decoder", lambda *args, **kwargs: None)
    general = _core.envelope_parser("servers", MarketplaceServer, many=True)
    monkeypatch.setattr(_endpoints, "_MARKETPLACE", general)
    monkeypatch.setattr(_endpoints, "_MARKETPLACE_AVAILABLE", general)
    assert outputs(capsys) == fast


def test_search_rows_match_a_plain_reference(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    servers = CloreAI(base_url=api).marketplace(available_only=False)
    # Reference: every server by USD per hour (unknown or zero last), ties in marketplace order.
    expected = [
        s.id
        for s in sorted(
            servers,
            key=lambda s: (not s.price_usd, s.price_usd or 0.0),
        )
    ]
    assert main(["search", "--all", "--limit", "100000", "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert [r["id"] for r in rows] == expected
    assert main(["search", "--all", "--limit", "100000", "-o", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["id"]) for r in table] == expected
    assert gc.isenabled()


def test_version_answers_without_click_or_the_plugins() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "sys.argv = ['clore', '--version']\n"
        "from clore_cli._entry import run\n"
        "try:\n    run()\nexcept SystemExit as done:\n    assert done.code == 0\n"
        "print(sorted(m for m in ('click', 'pluggy', 'clore_ai', 'keyring') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["clore, version 0.2.0", "[]"], result.stderr
