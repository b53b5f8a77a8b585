"""Background jobs: the queue's rules, the built-in kinds, and a worker running them."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from remit import audit, composition
from remit.access.model import Role
from remit.access.service import add_user
from remit.audit import audit_events
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.db import is_postgres
from remit.documents import service as documents
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.jobs import service
from remit.jobs.model import JobStatus
from remit.jobs.progress import throttle
from remit.jobs.store import jobs
from remit.jobs.worker import (
    Every,
    Worker,
    optimize_store,
    schedule_daily,
)
from remit.ledger import service as ledger
from remit.secrets import Vault
from remit.testkit import person

RENT = b"""entry,date,description,account,party,currency,debit,credit
RENT-1,2026-10-01,Office rent,5000,,GBP,100.00,
RENT-1,2026-10-01,Office rent,1000,,GBP,,100.00
"""
# Three mistakes: no account, a date that is not one, more decimals than pounds have.
BAD = b"""entry,date,description,account,party,currency,debit,credit
A,2026-10-01,Rent,,,GBP,100.00,
A,2026-10-01,Rent,1000,,GBP,,100.00
B,2026-13-45,Fees,5000,,GBP,5.00,
B,2026-10-01,Fees,1000,,GBP,,5.00
C,2026-10-02,Short,5000,,GBP,10.005,
C,2026-10-02,Short,1000,,GBP,,10.00
"""


@pytest.fixture
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def worker(db, vault):
    return Worker(db, vault, "w-test", heartbeat_seconds=0.2)


def enqueue(db, actor, book, kind="audit.verify", params=None, **kw):
    with db.write() as conn:
        return service.enqueue(conn, actor, book, kind, params or {}, **kw)


def claim(db, name="w1", now=None):
    with db.write() as conn:
        return service.claim_next(conn, name, now)


def job(db, job_id):
    with db.read() as conn:
        return service.load(conn, job_id)


def audit_actions(db, job_id):
    with db.read() as conn:
        return [
            r.action
            for r in conn.execute(
                select(audit_events.c.action)
                .where(
                    (audit_events.c.object_type == "job")
                    & (audit_events.c.object_id == str(job_id))
                )
                .order_by(audit_events.c.id)
            )
        ]


# ---------------------------------------------------------------- the queue


def test_a_job_is_queued_claimed_and_finished_with_its_history(db, book, system):
    clerk = person("carla", book, Role.CLERK)
    job_id = enqueue(db, system, book)
    assert job(db, job_id).status is JobStatus.QUEUED
    started = claim(db)
    assert (started.id, started.status, started.worker, started.attempts) == (
        job_id,
        JobStatus.RUNNING,
        "w1",
        1,
    )
    assert claim(db, "w2") is None  # nothing else is due
    with db.write() as conn:
        service.finish(conn, started, {"events": 3})
    with db.read() as conn:
        done = service.get_job(conn, clerk, book, job_id)
        listed = service.list_jobs(conn, clerk, book)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"events": 3}
    assert done.finished and done.finished_at >= done.started_at >= done.created_at
    assert [j.id for j in listed] == [job_id]
    assert done.created_by == "system:test-setup"
    assert audit_actions(db, job_id) == ["job.enqueue", "job.finish"]
    assert done.as_dict()["status"] == "succeeded"


def test_oldest_due_job_first_and_not_before_its_time(db, book, system):
    soon = datetime.now(UTC) + timedelta(hours=1)
    later = enqueue(db, system, book, run_after=soon)
    first, second = enqueue(db, system, book), enqueue(db, system, book)
    assert [claim(db).id, claim(db).id, claim(db)] == [first, second, None]
    assert claim(db, now=soon + timedelta(seconds=1)).id == later


def test_the_list_pages_newest_first(db, book, system):
    ids = [enqueue(db, system, book) for _ in range(5)]
    with db.read() as conn:
        page1 = service.list_jobs(conn, system, book, limit=3)
        page2 = service.list_jobs(conn, system, book, limit=3, after_id=page1[-1].id)
    assert [j.id for j in page1 + page2] == ids[::-1]


def test_every_problem_of_a_request_is_reported(db, book, system):
    with pytest.raises(ValidationFailed) as bad_params:
        enqueue(
            db, system, book, "ledger.post_file", {"document_id": "x", "file_id": 2, "color": "red"}
        )
    assert [(p.field, p.check) for p in bad_params.value.problems] == [
        ("params.color", "unknown_param"),
        ("params", "one_of"),
        ("params.document_id", "positive_id"),
    ]
    with pytest.raises(ValidationFailed, match="unknown job kind 'nope'; kinds are audit"):
        enqueue(db, system, book, "nope")
    with pytest.raises(ValidationFailed, match="unknown parameter"):
        enqueue(db, system, book, "audit.verify", {"deep": True})
    with pytest.raises(NotFound, match="no book 999"):
        enqueue(db, system, 999)


def test_who_may_start_and_see_jobs(db, book, system):
    clerk, auditor = person("carla", book, Role.CLERK), person("aud", book, Role.AUDITOR)
    manager, client = person("mona", book, Role.MANAGER), person("cl", book, Role.CLIENT)
    with pytest.raises(Forbidden, match=r"carla may not audit.read"):
        enqueue(db, clerk, book, "audit.verify")  # jobs.run, but not the kind's permission
    with pytest.raises(Forbidden, match=r"aud may not jobs.run"):
        enqueue(db, auditor, book, "audit.verify")
    job_id = enqueue(db, manager, book, "audit.verify")
    with db.read() as conn:
        assert service.get_job(conn, auditor, book, job_id).created_by == "mona"
        with pytest.raises(Forbidden, match=r"jobs\.read"):
            service.list_jobs(conn, client, book)
        with pytest.raises(NotFound):
            service.get_job(conn, person("x", book + 1, Role.ADMIN), book + 1, job_id)
    with pytest.raises(Forbidden, match=r"jobs\.run"), db.write() as conn:
        service.cancel(conn, auditor, book, job_id)


def test_a_dedupe_key_names_one_live_or_done_job(db, book, system):
    key = f"cases.escalate:{book}:2026-11-23"
    first = enqueue(db, system, book, "cases.escalate", dedupe_key=key)
    assert enqueue(db, system, book, "cases.escalate", dedupe_key=key) == first
    with pytest.raises(Conflict, match="another kind"):
        enqueue(db, system, book, "audit.verify", dedupe_key=key)
    running = claim(db)
    assert enqueue(db, system, book, "cases.escalate", dedupe_key=key) == first
    with db.write() as conn:
        service.finish(conn, running, {"escalated": []})
    assert enqueue(db, system, book, "cases.escalate", dedupe_key=key) == first  # done already
    # A failed job gives its key up, so the work can be tried again.
    other = f"cases.escalate:{book}:2026-11-24"
    failing = enqueue(db, system, book, "cases.escalate", dedupe_key=other)
    holder = claim(db)
    with db.write() as conn:
        service.fail(conn, holder, "boom")
    retry = enqueue(db, system, book, "cases.escalate", dedupe_key=other)
    assert retry != failing and job(db, failing).dedupe_key is None
    with db.write() as conn:
        service.cancel(conn, system, book, retry)
    assert enqueue(db, system, book, "cases.escalate", dedupe_key=other) not in (retry, failing)


def test_only_a_queued_job_can_be_cancelled(db, book, system):
    manager = person("mona", book, Role.MANAGER)
    queued, running = enqueue(db, system, book), enqueue(db, system, book)
    with db.write() as conn:
        service.claim_job(conn, running, "w1")
        cancelled = service.cancel(conn, manager, book, queued)
        with pytest.raises(Conflict, match="is running; only a queued job"):
            service.cancel(conn, manager, book, running)
        with pytest.raises(Conflict, match="is cancelled, not queued"):
            service.claim_job(conn, queued, "w1")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.message == "cancelled by mona"
    assert audit_actions(db, queued) == ["job.enqueue", "job.cancel"]
    assert claim(db) is None


def test_the_janitor_requeues_a_silent_worker_and_fails_after_three_attempts(db, book, system):
    job_id = enqueue(db, system, book)
    later = datetime.now(UTC) + timedelta(minutes=10)
    holders = []
    for attempt in (1, 2, 3):
        holders.append(claim(db, f"w{attempt}"))
        with db.write() as conn:
            assert service.requeue_stale(conn, timedelta(minutes=30), now=later) == (
                service.StaleSweep((), ())
            )  # not stale yet
            sweep = service.requeue_stale(conn, timedelta(minutes=5), now=later)
        assert holders[-1].attempts == attempt
        assert sweep == (
            service.StaleSweep((job_id,), ()) if attempt < 3 else service.StaleSweep((), (job_id,))
        )
    failed = job(db, job_id)
    assert failed.status is JobStatus.FAILED and "w3 stopped answering" in failed.error
    assert "attempt 3 of 3" in failed.error
    # The first worker wakes up and tries to finish: the job is no longer its own.
    with pytest.raises(Conflict, match="no longer held by w1"), db.write() as conn:
        service.finish(conn, holders[0], {})
    assert audit_actions(db, job_id) == ["job.enqueue", "job.requeue", "job.requeue", "job.fail"]


def test_progress_is_recorded_and_throttled(db, book, system):
    job_id = enqueue(db, system, book)
    claim(db)
    assert service.report_progress(db, job_id, 1, 10, "one")
    assert not service.report_progress(db, job_id, 2, 10, "two")  # too soon: held
    assert (job(db, job_id).progress_done, job(db, job_id).message) == (1, "one")
    assert service.flush_progress(db, job_id)
    assert (job(db, job_id).progress_done, job(db, job_id).message) == (2, "two")
    assert not service.flush_progress(db, job_id)
    assert service.report_progress(db, job_id, 10, 10, "all")  # the last step is never held
    assert (job(db, job_id).progress_done, job(db, job_id).progress_total) == (10, 10)
    throttle.forget(job_id)


# ---------------------------------------------------------------- kinds run by a worker


def test_a_worker_verifies_the_audit_chain_with_progress(db, book, system, worker):
    job_id = enqueue(db, system, book)
    seen = []
    with db.write() as conn:
        claimed = service.claim_job(conn, job_id, worker.name)
    done = worker.execute(claimed, on_progress=lambda *report: seen.append(report))
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result["ok"] and done.result["chain_faults"] == []
    assert done.result["events"] >= 3  # the book and its accounts
    assert done.progress_done == done.progress_total > 0
    assert "0 chain fault(s), 0 ledger problem(s)" in done.message
    assert seen[0] == (0, 0, "verifying the audit chain") and seen[-1][0] == seen[-1][1]


def test_the_progress_verifier_finds_what_audit_verify_finds(db, book, system):
    with db.write() as conn:
        for n in range(30):
            audit.record(conn, system, "thing.change", "thing", n, None, {"v": n})
    with db.write() as conn:
        if is_postgres(conn):
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(text('UPDATE audit_events SET "after" = :v WHERE id = 12'), {"v": "{}"})
        conn.execute(text("DELETE FROM audit_events WHERE id IN (20, 21)"))
    reports = []
    with db.read() as conn:
        expected = audit.verify(conn)
        found = audit.verify(conn, lambda done, total: reports.append((done, total)), every=10)
    assert found == expected and not found.ok
    assert {f.kind for f in found.faults} == {"edited", "deleted"}
    assert reports[0] == (10, reports[0][1]) and reports[-1][0] == 10 * len(reports)


def test_a_program_fault_fails_the_job_with_its_type_and_is_logged(
    db, book, system, worker, monkeypatch, caplog
):
    def broken(conn, limit=100):
        raise RuntimeError("the day totals table is missing")

    monkeypatch.setattr(ledger, "integrity_problems", broken)
    job_id = enqueue(db, system, book)
    with caplog.at_level(logging.ERROR, logger="remit.jobs.worker"):
        assert worker.run_once()
    failed = job(db, job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "RuntimeError: the day totals table is missing"
    assert failed.message == "checking the ledger"  # where it stood when it failed
    assert any(r.exc_info and "job %s (%s) failed" in r.msg for r in caplog.records)
    assert audit_actions(db, job_id)[-1] == "job.fail"


def test_an_entry_file_document_is_posted_by_its_creator(db, book, system, worker):
    with db.write() as conn:
        add_user(conn, system, "carla", "correct horse battery", grants=[(book, Role.CLERK)])
        case_id = cases.open_case(conn, system, book, NewCase("helpdesk", "October rent"))
        doc_id = documents.attach(conn, system, book, "case", case_id, "rent.csv", RENT)
    carla = person("carla", book, Role.CLERK)
    first = enqueue(db, carla, book, "ledger.post_file", {"document_id": doc_id})
    assert worker.run_once()
    done = job(db, first)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert (done.result["posted"], done.result["replayed"]) == (1, 0)
    assert (done.progress_done, done.progress_total) == (3, 3)
    with db.read() as conn:
        entry = ledger.get_entry(conn, book, done.result["entry_ids"][0])
    assert entry.created_by == "carla"  # the handler acted as the job's creator
    again = enqueue(db, carla, book, "ledger.post_file", {"document_id": doc_id})
    worker.run_once()
    assert job(db, again).result["replayed"] == 1  # nothing posted twice


def test_an_entry_file_with_errors_fails_with_every_problem(db, book, system, worker):
    with db.write() as conn:
        file_id = documents.store_file(conn, book, "bad.csv", BAD)
    job_id = enqueue(db, system, book, "ledger.post_file", {"file_id": file_id})
    worker.run_once()
    failed = job(db, job_id)
    assert failed.status is JobStatus.FAILED
    lines = failed.error.splitlines()
    assert lines == [
        "3 problems; nothing was written:",
        f"- file-{file_id}.csv: line 2: account: an account code is required [required]",
        f"- file-{file_id}.csv: line 4: date: '2026-13-45' is not a date (YYYY-MM-DD) "
        "[date_format]",
        f"- file-{file_id}.csv: line 6: debit: '10.005' has more decimal places than GBP has "
        "(2) [currency_exponent]",
    ]
    with db.read() as conn:
        assert ledger.trial_balance(conn, system, book).rows == ()  # nothing was posted
    missing = enqueue(db, system, book, "ledger.post_file", {"file_id": file_id + 100})
    worker.run_once()
    assert job(db, missing).error == f"no stored file {file_id + 100} in this book"


def test_a_job_runs_with_the_roles_its_creator_has_now(db, book, system, worker):
    with db.write() as conn:
        add_user(conn, system, "mona", "correct horse battery", grants=[(book, Role.CLERK)])
        file_id = documents.store_file(conn, book, "rent.csv", RENT)
    # Enqueued by an actor with the manager role, but the user "mona" is only a clerk now.
    job_id = enqueue(db, person("mona", book, Role.MANAGER), book, "cases.escalate")
    worker.run_once()
    assert job(db, job_id).error.startswith("mona may not case.escalate")
    gone = enqueue(
        db, person("ghost", book, Role.CLERK), book, "ledger.post_file", {"file_id": file_id}
    )
    worker.run_once()
    assert job(db, gone).error == "no active user 'ghost'"


def test_overdue_cases_are_escalated_by_the_daily_job_once_a_day(db, book, system, vault, worker):
    with db.write() as conn:
        late = cases.open_case(
            conn, system, book, NewCase("helpdesk", "Forgotten"), today=date(2026, 1, 5)
        )
    # escalation, arbitration settlement, provider-document reminders
    assert composition.schedule_daily_jobs(db, vault) == 3
    assert composition.schedule_daily_jobs(db, vault) == 0  # today's are queued already
    assert worker.run_until_empty() == 3
    with db.read() as conn:
        [remind, settle, done] = service.list_jobs(conn, system, book)
        escalated = cases.get_case(conn, system, book, late)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"escalated": [late]}
    assert done.dedupe_key.startswith(f"cases.escalate:{book}:") and done.created_by == (
        "system:jobs"
    )
    assert escalated["escalation_level"] == 1
    assert composition.schedule_daily_jobs(db, vault) == 0  # done today
    assert settle.kind == "care.settle" and settle.result == {"settled_runs": []}
    assert remind.kind == "childcare.remind" and remind.result == {
        "reminders": 0,
        "held": 0,
        "lifted": 0,
    }
    later = lambda _: date(2099, 1, 1)  # noqa: E731
    assert schedule_daily(db, vault, composition.DAILY_KINDS, today=later) == 3


# ---------------------------------------------------------------- the worker's loop


def test_idle_tasks_run_when_nothing_is_due_and_a_failing_one_is_logged(
    db, vault, caplog, monkeypatch
):
    calls = []

    def count(database, vault_):
        calls.append(1)
        return 0

    def broken(database, vault_):
        raise RuntimeError("mail server away")

    worker = Worker(db, vault, "w-idle", idle_tasks=(broken, Every(3600, count)), poll_seconds=0.01)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    with caplog.at_level(logging.ERROR):
        runner.start()
        stop.wait(0.3)
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive() and calls == [1]  # every hour: once
    assert any("idle task broken failed" in r.getMessage() for r in caplog.records)
    # The composition root gives every worker the janitor, the daily jobs, the planner's
    # statistics and webhook delivery.
    names = [getattr(t, "__name__", "") for t in composition.idle_tasks()]
    assert names == ["requeue_stale_jobs", "schedule_daily_jobs", "optimize_store", "deliver_due"]


def test_a_stopped_worker_finishes_nothing_twice(db, book, system, vault):
    ids = [enqueue(db, system, book) for _ in range(3)]
    worker = Worker(db, vault, "w-loop", poll_seconds=0.01)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    for _ in range(3000):
        if all(job(db, i).finished for i in ids):
            break
        stop.wait(0.01)
    stop.set()
    runner.join(timeout=60)
    assert [job(db, i).status for i in ids] == [JobStatus.SUCCEEDED] * 3
    with db.read() as conn:
        rows = conn.execute(select(jobs.c.attempts, jobs.c.worker)).all()
    assert {tuple(r) for r in rows} == {(1, "w-loop")}


def test_a_time_without_its_zone_is_refused(db, book, system):
    with pytest.raises(ValidationFailed, match="with its time zone"):
        enqueue(db, system, book, run_after=datetime(2026, 1, 1, 9, 0))  # noqa: DTZ001


def test_the_store_upkeep_runs_on_both_stores(db, vault):
    assert optimize_store(db, vault) == 0  # PRAGMA optimize on SQLite; nothing on PostgreSQL
