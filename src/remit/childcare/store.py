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
