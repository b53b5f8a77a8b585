"""A payment run's preview read from the book (issue 10, point 2, the preview): open payable
items due by the pay date, the payees' bank states and blocks, one payment per payee; and
the matching of payments posted without naming the bills they paid."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.fernet import Fernet

from remit.access.model import Role
from remit.errors import Forbidden, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import blocks, preview
from remit.secrets import Vault
from remit.testkit import person

PAY_DATE = date(2026, 11, 30)


def _bill(key: str, day: date, amount: int, party: int, due: date | None = None) -> EntryDraft:
    return EntryDraft(
        day,
        f"bill {key}",
        key,
        (
            PostingDraft("5000", amount, "GBP"),
            PostingDraft("2000", -amount, "GBP", party, due_date=due),
        ),
    )


def _paid(key: str, day: date, amount: int, party: int) -> EntryDraft:
    return EntryDraft(
        day,
        f"paid {key}",
        key,
        (PostingDraft("2000", amount, "GBP", party), PostingDraft("1000", -amount, "GBP")),
    )


@pytest.fixture
def payees(db, book, system):
    """Two providers with bank details (one of them new), a third with none."""
    vault = Vault(Fernet.generate_key())
    clerk, approver = person("carla", book, Role.CLERK), person("abe", book, Role.APPROVER)
    details = BankDetails(
        BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
    )
    with db.write() as conn:
        ids = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(ref, ref, PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
                for ref in ("P1", "P2", "P3")
            ],
        )
        for party in ids[:2]:
            change = parties.request_bank_change(conn, clerk, vault, book, party, details, "form")
            parties.approve_bank_change(conn, approver, book, change)
        ledger.post_entries(
            conn,
            system,
            book,
            [
                _bill("b1", date(2026, 9, 30), 10_000, ids[0]),
                _paid("p1", date(2026, 10, 10), 10_000, ids[0]),  # paid, not named
                _bill("b2", date(2026, 10, 31), 25_000, ids[0]),
                _bill("b3", date(2026, 10, 31), 7_500, ids[0], due=date(2026, 11, 14)),
                _bill("b4", date(2026, 10, 31), 40_000, ids[1]),
                _bill("b5", date(2026, 10, 31), 5_000, ids[2]),
                _bill("b6", date(2026, 11, 30), 9_900, ids[0], due=date(2026, 12, 14)),
            ],
        )
    return ids


def test_matching_settles_a_payment_with_the_bill_it_paid(db, book, system, payees):
    with db.write() as conn:
        assert open_items.match_open_items(conn, system, book, ["2000"], key_prefix="t") == 1
        assert open_items.match_open_items(conn, system, book, ["2000"], key_prefix="t") == 0
        left = open_items.open_items(conn, system, book, account="2000", party_id=payees[0])
        assert sorted(i.open_minor for i in left) == [-25_000, -9_900, -7_500]
        assert ledger.integrity_problems(conn) == []


def test_the_preview_pays_each_payee_once_and_says_why_the_rest_waits(db, book, system, payees):
    p1, p2, p3 = payees
    with db.write() as conn:
        open_items.match_open_items(conn, system, book, ["2000"], key_prefix="t")
        blocks.set_block(conn, system, book, party_id=p2, reason="disputed_amount", note="Q")
    reader = person("carla", book, Role.CLERK)
    with db.read() as conn:
        found = preview.preview_run(conn, reader, book, PAY_DATE)
    paid = found.payments.select("party_id", "amount_minor", "item_count", "method").rows()
    assert paid == [(p1, 32_500, 2, "bacs18")]  # b2 and b3 as one payment; b6 not yet due
    assert dict(found.excluded.select("party_id", "reason").rows()) == {
        p2: "blocked:disputed_amount",
        p3: "no_bank_details",
    }
    assert found.totals.rows() == [("bacs18", "GBP", 1, 32_500)]


def test_the_preview_refuses_a_non_control_account_and_an_outsider(db, book, system, payees):
    with db.read() as conn:
        with pytest.raises(ValidationFailed) as refused:
            preview.preview_run(conn, system, book, PAY_DATE, accounts=("5000",))
        assert refused.value.problems[0].field == "account"
        with pytest.raises(Forbidden):
            preview.preview_run(conn, person("eve", book + 1, Role.MANAGER), book, PAY_DATE)
