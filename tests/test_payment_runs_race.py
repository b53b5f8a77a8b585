"""Never twice, with real processes (issue 10, point 9): two processes approving, or two
releasing, the same run at the same moment cannot both succeed, on SQLite and PostgreSQL;
a process that dies while releasing (its bank file written and its entries posted, but not
committed) leaves the run approved with nothing recorded, and the release done again writes
the very same file, byte for byte: there is never a second, different file to reconcile.

There is nothing for a janitor to undo: a release is one transaction (files recorded and
sealed, items settled, entries posted, run moved) and the file's bytes are derived from the
run alone, so what a dead process wrote and lost is exactly what the next release writes.
Each child is a fresh interpreter running this file as a script (``child`` below).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from remit.access.model import Role
from remit.db import Database
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import house, runs
from remit.payments.model import NewHouseAccount, RunStatus
from remit.payments.store import run_files, run_payments
from remit.secrets import Vault
from remit.testkit import person

HERE = Path(__file__)
PAY_DATE = date(2026, 11, 27)
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def prepared(db, book, system, key):
    """A run of two payees' bills, prepared by carla."""
    vault = Vault(key)
    clerk, abe = person("carla", book, Role.CLERK), person("abe", book, Role.APPROVER)
    with db.write() as conn:
        ledger.open_accounts(
            conn, system, book, [AccountSpec("2050", "Payments in transit", AccountType.LIABILITY)]
        )
        ids = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(r, f"{r} Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
                for r in ("P1", "P2")
            ],
        )
        for party, number in zip(ids, ("12345678", "87654321"), strict=True):
            details = BankDetails(
                BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": number}
            )
            change = parties.request_bank_change(conn, clerk, vault, book, party, details, "form")
            parties.approve_bank_change(conn, abe, book, change)
        ledger.post_entries(
            conn,
            system,
            book,
            [
                EntryDraft(
                    date(2026, 10, 31),
                    f"bill {n}",
                    f"bill-{n}",
                    (
                        PostingDraft("5000", 1_000 * n, "GBP"),
                        PostingDraft("2000", -1_000 * n, "GBP", party, doc_ref=f"SB-{n}"),
                    ),
                )
                for n, party in enumerate(ids, start=1)
            ],
        )
        house.add_house_account(
            conn,
            person("mona", book, Role.MANAGER),
            book,
            NewHouseAccount("OPS", "Operations", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
        )
        run = runs.prepare_run(conn, clerk, book, PAY_DATE).run
    return run


def spawn(db: Database, book: int, run_id: int, action: str, user: str, key: bytes, start: float,
          out: Path | None = None) -> subprocess.Popen[str]:  # fmt: skip
    env = {
        **os.environ,
        "RACE_URL": url_of(db),
        "RACE_BOOK": str(book),
        "RACE_RUN": str(run_id),
        "RACE_ACTION": action,
        "RACE_USER": user,
        "RACE_KEY": key.decode(),
        "RACE_START": repr(start),
        "RACE_OUT": str(out or ""),
    }
    return subprocess.Popen(
        [sys.executable, str(HERE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def answers(procs: list[subprocess.Popen[str]]) -> list[str]:
    found = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        found.append(out.strip().splitlines()[-1] if out.strip() else f"exit {proc.returncode}")
    return sorted(found)


def state(db: Database, book: int, run_id: int) -> tuple[RunStatus, int, int]:
    with db.read() as conn:
        run = runs.get_run(conn, person("x", book, Role.AUDITOR), book, run_id)
        files = conn.execute(
            select(func.count()).select_from(run_files).where(run_files.c.run_id == run_id)
        ).scalar_one()
        posted = conn.execute(
            select(func.count())
            .select_from(run_payments)
            .where(run_payments.c.run_id == run_id, run_payments.c.release_entry_id.is_not(None))
        ).scalar_one()
    return run.status, int(files), int(posted)


def test_two_processes_approving_the_same_run_at_once_one_wins(db, book, prepared, key):
    start = time.time() + 2.0
    procs = [spawn(db, book, prepared.id, "approve", who, key, start) for who in ("abe", "bea")]
    found = answers(procs)
    assert [a.split(":")[0] for a in found] == ["conflict", "ok"], found
    with db.read() as conn:
        run = runs.get_run(conn, person("x", book, Role.AUDITOR), book, prepared.id)
    assert run.status is RunStatus.APPROVED and run.approved_by in ("abe", "bea")
    assert run.version == prepared.version + 1  # one approval moved it, not two


def test_two_processes_releasing_the_same_run_at_once_one_wins(db, book, prepared, key):
    with db.write() as conn:
        runs.approve_run(conn, person("abe", book, Role.APPROVER), book, prepared.id, version=1)
    start = time.time() + 2.0
    procs = [spawn(db, book, prepared.id, "release", who, key, start) for who in ("abe", "bea")]
    found = answers(procs)
    assert [a.split(":")[0] for a in found] == ["conflict", "ok"], found
    assert state(db, book, prepared.id) == (RunStatus.RELEASED, 1, 2)
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == []


def test_a_release_that_dies_half_way_leaves_nothing_and_the_next_writes_the_same_file(
    db, book, prepared, key, tmp_path
):
    abe = person("abe", book, Role.APPROVER)
    with db.write() as conn:
        approved = runs.approve_run(conn, abe, book, prepared.id, version=1)
    lost = tmp_path / "lost.bin"
    [dead] = [spawn(db, book, prepared.id, "crash", "bea", key, time.time(), lost)]
    dead.communicate(timeout=120)
    assert dead.returncode == 9 and lost.stat().st_size > 0  # it wrote its file, then died
    assert state(db, book, prepared.id) == (RunStatus.APPROVED, 0, 0)  # nothing recorded
    vault = Vault(key)
    with db.write() as conn:
        done = runs.release_run(conn, abe, vault, book, prepared.id, version=approved.version)
        [file] = runs.list_files(conn, abe, book, done.id)
        _, data = runs.file_bytes(conn, abe, vault, book, done.id, file.id)
    assert data == lost.read_bytes()  # the same file: no second, different one
    assert hashlib.sha256(data).hexdigest() == file.sha256
    assert state(db, book, prepared.id) == (RunStatus.RELEASED, 1, 2)


def child() -> None:  # pragma: no cover - runs in the spawned interpreter
    """One process's try: wait for the common start, then act; print ok or conflict."""
    from remit.errors import Conflict, Forbidden  # noqa: PLC0415

    book, run_id = int(os.environ["RACE_BOOK"]), int(os.environ["RACE_RUN"])
    action, user = os.environ["RACE_ACTION"], os.environ["RACE_USER"]
    actor = person(user, book, Role.APPROVER)
    database, vault = Database(os.environ["RACE_URL"]), Vault(os.environ["RACE_KEY"].encode())
    if action == "crash":
        write, out = runs._write_file, Path(os.environ["RACE_OUT"])

        def keep_then_write(*args, **kwargs):  # the bytes as the dying release wrote them
            data = write(*args, **kwargs)
            out.write_bytes(data)
            return data

        def die(*_args, **_kwargs):  # the process dies before anything is committed
            os._exit(9)

        runs._write_file = keep_then_write
        runs._mark_released = die
    while time.time() < float(os.environ["RACE_START"]):
        time.sleep(0.005)
    try:
        with database.write() as conn:
            run = runs.get_run(conn, actor, book, run_id)
            if action == "approve":
                runs.approve_run(conn, actor, book, run_id, version=run.version)
            else:
                runs.release_run(conn, actor, vault, book, run_id, version=run.version)
        print("ok")
    except (Conflict, Forbidden) as exc:
        print(json.dumps(f"conflict: {exc}")[1:-1])
    finally:
        database.dispose()


if __name__ == "__main__":  # pragma: no cover
    child()
