"""book locale

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

The locale a book writes its dates in (issue 9, point 6: en-GB for the council, en-US for
the agency), a setting of its own rather than its currency's: a sterling book may be read
in the United States. Existing books get their currency's locale, as they showed until now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(8), nullable=True))
    books = sa.table("books", sa.column("base_currency", sa.String), sa.column("locale", sa.String))
    op.execute(books.update().where(books.c.base_currency == "USD").values(locale="en_US"))
    op.execute(books.update().where(books.c.locale.is_(None)).values(locale="en_GB"))


def downgrade() -> None:
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.drop_column("locale")
