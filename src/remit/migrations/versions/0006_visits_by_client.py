"""planned visits by client

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

An index of planned visits by book, client and start: a supplementary run (issue 9) reads
only the visits of its late records' clients around each check-in, instead of every visit
of the period (bench/care_book.py, the late 1%).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("planned_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_planned_visits_client", ["book_id", "client_party_id", "start_s"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("planned_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_planned_visits_client")
