"""Manual, one-off and suspended payments (issue 10, point 8): a payment made outside remit
is recorded by a clerk, approved by someone else and posted settling the items it covered,
so that no run pays them again; rejected, its items are free; the list of what is not yet
reconciled is oldest first."""

from __future__ import annotations

import json
from datetime import date

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from remit.access.model import Role
from remit.audit import audit_events
from remit.errors import Conflict, Forbidden, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import blocks, house, manual, manual_list, runs
from remit.payments.model import (
    ManualLine,
    ManualStatus,
    NewHouseAccount,
    NewManualPayment,
)
from remit.payments.store import manual_payment_items, manual_payments, payment_blocks
from remit.secrets import Vault
from remit.testkit import person
from remit.timestamps import utc_now_text

PAY_DATE = date(2026, 11, 28)
PAID_ON = date(2026, 11, 20)
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}


def _bill(key: str, amount: int, party: int) -> EntryDraft:
    return EntryDraft(
        date(2026, 10, 31),
        f"bill {key}",
        key,
        (
            PostingDraft("5000", amount, "GBP"),
            PostingDraft("2000", -amount, "GBP", party, doc_ref=f"SB-{key}"),
        ),
    )


@pytest.fixture
def people(book):
    return {
        "clerk": person("carla", book, Role.CLERK),
        "abe": person("abe", book, Role.APPROVER),
        "mona": person("mona", book, Role.MANAGER),
    }


@pytest.fixture
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def payees(db, book, system, vault, people):
    """Two providers with bank details: P1 bills SB-b1 100.00 and SB-b2 250.00, P2 bills
    SB-b3 400.00; a house account OPS (GL 1000) paying BACS; payments in transit (2050)."""
    details = [
        BankDetails(BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": n})
        for n in ("55779911", "12345678")
    ]
    with db.write() as conn:
        ledger.open_accounts(
            conn, system, book, [AccountSpec("2050", "Payments in transit", AccountType.LIABILITY)]
        )
        ids = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(
                    ref, f"{ref} Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
                )
                for ref in ("P1", "P2")
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
            [_bill("b1", 10_000, ids[0]), _bill("b2", 25_000, ids[0]), _bill("b3", 40_000, ids[1])],
        )
        house.add_house_account(
            conn,
            people["mona"],
            book,
            NewHouseAccount("OPS", "Operations", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
        )
    return ids


def _items(db, system, book):
    """The open payable items by document reference."""
    with db.read() as conn:
        return {i.doc_ref: i for i in open_items.open_items(conn, system, book, account="2000")}


def _chaps(party, amount, lines, reference="CHAPS-0001", **kw):
    return NewManualPayment(
        party, amount, "GBP", PAID_ON, "chaps", reference, "urgent, agreed by phone", lines, **kw
    )


def _record(db, people, book, spec, by="clerk"):
    with db.write() as conn:
        return manual.record_manual_payment(conn, people[by], book, spec)


def _balance(db, system, book, code):
    with db.read() as conn:
        rows = ledger.trial_balance(conn, system, book).rows
        return sum(r.balance_minor for r in rows if r.account_code == code)


def _count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_recorded_approved_by_someone_else_posts_and_no_run_pays_the_items_again(
    db, book, system, payees, people
):
    items = _items(db, system, book)
    b1, b2 = items["SB-b1"].id, items["SB-b2"].id
    # The CHAPS paid all of SB-b1 and 100.00 of SB-b2's 250.00.
    spec = _chaps(payees[0], 20_000, (ManualLine(b1, 10_000), ManualLine(b2, 10_000)))
    done = _record(db, people, book, spec, by="mona")  # a manager may record one too
    assert (done.status, done.kind.value, done.entry_id) == (ManualStatus.PENDING, "linked", None)
    # While it waits, a run leaves both items out (blocked), pays only P2.
    with db.write() as conn:
        found, _waiting = runs.preview(conn, people["clerk"], book, PAY_DATE)
        reasons = dict(found.excluded.select("item_id", "reason").iter_rows())
        assert reasons == {b1: "blocked:manual_payment", b2: "blocked:manual_payment"}
        with pytest.raises(Forbidden, match="mona recorded manual payment"):
            manual.approve_manual_payment(conn, people["mona"], book, done.id, version=done.version)
    with db.write() as conn:
        approved = manual.approve_manual_payment(
            conn, people["abe"], book, done.id, version=done.version
        )
        assert ledger.integrity_problems(conn) == []
    assert approved.status is ManualStatus.APPROVED and approved.decided_by == "abe"
    left = _items(db, system, book)
    assert "SB-b1" not in left and left["SB-b2"].open_minor == -15_000
    assert _balance(db, system, book, "2050") == -20_000  # in transit until reconciled
    # Never twice: the run pays SB-b2's 150.00 still open, and P2's bill; nothing of SB-b1.
    with db.write() as conn:
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
        assert prepared.run.total_minor == 15_000 + 40_000
        [p1] = [
            p
            for p in runs.list_payments(conn, people["clerk"], book, prepared.run.id)
            if p.party_id == payees[0]
        ]
        paid = runs.payment_items(conn, people["clerk"], book, p1.id)
        assert [(i["doc_ref"], i["amount_minor"]) for i in paid] == [("SB-b2", 15_000)]
        with pytest.raises(Conflict, match="approved"):
            manual.approve_manual_payment(
                conn, people["mona"], book, done.id, version=approved.version
            )


def test_rejected_frees_the_items_and_posts_nothing(db, book, system, payees, people):
    b3 = _items(db, system, book)["SB-b3"].id
    done = _record(db, people, book, _chaps(payees[1], 40_000, (ManualLine(b3, 40_000),)))
    with db.write() as conn:
        rejected = manual.reject_manual_payment(
            conn, people["abe"], book, done.id, version=done.version, reason="never left the bank"
        )
    assert rejected.status is ManualStatus.REJECTED
    assert rejected.decision_note == "never left the bank"
    with db.read() as conn:
        steps = conn.execute(
            select(audit_events.c.action, audit_events.c.actor)
            .where(audit_events.c.object_type == "manual_payment")
            .order_by(audit_events.c.id)
        ).all()
    assert [tuple(s) for s in steps] == [
        ("payments.manual.record", "carla"),
        ("payments.manual.reject", "abe"),
    ]
    assert _balance(db, system, book, "2050") == 0
    with db.write() as conn:
        assert blocks.active_blocks(conn, book) == []
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
    assert prepared.run.total_minor == 10_000 + 25_000 + 40_000
    # The reference may be recorded again once rejected.
    again = _record(db, people, book, _chaps(payees[1], 5_000, ()))
    assert again.kind.value == "one_off"


def _problems(db, people, book, spec):
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        manual.record_manual_payment(conn, people["clerk"], book, spec)
    return {(p.field, p.check) for p in caught.value.problems}


def test_bad_payments_are_refused_with_every_problem_and_nothing_written(
    db, book, system, payees, people
):
    items = _items(db, system, book)
    b1, b2, b3 = items["SB-b1"].id, items["SB-b2"].id, items["SB-b3"].id
    over = _chaps(payees[0], 30_000, (ManualLine(b1, 20_000), ManualLine(b2, 10_000)))
    assert _problems(db, people, book, over) == {(f"item {b1}", "over_allocated")}
    other = _chaps(payees[0], 40_000, (ManualLine(b3, 40_000),))
    assert _problems(db, people, book, other) == {(f"item {b3}", "other_payee")}
    short = _chaps(payees[0], 30_000, (ManualLine(b1, 10_000),))
    assert _problems(db, people, book, short) == {("items", "sum")}
    bad_text = NewManualPayment(
        payees[0], 10_000, "GBP", PAID_ON, "pigeon", "X" * 36, "line\x07", (ManualLine(b1, 10_000),)
    )
    assert _problems(db, people, book, bad_text) == {
        ("bank_reference", "length"),
        ("note", "control_character"),
        ("method", "method"),
    }
    assert _count(db, manual_payments) == 0
    assert _count(db, manual_payment_items) == 0
    assert _count(db, payment_blocks) == 0


def test_an_item_held_by_a_run_is_refused(db, book, system, payees, people):
    b3 = _items(db, system, book)["SB-b3"].id
    with db.write() as conn:
        runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
    spec = _chaps(payees[1], 40_000, (ManualLine(b3, 40_000),))
    assert _problems(db, people, book, spec) == {(f"item {b3}", "held_by_run")}
    assert _count(db, manual_payments) == 0


def test_one_off_payment_posts_an_advance_the_provider_owes_back(db, book, system, payees, people):
    spec = NewManualPayment(payees[1], 7_500, "GBP", PAID_ON, "faster_payment", "FPS 77")
    done = _record(db, people, book, spec)
    with db.write() as conn:
        manual.approve_manual_payment(conn, people["mona"], book, done.id, version=done.version)
    advance = _items(db, system, book)[f"M{done.id} advance"]
    assert (advance.party_id, advance.open_minor, advance.due_date) == (payees[1], 7_500, PAID_ON)
    # The next run nets it off P2's bill: 400.00 - 75.00.
    with db.write() as conn:
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE, party_ids={payees[1]})
    assert prepared.run.total_minor == 32_500


def test_reconciled_with_the_banks_reference_moves_in_transit_to_the_bank(
    db, book, system, payees, people
):
    b3 = _items(db, system, book)["SB-b3"].id
    done = _record(db, people, book, _chaps(payees[1], 40_000, (ManualLine(b3, 40_000),)))
    with db.write() as conn:
        done = manual.approve_manual_payment(
            conn, people["abe"], book, done.id, version=done.version
        )
        with pytest.raises(ValidationFailed, match="reference"):
            manual.reconcile_manual_payment(
                conn,
                people["clerk"],
                book,
                done.id,
                version=done.version,
                statement_reference="CHAPS-0002",
                reconciled_on=PAID_ON,
            )
    with db.write() as conn:
        done = manual.reconcile_manual_payment(
            conn,
            people["clerk"],
            book,
            done.id,
            version=done.version,
            statement_reference="chaps-0001",
            reconciled_on=PAID_ON,
        )
    assert done.status is ManualStatus.RECONCILED
    assert _balance(db, system, book, "2050") == 0
    with db.read() as conn:
        assert manual_list.outstanding(conn, people["clerk"], book) == []


def test_the_list_of_suspended_and_linked_payments_not_reconciled_is_oldest_first(
    db, book, system, payees, people
):
    items = _items(db, system, book)
    older = NewManualPayment(payees[0], 5_000, "GBP", date(2026, 11, 2), "cheque", "CHQ 100")
    newer = _chaps(payees[0], 10_000, (ManualLine(items["SB-b1"].id, 10_000),))
    first = _record(db, people, book, newer)
    second = _record(db, people, book, older)
    with db.write() as conn:
        manual.approve_manual_payment(conn, people["abe"], book, first.id, version=first.version)
        blocks.set_block(
            conn, people["clerk"], book, party_id=payees[1], reason="provider_on_hold", note="CQC"
        )
        found = manual_list.outstanding(conn, people["clerk"], book)
    today = date.fromisoformat(utc_now_text()[:10])  # the day the block was set
    assert [(o.kind, o.ref, o.status, o.amount_minor, o.since) for o in found] == [
        ("one_off", f"M{second.id}", "pending", 5_000, date(2026, 11, 2)),
        ("linked", f"M{first.id}", "approved", 10_000, PAID_ON),
        ("suspended", "P2", "blocked", 40_000, today),
    ]
    assert found[2].detail == "1 item(s): provider_on_hold"


def test_the_commands_record_approve_list_and_reconcile(db, book, system, payees, monkeypatch):
    import typer  # noqa: PLC0415
    from typer.testing import CliRunner  # noqa: PLC0415

    from remit.access import service as access  # noqa: PLC0415
    from remit.payments.manual_cli import manual_app  # noqa: PLC0415

    with db.write() as conn:
        for name, role in (("carla", Role.CLERK), ("abe", Role.APPROVER)):
            access.add_user(conn, system, name, "correct horse battery", grants=[(book, role)])
    b1 = _items(db, system, book)["SB-b1"].id
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REMIT_USER", raising=False)
    app = typer.Typer()
    app.add_typer(manual_app, name="manual")  # as the lead mounts it under `remit payments`
    runner = CliRunner()
    record = ["manual", "record", "--book", "test", "--provider", "P1", "--method", "chaps"]
    record += ["--paid-on", "2026-11-20", "--reference", "CHAPS 9", "--as", "carla"]
    bad = runner.invoke(app, [*record, "--item", f"{b1}:abc"])
    assert bad.exit_code == 2 and "--item 1" in bad.output
    done = runner.invoke(app, [*record, "--item", f"{b1}", "--item", "999999:5.00"])
    assert done.exit_code == 2 and "item 999999" in done.output
    done = runner.invoke(app, [*record, "--item", str(b1)])
    assert done.exit_code == 0 and "pending linked" in done.output, done.output
    ref = done.output.split()[1]
    mine = runner.invoke(app, ["manual", "approve", ref, "--book", "test", "--as", "carla"])
    assert mine.exit_code == 2
    approved = runner.invoke(app, ["manual", "approve", ref, "--book", "test", "--as", "abe"])
    assert approved.exit_code == 0 and "approved by abe" in approved.output, approved.output
    listed = runner.invoke(app, ["manual", "list", "--book", "test", "--json", "--as", "abe"])
    assert listed.exit_code == 0
    assert [(o["ref"], o["status"], o["amount_minor"]) for o in json.loads(listed.output)] == [
        (ref, "approved", 10_000)
    ]
    reconcile = ["manual", "reconcile", ref, "--book", "test", "--reference", "CHAPS 9"]
    result = runner.invoke(app, [*reconcile, "--on", "2026-11-23", "--as", "carla"])
    assert result.exit_code == 0 and "reconciled" in result.output, result.output
    assert "nothing suspended" in runner.invoke(app, ["manual", "list", "--book", "test"]).output
