"""`clore --sandbox run/jobs/logs` as separate processes against the sandbox's SSH host
process: the file arrives, the order is gone, a SIGTERM detaches, `logs -f` re-attaches, and
the ssh password is in no process's argv and no file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("asyncssh")
pytestmark = pytest.mark.slow

PASSWORD = "E2eJobPassword77"
CLORE = [sys.executable, "-m", "clore_cli", "--sandbox"]


def clore(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clore_cli", "--sandbox", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    from ..remote_sandbox import cli_ssh_environment, stop_cli_ssh_host

    environment = {**cli_ssh_environment(tmp_path), "CLORE_SSH_PASSWORD": PASSWORD}
    try:
        yield environment
    finally:
        stop_cli_ssh_host(environment)


def test_run_then_the_file_is_here_and_the_order_is_gone(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(
        "resources: {max_price: 5}\nimage: cloreai/ubuntu22.04-cuda12\n"
        "run: echo made-remotely > made.txt; echo logged\noutputs: [made.txt]\n"
    )
    done = clore("run", "task.yaml", "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "made.txt").read_text() == "made-remotely\n"
    assert "logged" in done.stdout and "cancelled" in done.stderr
    orders = clore("orders", "-o", "json", env=env, cwd=tmp_path)
    [job] = json.loads(clore("jobs", "-o", "json", env=env, cwd=tmp_path).stdout)
    assert job["order_id"] not in [o["id"] for o in json.loads(orders.stdout)]


def test_sigterm_detaches_and_logs_follow_reattaches(env: dict[str, str], tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "clore_cli", "--sandbox", "run", "--yes", "--image", "ubuntu",
         "--max-price", "5", "--run", "echo first; sleep 2; echo last"],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert run.stderr is not None
    seen: list[str] = []
    for line in run.stderr:
        seen.append(line)
        if "running (output follows)" in line:
            break
    argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert PASSWORD not in argv
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 7, "".join(seen) + err
    assert "AND BILLING" in err
    [job] = json.loads(clore("jobs", "-o", "json", env=env, cwd=tmp_path).stdout)
    assert job["state"] == "detached" and job["billing"] is True

    logs = clore("logs", job["id"], "-f", env=env, cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "first\nlast\n"
    assert "still billing" in logs.stderr
    assert clore("cancel", str(job["order_id"]), "--yes", env=env, cwd=tmp_path).returncode == 0
    for path in tmp_path.rglob("*"):  # home, journal, sandbox state and the SSH host's files
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_at_a_terminal_it_asks_before_renting_and_ctrl_c_offers_stop(
    env: dict[str, str], tmp_path: Path
) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "clore_cli", "--sandbox", "run", "--image", "ubuntu", "--max-price", "5", "--run", "sleep 30"],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"Price: .*/day.*\$.*/h")  # a USD order: $0.72/day, $0.0300/h
    child.expect(r"Rent it and run the job\? \[y/N\]")
    child.sendline("y")
    child.expect("running \\(output follows\\)")
    child.sendintr()
    child.expect(r"bills while it runs")
    # the choices once; at 80 columns the question wraps between words
    question = r"Detach \(the job keeps running and billing\) or stop it and cancel the order\?\s+\[d/s\]: "
    child.expect(question)
    child.sendline("s")
    child.expect(r"stopped; order (\d+) cancelled")
    order_id = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    [job] = json.loads(clore("jobs", "-o", "json", env=env, cwd=tmp_path).stdout)
    assert job["state"] == "cancelled" and job["billing"] is False and job["order_id"] == order_id
    orders = json.loads(clore("orders", "-o", "json", env=env, cwd=tmp_path).stdout)
    assert order_id not in [o["id"] for o in orders]


def test_a_closed_stdout_detaches_and_says_the_order_bills(env: dict[str, str], tmp_path: Path) -> None:
    """`clore run task.yaml | head -1`: the reader goes away mid-job. The process used to die
    of SIGPIPE without a word, its order running and billing."""
    loop = "for i in $(seq 1 40); do echo tick $i; sleep 0.2; done"
    child = subprocess.Popen(
        [*CLORE, "run", "--image", "ubuntu", "--max-price", "5", "--run", loop, "--yes"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == b"tick 1\n"
    child.stdout.close()  # as `| head -1` does
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 7, stderr
    [job] = json.loads(clore("jobs", "-o", "json", env=env, cwd=tmp_path).stdout)
    assert job["state"] == "detached" and job["billing"] is True
    assert "AND BILLING" in stderr and f"clore cancel {job['order_id']}" in stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    assert clore("cancel", str(job["order_id"]), "--yes", env=env, cwd=tmp_path).returncode == 0
