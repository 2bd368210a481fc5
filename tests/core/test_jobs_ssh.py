"""clore_ai.jobs end to end against the sandbox's real SSH endpoints (asyncssh on 127.0.0.1):
the password generated for the job, the detached run surviving the command that started it,
SFTP upload and download, and the endpoint gone with the cancelled order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai.jobs import JobInterrupted, JobJournal, Resources, Task, follow_job, run_job
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport

from ..conftest import KEY

pytest.importorskip("asyncssh")

POLL = 0.05  # the job is a real process: the log is polled in real time, briefly


@pytest.fixture
def ssh_sandbox() -> Iterator[tuple[Sandbox, CloreAI]]:
    sandbox = Sandbox(servers=60, rate_limits=RateLimits.off(), deploy_seconds=0, ssh=True)
    client = CloreAI(
        api_key=KEY, transport=SandboxTransport(sandbox), limiter=RateLimiter(interval=0, order_interval=0)
    )
    yield sandbox, client
    client.close()
    sandbox.close()


def test_a_job_runs_on_the_real_ssh_endpoint(
    ssh_sandbox: tuple[Sandbox, CloreAI], tmp_path: Path, monkeypatch: Any
) -> None:
    _, client = ssh_sandbox
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "in.txt").write_text("over ssh\n")
    task = Task.from_mapping(
        {
            "resources": {"max_price": 5},
            "image": "cloreai/ubuntu22.04-cuda12",
            "workdir": "project",
            "setup": "echo setup-ok",
            "run": "mkdir -p out; rev < data/in.txt > out/reversed.txt; echo run-ok; echo to-err >&2",
            "outputs": [{"remote": "out/*.txt", "local": "results"}],
        },
        base_dir=tmp_path,
    )
    journal = JobJournal(tmp_path / "jobs.json")
    log: list[bytes] = []
    job = run_job(client, task, journal=journal, on_log=log.append, sleep=time.sleep, poll_interval=POLL)
    assert job.state == "done" and job.exit_code == 0 and job.billing is False
    assert (tmp_path / "results" / "reversed.txt").read_text() == "hss revo\n"
    assert b"".join(log) == b"setup-ok\nrun-ok\nto-err\n"
    assert job.order_id not in {o.id for o in client.my_orders()}
    ended = next(o for o in client.my_orders(include_completed=True) if o.id == job.order_id)
    from clore_ai.remote import Remote, RemoteError, SSHTarget

    with pytest.raises(RemoteError):  # the endpoint stopped with the order
        with Remote(SSHTarget.from_order(ended, password="x"), connect_timeout=2) as remote:
            remote.exec("true")


def test_detach_then_logs_over_ssh(ssh_sandbox: tuple[Sandbox, CloreAI], tmp_path: Path) -> None:
    _, client = ssh_sandbox
    journal = JobJournal(tmp_path / "jobs.json")
    task = Task(run="echo before; sleep 0.3; echo after", image="ubuntu", resources=Resources(max_price=5))
    password = "JobsOverSsh42"

    def stop_on_first_line(chunk: bytes) -> None:
        raise KeyboardInterrupt

    with pytest.raises(JobInterrupted) as caught:
        run_job(
            client,
            task,
            journal=journal,
            ssh_password=password,
            on_log=stop_on_first_line,
            sleep=time.sleep,
            poll_interval=POLL,
        )
    job = caught.value.job
    assert job.state == "detached" and job.billing is True
    log: list[bytes] = []
    seen = follow_job(
        client,
        job.id,
        journal=journal,
        follow=True,
        ssh_password=password,
        on_log=log.append,
        sleep=time.sleep,
        poll_interval=POLL,
    )
    assert b"".join(log) == b"before\nafter\n" and seen.exit_code == 0
    assert password not in journal.path.read_text()
    client.cancel_order(job.order_id or 0)


def test_a_key_file_logs_in_and_only_its_path_is_journaled(
    ssh_sandbox: tuple[Sandbox, CloreAI], tmp_path: Path
) -> None:
    from ..remote_sandbox import make_key_pair

    _, client = ssh_sandbox
    key_file, public_key = make_key_pair(tmp_path)
    journal = JobJournal(tmp_path / "jobs.json")
    task = Task(run="echo with-a-key", image="ubuntu", resources=Resources(max_price=5))
    log: list[bytes] = []
    job = run_job(
        client, task, journal=journal, ssh_key_file=key_file, on_log=log.append, sleep=time.sleep,
        poll_interval=POLL,
    )  # fmt: skip
    assert job.state == "done" and b"".join(log) == b"with-a-key\n"
    assert job.ssh_auth == f"key {key_file.resolve()}"
    text = journal.path.read_text()
    assert "PRIVATE KEY" not in text and public_key.split()[1] not in text
