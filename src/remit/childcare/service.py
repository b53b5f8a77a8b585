"""Child care in a book: families, children and certificates imported from the exchange
files, a certificate changed by a new version from a date, and the notices of action.

Files are the offline command's (docs/formats/childcare.md), read by the same careful
readers, with a few columns only a book needs: ``families.csv`` may add ``name`` (the
parent the notices are written to: needed for a family the book does not know yet),
``language`` (``en`` or ``es``), ``fee_exempt`` (``yes``/``no``) and ``address``;
``certs.csv`` may add ``child_name``. An import is all or nothing: every problem of both
files, with its file, line and column, and nothing written. Importing the same files again
changes nothing; a version already in the book with other values is refused (a change is a
new version from a later date, with a reason).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.cases import correspondence
from remit.childcare import exchange
from remit.childcare.model import WEEKDAYS, CertificateVersion
from remit.childcare.store import (
    childcare_certificate_versions,
    childcare_certificates,
    childcare_children,
    childcare_families,
)
from remit.db import insert_id
from remit.errors import NotFound, Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.money import Money
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.text import ID_MAX, text_problem

LANGUAGES = ("en", "es")
FAMILY_OPTIONAL = ("name", "language", "fee_exempt", "address")
CERTIFICATE_OPTIONAL = ("child_name",)
NAME_MAX = 200
ADDRESS_MAX = 500
REASON_MAX = 300
NOTICE_TEMPLATE = "notice_of_action"
IMPORTED = "imported"  # the reason of a version that came in a file
# The columns of certs.csv a change may give (the rest are the certificate's own).
CHANGEABLE = (
    "start_date",
    "end_date",
    "schedule",
    "rate_category",
    "time_basis",
    "evening_weekend_share",
    "exceptional_needs",
    "severely_disabled",
    "provider_rate",
)
VERSION_FIELDS = (
    "start_date",
    "end_date",
    "schedule",
    "rate_category",
    "time_basis",
    "evening_weekend_share",
    "exceptional_needs",
    "severely_disabled",
    "provider_rate_minor",
)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did (all zero but ``*_unchanged`` when the files were in already)."""

    families_created: int = 0
    families_updated: int = 0
    families_unchanged: int = 0
    children_created: int = 0
    certificates_created: int = 0
    versions_created: int = 0
    versions_unchanged: int = 0


# ---------------------------------------------------------------- values as stored


def schedule_text(hours: Sequence[Decimal]) -> str:
    """The canonical text of a schedule: the days with hours, in week order.

    >>> schedule_text(exchange.schedule("wed=4.50; mon=8"))
    'mon=8;wed=4.5'
    """
    return ";".join(f"{day}={_plain(h)}" for day, h in zip(WEEKDAYS, hours, strict=True) if h)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _version_values(v: CertificateVersion) -> dict[str, Any]:
    return {
        "start_date": v.start_date,
        "end_date": v.end_date,
        "schedule": schedule_text(v.schedule),
        "rate_category": v.rate_category.value,
        "time_basis": v.time_basis.value,
        "evening_weekend_share": _plain(v.evening_weekend_share),
        "exceptional_needs": v.exceptional_needs,
        "severely_disabled": v.severely_disabled,
        "provider_rate_minor": v.provider_rate_minor,
    }


def _stored_values(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in VERSION_FIELDS}


def _dollars(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _flag(value: bool) -> str:
    return "yes" if value else "no"


# ---------------------------------------------------------------- import


def import_files(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    families: bytes | None = None,
    certificates: bytes | None = None,
    families_name: str = "families.csv",
    certificates_name: str = "certs.csv",
) -> ImportSummary:
    """Import families and certificates (either or both), all or nothing."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    problems: list[Problem] = []
    family_rows: list[tuple[int, Any, dict[str, str]]] = []
    cert_rows: list[tuple[int, CertificateVersion, dict[str, str]]] = []
    if families is not None:
        try:
            family_rows = exchange.family_records(families, families_name, FAMILY_OPTIONAL)
        except ValidationFailed as failed:
            problems += failed.problems
    if certificates is not None:
        try:
            cert_rows = exchange.certificate_records(
                certificates, certificates_name, CERTIFICATE_OPTIONAL
            )
        except ValidationFailed as failed:
            problems += failed.problems
    if problems:
        raise ValidationFailed(problems)
    if families is None and certificates is None:
        raise ValidationFailed(
            [Problem("file", "give families.csv, certs.csv or both", "required")]
        )
    family_plan = _plan_families(conn, book_id, family_rows, families_name, problems)
    known_families = {**_families_by_ref(conn, book_id), **family_plan.new_refs}
    cert_plan = _plan_certificates(
        conn, book_id, cert_rows, certificates_name, known_families, problems
    )
    if problems:
        raise ValidationFailed(problems)
    created = _write_families(conn, actor, book_id, family_plan)
    summary = _write_certificates(conn, actor, book_id, cert_plan, created)
    return ImportSummary(
        families_created=len(family_plan.new),
        families_updated=len(family_plan.updated),
        families_unchanged=family_plan.unchanged,
        children_created=summary[0],
        certificates_created=summary[1],
        versions_created=summary[2],
        versions_unchanged=cert_plan.unchanged,
    )


@dataclass
class _FamilyPlan:
    new: list[dict[str, Any]]  # rows to insert (party_id None: a party to create)
    new_parties: list[parties.NewParty]
    updated: list[tuple[int, dict[str, Any], dict[str, Any]]]  # (id, before, after)
    unchanged: int
    new_refs: dict[str, int]  # family ref -> a placeholder id (< 0) until written


FAMILY_FIELDS = (
    "family_size",
    "monthly_income_minor",
    "fee_exempt",
    "family_fee_minor",
    "fee_collected_by",
    "language",
)


def _families_by_ref(conn: Connection, book_id: int) -> dict[str, int]:
    f = childcare_families.c
    rows = conn.execute(select(f.family_ref, f.id).where(f.book_id == book_id))
    return {r.family_ref: int(r.id) for r in rows}


def _plan_families(
    conn: Connection,
    book_id: int,
    rows: Sequence[tuple[int, Any, dict[str, str]]],
    source: str,
    problems: list[Problem],
) -> _FamilyPlan:
    plan = _FamilyPlan([], [], [], 0, {})
    if not rows:
        return plan
    f = childcare_families.c
    refs = [family.family_id for _line, family, _row in rows]
    # The book's rows, kept if asked for: an IN list of a big file's refs is past the
    # 65,535 parameters of a PostgreSQL statement.
    wanted_refs = set(refs)
    existing = {
        r.family_ref: r
        for r in conn.execute(select(childcare_families).where(f.book_id == book_id))
        if r.family_ref in wanted_refs
    }
    party_ids = parties.party_ids_for(conn, book_id, refs)
    roles = parties.party_roles_of(conn, book_id, set(party_ids.values())) if party_ids else {}
    clients = roles.get(PartyRole.CLIENT.value, set())
    families_of_parties = {
        int(r.party_id): r.family_ref
        for r in conn.execute(select(f.party_id, f.family_ref).where(f.book_id == book_id))
    }
    for line, family, row in rows:
        ref = family.family_id
        before = existing.get(ref)
        values = _family_values(line, family, row, before, source, problems)
        if values is None:
            continue
        if before is not None:
            old = {k: getattr(before, k) for k in FAMILY_FIELDS}
            old["fee_exempt"] = bool(old["fee_exempt"])
            if old == values:
                plan.unchanged += 1
            else:
                plan.updated.append((int(before.id), old, values))
            continue
        party_id = party_ids.get(ref)
        name, address = row["name"], row["address"]
        if party_id is not None:
            taken = families_of_parties.get(party_id)
            if party_id not in clients or taken is not None:
                message = (
                    f"party {ref} of the book is not a client"
                    if taken is None
                    else f"party {ref} is already family {taken}"
                )
                problems.append(Problem("family_id", message, "party", line, source))
                continue
        elif not name.strip():
            message = f"family {ref} is new to the book: give the parent's name"
            problems.append(Problem("name", message, "required", line, source))
            continue
        else:
            contacts = (parties.Contact(name=name, address=address),) if address.strip() else ()
            plan.new_parties.append(
                parties.NewParty(ref, name, PartyKind.PERSON, (PartyRole.CLIENT,), {}, contacts)
            )
        plan.new.append({"family_ref": ref, "party_id": party_id, **values})
        plan.new_refs[ref] = -len(plan.new)
    return plan


def _family_values(
    line: int,
    family: Any,
    row: Mapping[str, str],
    before: Any | None,
    source: str,
    problems: list[Problem],
) -> dict[str, Any] | None:
    """A family row's values as stored, or None (and its problems added)."""
    found: list[Problem | None] = [
        text_problem(row["name"], "name", max_chars=NAME_MAX, line=line, source=source),
        text_problem(
            row["address"],
            "address",
            max_chars=ADDRESS_MAX,
            line=line,
            source=source,
            multiline=True,
        ),
    ]
    language = row["language"].lower() or (before.language if before is not None else "en")
    if language not in LANGUAGES:
        given = row["language"][:10]
        found.append(Problem("language", f"en or es ({given!r} given)", "value", line, source))
    exempt_text = row["fee_exempt"].lower()
    if exempt_text not in ("", "yes", "no"):
        given = row["fee_exempt"][:10]
        found.append(Problem("fee_exempt", f"yes or no ({given!r} given)", "value", line, source))
    elif before is not None and not exempt_text:
        exempt = bool(before.fee_exempt)
    else:
        exempt = exempt_text == "yes" if exempt_text else family.family_fee_minor == 0
    if exempt_text in ("", "yes", "no") and exempt and family.family_fee_minor:
        message = "a fee-exempt family pays no fee: give 0"
        found.append(Problem("family_fee_minor", message, "fee_exempt", line, source))
    wrong = [p for p in found if p is not None]
    if wrong:
        problems.extend(wrong)
        return None
    return {
        "family_size": family.family_size,
        "monthly_income_minor": family.monthly_income_minor,
        "fee_exempt": exempt,
        "family_fee_minor": family.family_fee_minor,
        "fee_collected_by": family.fee_collected_by,
        "language": language,
    }


def _write_families(
    conn: Connection, actor: Actor, book_id: int, plan: _FamilyPlan
) -> dict[int, int]:
    """Write the plan; returns the placeholder ids of new families -> their ids."""
    made = iter(
        parties.create_parties(conn, actor, book_id, plan.new_parties) if plan.new_parties else ()
    )
    now = audit.utc_now_text()
    ids: dict[int, int] = {}
    events: list[tuple[str, str, object, Any, Any, int | None]] = []
    for n, values in enumerate(plan.new, start=1):
        row = dict(values)
        if row["party_id"] is None:
            row["party_id"] = next(made)
        family_id = insert_id(
            conn,
            insert(childcare_families).values(
                book_id=book_id, updated_by=actor.username, updated_at=now, version=1, **row
            ),
        )
        ids[-n] = family_id
        events.append(
            ("childcare.family.created", "childcare_family", family_id, None, row, book_id)
        )
    f = childcare_families.c
    for family_id, before, after in plan.updated:
        conn.execute(
            update(childcare_families)
            .where(f.id == family_id)
            .values(updated_by=actor.username, updated_at=now, version=f.version + 1, **after)
        )
        changed = {k: v for k, v in after.items() if before[k] != v}
        was = {k: before[k] for k in changed}
        events.append(
            ("childcare.family.changed", "childcare_family", family_id, was, changed, book_id)
        )
    if events:
        audit.record_many(conn, actor, events)
    return ids


@dataclass
class _CertPlan:
    children: dict[str, dict[str, Any]]  # child ref -> row (family_id may be a placeholder)
    certificates: dict[str, dict[str, Any]]  # certificate ref -> row (child by ref)
    versions: list[tuple[str, date, dict[str, Any]]]  # (certificate ref, version_from, values)
    unchanged: int


def _plan_certificates(
    conn: Connection,
    book_id: int,
    rows: Sequence[tuple[int, CertificateVersion, dict[str, str]]],
    source: str,
    families: Mapping[str, int],
    problems: list[Problem],
) -> _CertPlan:
    plan = _CertPlan({}, {}, [], 0)
    if not rows:
        return plan
    ch, ce, cv = childcare_children.c, childcare_certificates.c, childcare_certificate_versions.c
    children = {
        r.child_ref: r
        for r in conn.execute(select(childcare_children).where(ch.book_id == book_id))
    }
    certs = {
        r.certificate_ref: r
        for r in conn.execute(
            select(childcare_certificates, ch.child_ref)
            .join(childcare_children, ch.id == ce.child_id)
            .where(ce.book_id == book_id)
        )
    }
    versions = {
        (r.certificate_ref, r.version_from): r
        for r in conn.execute(
            select(childcare_certificate_versions, ce.certificate_ref)
            .join(childcare_certificates, ce.id == cv.certificate_id)
            .where(ce.book_id == book_id)
        )
    }
    provider_ids = parties.party_ids_for(conn, book_id, {v.provider_id for _l, v, _r in rows})
    roles = (
        parties.party_roles_of(conn, book_id, set(provider_ids.values())) if provider_ids else {}
    )
    providers = roles.get(PartyRole.PROVIDER.value, set())
    for line, v, row in rows:
        where = (line, source)
        family_id = families.get(v.family_id)
        provider_id = provider_ids.get(v.provider_id)
        wrong = text_problem(
            row["child_name"], "child_name", max_chars=NAME_MAX, line=line, source=source
        )
        if wrong is not None:
            problems.append(wrong)
        elif family_id is None:
            message = f"no family {v.family_id} in this book: import families.csv first or with it"
            problems.append(Problem("family_id", message, "unknown_family", *where))
        elif provider_id is None or provider_id not in providers:
            message = f"no provider {v.provider_id} in this book"
            problems.append(Problem("provider_id", message, "unknown_provider", *where))
        elif _child_fits(plan, children, v, row, family_id, where, problems) and _cert_fits(
            plan, certs, v, provider_id, where, problems
        ):
            values = _version_values(v)
            there = versions.get((v.certificate_id, v.version_from))
            if there is None:
                plan.versions.append((v.certificate_id, v.version_from, values))
            elif _stored_values(there) == values:
                plan.unchanged += 1
            else:
                message = (
                    f"certificate {v.certificate_id} has a version from {v.version_from} with"
                    " other values: a change is a new version from a later date"
                )
                problems.append(Problem("version_from", message, "version_differs", *where))
    return plan


def _child_fits(
    plan: _CertPlan,
    children: Mapping[str, Any],
    v: CertificateVersion,
    row: Mapping[str, str],
    family_id: int,
    where: tuple[int, str],
    problems: list[Problem],
) -> bool:
    """Whether the row's child agrees with the book and the file's earlier rows (a new
    child is added to the plan)."""
    child = children.get(v.child_id)
    planned = plan.children.get(v.child_id)
    if child is not None:
        if int(child.family_id) != family_id:
            message = f"child {v.child_id} is of another family in the book"
            problems.append(Problem("family_id", message, "child_family", *where))
            return False
        if child.birth_date != v.child_birth_date:
            message = f"child {v.child_id} was born on {child.birth_date} in the book"
            problems.append(Problem("child_birth_date", message, "child_birth_date", *where))
            return False
    elif planned is not None:
        if (planned["family_id"], planned["birth_date"]) != (family_id, v.child_birth_date):
            message = (
                f"child {v.child_id} has another family or birth date on line {planned['line']}"
            )
            problems.append(Problem("child_id", message, "child_differs", *where))
            return False
    else:
        plan.children[v.child_id] = {
            "child_ref": v.child_id,
            "family_id": family_id,
            "name": row["child_name"],
            "birth_date": v.child_birth_date,
            "line": where[0],
        }
    return True


def _cert_fits(
    plan: _CertPlan,
    certs: Mapping[str, Any],
    v: CertificateVersion,
    provider_id: int,
    where: tuple[int, str],
    problems: list[Problem],
) -> bool:
    """Whether the row's certificate is the book's (or the file's earlier rows') for the
    same child and provider; a new one is added to the plan."""
    cert = certs.get(v.certificate_id)
    planned = plan.certificates.get(v.certificate_id)
    mine = (v.child_id, provider_id)
    if cert is not None:
        theirs, there = (cert.child_ref, int(cert.provider_party_id)), "in the book"
    elif planned is not None:
        theirs = (planned["child_ref"], planned["provider_party_id"])
        there = f"on line {planned['line']}"
    else:
        plan.certificates[v.certificate_id] = {
            "certificate_ref": v.certificate_id,
            "child_ref": v.child_id,
            "provider_party_id": provider_id,
            "line": where[0],
        }
        return True
    if theirs != mine:
        message = (
            f"certificate {v.certificate_id} is for another child or provider {there}:"
            " another provider is another certificate"
        )
        problems.append(Problem("certificate_id", message, "certificate_differs", *where))
        return False
    return True


def _write_certificates(
    conn: Connection,
    actor: Actor,
    book_id: int,
    plan: _CertPlan,
    family_ids: Mapping[int, int],
) -> tuple[int, int, int]:
    now = audit.utc_now_text()
    ch, ce = childcare_children.c, childcare_certificates.c
    events: list[tuple[str, str, object, Any, Any, int | None]] = []
    for row in plan.children.values():
        family_id = row["family_id"]
        values = {k: v for k, v in row.items() if k != "line"}
        values["family_id"] = family_ids.get(family_id, family_id)
        insert_id(conn, insert(childcare_children).values(book_id=book_id, **values))
    child_ids = {
        r.child_ref: int(r.id)
        for r in conn.execute(select(ch.child_ref, ch.id).where(ch.book_id == book_id))
    }
    for row in plan.certificates.values():
        cert_id = insert_id(
            conn,
            insert(childcare_certificates).values(
                book_id=book_id,
                certificate_ref=row["certificate_ref"],
                child_id=child_ids[row["child_ref"]],
                provider_party_id=row["provider_party_id"],
                created_by=actor.username,
                created_at=now,
            ),
        )
        events.append(
            (
                "childcare.certificate.created",
                "childcare_certificate",
                cert_id,
                None,
                {
                    "certificate_ref": row["certificate_ref"],
                    "child_ref": row["child_ref"],
                    "provider_party_id": row["provider_party_id"],
                },
                book_id,
            )
        )
    cert_ids = {
        r.certificate_ref: int(r.id)
        for r in conn.execute(select(ce.certificate_ref, ce.id).where(ce.book_id == book_id))
    }
    if plan.versions:
        conn.execute(
            insert(childcare_certificate_versions),
            [
                {
                    "certificate_id": cert_ids[ref],
                    "version_from": day,
                    **values,
                    "reason": IMPORTED,
                    "created_by": actor.username,
                    "created_at": now,
                    "notice_id": None,
                }
                for ref, day, values in plan.versions
            ],
        )
        events += [
            (
                "childcare.certificate.version",
                "childcare_certificate",
                cert_ids[ref],
                None,
                {"version_from": day.isoformat(), "reason": IMPORTED, **_audit_values(values)},
                book_id,
            )
            for ref, day, values in plan.versions
        ]
    if events:
        audit.record_many(conn, actor, events)
    return len(plan.children), len(plan.certificates), len(plan.versions)


def _audit_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


# ---------------------------------------------------------------- a change


def change_certificate(
    conn: Connection,
    actor: Actor,
    book_id: int,
    certificate_id: int,
    version_from: date,
    changes: Mapping[str, str],
    reason: str,
) -> date:
    """A new version of the certificate from ``version_from``: the version in force the day
    before with ``changes`` (text, as certs.csv has it: ``schedule``, ``provider_rate``...).
    Returns the new version's date."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    detail = _certificate_row(conn, book_id, certificate_id)
    reason = reason.strip()
    problems: list[Problem] = []
    wrong = text_problem(reason, "reason", max_chars=REASON_MAX, required=True)
    if wrong is not None:
        problems.append(wrong)
    unknown = sorted(set(changes) - set(CHANGEABLE))
    for name in unknown:
        problems.append(
            Problem(name, f"not a field a change may give ({', '.join(CHANGEABLE)})", "field")
        )
    versions = _versions(conn, certificate_id)
    if version_from < versions[0].version_from:
        message = f"before the certificate's first version ({versions[0].version_from})"
        problems.append(Problem("version_from", message, "version_from"))
    if any(v.version_from == version_from for v in versions):
        message = f"the certificate has a version from {version_from}: give another date"
        problems.append(Problem("version_from", message, "version_exists"))
    if problems:
        raise ValidationFailed(problems)
    base = [v for v in versions if v.version_from < version_from][-1]
    text = {
        "certificate_id": detail.certificate_ref,
        "version_from": version_from.isoformat(),
        "child_id": detail.child_ref,
        "family_id": detail.family_ref,
        "provider_id": "provider",
        "child_birth_date": detail.birth_date.isoformat(),
        "start_date": base.start_date.isoformat(),
        "end_date": base.end_date.isoformat(),
        "schedule": base.schedule,
        "rate_category": base.rate_category,
        "time_basis": base.time_basis,
        "evening_weekend_share": base.evening_weekend_share,
        "exceptional_needs": _flag(bool(base.exceptional_needs)),
        "severely_disabled": _flag(bool(base.severely_disabled)),
        "provider_rate": _dollars(int(base.provider_rate_minor)),
    }
    text.update({k: str(v).strip() for k, v in changes.items()})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(exchange.CERTIFICATES)
    writer.writerow([text[c] for c in exchange.CERTIFICATES])
    try:
        ((_line, parsed, _row),) = exchange.certificate_records(out.getvalue().encode(), "change")
    except ValidationFailed as failed:
        raise ValidationFailed(
            [Problem(p.field, p.message, p.check) for p in failed.problems]
        ) from None
    values = _version_values(parsed)
    before = _stored_values(base)
    if values == before:
        raise ValidationFailed([Problem("changes", "the change changes nothing", "no_change")])
    now = audit.utc_now_text()
    conn.execute(
        insert(childcare_certificate_versions).values(
            certificate_id=certificate_id,
            version_from=version_from,
            **values,
            reason=reason,
            created_by=actor.username,
            created_at=now,
            notice_id=None,
        )
    )
    changed = {k: v for k, v in values.items() if before[k] != v}
    audit.record(
        conn,
        actor,
        "childcare.certificate.version",
        "childcare_certificate",
        certificate_id,
        _audit_values({k: before[k] for k in changed}),
        {"version_from": version_from.isoformat(), "reason": reason, **_audit_values(changed)},
        book_id,
    )
    return version_from


# ---------------------------------------------------------------- reading


def _certificate_row(conn: Connection, book_id: int, certificate_id: int) -> Any:
    ce, ch, f = childcare_certificates.c, childcare_children.c, childcare_families.c
    row = conn.execute(
        select(
            childcare_certificates,
            ch.child_ref,
            ch.name.label("child_name"),
            ch.birth_date,
            f.family_ref,
            f.id.label("family_id"),
            f.party_id.label("family_party_id"),
            f.language,
            f.family_fee_minor,
            f.fee_exempt,
        )
        .join(childcare_children, ch.id == ce.child_id)
        .join(childcare_families, f.id == ch.family_id)
        .where(and_(ce.id == certificate_id, ce.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no certificate {certificate_id} in this book")
    return row


def _versions(conn: Connection, certificate_id: int) -> list[Any]:
    cv = childcare_certificate_versions.c
    return list(
        conn.execute(
            select(childcare_certificate_versions)
            .where(cv.certificate_id == certificate_id)
            .order_by(cv.version_from)
        )
    )


def _currency(conn: Connection, book_id: int) -> str:
    return str(ledger.get_book(conn, book_id)["base_currency"])


def in_force(versions: Sequence[Any], on: date) -> Any | None:
    """The version in force on a day (the last from on or before it), or None."""
    found = None
    for v in versions:
        if v.version_from <= on:
            found = v
    return found


def certificate(
    conn: Connection, actor: Actor, book_id: int, certificate_id: int
) -> dict[str, Any]:
    """A certificate: its child, family, provider and every version with what it changed."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    row = _certificate_row(conn, book_id, certificate_id)
    currency = _currency(conn, book_id)
    names = parties.party_names(
        conn, book_id, [int(row.provider_party_id), int(row.family_party_id)]
    )
    versions = []
    previous: dict[str, Any] | None = None
    for v in _versions(conn, certificate_id):
        values = _stored_values(v)
        versions.append(
            {
                "version_from": v.version_from,
                **values,
                "provider_rate": Money(int(v.provider_rate_minor), currency),
                "changed": []
                if previous is None
                else [k for k in VERSION_FIELDS if previous[k] != values[k]],
                "reason": v.reason,
                "created_by": v.created_by,
                "created_at": v.created_at,
                "notice_id": v.notice_id,
            }
        )
        previous = values
    return {
        "id": int(row.id),
        "certificate_ref": row.certificate_ref,
        "child_ref": row.child_ref,
        "child_name": row.child_name,
        "birth_date": row.birth_date,
        "family_id": int(row.family_id),
        "family_ref": row.family_ref,
        "family_party_id": int(row.family_party_id),
        "family_name": names.get(int(row.family_party_id), ("", ""))[1],
        "language": row.language,
        "provider_party_id": int(row.provider_party_id),
        "provider_name": names.get(int(row.provider_party_id), ("", ""))[1],
        "versions": versions,
    }


def list_certificates(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    on: date,
    search: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Certificates of the book with the version in force on ``on`` (None when none is),
    filtered by a certificate, child or family reference or a child's name; and how many
    match."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    ce, ch, f, cv = (
        childcare_certificates.c,
        childcare_children.c,
        childcare_families.c,
        childcare_certificate_versions.c,
    )
    where = [ce.book_id == book_id]
    term = search.strip()[:ID_MAX]
    if term:
        like = f"%{term.replace('%', '').replace('_', '')}%"
        where.append(
            ce.certificate_ref.ilike(like)
            | ch.child_ref.ilike(like)
            | ch.name.ilike(like)
            | f.family_ref.ilike(like)
        )
    base = (
        select(ce.id)
        .join(childcare_children, ch.id == ce.child_id)
        .join(childcare_families, f.id == ch.family_id)
        .where(and_(*where))
    )
    total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
    rows = list(
        conn.execute(
            select(
                ce.id,
                ce.certificate_ref,
                ce.provider_party_id,
                ch.child_ref,
                ch.name.label("child_name"),
                f.id.label("family_id"),
                f.family_ref,
            )
            .join(childcare_children, ch.id == ce.child_id)
            .join(childcare_families, f.id == ch.family_id)
            .where(and_(*where))
            .order_by(ce.certificate_ref)
            .limit(max(1, min(limit, 500)))
            .offset(max(0, offset))
        )
    )
    ids = [int(r.id) for r in rows]
    by_cert: dict[int, list[Any]] = {}
    if ids:
        for v in conn.execute(
            select(childcare_certificate_versions)
            .where(cv.certificate_id.in_(ids))
            .order_by(cv.certificate_id, cv.version_from)
        ):
            by_cert.setdefault(int(v.certificate_id), []).append(v)
    names = parties.party_names(conn, book_id, {int(r.provider_party_id) for r in rows})
    currency = _currency(conn, book_id)
    out = []
    for r in rows:
        versions = by_cert.get(int(r.id), [])
        current = in_force(versions, on)
        out.append(
            {
                "id": int(r.id),
                "certificate_ref": r.certificate_ref,
                "child_ref": r.child_ref,
                "child_name": r.child_name,
                "family_id": int(r.family_id),
                "family_ref": r.family_ref,
                "provider_name": names.get(int(r.provider_party_id), ("", ""))[1],
                "versions": len(versions),
                "current": None
                if current is None
                else {
                    **_stored_values(current),
                    "version_from": current.version_from,
                    "provider_rate": Money(int(current.provider_rate_minor), currency),
                    "covers": current.start_date <= on <= current.end_date,
                },
            }
        )
    return out, total


def family(conn: Connection, actor: Actor, book_id: int, family_id: int) -> dict[str, Any]:
    """A family: its facts, children and their certificates."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    f, ch, ce = childcare_families.c, childcare_children.c, childcare_certificates.c
    row = conn.execute(
        select(childcare_families).where(and_(f.id == family_id, f.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no family {family_id} in this book")
    children = list(
        conn.execute(
            select(childcare_children).where(ch.family_id == family_id).order_by(ch.child_ref)
        )
    )
    certs = list(
        conn.execute(
            select(ce.id, ce.certificate_ref, ce.child_id, ce.provider_party_id)
            .where(ce.child_id.in_([int(c.id) for c in children] or [0]))
            .order_by(ce.certificate_ref)
        )
    )
    names = parties.party_names(
        conn, book_id, {int(row.party_id)} | {int(c.provider_party_id) for c in certs}
    )
    currency = _currency(conn, book_id)
    return {
        "id": int(row.id),
        "family_ref": row.family_ref,
        "party_id": int(row.party_id),
        "name": names.get(int(row.party_id), ("", ""))[1],
        "family_size": int(row.family_size),
        "monthly_income": Money(int(row.monthly_income_minor), currency),
        "fee_exempt": bool(row.fee_exempt),
        "family_fee": Money(int(row.family_fee_minor), currency),
        "fee_collected_by": row.fee_collected_by,
        "language": row.language,
        "version": int(row.version),
        "children": [
            {
                "id": int(c.id),
                "child_ref": c.child_ref,
                "name": c.name,
                "birth_date": c.birth_date,
                "certificates": [
                    {
                        "id": int(x.id),
                        "certificate_ref": x.certificate_ref,
                        "provider_name": names.get(int(x.provider_party_id), ("", ""))[1],
                    }
                    for x in certs
                    if int(x.child_id) == int(c.id)
                ],
            }
            for c in children
        ],
    }


# ---------------------------------------------------------------- notices of action


def notice_context(
    detail: Mapping[str, Any], facts: Mapping[str, Any], version_from: date
) -> dict[str, Any]:
    """What a notice of action says of one version (``detail`` from `certificate`, the
    family's ``facts`` from `family`): the care from its date, and what changed."""
    chosen = [v for v in detail["versions"] if v["version_from"] == version_from]
    if not chosen:
        ref = detail["certificate_ref"]
        raise NotFound(f"certificate {ref} has no version from {version_from}")
    v = chosen[0]
    hours = exchange.schedule(v["schedule"]) or ()
    context: dict[str, Any] = {
        "certificate_ref": detail["certificate_ref"],
        "child_name": detail["child_name"] or detail["child_ref"],
        "provider_name": detail["provider_name"],
        "action": "change" if v["changed"] else "approval",
        "effective": version_from,
        "period_start": v["start_date"],
        "period_end": v["end_date"],
        "schedule": tuple(
            {"day": day, "hours": _plain(h)} for day, h in zip(WEEKDAYS, hours, strict=True) if h
        ),
        "rate_category": v["rate_category"],
        "time_basis": v["time_basis"],
        "provider_rate": v["provider_rate"],
        "family_fee": facts["family_fee"],
        "fee_exempt": "yes" if facts["fee_exempt"] else "no",
        "reason": "" if v["reason"] == IMPORTED else v["reason"],
    }
    if v["changed"]:
        context["changed"] = tuple({"field": name} for name in v["changed"])
    return context


def issue_notice(
    conn: Connection,
    actor: Actor,
    book_id: int,
    certificate_id: int,
    version_from: date,
    language: str | None = None,
    reason: str = "",
) -> int:
    """Write the notice of action of a version to the family (its language unless one is
    given), keep the PDF and record it on the version; returns the letter's id. ``reason``
    says why in the letter's language (a Spanish notice's reason in Spanish), in place of
    the version's reason as recorded."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    detail = certificate(conn, actor, book_id, certificate_id)
    family_row = family(conn, actor, book_id, detail["family_id"])
    language = (language or detail["language"]).lower()
    if language not in LANGUAGES:
        raise ValidationFailed([Problem("language", "en or es", "language")])
    wrong = text_problem(reason, "reason", max_chars=REASON_MAX) if reason else None
    if wrong is not None:
        raise ValidationFailed([wrong])
    context = notice_context(detail, family_row, version_from)
    if reason.strip():
        context["reason"] = reason.strip()
    letter_id = correspondence.issue_letter(
        conn, actor, book_id, family_row["party_id"], NOTICE_TEMPLATE, language, context
    )
    cv = childcare_certificate_versions.c
    conn.execute(
        update(childcare_certificate_versions)
        .where(and_(cv.certificate_id == certificate_id, cv.version_from == version_from))
        .values(notice_id=letter_id)
    )
    audit.record(
        conn,
        actor,
        "childcare.notice.issued",
        "childcare_certificate",
        certificate_id,
        None,
        {"version_from": version_from.isoformat(), "letter_id": letter_id, "language": language},
        book_id,
    )
    return letter_id
