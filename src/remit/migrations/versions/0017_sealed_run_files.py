"""payments: a released bank file is kept, sealed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

``run_files.sealed``: the file's bytes as released, compressed and encrypted by the vault
(they carry account numbers). A download gives these bytes back after checking their digest,
instead of writing the file again from today's bank records: the same file every time, even
after a payee's bank details changed, and 100,000 payments' details are not decrypted twice
(issue 10, points 3 and 9, and Speed). Files released before this migration have none and
are written again as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_files", schema=None) as batch_op:
        batch_op.drop_column("sealed")
