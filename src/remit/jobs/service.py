"""Use cases of the job queue: enqueue, read, cancel; claim, progress, finish, fail; janitor.

Users enqueue, read and cancel jobs (``jobs.run`` and ``jobs.read``, plus the kind's own
permission to start it). Workers claim the oldest due job: on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED``, so that many workers share the queue and never take
the same job; on SQLite the write transaction is ``BEGIN IMMEDIATE`` (see ``remit.db``), so
claims are serialised. Enqueueing, cancelling, finishing, failing and requeueing are
audited; claims, progress and heartbeats are bookkeeping of the row itself and are not
(they would also serialise every worker on the audit chain's head).

A ``dedupe_key`` names one job: while it is queued, running or succeeded, enqueueing the same
key answers that job's id (a replay is "already done"); a failed or cancelled job gives its
key up, so that the work can be tried again. Daily work carries the date in its key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import Database, insert_id, is_postgres
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.events.service import emit
from remit.jobs.model import Job, JobKind, JobStatus, creator_of, job_kind, job_kinds
from remit.jobs.progress import throttle
from remit.jobs.store import jobs
from remit.ledger import service as ledger
from remit.text import FREE_TEXT_MAX, ID_MAX, text_problem
from remit.timestamps import utc_text

log = logging.getLogger(__name__)

JANITOR = Actor.system("jobs")
STALE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 3
MAX_KEY_LENGTH = 200
MAX_ERROR_CHARS = 20_000
LIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def _job(row: Any) -> Job:
    return Job(
        int(row.id),
        int(row.book_id),
        row.kind,
        json.loads(row.params),
        JobStatus(row.status),
        row.dedupe_key,
        int(row.progress_done),
        int(row.progress_total),
        row.message,
        json.loads(row.result) if row.result is not None else None,
        row.error,
        int(row.attempts),
        row.worker,
        row.created_by,
        row.created_at,
        row.run_after,
        row.started_at,
        row.heartbeat_at,
        row.finished_at,
    )


# ---------------------------------------------------------------- enqueue


def enqueue(
    conn: Connection,
    actor: Actor,
    book_id: int,
    kind: str,
    params: Mapping[str, Any],
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
) -> int:
    """Queue a job; returns its id (the existing job's id when its ``dedupe_key`` is live)."""
    return enqueue_new(conn, actor, book_id, kind, params, dedupe_key, run_after)[0]


def enqueue_new(
    conn: Connection,
    actor: Actor,
    book_id: int,
    kind: str,
    params: Mapping[str, Any],
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
) -> tuple[int, bool]:
    """As ``enqueue``, and whether the job is new (False: the key named an existing one)."""
    require(actor, book_id, Permission.JOBS_RUN)
    spec = _checked(actor, book_id, kind, params, dedupe_key, run_after)
    ledger.get_book(conn, book_id)  # NotFound for a book that does not exist
    if dedupe_key is not None:
        existing = _by_key(conn, dedupe_key)
        if existing is not None:
            return _same_job(existing, book_id, kind, params), False
    now = audit.utc_now_text()
    values = {
        "book_id": book_id,
        "kind": spec.code,
        "params": audit.canonical(params),
        "status": JobStatus.QUEUED.value,
        "dedupe_key": dedupe_key,
        "progress_done": 0,
        "progress_total": 0,
        "message": "",
        "attempts": 0,
        "created_by": creator_of(actor)[:100],
        "created_at": now,
        "run_after": utc_text(run_after) if run_after else now,
    }
    try:
        with conn.begin_nested():  # another enqueuer may win the key between read and insert
            job_id = insert_id(conn, insert(jobs).values(**values))
    except IntegrityError:
        existing = _by_key(conn, dedupe_key) if dedupe_key else None
        if existing is None:
            raise
        return _same_job(existing, book_id, kind, params), False
    audit.record(
        conn,
        actor,
        "job.enqueue",
        "job",
        job_id,
        None,
        {
            "kind": spec.code,
            "params": dict(params),
            "dedupe_key": dedupe_key,
            "run_after": values["run_after"],
        },
        book_id,
    )
    return job_id, True


def _checked(
    actor: Actor,
    book_id: int,
    kind: str,
    params: Mapping[str, Any],
    dedupe_key: str | None,
    run_after: datetime | None,
) -> JobKind:
    spec = job_kind(kind)
    if spec is None:
        known = ", ".join(k.code for k in job_kinds())
        raise ValidationFailed(
            [Problem("kind", f"unknown job kind {kind!r}; kinds are {known}", "job_kind")]
        )
    require(actor, book_id, spec.permission)
    if not isinstance(params, Mapping):
        raise ValidationFailed([Problem("params", "parameters are a mapping", "params_type")])
    problems = list(spec.validate(params)) + param_text_problems(params)
    if dedupe_key is not None and not dedupe_key:
        problems.append(
            Problem("dedupe_key", f"1 to {MAX_KEY_LENGTH} characters", "dedupe_key_length")
        )
    found = text_problem(dedupe_key or "", "dedupe_key", max_chars=MAX_KEY_LENGTH)
    problems += [found] if found is not None else []
    if run_after is not None and run_after.utcoffset() is None:
        problems.append(Problem("run_after", "give the time with its time zone", "aware_time"))
    if problems:
        raise ValidationFailed(problems)
    return spec


def param_text_problems(params: Mapping[str, Any]) -> list[Problem]:
    """Each parameter name, and each text value, that is too long or holds a control
    character: a parameter is one line (names at most ID_MAX characters).

    >>> for p in param_text_problems({"name": "a\\x0bb.csv", "x" * 65: 1}):
    ...     print(p)
    params.name: control character U+000B at position 2 is not allowed [control_character]
    params: at most 64 characters (65 given) [length]
    """
    found = [
        text_problem(str(key), "params", max_chars=ID_MAX)
        or (
            text_problem(value, f"params.{key}", max_chars=FREE_TEXT_MAX)
            if isinstance(value, str)
            else None
        )
        for key, value in params.items()
    ]
    return [p for p in found if p is not None]


def _by_key(conn: Connection, dedupe_key: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.dedupe_key == dedupe_key)).first()
    return _job(row) if row is not None else None


def _same_job(existing: Job, book_id: int, kind: str, params: Mapping[str, Any]) -> int:
    if (existing.book_id, existing.kind) != (book_id, kind) or (
        audit.canonical(existing.params) != audit.canonical(params)
    ):
        raise Conflict(
            f"the key {existing.dedupe_key!r} names job {existing.id}, which has "
            "another kind, book or parameters"
        )
    return existing.id


# ---------------------------------------------------------------- reading, cancelling


def get_job(conn: Connection, actor: Actor, book_id: int, job_id: int) -> Job:
    require(actor, book_id, Permission.JOBS_READ)
    job = load(conn, job_id)
    if job is None or job.book_id != book_id:
        raise NotFound(f"no job {job_id} in this book")
    return job


def list_jobs(
    conn: Connection, actor: Actor, book_id: int, limit: int = 50, after_id: int | None = None
) -> list[Job]:
    """The book's jobs, newest first; ``after_id`` is the last id of the previous page."""
    require(actor, book_id, Permission.JOBS_READ)
    j = jobs.c
    query = (
        select(jobs)
        .where(j.book_id == book_id)
        .order_by(j.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if after_id is not None:
        query = query.where(j.id < after_id)
    return [_job(r) for r in conn.execute(query)]


def load(conn: Connection, job_id: int) -> Job | None:
    """A job by id, for workers (no permission check: callers have made theirs)."""
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return _job(row) if row is not None else None


def job_book(conn: Connection, job_id: int) -> int:
    """The book a job belongs to (to check the actor's roles there); NotFound if none."""
    found = conn.execute(select(jobs.c.book_id).where(jobs.c.id == job_id)).scalar()
    if found is None:
        raise NotFound(f"no job {job_id}")
    return int(found)


def cancel(conn: Connection, actor: Actor, book_id: int, job_id: int) -> Job:
    """Cancel a queued job (a running one finishes or fails on its own)."""
    require(actor, book_id, Permission.JOBS_RUN)
    job = get_job(conn, actor, book_id, job_id)
    now = audit.utc_now_text()
    changed = conn.execute(
        update(jobs)
        .where(and_(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value))
        .values(
            status=JobStatus.CANCELLED.value,
            dedupe_key=None,
            finished_at=now,
            message=f"cancelled by {actor.username}"[:500],
        )
    ).rowcount
    if changed != 1:
        current = load(conn, job_id)
        state = current.status.value if current else "gone"
        raise Conflict(f"job {job_id} is {state}; only a queued job can be cancelled")
    audit.record(
        conn,
        actor,
        "job.cancel",
        "job",
        job_id,
        {"status": job.status.value},
        {"status": JobStatus.CANCELLED.value},
        book_id,
    )
    emit(
        conn,
        book_id,
        "job.finished",
        "job",
        job_id,
        {"kind": job.kind, "status": JobStatus.CANCELLED.value},
    )
    return _loaded(conn, job_id)


def _loaded(conn: Connection, job_id: int) -> Job:
    job = load(conn, job_id)
    if job is None:  # pragma: no cover - jobs are never deleted
        raise NotFound(f"no job {job_id}")
    return job


# ---------------------------------------------------------------- claiming


def claim_next(conn: Connection, worker: str, now: datetime | None = None) -> Job | None:
    """Take the oldest due queued job for ``worker``, or None when nothing is due.

    Run it in ``Database.write()``: on SQLite that transaction holds the one write lock; on
    PostgreSQL a row another worker is claiming is skipped, not waited for.
    """
    now_text = utc_text(now) if now else audit.utc_now_text()
    j = jobs.c
    query = (
        select(j.id)
        .where(and_(j.status == JobStatus.QUEUED.value, j.run_after <= now_text))
        .order_by(j.run_after, j.id)
        .limit(1)
    )
    if is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    found = conn.execute(query).scalar()
    if found is None:
        return None
    if not _start(conn, int(found), worker, now_text):  # pragma: no cover - locked above
        raise RuntimeError(f"job {found} changed while it was locked for claiming")
    return _loaded(conn, int(found))


def claim_job(conn: Connection, job_id: int, worker: str) -> Job:
    """Take one given queued job (to run it here); Conflict if it is not queued."""
    query = select(jobs.c.id).where(jobs.c.id == job_id)
    if is_postgres(conn):
        query = query.with_for_update()
    if conn.execute(query).scalar() is None:
        raise NotFound(f"no job {job_id}")
    if not _start(conn, job_id, worker, audit.utc_now_text()):
        raise Conflict(f"job {job_id} is {_loaded(conn, job_id).status.value}, not queued")
    return _loaded(conn, job_id)


def _start(conn: Connection, job_id: int, worker: str, now_text: str) -> bool:
    j = jobs.c
    return (
        conn.execute(
            update(jobs)
            .where(and_(j.id == job_id, j.status == JobStatus.QUEUED.value))
            .values(
                status=JobStatus.RUNNING.value,
                worker=worker[:100],
                attempts=j.attempts + 1,
                started_at=now_text,
                heartbeat_at=now_text,
                error=None,
            )
        ).rowcount
        == 1
    )


# ---------------------------------------------------------------- progress


def report_progress(
    database: Database, job_id: int, done: int, total: int, message: str = ""
) -> bool:
    """Record a running job's progress in its own short transaction; returns whether it was
    written now. Throttled: a report that comes too soon after the last write is kept and
    written by ``flush_progress`` (the worker's heartbeat does), unless it is the last step."""
    state = (max(0, done), max(0, total), message[:500])
    if not throttle.offer(job_id, state):
        return False
    return _write_progress(database, job_id, state)


def flush_progress(database: Database, job_id: int) -> bool:
    """Write the progress held back by the throttle, if any."""
    state = throttle.take_pending(job_id)
    return state is not None and _write_progress(database, job_id, state)


def heartbeat(database: Database, job_id: int) -> bool:
    """Tell the janitor that the running job's worker is alive."""
    with database.write() as conn:
        return (
            conn.execute(
                update(jobs).where(_running(job_id)).values(heartbeat_at=audit.utc_now_text())
            ).rowcount
            == 1
        )


def _write_progress(database: Database, job_id: int, state: tuple[int, int, str]) -> bool:
    done, total, message = state
    with database.write() as conn:
        return (
            conn.execute(
                update(jobs)
                .where(_running(job_id))
                .values(
                    progress_done=done,
                    progress_total=total,
                    message=message,
                    heartbeat_at=audit.utc_now_text(),
                )
            ).rowcount
            == 1
        )


def _running(job_id: int) -> Any:
    return and_(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)


# ---------------------------------------------------------------- finishing


def finish(conn: Connection, job: Job, result: Mapping[str, Any]) -> None:
    """Record the result of a job the worker claimed (``job`` is what ``claim_*`` gave)."""
    now = audit.utc_now_text()
    _end(
        conn,
        job,
        status=JobStatus.SUCCEEDED.value,
        result=audit.canonical(result),
        finished_at=now,
        heartbeat_at=now,
        progress_done=jobs.c.progress_total,
    )
    audit.record(
        conn,
        JANITOR,
        "job.finish",
        "job",
        job.id,
        {"status": job.status.value},
        {
            "status": JobStatus.SUCCEEDED.value,
            "worker": job.worker,
            "attempts": job.attempts,
            "result": dict(result),
        },
        job.book_id,
    )
    emit(
        conn,
        job.book_id,
        "job.finished",
        "job",
        job.id,
        {"kind": job.kind, "status": JobStatus.SUCCEEDED.value, "result": dict(result)},
    )


def fail(conn: Connection, job: Job, error: str) -> None:
    """Record why a claimed job failed; its dedupe key is given up so it can be retried."""
    now = audit.utc_now_text()
    error = error[:MAX_ERROR_CHARS] or "failed"
    _end(
        conn,
        job,
        status=JobStatus.FAILED.value,
        error=error,
        dedupe_key=None,
        finished_at=now,
        heartbeat_at=now,
    )
    _record_failure(conn, [(job, error)])


def _end(conn: Connection, job: Job, **values: Any) -> None:
    j = jobs.c
    changed = conn.execute(
        update(jobs)
        .where(
            and_(
                j.id == job.id,
                j.status == JobStatus.RUNNING.value,
                j.worker == job.worker,
                j.attempts == job.attempts,
            )
        )
        .values(**values)
    ).rowcount
    throttle.forget(job.id)
    if changed != 1:
        raise Conflict(
            f"job {job.id} is no longer held by {job.worker} (attempt "
            f"{job.attempts}): it was requeued or has ended"
        )


def _record_failure(conn: Connection, failed: list[tuple[Job, str]]) -> None:
    if not failed:
        return
    audit.record_many(
        conn,
        JANITOR,
        [
            (
                "job.fail",
                "job",
                job.id,
                {"status": JobStatus.RUNNING.value},
                {
                    "status": JobStatus.FAILED.value,
                    "worker": job.worker,
                    "attempts": job.attempts,
                    "error": error[:2000],
                },
                job.book_id,
            )
            for job, error in failed
        ],
    )
    for job, error in failed:
        emit(
            conn,
            job.book_id,
            "job.finished",
            "job",
            job.id,
            {"kind": job.kind, "status": JobStatus.FAILED.value, "error": error[:2000]},
        )


# ---------------------------------------------------------------- janitor


@dataclass(frozen=True, slots=True)
class StaleSweep:
    requeued: tuple[int, ...]
    failed: tuple[int, ...]


def requeue_stale(
    conn: Connection,
    older_than: timedelta = STALE_AFTER,
    max_attempts: int = MAX_ATTEMPTS,
    now: datetime | None = None,
) -> StaleSweep:
    """Running jobs whose worker stopped answering (no heartbeat for ``older_than``) go
    back to the queue, or fail once they have had ``max_attempts`` attempts."""
    cutoff = utc_text((now or datetime.now(UTC)) - older_than)
    j = jobs.c
    query = (
        select(jobs)
        .where(
            and_(
                j.status == JobStatus.RUNNING.value,
                func.coalesce(j.heartbeat_at, j.started_at, j.created_at) < cutoff,
            )
        )
        .order_by(j.id)
    )
    if is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    stale = [_job(r) for r in conn.execute(query)]
    requeued = [job for job in stale if job.attempts < max_attempts]
    failed = [
        (
            job,
            f"worker {job.worker} stopped answering (no heartbeat since "
            f"{job.heartbeat_at}) on attempt {job.attempts} of {max_attempts}",
        )
        for job in stale
        if job.attempts >= max_attempts
    ]
    for job in requeued:
        _end(
            conn,
            job,
            status=JobStatus.QUEUED.value,
            worker=None,
            started_at=None,
            heartbeat_at=None,
            message=f"requeued: worker {job.worker} stopped answering"[:500],
        )
    for job, error in failed:
        _end(
            conn,
            job,
            status=JobStatus.FAILED.value,
            error=error,
            dedupe_key=None,
            finished_at=audit.utc_now_text(),
        )
    if requeued:
        audit.record_many(
            conn,
            JANITOR,
            [
                (
                    "job.requeue",
                    "job",
                    job.id,
                    {"status": JobStatus.RUNNING.value, "worker": job.worker},
                    {"status": JobStatus.QUEUED.value, "attempts": job.attempts},
                    job.book_id,
                )
                for job in requeued
            ],
        )
    _record_failure(conn, failed)
    back = {job.id for job in requeued}
    for job in stale:
        log.warning(
            "job %s (%s) had no heartbeat since %s from worker %s: %s",
            job.id,
            job.kind,
            job.heartbeat_at,
            job.worker,
            "requeued" if job.id in back else "failed",
        )
    return StaleSweep(tuple(j.id for j in requeued), tuple(j.id for j, _ in failed))
