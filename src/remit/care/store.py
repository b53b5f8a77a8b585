"""Tables of care monitoring: packages, planned visits, actual records, imports, runs and
their outcomes, and the tolerance policies.

Times of visits are local wall-clock time counted in whole seconds from 1970-01-01 00:00
(``*_s`` columns), as the exchange format and the engine have them: a care visit happens on
the client's clock, and integers load into the engine's frames a million at a time.

The big tables (planned visits, actual records, outcomes: a million rows a month at the
large scale) keep foreign keys only where a wrong reference could come from outside: the
parties and the package of a visit. The book and the import are the caller's own, set in
the same transaction, and an outcome's visit and record were read in it. On PostgreSQL
each key check locks its parent row, and those checks alone made a month of the large demo
miss its 60 s (ADR 8).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from remit.db import metadata

# A care package: what the council commissioned for a client from a provider.
care_packages = Table(
    "care_packages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("client_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("service_code", String(32), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),  # none: open-ended
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "ref", name="uq_care_packages_ref"),
    Index("ix_care_packages_provider", "book_id", "provider_party_id"),
)

# The weekly pattern of a package: one row per visit of the week.
care_package_slots = Table(
    "care_package_slots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("package_id", Integer, ForeignKey("care_packages.id"), nullable=False),
    Column("weekday", Integer, nullable=False),  # 0 Monday .. 6 Sunday
    Column("start_minute", Integer, nullable=False),  # minutes after midnight
    Column("duration_minutes", Integer, nullable=False),
    Column("carers", Integer, nullable=False),
    Index("ix_care_package_slots_package", "package_id"),
)

# The hourly rate of a package, effective-dated (a rate holds until the next one).
care_package_rates = Table(
    "care_package_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("package_id", Integer, ForeignKey("care_packages.id"), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("rate_per_hour", String(24), nullable=False),  # a decimal string, major units
    Column("currency", String(3), nullable=False),
    # The time band the rate prices: standard (any time without a band of its own),
    # evening, weekend, bank_holiday; a visit is priced by the band of its planned start.
    Column("band", String(16), nullable=False, server_default="standard"),
    UniqueConstraint(
        "package_id", "effective_from", "band", name="uq_care_package_rates_from_band"
    ),
)

# A provider's rate card: what care without a package (unplanned, emergency care) is paid,
# per service and time band, effective-dated.
care_provider_rates = Table(
    "care_provider_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("service_code", String(32), nullable=False),
    Column("band", String(16), nullable=False, server_default="standard"),
    Column("effective_from", Date, nullable=False),
    Column("rate_per_hour", String(24), nullable=False),  # a decimal string, major units
    Column("currency", String(3), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint(
        "book_id",
        "provider_party_id",
        "service_code",
        "band",
        "effective_from",
        name="uq_care_provider_rates_from",
    ),
)

# A client's absence from care (a hospital stay): the package's visits of those dates are
# suspended, not missed.
care_absences = Table(
    "care_absences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("client_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date),  # none: not yet back
    Column("reason", String(200), nullable=False),
    Column("import_id", Integer),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_care_absences_client", "book_id", "client_party_id"),
)

# Settings of a book (provider_party_id empty) or of one provider: payment terms of the
# self-bill, and whether the person who decided a run's exceptions may post it.
care_settings = Table(
    "care_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id")),
    Column("payment_terms_days", Integer),  # none: the book's (default 14)
    Column("decider_may_post", Boolean),  # none: the book's (default no)
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_care_settings_scope", "book_id", "provider_party_id"),
)

# The tolerance policy of a book (provider_party_id empty) or of one provider's contract,
# effective-dated; a change is a new version, never an edit.
care_policies = Table(
    "care_policies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id")),
    Column("effective_from", Date, nullable=False),
    Column("params", Text, nullable=False),  # JSON of the six numbers
    Column("note", String(500), nullable=False, default=""),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_care_policies_scope", "book_id", "provider_party_id", "effective_from"),
)

# An imported file of planned visits or actual records, fingerprinted: the same file twice
# is recognised and imports nothing.
care_imports = Table(
    "care_imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # planned | actual
    Column("filename", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id")),  # a portal upload's
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "kind", "sha256", name="uq_care_imports_file"),
)

planned_visits = Table(
    "planned_visits",
    metadata,
    Column("id", Integer, primary_key=True),
    # book_id and import_id carry no foreign key (see the module's docstring).
    Column("book_id", Integer, nullable=False),
    Column("ref", String(64), nullable=False),
    Column("package_id", Integer, ForeignKey("care_packages.id")),
    Column("client_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("service_code", String(32), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("carers", Integer, nullable=False),
    Column("import_id", Integer),
    # planned | cancelled_notice | cancelled_short_notice | frustrated | hospital
    Column("status", String(24), nullable=False, server_default="planned"),
    Column("status_reason", String(200)),
    UniqueConstraint("book_id", "ref", name="uq_planned_visits_ref"),
    Index("ix_planned_visits_period", "book_id", "start_s"),
    # A supplementary run reads the visits of a late record's client around its check-in.
    Index("ix_planned_visits_client", "book_id", "client_party_id", "start_s"),
)

actual_records = Table(
    "actual_records",
    metadata,
    Column("id", Integer, primary_key=True),
    # book_id and import_id carry no foreign key (see the module's docstring).
    Column("book_id", Integer, nullable=False),
    Column("ref", String(64), nullable=False),
    # None while the client is not in the book: the record is held under client_ref (the
    # reference the provider sent) and matched when a client of that reference is registered.
    Column("client_party_id", Integer, ForeignKey("parties.id")),
    Column("client_ref", String(64)),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("carer_ref", String(64), nullable=False),
    Column("service_code", String(32), nullable=False),
    Column("method", String(16)),  # app | phone | manual; none when located
    Column("check_in_s", BigInteger, nullable=False),
    Column("check_out_s", BigInteger, nullable=False),
    Column("latitude", String(24)),
    Column("longitude", String(24)),
    Column("import_id", Integer),
    UniqueConstraint("book_id", "ref", name="uq_actual_records_ref"),
    Index("ix_actual_records_period", "book_id", "check_in_s"),
)

# A reconciliation of one provider's period; its outcomes are the lines of the payable.
# Sequence 0 is the period's first run; 1, 2, ... are its supplementary runs (late records,
# adjustments asked after posting), each a further self-bill.
care_runs = Table(
    "care_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),  # inclusive
    Column("status", String(16), nullable=False),  # see care.model.RunStatus
    Column("policy", Text, nullable=False),  # JSON of the policy applied
    Column("case_id", Integer, ForeignKey("cases.id")),  # the arbitration case, if any
    Column("entry_id", BigInteger),  # the self-bill payable, once posted
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("sequence", Integer, nullable=False, server_default="0"),
    Column("posted_on", Date),  # the self-bill's date (the first open ledger period's)
    Column("due_on", Date),  # posted_on + the provider's payment terms
    UniqueConstraint(
        "book_id",
        "provider_party_id",
        "period_start",
        "period_end",
        "sequence",
        name="uq_care_runs_period_sequence",
    ),
)

RECORD_PAID_BY = "actual_record_id IS NOT NULL AND (decision IS NULL OR decision <> 'hold')"

visit_outcomes = Table(
    "visit_outcomes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("care_runs.id"), nullable=False),
    # No foreign keys on these two, on purpose: outcomes are derived rows, written in bulk
    # from visits and records read in the same transaction, and visits and records are
    # never deleted. On PostgreSQL a key check locks its parent row (a write per visit and
    # per record), which alone made a month of the large demo miss its 60 s.
    Column("planned_visit_id", Integer),
    Column("actual_record_id", Integer),
    Column("status", String(16), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("planned_minutes", Integer, nullable=False),
    Column("delivered_minutes", Integer, nullable=False),
    Column("paid_minutes", Integer, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("exception", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    # The arbitration decision, if any; final_* is what is paid (the policy's, or decided).
    Column("decision", String(20)),
    Column("decision_reason", Text),
    Column("decided_by", String(100)),
    Column("decided_at", String(32)),
    Column("final_minutes", Integer, nullable=False),
    Column("final_amount_minor", BigInteger, nullable=False),
    # The carer place (1..carers) of a planned visit this row fills or misses; none for a
    # duplicate or unplanned record, or a late record of a visit decided in another run.
    Column("place", Integer),
    Column("version", Integer, nullable=False, server_default="1"),  # +1 per decision
    Column("flags", String(64), nullable=False, server_default=""),  # e.g. late_arrival
    Index("ix_visit_outcomes_run", "run_id", "exception"),
    # Never paid twice: a record, and a carer place, belong to at most one run's outcome
    # (an outcome held until a package exists, paid nothing, is left out: a later run pays
    # its record once a package covers it).
    Index(
        "uq_visit_outcomes_record",
        "actual_record_id",
        unique=True,
        sqlite_where=text(RECORD_PAID_BY),
        postgresql_where=text(RECORD_PAID_BY),
    ),
    Index(
        "uq_visit_outcomes_place",
        "planned_visit_id",
        "place",
        unique=True,
        sqlite_where=text("place IS NOT NULL"),
        postgresql_where=text("place IS NOT NULL"),
    ),
)

# Every decision on an exception, in order: in force, waiting for a second person's
# approval, approved, refused, or replaced by a later one.
care_decisions = Table(
    "care_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outcome_id", Integer, ForeignKey("visit_outcomes.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("care_runs.id"), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    # in_force | pending_approval | refused | replaced
    Column("status", String(20), nullable=False),
    Column("outcome_version", Integer, nullable=False),  # the version it was made on
    Column("decided_by", String(100), nullable=False),
    Column("decided_at", String(32), nullable=False),
    Column("approved_by", String(100)),
    Column("approved_at", String(32)),
    Index("ix_care_decisions_outcome", "outcome_id"),
    Index("ix_care_decisions_run", "run_id", "status"),
)

# A provider's answer to one exception of its run, from the portal, with a file if any.
care_answers = Table(
    "care_answers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outcome_id", Integer, ForeignKey("visit_outcomes.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("care_runs.id"), nullable=False),
    Column("body", Text, nullable=False),
    Column("file_id", Integer, ForeignKey("stored_files.id")),
    Column("filename", String(255)),
    Column("answered_by", String(100), nullable=False),
    Column("answered_at", String(32), nullable=False),
    Index("ix_care_answers_run", "run_id", "outcome_id"),
)

# A provider held from payment: while a hold is not lifted, none of its runs is posted.
care_holds = Table(
    "care_holds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("held_by", String(100), nullable=False),
    Column("held_at", String(32), nullable=False),
    Column("lifted_by", String(100)),
    Column("lifted_at", String(32)),
    Index("ix_care_holds_provider", "book_id", "provider_party_id"),
)

# A manual adjustment of a run's payable (a late visit, a penalty): it counts once a second
# person approves it.
care_adjustments = Table(
    "care_adjustments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("care_runs.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # signed: + pays more, - less
    Column("currency", String(3), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_by", String(100), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("decided_by", String(100)),
    Column("decided_at", String(32)),
    Index("ix_care_adjustments_run", "run_id"),
)
