"""The database itself refuses what the code refuses: tried here with raw SQL.

SQLite takes an entry's postings first and checks them when the entry row seals them;
PostgreSQL takes the entry row first and checks at commit. ``raw_entry`` writes in the order
each expects, so these tests hit the balance guards rather than the ordering guards. Each
test expects the one guard it is about, by its message: an error from another guard fails it.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from remit.access.model import Role
from remit.db import is_postgres
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.testkit import person

DAY = date(2026, 1, 5)


@pytest.fixture
def posted(db, book):
    clerk = person("carla", book, Role.CLERK)
    with db.write() as conn:
        result = ledger.post(
            conn,
            clerk,
            book,
            EntryDraft(
                DAY,
                "rent",
                "r1",
                (PostingDraft("5000", 1000, "GBP"), PostingDraft("1000", -1000, "GBP")),
            ),
        )
    return result.entry_id


# What each store's guards say (SQLite names no foreign key; PostgreSQL's checks do).
UNBALANCED = "unbalanced journal entry"
ENTRY_ROW_FIRST = (
    "postings must follow their journal entry row (its line count and date) and name "
    "accounts and parties of its book"
)
FOREIGN_KEY = "FOREIGN KEY constraint failed"


def guard(db, *, sqlite, postgresql):
    """The message expected from the store ``db`` is, as a pattern for ``match``."""
    return re.escape(postgresql if db.url.startswith("postgresql") else sqlite)


def account_id(conn, book, code):
    return conn.execute(
        text("SELECT id FROM accounts WHERE book_id = :b AND code = :c"), {"b": book, "c": code}
    ).scalar_one()


def insert_posting(conn, entry_id, line_no, acct, amount, lines=2, currency="GBP"):
    conn.execute(
        text(
            "INSERT INTO postings (entry_id, line_no, entry_lines, account_id, currency, "
            "amount_minor, entry_date, memo) VALUES (:e, :n, :l, :a, :c, :m, :d, '')"
        ),
        {"e": entry_id, "n": line_no, "l": lines, "a": acct, "c": currency, "m": amount, "d": DAY},
    )


def insert_entry(conn, entry_id, book, key, lines=2):
    conn.execute(
        text(
            "INSERT INTO journal_entries (id, book_id, entry_date, line_count, description, "
            "idempotency_key, fingerprint, source_type, source_id, created_by, created_at) VALUES "
            "(:i, :b, :d, :l, 'raw', :k, 'x', '', '', 'raw', 'now')"
        ),
        {"i": entry_id, "b": book, "d": DAY, "l": lines, "k": key},
    )


def raw_entry(conn, entry_id, book, lines, line_count=None):
    """An entry written past the service: lines are (account id, amount, currency)."""
    count = len(lines) if line_count is None else line_count
    if is_postgres(conn):
        insert_entry(conn, entry_id, book, f"raw-{entry_id}", count)
    for n, (acct, amount, currency) in enumerate(lines, start=1):
        insert_posting(conn, entry_id, n, acct, amount, count, currency)
    if not is_postgres(conn):
        insert_entry(conn, entry_id, book, f"raw-{entry_id}", count)


def postings_count(db):
    with db.read() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM postings")).scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount_minor = amount_minor + 1",
        "DELETE FROM postings",
        "UPDATE journal_entries SET description = 'edited'",
        "DELETE FROM journal_entries",
    ],
)
def test_posted_entries_and_postings_cannot_be_changed(db, posted, statement):
    table = statement.split()[1] if statement.startswith("UPDATE") else statement.split()[2]
    message = f"{table} is append-only: correct with a reversal"
    with pytest.raises(IntegrityError, match=re.escape(message)), db.write() as conn:
        conn.execute(text(statement))
    assert postings_count(db) == 2


def test_unbalanced_entry_is_refused_by_the_database(db, book, posted):
    with pytest.raises(IntegrityError, match=UNBALANCED), db.write() as conn:
        raw_entry(
            conn,
            999,
            book,
            [
                (account_id(conn, book, "5000"), 500, "GBP"),
                (account_id(conn, book, "1000"), -499, "GBP"),
            ],
        )
    assert postings_count(db) == 2


def test_entry_without_its_postings_is_refused_by_the_database(db, book, posted):
    with pytest.raises(IntegrityError, match=UNBALANCED), db.write() as conn:
        insert_entry(conn, 998, book, "raw-empty")


def test_entry_missing_one_of_its_lines_is_refused_by_the_database(db, book, posted):
    with pytest.raises(IntegrityError, match=UNBALANCED), db.write() as conn:
        raw_entry(
            conn,
            995,
            book,
            [
                (account_id(conn, book, "5000"), 500, "GBP"),
                (account_id(conn, book, "1000"), -500, "GBP"),
            ],
            line_count=3,
        )


def test_postings_without_their_entry_are_refused(db, book, posted):
    # SQLite: at commit (deferred key); PostgreSQL: at once (statement check).
    refused = guard(db, sqlite=FOREIGN_KEY, postgresql=ENTRY_ROW_FIRST)
    with pytest.raises(IntegrityError, match=refused), db.write() as conn:
        insert_posting(conn, 997, 1, account_id(conn, book, "5000"), 500)
        insert_posting(conn, 997, 2, account_id(conn, book, "1000"), -500)
    assert postings_count(db) == 2


@pytest.mark.parametrize(
    ("line_no", "lines", "on_sqlite", "on_postgresql"),
    [
        (1, 2, "UNIQUE constraint failed: postings.entry_id, postings.line_no", '"pk_postings"'),
        (3, 2, "ck_postings_line_within_entry", '"ck_postings_line_within_entry"'),
        (3, 4, FOREIGN_KEY, ENTRY_ROW_FIRST),
    ],
)
def test_postings_cannot_be_added_to_a_posted_entry(
    db, book, posted, line_no, lines, on_sqlite, on_postgresql
):
    # Every slot of a posted entry is taken (1), beyond its line count is refused (3 of 2),
    # and claiming another line count (4) matches no posted entry.
    refused = guard(db, sqlite=on_sqlite, postgresql=on_postgresql)
    with pytest.raises(IntegrityError, match=refused), db.write() as conn:
        insert_posting(conn, posted, line_no, account_id(conn, book, "5000"), 1, lines=lines)
    assert postings_count(db) == 2


def test_account_of_another_book_is_refused(db, book, posted, system):
    with db.write() as conn:
        other = ledger.create_book(conn, system, "other", "Other", "GBP")
        ledger.open_accounts(conn, system, other, [AccountSpec("9", "X", AccountType.ASSET)])
    # SQLite refuses when the entry row seals; PostgreSQL when the postings arrive.
    refused = guard(db, sqlite=UNBALANCED, postgresql=ENTRY_ROW_FIRST)
    with pytest.raises(IntegrityError, match=refused), db.write() as conn:
        raw_entry(
            conn,
            993,
            book,
            [(account_id(conn, other, "9"), 5, "GBP"), (account_id(conn, book, "1000"), -5, "GBP")],
        )
    with pytest.raises(IntegrityError, match=refused), db.write() as conn:
        raw_entry(
            conn, 992, book, [(424242, 5, "GBP"), (account_id(conn, book, "1000"), -5, "GBP")]
        )


def test_balanced_raw_entry_is_accepted_and_verify_sees_it_bypassed_the_service(db, book, posted):
    with db.write() as conn:
        raw_entry(
            conn,
            996,
            book,
            [
                (account_id(conn, book, "5000"), 250, "GBP"),
                (account_id(conn, book, "1000"), -250, "GBP"),
            ],
        )
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == [
            f"day totals of account {account_id(conn, book, code)} GBP on 2026-01-05 disagree "
            "with its postings"
            for code in ("1000", "5000")
        ]


@pytest.mark.parametrize(("eur_credit", "accepted"), [(-3, True), (-2, False)])
def test_mixed_currency_entry_must_balance_in_each_currency(db, book, posted, eur_credit, accepted):
    def write():
        with db.write() as conn:
            bank, income = account_id(conn, book, "1000"), account_id(conn, book, "4000")
            raw_entry(
                conn,
                994,
                book,
                [
                    (bank, 5, "GBP"),
                    (income, -5, "GBP"),
                    (bank, 3, "EUR"),
                    (income, eur_credit, "EUR"),
                ],
            )

    if accepted:
        write()
    else:
        with pytest.raises(IntegrityError, match=UNBALANCED):
            write()


def test_an_items_cost_centre_is_as_fixed_as_its_amount(db, book, system):
    """Migration 0018 made the items' guard again with the new column: a payment run filters
    by it, so it may not move under one."""
    with db.write() as conn:
        party = parties.create_parties(
            conn,
            system,
            book,
            [parties.NewParty("P1", "P1 Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))],
        )[0]
        ledger.post(
            conn,
            system,
            book,
            EntryDraft(
                DAY,
                "bill",
                "b1",
                (
                    PostingDraft("5000", 1000, "GBP"),
                    PostingDraft("2000", -1000, "GBP", party, cost_centre="OP-HOMECARE"),
                ),
            ),
        )
    with pytest.raises(DBAPIError), db.write() as conn:
        conn.execute(text("UPDATE open_items SET cost_centre = 'LD-SUPPORT'"))
    with db.read() as conn:
        assert (
            conn.execute(text("SELECT cost_centre FROM open_items")).scalar_one() == "OP-HOMECARE"
        )


def test_migration_0018_goes_down_and_up_and_keeps_every_item_guard(tmp_path):
    from remit.db import Database, migrate  # noqa: PLC0415

    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    database.migrate()

    def triggers() -> dict[str, str]:
        with database.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                     "AND tbl_name = 'open_items'")
            )  # fmt: skip
            return {str(name): str(sql) for name, sql in rows.all()}

    assert "cost_centre" in triggers()["open_items_fixed"]
    command_down(database, "0017")
    down = triggers()
    assert {"open_items_fixed", "open_items_no_delete"} <= set(down)
    assert "cost_centre" not in down["open_items_fixed"]
    migrate(database.engine)
    assert "cost_centre" in triggers()["open_items_fixed"]
    database.dispose()


def command_down(database, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    from remit.db import alembic_config  # noqa: PLC0415

    command.downgrade(alembic_config(database.engine), revision)
