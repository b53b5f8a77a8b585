"""childcare: families, children, certificates and their versions in a book

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

Issue 11, point 2: a family (a client party of the book, with its size, income and fee),
its children, and each child's certificates (one child and one provider each) with their
versions from a date, each recording the notice of action that told the family.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "childcare_families",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("family_ref", sa.String(length=64), nullable=False),
        sa.Column("family_size", sa.Integer(), nullable=False),
        sa.Column("monthly_income_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_exempt", sa.Boolean(), nullable=False),
        sa.Column("family_fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_collected_by", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("book_id", "family_ref", name="uq_childcare_families_ref"),
        sa.UniqueConstraint("book_id", "party_id", name="uq_childcare_families_party"),
    )
    op.create_table(
        "childcare_children",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column(
            "family_id", sa.Integer(), sa.ForeignKey("childcare_families.id"), nullable=False
        ),
        sa.Column("child_ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.UniqueConstraint("book_id", "child_ref", name="uq_childcare_children_ref"),
    )
    op.create_index("ix_childcare_children_family", "childcare_children", ["family_id"])
    op.create_table(
        "childcare_certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("certificate_ref", sa.String(length=64), nullable=False),
        sa.Column("child_id", sa.Integer(), sa.ForeignKey("childcare_children.id"), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.UniqueConstraint("book_id", "certificate_ref", name="uq_childcare_certificates_ref"),
    )
    op.create_index(
        "ix_childcare_certificates_provider",
        "childcare_certificates",
        ["book_id", "provider_party_id"],
    )
    op.create_index("ix_childcare_certificates_child", "childcare_certificates", ["child_id"])
    op.create_table(
        "childcare_certificate_versions",
        sa.Column(
            "certificate_id",
            sa.Integer(),
            sa.ForeignKey("childcare_certificates.id"),
            primary_key=True,
        ),
        sa.Column("version_from", sa.Date(), primary_key=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=False),
        sa.Column("rate_category", sa.String(length=8), nullable=False),
        sa.Column("time_basis", sa.String(length=4), nullable=False),
        sa.Column("evening_weekend_share", sa.String(length=12), nullable=False),
        sa.Column("exceptional_needs", sa.Boolean(), nullable=False),
        sa.Column("severely_disabled", sa.Boolean(), nullable=False),
        sa.Column("provider_rate_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("childcare_certificate_versions")
    op.drop_index("ix_childcare_certificates_child", table_name="childcare_certificates")
    op.drop_index("ix_childcare_certificates_provider", table_name="childcare_certificates")
    op.drop_table("childcare_certificates")
    op.drop_index("ix_childcare_children_family", table_name="childcare_children")
    op.drop_table("childcare_children")
    op.drop_table("childcare_families")
