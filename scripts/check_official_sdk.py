"""The official clore-ai 0.1.1 (in its own virtual environment) talks to our sandbox server.

Proves the sandbox speaks the real wire, not our SDK's: the official package reads
wallets and the marketplace from it. The venv is created under bench/.venvs/official
(reused when present).

    python scripts/check_official_sdk.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from clore_ai.sandbox import Sandbox, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = ROOT / "bench" / ".venvs" / "official"

PROBE = """
import sys
from clore_ai import CloreAI
client = CloreAI(api_key="official-sdk-key", base_url=sys.argv[1])
wallets = client.wallets()
servers = client.marketplace()
print(f"official clore-ai: {len(wallets)} wallets, {len(servers)} available servers, first {servers[0].id}")
assert {w.name for w in wallets} == {"bitcoin", "CLORE-Blockchain", "USD-Blockchain"}
assert len(servers) > 100
"""


def official_python() -> Path:
    python = OFFICIAL / "bin" / "python"
    if not python.exists():
        venv.create(OFFICIAL, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "clore-ai==0.1.1"], check=True)
    return python


def main() -> int:
    python = official_python()
    with SandboxServer(Sandbox(servers=300)) as server:
        env = {**os.environ, "HOME": str(OFFICIAL)}
        env.pop("PYTHONPATH", None)
        result = subprocess.run([str(python), "-c", PROBE, server.url], env=env, cwd=str(OFFICIAL))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
