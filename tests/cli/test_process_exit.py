"""The `clore` process leaves without the interpreter's teardown, and nothing is lost by it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer


def run_script(body: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=60
    )


def test_output_atexit_work_and_the_exit_code_survive_the_fast_exit() -> None:
    result = run_script(
        """
        import atexit, sys
        from clore_cli._exit import exit_now
        atexit.register(lambda: print("atexit ran"))
        print("written before exit", end="; ")
        sys.stderr.write("warning on stderr\\n")
        class Finalized:
            def __del__(self):
                print("teardown ran")  # only a full interpreter teardown prints this
        keep = Finalized()
        exit_now(3)
        """
    )
    assert result.returncode == 3
    assert result.stdout == "written before exit; atexit ran\n"  # the teardown was skipped
    assert result.stderr == "warning on stderr\n"


def test_a_live_worker_thread_gets_a_normal_exit_and_finishes(tmp_path: Path) -> None:
    done = tmp_path / "done"
    result = run_script(
        f"""
        import threading, time
        from clore_cli._exit import exit_now
        def work():
            time.sleep(0.2)
            open({str(done)!r}, "w").write("finished")
        threading.Thread(target=work).start()
        exit_now(0)
        """
    )
    assert result.returncode == 0, result.stderr
    assert done.read_text() == "finished"


@pytest.mark.parametrize("how", ["tracer", "dev mode"])
def test_under_a_tracer_or_in_dev_mode_python_finalizes_as_usual(how: str) -> None:
    # cProfile/coverage (a tracer) report after the script returns; -X dev reports leaks at teardown.
    set_tracer = "import sys; sys.settrace(lambda *a: None)\n" if how == "tracer" else ""
    result = run_script(
        set_tracer
        + """
import os
real_exit = os._exit
os._exit = lambda code: (print("skipped the teardown"), real_exit(code))
from clore_cli._exit import exit_now
exit_now(5)
""",
        *(["-X", "dev"] if how == "dev mode" else []),
    )
    assert result.returncode == 5
    assert "skipped the teardown" not in result.stdout


def test_a_real_clore_search_through_a_pipe_prints_everything_and_imports_no_extras(tmp_path: Path) -> None:
    probe = textwrap.dedent(
        """
        import atexit, sys
        def report():
            unused = ("httpx._main", "pygments", "asyncio", "keyring", "rich")
            extras = sorted(m for m in unused if m in sys.modules)
            sys.stderr.write(f"EXTRAS {extras}\\n")
        atexit.register(report)
        sys.argv = ["clore", "search", "--limit", "3"]
        from clore_cli._entry import run
        run()
        """
    )
    with SandboxServer(Sandbox(rate_limits=RateLimits.off())) as server:
        env = {
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "CLORE_API_URL": server.url,
        }
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("Showing 3 of "), result.stdout  # the last line made it out
    assert "EXTRAS []" in result.stderr  # httpx's own CLI, pygments, asyncio, keyring, rich: never loaded


def test_a_failed_final_flush_says_so_and_exits_120() -> None:
    result = run_script(
        """
        import io, sys
        from clore_cli._exit import exit_now
        class Full(io.TextIOWrapper):
            def flush(self):
                raise OSError(28, "No space left on device")
        sys.stdout = Full(io.BytesIO())
        sys.stdout.write("lost")
        exit_now(0)
        """
    )
    assert result.returncode == 120
    assert result.stderr == "error: could not write the output: No space left on device\n"
