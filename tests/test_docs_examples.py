"""Every Python block of README.md and docs/*.md runs against a fresh sandbox, so docs cannot rot.

(The reference pages under docs/reference are checked by scripts/run_sdk_examples.py in CI.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_sdk_examples", ROOT / "scripts" / "run_sdk_examples.py")
assert spec is not None and spec.loader is not None
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    pytest.param(code, id=f"{page.name}-{index}")
    for page in PAGES
    for index, code in enumerate(runner.examples(page.read_text(encoding="utf-8")), 1)
]


def test_docs_have_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("code", BLOCKS)
def test_doc_example_runs(code: str) -> None:
    ok, output, _ = runner.run_one(0, code)
    assert ok, output
