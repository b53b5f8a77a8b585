"""The ledger, told as small stories; each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from remit.access.model import Role
from remit.audit import audit_events
from remit.db import Database
from remit.errors import Conflict, Forbidden, ValidationFailed
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties
from remit.testkit import person


def entry(
    key: str,
    day: date,
    *lines: tuple[str, int],
    currency: str = "GBP",
    party: int | None = None,
    description: str = "test",
) -> EntryDraft:
    return EntryDraft(
        day,
        description,
        key,
        tuple(
            PostingDraft(acct, amount, currency, party if acct in ("1100", "2000") else None)
            for acct, amount in lines
        ),
    )


@pytest.fixture
def clerk(book: int):
    return person("carla", book, Role.CLERK)


@pytest.fixture
def manager(book: int):
    return person("mo", book, Role.MANAGER)


@pytest.fixture
def provider(db: Database, book: int, system) -> int:
    with db.write() as conn:
        [pid] = create_parties(
            conn,
            system,
            book,
            [NewParty("P001", "Sunrise Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))],
        )
    return pid


def test_a_month_of_care_is_paid_and_balances(db, book, clerk, provider):
    # The council owes Sunrise £1,234.50 for January, then pays it in February.
    with db.write() as conn:
        ledger.post(
            conn,
            clerk,
            book,
            entry(
                "jan-care", date(2026, 1, 31), ("5000", 123450), ("2000", -123450), party=provider
            ),
        )
        ledger.post(
            conn,
            clerk,
            book,
            entry(
                "feb-pay", date(2026, 2, 10), ("2000", 123450), ("1000", -123450), party=provider
            ),
        )
    with db.read() as conn:
        owed_jan = ledger.balances(conn, clerk, book, as_of=date(2026, 1, 31), account="2000")
        owed_now = ledger.balances(conn, clerk, book, account="2000", party_id=provider)
        tb = ledger.trial_balance(conn, clerk, book)
    assert [(b.party_id, b.balance_minor) for b in owed_jan] == [(provider, -123450)]
    assert [b.balance_minor for b in owed_now] == [0]
    assert tb.is_balanced()
    by_code = {r.account_code: r for r in tb.rows}
    assert by_code["5000"].debit_minor == 123450
    assert by_code["1000"].credit_minor == 123450


def test_unbalanced_entry_is_refused_with_the_reason_and_nothing_is_written(db, book, clerk):
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post(
            conn, clerk, book, entry("bad", date(2026, 1, 5), ("5000", 1000), ("1000", -999))
        )
    assert [p.check for p in err.value.problems] == ["unbalanced"]
    assert "1 minor units" in str(err.value)
    with db.read() as conn:
        assert ledger.trial_balance(conn, clerk, book).rows == ()


def test_balanced_per_currency_not_across_currencies(db, book, clerk):
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post(
            conn,
            clerk,
            book,
            EntryDraft(
                date(2026, 1, 5),
                "fx",
                "fx1",
                (PostingDraft("1000", 1000, "GBP"), PostingDraft("1200", -1000, "EUR")),
            ),
        )
    assert {p.message.split(":")[0] for p in err.value.problems} == {
        "unbalanced in EUR",
        "unbalanced in GBP",
    }


def test_every_problem_of_every_entry_is_reported_together(db, book, clerk):
    drafts = [
        entry("a", date(2026, 1, 1), ("9999", 5), ("1000", -5)),
        entry("b", date(2026, 1, 1), ("5000", 5)),
        entry("c", date(2026, 1, 1), ("2000", 5), ("1000", -5)),
        EntryDraft(
            date(2026, 1, 1),
            "eur to gbp-only",
            "d",
            (PostingDraft("1200", 5, "GBP"), PostingDraft("1000", -5, "GBP")),
        ),
    ]
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post_entries(conn, clerk, book, drafts)
    checks = sorted(p.check for p in err.value.problems)
    assert checks == [
        "account_currency",
        "party_required",
        "too_few_postings",
        "unbalanced",
        "unknown_account",
    ]
    assert "entry 1 (a), posting 1" in str(err.value)


def test_replay_returns_the_first_entry_and_posts_nothing_twice(db, book, clerk):
    draft = entry("inv-77", date(2026, 1, 9), ("1000", 500), ("4000", -500))
    with db.write() as conn:
        first = ledger.post(conn, clerk, book, draft)
    with db.write() as conn:
        again = ledger.post(conn, clerk, book, draft)
        twice_in_batch = ledger.post_entries(conn, clerk, book, [draft, draft])
    assert not first.replayed and again.replayed
    assert again.entry_id == first.entry_id
    assert {r.entry_id for r in twice_in_batch} == {first.entry_id}
    with db.read() as conn:
        assert ledger.balances(conn, clerk, book, account="1000")[0].balance_minor == 500


def test_new_entry_twice_in_one_batch_is_posted_once(db, book, clerk):
    draft = entry("dup", date(2026, 1, 9), ("1000", 700), ("4000", -700))
    with db.write() as conn:
        results = ledger.post_entries(conn, clerk, book, [draft, draft])
    assert [r.replayed for r in results] == [False, True]
    assert results[0].entry_id == results[1].entry_id
    with db.read() as conn:
        assert ledger.balances(conn, clerk, book, account="1000")[0].balance_minor == 700


def test_reusing_a_key_for_another_entry_is_a_conflict(db, book, clerk):
    with db.write() as conn:
        ledger.post(conn, clerk, book, entry("k", date(2026, 1, 9), ("1000", 5), ("4000", -5)))
    with pytest.raises(Conflict, match="different entry"), db.write() as conn:
        ledger.post(conn, clerk, book, entry("k", date(2026, 1, 9), ("1000", 6), ("4000", -6)))


def test_closed_period_takes_no_postings_until_a_manager_reopens_it(db, book, clerk, manager):
    with db.write() as conn:
        ledger.close_period(conn, manager, book, 2026, 1)
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post(conn, clerk, book, entry("late", date(2026, 1, 31), ("1000", 5), ("4000", -5)))
    assert err.value.problems[0].check == "closed_period"
    with pytest.raises(Forbidden), db.write() as conn:
        ledger.reopen_period(conn, clerk, book, 2026, 1, "forgot an invoice")
    with pytest.raises(ValidationFailed), db.write() as conn:
        ledger.reopen_period(conn, manager, book, 2026, 1, "  ")
    with db.write() as conn:
        ledger.reopen_period(conn, manager, book, 2026, 1, "late invoice from Sunrise")
        ledger.post(conn, clerk, book, entry("late", date(2026, 1, 31), ("1000", 5), ("4000", -5)))
    with db.read() as conn:
        actions = [r.action for r in conn.execute(audit_events.select())]
    assert actions.count("period.reopen") == 1


def test_reversal_undoes_an_entry_once(db, book, clerk, manager):
    with db.write() as conn:
        posted = ledger.post(
            conn, clerk, book, entry("x", date(2026, 3, 1), ("5000", 900), ("1000", -900))
        )
    with pytest.raises(Forbidden), db.write() as conn:
        ledger.reverse(conn, clerk, book, posted.entry_id, "wrong provider")
    with db.write() as conn:
        undo = ledger.reverse(conn, manager, book, posted.entry_id, "wrong provider")
        again = ledger.reverse(conn, manager, book, posted.entry_id, "wrong provider")
    assert again.replayed and again.entry_id == undo.entry_id
    with db.read() as conn:
        reversal = ledger.get_entry(conn, book, undo.entry_id)
        assert reversal.reverses_entry_id == posted.entry_id
        assert all(b.balance_minor == 0 for b in ledger.balances(conn, clerk, book))
    with pytest.raises(Conflict), db.write() as conn:
        ledger.reverse(conn, manager, book, undo.entry_id, "undo the undo")


def test_party_must_hold_the_role_of_the_sub_ledger(db, book, clerk, provider):
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post(
            conn,
            clerk,
            book,
            entry("c1", date(2026, 1, 2), ("1100", 10), ("4000", -10), party=provider),
        )
    assert err.value.problems[0].check == "party_role"
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        ledger.post(
            conn,
            clerk,
            book,
            EntryDraft(
                date(2026, 1, 2),
                "x",
                "c2",
                (PostingDraft("1000", 10, "GBP", provider), PostingDraft("4000", -10, "GBP")),
            ),
        )
    assert err.value.problems[0].check == "party_not_allowed"


def test_auditor_reads_but_cannot_post(db, book):
    auditor = person("aud", book, Role.AUDITOR)
    with pytest.raises(Forbidden), db.write() as conn:
        ledger.post(conn, auditor, book, entry("a", date(2026, 1, 1), ("1000", 1), ("4000", -1)))
    with db.read() as conn:
        assert ledger.trial_balance(conn, auditor, book).rows == ()


def test_no_query_crosses_books(db, book, clerk, system):
    with db.write() as conn:
        other = ledger.create_book(conn, system, "other", "Other", "GBP")
        ledger.post(conn, clerk, book, entry("a", date(2026, 1, 1), ("1000", 1), ("4000", -1)))
    outsider = person("olga", other, Role.MANAGER)
    with db.read() as conn, pytest.raises(Forbidden):
        ledger.trial_balance(conn, outsider, book)
    with db.read() as conn:
        assert ledger.trial_balance(conn, outsider, other).rows == ()


def test_an_entry_in_two_currencies_balances_in_each(db, book, clerk):
    with db.write() as conn:
        ledger.post(
            conn,
            clerk,
            book,
            EntryDraft(
                date(2026, 2, 1),
                "fx",
                "fx-ok",
                (
                    PostingDraft("1000", 500, "GBP"),
                    PostingDraft("4000", -500, "GBP"),
                    PostingDraft("1200", 300, "EUR"),
                    PostingDraft("1000", -300, "EUR"),
                ),
            ),
        )
    with db.read() as conn:
        tb = ledger.trial_balance(conn, clerk, book)
        assert ledger.integrity_problems(conn) == []
    assert tb.totals() == {"EUR": (300, 300), "GBP": (500, 500)}
