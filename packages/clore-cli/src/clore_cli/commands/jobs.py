"""run, jobs, logs: a task on a rented server, from rent to cancel, and the journal of jobs.

Thin: the lifecycle, the journal and renting are ``clore_ai.jobs``; this module reads flags,
asks before renting, shows progress on stderr and the job's log on stdout (stderr with
``-o json``), and turns Ctrl-C into a question: detach, or stop and cancel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

from .. import hookimpl
from .._cache import complete_currency
from .._errors import ExitCode
from .._main import app_of, output_options
from .._params import ImageName, Number, Seconds
from ..formats import Column, Dataset, coin_amount, usd_amount, usd_per_hour

if TYPE_CHECKING:
    from clore_ai.jobs import JobJournal, JobRecord, Offer, Task

#: How jobs reach their servers (tests put a local stand-in here); None: ``clore_ai.remote``.
REMOTE_FACTORY: Any = None
PASSWORD_ENV = "CLORE_SSH_PASSWORD"
USD = "USD-Blockchain"

JOB_COLUMNS = [
    Column("id", "Job", no_wrap=True),
    Column("state", "State", no_wrap=True),
    Column("order_id", "Order", "right", no_wrap=True),
    Column("server_id", "Server", "right", no_wrap=True),
    Column("exit_code", "Exit", "right", no_wrap=True),
    Column("started", "Started", no_wrap=True),
    Column("took", "Took", "right", no_wrap=True),
    Column("cost_usd", "Cost", "right", usd_amount, no_wrap=True, derived=True),
    Column("billing", "Billing", no_wrap=True),
]
#: Below this many terminal columns the table leaves out Server and Started (JSON/CSV keep
#: them) and lets a long job id fold, so the ids, orders and amounts are never cut.
WIDE_TABLE = 104


def job_columns(terminal_width: int | None) -> list[Column]:
    """The ``clore jobs`` columns for a terminal this wide (None: not a terminal, all of them)."""
    if terminal_width is None or terminal_width >= WIDE_TABLE:
        return JOB_COLUMNS
    narrow = {"server_id", "started"}
    return [
        dataclasses.replace(c, in_table=c.key not in narrow, no_wrap=c.no_wrap and c.key != "id")
        for c in JOB_COLUMNS
    ]


JOB_RECORD = [
    Column("id", "Job"),
    Column("name", "Name"),
    Column("state", "State"),
    Column("exit_code", "Exit code"),
    Column("order_id", "Order"),
    Column("server_id", "Server"),
    Column("took", "Took"),
    Column("cost", "Cost", coin_key="currency"),
    Column("cost_usd", "Cost in USD", fmt=usd_amount, derived=True),
    Column("billing", "Still billing"),
    Column("log_path", "Log on the server"),
    Column("error", "Error"),
]


class JobFailed(click.ClickException):
    """The job's own commands exited non-zero (exit 10; their status is in the message and JSON)."""

    exit_code = ExitCode.JOB_FAILED


class JobDetached(click.ClickException):
    """Interrupted with the order left running: it bills (exit 7, as any interrupted order)."""

    exit_code = ExitCode.ORDER_INTERRUPTED


class JobStopped(click.ClickException):
    """Interrupted and cancelled: nothing bills any more (exit 130)."""

    exit_code = ExitCode.INTERRUPTED


def _journal(app: Any) -> JobJournal:
    from clore_ai.jobs import JobJournal, default_journal_path

    return JobJournal(default_journal_path(sandbox=app.sandbox))


def _took(record: JobRecord, now: float | None = None) -> str | None:
    if not record.started_at:
        return None
    seconds = int((record.ended_at or now or time.time()) - record.started_at)
    hours, rest = divmod(max(0, seconds), 3600)
    if hours:
        return f"{hours}h {rest // 60}m"
    return f"{rest // 60}m {rest % 60}s" if rest >= 60 else f"{rest}s"


def job_row(record: JobRecord) -> dict[str, Any]:
    """Exact values for JSON/CSV; ``cost_usd`` of a billing job grows with time."""
    row = record.to_json()
    row["cost_usd"] = record.estimated_cost_usd()
    row["took"] = _took(record)
    row["started"] = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(record.started_at)) if record.started_at else None
    )
    row.pop("ssh_auth", None)  # where the secret comes from is for `logs`, not for tables
    return row


def _task_from(task_file: str | None, flags: dict[str, Any]) -> Task:
    """The task file, with flags overriding its fields; bad input is one line (exit 2)."""
    from clore_ai.jobs import Task, TaskFileError

    data: dict[str, Any] = {}
    base, source, name = Path("."), "command line", "job"
    if task_file is not None:
        import yaml

        path = Path(task_file)
        try:
            Task.from_file(path)  # every check, with the file's own line numbers
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except TaskFileError as error:
            raise click.UsageError(str(error)) from None
        data, base, source, name = dict(loaded), path.parent, str(path), path.stem
    resources = dict(data.get("resources") or {})
    for flag, key in (("query", "query"), ("max_price", "max_price"), ("currency", "currency")):
        if flags[flag] is not None:
            resources[key] = flags[flag]
    data["resources"] = resources or None
    for flag in ("image", "setup", "run", "name"):
        if flags[flag] is not None:
            data[flag] = flags[flag]
    if flags["workdir"] is not None:
        data["workdir"] = str(Path(flags["workdir"]).resolve())
    if flags["download"]:
        data["outputs"] = list(flags["download"])
    if flags["keep"]:
        data["keep"] = True
    try:
        return Task.from_mapping(data, base_dir=base, source=source, default_name=name)
    except TaskFileError as error:
        message = str(error)
        if task_file is None:
            message = _in_flag_terms(message)
        raise click.UsageError(message) from None


_FLAG_OF_FIELD = (
    ("resources is required", "--max-price is required"),
    ("resources.max_price", "--max-price"),
    ("resources.query", "--query"),
    ("resources.currency", "--currency"),
    ("image is required", "--image is required"),
    ("run is required", "--run is required (or give a TASKFILE)"),
    ("image", "--image"),
    ("workdir", "--workdir"),
    ("setup", "--setup"),
    ("run", "--run"),
    ("name", "--name"),
    ("outputs", "--download"),
)


def _in_flag_terms(message: str) -> str:
    """``command line: resources.max_price must be …`` → ``--max-price must be …``."""
    prefix = "command line: "
    rest = message[len(prefix) :] if message.startswith(prefix) else message
    rest = re.sub(r"^outputs\[\d+\](?:\.remote)?", "outputs", rest)
    for field, flag in _FLAG_OF_FIELD:
        if rest.startswith(field) and rest[len(field) : len(field) + 1] in (" ", "[", ":", ""):
            return flag if field.endswith("is required") else flag + rest[len(field) :]
    return rest


def _quote_lines(task: Task, offer: Offer) -> str:
    from .._consent import price_text

    rate = offer.usd_per_day / offer.price_per_day if offer.usd_per_day and offer.price_per_day else None
    price = price_text(offer.price_per_day, offer.currency, rate)
    matching = f" matching {task.resources.query!r}" if task.resources.query else ""
    after = (
        "The order stays (keep: true) and bills until you cancel it."
        if task.keep
        else "The order is cancelled when the job ends."
    )
    return (
        f"Job {task.name}: rent server {offer.server_id} ({offer.gpu or 'GPU unknown'}), on-demand, "
        f"the cheapest of {offer.searched} rentable offer{'' if offer.searched == 1 else 's'}{matching} "
        f"under {usd_per_hour(task.resources.max_price)}/hour\n"
        f"Price: {price}\n{after}"
    )


def _log_writer(app: Any) -> Callable[[bytes], None]:
    stream = sys.stderr if app.wants_json or app.output in ("csv",) else sys.stdout

    def write(chunk: bytes) -> None:
        try:
            stream.flush()
            stream.buffer.write(chunk) if hasattr(stream, "buffer") else stream.write(
                chunk.decode("utf-8", "replace")
            )
            stream.flush()
        except BrokenPipeError:  # `clore run task.yaml | head`: the reader went away
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())  # no error at exit
            raise KeyboardInterrupt from None  # as Ctrl-C: detach (saying it bills) or stop

    return write


@contextlib.contextmanager
def _broken_pipe_as_error() -> Iterator[None]:
    """While a job runs a closed stdout is an error the job handles (see ``_log_writer``), not
    the silent SIGPIPE death `clore search | head` gets, which left the order billing unsaid."""
    import signal

    try:
        previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (AttributeError, ValueError):  # no SIGPIPE (Windows), or not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGPIPE, previous)


def _summary(record: JobRecord) -> str:
    usd = coin_amount(record.estimated_cost_usd(), USD)
    if record.cost is None or record.currency == USD:
        cost = usd
    else:
        cost = f"{coin_amount(record.cost, record.currency)} ({usd})"
    order = (
        f"order {record.order_id} kept and billing (stop it with `clore cancel {record.order_id}`)"
        if record.billing
        else f"order {record.order_id} cancelled"
    )
    took = _took(record)
    return f"job {record.id} {record.state} in {took}: exit code {record.exit_code}; cost {cost}; {order}"


def _interactive() -> bool:
    from .._consent import at_a_terminal

    return at_a_terminal()


_NOT_REATTACHABLE = (
    f"its ssh password was generated and not kept (no OS keyring; next time set {PASSWORD_ENV} "
    "before `clore run`)"
)


def _after_interrupt(app: Any, record: JobRecord, journal: JobJournal) -> click.ClickException:
    """Ask (at a terminal) whether to detach or stop; without one, detach and say so."""
    from clore_ai.jobs import cancel_job

    if record.order_id is None:
        sent = getattr(app.client(), "create_order_sent", True)
        if not sent:
            journal.update(record.id, billing=False, error="interrupted before renting")
            return JobStopped("interrupted before anything was rented")
        return JobDetached(
            "interrupted while renting: an order may exist and be billing; "
            "check with `clore orders` and stop it with `clore cancel ORDER_ID`"
        )
    choice = "d"
    if _interactive():
        click.echo(
            f"\nJob {record.id} is running on order {record.order_id}, which bills while it runs.", err=True
        )
        if not record.reattachable:
            click.echo(f"Once detached, its log cannot be followed again: {_NOT_REATTACHABLE}.", err=True)
        try:
            from .._consent import wrap_for_stderr

            question = "Detach (the job keeps running and billing) or stop it and cancel the order? [d/s]"
            choice = click.prompt(
                wrap_for_stderr(question, reserve=len(": ")),
                type=click.Choice(["d", "s"]),
                show_choices=False,  # the question ends in [d/s] already
                err=True,
            )
        except (KeyboardInterrupt, click.Abort, EOFError):
            click.echo("(a second Ctrl-C: detaching)", err=True)
    if choice == "s":
        cancelled = cancel_job(app.client(), record, journal=journal)
        return JobStopped(f"job {record.id} stopped; order {cancelled.order_id} cancelled")
    how = "" if _interactive() else " (no terminal to ask on: detached)"
    attach = (
        f"re-attach with `clore logs {record.id} -f`"
        if record.reattachable
        else f"it cannot be re-attached: {_NOT_REATTACHABLE}"
    )
    return JobDetached(
        f"detached from job {record.id}{how}: it keeps running on order {record.order_id} AND BILLING; "
        f"{attach}; stop it with `clore cancel {record.order_id}`"
    )


@click.command("run")
@click.argument("task_file", required=False, type=click.Path(dir_okay=False))
@click.option("--query", help="Marketplace query, as in `clore search` (e.g. 'gpu=4090 gpus>=1').")
@click.option("--max-price", type=Number(0, min_open=True), help="Price cap in USD per hour.")
@click.option(
    "--currency", help="Coin to pay in: usd, btc, clore (default usd).", shell_complete=complete_currency
)
@click.option("--image", type=ImageName(), help="Docker image, e.g. cloreai/ubuntu22.04-cuda12.")
@click.option(
    "--workdir", type=click.Path(file_okay=False), help="Local directory uploaded as the job's workdir."
)
@click.option("--setup", help="Shell commands run first (a failure skips --run).")
@click.option("--run", "run_", help="Shell commands of the job.")
@click.option(
    "--download",
    multiple=True,
    metavar="REMOTE_PATH",
    help="Remote path or glob (relative to the workdir) downloaded into . when the job ends; repeatable.",
)
@click.option("--name", help="Job name (default: the task file's name).")
@click.option("--keep", is_flag=True, help="Do not cancel the order when the job ends (it keeps billing).")
@click.option(
    "--ssh-key-file",
    type=click.Path(dir_okay=False, exists=True),
    help="Log in with this private key (its .pub is sent with the order) instead of a password.",
)
@click.option(
    "--timeout", type=Seconds(min=1), default=600, show_default=True, help="Seconds to wait for the server."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask before renting (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the server and price it would rent; rent nothing.")
@output_options
@click.pass_context
def run_command(ctx: click.Context, /, task_file: str | None, **flags: Any) -> None:
    """Run a task on a rented server: rent, upload, run, stream the log, download, cancel.

    TASKFILE is YAML (docs/jobs.md); flags override its fields. Asks before renting.
    Ctrl-C asks whether to detach (the job keeps running and billing) or stop and cancel.
    """
    from clore_ai.jobs import JobError, JobInterrupted, NoMatchingServer, find_offer, run_job

    from .._consent import ask, explain, need_consent_channel

    yes, dry_run = flags.pop("yes"), flags.pop("dry_run")
    flags["run"] = flags.pop("run_")
    task = _task_from(task_file, flags)
    need_consent_channel(yes, dry_run)
    app = app_of(ctx)
    client = app.client()
    try:
        offer = find_offer(client, task.resources)
    except NoMatchingServer as error:
        raise click.ClickException(str(error)) from None
    explain(_quote_lines(task, offer))
    if dry_run:
        app.note("dry run: nothing was rented")
        rate = offer.usd_per_day / offer.price_per_day if offer.usd_per_day and offer.price_per_day else None
        app.emit(
            Dataset(
                "Job plan",
                OFFER_RECORD,
                [
                    {
                        **offer.__dict__,
                        "usd_per_day": offer.usd_per_day,
                        "usd_rate": rate,
                        "name": task.name,
                        "id": offer.server_id,
                    }
                ],
                vertical=True,
            )
        )
        return
    if not yes and not ask("Rent it and run the job?"):
        app.note("cancelled: nothing was rented")
        ctx.exit(1)
    journal = _journal(app)
    password = os.environ.get(PASSWORD_ENV) or None
    from .orders import expect_create_order

    expect_create_order(client)
    try:
        with _broken_pipe_as_error():
            record = run_job(
                client,
                task,
                offer=offer,
                journal=journal,
                ssh_password=password,
                ssh_password_source=f"env {PASSWORD_ENV}",
                ssh_key_file=flags["ssh_key_file"],
                on_progress=app.note,
                on_log=_log_writer(app),
                on_record=lambda r: app.note(f"job {r.id}: renting…"),
                remote_factory=REMOTE_FACTORY,
                poll_interval=0.2 if app.sandbox else 2.0,
                wait_timeout=flags["timeout"],
            )
    except JobInterrupted as stop:
        raise _after_interrupt(app, stop.job, journal) from None
    except JobError as error:
        failure = click.ClickException(f"job {error.job.id}: {error}")
        failure.details = {"job": error.job.id, "order_id": error.job.order_id, "billing": error.job.billing}  # type: ignore[attr-defined]
        raise failure from None
    app.note(_summary(record))
    app.emit(Dataset(f"Job {record.id}", JOB_RECORD, [job_row(record)], vertical=True))
    if record.exit_code != 0:
        where = f"`clore logs {record.id}`" if record.billing else "above; the order and its log are gone"
        failed = JobFailed(f"the job's commands exited with code {record.exit_code} (log: {where})")
        failed.details = {"job": record.id, "remote_exit_code": record.exit_code}  # type: ignore[attr-defined]
        raise failed


OFFER_RECORD = [
    Column("name", "Job"),
    Column("server_id", "Server"),
    Column("gpu", "GPU"),
    Column("price_per_day", "Price per day", coin_key="currency"),
    Column("usd_per_hour", "USD per hour", fmt=usd_per_hour, derived=True),
    Column("usd_per_day", "USD per day", fmt=usd_amount, derived=True),
    Column("searched", "Servers searched"),
]


@click.command("jobs")
@output_options
@click.pass_context
def jobs_command(ctx: click.Context) -> None:
    """Your jobs (the local journal), newest last, with whether their order is still billing."""
    from clore_ai import CloreAPIError
    from clore_ai.jobs import refresh_jobs

    app = app_of(ctx)
    journal = _journal(app)
    try:
        records = refresh_jobs(app.client(), journal)
    except CloreAPIError as error:
        app.note(f"billing not checked against your orders: {error}")
        records = journal.all()
    rows = [job_row(r) for r in records]
    billing = sum(1 for r in records if r.billing)
    unknown = sum(1 for r in records if r.billing is None)
    footer = (
        f"Total: {len(rows)} job{'' if len(rows) == 1 else 's'}"
        + (f"; {billing} still billing (stop with `clore cancel ORDER`)" if billing else "")
        + (f"; {unknown} may be billing (Billing -: check `clore orders`)" if unknown else "")
    )
    width = shutil.get_terminal_size().columns if app.color else None  # color: a terminal's table
    app.emit(Dataset("Jobs", job_columns(width), rows, footer=footer))


@click.command("logs")
@click.argument("job")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Log in with the password on the first line of this file (instead of {PASSWORD_ENV}).",
)
@click.option("--ask-password", is_flag=True, help="Ask for the job's ssh password (hidden) on the terminal.")
@click.pass_context
def logs_command(
    ctx: click.Context, job: str, follow: bool, password_file: Path | None, ask_password: bool
) -> None:
    """Print a job's log from its start (JOB: job id, unique prefix, or order id).

    Reads the log on the server, so the order must still run (a detached or kept job).
    Logs in with the job's key file, --password-file, CLORE_SSH_PASSWORD, or the password
    kept in the OS keyring.
    """
    from clore_ai.jobs import JobError, follow_job

    from .remote import read_password

    app = app_of(ctx)
    record = _find_job(app, job)
    password = read_password(password_file, ask_password) or os.environ.get(PASSWORD_ENV) or None
    try:
        record = follow_job(
            app.client(),
            record,
            journal=_journal(app),
            follow=follow,
            ssh_password=password,
            on_log=_log_writer(app),
            on_progress=app.note,
            remote_factory=REMOTE_FACTORY,
            poll_interval=0.2 if app.sandbox else 2.0,
        )
    except JobError as error:
        from clore_ai.exceptions import RemoteLoginRefused

        hint = ""
        if isinstance(error.__cause__, RemoteLoginRefused):
            hint = f" (give the job's password with --password-file FILE, --ask-password or ${PASSWORD_ENV})"
        raise click.ClickException(f"{error}{hint}") from None
    except KeyboardInterrupt:
        raise JobDetached(
            f"stopped following; the job keeps running and billing (`clore logs {record.id} -f`)"
        ) from None
    if record.exit_code is not None and record.billing:
        app.note(
            f"job {record.id} ended with exit code {record.exit_code}; "
            f"order {record.order_id} is still billing: stop it with `clore cancel {record.order_id}`"
        )
    elif record.exit_code is None:
        app.note(f"job {record.id} is still running (follow it with `clore logs {record.id} -f`)")


def _find_job(app: Any, job: str) -> JobRecord:
    """The job JOB names in this mode's journal (:meth:`JobJournal.lookup`); a prefix of several
    jobs, or a job that is only in the other mode's journal, is one line (exit 2)."""
    from clore_ai.jobs import AmbiguousJob, JobJournal, default_journal_path

    try:
        return _journal(app).lookup(job)
    except AmbiguousJob as error:
        raise click.UsageError(str(error)) from None  # it names them
    except LookupError:
        pass
    hint = "`clore --sandbox jobs`" if app.sandbox else "`clore jobs`"
    where, other = ("sandbox", "live") if app.sandbox else ("live", "sandbox")
    try:
        JobJournal(default_journal_path(sandbox=not app.sandbox)).lookup(job)
    except AmbiguousJob:
        pass  # several there: still say which journal they are in
    except LookupError:
        raise click.UsageError(f"no job {job!r} in the {where} journal; {hint} lists them") from None
    switch = "without --sandbox" if app.sandbox else "with --sandbox"
    raise click.UsageError(f"job {job!r} is in the {other} journal, not the {where} one: run this {switch}")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (run_command, jobs_command, logs_command):
        cli.add_command(command)
