"""Public helpers for testing clore plugins against the offline sandbox.

    from clore_cli.testing import run_clore

    def test_my_command(tmp_path):
        result = run_clore(["--sandbox", "my-command", "-o", "json"], home=tmp_path)
        assert result.exit_code == 0, result.stderr
        rows = result.json()

Each call runs the real ``clore`` entry point in-process with stdout/stderr captured, a
private HOME, sandbox state and cache under ``home`` (so tests never touch your keys), and no
API key from the environment.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:
    from clore_ai.sandbox import Sandbox

__all__ = ["CloreResult", "isolated_home", "run_clore", "sandbox_for"]


@dataclass
class CloreResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@contextlib.contextmanager
def isolated_home(home: Path | str) -> Iterator[Path]:
    """Point HOME, XDG dirs and the keyring at ``home`` for the duration."""
    root = Path(home)
    values = {
        "HOME": str(root),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    removed = ("CLORE_API_KEY", "CLORE_API_URL", "CLORE_PROFILE", "CLORE_SANDBOX_STATE", "CLORE_CONFIG_DIR")
    saved = {name: os.environ.get(name) for name in [*values, *removed]}
    os.environ.update(values)
    for name in removed:
        os.environ.pop(name, None)
    try:
        yield root
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_clore(args: Sequence[str], *, home: Path | str) -> CloreResult:
    """Run ``clore ARGS`` in-process against an isolated home; never raises."""
    from ._main import main

    out, err = io.StringIO(), io.StringIO()
    with isolated_home(home), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return CloreResult(code, out.getvalue(), err.getvalue())


def sandbox_for(home: Path | str) -> Sandbox:
    """The sandbox that ``run_clore(["--sandbox", ...], home=home)`` uses (its state file), to
    set the scene between runs: ``take_server(123, when_ordered=True)``, ``place_bid(...)``,
    ``configure_market(MarketMotion(seed=7))``, ``advance(3600)`` (the time line jumps for
    the next runs), or to read ``account_state("sandbox-cli-account")``."""
    from clore_ai.sandbox import FileStore, RateLimits, Sandbox, default_state_path

    with isolated_home(home):
        path = default_state_path()
        servers = int(os.environ.get("CLORE_SANDBOX_SERVERS", "300"))
    return Sandbox(servers=servers, store=FileStore(path), rate_limits=RateLimits.off())
