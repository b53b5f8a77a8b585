"""Many workers, one queue: SKIP LOCKED on PostgreSQL, real worker processes, and the CLI.

No test here waits on a guess of how long something takes: each waits for a state it can
see (a lock being waited on, a row's status) with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from remit.access.model import Actor
from remit.audit import audit_events
from remit.cli import app
from remit.db import Database
from remit.jobs import service
from remit.jobs.model import JobStatus
from remit.jobs.store import jobs
from remit.jobs.worker import Worker
from remit.ledger import service as ledger
from remit.secrets import Vault

KEY = Fernet.generate_key().decode()
runner = CliRunner()
on_postgres = (pytest.mark.postgres, pytest.mark.parametrize("db", ["postgresql"], indirect=True))


def only_postgres(test):
    for mark in on_postgres:
        test = mark(test)
    return test


def wait_until(condition, what, timeout=120.0, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"waiting for {what}: a worker exited with {proc.returncode}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def lock_waiters(db):
    """Sessions of this database waiting for a lock another session holds."""
    with db.read() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).scalar()


def enqueue_many(db, system, book, count, kind="audit.verify"):
    with db.write() as conn:
        return [service.enqueue(conn, system, book, kind, {}) for _ in range(count)]


def rows(db):
    with db.read() as conn:
        return conn.execute(select(jobs).order_by(jobs.c.id)).all()


# ---------------------------------------------------------------- PostgreSQL


@only_postgres
def test_a_second_worker_skips_the_job_the_first_is_claiming(db, book, system):
    first_id, second_id = enqueue_many(db, system, book, 2)
    with db.engine.connect() as first:
        holding = first.begin()
        mine = service.claim_next(first, "w1")
        assert mine.id == first_id  # claimed, not committed: the row stays locked
        with db.write() as second:
            # Were it not skipped, this claim would wait for the lock; fail fast instead.
            second.execute(text("SET LOCAL lock_timeout = '10s'"))
            oldest = second.execute(
                select(func.min(jobs.c.id)).where(jobs.c.status == "queued")
            ).scalar()
            assert oldest == first_id  # the other session still sees it queued ...
            theirs = service.claim_next(second, "w2")
            assert theirs.id == second_id  # ... and takes the next one instead
            assert service.claim_next(second, "w3") is None
        holding.commit()
    assert [(r.id, r.status, r.worker, r.attempts) for r in rows(db)] == [
        (first_id, "running", "w1", 1),
        (second_id, "running", "w2", 1),
    ]


@only_postgres
def test_two_enqueuers_of_one_key_get_one_job(db, book, system):
    key = f"audit.verify:{book}:nightly"
    answers = []
    with db.engine.connect() as first:
        holding = first.begin()
        first_id = service.enqueue(first, system, book, "audit.verify", {}, dedupe_key=key)

        def second():
            with db.write() as conn:
                answers.append(
                    service.enqueue_new(conn, system, book, "audit.verify", {}, dedupe_key=key)
                )

        other = threading.Thread(target=second)
        other.start()
        wait_until(lambda: lock_waiters(db) == 1, "the second insert to wait on the key")
        holding.commit()
    other.join(timeout=60)
    assert answers == [(first_id, False)]
    assert [r.id for r in rows(db)] == [first_id]


@only_postgres
@pytest.mark.slow
def test_two_worker_processes_run_every_job_exactly_once(db, book, system, tmp_path):
    ids = enqueue_many(db, system, book, 40)
    env = {
        **os.environ,
        "REMIT_SECRET_KEY": KEY,
        "REMIT_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
    }
    env.pop("REMIT_USER", None)
    names = ("w1", "w2")
    logs = {name: tmp_path / f"{name}.log" for name in names}
    procs = []
    with db.engine.connect() as gate:
        holding = gate.begin()
        # Finishing a job appends to the audit chain: while we hold its head, each worker
        # stops with its first job in hand, which proves both run at the same time.
        gate.execute(text("SELECT seq FROM audit_head FOR UPDATE"))
        try:
            for name in names:
                with logs[name].open("w") as log:
                    procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "remit.cli",
                                "jobs",
                                "worker",
                                "--once",
                                "--no-idle",
                                "--name",
                                name,
                                "--poll",
                                "0.2",
                            ],
                            env=env,
                            cwd=tmp_path,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            wait_until(
                lambda: {r.worker for r in rows(db) if r.status == "running"} == set(names),
                "both workers to hold a job",
                procs=procs,
            )
        finally:
            holding.commit()
        try:
            codes = [proc.wait(timeout=300) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
    output = {name: logs[name].read_text() for name in names}
    assert codes == [0, 0], output
    done = rows(db)
    assert [r.id for r in done] == ids
    assert {(r.status, r.attempts) for r in done} == {("succeeded", 1)}, output
    assert set(Counter(r.worker for r in done)) == set(names)
    assert all('"ok":true' in r.result for r in done)  # each saw one consistent chain
    with db.read() as conn:
        finishes = Counter(
            int(r.object_id)
            for r in conn.execute(
                select(audit_events.c.object_id).where(audit_events.c.action == "job.finish")
            )
        )
    assert finishes == dict.fromkeys(ids, 1)
    assert (
        sum(f"job {i} (audit.verify) succeeded" in text_ for i in ids for text_ in output.values())
        == 40
    )


# ---------------------------------------------------------------- SQLite


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_two_workers_on_one_sqlite_file_take_turns(db, book, system):
    ids = enqueue_many(db, system, book, 20)
    vault = Vault(Fernet.generate_key())
    stores = [Database(db.url) for _ in range(2)]
    workers = [Worker(store, vault, f"t{n}") for n, store in enumerate(stores)]
    threads = [threading.Thread(target=w.run_until_empty) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for store in stores:
        store.dispose()
    done = rows(db)
    assert [r.id for r in done] == ids
    assert {(r.status, r.attempts) for r in done} == {("succeeded", 1)}
    assert {r.worker for r in done} <= {"t0", "t1"}


# ---------------------------------------------------------------- the command


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'remit.db'}"
    monkeypatch.setenv("REMIT_DATABASE_URL", url)
    monkeypatch.setenv("REMIT_SECRET_KEY", KEY)
    monkeypatch.delenv("REMIT_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init"]).exit_code == 0
    database = Database(url)
    with database.write() as conn:
        ledger.create_book(
            conn, Actor.system("test"), "test", "Test council", "GBP", "Europe/London"
        )
    yield database
    database.dispose()


def test_jobs_start_runs_the_job_here_and_prints_its_result(store):
    result = runner.invoke(app, ["jobs", "start", "audit.verify", "-b", "test"])
    assert result.exit_code == 0, result.output
    assert "job 1 audit.verify succeeded" in result.output
    assert '"ok": true' in result.output
    listed = runner.invoke(app, ["jobs", "list", "-b", "test"])
    assert listed.exit_code == 0 and "audit.verify" in listed.output
    assert "succeeded" in listed.output
    shown = runner.invoke(app, ["jobs", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "status succeeded" in shown.output and "system:cli" in shown.output
    with store.read() as conn:
        job = service.load(conn, 1)
    assert job.worker.startswith("cli:") and job.status is JobStatus.SUCCEEDED


def test_a_failed_job_shows_its_error_and_exits_1(store):
    result = runner.invoke(app, ["jobs", "start", "ledger.post_file", "-p", "file_id=42"])
    assert result.exit_code == 1
    assert "job 1 ledger.post_file failed" in result.output
    assert "no stored file 42 in this book" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["jobs", "start", "nope"], "unknown job kind 'nope'"),
        (["jobs", "start", "ledger.post_file", "-p", "file_id"], "is not key=value"),
        (
            ["jobs", "start", "ledger.post_file", "-p", "file_id=x", "-p", "a=1"],
            "2 problem(s); nothing was written",
        ),
        (["jobs", "start", "audit.verify", "-b", "nobook"], "no book with code 'nobook'"),
        (["jobs", "show", "7"], "no job 7"),
        (["jobs", "worker", "--poll", "0"], "--poll is a number of seconds above 0"),
    ],
)
def test_bad_input_is_explained_with_exit_code_2(store, args, expected):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_a_queued_job_waits_for_a_worker(store):
    queued = runner.invoke(app, ["jobs", "start", "audit.verify", "--no-wait"])
    assert queued.exit_code == 0 and "job 1 queued" in queued.output
    ran = runner.invoke(app, ["jobs", "worker", "--once", "--name", "w-cli"])
    assert ran.exit_code == 0, ran.output
    # The idle tasks queued today's daily jobs for the book; the worker ran all four.
    assert "worker w-cli: ran 4 job(s); the queue is empty" in ran.output
    with store.read() as conn:
        done = [service.load(conn, i) for i in (1, 2, 3, 4)]
    assert [(j.kind, j.status, j.worker) for j in done] == [
        ("audit.verify", JobStatus.SUCCEEDED, "w-cli"),
        ("cases.escalate", JobStatus.SUCCEEDED, "w-cli"),
        ("care.settle", JobStatus.SUCCEEDED, "w-cli"),
        ("childcare.remind", JobStatus.SUCCEEDED, "w-cli"),
    ]


def test_a_worker_process_stops_cleanly_on_sigterm(store, tmp_path):
    env = {**os.environ, "REMIT_SECRET_KEY": KEY, "REMIT_DATABASE_URL": store.url}
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remit.cli",
            "jobs",
            "worker",
            "--name",
            "w-bg",
            "--poll",
            "0.1",
            "--no-idle",
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        [job_id] = enqueue_many(store, Actor.system("test"), 1, 1)

        def finished():
            with store.read() as conn:
                return service.load(conn, job_id).finished

        wait_until(finished, "the worker to run the job", procs=[proc])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    with store.read() as conn:
        assert service.load(conn, job_id).worker == "w-bg"
    assert "worker w-bg stopped" in (tmp_path / "worker.log").read_text()
