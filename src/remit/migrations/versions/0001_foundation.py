"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-23

The tables, then the guards that make the database itself refuse what the code refuses:
UPDATE or DELETE of posted entries, postings and audit events, and an entry whose postings
do not balance per currency or are not all there (SQLite: when the entry row seals its
postings; PostgreSQL: at commit, with a deferred constraint trigger). Adding postings to a
posted entry is impossible by the keys of `postings` (see `remit/ledger/store.py`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _sealed_by_foreign_key() -> list[sa.ForeignKeyConstraint]:
    """SQLite: postings go first, and this deferred key fails the commit if their entry row,
    with the same line count, never follows. PostgreSQL checks per statement instead."""
    if op.get_bind().dialect.name == "postgresql":
        return []
    return [
        sa.ForeignKeyConstraint(
            ["entry_id", "entry_lines"],
            ["journal_entries.id", "journal_entries.line_count"],
            name="fk_postings_entry_sealed",
            initially="DEFERRED",
            deferrable=True,
        )
    ]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_object", ["object_type", "object_id"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "books",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books")),
        sa.UniqueConstraint("code", name=op.f("uq_books_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column("party_role", sa.String(length=16), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_accounts_book_id_books")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("book_id", "code", name=op.f("uq_accounts_book_id_code")),
    )
    op.create_table(
        "journal_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("source_type", sa.String(length=50), nullable=False),
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column(
            "reverses_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.CheckConstraint("line_count >= 2", name=op.f("ck_journal_entries_two_lines_at_least")),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_journal_entries_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_entries_reverses_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint(
            "idempotency_key", "book_id", name=op.f("uq_journal_entries_idempotency_key_book_id")
        ),
        sa.UniqueConstraint("id", "line_count", name="uq_journal_entries_id_line_count"),
        sa.UniqueConstraint("reverses_entry_id", name=op.f("uq_journal_entries_reverses_entry_id")),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_parties_book_id_books")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
        sa.UniqueConstraint("book_id", "ref", name=op.f("uq_parties_book_id_ref")),
    )
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.create_index("ix_parties_book_name", ["book_id", "name"], unique=False)

    op.create_table(
        "periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_periods_book_id_books")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_periods")),
        sa.UniqueConstraint("book_id", "start_date", name=op.f("uq_periods_book_id_start_date")),
    )
    op.create_table(
        "account_daily_totals",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("debit_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_account_daily_totals_book_id_books")
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "currency", "entry_date", name=op.f("pk_account_daily_totals")
        ),
    )
    with op.batch_alter_table("account_daily_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_daily_totals_book_date", ["book_id", "entry_date"], unique=False
        )

    op.create_table(
        "bank_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("masked", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.String(length=32), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_bank_changes_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_changes")),
    )
    with op.batch_alter_table("bank_changes", schema=None) as batch_op:
        batch_op.create_index("ix_bank_changes_party_status", ["party_id", "status"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_contacts_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_table(
        "party_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_party_identifiers_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_identifiers")),
        sa.UniqueConstraint(
            "party_id", "scheme", name=op.f("uq_party_identifiers_party_id_scheme")
        ),
    )
    op.create_table(
        "party_roles",
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_party_roles_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_party_roles_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("party_id", "role", name=op.f("pk_party_roles")),
    )
    with op.batch_alter_table("party_roles", schema=None) as batch_op:
        batch_op.create_index("ix_party_roles_book_role", ["book_id", "role"], unique=False)

    op.create_table(
        "postings",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry_lines", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_postings_amount_not_zero")),
        sa.CheckConstraint(
            "line_no BETWEEN 1 AND entry_lines", name=op.f("ck_postings_line_within_entry")
        ),
        *_sealed_by_foreign_key(),
        sa.PrimaryKeyConstraint("entry_id", "line_no", name=op.f("pk_postings")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_postings_party",
            ["party_id", "account_id"],
            unique=False,
            sqlite_where=sa.text("party_id IS NOT NULL"),
            postgresql_where=sa.text("party_id IS NOT NULL"),
        )

    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_user_roles_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_user_roles_party_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "book_id", "role", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("masked", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"], ["bank_changes.id"], name=op.f("fk_bank_accounts_change_id_bank_changes")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_bank_accounts_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_accounts")),
    )
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_bank_accounts_party", ["party_id", "status"], unique=False)

    _guards()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE journal_entry_id_seq")
    with op.batch_alter_table("bank_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_accounts_party")

    op.drop_table("bank_accounts")
    op.drop_table("user_roles")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_postings_party",
            sqlite_where=sa.text("party_id IS NOT NULL"),
            postgresql_where=sa.text("party_id IS NOT NULL"),
        )

    op.drop_table("postings")
    with op.batch_alter_table("party_roles", schema=None) as batch_op:
        batch_op.drop_index("ix_party_roles_book_role")

    op.drop_table("party_roles")
    op.drop_table("party_identifiers")
    op.drop_table("contacts")
    with op.batch_alter_table("bank_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_changes_party_status")

    op.drop_table("bank_changes")
    with op.batch_alter_table("account_daily_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_account_daily_totals_book_date")

    op.drop_table("account_daily_totals")
    op.drop_table("periods")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index("ix_parties_book_name")

    op.drop_table("parties")
    op.drop_table("journal_entries")
    op.drop_table("accounts")
    op.drop_table("users")
    op.drop_table("books")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_object")

    op.drop_table("audit_events")


APPEND_ONLY_TABLES = ("journal_entries", "postings", "audit_events")

# True when an entry's postings are wrong. One aggregate settles the usual single-currency
# entry; mixed currencies are grouped. A missing account or party fails the book check.
ENTRY_IS_WRONG = """
    (SELECT COUNT(*) <> NEW.line_count
            OR MAX(a.book_id IS DISTINCT FROM NEW.book_id OR p.entry_date <> NEW.entry_date
                   OR (p.party_id IS NOT NULL AND pt.book_id IS DISTINCT FROM NEW.book_id))
            OR (MIN(p.currency) = MAX(p.currency) AND SUM(p.amount_minor) <> 0)
     FROM postings p LEFT JOIN accounts a ON a.id = p.account_id
     LEFT JOIN parties pt ON pt.id = p.party_id
     WHERE p.entry_id = NEW.id)
    OR ((SELECT MIN(currency) <> MAX(currency) FROM postings WHERE entry_id = NEW.id)
        AND EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                    GROUP BY currency HAVING SUM(amount_minor) <> 0))"""

SQLITE_GUARDS = (
    *[
        f"""CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: correct with a reversal'); END"""
        for table in APPEND_ONLY_TABLES
        for verb in ("update", "delete")
    ],
    f"""CREATE TRIGGER journal_entries_balanced BEFORE INSERT ON journal_entries
    WHEN {ENTRY_IS_WRONG}
    BEGIN SELECT RAISE(ABORT,
      'unbalanced journal entry: postings must sum to zero per currency'); END""",
)

PG_GUARDS = (
    """CREATE FUNCTION remit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: correct with a reversal', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    *[
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION remit_refuse_change()"""
        for table in APPEND_ONLY_TABLES
    ],
    *[
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION remit_refuse_change()"""
        for table in APPEND_ONLY_TABLES
    ],
    # Postings follow their entry row, carry its line count and date, and name accounts and
    # parties of its book: one set-based check per statement (a COPY of 100,000 postings
    # costs one join, not 100,000 lookups).
    """CREATE FUNCTION remit_postings_follow_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (
          SELECT 1 FROM new_postings n
          LEFT JOIN journal_entries e ON e.id = n.entry_id
          LEFT JOIN accounts a ON a.id = n.account_id
          LEFT JOIN parties pt ON pt.id = n.party_id
          WHERE e.id IS NULL OR e.line_count <> n.entry_lines
             OR n.entry_date <> e.entry_date
             OR a.book_id IS DISTINCT FROM e.book_id
             OR (n.party_id IS NOT NULL AND pt.book_id IS DISTINCT FROM e.book_id)) THEN
        RAISE EXCEPTION 'postings must follow their journal entry row (its line count and date) '
          'and name accounts and parties of its book'
          USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER postings_follow_entry AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION remit_postings_follow_entry()""",
    # At commit, each entry's postings are all there and balance per currency: one index
    # range per entry; mixed currencies are grouped. Sequential scans are off inside, since
    # the plan is cached while the table may still be empty and must never scan every posting.
    """CREATE FUNCTION remit_entry_balanced() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off AS $$
    DECLARE
      wrong boolean;
      mixed boolean;
    BEGIN
      SELECT count(*) <> NEW.line_count
             OR (min(currency) = max(currency) AND sum(amount_minor) <> 0),
             min(currency) <> max(currency)
        INTO wrong, mixed
        FROM postings WHERE entry_id = NEW.id;
      IF wrong IS NOT FALSE OR (mixed AND EXISTS (
           SELECT 1 FROM postings WHERE entry_id = NEW.id
            GROUP BY currency HAVING sum(amount_minor) <> 0)) THEN
        RAISE EXCEPTION 'unbalanced journal entry %: postings must sum to zero per currency',
          NEW.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION remit_entry_balanced()""",
)


def _guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE SEQUENCE journal_entry_id_seq")
    for statement in PG_GUARDS if dialect == "postgresql" else SQLITE_GUARDS:
        op.execute(statement)
