"""Parties and the bank-detail change, the classic provider fraud, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from remit.access.model import Role
from remit.errors import Conflict, Forbidden, ValidationFailed
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, IdentifierScheme, PartyKind, PartyRole
from remit.secrets import Vault
from remit.testkit import person

NEW_DETAILS = BankDetails(
    BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
)


@pytest.fixture
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def clerk(book):
    return person("carla", book, Role.CLERK)


@pytest.fixture
def approver(book):
    return person("abe", book, Role.APPROVER)


@pytest.fixture
def provider(db, book, clerk):
    with db.write() as conn:
        return parties.create_party(
            conn,
            clerk,
            book,
            parties.NewParty(
                "P001",
                "Sunrise Home Care",
                PartyKind.ORGANISATION,
                (PartyRole.PROVIDER,),
                {IdentifierScheme.UK_COMPANY: "SC123456"},
                (parties.Contact("Jo Finance", "jo@sunrise.example"),),
            ),
        )


def test_party_with_roles_identifiers_and_contacts(db, book, clerk, provider):
    with db.read() as conn:
        found = parties.get_party(conn, clerk, book, provider)
        assert found["roles"] == ["provider"]
        assert found["identifiers"] == {"uk_company": "SC123456"}
        assert found["contacts"][0]["email"] == "jo@sunrise.example"
        assert found["bank_account"] is None
        assert parties.count_parties(conn, clerk, book) == {"provider": 1}
        assert [p["ref"] for p in parties.list_parties(conn, clerk, book, search="sunrise")] == [
            "P001"
        ]


def test_every_problem_of_every_party_is_reported(db, book, clerk, provider):
    specs = [
        parties.NewParty("P001", "Dup", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
        parties.NewParty("P002", " ", PartyKind.PERSON, ()),
        parties.NewParty(
            "P003",
            "Bad EIN",
            PartyKind.ORGANISATION,
            (PartyRole.VENDOR,),
            {IdentifierScheme.US_EIN: "00-1234567"},
        ),
    ]
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        parties.create_parties(conn, clerk, book, specs)
    found = {(p.line, p.check) for p in err.value.problems}
    assert {(1, "duplicate_ref"), (2, "required"), (3, "ein_prefix")} <= found
    with db.read() as conn:
        assert parties.count_parties(conn, clerk, book) == {"provider": 1}


def test_new_bank_details_pay_nothing_until_a_second_person_approves(
    db, book, clerk, approver, provider, vault
):
    with db.write() as conn:
        change = parties.request_bank_change(
            conn,
            clerk,
            vault,
            book,
            provider,
            NEW_DETAILS,
            "letter of 3 Nov, confirmed by call-back",
        )
    with db.read() as conn:
        assert parties.get_party(conn, clerk, book, provider)["bank_account"] is None
    with pytest.raises(Forbidden), db.write() as conn:
        parties.approve_bank_change(conn, clerk, book, change)  # a clerk cannot approve
    self_approver = person("carla", book, Role.CLERK, Role.APPROVER)
    with pytest.raises(Forbidden, match="cannot approve"), db.write() as conn:
        parties.approve_bank_change(conn, self_approver, book, change)
    with db.write() as conn:
        parties.approve_bank_change(conn, approver, book, change, "call-back confirmed")
    with db.read() as conn:
        assert (
            parties.get_party(conn, clerk, book, provider)["bank_account"]
            == "sort code **-**-00 acct ****9911"
        )
    with pytest.raises(Conflict, match="already approved"), db.write() as conn:
        parties.approve_bank_change(conn, approver, book, change)


def test_bank_details_are_masked_except_for_approvers_and_every_view_is_audited(
    db, book, clerk, approver, provider, vault
):
    with db.write() as conn:
        change = parties.request_bank_change(
            conn, clerk, vault, book, provider, NEW_DETAILS, "onboarding"
        )
        parties.approve_bank_change(conn, approver, book, change)
    with db.write() as conn:
        assert (
            parties.bank_details(conn, clerk, vault, book, provider)
            == "sort code **-**-00 acct ****9911"
        )
        full = parties.bank_details(conn, approver, vault, book, provider)
        views = (
            conn.execute(text("SELECT actor FROM audit_events WHERE action = 'party.bank.view'"))
            .scalars()
            .all()
        )
    assert full.fields["account_number"] == "55779911"
    assert views == ["abe"]


def test_bank_details_are_encrypted_at_rest(db, book, clerk, approver, provider, vault):
    with db.write() as conn:
        change = parties.request_bank_change(
            conn, clerk, vault, book, provider, NEW_DETAILS, "onboarding"
        )
        parties.approve_bank_change(conn, approver, book, change)
    with db.read() as conn:
        stored = b"".join(
            bytes(r[0])
            for r in conn.execute(
                text(
                    "SELECT ciphertext FROM bank_accounts"
                    " UNION ALL SELECT ciphertext FROM bank_changes"
                )
            )
        )
        logged = " ".join(
            conn.execute(text('SELECT "before" || "after" FROM audit_events')).scalars()
        )
    assert b"55779911" not in stored
    assert "55779911" not in logged and "200000" not in logged


def test_invalid_bank_details_name_the_check_and_write_nothing(db, book, clerk, provider, vault):
    bad = BankDetails(
        BankScheme.US_ABA,
        {"routing_number": "021000022", "account_number": "12", "account_type": "chequing"},
    )
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        parties.request_bank_change(conn, clerk, vault, book, provider, bad, "")
    assert {p.check for p in err.value.problems} == {
        "aba_checksum",
        "us_account_format",
        "us_account_type",
        "required",
    }
    with db.read() as conn:
        assert parties.pending_bank_changes(conn, clerk, book) == []


def test_one_pending_change_at_a_time_and_rejection_needs_a_reason(
    db, book, clerk, approver, provider, vault
):
    with db.write() as conn:
        change = parties.request_bank_change(
            conn, clerk, vault, book, provider, NEW_DETAILS, "first"
        )
    with pytest.raises(Conflict, match="waiting for approval"), db.write() as conn:
        parties.request_bank_change(conn, clerk, vault, book, provider, NEW_DETAILS, "second")
    with pytest.raises(ValidationFailed), db.write() as conn:
        parties.reject_bank_change(conn, approver, book, change, " ")
    with db.write() as conn:
        parties.reject_bank_change(conn, approver, book, change, "caller could not be verified")
    with db.read() as conn:
        assert parties.get_party(conn, clerk, book, provider)["bank_account"] is None


def test_same_account_on_another_provider_is_flagged(db, book, clerk, approver, provider, vault):
    with db.write() as conn:
        other = parties.create_party(
            conn,
            clerk,
            book,
            parties.NewParty("P002", "Meadow Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
        )
        first = parties.request_bank_change(
            conn, clerk, vault, book, provider, NEW_DETAILS, "onboarding"
        )
        parties.approve_bank_change(conn, approver, book, first)
        parties.request_bank_change(conn, clerk, vault, book, other, NEW_DETAILS, "new form")
    with db.read() as conn:
        [pending] = parties.pending_bank_changes(conn, clerk, book)
        assert parties.pending_bank_changes(conn, clerk, book, other) == [pending]
        assert parties.pending_bank_changes(conn, clerk, book, provider) == []
    assert pending["ref"] == "P002" and pending["same_account_as"] == ["P001"]
