"""Run every Python example of docs/reference/python-sdk.md verbatim against a fresh sandbox.

Each example runs in its own interpreter, with CLORE_API_URL pointing at a new loopback
sandbox server (real rate limits) and any CLORE_API_KEY. Fragments that use `client`
without creating it get `from clore_ai import CloreAI; client = CloreAI()` in front, as a
reader would. Exit status 1 if any example fails.

    python scripts/run_sdk_examples.py [path/to/python-sdk.md]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clore_ai.sandbox import Sandbox, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOC = ROOT / "docs" / "reference" / "python-sdk.md"
IMPORT = "from clore_ai import CloreAI\n"
CLIENT = "client = CloreAI()\n"


def examples(markdown: str) -> list[str]:
    return list(re.findall(r"```python\n(.*?)```", markdown, flags=re.S))


def preamble(code: str) -> str:
    """What a reader adds to run a fragment: the import and a client, if the fragment uses them."""
    needs_client = "client" in code and not re.search(
        r"^\s*(client\s*=|with CloreAI|async with)", code, flags=re.M
    )
    uses_class = re.search(r"\bCloreAI\b", code) and not re.search(r"import .*\bCloreAI\b", code)
    return (IMPORT if needs_client or uses_class else "") + (CLIENT if needs_client else "")


def check_signature(code: str) -> tuple[bool, str]:
    """A block like `CloreAI(api_key: str | None = None, ...)` documents a signature: compare it."""
    import inspect

    import clore_ai

    match = re.match(r"\s*(\w+)\(", code)
    cls = getattr(clore_ai, match.group(1), None) if match else None
    if cls is None:
        return False, "not Python and not a known signature"
    documented = re.findall(r"^\s*(\w+)\s*:\s*[^=]+=\s*([^,#\n]+)", code, flags=re.M)
    actual = inspect.signature(cls).parameters
    problems = [
        f"{name}: documented default {default.strip()}, actual {actual[name].default!r}"
        for name, default in documented
        if name not in actual or repr(actual[name].default) != repr(eval(default.strip()))
    ]
    return not problems, "; ".join(
        problems
    ) or f"signature of {cls.__name__} matches ({len(documented)} parameters)"


def run_one(index: int, code: str) -> tuple[bool, str, float]:
    try:
        compile(code, f"example {index}", "exec")
    except SyntaxError:
        ok, message = check_signature(code)
        return ok, message, 0.0
    program = preamble(code) + code
    with SandboxServer(Sandbox()) as server, tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "CLORE_API_URL": server.url,
            "CLORE_API_KEY": "sandbox-example-key",
            "HOME": home,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
        )
        elapsed = time.monotonic() - started
    output = (result.stdout + result.stderr).strip()
    return result.returncode == 0, output, elapsed


def main(argv: list[str]) -> int:
    doc = Path(argv[1]) if len(argv) > 1 else DEFAULT_DOC
    blocks = examples(doc.read_text(encoding="utf-8"))
    failures = 0
    for index, code in enumerate(blocks, 1):
        ok, output, elapsed = run_one(index, code)
        first = code.strip().splitlines()[0][:60]
        print(f"{'ok  ' if ok else 'FAIL'} example {index:2d} ({elapsed:4.1f} s) {first}")
        if not ok:
            failures += 1
            print("    " + output.replace("\n", "\n    "))
    print(f"{len(blocks) - failures} passed, {failures} failed")
    return 1 if failures or not blocks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
