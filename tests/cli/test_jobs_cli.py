"""`clore run`, `clore jobs`, `clore logs` on the sandbox, as a user types them.

The servers' SSH side is tests/fake_remote.py (a local directory and ``sh``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clore_cli.commands import jobs as jobs_cli
from clore_cli.testing import run_clore

from ..fake_remote import LocalContainers

PASSWORD = "CliJobPw12345"

TASK = """
name: shout
resources: {query: "gpus>=1", max_price: 5, currency: usd}
image: cloreai/ubuntu22.04-cuda12
workdir: project
run: |
  mkdir -p out && tr a-z A-Z < input.txt > out/result.txt && echo done-here
outputs: [out/result.txt]
"""


@pytest.fixture
def containers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalContainers:
    made = LocalContainers(tmp_path / "servers")
    monkeypatch.setattr(jobs_cli, "REMOTE_FACTORY", made)
    monkeypatch.setenv("CLORE_SANDBOX_DEPLOY_SECONDS", "0")
    return made


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    place = tmp_path / "work"
    (place / "project").mkdir(parents=True)
    (place / "project" / "input.txt").write_text("quiet words\n")
    (place / "task.yaml").write_text(TASK)
    monkeypatch.chdir(place)
    return place


def clore(home: Path, *args: str) -> Any:
    return run_clore(["--sandbox", *args], home=home)


def live_orders(home: Path) -> list[int]:
    result = clore(home, "orders", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return [row["id"] for row in result.json()]


def test_run_rents_runs_downloads_cancels_and_reports_cost(
    tmp_path: Path, workspace: Path, containers: LocalContainers
) -> None:
    home = tmp_path / "home"
    before = live_orders(home)
    result = clore(home, "run", "task.yaml", "--yes")
    assert result.exit_code == 0, result.stderr
    assert (workspace / "result.txt").read_text() == "QUIET WORDS\n"
    assert "done-here" in result.stdout
    assert "Price:" in result.stderr and "/h" in result.stderr and "/day" in result.stderr
    assert "done in" in result.stderr and "cost" in result.stderr and "cancelled" in result.stderr
    assert live_orders(home) == before

    listed = clore(home, "jobs", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    [job] = listed.json()
    assert job["state"] == "done" and job["billing"] is False and job["exit_code"] == 0
    assert job["cost_usd"] is not None and job["name"] == "shout"
    table = clore(home, "jobs")
    assert job["id"] in table.stdout and "done" in table.stdout
    # run cancelled the order: not "expired" (the API marks every stopped order `expired`)
    completed = clore(home, "orders", "--completed", "-o", "json")
    assert [o["status"] for o in completed.json() if o["id"] == job["order_id"]] == ["ended"]


def test_json_output_keeps_stdout_clean(tmp_path: Path, workspace: Path, containers: LocalContainers) -> None:
    result = clore(tmp_path / "home", "run", "task.yaml", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [record] = result.json()
    assert record["state"] == "done" and "done-here" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bad.yaml", "--yes"], "bad.yaml: resources.max_price must be a number > 0"),
        (["--run", "true", "--image", "ubuntu", "--yes"], "--max-price is required"),
        (["--run", "true", "--max-price", "1", "--yes"], "--image is required"),
        (["--image", "ubuntu", "--max-price", "1", "--yes"], "--run is required"),
        (["--run", "x", "--image", "ubuntu", "--max-price", "1", "--query", "gpu>>1", "--yes"], "--query"),
        (["task.yaml"], "refusing to spend money without a terminal"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_rents_nothing(
    tmp_path: Path, workspace: Path, containers: LocalContainers, args: list[str], says: str
) -> None:
    (workspace / "bad.yaml").write_text("resources: {max_price: free}\nimage: x\nrun: y\n")
    home = tmp_path / "home"
    before = live_orders(home)
    result = clore(home, "run", *args)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert live_orders(home) == before and containers.connections == 0


def test_dry_run_shows_the_offer_and_rents_nothing(
    tmp_path: Path, workspace: Path, containers: LocalContainers
) -> None:
    home = tmp_path / "home"
    before = live_orders(home)
    result = clore(home, "run", "task.yaml", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    [plan] = result.json()
    assert plan["usd_per_hour"] <= 5 and plan["server_id"] > 0
    assert "dry run: nothing was rented" in result.stderr
    assert live_orders(home) == before


def test_a_failing_command_exits_9_with_its_code(
    tmp_path: Path, workspace: Path, containers: LocalContainers
) -> None:
    result = clore(
        tmp_path / "home", "run", "--image", "ubuntu", "--max-price", "5", "--run", "exit 5", "--yes"
    )
    assert result.exit_code == 10, result.stderr
    assert "exited with code 5" in result.stderr
    assert "clore logs" not in result.stderr  # the order is cancelled: `clore logs` could not read it


def test_no_terminal_ctrl_c_detaches_then_logs_reattach(
    tmp_path: Path, workspace: Path, containers: LocalContainers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLORE_SSH_PASSWORD", PASSWORD)

    def interrupt(command: str) -> None:
        if "tail -c" in command:
            containers.on_exec = None
            raise KeyboardInterrupt

    containers.on_exec = interrupt
    home = tmp_path / "home"
    result = clore(
        home, "run", "--image", "ubuntu", "--max-price", "5", "--run", "echo one; echo two", "--yes"
    )
    assert result.exit_code == 7, result.stderr
    assert "AND BILLING" in result.stderr and "no terminal to ask on: detached" in result.stderr
    [job] = clore(home, "jobs", "-o", "json").json()
    assert job["state"] == "detached" and job["billing"] is True and job["order_id"] in live_orders(home)
    assert (
        f"clore logs {job['id']} -f" in result.stderr and f"clore cancel {job['order_id']}" in result.stderr
    )

    logs = clore(home, "logs", job["id"], "-f")
    assert logs.exit_code == 0, logs.stderr
    assert logs.stdout == "one\ntwo\n"
    assert f"still billing: stop it with `clore cancel {job['order_id']}`" in logs.stderr

    journal_text = (home / "data" / "clore" / "jobs-sandbox.json").read_text()
    assert PASSWORD not in journal_text
    assert all(a.password == PASSWORD for a in containers.auths)

    assert clore(home, "cancel", str(job["order_id"]), "--yes").exit_code == 0
    [after] = clore(home, "jobs", "-o", "json").json()
    assert after["billing"] is False and after["state"] == "cancelled"


def test_logs_of_an_unknown_job_is_exit_2(tmp_path: Path, containers: LocalContainers) -> None:
    result = clore(tmp_path / "home", "logs", "nope")
    assert result.exit_code == 2 and "no job 'nope' in the sandbox journal" in result.stderr
    assert "`clore --sandbox jobs` lists them" in result.stderr
    assert result.stderr.count("(see:") == 1, result.stderr


def test_logs_of_a_job_run_with_clore_ssh_password_asks_for_that_password_again(
    tmp_path: Path, containers: LocalContainers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without CLORE_SSH_PASSWORD now, `logs` said the password was generated and not kept."""
    monkeypatch.setenv("CLORE_SSH_PASSWORD", PASSWORD)
    home = tmp_path / "home"
    ran = clore(
        home, "run", "--image", "ubuntu", "--max-price", "5", "--run", "echo kept-log", "--keep", "--yes"
    )
    assert ran.exit_code == 0, ran.stderr
    [job] = clore(home, "jobs", "-o", "json").json()
    monkeypatch.delenv("CLORE_SSH_PASSWORD")
    logs = clore(home, "logs", job["id"])
    assert logs.exit_code != 0 and logs.stdout == "" and logs.stderr.count("\n") == 1, logs.stderr
    assert logs.stderr.startswith(
        f"error: no ssh password for job {job['id']}: it was started with the password"
    )
    assert "set CLORE_SSH_PASSWORD again (or give --password-file FILE)" in logs.stderr
    assert "not kept" not in logs.stderr and "keyring" not in logs.stderr
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    again = clore(home, "logs", job["id"], "--password-file", str(secret))
    assert again.exit_code == 0 and again.stdout == "kept-log\n", again.stderr
    assert clore(home, "cancel", str(job["order_id"]), "--yes").exit_code == 0


def test_logs_with_a_wrong_password_says_so_at_once(
    tmp_path: Path, containers: LocalContainers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused login was retried like a lost connection for 5 minutes, then "unexpected"."""
    monkeypatch.setenv("CLORE_SSH_PASSWORD", PASSWORD)
    home = tmp_path / "home"
    ran = clore(home, "run", "--image", "ubuntu", "--max-price", "5", "--run", "echo kept", "--keep", "--yes")
    assert ran.exit_code == 0, ran.stderr
    [job] = clore(home, "jobs", "-o", "json").json()
    containers.password = PASSWORD
    wrong = tmp_path / "pw"
    wrong.write_text("not-the-password\n")
    logs = clore(home, "logs", job["id"], "--password-file", str(wrong))
    assert logs.exit_code == 1 and logs.stdout == "", logs.stderr
    assert "refused the login: the password did not work" in logs.stderr
    assert "--password-file FILE, --ask-password or $CLORE_SSH_PASSWORD" in logs.stderr
    assert "reconnecting" not in logs.stderr and "unexpected" not in logs.stderr
    assert "not-the-password" not in logs.stderr
    assert clore(home, "cancel", str(job["order_id"]), "--yes").exit_code == 0


def test_logs_of_a_prefix_of_several_jobs_names_them(tmp_path: Path, containers: LocalContainers) -> None:
    """`clore logs count` with two runs of `count` said there was no job 'count'."""
    from clore_ai.jobs import JobJournal, JobRecord, default_journal_path
    from clore_cli.testing import isolated_home

    home = tmp_path / "home"
    with isolated_home(home):
        journal = JobJournal(default_journal_path(sandbox=True))
        for started, job_id in enumerate(("count-3ddcf2", "count-3755d3"), start=1):
            journal.add(JobRecord(id=job_id, name="count", started_at=started))
        JobJournal(default_journal_path()).add(JobRecord(id="live-1", name="live"))
        JobJournal(default_journal_path()).add(JobRecord(id="live-2", name="live"))
    result = clore(home, "logs", "count")
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "'count' matches 2 jobs (count-3ddcf2, count-3755d3); give more of the id" in result.stderr
    assert "no job" not in result.stderr and containers.connections == 0
    live = run_clore(["logs", "count"], home=home)  # several in the other journal: say where they are
    assert live.exit_code == 2 and "job 'count' is in the sandbox journal" in live.stderr
    assert "'live' matches 2 jobs" in run_clore(["logs", "live"], home=home).stderr


def test_logs_of_a_sandbox_job_without_sandbox_says_where_it_is(tmp_path: Path) -> None:
    from clore_ai.jobs import JobJournal, JobRecord, default_journal_path
    from clore_cli.testing import isolated_home

    home = tmp_path / "home"
    with isolated_home(home):
        JobJournal(default_journal_path(sandbox=True)).add(JobRecord(id="hello-1234", name="hello"))
    result = run_clore(["logs", "hello-1234"], home=home)
    assert result.exit_code == 2
    assert "job 'hello-1234' is in the sandbox journal, not the live one: run this with --sandbox" in (
        result.stderr
    )


def test_detaching_a_job_whose_password_was_not_kept_does_not_promise_a_reattach(
    tmp_path: Path, workspace: Path, containers: LocalContainers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai.jobs import _remote

    monkeypatch.delenv("CLORE_SSH_PASSWORD", raising=False)
    monkeypatch.setattr(_remote, "_keyring_put", lambda job_id, secret: False)  # no OS keyring

    def interrupt(command: str) -> None:
        if "tail -c" in command:
            containers.on_exec = None
            raise KeyboardInterrupt

    containers.on_exec = interrupt
    home = tmp_path / "home"
    result = clore(home, "run", "--image", "ubuntu", "--max-price", "5", "--run", "echo one", "--yes")
    assert result.exit_code == 7, result.stderr
    [job] = clore(home, "jobs", "-o", "json").json()
    assert "clore logs" not in result.stderr  # `clore logs` could not log in: no password anywhere
    assert "cannot be re-attached" in result.stderr and "CLORE_SSH_PASSWORD" in result.stderr
    assert f"clore cancel {job['order_id']}" in result.stderr
    logs = clore(home, "logs", job["id"])
    assert logs.exit_code != 0 and f"stop it with `clore cancel {job['order_id']}`" in logs.stderr
    assert clore(home, "cancel", str(job["order_id"]), "--yes").exit_code == 0


def test_jobs_table_on_an_80_column_terminal_cuts_no_id_or_amount(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from clore_ai.jobs import JobRecord
    from clore_cli.formats import TableFormat

    monkeypatch.setenv("COLUMNS", "80")
    records = [
        JobRecord(
            id="hello-45f6e8",
            name="hello",
            state="done",
            started_at=1_795_562_946.0,
            ended_at=1_795_562_955.0,
            order_id=1000,
            server_id=123,
            exit_code=0,
            cost_usd=0.000078,
            usd_per_hour=0.03,
        ),
        JobRecord(
            id="count-412c83",
            name="count",
            state="detached",
            started_at=1_795_563_075.0,
            order_id=1002,
            server_id=3484,
            cost_usd=0.0011,
            usd_per_hour=0.0425,
            billing=True,
        ),
    ]
    rows = [jobs_cli.job_row(r) for r in records]
    rows[1]["cost_usd"] = 0.001101  # a billing job's cost grows with the clock
    for width in (80, None):
        table = jobs_cli.Dataset("Jobs", jobs_cli.job_columns(width), rows)
        shown = TableFormat().render(table, color=width is not None)  # None: not a terminal
        text = re.sub(r"\x1b\[[0-9;]*m", "", shown)
        assert max(len(line) for line in text.splitlines()) <= (80 if width else 200)
        for whole in (
            "hello-45f6e8",
            "count-412c83",
            " 1000 ",
            " 1002 ",
            "$0.000078",
            "$0.001101",
            "detached",
        ):
            assert whole in text, (whole, text)
