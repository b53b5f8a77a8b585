"""The composition root: the one place where remit's registries are filled.

Job kinds, the jobs a worker queues every day and a worker's idle tasks come from several
packages; listing them here, and nowhere else, keeps the lower layers from naming each
other (``jobs`` knows no care job, and no package registers anything by being imported).
The interfaces call ``register_all()`` before they serve: the web app factory, the
``remit`` command, and the test set-up.

>>> register_all()
>>> [kind.code for kind in JOB_KINDS]  # doctest: +NORMALIZE_WHITESPACE
['audit.verify', 'cases.escalate', 'ledger.post_file', 'care.reconcile', 'care.settle',
 'payments.remittance', 'childcare.remind']
"""

from __future__ import annotations

from remit.care import decisions as care_decisions
from remit.care import kinds as care_kinds
from remit.care import views as care_views
from remit.cases.service import register_queue_source, register_transition_guard
from remit.childcare import kinds as childcare_kinds
from remit.db import Database
from remit.events.delivery import deliver_due
from remit.jobs import kinds as job_kinds
from remit.jobs import worker
from remit.jobs.model import JobKind, register_job_kind
from remit.payments import kinds as payment_kinds
from remit.payments import queue as payment_queue
from remit.secrets import Vault

JOB_KINDS: tuple[JobKind, ...] = (
    *job_kinds.BUILTIN_KINDS,
    *care_kinds.KINDS,
    *payment_kinds.KINDS,
    *childcare_kinds.KINDS,
)
# Queued once per book and day by every worker: escalation of overdue cases, settlement of
# arbitration the providers did not answer, reminders of provider documents nearing expiry.
DAILY_KINDS = ("cases.escalate", "care.settle", "childcare.remind")


def register_all() -> None:
    """Register every kind of job and the case guards other packages add (again is
    harmless: the same kind twice is one kind)."""
    for kind in JOB_KINDS:
        register_job_kind(kind)
    # An arbitration case moves with its care run: not decided while exceptions wait.
    register_transition_guard("arbitration", "decide", care_decisions.arbitration_may_be_decided)
    # The queue lists care's work (runs to decide, to post, held; approvals; answers).
    register_queue_source(care_views.queue_sections)
    # ... and the payment runs waiting for someone's approval or release.
    register_queue_source(payment_queue.queue_sections)


def schedule_daily_jobs(database: Database, vault: Vault) -> int:
    """The daily kinds, queued once per book and day (see ``worker.schedule_daily``)."""
    return worker.schedule_daily(database, vault, DAILY_KINDS)


def idle_tasks() -> tuple[worker.IdleTask, ...]:
    """What a worker does when no job is due: the janitor (every minute), the daily jobs
    (checked every 5 minutes), SQLite's planner statistics (hourly) and webhook delivery
    (every idle moment)."""
    return (
        worker.Every(60, worker.requeue_stale_jobs),
        worker.Every(300, schedule_daily_jobs),
        worker.Every(3600, worker.optimize_store),
        deliver_due,
    )
