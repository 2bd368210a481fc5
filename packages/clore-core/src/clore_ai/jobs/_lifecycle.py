"""A job's life: rent → wait for the container and its SSH → upload → run detached → follow
the log → download outputs → cancel (unless kept), every step written to the journal.

The job's commands run on the server under ``nohup`` with their output in a log file there
(``~/.clore-job/ID/log``) and their exit status in ``exit-code``, so a lost connection or a
detached ``clore run`` loses nothing: the log is read again from the offset last shown.
"""

from __future__ import annotations

import re
import secrets
import shlex
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

from ..exceptions import RemoteLoginRefused
from ._journal import JobJournal, JobRecord
from ._remote import (
    RemoteFactory,
    RemoteLike,
    SSHAuth,
    auth_for_attach,
    auth_for_new_job,
    forget_password,
    no_login_reason,
    remote_errors,
    ssh_remote,
)
from ._rent import Offer, Renter, rent_for_job
from ._task import Task

if TYPE_CHECKING:
    from .._client import CloreAI
    from ..models import Order

__all__ = ["JobError", "JobInterrupted", "cancel_job", "follow_job", "refresh_jobs", "run_job"]

Progress = Callable[[str], None]
LogSink = Callable[[bytes], None]
LOG_CHUNK = 1 << 20  # at most this many log bytes per read


class JobError(Exception):
    """A job could not go on; ``job`` is its journal entry (``job.billing`` says whether the
    order still charges you)."""

    def __init__(self, message: str, job: JobRecord) -> None:
        super().__init__(message)
        self.job = job


def _login_refused(error: BaseException) -> RemoteLoginRefused | None:
    """The refused login behind ``error`` (itself, or what made :meth:`connect` give up)."""
    for found in (error, error.__cause__):
        if isinstance(found, RemoteLoginRefused):
            return found
    return None


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a job. The journal says ``detached`` and billing once an
    order exists: decide with :func:`cancel_job`, or leave it running and re-attach later."""

    def __init__(self, job: JobRecord) -> None:
        super().__init__(f"job {job.id} interrupted")
        self.job = job


def _quiet(_: Any) -> None:
    return None


class _Job:
    """The steps of one job; shared by :func:`run_job`, :func:`follow_job` and :func:`cancel_job`."""

    def __init__(
        self,
        client: CloreAI,
        journal: JobJournal,
        record: JobRecord,
        *,
        remote_factory: RemoteFactory | None,
        on_progress: Progress | None,
        on_log: LogSink | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        poll_interval: float,
        wait_timeout: float,
        reconnect_timeout: float,
    ) -> None:
        self.client = client
        self.journal = journal
        self.record = record
        self.remote_factory = remote_factory or ssh_remote
        self.progress = on_progress or _quiet
        self.log = on_log or _quiet
        self.sleep = sleep
        self.clock = clock
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.reconnect_timeout = reconnect_timeout
        self.errors = remote_errors()
        self.connect_errors: tuple[type[Exception], ...] = (
            *self.errors,
            ValueError,
        )  # ValueError: the order has no SSH port yet
        self.follow_errors: tuple[type[Exception], ...] = (
            *self.errors,
            RuntimeError,
        )  # RuntimeError: no connection this time

    def save(self, **changes: Any) -> JobRecord:
        self.record = self.journal.update(self.record.id, **changes)
        return self.record

    # ── the order ────────────────────────────────────────────────────────────

    def find_order(self, include_completed: bool = False) -> Order | None:
        return next(
            (
                o
                for o in self.client.my_orders(include_completed=include_completed)
                if o.id == self.record.order_id
            ),
            None,
        )

    def wait_running(self) -> Order:
        deadline = self.clock() + self.wait_timeout
        self.progress(f"waiting for order {self.record.order_id} to start…")
        while True:
            order = self.find_order(include_completed=True)
            if order is not None and order.status == "running":
                return order
            if order is None or order.expired:
                raise RuntimeError(f"order {self.record.order_id} ended before its container started")
            if self.clock() >= deadline:
                status = order.status or "starting"
                raise RuntimeError(
                    f"order {self.record.order_id} is still {status} after {self.wait_timeout:g} s"
                )
            self.sleep(self.poll_interval)

    def connect(self, order: Order, auth: SSHAuth, *, patience: float) -> RemoteLike:
        """A connection that answers a command; retried until ``patience`` seconds have passed."""
        deadline = self.clock() + patience
        while True:
            remote: RemoteLike | None = None
            failure: Exception | None = None
            try:
                remote = self.remote_factory(order, auth)
                if remote.exec("true", timeout=30) == 0:
                    return remote
            except self.connect_errors as error:
                failure, reason = error, str(error) or type(error).__name__
            else:
                reason = "the test command failed"
            if remote is not None:
                _close(remote)
            if self.clock() >= deadline:
                raise RuntimeError(
                    f"no SSH connection to order {self.record.order_id}: {reason}"
                ) from failure
            self.sleep(self.poll_interval)

    def cancel(self) -> None:
        if self.record.order_id is None:
            return
        self.client.cancel_order(self.record.order_id)
        self.save(billing=False)
        self.record_cost()

    def record_cost(self) -> None:
        order = self.find_order(include_completed=True)
        ended = time.time()
        cost = order.spend if order is not None else None
        price, usd_hour = self.record.price_per_day, self.record.usd_per_hour
        if cost is not None and price and usd_hour is not None:
            cost_usd: float | None = usd_of_cost(cost, price, usd_hour)
        else:
            cost_usd = usd_hour * (ended - self.record.started_at) / 3600 if usd_hour is not None else None
        self.save(cost=cost, cost_usd=_without_float_noise(cost_usd), ended_at=ended)

    # ── on the server ────────────────────────────────────────────────────────

    def run_quietly(self, remote: RemoteLike, command: str, *, stdin: bytes | None = None) -> str:
        out, err = bytearray(), bytearray()
        code = remote.exec(command, stdout=out.extend, stderr=err.extend, stdin=stdin, timeout=120)
        if code != 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {code}"]
            raise RuntimeError(f"on the server: {detail[0]}")
        return out.decode("utf-8", "replace")

    def upload(self, remote: RemoteLike, task: Task) -> None:
        where = shlex.quote(self.record.remote_dir or "")
        self.run_quietly(remote, f"mkdir -p {where}")
        scripts = {"job.sh": job_script(task), "run.sh": task.run, "launch.sh": LAUNCHER}
        if task.setup:
            scripts["setup.sh"] = task.setup
        for name, text in scripts.items():
            self.run_quietly(remote, f"cat > {where}/{name}", stdin=text.encode("utf-8"))
        if task.workdir is not None:
            self.progress(f"uploading {task.workdir}…")
            remote.upload(task.workdir, f"{self.record.remote_dir}/work")
        self.run_quietly(remote, f"mkdir -p {where}/work")

    def start(self, remote: RemoteLike) -> None:
        """Launch the job detached. The ``started`` directory (made atomically first) lets a
        second try after a dropped connection skip a launch that already happened."""
        where = shlex.quote(self.record.remote_dir or "")
        self.run_quietly(
            remote,
            f"cd {where} && if mkdir started 2>/dev/null; then S=$(command -v setsid || true); "
            "$S nohup sh launch.sh </dev/null >/dev/null 2>&1 & echo $! > pid; fi",
        )

    def read_log(self, remote: RemoteLike, offset: int) -> tuple[bytes, int | None]:
        """New log bytes from ``offset``, and the exit code once the job has ended (read
        before the log, so a known exit code means the log is complete)."""
        out, err = bytearray(), bytearray()
        where = shlex.quote(self.record.remote_dir or "")
        remote.exec(
            f"cd {where} && {{ cat exit-code >&2 2>/dev/null; "
            f"tail -c +{offset + 1} log 2>/dev/null | head -c {LOG_CHUNK}; }}",
            stdout=out.extend,
            stderr=err.extend,
            timeout=60,
        )
        text = err.decode("ascii", "replace").strip()
        return bytes(out), int(text) if re.fullmatch(r"-?\d+", text) else None

    def follow(
        self, order: Order, auth: SSHAuth, *, offset: int, until_end: bool = True, record_offset: bool = True
    ) -> int | None:
        """Show the log from ``offset``; with ``until_end`` until the job ends (reconnecting
        as needed). Returns the job's exit code, None if it has not ended. The offset lives
        here, not in the journal, so another viewer (``clore logs``) never moves it; with
        ``record_offset`` it is written to the journal as what this job has shown."""
        remote: RemoteLike | None = None
        lost_since: float | None = None
        try:
            while True:
                try:
                    if remote is None:
                        remote = self.connect(order, auth, patience=0)
                    chunk, code = self.read_log(remote, offset)
                except self.follow_errors as error:
                    if remote is not None:
                        _close(remote)
                        remote = None
                    refused = _login_refused(error)
                    if refused is not None:  # the same password again cannot help: say so now
                        raise JobError(
                            f"job {self.record.id}: {refused}; the credentials given cannot log in",
                            self.record,
                        ) from refused
                    now = self.clock()
                    if lost_since is None:
                        lost_since = now
                        self.progress(f"connection lost ({error}); reconnecting…")
                    if now - lost_since > self.reconnect_timeout:
                        raise
                    self.sleep(self.poll_interval)
                    continue
                if lost_since is not None:
                    self.progress("reconnected")
                    lost_since = None
                if chunk:
                    self.log(chunk)
                    offset += len(chunk)
                    if record_offset:
                        self.save(log_offset=offset)
                if code is not None and len(chunk) < LOG_CHUNK:
                    self.save(exit_code=code)
                    return code
                if not until_end and len(chunk) < LOG_CHUNK:
                    return None
                if len(chunk) < LOG_CHUNK:
                    self.sleep(self.poll_interval)
        finally:
            if remote is not None:
                _close(remote)

    def download(self, remote: RemoteLike, task: Task) -> list[str]:
        work = f"{self.record.remote_dir}/work"
        got: list[str] = []
        for output in task.outputs:
            listing = self.run_quietly(
                remote,
                f"cd {shlex.quote(work)} && for p in {glob_words(output.remote)}; do "
                '[ -e "$p" ] && printf \'%s\\n\' "$p"; done; true',
            )
            matches = [line for line in listing.splitlines() if line]
            if not matches:
                self.progress(f"output {output.remote}: nothing there on the server")
                continue
            output.local.mkdir(parents=True, exist_ok=True)
            for match in matches:
                source = match if match.startswith("/") else f"{work}/{match}"
                target = output.local / PurePosixPath(match).name
                self.progress(f"downloading {match} → {target}")
                remote.download(source, target)
                got.append(str(target))
        return got


def _close(remote: RemoteLike) -> None:
    try:
        remote.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail too
        pass


LAUNCHER = "sh job.sh > log 2>&1; echo $? > exit-code.part; mv exit-code.part exit-code\n"


def job_script(task: Task) -> str:
    """``setup`` then ``run``, in the uploaded workdir, with the task's environment."""
    lines = ["# written by clore run", 'cd "$(dirname "$0")/work" || exit 1']
    lines += [f"export {name}={shlex.quote(value)}" for name, value in task.env.items()]
    if task.setup:
        lines.append(
            'sh ../setup.sh || { code=$?; echo "clore: setup failed with exit code $code; run skipped"; '
            'exit "$code"; }'
        )
    lines.append("exec sh ../run.sh")
    return "\n".join(lines) + "\n"


def glob_words(pattern: str) -> str:
    """``out/*.txt`` as a shell word whose ``*`` and ``?`` expand and nothing else does."""
    parts = re.split(r"([*?])", pattern)
    return "".join(part if part in ("*", "?") else shlex.quote(part) for part in parts if part)


def new_job_id(name: str) -> str:
    return f"{name[:24]}-{secrets.token_hex(3)}"


def run_job(
    client: CloreAI,
    task: Task,
    *,
    offer: Offer | None = None,
    journal: JobJournal | None = None,
    ssh_password: str | None = None,
    ssh_password_source: str = "given by the caller",
    ssh_key_file: str | Path | None = None,
    on_progress: Progress | None = None,
    on_log: LogSink | None = None,
    on_record: Callable[[JobRecord], None] | None = None,
    rent: Renter = rent_for_job,
    remote_factory: RemoteFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = 2.0,
    wait_timeout: float = 600.0,
    reconnect_timeout: float = 300.0,
) -> JobRecord:
    """Run ``task`` from start to end and return its journal entry (``state`` ``done``, or
    ``failed`` when the job's commands exited non-zero — ``exit_code`` says how).

    ``offer`` is the server to rent (from :func:`find_offer`, shown to the user first);
    without it the best offer now is rented. The ssh password is generated per job unless
    ``ssh_password`` or ``ssh_key_file`` is given; it never reaches the journal. ``on_record``
    is called once the job has its journal entry (before anything is rented).

    Raises :class:`JobInterrupted` on Ctrl-C (the job stays ``detached`` and billing until
    you :func:`cancel_job`) and :class:`JobError` when a step fails (``job.billing`` says
    whether the order was left running: it is cancelled when nothing ran on it yet).
    """
    journal = journal or JobJournal()
    job_id = new_job_id(task.name)
    auth = auth_for_new_job(
        job_id, password=ssh_password, password_source=ssh_password_source, key_file=ssh_key_file
    )
    del ssh_password  # from here on only in ``auth``, whose repr hides it
    record = journal.add(
        JobRecord(
            id=job_id,
            name=task.name,
            started_at=time.time(),
            billing=None,  # unknown until the rental answers: a process killed meanwhile may leave an order
            keep=task.keep,
            ssh_auth=auth.source,
            remote_dir=f".clore-job/{job_id}",
            outputs=[o.remote for o in task.outputs],
        )
    )
    if on_record is not None:
        on_record(record)
    job = _Job(
        client,
        journal,
        record,
        remote_factory=remote_factory,
        on_progress=on_progress,
        on_log=on_log,
        sleep=sleep,
        clock=clock,
        poll_interval=poll_interval,
        wait_timeout=wait_timeout,
        reconnect_timeout=reconnect_timeout,
    )
    _rent(job, task, offer, auth, rent)
    return _run_on_order(job, task, auth)


def _rent(job: _Job, task: Task, offer: Offer | None, auth: SSHAuth, rent: Renter) -> None:
    # Errors are raised outside the except blocks: the JobError carries no __context__ whose
    # traceback holds frames (create_order's) that saw the ssh password.
    failure: BaseException | None = None
    try:
        order, chosen = rent(
            job.client,
            task.resources,
            image=task.image,
            offer=offer,
            ssh_password=auth.password,
            ssh_key=auth.public_key,
        )
    except KeyboardInterrupt:
        forget_password(job.record.id, auth.source)
        job.save(
            state="failed",
            billing=None,
            ended_at=time.time(),
            error="interrupted while renting: an order may exist; check `clore orders`",
        )
        failure = JobInterrupted(job.record)
    except Exception as error:  # noqa: BLE001 - recorded, and raised again as a JobError
        from ..exceptions import OrderOutcomeUnknown

        forget_password(job.record.id, auth.source)
        unknown = isinstance(error, OrderOutcomeUnknown)
        job.save(state="failed", billing=None if unknown else False, ended_at=time.time(), error=str(error))
        failure = JobError(f"renting failed: {error}", job.record)
    if failure is not None:
        raise failure
    job.save(
        state="starting",
        order_id=order.id,
        server_id=chosen.server_id,
        currency=chosen.currency,
        price_per_day=chosen.price_per_day,
        usd_per_hour=chosen.usd_per_hour,
        billing=True,
    )
    job.progress(f"order {order.id} created on server {chosen.server_id}")


def _run_on_order(job: _Job, task: Task, auth: SSHAuth) -> JobRecord:
    started = False
    try:
        order = job.wait_running()
        job.progress("connecting over SSH…")
        remote = job.connect(order, auth, patience=job.wait_timeout)
        try:
            job.save(state="uploading")
            job.upload(remote, task)
            try:
                job.start(remote)
            except job.errors:  # the connection dropped while starting: once more, at most one launch
                _close(remote)
                remote = job.connect(order, auth, patience=job.reconnect_timeout)
                job.start(remote)
            started = True
            job.save(state="running")
            job.progress("running (output follows)")
        finally:
            _close(remote)
        code = job.follow(order, auth, offset=job.record.log_offset)
        job.save(state="downloading")
        with job.connect(order, auth, patience=job.reconnect_timeout) as remote:
            job.download(remote, task)
        if not task.keep:
            job.progress(f"cancelling order {job.record.order_id}")
            job.cancel()
            forget_password(job.record.id, auth.source)
        else:
            job.record_cost()
        return job.save(state="done" if code == 0 else "failed", ended_at=time.time())
    except KeyboardInterrupt:
        job.save(state="detached", billing=True, error="interrupted; the job may still be running")
        failure: BaseException = JobInterrupted(job.record)
    except Exception as error:  # noqa: BLE001 - recorded, and raised again as a JobError
        failure = _failed(job, error, started)
    raise failure  # outside the except blocks: no __context__ with frames that held secrets


def _failed(job: _Job, error: Exception, started: bool) -> JobError:
    """Before the job's commands ran, its order holds nothing of value: cancel it (unless
    kept). After, keep it — the log and the outputs are still there — and say it bills."""
    reason = str(error) or type(error).__name__
    if started or job.record.keep:
        job.save(state="failed", billing=True, ended_at=time.time(), error=reason)
        return JobError(f"{reason}; order {job.record.order_id} is still running and billing", job.record)
    try:
        job.cancel()
    except Exception as cancel_error:  # noqa: BLE001 - say what is left behind
        job.save(state="failed", billing=True, ended_at=time.time(), error=reason)
        return JobError(
            f"{reason}; cancelling order {job.record.order_id} failed too ({cancel_error}): it is billing",
            job.record,
        )
    job.save(state="failed", ended_at=time.time(), error=reason)
    return JobError(f"{reason}; order {job.record.order_id} was cancelled", job.record)


def usd_of_cost(cost: float, price_per_day: float, usd_per_hour: float) -> float:
    """An order's spend in its coin, in USD at the rate its price implies (a USD order's own
    spend, exactly: no ``5.3610000000000003e-05`` for ``5.361e-05``)."""
    return float(f"{cost * usd_per_hour * 24 / price_per_day:.12g}")


def _without_float_noise(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.12g}")


def _existing(client: CloreAI, job: str | JobRecord, journal: JobJournal | None, **options: Any) -> _Job:
    journal = journal or JobJournal()
    record = job if isinstance(job, JobRecord) else journal.lookup(job)
    defaults: dict[str, Any] = {
        "remote_factory": None,
        "on_progress": None,
        "on_log": None,
        "sleep": time.sleep,
        "clock": time.monotonic,
        "poll_interval": 2.0,
        "wait_timeout": 600.0,
        "reconnect_timeout": 300.0,
    }
    return _Job(client, journal, record, **{**defaults, **options})


def follow_job(
    client: CloreAI,
    job: str | JobRecord,
    *,
    journal: JobJournal | None = None,
    follow: bool = False,
    ssh_password: str | None = None,
    on_log: LogSink | None = None,
    on_progress: Progress | None = None,
    remote_factory: RemoteFactory | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = 2.0,
) -> JobRecord:
    """Show a job's log from its start (``on_log``); with ``follow`` until the job ends.

    Works while the order runs (a detached job, or one kept with ``keep``). Nothing is
    cancelled: once the job has ended its entry gets the exit code and still says billing.
    """
    runner = _existing(
        client,
        job,
        journal,
        on_log=on_log,
        on_progress=on_progress,
        remote_factory=remote_factory,
        sleep=sleep,
        clock=clock,
        poll_interval=poll_interval,
    )
    record = runner.record
    if record.order_id is None:
        raise JobError(f"job {record.id} has no order (it {record.state}: {record.error})", record)
    order = runner.find_order(include_completed=True)
    if order is None or order.expired:
        runner.save(billing=False)
        raise JobError(
            f"order {record.order_id} of job {record.id} has ended; its container and log are gone",
            runner.record,
        )
    auth = auth_for_attach(record.id, record.ssh_auth, ssh_password)
    del ssh_password
    if auth is None:
        raise JobError(no_login_reason(record.id, record.ssh_auth, record.order_id), record)
    runner.follow(order, auth, offset=0, until_end=follow, record_offset=False)  # the whole log again
    return runner.record


def cancel_job(client: CloreAI, job: str | JobRecord, *, journal: JobJournal | None = None) -> JobRecord:
    """Cancel a job's order (idempotent) and mark the job ``cancelled`` with its cost."""
    runner = _existing(client, job, journal)
    if runner.record.order_id is not None:
        runner.cancel()
    forget_password(runner.record.id, runner.record.ssh_auth)
    return runner.save(state="cancelled", billing=False, ended_at=runner.record.ended_at or time.time())


def refresh_jobs(client: CloreAI, journal: JobJournal | None = None) -> list[JobRecord]:
    """The journal, with ``billing`` checked against your orders (one request, only when some
    job says billing): an order that ended elsewhere (``clore cancel``) stops billing."""
    journal = journal or JobJournal()
    records = journal.all()
    billing = [r for r in records if r.billing and r.order_id is not None]
    if billing:
        alive = {o.id for o in client.my_orders() if not o.expired}
        for record in billing:
            if record.order_id not in alive:
                state = (
                    "cancelled"
                    if record.state in ("detached", "running", "starting", "uploading")
                    else record.state
                )
                journal.update(record.id, billing=False, state=state, ended_at=record.ended_at or time.time())
        records = journal.all()
    return records
