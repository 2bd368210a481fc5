"""Plugins are found as importlib.metadata finds them, without importing it on every command."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import zipfile
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

import pytest

from clore_cli import _entry_points
from clore_cli._entry_points import entry_points


def dist(folder: Path, name: str, text: str, suffix: str = "-1.0.dist-info") -> Path:
    info = folder / f"{name}{suffix}"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(text))
    return info


def as_seen_by_importlib_metadata(group: str) -> list[tuple[str, str]]:
    return sorted((e.name, e.value) for e in _entry_points._from_importlib_metadata(group))


# importlib.metadata itself drops a shadowed distribution only from Python 3.10 on.
DEDUPLICATES = sys.version_info >= (3, 10)


def stdlib_reads_paths() -> bool:
    """False once the importlib_metadata backport is imported (keyring does on old Pythons):
    it deletes the stdlib PathFinder's find_distributions to take over."""
    return hasattr(PathFinder, "find_distributions")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    dist(
        first,
        "clore_plugin_a",
        """
        # a comment
        [console_scripts]
        not-a-plugin = somewhere:main

        [clore]
        alpha = clore_test_alpha:plugin
        beta=clore_test_alpha
        """,
    )
    dist(second, "Clore.Plugin_A", "[clore]\nshadowed = elsewhere\n", suffix="-0.9.dist-info")  # same name
    dist(second, "other", "[clore]\ngamma = clore_test_alpha:Holder.inner\n", suffix="-2.0-py3.11.egg-info")
    dist(second, "spaced", "[ clore ]\nnot_this = elsewhere\n")  # importlib.metadata reads " clore "
    (first / "clore_test_alpha.py").write_text(
        "plugin = 'the plugin object'\nclass Holder:\n    inner = 'nested attribute'\n"
    )
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    monkeypatch.delitem(sys.modules, "clore_test_alpha", raising=False)
    # An ordinary installation: no finder with distributions of its own (the importlib_metadata
    # backport adds one when an earlier test imported keyring).
    ordinary = [f for f in sys.meta_path if f is PathFinder or not hasattr(f, "find_distributions")]
    monkeypatch.setattr(sys, "meta_path", ordinary)
    return first, second


def read_with_fallback_recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[tuple[str, str]]]:
    """The `clore` entry points as read, and the groups handed to importlib.metadata meanwhile."""
    asked: list[str] = []
    real = _entry_points._from_importlib_metadata
    monkeypatch.setattr(
        _entry_points, "_from_importlib_metadata", lambda group: asked.append(group) or real(group)
    )
    return asked, sorted((e.name, e.value) for e in entry_points("clore"))


def test_the_same_entry_points_as_importlib_metadata_first_distribution_of_a_name_wins(site: Any) -> None:
    found = sorted((e.name, e.value) for e in entry_points("clore"))
    assert found == [
        ("alpha", "clore_test_alpha:plugin"),
        ("beta", "clore_test_alpha"),
        ("gamma", "clore_test_alpha:Holder.inner"),
    ]
    if DEDUPLICATES and stdlib_reads_paths():
        assert found == as_seen_by_importlib_metadata("clore")


def test_load_and_dist_behave_like_importlib_metadata(site: Any) -> None:
    loaded = {e.name: e.load() for e in entry_points("clore")}
    assert loaded["alpha"] == "the plugin object"
    assert loaded["beta"].__name__ == "clore_test_alpha"
    assert loaded["gamma"] == "nested attribute"
    alpha = next(e for e in entry_points("clore") if e.name == "alpha")
    assert (alpha.dist.metadata["Name"], alpha.dist.version) == ("clore_plugin_a", "1.0")


def test_a_zip_on_sys_path_is_left_to_importlib_metadata(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        metadata = "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n"
        bundle.writestr("zipped-1.0.dist-info/METADATA", metadata)
        bundle.writestr("zipped-1.0.dist-info/entry_points.txt", "[clore]\nzipped = zipped_module\n")
    sys.path.append(str(archive))
    asked, found = read_with_fallback_recorded(monkeypatch)
    assert asked == ["clore"]
    assert found == as_seen_by_importlib_metadata("clore")  # what it says, passed on
    assert ("zipped", "zipped_module") in found or not stdlib_reads_paths()


def test_a_finder_with_distributions_of_its_own_is_left_to_importlib_metadata(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OwnDistributions:
        @staticmethod
        def find_spec(*args: Any) -> None:
            return None

        @staticmethod
        def find_distributions(*args: Any) -> list[Any]:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, OwnDistributions])
    asked, found = read_with_fallback_recorded(monkeypatch)
    assert asked == ["clore"] and found == as_seen_by_importlib_metadata("clore")


def test_a_command_line_never_reads_plugins_through_importlib_metadata() -> None:
    probe = (
        "import sys\n"
        "import pluggy\n"
        "before = 'importlib.metadata' in sys.modules  # pluggy < 1.5 imports it itself\n"
        "from clore_cli import _entry_points\n"
        "_entry_points._from_importlib_metadata = lambda group: sys.exit('FELL BACK')\n"
        "from clore_cli._main import main\nmain(['--help'])\n"
        "print('LOADED', not before and 'importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "LOADED False" in result.stdout, result.stdout + result.stderr
    assert re.search(r"^  cheapest ", result.stdout, re.M)  # the example plugin's command is still listed


@pytest.mark.parametrize("layout", ["two versions in one folder", "an unpacked egg on sys.path"])
def test_layouts_only_importlib_metadata_reads_right_are_left_to_it(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    if layout == "two versions in one folder":
        dist(tmp_path / "first", "bar", "[clore]\nold = bar_old\n", suffix="-1.0.dist-info")
        dist(tmp_path / "first", "bar", "[clore]\nnew = bar_new\n", suffix="-2.0.dist-info")
    else:
        egg = tmp_path / "eggplug-1.0-py3.11.egg"
        info = egg / "EGG-INFO"
        info.mkdir(parents=True)
        (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: eggplug\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[clore]\neggplug = eggplug\n")
        sys.path.append(str(egg))
    asked, found = read_with_fallback_recorded(monkeypatch)
    assert asked == ["clore"] and found == as_seen_by_importlib_metadata("clore")
