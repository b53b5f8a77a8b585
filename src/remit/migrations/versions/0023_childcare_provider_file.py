"""childcare: the provider file (documents with their dates, provisional providers)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05

Issue 11, point 1: each provider's required documents (W-9, rate sheet and signed
statement, licence, TrustLine, Health & Safety self-certification, closure policy) as
records that are never changed (a renewal is a new record); a licence-exempt carer's
relationship to the children and its provisional start. A book now judges a provider's
file from these records, so ``childcare_providers`` loses the ``file_complete`` and
``closure_policy`` flags that providers.csv used to set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "childcare_provider_documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("unsubsidised_rate_minor", sa.BigInteger(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("reminder_case_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
    )
    op.create_index(
        "ix_childcare_provider_documents_party",
        "childcare_provider_documents",
        ["book_id", "party_id"],
    )
    with op.batch_alter_table("childcare_providers") as batch_op:
        batch_op.add_column(sa.Column("relationship", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("provisional_from", sa.Date(), nullable=True))
        batch_op.drop_column("file_complete")
        batch_op.drop_column("closure_policy")


def downgrade() -> None:
    with op.batch_alter_table("childcare_providers") as batch_op:
        batch_op.add_column(
            sa.Column("closure_policy", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("file_complete", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_column("provisional_from")
        batch_op.drop_column("relationship")
    op.drop_index(
        "ix_childcare_provider_documents_party", table_name="childcare_provider_documents"
    )
    op.drop_table("childcare_provider_documents")
