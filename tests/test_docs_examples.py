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


def test_reliability_page_names_only_tests_that_exist() -> None:
    """docs/reliability.md maps each promise to a test: every named file and test must exist."""
    import re

    tests = Path(__file__).resolve().parent
    page = (tests.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    files = set(re.findall(r"`((?:core|cli|shell)/test_\w+\.py|test_\w+\.py)", page))
    names = set(re.findall(r"::(test_\w+)", page))
    assert len(files) >= 10 and len(names) >= 40
    missing_files = [f for f in files if not (tests / f).exists()]
    defined = set(re.findall(r"def (test_\w+)", "".join(p.read_text() for p in tests.rglob("test_*.py"))))
    assert not missing_files and not names - defined, (missing_files, names - defined)


def test_the_docs_show_the_search_table_search_prints(tmp_path: Path) -> None:
    """Every recorded `search` table in the docs has the columns `clore search` prints now."""
    import re

    from clore_cli.testing import run_clore

    def header(text: str) -> tuple[str, ...]:
        line = next(line for line in text.splitlines() if line.startswith("┃"))
        return tuple(cell.strip() for cell in line.strip("┃ ").split("┃"))

    printed = {
        header(run_clore(["--sandbox", "search", "--limit", "1", *more], home=tmp_path).stdout)
        for more in ([], ["--currency", "btc"])
    }
    shown = [
        (page.name, header(block))
        for page in PAGES
        for block in re.findall(r"^GPU marketplace *\n(?:.*\n){3}", page.read_text(encoding="utf-8"), re.M)
    ]
    assert len(shown) >= 2 and all(columns in printed for _, columns in shown), (printed, shown)
