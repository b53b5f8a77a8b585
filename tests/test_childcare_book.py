"""Child care in a book (issue 11, point 2): families, children and certificates imported
from the exchange files, changed by new versions from a date, and the notices of action
written to the family in English or Spanish."""

from __future__ import annotations

from datetime import date

import pytest

from remit.access.model import Role
from remit.cases import correspondence
from remit.childcare import service as childcare
from remit.errors import Forbidden, NotFound, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.testkit import person

CERT_HEADER = (
    "certificate_id,version_from,child_id,family_id,provider_id,child_birth_date,start_date,"
    "end_date,schedule,rate_category,time_basis,evening_weekend_share,exceptional_needs,"
    "severely_disabled,provider_rate,child_name\n"
)
FAMILIES = (
    b"family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,name,"
    b"language,address\n"
    b'F-1,3,420000,4200,provider,Ana Lopez,es,"12 Elm Street\nFresno, CA 93721"\n'
    b'F-2,2,150000,0,agency,Bea Smith,,"3 Oak Road\nFresno, CA 93722"\n'
)
CERTS = (
    CERT_HEADER + "C-1,2026-10-01,K-1,F-1,P-CENTER,2023-05-04,2026-10-01,2027-06-30,"
    "mon=8;tue=8;wed=8;thu=8;fri=8,monthly,full,0,no,no,1450.00,Lucia Lopez\n"
    "C-1,2026-11-16,K-1,F-1,P-CENTER,2023-05-04,2026-10-01,2027-06-30,"
    "mon=6;tue=6;wed=6,monthly,part,0,no,no,1100.00,Lucia Lopez\n"
    "C-2,2026-10-01,K-2,F-2,P-HOME,2020-01-09,2026-10-01,2027-03-31,"
    "mon=5;wed=5,hourly,part,0.25,yes,no,12.50,\n"
).encode()


@pytest.fixture
def agency(db, system):
    with db.write() as conn:
        book_id = ledger.create_book(
            conn, system, "valley", "Valley Child Care", "USD", "America/Los_Angeles"
        )
        parties.create_parties(
            conn,
            system,
            book_id,
            [
                parties.NewParty(
                    "P-CENTER", "Sunrise Center", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
                ),
                parties.NewParty(
                    "P-HOME", "Maria's Family Child Care", PartyKind.PERSON, (PartyRole.PROVIDER,)
                ),
                parties.NewParty("F-9", "A customer", PartyKind.PERSON, (PartyRole.CUSTOMER,)),
            ],
        )
    return book_id


def clerk(book_id):
    return person("cc-clerk", book_id, Role.CLERK)


def imported(db, book_id):
    with db.write() as conn:
        return childcare.import_files(
            conn, clerk(book_id), book_id, families=FAMILIES, certificates=CERTS
        )


def cert_id(db, book_id, ref):
    with db.read() as conn:
        rows, _ = childcare.list_certificates(
            conn, clerk(book_id), book_id, on=date(2026, 11, 1), search=ref
        )
    return next(r["id"] for r in rows if r["certificate_ref"] == ref)


def test_an_import_makes_families_children_certificates_and_versions(db, agency):
    summary = imported(db, agency)
    assert summary == childcare.ImportSummary(
        families_created=2,
        children_created=2,
        certificates_created=2,
        versions_created=3,
    )
    with db.read() as conn:
        detail = childcare.certificate(conn, clerk(agency), agency, cert_id(db, agency, "C-1"))
        fam = childcare.family(conn, clerk(agency), agency, detail["family_id"])
        party = parties.get_party(conn, clerk(agency), agency, fam["party_id"])
    assert (detail["child_name"], detail["provider_name"], detail["family_name"]) == (
        "Lucia Lopez",
        "Sunrise Center",
        "Ana Lopez",
    )
    first, second = detail["versions"]
    assert first["changed"] == []
    assert second["changed"] == ["schedule", "time_basis", "provider_rate_minor"]
    assert (second["schedule"], second["provider_rate"].amount_minor) == (
        "mon=6;tue=6;wed=6",
        110000,
    )
    assert (fam["language"], fam["fee_exempt"], fam["family_fee"].amount_minor) == (
        "es",
        False,
        4200,
    )
    assert [c["child_ref"] for c in fam["children"]] == ["K-1"]
    assert PartyRole.CLIENT.value in party["roles"]
    with db.read() as conn:
        other = childcare.family(
            conn,
            clerk(agency),
            agency,
            childcare.certificate(conn, clerk(agency), agency, cert_id(db, agency, "C-2"))[
                "family_id"
            ],
        )
    assert (other["fee_exempt"], other["language"]) == (True, "en")  # fee 0, no language given


def test_the_same_files_again_change_nothing(db, agency):
    imported(db, agency)
    again = imported(db, agency)
    assert again == childcare.ImportSummary(families_unchanged=2, versions_unchanged=3)


def test_a_family_changed_in_the_file_is_updated_and_audited(db, agency):
    imported(db, agency)
    changed = FAMILIES.replace(b"F-2,2,150000,0,agency", b"F-2,3,150000,0,agency")
    with db.write() as conn:
        summary = childcare.import_files(conn, clerk(agency), agency, families=changed)
    assert (summary.families_updated, summary.families_unchanged) == (1, 1)


def problems_of(db, book_id, **files):
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        childcare.import_files(conn, clerk(book_id), book_id, **files)
    return {(p.source, p.line, p.field, p.check) for p in failed.value.problems}


def test_every_problem_of_both_files_is_named_and_nothing_is_written(db, agency):
    families = FAMILIES + b"F-3,2,100000,0,agency,,,\n" + b"F-4,2,100000,500,agency,Di,fr,x\n"
    certs = CERTS + (
        b"C-3,2026-10-01,K-3,F-1,P-NOBODY,2022-01-01,2026-10-01,2027-01-31,"
        b"mon=8,daily,full,0,no,no,60.00,\n"
        b"C-4,2026-10-01,K-4,F-404,P-HOME,2022-01-01,2026-10-01,2027-01-31,"
        b"mon=8,daily,full,0,no,no,60.00,\n"
        b"C-5,2026-10-01,K-1,F-1,P-HOME,2023-05-05,2026-10-01,2027-01-31,"
        b"mon=8,daily,full,0,no,no,60.00,\n"
    )
    found = problems_of(db, agency, families=families, certificates=certs)
    assert found == {
        # Physical lines: the addresses above take two lines each.
        ("families.csv", 6, "name", "required"),  # a new family needs its parent's name
        ("families.csv", 7, "language", "value"),
        ("certs.csv", 5, "provider_id", "unknown_provider"),
        ("certs.csv", 6, "family_id", "unknown_family"),
        ("certs.csv", 7, "child_id", "child_differs"),  # K-1 born on another day above
    }
    with db.read() as conn:
        assert childcare.list_certificates(conn, clerk(agency), agency, on=date(2026, 11, 1)) == (
            [],
            0,
        )


def test_a_malformed_file_is_refused_with_its_lines_and_columns(db, agency):
    bad = CERTS.replace(b"mon=5;wed=5", b"mon=5;wed=25").replace(b"2020-01-09", b"2020-13-09")
    found = problems_of(db, agency, families=FAMILIES, certificates=bad)
    assert found == {
        ("certs.csv", 4, "schedule", "value"),
        ("certs.csv", 4, "child_birth_date", "value"),
    }


def test_a_version_in_the_book_with_other_values_is_refused(db, agency):
    imported(db, agency)
    changed = CERTS.replace(b"12.50", b"13.50")
    found = problems_of(db, agency, certificates=changed)
    assert found == {("certs.csv", 4, "version_from", "version_differs")}


def test_a_certificate_keeps_its_child_and_provider(db, agency):
    imported(db, agency)
    other = (
        CERT_HEADER + "C-2,2026-12-01,K-2,F-2,P-CENTER,2020-01-09,2026-10-01,2027-03-31,"
        "mon=5;wed=5,hourly,part,0.25,yes,no,12.50,\n"
    ).encode()
    assert problems_of(db, agency, certificates=other) == {
        ("certs.csv", 2, "certificate_id", "certificate_differs")
    }


def test_a_fee_exempt_family_pays_no_fee_and_a_party_must_be_a_client(db, agency):
    families = (
        b"family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,name,"
        b"fee_exempt\nF-5,2,100000,900,agency,Eve,yes\nF-9,2,100000,0,agency,,\n"
    )
    assert problems_of(db, agency, families=families) == {
        ("families.csv", 2, "family_fee_minor", "fee_exempt"),
        ("families.csv", 3, "family_id", "party"),
    }


def test_a_change_is_a_new_version_from_a_date(db, agency):
    imported(db, agency)
    cid = cert_id(db, agency, "C-2")
    with db.write() as conn:
        childcare.change_certificate(
            conn,
            clerk(agency),
            agency,
            cid,
            date(2027, 1, 1),
            {"schedule": "mon=5;wed=5;fri=5", "provider_rate": "13.00"},
            "parent started evening classes",
        )
    with db.read() as conn:
        versions = childcare.certificate(conn, clerk(agency), agency, cid)["versions"]
        listed, _ = childcare.list_certificates(
            conn, clerk(agency), agency, on=date(2027, 1, 15), search="C-2"
        )
    assert [v["version_from"] for v in versions] == [date(2026, 10, 1), date(2027, 1, 1)]
    assert versions[1]["changed"] == ["schedule", "provider_rate_minor"]
    assert versions[1]["reason"] == "parent started evening classes"
    assert listed[0]["current"]["schedule"] == "mon=5;wed=5;fri=5"
    assert listed[0]["current"]["version_from"] == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("when", "changes", "reason", "field", "check"),
    [
        (date(2026, 10, 1), {"provider_rate": "13.00"}, "x", "version_from", "version_exists"),
        (date(2026, 9, 1), {"provider_rate": "13.00"}, "x", "version_from", "version_from"),
        (date(2027, 1, 1), {"schedule": "mon=30"}, "x", "schedule", "value"),
        (date(2027, 1, 1), {"child_id": "K-9"}, "x", "child_id", "field"),
        (date(2027, 1, 1), {"provider_rate": "12.50"}, "x", "changes", "no_change"),
        (date(2027, 1, 1), {"provider_rate": "13.00"}, " ", "reason", "required"),
    ],
)
def test_a_wrong_change_is_refused_with_its_field(db, agency, when, changes, reason, field, check):
    imported(db, agency)
    cid = cert_id(db, agency, "C-2")
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        childcare.change_certificate(conn, clerk(agency), agency, cid, when, changes, reason)
    assert (field, check) in {(p.field, p.check) for p in failed.value.problems}


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        (None, "Aviso de acción: cuidado infantil de Lucia Lopez (C-1)", "tiempo parcial"),
        ("en", "Notice of action: child care for Lucia Lopez (C-1)", "part time"),
    ],
)
def test_a_notice_of_action_goes_to_the_family_in_its_language(
    db, agency, language, subject, words
):
    imported(db, agency)
    cid = cert_id(db, agency, "C-1")
    with db.write() as conn:
        letter_id = childcare.issue_notice(
            conn, clerk(agency), agency, cid, date(2026, 11, 16), language
        )
    with db.read() as conn:
        item = correspondence.get_item(conn, clerk(agency), agency, letter_id)
        versions = childcare.certificate(conn, clerk(agency), agency, cid)["versions"]
    assert item["subject"] == subject
    assert words in item["body"]
    assert "$1,100.00" in item["body"]  # the new rate
    assert "imported" not in item["body"]  # a version from a file gives no reason
    assert "12 Elm Street" in item["recipient"]
    assert item["file_id"] is not None  # the PDF is kept
    assert versions[1]["notice_id"] == letter_id
    assert versions[0]["notice_id"] is None


def test_a_spanish_notice_says_why_in_spanish_when_told(db, agency):
    imported(db, agency)
    cid = cert_id(db, agency, "C-1")
    with db.write() as conn:
        childcare.change_certificate(
            conn,
            clerk(agency),
            agency,
            cid,
            date(2026, 12, 1),
            {"schedule": "mon=4;tue=4"},
            "the parent's working hours were cut",
        )
        recorded = childcare.issue_notice(conn, clerk(agency), agency, cid, date(2026, 12, 1))
        told = childcare.issue_notice(
            conn,
            clerk(agency),
            agency,
            cid,
            date(2026, 12, 1),
            reason="se redujeron las horas de trabajo del padre",
        )
        with pytest.raises(ValidationFailed):
            childcare.issue_notice(
                conn, clerk(agency), agency, cid, date(2026, 12, 1), reason="x\x00"
            )
    with db.read() as conn:
        first = correspondence.get_item(conn, clerk(agency), agency, recorded)
        second = correspondence.get_item(conn, clerk(agency), agency, told)
    assert "working hours were cut" in first["body"]
    assert "se redujeron las horas" in second["body"]
    assert "working hours" not in second["body"]


def test_a_family_without_an_address_gets_no_letter(db, agency):
    families = FAMILIES.replace(b'"3 Oak Road\nFresno, CA 93722"', b"")
    with db.write() as conn:
        childcare.import_files(conn, clerk(agency), agency, families=families, certificates=CERTS)
    cid = cert_id(db, agency, "C-2")
    with pytest.raises(ValidationFailed), db.write() as conn:
        childcare.issue_notice(conn, clerk(agency), agency, cid, date(2026, 10, 1))


def test_roles_and_books_are_enforced(db, agency, system):
    imported(db, agency)
    cid = cert_id(db, agency, "C-1")
    auditor = person("cc-auditor", agency, Role.AUDITOR)
    with db.read() as conn:
        assert childcare.certificate(conn, auditor, agency, cid)["certificate_ref"] == "C-1"
    with pytest.raises(Forbidden), db.write() as conn:
        childcare.import_files(conn, auditor, agency, families=FAMILIES)
    with pytest.raises(Forbidden), db.write() as conn:
        childcare.issue_notice(conn, auditor, agency, cid, date(2026, 10, 1))
    with db.write() as conn:
        other = ledger.create_book(conn, system, "other", "Other", "USD", "America/Los_Angeles")
    with pytest.raises(NotFound), db.read() as conn:
        childcare.certificate(conn, clerk(other), other, cid)
    with pytest.raises(Forbidden), db.read() as conn:
        childcare.certificate(conn, clerk(other), agency, cid)
