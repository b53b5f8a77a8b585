"""care month: supplementary runs, unplanned care, decisions, answers, form tokens

Runs numbered within their provider's period (0 the first, then supplementary runs) with
the self-bill's date and due date; outcomes with their carer place, a version and flags,
and two partial unique indexes so that a record and a carer place belong to at most one
run's outcome; the history of decisions; providers' answers to exceptions; rates by time
band and providers' rate cards for care without a package; clients' absences; planned
visits' cancellation status; records held under the client reference the provider sent;
care settings (payment terms, who may post); page forms' one-time tokens (issue 9).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("care_runs") as batch:
        batch.drop_constraint("uq_care_runs_period", type_="unique")
        batch.add_column(sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("posted_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch.create_unique_constraint(
            "uq_care_runs_period_sequence",
            ["book_id", "provider_party_id", "period_start", "period_end", "sequence"],
        )
    with op.batch_alter_table("visit_outcomes") as batch:
        batch.add_column(sa.Column("place", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(
            sa.Column("flags", sa.String(length=64), server_default="", nullable=False)
        )
    op.create_index(
        "uq_visit_outcomes_record",
        "visit_outcomes",
        ["actual_record_id"],
        unique=True,
        sqlite_where=sa.text("actual_record_id IS NOT NULL"),
        postgresql_where=sa.text("actual_record_id IS NOT NULL"),
    )
    op.create_index(
        "uq_visit_outcomes_place",
        "visit_outcomes",
        ["planned_visit_id", "place"],
        unique=True,
        sqlite_where=sa.text("place IS NOT NULL"),
        postgresql_where=sa.text("place IS NOT NULL"),
    )
    with op.batch_alter_table("actual_records") as batch:
        batch.alter_column("client_party_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("client_ref", sa.String(length=64), nullable=True))
    with op.batch_alter_table("planned_visits") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=24), server_default="planned", nullable=False)
        )
        batch.add_column(sa.Column("status_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("care_package_rates") as batch:
        batch.drop_constraint("uq_care_package_rates_from", type_="unique")
        batch.add_column(
            sa.Column("band", sa.String(length=16), server_default="standard", nullable=False)
        )
        batch.create_unique_constraint(
            "uq_care_package_rates_from_band", ["package_id", "effective_from", "band"]
        )
    op.create_table(
        "care_provider_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("band", sa.String(length=16), server_default="standard", nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rate_per_hour", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.ForeignKeyConstraint(["provider_party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "book_id",
            "provider_party_id",
            "service_code",
            "band",
            "effective_from",
            name="uq_care_provider_rates_from",
        ),
    )
    op.create_table(
        "care_absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("client_party_id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.ForeignKeyConstraint(["client_party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_care_absences_client", "care_absences", ["book_id", "client_party_id"])
    op.create_table(
        "care_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=True),
        sa.Column("decider_may_post", sa.Boolean(), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.ForeignKeyConstraint(["provider_party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_care_settings_scope", "care_settings", ["book_id", "provider_party_id"])
    op.create_table(
        "care_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome_version", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.String(length=32), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["outcome_id"], ["visit_outcomes.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["care_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_care_decisions_outcome", "care_decisions", ["outcome_id"])
    op.create_index("ix_care_decisions_run", "care_decisions", ["run_id", "status"])
    op.create_table(
        "care_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=False),
        sa.Column("answered_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["outcome_id"], ["visit_outcomes.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["care_runs.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_care_answers_run", "care_answers", ["run_id", "outcome_id"])
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("book_id", "token", name="uq_form_submissions_token"),
    )


def downgrade() -> None:
    op.drop_table("form_submissions")
    op.drop_index("ix_care_answers_run", table_name="care_answers")
    op.drop_table("care_answers")
    op.drop_index("ix_care_decisions_run", table_name="care_decisions")
    op.drop_index("ix_care_decisions_outcome", table_name="care_decisions")
    op.drop_table("care_decisions")
    op.drop_index("ix_care_settings_scope", table_name="care_settings")
    op.drop_table("care_settings")
    op.drop_index("ix_care_absences_client", table_name="care_absences")
    op.drop_table("care_absences")
    op.drop_table("care_provider_rates")
    with op.batch_alter_table("care_package_rates") as batch:
        batch.drop_constraint("uq_care_package_rates_from_band", type_="unique")
        batch.drop_column("band")
        batch.create_unique_constraint(
            "uq_care_package_rates_from", ["package_id", "effective_from"]
        )
    with op.batch_alter_table("planned_visits") as batch:
        batch.drop_column("status_reason")
        batch.drop_column("status")
    with op.batch_alter_table("actual_records") as batch:
        batch.drop_column("client_ref")
        batch.alter_column("client_party_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("uq_visit_outcomes_place", table_name="visit_outcomes")
    op.drop_index("uq_visit_outcomes_record", table_name="visit_outcomes")
    with op.batch_alter_table("visit_outcomes") as batch:
        batch.drop_column("flags")
        batch.drop_column("version")
        batch.drop_column("place")
    with op.batch_alter_table("care_runs") as batch:
        batch.drop_constraint("uq_care_runs_period_sequence", type_="unique")
        batch.drop_column("due_on")
        batch.drop_column("posted_on")
        batch.drop_column("sequence")
        batch.create_unique_constraint(
            "uq_care_runs_period",
            ["book_id", "provider_party_id", "period_start", "period_end"],
        )
