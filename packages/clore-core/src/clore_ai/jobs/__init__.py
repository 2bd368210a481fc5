"""Jobs: rent a server, run a task on it, bring the outputs back, stop paying.

>>> from clore_ai import CloreAI
>>> from clore_ai.jobs import Task, find_offer, run_job
>>> task = Task.from_file("task.yaml")                     # doctest: +SKIP
>>> with CloreAI() as client:                              # doctest: +SKIP
...     offer = find_offer(client, task.resources)         # what it will cost, nothing spent
...     job = run_job(client, task, offer=offer, on_log=print)
...     print(job.state, job.exit_code, job.cost_usd)

Every job is recorded in a local journal (:class:`JobJournal`, ``$XDG_DATA_HOME/clore/jobs.json``)
with its order, state and whether the order is still billing, never a password or key.
See docs/jobs.md.
"""

from ._journal import JOB_STATES, AmbiguousJob, JobJournal, JobRecord, NoSuchJob, default_journal_path
from ._lifecycle import JobError, JobInterrupted, cancel_job, follow_job, refresh_jobs, run_job
from ._remote import RemoteFactory, RemoteLike, SSHAuth, ssh_remote
from ._rent import NoMatchingServer, Offer, Renter, find_offer, rent_for_job
from ._task import Output, Resources, Task, TaskFileError

__all__ = [
    "JOB_STATES",
    "AmbiguousJob",
    "JobError",
    "JobInterrupted",
    "JobJournal",
    "JobRecord",
    "NoMatchingServer",
    "NoSuchJob",
    "Offer",
    "Output",
    "RemoteFactory",
    "RemoteLike",
    "Renter",
    "Resources",
    "SSHAuth",
    "Task",
    "TaskFileError",
    "cancel_job",
    "default_journal_path",
    "find_offer",
    "follow_job",
    "refresh_jobs",
    "rent_for_job",
    "run_job",
    "ssh_remote",
]
