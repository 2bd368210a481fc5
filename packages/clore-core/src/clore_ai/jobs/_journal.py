"""The local job journal: one JSON file, locked for every change, replaced atomically (0600).

It records what a person needs to find a job again — which order it runs on, whether that
order is still billing, where its log is on the server and how much of it was read — and
never a secret: ``ssh_auth`` says *where* the ssh password or key comes from (``env
CLORE_SSH_PASSWORD``, ``keyring``, ``key FILE``), never the password or key itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["JOB_STATES", "AmbiguousJob", "JobJournal", "JobRecord", "NoSuchJob", "default_journal_path"]

T = TypeVar("T")

#: Every state a job passes through; the last four are where it ends (``detached``: still
#: running on its order, for ``clore logs``).
JOB_STATES = (
    "renting",
    "starting",
    "uploading",
    "running",
    "downloading",
    "done",
    "failed",
    "detached",
    "cancelled",
)


#: ``ssh_auth`` of a job whose generated password lives only in the ``clore run`` process.
PASSWORD_NOT_KEPT = "generated, not kept"


@dataclass
class JobRecord:
    """One job as the journal keeps it. ``billing`` is True while the order may charge you,
    False once it is cancelled (or was never created), None when that is unknown."""

    id: str
    name: str
    state: str = "renting"
    started_at: float = 0.0  # Unix seconds
    ended_at: float | None = None
    order_id: int | None = None
    server_id: int | None = None
    currency: str | None = None
    price_per_day: float | None = None  # in ``currency``
    usd_per_hour: float | None = None
    billing: bool | None = False
    cost: float | None = None  # in ``currency``: the order's spend when it was last read
    cost_usd: float | None = None
    keep: bool = False
    ssh_auth: str | None = None  # where the ssh secret comes from, never the secret
    remote_dir: str | None = None  # relative to the login directory on the server
    log_offset: int = 0  # bytes of the log already shown
    exit_code: int | None = None  # of the job's commands on the server
    error: str | None = None
    outputs: list[str] = field(default_factory=list)  # remote paths/globs to download

    @property
    def reattachable(self) -> bool:
        """False when nothing can log in to the job's server again once its ``clore run``
        process is gone (the password was generated and not kept): detaching loses its log."""
        return self.ssh_auth != PASSWORD_NOT_KEPT

    @property
    def log_path(self) -> str | None:
        return f"{self.remote_dir}/log" if self.remote_dir else None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["log_path"] = self.log_path
        return data

    @classmethod
    def from_json(cls, data: Any) -> JobRecord | None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None

    def estimated_cost_usd(self, now: float | None = None) -> float | None:
        """USD spent: the recorded cost, or for a billing order price × time since it started."""
        if self.cost_usd is not None and not self.billing:
            return self.cost_usd
        if self.usd_per_hour is None or not self.started_at:
            return self.cost_usd
        end = self.ended_at if (self.ended_at and not self.billing) else (now or time.time())
        return self.usd_per_hour * max(0.0, end - self.started_at) / 3600


def default_journal_path(*, sandbox: bool = False) -> Path:
    """``$XDG_DATA_HOME/clore/jobs.json`` (``jobs-sandbox.json`` for sandbox jobs)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "clore" / ("jobs-sandbox.json" if sandbox else "jobs.json")


class NoSuchJob(LookupError):
    """:meth:`JobJournal.lookup`: no job has this id, id prefix or order id."""


class AmbiguousJob(LookupError):
    """:meth:`JobJournal.lookup`: an id prefix (such as the job's name, shared by its runs)
    that several jobs start with; ``matches`` are their ids, oldest first."""

    def __init__(self, message: str, matches: list[str]) -> None:
        super().__init__(message)
        self.matches = matches


class JobJournal:
    """Every job of this user, shared by all processes (``flock``) and threads."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_journal_path()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no cross-process lock on this platform
            with self._lock:
                yield
            return
        with self._lock:
            fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _load(self) -> dict[str, JobRecord]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        jobs = data.get("jobs") if isinstance(data, dict) else None
        records = (JobRecord.from_json(item) for item in (jobs if isinstance(jobs, list) else []))
        return {r.id: r for r in records if r is not None}

    def _save(self, records: dict[str, JobRecord]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        payload = {"jobs": [r.to_json() for r in records.values()]}
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        os.replace(tmp, self.path)

    def _change(self, change: Callable[[dict[str, JobRecord]], T]) -> T:
        with self._locked():
            records = self._load()
            result = change(records)
            self._save(records)
            return result

    def add(self, record: JobRecord) -> JobRecord:
        def put(records: dict[str, JobRecord]) -> JobRecord:
            records[record.id] = dataclasses.replace(record)
            return record

        return self._change(put)

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        """Change fields of one job and return it as stored."""

        def apply(records: dict[str, JobRecord]) -> JobRecord:
            current = records.get(job_id) or JobRecord(id=job_id, name="job")
            records[job_id] = dataclasses.replace(current, **changes)
            return dataclasses.replace(records[job_id])

        return self._change(apply)

    def all(self) -> list[JobRecord]:
        """Every job, oldest first."""
        with self._locked():
            records = list(self._load().values())
        return sorted(records, key=lambda r: (r.started_at, r.id))

    def find(self, job: str) -> JobRecord | None:
        """A job by id, by the order id it runs on, or by a unique id prefix; else None."""
        records = self.all()
        exact = [r for r in records if r.id == job]
        if exact:
            return exact[0]
        by_order = [r for r in records if job.isdigit() and r.order_id == int(job)]
        if by_order:
            return by_order[-1]
        prefixed = [r for r in records if r.id.startswith(job)]
        return prefixed[0] if len(prefixed) == 1 else None

    def lookup(self, job: str) -> JobRecord:
        """:meth:`find`, or a :class:`LookupError` that says whether ``job`` matched several
        jobs (:class:`AmbiguousJob`: a prefix such as the job's name, shared by its runs) or
        none (:class:`NoSuchJob`)."""
        found = self.find(job)
        if found is not None:
            return found
        several = [r.id for r in self.all() if r.id.startswith(job)]
        if several:
            shown = ", ".join(several[-5:]) + (" …" if len(several) > 5 else "")
            raise AmbiguousJob(f"{job!r} matches {len(several)} jobs ({shown}); give more of the id", several)
        raise NoSuchJob(f"no job {job!r} in the journal; `clore jobs` lists them")
