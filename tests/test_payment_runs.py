"""Payment runs (issue 10, point 2 and 9): prepared from the book, approved by someone else
within their limit (a second approver above it), released with a bank file and postings,
settled or returned; an item is in at most one run; every step refuses a stale version."""

from __future__ import annotations

import zlib
from datetime import date

import polars as pl
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from remit.access import service as access
from remit.access.model import Role
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.formats import bacs18
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.parties.store import parties as party_table
from remit.payments import blocks, house, runs
from remit.payments.model import NewHouseAccount, PaymentStatus, RunStatus
from remit.payments.store import held_items, run_files
from remit.secrets import Vault
from remit.testkit import person

PAY_DATE = date(2026, 11, 28)  # a Saturday: the BACS processing day is Monday 30th
TODAY = ledger.today_in("Europe/London")
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}


def _bill(key: str, amount: int, party: int, day: date = date(2026, 10, 31)) -> EntryDraft:
    return EntryDraft(
        day,
        f"bill {key}",
        key,
        (
            PostingDraft("5000", amount, "GBP"),
            PostingDraft("2000", -amount, "GBP", party, doc_ref=f"SB-{key}"),
        ),
    )


@pytest.fixture
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def people(book):
    return {
        "clerk": person("carla", book, Role.CLERK),
        "abe": person("abe", book, Role.APPROVER),
        "bea": person("bea", book, Role.APPROVER),
        "mona": person("mona", book, Role.MANAGER),
    }


@pytest.fixture
def payees(db, book, system, vault, people):
    """Three providers with bank details, bills of 100.00 + 250.00, 400.00 and 50.00, a
    house account paying BACS, and the payments-in-transit account."""
    details = [
        BankDetails(BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": n})
        for n in ("55779911", "12345678", "87654321")
    ]
    with db.write() as conn:
        ledger.open_accounts(
            conn,
            system,
            book,
            [AccountSpec("2050", "Payments in transit", AccountType.LIABILITY)],
        )
        ids = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(
                    ref, f"{ref} Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
                )
                for ref in ("P1", "P2", "P3")
            ],
        )
        for party, account in zip(ids, details, strict=True):
            change = parties.request_bank_change(
                conn, people["clerk"], vault, book, party, account, "form"
            )
            parties.approve_bank_change(conn, people["abe"], book, change)
        ledger.post_entries(
            conn,
            system,
            book,
            [
                _bill("b1", 10_000, ids[0]),
                _bill("b2", 25_000, ids[0]),
                _bill("b3", 40_000, ids[1]),
                _bill("b4", 5_000, ids[2]),
            ],
        )
        house.add_house_account(
            conn,
            people["mona"],
            book,
            NewHouseAccount("OPS", "Operations", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
        )
    return ids


def _prepare(db, actor, book, **kw):
    with db.write() as conn:
        return runs.prepare_run(conn, actor, book, PAY_DATE, **kw).run


def test_a_run_from_prepare_to_settled(db, book, payees, vault, people):
    run = _prepare(db, people["clerk"], book)
    assert (run.status, run.payment_count, run.item_count, run.total_minor) == (
        RunStatus.PREPARED,
        3,
        4,
        80_000,
    )
    with db.write() as conn:
        run = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
        assert run.status is RunStatus.APPROVED
        run = runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
        assert run.status is RunStatus.RELEASED
        [file] = runs.list_files(conn, people["abe"], book, run.id)
        _, data = runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)
        # Everything paid is settled; nothing of the three payees is open any more.
        assert open_items.open_items(conn, people["abe"], book, account="2000") == []
        assert ledger.integrity_problems(conn) == []
    assert bacs18.check(data).valid
    parsed = bacs18.parse(data)
    assert sorted(p.amount_minor for p in parsed) == [5_000, 35_000, 40_000]
    assert file.value_date == date(2026, 11, 30)
    [uhl1] = [line for line in data.decode().splitlines() if line.startswith("UHL1")]
    assert bacs18.julian(date(2026, 11, 30)) in uhl1
    with db.write() as conn:
        again = runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)[1]
        assert again == data  # a re-download is byte-identical
        run = runs.mark_sent(conn, people["clerk"], book, run.id, version=run.version)
        assert runs.settle_payments(conn, people["clerk"], book, run.id, settled_on=TODAY) == 3
        run = runs.get_run(conn, people["clerk"], book, run.id)
        assert run.status is RunStatus.SETTLED
        balances = ledger.balances(conn, people["clerk"], book)
        assert ledger.integrity_problems(conn) == []
    by_code = {b.account_code: b.balance_minor for b in balances}
    assert by_code.get("2050", 0) == 0
    assert by_code["1000"] == -80_000


def _released_file(db, book, vault, people):
    run = _prepare(db, people["clerk"], book)
    with db.write() as conn:
        run = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
        run = runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
        [file] = runs.list_files(conn, people["abe"], book, run.id)
        _, data = runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)
    return run, file, data


def test_the_released_file_is_kept_sealed_and_given_back_after_the_payee_changes(
    db, book, payees, vault, people
):
    run, file, data = _released_file(db, book, vault, people)
    with db.read() as conn:
        sealed = conn.execute(select(run_files.c.sealed).where(run_files.c.id == file.id))
        sealed = bytes(sealed.scalar_one())
    assert b"55779911" not in sealed and b"TEST COUNCIL" not in sealed  # encrypted at rest
    with db.write() as conn:  # the payee is renamed after the release (a data fix)
        conn.execute(
            update(party_table).where(party_table.c.id == payees[1]).values(name="P2 Care Ltd")
        )
    with db.write() as conn:
        assert runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)[1] == data
    # Written again from today's records, the file would differ: that is what a file
    # released before files were sealed meets, and it is refused rather than given out.
    with db.write() as conn:
        conn.execute(update(run_files).where(run_files.c.id == file.id).values(sealed=None))
    with pytest.raises(Conflict, match="would not be the file released"), db.write() as conn:
        runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)


def test_a_file_released_before_sealing_is_written_again_and_an_altered_seal_is_refused(
    db, book, payees, vault, people
):
    run, file, data = _released_file(db, book, vault, people)
    with db.write() as conn:
        conn.execute(update(run_files).where(run_files.c.id == file.id).values(sealed=None))
    with db.write() as conn:
        assert runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)[1] == data
    other = Vault(Fernet.generate_key()).seal(zlib.compress(data))
    with db.write() as conn:
        conn.execute(update(run_files).where(run_files.c.id == file.id).values(sealed=other))
    with pytest.raises(Conflict, match="sealed with another key"), db.write() as conn:
        runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)
    forged = vault.seal(zlib.compress(data.replace(b"55779911", b"99999999", 1)))
    with db.write() as conn:
        conn.execute(update(run_files).where(run_files.c.id == file.id).values(sealed=forged))
    with pytest.raises(Conflict, match="not the file released"), db.write() as conn:
        runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)


def test_the_preparer_and_a_clerk_cannot_approve_and_a_stale_version_is_refused(
    db, book, payees, people
):
    run = _prepare(db, people["mona"], book)
    with db.write() as conn:
        with pytest.raises(Forbidden, match="prepared"):
            runs.approve_run(conn, people["mona"], book, run.id, version=run.version)
        with pytest.raises(Forbidden):
            runs.approve_run(conn, people["clerk"], book, run.id, version=run.version)
        approved = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
        with pytest.raises(Conflict, match="changed"):
            runs.cancel_run(conn, people["mona"], book, run.id, version=run.version, reason="x")
        with pytest.raises(Forbidden, match="prepared"):
            runs.release_run(
                conn,
                people["mona"],
                Vault(Fernet.generate_key()),
                book,
                run.id,
                version=approved.version,
            )


def test_above_the_limit_a_second_different_approver_is_needed(db, book, system, payees, people):
    run = _prepare(db, people["clerk"], book)
    with db.write() as conn:
        for name in ("abe", "bea"):
            access.add_user(
                conn, system, name, "a long pass phrase " + name, grants=[(book, Role.APPROVER)]
            )
        abe, bea = access.actor_for(conn, "abe"), access.actor_for(conn, "bea")
        runs.set_approval_limit(conn, system, book, "abe", 50_000)  # 500.00, the run is 800.00
        first = runs.approve_run(conn, abe, book, run.id, version=run.version)
        assert first.status is RunStatus.PREPARED and first.needs_second
        with pytest.raises(Forbidden, match="already approved"):
            runs.approve_run(conn, abe, book, run.id, version=first.version)
        second = runs.approve_run(conn, bea, book, run.id, version=first.version)
        assert second.status is RunStatus.APPROVED
        assert (second.approved_by, second.second_approved_by) == ("abe", "bea")
        with pytest.raises(ValidationFailed):
            runs.set_approval_limit(conn, system, book, "abe", -1)


def test_an_item_is_in_one_run_and_cancelling_frees_it(db, book, payees, people):
    run = _prepare(db, people["clerk"], book)
    with pytest.raises(Conflict, match="nothing to pay"):
        _prepare(db, people["clerk"], book)
    with db.write() as conn:
        runs.cancel_run(conn, people["clerk"], book, run.id, version=run.version, reason="redo")
        assert conn.execute(select(func.count()).select_from(held_items)).scalar() == 0
    again = _prepare(db, people["clerk"], book)
    assert again.payment_count == 3
    with db.read() as conn:
        cancelled = runs.list_payments(conn, people["clerk"], book, run.id)
        assert {p.status for p in cancelled} == {PaymentStatus.CANCELLED}


def test_a_run_changed_after_approval_is_not_released(db, book, payees, vault, people):
    run = _prepare(db, people["clerk"], book)
    with db.write() as conn:
        run = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
    with db.write() as conn:
        blocks.set_block(
            conn, people["clerk"], book, party_id=payees[1], reason="disputed_amount", note="query"
        )
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
    assert refused.value.problems[0].check == "changed_after_approval"
    assert any(p.check == "blocked" for p in refused.value.problems)
    with db.read() as conn:
        assert runs.get_run(conn, people["abe"], book, run.id).status is RunStatus.APPROVED
        assert runs.list_files(conn, people["abe"], book, run.id) == []


def test_a_return_reopens_the_items_for_another_run(db, book, payees, vault, people):
    run = _prepare(db, people["clerk"], book)
    with db.write() as conn:
        run = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
        run = runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
        runs.settle_payments(conn, people["clerk"], book, run.id, settled_on=TODAY)
        pays = {p.party_id: p for p in runs.list_payments(conn, people["clerk"], book, run.id)}
        returned = runs.return_payment(
            conn,
            people["clerk"],
            book,
            pays[payees[0]].id,
            code="0",
            detail="account closed",
            returned_on=TODAY,
        )
        assert returned.status is PaymentStatus.RETURNED
        left = open_items.open_items(conn, people["clerk"], book, account="2000")
        assert sorted(i.open_minor for i in left) == [-25_000, -10_000]
        assert ledger.integrity_problems(conn) == []
        by_code = {
            b.account_code: b.balance_minor for b in ledger.balances(conn, people["clerk"], book)
        }
        assert by_code["1000"] == -45_000 and by_code.get("2050", 0) == 0
    again = _prepare(db, people["clerk"], book)
    assert (again.payment_count, again.total_minor) == (1, 35_000)


def test_another_books_run_is_not_found(db, book, payees, people):
    run = _prepare(db, people["clerk"], book)
    outsider = person("olly", book + 1, Role.MANAGER)
    with db.read() as conn:
        with pytest.raises(Forbidden):
            runs.get_run(conn, outsider, book, run.id)
        with pytest.raises(NotFound):
            runs.get_run(conn, people["clerk"], book, run.id + 1000)


def test_a_care_hold_keeps_the_provider_out_of_payment_runs_until_lifted(db, book, payees, people):
    from remit.care import payables  # noqa: PLC0415

    with db.write() as conn:
        payables.hold(conn, people["mona"], book, payees[0], "CQC inspection\nunder way")
        found = runs.preview(conn, people["clerk"], book, PAY_DATE)[0]
        left_out = found.excluded.filter(pl.col("party_id") == payees[0])
        assert set(left_out["reason"]) == {"blocked:provider_on_hold"} and left_out.height == 2
        assert payees[0] not in set(found.payments["party_id"])
        payables.lift_hold(conn, people["mona"], book, payees[0])
        again = runs.preview(conn, people["clerk"], book, PAY_DATE)[0]
    assert payees[0] in set(again.payments["party_id"])


def _tagged_bill(key: str, amount: int, party: int, centre: str, source: str = "") -> EntryDraft:
    return EntryDraft(
        date(2026, 10, 31),
        f"bill {key}",
        key,
        (
            PostingDraft("5000", amount, "GBP"),
            PostingDraft("2000", -amount, "GBP", party, doc_ref=f"SB-{key}", cost_centre=centre),
        ),
        source_type=source,
        source_id=key if source else "",
    )


def test_a_run_pays_one_cost_centre_or_one_area_of_the_book_and_says_so(
    db, book, system, payees, vault, people
):
    """Point 2's filters: the cost centre an item falls on (from its posting) and the area
    of the book its entry came from (``care_run``; ``manual`` for entries by hand)."""
    with db.write() as conn:
        ledger.post_entries(
            conn,
            system,
            book,
            [
                _tagged_bill("c1", 7_000, payees[0], "OLDER-PEOPLE", "care_run"),
                _tagged_bill("c2", 3_000, payees[1], "LEARNING-DIS", "care_run"),
            ],
        )
        centres, areas = runs.filter_choices(conn, people["clerk"], book)
    assert (centres, areas) == (["LEARNING-DIS", "OLDER-PEOPLE"], ["care_run", "manual"])
    with db.read() as conn:
        found, _ = runs.preview(
            conn, people["clerk"], book, PAY_DATE, cost_centres={"OLDER-PEOPLE"}
        )
    assert found.payments.select("party_id", "amount_minor").rows() == [(payees[0], 7_000)]
    run = _prepare(db, people["clerk"], book, cost_centres={"OLDER-PEOPLE"})
    assert (run.payment_count, run.total_minor, run.cost_centres) == (1, 7_000, ("OLDER-PEOPLE",))
    # The manual area: the fixture's four bills posted by hand, none of the care run's.
    by_hand = _prepare(db, people["clerk"], book, areas={"manual"})
    assert (by_hand.item_count, by_hand.total_minor, by_hand.areas) == (4, 80_000, ("manual",))
    care = _prepare(db, people["clerk"], book, areas={"care_run"})
    assert (care.item_count, care.total_minor) == (1, 3_000)  # c1 is in the first run
    with db.read() as conn:
        shown = runs.get_run(conn, people["clerk"], book, care.id)
    assert shown.areas == ("care_run",) and shown.cost_centres == ()


def test_run_filters_and_item_cost_centres_are_bounded(db, book, system, payees, people):
    for wanted, field in (
        ({"cost_centres": {"A,B"}}, "cost_centre"),
        ({"cost_centres": {"x" * 41}}, "cost_centre"),
        ({"areas": {"care\x00run"}}, "area"),
        ({"cost_centres": {f"c{n}" for n in range(51)}}, "cost_centre"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            _prepare(db, people["clerk"], book, **wanted)
        assert [p.field for p in caught.value.problems] == [field]
    # A cost centre on an account with no items, or too long: refused, nothing posted.
    for line, check in (
        (PostingDraft("5000", 100, "GBP", cost_centre="HC"), "item_fields_not_allowed"),
        (PostingDraft("2000", 100, "GBP", payees[0], cost_centre="x" * 41), "length"),
    ):
        draft = EntryDraft(
            date(2026, 10, 31), "tagged", f"k-{check}", (line, PostingDraft("1000", -100, "GBP"))
        )
        with pytest.raises(ValidationFailed) as caught, db.write() as conn:
            ledger.post_entries(conn, system, book, [draft])
        assert caught.value.problems[0].field == "cost_centre"
        assert caught.value.problems[0].check == check
