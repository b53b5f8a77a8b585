"""care: a record held until a package exists

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

The unique index that keeps a record in at most one run's outcome leaves out an outcome
decided ``hold`` (held until a package exists, paid nothing): the held outcome keeps its
record (its run's worklist and self-bill still show it) while a later run, once a package
covers the record, pays it once (issue 9, unplanned care).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PAID_BY = "actual_record_id IS NOT NULL AND (decision IS NULL OR decision <> 'hold')"
ANY = "actual_record_id IS NOT NULL"


def _index(where: str) -> None:
    op.create_index(
        "uq_visit_outcomes_record",
        "visit_outcomes",
        ["actual_record_id"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index("uq_visit_outcomes_record", table_name="visit_outcomes")
    _index(PAID_BY)


def downgrade() -> None:
    # A record held in one run and paid in another cannot be put back under the old index.
    op.drop_index("uq_visit_outcomes_record", table_name="visit_outcomes")
    _index(ANY)
