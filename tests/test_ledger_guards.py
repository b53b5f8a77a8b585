"""The database itself refuses what the code refuses: tried here with raw SQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from remit.access.model import Role
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.testkit import person


@pytest.fixture
def posted(db, book):
    clerk = person("carla", book, Role.CLERK)
    with db.write() as conn:
        result = ledger.post(conn, clerk, book, EntryDraft(date(2026, 1, 5), "rent", "r1", (
            PostingDraft("5000", 1000, "GBP"), PostingDraft("1000", -1000, "GBP"))))
    return result.entry_id


def account_id(conn, book, code):
    return conn.execute(text("SELECT id FROM accounts WHERE book_id = :b AND code = :c"),
                        {"b": book, "c": code}).scalar_one()


def insert_posting(conn, entry_id, book, acct, amount):
    conn.execute(text(
        "INSERT INTO postings (entry_id, book_id, account_id, currency, amount_minor, "
        "entry_date, memo) VALUES (:e, :b, :a, 'GBP', :m, :d, '')"),
        {"e": entry_id, "b": book, "a": acct, "m": amount, "d": date(2026, 1, 5)})


def insert_entry(conn, entry_id, book, key):
    conn.execute(text(
        "INSERT INTO journal_entries (id, book_id, entry_date, description, idempotency_key, "
        "fingerprint, source_type, source_id, created_by, created_at) VALUES "
        "(:i, :b, :d, 'raw', :k, 'x', '', '', 'raw', 'now')"),
        {"i": entry_id, "b": book, "d": date(2026, 1, 5), "k": key})


@pytest.mark.parametrize("statement", [
    "UPDATE postings SET amount_minor = amount_minor + 1",
    "DELETE FROM postings",
    "UPDATE journal_entries SET description = 'edited'",
    "DELETE FROM journal_entries",
])
def test_posted_entries_and_postings_cannot_be_changed(db, posted, statement):
    with pytest.raises(DatabaseError, match="append-only"), db.write() as conn:
        conn.execute(text(statement))
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


def test_unbalanced_entry_is_refused_by_the_database(db, book, posted):
    with pytest.raises(DatabaseError, match="unbalanced"), db.write() as conn:
        insert_posting(conn, 999, book, account_id(conn, book, "5000"), 500)
        insert_posting(conn, 999, book, account_id(conn, book, "1000"), -499)
        insert_entry(conn, 999, book, "raw-unbalanced")
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


def test_single_sided_entry_is_refused_by_the_database(db, book, posted):
    with pytest.raises(DatabaseError, match="unbalanced"), db.write() as conn:
        insert_entry(conn, 998, book, "raw-empty")


def test_postings_without_their_entry_fail_at_commit(db, book, posted):
    with pytest.raises(DatabaseError), db.write() as conn:
        insert_posting(conn, 997, book, account_id(conn, book, "5000"), 500)
        insert_posting(conn, 997, book, account_id(conn, book, "1000"), -500)
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


def test_postings_cannot_be_added_to_a_posted_entry(db, book, posted):
    with pytest.raises(DatabaseError, match="already posted"), db.write() as conn:
        insert_posting(conn, posted, book, account_id(conn, book, "5000"), 1)
        insert_posting(conn, posted, book, account_id(conn, book, "1000"), -1)


def test_balanced_raw_entry_is_accepted(db, book, posted):
    # The guards refuse only what is wrong: postings first, then the entry row, balanced.
    with db.write() as conn:
        insert_posting(conn, 996, book, account_id(conn, book, "5000"), 250)
        insert_posting(conn, 996, book, account_id(conn, book, "1000"), -250)
        insert_entry(conn, 996, book, "raw-ok")
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == []
