"""care monitoring

Packages with weekly patterns and dated rates, planned visits, actual records, their
imports, versioned tolerance policies, reconciliation runs and their outcomes, holds on
providers and manual adjustments (issue 4). The big tables keep foreign keys only to the
parties and packages (see care/store.py and ADR 8).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actual_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("client_party_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("carer_ref", sa.String(length=64), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("check_in_s", sa.BigInteger(), nullable=False),
        sa.Column("check_out_s", sa.BigInteger(), nullable=False),
        sa.Column("latitude", sa.String(length=24), nullable=True),
        sa.Column("longitude", sa.String(length=24), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_party_id"],
            ["parties.id"],
            name=op.f("fk_actual_records_client_party_id_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_actual_records_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actual_records")),
        sa.UniqueConstraint("book_id", "ref", name="uq_actual_records_ref"),
    )
    with op.batch_alter_table("actual_records", schema=None) as batch_op:
        batch_op.create_index("ix_actual_records_period", ["book_id", "check_in_s"], unique=False)

    op.create_table(
        "care_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("held_by", sa.String(length=100), nullable=False),
        sa.Column("held_at", sa.String(length=32), nullable=False),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_care_holds_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_care_holds_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_holds")),
    )
    with op.batch_alter_table("care_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_holds_provider", ["book_id", "provider_party_id"], unique=False
        )

    op.create_table(
        "care_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_care_imports_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_care_imports_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_imports")),
        sa.UniqueConstraint("book_id", "kind", "sha256", name="uq_care_imports_file"),
    )
    op.create_table(
        "care_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("client_party_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_care_packages_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["client_party_id"],
            ["parties.id"],
            name=op.f("fk_care_packages_client_party_id_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_care_packages_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_packages")),
        sa.UniqueConstraint("book_id", "ref", name="uq_care_packages_ref"),
    )
    with op.batch_alter_table("care_packages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_packages_provider", ["book_id", "provider_party_id"], unique=False
        )

    op.create_table(
        "care_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_care_policies_book_id_books")
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_care_policies_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_policies")),
    )
    with op.batch_alter_table("care_policies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_policies_scope",
            ["book_id", "provider_party_id", "effective_from"],
            unique=False,
        )

    op.create_table(
        "care_package_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rate_per_hour", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["care_packages.id"],
            name=op.f("fk_care_package_rates_package_id_care_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_package_rates")),
        sa.UniqueConstraint("package_id", "effective_from", name="uq_care_package_rates_from"),
    )
    op.create_table(
        "care_package_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("carers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["care_packages.id"],
            name=op.f("fk_care_package_slots_package_id_care_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_package_slots")),
    )
    with op.batch_alter_table("care_package_slots", schema=None) as batch_op:
        batch_op.create_index("ix_care_package_slots_package", ["package_id"], unique=False)

    op.create_table(
        "care_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"], name=op.f("fk_care_runs_book_id_books")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_care_runs_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_care_runs_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_runs")),
        sa.UniqueConstraint(
            "book_id", "provider_party_id", "period_start", "period_end", name="uq_care_runs_period"
        ),
    )
    op.create_table(
        "planned_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=True),
        sa.Column("client_party_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("start_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("carers", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_party_id"],
            ["parties.id"],
            name=op.f("fk_planned_visits_client_party_id_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["care_packages.id"],
            name=op.f("fk_planned_visits_package_id_care_packages"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_party_id"],
            ["parties.id"],
            name=op.f("fk_planned_visits_provider_party_id_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planned_visits")),
        sa.UniqueConstraint("book_id", "ref", name="uq_planned_visits_ref"),
    )
    with op.batch_alter_table("planned_visits", schema=None) as batch_op:
        batch_op.create_index("ix_planned_visits_period", ["book_id", "start_s"], unique=False)

    op.create_table(
        "care_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["care_runs.id"], name=op.f("fk_care_adjustments_run_id_care_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_adjustments")),
    )
    with op.batch_alter_table("care_adjustments", schema=None) as batch_op:
        batch_op.create_index("ix_care_adjustments_run", ["run_id"], unique=False)

    op.create_table(
        "visit_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("planned_visit_id", sa.Integer(), nullable=True),
        sa.Column("actual_record_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("planned_minutes", sa.Integer(), nullable=False),
        sa.Column("delivered_minutes", sa.Integer(), nullable=False),
        sa.Column("paid_minutes", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("exception", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.String(length=32), nullable=True),
        sa.Column("final_minutes", sa.Integer(), nullable=False),
        sa.Column("final_amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["care_runs.id"], name=op.f("fk_visit_outcomes_run_id_care_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_outcomes")),
    )
    with op.batch_alter_table("visit_outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_visit_outcomes_run", ["run_id", "exception"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("visit_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_outcomes_run")

    op.drop_table("visit_outcomes")
    with op.batch_alter_table("care_adjustments", schema=None) as batch_op:
        batch_op.drop_index("ix_care_adjustments_run")

    op.drop_table("care_adjustments")
    with op.batch_alter_table("planned_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_planned_visits_period")

    op.drop_table("planned_visits")
    op.drop_table("care_runs")
    with op.batch_alter_table("care_package_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_care_package_slots_package")

    op.drop_table("care_package_slots")
    op.drop_table("care_package_rates")
    with op.batch_alter_table("care_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_care_policies_scope")

    op.drop_table("care_policies")
    with op.batch_alter_table("care_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_care_packages_provider")

    op.drop_table("care_packages")
    op.drop_table("care_imports")
    with op.batch_alter_table("care_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_care_holds_provider")

    op.drop_table("care_holds")
    with op.batch_alter_table("actual_records", schema=None) as batch_op:
        batch_op.drop_index("ix_actual_records_period")

    op.drop_table("actual_records")
