"""The worker: claims due jobs, runs their handlers, records the outcome; idle tasks between.

Several workers (processes or machines) share one queue: on PostgreSQL claims skip the rows
another worker is claiming; on SQLite claims take turns on the one write lock. While a job
runs, a heartbeat thread writes held-back progress and tells the janitor the worker is
alive. A handler's exception fails the job with its error (``model.error_text``); a program
fault is also logged with its traceback. Nothing is skipped silently.

When no job is due the worker runs its idle tasks, each ``(database, vault) -> int`` (how
much it did): by default the janitor for jobs whose worker died, the daily queueing of
``cases.escalate`` for every book, and the delivery of webhooks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from remit.access.model import Actor, require
from remit.access.service import actor_for
from remit.db import Database
from remit.errors import Conflict, RemitError
from remit.jobs import service
from remit.jobs.model import Job, JobContext, created_by_system, error_text, job_kind
from remit.ledger import service as ledger
from remit.secrets import Vault

log = logging.getLogger(__name__)

IdleTask = Callable[[Database, Vault], int]
ProgressHook = Callable[[int, int, str], None]
SCHEDULER = Actor.system("jobs")


def default_name(prefix: str = "worker") -> str:
    """``<prefix>:<host>:<pid>``, unique enough to tell workers apart in the job rows."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"[:100]


class Worker:
    """Claims and runs jobs; see the module's docstring."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        name: str | None = None,
        idle_tasks: Sequence[IdleTask] = (),
        poll_seconds: float = 1.0,
        heartbeat_seconds: float = 10.0,
    ) -> None:
        self.database = database
        self.vault = vault
        self.name = (name or default_name())[:100]
        self.idle_tasks = tuple(idle_tasks)
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds

    def run_once(self) -> bool:
        """Claim and run one due job; False when none was due."""
        with self.database.write() as conn:
            job = service.claim_next(conn, self.name)
        if job is None:
            return False
        self.execute(job)
        return True

    def run_until_empty(self) -> int:
        """Run due jobs until none is left; returns how many ran."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def run_until_idle(self, max_rounds: int = 10) -> int:
        """Idle tasks, then due jobs, again until neither finds work (at most
        ``max_rounds``): what a worker started by cron does. Returns how many jobs ran."""
        count = 0
        for _ in range(max_rounds):
            did = self.run_idle_tasks()
            ran = self.run_until_empty()
            count += ran
            if not did and not ran:
                break
        return count

    def run(self, stop: threading.Event) -> None:
        """Run jobs, and idle tasks when none is due, until ``stop`` is set. A job that is
        running when it is set runs to its end first."""
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                if self.run_once() or self.run_idle_tasks():
                    continue
            except Exception:
                log.exception("worker %s: the store failed; trying again shortly", self.name)
            stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.name)

    def run_idle_tasks(self) -> int:
        """Run each idle task once; a task that fails is logged and the others still run."""
        done = 0
        for task in self.idle_tasks:
            try:
                done += task(self.database, self.vault)
            except Exception:
                log.exception("idle task %s failed", getattr(task, "__name__", task))
        return done

    def execute(self, job: Job, on_progress: ProgressHook | None = None) -> Job:
        """Run a job this worker has claimed and record its outcome; returns the job after.
        ``on_progress`` sees every report unthrottled (the CLI draws its bar with it)."""
        result: Mapping[str, Any] | None = None
        error: str | None = None
        with _Heartbeat(self.database, job.id, self.heartbeat_seconds):
            try:
                result = self._run_handler(job, on_progress)
            except Exception as exc:
                error = error_text(exc)
                if not isinstance(exc, RemitError):  # the program's fault: keep its traceback
                    log.exception("job %s (%s) failed", job.id, job.kind)
            except BaseException as exc:  # Ctrl-C or exit: record it, then stop
                self._record(job, None, f"interrupted ({error_text(exc)})")
                raise
        self._record(job, result, error)
        with self.database.read() as conn:
            final = service.load(conn, job.id)
        assert final is not None
        return final

    def _run_handler(self, job: Job, on_progress: ProgressHook | None) -> Mapping[str, Any]:
        kind = job_kind(job.kind)
        if kind is None:
            raise RuntimeError(f"no handler for job kind {job.kind!r} in this worker")
        with self.database.read() as conn:
            actor = (
                SCHEDULER if created_by_system(job.created_by) else actor_for(conn, job.created_by)
            )
        require(actor, job.book_id, kind.permission)  # roles may have changed since enqueue

        def report(done: int, total: int, message: str) -> None:
            service.report_progress(self.database, job.id, done, total, message)
            if on_progress is not None:
                on_progress(done, total, message)

        context = JobContext(self.database, self.vault, job.book_id, actor, job.id, report)
        log.info("job %s (%s) started by %s", job.id, job.kind, self.name)
        result = kind.handler(context, job.params)
        if not isinstance(result, Mapping):
            raise TypeError(
                f"the {job.kind} handler returned {type(result).__name__}, not a mapping"
            )
        return result

    def _record(self, job: Job, result: Mapping[str, Any] | None, error: str | None) -> None:
        try:
            with self.database.write() as conn:
                if error is None:
                    service.finish(conn, job, result or {})
                else:
                    service.fail(conn, job, error)
        except Conflict as exc:  # the janitor gave it to another worker meanwhile
            log.warning("job %s: outcome not recorded: %s", job.id, exc)
            return
        log.info(
            "job %s (%s) %s",
            job.id,
            job.kind,
            "succeeded" if error is None else f"failed: {error.splitlines()[0]}",
        )


class _Heartbeat:
    """A thread that writes held-back progress and heartbeats while a job runs."""

    def __init__(
        self, database: Database, job_id: int, heartbeat_seconds: float, tick_seconds: float = 0.5
    ) -> None:
        self.database, self.job_id = database, job_id
        self.heartbeat_seconds, self.tick_seconds = heartbeat_seconds, tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._pump()  # the last report held back, so that a failure shows where it stood

    def _beat(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick_seconds):
            if self._pump():
                last = time.monotonic()
            elif time.monotonic() - last >= self.heartbeat_seconds:
                try:
                    service.heartbeat(self.database, self.job_id)
                except Exception:
                    log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
                last = time.monotonic()

    def _pump(self) -> bool:
        try:
            return service.flush_progress(self.database, self.job_id)
        except Exception:
            log.warning("job %s: progress not written", self.job_id, exc_info=True)
            return False


# ---------------------------------------------------------------- idle tasks


class Every:
    """An idle task run at most once every ``interval_seconds`` (the first call runs it)."""

    def __init__(self, interval_seconds: float, task: IdleTask) -> None:
        self.interval_seconds, self.task = interval_seconds, task
        self.__name__ = getattr(task, "__name__", "task")
        self._last: float | None = None

    def __call__(self, database: Database, vault: Vault) -> int:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval_seconds:
            return 0
        self._last = now
        return self.task(database, vault)


def requeue_stale_jobs(database: Database, vault: Vault) -> int:
    """The janitor as an idle task: how many stale jobs it requeued or failed."""
    with database.write() as conn:
        sweep = service.requeue_stale(conn)
    return len(sweep.requeued) + len(sweep.failed)


def schedule_daily(
    database: Database,
    vault: Vault,
    kinds: tuple[str, ...],
    today: Callable[[int], date] | None = None,
) -> int:
    """Queue each of ``kinds`` once per book and day (the book's own date); returns how many
    jobs it queued (0 when today's are queued or done already). The kinds are named by the
    composition root (``remit.composition.DAILY_KINDS``)."""
    with database.read() as conn:
        books = [
            (int(b["id"]), today(int(b["id"])) if today else ledger.book_today(conn, int(b["id"])))
            for b in ledger.list_books(conn)
        ]
    created = 0
    for book_id, day in books:
        for kind in kinds:
            key = f"{kind}:{book_id}:{day.isoformat()}"
            with database.write() as conn:
                created += service.enqueue_new(conn, SCHEDULER, book_id, kind, {}, dedupe_key=key)[
                    1
                ]
    return created


def optimize_store(database: Database, vault: Vault) -> int:
    """SQLite's own upkeep of its query planner's statistics (``PRAGMA optimize``, as its
    documentation advises for long-lived connections); nothing on PostgreSQL, whose
    autovacuum analyses. Returns 0: it changes no rows."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA optimize")
    return 0
