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


def insert_posting(conn, entry_id, line_no, acct, amount, lines=2):
    conn.execute(text(
        "INSERT INTO postings (entry_id, line_no, entry_lines, account_id, currency, "
        "amount_minor, entry_date, memo) VALUES (:e, :n, :l, :a, 'GBP', :m, :d, '')"),
        {"e": entry_id, "n": line_no, "l": lines, "a": acct, "m": amount,
         "d": date(2026, 1, 5)})


def insert_entry(conn, entry_id, book, key, lines=2):
    conn.execute(text(
        "INSERT INTO journal_entries (id, book_id, entry_date, line_count, description, "
        "idempotency_key, fingerprint, source_type, source_id, created_by, created_at) VALUES "
        "(:i, :b, :d, :l, 'raw', :k, 'x', '', '', 'raw', 'now')"),
        {"i": entry_id, "b": book, "d": date(2026, 1, 5), "l": lines, "k": key})


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
        insert_posting(conn, 999, 1, account_id(conn, book, "5000"), 500)
        insert_posting(conn, 999, 2, account_id(conn, book, "1000"), -499)
        insert_entry(conn, 999, book, "raw-unbalanced")
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


def test_entry_without_its_postings_is_refused_by_the_database(db, book, posted):
    with pytest.raises(DatabaseError, match="unbalanced"), db.write() as conn:
        insert_entry(conn, 998, book, "raw-empty")


def test_entry_missing_one_of_its_lines_is_refused_by_the_database(db, book, posted):
    with pytest.raises(DatabaseError, match="unbalanced"), db.write() as conn:
        insert_posting(conn, 995, 1, account_id(conn, book, "5000"), 500, lines=3)
        insert_posting(conn, 995, 2, account_id(conn, book, "1000"), -500, lines=3)
        insert_entry(conn, 995, book, "raw-short", lines=3)


def test_postings_without_their_entry_fail_at_commit(db, book, posted):
    with pytest.raises(DatabaseError), db.write() as conn:
        insert_posting(conn, 997, 1, account_id(conn, book, "5000"), 500)
        insert_posting(conn, 997, 2, account_id(conn, book, "1000"), -500)
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


@pytest.mark.parametrize(("line_no", "lines"), [(1, 2), (3, 2), (3, 4)])
def test_postings_cannot_be_added_to_a_posted_entry(db, book, posted, line_no, lines):
    # Every slot of a posted entry is taken (1), beyond its line count (3 of 2) is refused,
    # and claiming another line count (4) does not match the posted entry at commit.
    with pytest.raises(DatabaseError), db.write() as conn:
        insert_posting(conn, posted, line_no, account_id(conn, book, "5000"), 1, lines=lines)
    with db.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one() == 2


def test_balanced_raw_entry_is_accepted(db, book, posted):
    # The guards refuse only what is wrong: postings first, then the entry row, balanced.
    with db.write() as conn:
        insert_posting(conn, 996, 1, account_id(conn, book, "5000"), 250)
        insert_posting(conn, 996, 2, account_id(conn, book, "1000"), -250)
        insert_entry(conn, 996, book, "raw-ok")
    # ...but a write past the posting service leaves the day totals behind: verify says so.
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == [
            f"day totals of account {account_id(conn, book, code)} GBP on 2026-01-05 disagree "
            "with its postings" for code in ("1000", "5000")]


def insert_line(conn, entry_id, line_no, acct, amount, currency, lines):
    conn.execute(text(
        "INSERT INTO postings (entry_id, line_no, entry_lines, account_id, currency, "
        "amount_minor, entry_date, memo) VALUES (:e, :n, :l, :a, :c, :m, :d, '')"),
        {"e": entry_id, "n": line_no, "l": lines, "a": acct, "c": currency, "m": amount,
         "d": date(2026, 1, 5)})


@pytest.mark.parametrize(("eur_credit", "accepted"), [(-3, True), (-2, False)])
def test_mixed_currency_entry_must_balance_in_each_currency(db, book, posted, eur_credit,
                                                            accepted):
    # GBP balances and the grand total could too; only EUR decides.
    def write():
        with db.write() as conn:
            bank, income = account_id(conn, book, "1000"), account_id(conn, book, "4000")
            insert_line(conn, 994, 1, bank, 5, "GBP", 4)
            insert_line(conn, 994, 2, income, -5, "GBP", 4)
            insert_line(conn, 994, 3, bank, 3, "EUR", 4)
            insert_line(conn, 994, 4, income, eur_credit, "EUR", 4)
            insert_entry(conn, 994, book, "raw-fx", lines=4)
    if accepted:
        write()
    else:
        with pytest.raises(DatabaseError, match="unbalanced"):
            write()
