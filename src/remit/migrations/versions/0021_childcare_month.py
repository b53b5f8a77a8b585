"""childcare: a book's providers, ceilings and policy, the attendance records, and each
month's calculation

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

Issue 11, points 3-5: the month calculated in the book from its certificates, the
attendance records received and the state's ceilings, a row per child-month kept with the
evidence of the four audit tests; a payable row posted once as an open payable item of
its provider, due 21 days (the policy's days) after its complete record was received.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _by() -> list[sa.Column[str]]:
    return [
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "childcare_providers",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), primary_key=True),
        sa.Column("provider_type", sa.String(length=8), nullable=False),
        sa.Column("county", sa.String(length=64), nullable=False),
        sa.Column("file_complete", sa.Boolean(), nullable=False),
        sa.Column("closure_policy", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
    )
    op.create_table(
        "childcare_ceilings",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("effective_from", sa.Date(), primary_key=True),
        sa.Column("county", sa.String(length=64), primary_key=True),
        sa.Column("facility", sa.String(length=8), primary_key=True),
        sa.Column("age_band", sa.String(length=8), primary_key=True),
        sa.Column("rate_category", sa.String(length=8), primary_key=True),
        sa.Column("time_basis", sa.String(length=4), primary_key=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        *_by(),
    )
    op.create_table(
        "childcare_policies",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("effective_from", sa.Date(), primary_key=True),
        sa.Column("policy", sa.String(length=4000), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.String(length=32), nullable=False),
    )
    op.create_table(
        "childcare_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column(
            "certificate_id",
            sa.Integer(),
            sa.ForeignKey("childcare_certificates.id"),
            nullable=False,
        ),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("parent_signed", sa.Date(), nullable=True),
        sa.Column("provider_signed", sa.Date(), nullable=True),
        sa.Column("received", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        *_by(),
        sa.UniqueConstraint("certificate_id", "month", name="uq_childcare_records_month"),
    )
    op.create_index("ix_childcare_records_book_month", "childcare_records", ["book_id", "month"])
    op.create_table(
        "childcare_record_days",
        sa.Column("record_id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("absence", sa.String(length=8), nullable=False),
    )
    op.create_table(
        "childcare_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("certificate_ref", sa.String(length=64), nullable=False),
        sa.Column("version_key", sa.String(length=10), nullable=False),
        sa.Column("child_ref", sa.String(length=64), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reasons", sa.String(length=500), nullable=False),
        sa.Column("basis", sa.String(length=40), nullable=False),
        sa.Column("units", sa.String(length=20), nullable=False),
        sa.Column("ceiling_minor", sa.BigInteger(), nullable=True),
        sa.Column("factor", sa.String(length=12), nullable=True),
        sa.Column("rate_applied_minor", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("family_fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_by", sa.Date(), nullable=True),
        sa.Column("fee_check", sa.String(length=500), nullable=False),
        sa.Column("eligibility_check", sa.String(length=500), nullable=False),
        sa.Column("rate_check", sa.String(length=500), nullable=False),
        sa.Column("hours_check", sa.String(length=500), nullable=False),
        sa.Column("calculated_at", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.String(length=32), nullable=True),
        sa.UniqueConstraint(
            "book_id",
            "month",
            "certificate_ref",
            "version_key",
            name="uq_childcare_payments_row",
        ),
    )


def downgrade() -> None:
    op.drop_table("childcare_payments")
    op.drop_table("childcare_record_days")
    op.drop_index("ix_childcare_records_book_month", table_name="childcare_records")
    op.drop_table("childcare_records")
    op.drop_table("childcare_policies")
    op.drop_table("childcare_ceilings")
    op.drop_table("childcare_providers")
