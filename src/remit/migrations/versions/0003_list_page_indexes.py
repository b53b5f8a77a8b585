"""list page indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Indexes for the list and queue pages at the large demo scale (bench/web.py, issue 3):

- parties by book, name and id, holding ref and kind: a page of a party list, and a search
  of names and refs, read this index alone (it replaces the index of book and name);
- cases by book, party and due date: a party's cases come in due order without a sort;
- cases by book and due date: the case list with closed cases included, in due order;
- bank-detail changes by status: the changes waiting for approval, without a scan of the
  book's parties;
- contacts by party: a party's page reads its contacts without a scan of every contact.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index("ix_parties_book_name")
        batch_op.create_index(
            "ix_parties_by_name", ["book_id", "name", "id", "ref", "kind"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_party")
        batch_op.create_index("ix_cases_party", ["book_id", "party_id", "due_date"], unique=False)
        batch_op.create_index("ix_cases_book_due", ["book_id", "due_date"], unique=False)

    with op.batch_alter_table("bank_changes", schema=None) as batch_op:
        batch_op.create_index("ix_bank_changes_status", ["status", "id"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_party", ["party_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_party")

    with op.batch_alter_table("bank_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_changes_status")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_book_due")
        batch_op.drop_index("ix_cases_party")
        batch_op.create_index("ix_cases_party", ["book_id", "party_id"], unique=False)

    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_index("ix_parties_by_name")
        batch_op.create_index("ix_parties_book_name", ["book_id", "name"], unique=False)
