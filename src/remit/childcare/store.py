"""Tables of child care in a book: families, their children, and the children's
certificates (notices of action) with their versions.

A family is a party of the book (role ``client``: the parent the notices are written to,
and who owes the family fee when the agency collects it); ``childcare_families`` holds what
the calculation needs of it. A certificate names one child and one provider (a party with
the role ``provider``) for good: another provider is another certificate. Everything else
of a certificate is in its versions, each holding from its ``version_from`` until the next
one; versions are never changed or deleted, a change is a new version from a date, and the
notice of action that told the family of it is recorded on the version.

Column values are as the exchange files have them (docs/formats/childcare.md): the
schedule as canonical text (``mon=8;tue=8``), shares as decimal text, the provider's rate
in minor units.
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
    UniqueConstraint,
)

from remit.db import metadata

childcare_families = Table(
    "childcare_families",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("family_ref", String(64), nullable=False),  # the files' family_id
    Column("family_size", Integer, nullable=False),
    Column("monthly_income_minor", BigInteger, nullable=False),
    Column("fee_exempt", Boolean, nullable=False),
    Column("family_fee_minor", BigInteger, nullable=False),  # 0 when fee_exempt
    Column("fee_collected_by", String(8), nullable=False),  # provider | agency
    Column("language", String(2), nullable=False),  # en | es: its notices' language
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("book_id", "family_ref", name="uq_childcare_families_ref"),
    UniqueConstraint("book_id", "party_id", name="uq_childcare_families_party"),
)

childcare_children = Table(
    "childcare_children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("family_id", Integer, ForeignKey("childcare_families.id"), nullable=False),
    Column("child_ref", String(64), nullable=False),  # the files' child_id
    Column("name", String(200), nullable=False),  # "" when the files gave none
    Column("birth_date", Date, nullable=False),
    UniqueConstraint("book_id", "child_ref", name="uq_childcare_children_ref"),
    Index("ix_childcare_children_family", "family_id"),
)

childcare_certificates = Table(
    "childcare_certificates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("certificate_ref", String(64), nullable=False),  # the files' certificate_id
    Column("child_id", Integer, ForeignKey("childcare_children.id"), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "certificate_ref", name="uq_childcare_certificates_ref"),
    Index("ix_childcare_certificates_provider", "book_id", "provider_party_id"),
    Index("ix_childcare_certificates_child", "child_id"),
)

childcare_certificate_versions = Table(
    "childcare_certificate_versions",
    metadata,
    Column("certificate_id", Integer, ForeignKey("childcare_certificates.id"), primary_key=True),
    Column("version_from", Date, primary_key=True),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),  # inclusive
    Column("schedule", String(120), nullable=False),
    Column("rate_category", String(8), nullable=False),
    Column("time_basis", String(4), nullable=False),
    Column("evening_weekend_share", String(12), nullable=False),
    Column("exceptional_needs", Boolean, nullable=False),
    Column("severely_disabled", Boolean, nullable=False),
    Column("provider_rate_minor", BigInteger, nullable=False),
    Column("reason", String(300), nullable=False),  # why this version: "imported", a change
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    # The notice of action that told the family (a correspondence item), once issued.
    Column("notice_id", Integer),
)

# What the calculation needs of a provider of the book (providers.csv): its type and county
# (for the ceilings); a licence-exempt carer's relationship to the children (a grandparent,
# aunt or uncle needs no TrustLine registration) and the day it became a provisional
# provider, if it did. Whether its file is complete comes from its documents (below).
childcare_providers = Table(
    "childcare_providers",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), primary_key=True),
    Column("provider_type", String(8), nullable=False),  # center | fcch | exempt
    Column("county", String(64), nullable=False),
    Column("updated_by", String(100), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("relationship", String(12)),  # grandparent | aunt | uncle | other; exempt only
    Column("provisional_from", Date),
)

# The provider file: each required document as a record with its status and the dates it
# is in force. A record is never changed: a renewal, a suspension or a clearance is a new
# record, and the file is judged from all of them (remit.childcare.providerfile).
childcare_provider_documents = Table(
    "childcare_provider_documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # providerfile.DocumentKind
    Column("status", String(12), nullable=False),  # providerfile.STATUSES of its kind
    Column("valid_from", Date, nullable=False),
    Column("expires_on", Date),  # inclusive; none: does not expire
    Column("reference", String(64), nullable=False),  # licence or TrustLine number; "" none
    Column("unsubsidised_rate_minor", BigInteger),  # a rate sheet's rate to others
    Column("document_id", Integer),  # the scanned document, when one was uploaded
    Column("reminder_case_id", Integer),  # the case opened when it neared its expiry
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Index("ix_childcare_provider_documents_party", "book_id", "party_id"),
)

# The state's rate ceilings (ceilings.csv), each from its date until the county's next row
# of the same key. A ceiling is never changed: a new one is a row from a new date.
childcare_ceilings = Table(
    "childcare_ceilings",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("effective_from", Date, primary_key=True),
    Column("county", String(64), primary_key=True),
    Column("facility", String(8), primary_key=True),
    Column("age_band", String(8), primary_key=True),
    Column("rate_category", String(8), primary_key=True),
    Column("time_basis", String(4), primary_key=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

# The calculation's parameters (policy.toml) from a date; the version in force on the
# first day of a month calculates it.
childcare_policies = Table(
    "childcare_policies",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("effective_from", Date, primary_key=True),
    Column("policy", String(4000), nullable=False),  # the TOML text, as given
    Column("note", String(300), nullable=False),
    Column("set_by", String(100), nullable=False),
    Column("set_at", String(32), nullable=False),
)

# A child's attendance record of a month (one certificate, one month), as received; its
# days below. Replaced by a new file of the same certificate and month until the month is
# posted for it.
childcare_records = Table(
    "childcare_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("certificate_id", Integer, ForeignKey("childcare_certificates.id"), nullable=False),
    Column("month", Date, nullable=False),  # its first day
    Column("parent_signed", Date),
    Column("provider_signed", Date),
    Column("received", Date),
    Column("source", String(200), nullable=False),  # the file it came in
    Column("document_id", Integer),  # that file, kept as received
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("certificate_id", "month", name="uq_childcare_records_month"),
    Index("ix_childcare_records_book_month", "book_id", "month"),
)

childcare_record_days = Table(
    "childcare_record_days",
    metadata,
    # No key on the record: written by the call that writes it, in the same transaction
    # (docs/adr/0011-payment-run-keys.md).
    Column("record_id", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),  # the row's order in the record
    Column("day", Date, nullable=False),
    Column("minutes", Integer, nullable=False),  # attended; 0 for an absence
    Column("absence", String(8), nullable=False),  # "" | excused | closure
)

# A month's calculation, a row per child-month (or per certificate version), as the
# offline command's payments.csv has it. Rows not yet posted are replaced by the next
# calculation; a posted row is kept for good (``entry_id``), so a child-month is never
# paid twice: a later calculation that differs is shown beside it for an adjustment.
childcare_payments = Table(
    "childcare_payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("certificate_ref", String(64), nullable=False),
    Column("version_key", String(10), nullable=False),  # version_from, or "" when none
    Column("child_ref", String(64), nullable=False),
    Column("provider_ref", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # payable | incomplete
    Column("reasons", String(500), nullable=False),  # ";"-separated
    Column("basis", String(40), nullable=False),
    Column("units", String(20), nullable=False),
    Column("ceiling_minor", BigInteger),
    Column("factor", String(12)),
    Column("rate_applied_minor", BigInteger, nullable=False),
    Column("gross_minor", BigInteger, nullable=False),
    Column("family_fee_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("due_by", Date),
    Column("fee_check", String(500), nullable=False),
    Column("eligibility_check", String(500), nullable=False),
    Column("rate_check", String(500), nullable=False),
    Column("hours_check", String(500), nullable=False),
    Column("calculated_at", String(32), nullable=False),
    Column("entry_id", BigInteger),  # the payable's journal entry, once posted
    Column("posted_at", String(32)),
    # A posted row's net as the latest calculation has it, when that differs (an
    # adjustment is due); None when it agrees.
    Column("recalculated_net_minor", BigInteger),
    UniqueConstraint(
        "book_id", "month", "certificate_ref", "version_key", name="uq_childcare_payments_row"
    ),
)

# A provider's written consent to have an overpayment recovered from its later payments
# (a document of the provider's party), without which an overpayment is a receivable.
childcare_recovery_consents = Table(
    "childcare_recovery_consents",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), primary_key=True),
    Column("document_id", Integer, nullable=False),
    Column("given_on", Date, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

# An over- or underpayment of a child-month, with its reason, posted once: an
# underpayment as a payable of the provider; an overpayment against the provider's later
# payments when its consent is on file (``recovery``), else as a receivable from it.
childcare_adjustments = Table(
    "childcare_adjustments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("certificate_ref", String(64), nullable=False),
    Column("provider_party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # + owed to the provider, - owed by it
    Column("kind", String(12), nullable=False),  # underpayment | recovery | receivable
    Column("reason", String(300), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_childcare_adjustments_month", "book_id", "month"),
)
