"""clore_ai.jobs on the sandbox: task files, the whole lifecycle, failures, detach and re-attach.

The server side is tests/fake_remote.py (a directory and ``sh``); waits run on virtual time.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterator

import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai.jobs import (
    JobError,
    JobInterrupted,
    JobJournal,
    Offer,
    Resources,
    Task,
    TaskFileError,
    cancel_job,
    find_offer,
    follow_job,
    refresh_jobs,
    run_job,
)
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport

from ..conftest import KEY, FakeClock
from ..fake_remote import LocalContainers

PASSWORD = "Pw4JobTestsOnly7x"

TASK_YAML = """
name: hello
resources:
  query: "gpus>=1"
  max_price: 5        # USD per hour
  currency: usd
image: cloreai/ubuntu22.04-cuda12
workdir: project
setup: |
  echo setting up
run: |
  mkdir -p out
  tr a-z A-Z < input.txt > out/result.txt
  echo "hello from the job"
outputs:
  - out/*.txt
  - {remote: missing.bin, local: elsewhere}
env:
  GREETING: "hi there"
"""


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    return Sandbox(servers=60, clock=clock, rate_limits=RateLimits.off(), deploy_seconds=5.0)


@pytest.fixture
def client(sandbox: Sandbox, clock: FakeClock) -> Iterator[CloreAI]:
    transport = SandboxTransport(sandbox, sleep=clock.sleep)
    limiter = RateLimiter(interval=0, order_interval=0, clock=clock)
    with CloreAI(api_key=KEY, transport=transport, limiter=limiter, sleep=clock.sleep) as made:
        yield made


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "input.txt").write_text("shout me\n")
    path = tmp_path / "task.yaml"
    path.write_text(TASK_YAML)
    return path


@pytest.fixture
def journal(tmp_path: Path) -> JobJournal:
    return JobJournal(tmp_path / "data" / "jobs.json")


def run(
    client: CloreAI, task: Task, journal: JobJournal, clock: FakeClock, containers: LocalContainers, **kw: Any
) -> Any:
    kw.setdefault("ssh_password", PASSWORD)
    return run_job(
        client, task, journal=journal, remote_factory=containers, sleep=clock.sleep, clock=clock, **kw
    )


def live_order_ids(client: CloreAI) -> set[int]:
    return {o.id for o in client.my_orders() if not o.expired}


# ── task files ─────────────────────────────────────────────────────────────


def test_task_file_is_read_with_every_field(task_file: Path) -> None:
    task = Task.from_file(task_file)
    assert task.name == "hello"
    assert task.resources == Resources(query="gpus>=1", max_price=5.0, currency="USD-Blockchain")
    assert task.workdir == (task_file.parent / "project").resolve()
    assert [o.remote for o in task.outputs] == ["out/*.txt", "missing.bin"]
    assert task.outputs[1].local == Path("elsewhere")
    assert task.env == {"GREETING": "hi there"} and task.keep is False


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("run: [unclosed", "line 1"),
        ("- just a list", "must be a mapping"),
        ("image: x\nrun: y", "resources is required"),
        ("resources: {max_price: 1}\nrun: y", "image is required"),
        ("resources: {max_price: 1}\nimage: x", "run is required"),
        ("resources: {max_price: -1}\nimage: x\nrun: y", "max_price must be a number > 0"),
        ("resources: {max_price: 1, currency: doge}\nimage: x\nrun: y", "'doge' is not known"),
        ("resources: {max_price: 1, query: 'gpu>>3'}\nimage: x\nrun: y", "resources.query"),
        ("resources: {max_price: 1}\nimage: x\nrun: y\nreources: 1", "unknown field 'reources'"),
        ("resources: {max_price: 1}\nimage: x\nrun: y\nkeep: maybe", "keep must be true or false"),
        (
            "resources: {max_price: 1}\nimage: x\nrun: true",
            "run must be text, got the YAML value true: quote it",
        ),
        ("resources: {max_price: 1}\nimage: x\nrun: y\nworkdir: nowhere", "is not a directory"),
        ("resources: {max_price: 1}\nimage: x\nrun: y\noutputs: [../up.txt]", "without '..'"),
        ("resources: {max_price: 1}\nimage: x\nrun: y\nenv: {1BAD: x}", "not a variable name"),
    ],
)
def test_bad_task_files_are_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TaskFileError) as caught:
        Task.from_file(path)
    message = str(caught.value)
    assert says in message and "\n" not in message and message.startswith(str(path))


def test_a_missing_task_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"cannot read task file .*nope.yaml"):
        Task.from_file(tmp_path / "nope.yaml")


# ── the lifecycle ──────────────────────────────────────────────────────────


def test_a_job_runs_downloads_cancels_and_is_journaled(
    client: CloreAI, task_file: Path, journal: JobJournal, clock: FakeClock, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    containers = LocalContainers(tmp_path / "servers", refuse_first=2)
    before = live_order_ids(client)
    log: list[bytes] = []
    notes: list[str] = []
    task = Task.from_file(task_file)
    offer = find_offer(client, task.resources)
    assert offer.usd_per_hour is not None and offer.usd_per_hour <= 5

    job = run(
        client, task, journal, clock, containers, offer=offer, on_log=log.append, on_progress=notes.append
    )

    assert job.state == "done" and job.exit_code == 0
    assert (tmp_path / "result.txt").read_text() == "SHOUT ME\n"
    assert b"setting up" in b"".join(log) and b"hello from the job" in b"".join(log)
    assert any("missing.bin: nothing there" in n for n in notes)
    assert live_order_ids(client) == before  # the order was cancelled
    stored = journal.find(job.id)
    assert stored is not None and stored.state == "done" and stored.billing is False
    assert stored.order_id is not None and stored.order_id not in before
    assert stored.server_id == offer.server_id and stored.cost is not None and stored.cost_usd is not None
    assert stored.ended_at is not None and stored.log_offset == len(b"".join(log))
    assert stored.log_path == f".clore-job/{job.id}/log"


def test_keep_true_leaves_the_order_running(
    client: CloreAI, task_file: Path, journal: JobJournal, clock: FakeClock, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    task = Task.from_file(task_file)
    task = Task(**{**task.__dict__, "keep": True})
    job = run(client, task, journal, clock, LocalContainers(tmp_path / "servers"))
    assert job.state == "done" and job.billing is True
    assert job.order_id in live_order_ids(client)


def test_a_failing_command_is_reported_and_still_cleaned_up(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    task = Task(
        run="echo partial > part.txt; echo oops >&2; exit 3", image="ubuntu", resources=Resources(max_price=5)
    )
    task = Task(
        **{
            **task.__dict__,
            "outputs": Task.from_mapping(
                {"resources": {"max_price": 5}, "image": "x", "run": "y", "outputs": ["part.txt"]}
            ).outputs,
        }
    )
    log: list[bytes] = []
    job = run(client, task, journal, clock, LocalContainers(tmp_path / "servers"), on_log=log.append)
    assert job.state == "failed" and job.exit_code == 3 and job.billing is False
    assert b"oops" in b"".join(log)
    assert (tmp_path / "part.txt").read_text() == "partial\n"


def test_setup_failure_skips_run(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo ran", setup="exit 4", image="ubuntu", resources=Resources(max_price=5))
    log: list[bytes] = []
    job = run(client, task, journal, clock, LocalContainers(tmp_path / "servers"), on_log=log.append)
    assert job.exit_code == 4 and b"setup failed with exit code 4; run skipped" in b"".join(log)
    assert b"ran" not in b"".join(log)


def test_a_connection_lost_while_starting_starts_the_job_exactly_once(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo ran >> runs.txt; echo ran", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    launches: list[str] = []

    def drop_the_first_launch(command: str) -> None:
        if "launch.sh" in command and "nohup" in command:
            launches.append(command)
            if len(launches) == 1:
                raise ConnectionError("connection reset by peer")

    containers.on_exec = drop_the_first_launch
    log: list[bytes] = []
    job = run(client, task, journal, clock, containers, on_log=log.append)
    assert job.state == "done" and len(launches) == 2
    assert b"".join(log) == b"ran\n"  # the second try launched it, once


def test_a_second_start_after_a_launch_that_happened_does_not_launch_again(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo ran", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    starts: list[str] = []

    def record(command: str) -> None:
        if "launch.sh" in command and "nohup" in command:
            starts.append(command)

    containers.on_exec = record
    job = run(client, task, journal, clock, containers)
    assert job.state == "done" and len(starts) == 1
    (order_dir,) = (tmp_path / "servers").iterdir()
    (job_dir,) = [p for p in order_dir.rglob("started") if p.is_dir()]
    remote = containers(
        type("O", (), {"id": job.order_id, "ssh_host": "h", "ssh_port": 22})(), containers.auths[0]
    )
    before = (job_dir.parent / "pid").read_text()
    assert remote.exec(starts[0]) == 0  # the same start line again: the guard skips the launch
    assert (job_dir.parent / "pid").read_text() == before


def test_a_lost_connection_loses_no_output(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(
        run="for i in 1 2 3 4 5; do echo line $i; done", image="ubuntu", resources=Resources(max_price=5)
    )
    containers = LocalContainers(tmp_path / "servers")
    containers.drop_after = 9  # an exec while following the log
    log: list[bytes] = []
    notes: list[str] = []
    job = run(client, task, journal, clock, containers, on_log=log.append, on_progress=notes.append)
    assert job.state == "done"
    assert b"".join(log) == b"".join(f"line {i}\n".encode() for i in range(1, 6))
    assert any("reconnecting" in n for n in notes) and "reconnected" in notes


# ── failures before anything ran ───────────────────────────────────────────


def test_a_taken_offer_falls_back_to_the_next_under_the_cap_with_one_order(
    client: CloreAI, sandbox: Sandbox, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="true", image="ubuntu", resources=Resources(max_price=5))
    offer = find_offer(client, task.resources)
    sandbox.take_server(offer.server_id, when_ordered=True)  # another renter wins the race
    before = live_order_ids(client)
    job = run(client, task, journal, clock, LocalContainers(tmp_path / "servers"), offer=offer)
    new = live_order_ids(client) - before
    assert job.state == "done" and job.server_id != offer.server_id
    assert len(new) <= 1 and job.order_id not in before  # one order, cancelled at the end (keep: false)


def test_a_refused_rental_leaves_no_order(
    client: CloreAI, sandbox: Sandbox, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    probe = find_offer(client, Resources(max_price=5))
    task = Task(run="true", image="ubuntu", resources=Resources(query=f"id={probe.server_id}", max_price=5))
    sandbox.take_server(probe.server_id, when_ordered=True)  # the only match is taken at create_order
    before = live_order_ids(client)
    with pytest.raises(JobError, match="renting failed") as caught:
        run(client, task, journal, clock, LocalContainers(tmp_path / "servers"))
    assert live_order_ids(client) == before
    assert caught.value.job.state == "failed" and caught.value.job.billing is False
    assert journal.find(caught.value.job.id) == caught.value.job


def test_while_renting_the_journal_says_billing_is_unknown(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    """A `clore run` killed (SIGKILL, a closed pipe) after create_order was sent leaves its
    entry as it was while renting: that entry must not say "not billing"."""
    from clore_ai.jobs import rent_for_job

    seen: list[Any] = []

    def rent(*args: Any, **kwargs: Any) -> Any:
        [entry] = journal.all()
        seen.append((entry.state, entry.billing))
        return rent_for_job(*args, **kwargs)

    task = Task(run="true", image="ubuntu", resources=Resources(max_price=5))
    job = run(client, task, journal, clock, LocalContainers(tmp_path / "servers"), rent=rent)
    assert seen == [("renting", None)]
    assert job.state == "done" and job.billing is False


def test_nothing_under_the_price_cap_rents_nothing(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="true", image="ubuntu", resources=Resources(max_price=0.0001))
    before = live_order_ids(client)
    with pytest.raises(JobError, match=r"can be rented in usd under the cap \(\$0.0001/h"):
        run(client, task, journal, clock, LocalContainers(tmp_path / "servers"))
    assert live_order_ids(client) == before


def test_ssh_that_never_answers_cancels_the_order(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="true", image="ubuntu", resources=Resources(max_price=5))
    before = live_order_ids(client)
    with pytest.raises(JobError, match=r"no SSH connection .* was cancelled") as caught:
        run(
            client,
            task,
            journal,
            clock,
            LocalContainers(tmp_path / "servers", refuse_first=10**6),
            wait_timeout=60,
        )
    assert live_order_ids(client) == before
    assert caught.value.job.billing is False and caught.value.job.state == "failed"


# ── detach, re-attach, cancel ──────────────────────────────────────────────


def interrupt_once_running(containers: LocalContainers) -> None:
    def hook(command: str) -> None:
        if "tail -c" in command:
            containers.on_exec = None
            raise KeyboardInterrupt

    containers.on_exec = hook


def test_ctrl_c_detaches_billing_then_logs_reattach_and_cancel_stops_it(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo first; echo second", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    interrupt_once_running(containers)
    with pytest.raises(JobInterrupted) as caught:
        run(client, task, journal, clock, containers)
    job = caught.value.job
    assert job.state == "detached" and job.billing is True and job.order_id in live_order_ids(client)
    assert journal.find(job.id) == job

    log: list[bytes] = []
    seen = follow_job(
        client,
        job.id,
        journal=journal,
        follow=True,
        ssh_password=PASSWORD,
        on_log=log.append,
        remote_factory=containers,
        sleep=clock.sleep,
        clock=clock,
    )
    assert b"".join(log) == b"first\nsecond\n" and seen.exit_code == 0 and seen.billing is True

    cancelled = cancel_job(client, job.id, journal=journal)
    assert cancelled.state == "cancelled" and cancelled.billing is False
    assert job.order_id not in live_order_ids(client)


def test_logs_needs_a_password_it_was_never_told(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo hi", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    interrupt_once_running(containers)
    with pytest.raises(JobInterrupted) as caught:
        run(client, task, journal, clock, containers, ssh_password=None)  # generated, no keyring here
    assert caught.value.job.ssh_auth == "generated, not kept"
    with pytest.raises(JobError, match="set CLORE_SSH_PASSWORD before `clore run`"):
        follow_job(client, caught.value.job.id, journal=journal, remote_factory=containers)


def test_an_order_cancelled_elsewhere_stops_billing_in_the_journal(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo hi", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    interrupt_once_running(containers)
    with pytest.raises(JobInterrupted) as caught:
        run(client, task, journal, clock, containers)
    assert caught.value.job.order_id is not None
    client.cancel_order(caught.value.job.order_id)
    [record] = refresh_jobs(client, journal)
    assert record.billing is False and record.state == "cancelled"


# ── secrets ────────────────────────────────────────────────────────────────


def test_no_password_reaches_the_journal(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo hi", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    run(client, task, journal, clock, containers, ssh_password=None)
    run(client, task, journal, clock, containers)
    generated = containers.auths[0].password
    assert generated and len(generated) == 24 and generated.isalnum()
    text = journal.path.read_text()
    assert generated not in text and PASSWORD not in text and "password" not in text.lower()
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    assert PASSWORD not in repr(containers.auths[-1])


def test_the_journal_is_shared_and_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text("{not json")
    first, second = JobJournal(path), JobJournal(path)
    assert first.all() == []
    from clore_ai.jobs import JobRecord

    first.add(JobRecord(id="a-1", name="a", started_at=1))
    second.add(JobRecord(id="b-2", name="b", started_at=2, order_id=77))
    assert [r.id for r in first.all()] == ["a-1", "b-2"]
    assert first.find("b") is not None and first.find("77") is not None and first.find("zzz") is None
    assert isinstance(Offer(1, None, "USD-Blockchain", 1.0, None).usd_per_day, type(None))


def test_logs_of_a_job_whose_order_ended_says_the_log_is_gone(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    task = Task(run="echo hi", image="ubuntu", resources=Resources(max_price=5))
    containers = LocalContainers(tmp_path / "servers")
    job = run(client, task, journal, clock, containers)
    with pytest.raises(JobError, match=r"has ended; its container and log are gone"):
        follow_job(client, job.id, journal=journal, ssh_password=PASSWORD, remote_factory=containers)
    with pytest.raises(LookupError, match="no job 'nothing-here'"):
        follow_job(client, "nothing-here", journal=journal)


def test_a_failed_job_error_carries_no_password_in_its_frames(
    client: CloreAI, journal: JobJournal, clock: FakeClock, tmp_path: Path
) -> None:
    import traceback

    task = Task(run="true", image="ubuntu", resources=Resources(max_price=5), env={"TOKEN": "tok-SECRET-1"})
    offer = find_offer(client, task.resources)
    client.create_order(server_id=offer.server_id, image="ubuntu", type="on-demand", currency=offer.currency)
    for kind, kwargs in (("refused", {"offer": offer}), ("no ssh", {"wait_timeout": 10})):
        containers = LocalContainers(tmp_path / kind, refuse_first=10**6)
        with pytest.raises(JobError) as caught:
            run(client, task, journal, clock, containers, **kwargs)
        error = caught.value
        assert error.__context__ is None and error.__cause__ is None
        sdk_frames = [
            f for f, _ in traceback.walk_tb(error.__traceback__) if "clore_ai" in f.f_code.co_filename
        ]
        assert sdk_frames
        for frame in sdk_frames:
            shown = repr(frame.f_locals)
            assert PASSWORD not in shown and "tok-SECRET-1" not in shown, (kind, frame.f_code.co_name)


def test_a_prefix_of_several_jobs_says_so_rather_than_no_job(tmp_path: Path) -> None:
    from clore_ai.jobs import JobRecord

    journal = JobJournal(tmp_path / "jobs.json")
    for job_id in ("count-412c83", "count-946681", "hello-45f6e8"):
        journal.add(JobRecord(id=job_id, name=job_id.split("-")[0]))
    assert journal.lookup("count-9").id == "count-946681"
    with pytest.raises(LookupError, match=r"'count' matches 2 jobs \(count-412c83, count-946681\)"):
        journal.lookup("count")
    with pytest.raises(LookupError, match="no job 'nope' in the journal"):
        journal.lookup("nope")


def test_the_usd_cost_of_a_usd_order_is_its_spend_without_float_noise() -> None:
    from clore_ai.jobs._lifecycle import usd_of_cost

    assert usd_of_cost(5.361e-05, 0.72, 0.03) == 5.361e-05  # was 5.3610000000000003e-05
    assert usd_of_cost(0.5, 2.0, 0.25) == 1.5  # 0.5 coin at 3 USD per coin


@pytest.mark.parametrize(
    ("ssh_auth", "says"),
    [
        (
            "env CLORE_SSH_PASSWORD",
            "set CLORE_SSH_PASSWORD again (or give --password-file FILE) to read its log",
        ),
        (
            "env MY_JOB_PW",
            "started with the password in MY_JOB_PW, which is not set now; set MY_JOB_PW again",
        ),
        ("keyring", "kept in the OS keyring, which does not have it now"),
        ("generated, not kept", "generated for the job and not kept (no OS keyring)"),
        ("key /nowhere/id_ed25519", "started with the key /nowhere/id_ed25519, which is not there now"),
        ("given by the caller", "give the same one with CLORE_SSH_PASSWORD or --password-file FILE"),
    ],
)
def test_a_job_without_a_login_says_why_by_where_its_login_came_from(
    client: CloreAI,
    journal: JobJournal,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ssh_auth: str,
    says: str,
) -> None:
    """``logs`` of a job run with CLORE_SSH_PASSWORD, without it now, said the password was
    generated and not kept (the only reason it knew)."""
    from clore_ai.jobs import _remote

    monkeypatch.setattr(_remote, "_keyring_get", lambda job_id: None)  # no keyring, or not there
    containers = LocalContainers(tmp_path / "servers")
    task = Task(run="echo hi", image="ubuntu", resources=Resources(max_price=5), keep=True)
    job = run(client, task, journal, clock, containers)
    journal.update(job.id, ssh_auth=ssh_auth)
    connections = containers.connections
    with pytest.raises(JobError) as caught:
        follow_job(client, job.id, journal=journal, remote_factory=containers)
    message = str(caught.value)
    assert says in message and "\n" not in message, message
    kinds = ["password in", "OS keyring, which", "and not kept", "the key", "given to it"]
    assert sum(kind in message for kind in kinds) == 1, message  # one reason: its own
    assert containers.connections == connections  # no login was tried
