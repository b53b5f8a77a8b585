"""The banks' feedback applied to the book's payments (issue 10, point 7): a NACHA return
re-opens the items and opens a case, BACS returned credits and a pain.002 rejection do the
same, a confirmation feed settles, a notification of change proposes corrected bank details
that wait for a second person; an unknown reference refuses the whole file; a replay
changes nothing."""

from __future__ import annotations

import json
import re
import threading
from datetime import date

import pytest
import typer
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from typer.testing import CliRunner

from remit import audit
from remit.access.model import Role
from remit.cases import service as cases
from remit.errors import Forbidden, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import feedback, house, runs
from remit.payments.feedback_cli import feedback_apply_command
from remit.payments.model import NewHouseAccount, PaymentStatus
from remit.secrets import Vault
from remit.testkit import person

PAY_DATE = date(2026, 11, 27)  # a Friday: a banking day for all three schemes
RECEIVED = ledger.today_in("Europe/London")  # on or after the release, which posts today
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}
NACHA = {
    "immediate_destination": "011000015",
    "immediate_origin": "1234567890",
    "destination_name": "FEDERAL RESERVE BANK",
    "origin_name": "TEST COUNCIL",
    "company_name": "TEST COUNCIL",
    "company_id": "1234567890",
    "odfi_routing": "021000021",
    "sec_code": "CCD",
    "addenda": False,
    "entry_description": "PROVIDERS",
}
SEPA = {"name": "Test Council", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}
US_ACCOUNT = {"routing_number": "021000021", "account_number": "123456789"}


def _bill(key: str, amount: int, currency: str, party: int) -> EntryDraft:
    expense = PostingDraft("5000", amount, currency)
    payable = PostingDraft("2000", -amount, currency, party, doc_ref=f"SB-{key}")
    return EntryDraft(date(2026, 10, 31), f"bill {key}", key, (expense, payable))


@pytest.fixture
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def people(book):
    return {
        "clerk": person("carla", book, Role.CLERK),
        "dora": person("dora", book, Role.CLERK),
        "abe": person("abe", book, Role.APPROVER),
        "mona": person("mona", book, Role.MANAGER),
    }


@pytest.fixture
def released(db, book, system, vault, people):
    """A released run paying four providers: P1 (GBP, bills of 100.00 + 250.00) and P2
    (GBP 400.00) by BACS, P3 (USD 500.00) by NACHA, P4 (EUR 125.00) by SEPA. Returns the
    payments by party ref and the run's files by format."""
    details = [
        BankDetails(
            BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
        ),
        BankDetails(
            BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "12345678"}
        ),
        BankDetails(BankScheme.US_ABA, {**US_ACCOUNT, "account_type": "checking"}),
        BankDetails(BankScheme.IBAN, {"iban": "FR1420041010050500013M02606"}),
    ]
    refs = ("P1", "P2", "P3", "P4")
    with db.write() as conn:
        ledger.open_accounts(
            conn,
            system,
            book,
            [
                AccountSpec("2050", "Payments in transit", AccountType.LIABILITY),
                AccountSpec("1300", "Dollar account", AccountType.ASSET, currency="USD"),
            ],
        )
        ids = parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(r, f"{r} Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
                for r in refs
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
                _bill("b1", 10_000, "GBP", ids[0]),
                _bill("b2", 25_000, "GBP", ids[0]),
                _bill("b3", 40_000, "GBP", ids[1]),
                _bill("b4", 50_000, "USD", ids[2]),
                _bill("b5", 12_500, "EUR", ids[3]),
            ],
        )
        for spec in (
            NewHouseAccount("OPS", "Operations", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
            NewHouseAccount("OPS-USD", "Dollars", "1300", "USD", ("nacha",), {"nacha": NACHA}),
            NewHouseAccount("OPS-EUR", "Euros", "1200", "EUR", ("pain.001",), {"sepa": SEPA}),
        ):
            house.add_house_account(conn, people["mona"], book, spec)
    with db.write() as conn:
        run = runs.prepare_run(conn, people["clerk"], book, PAY_DATE).run
        run = runs.approve_run(conn, people["mona"], book, run.id, version=run.version)
        run = runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
        payments = runs.list_payments(conn, people["clerk"], book, run.id)
        files = {
            f.format: runs.file_bytes(conn, people["abe"], vault, book, run.id, f.id)[1]
            for f in runs.list_files(conn, people["abe"], book, run.id)
        }
    by_party = dict(zip(ids, refs, strict=True))
    return {by_party[p.party_id]: p for p in payments}, files


def _apply(db, actor, vault, book, data: bytes, kind: str | None = None):
    with db.write() as conn:
        return feedback.apply_feedback(
            conn, actor, vault, book, data, kind=kind, received_on=RECEIVED
        )


def _payment(db, book, people, payment_id: int):
    with db.read() as conn:
        return runs.get_payment(conn, people["clerk"], book, payment_id)


def _open_minor(db, book, people) -> list[int]:
    with db.read() as conn:
        found = open_items.open_items(conn, people["clerk"], book, account="2000")
    return sorted(i.open_minor for i in found)


def _audit_count(db) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit.audit_events)).scalar())


def _nacha_feedback(run_file: bytes, reference: str, addenda: str, *, zero: bool = False) -> bytes:
    """The run's own NACHA file with ``addenda`` (a 799 return or a 798 change) after the
    entry paying ``reference`` (its individual id, positions 40-54); ``zero`` blanks the
    entry's amount, as a notification of change carries none."""
    out = []
    for line in run_file.decode("ascii").splitlines():
        if line.startswith("6") and line[39:54].strip() == reference:
            out.append(line[:29] + "0" * 10 + line[39:] if zero else line)
            out.append(addenda)
        else:
            out.append(line)
    return ("\n".join(out) + "\n").encode("ascii")


def _addenda(kind: str, code: str, data: str = "") -> str:
    if kind == "return":  # 799: code, original trace, date of death, RDFI, information, trace
        record = f"799{code}021000020000001{'':6}02100002{data:44}091000010000001"
    else:  # 798: code, original trace, reserved, RDFI, corrected data, reserved, trace
        record = f"798{code}021000020000001{'':6}02100002{data:29}{'':15}091000010000001"
    assert len(record) == 94
    return record


def test_a_nacha_return_reopens_the_items_and_opens_a_case(db, book, released, vault, people):
    payments, files = released
    p3 = payments["P3"]
    data = _nacha_feedback(files["nacha"], p3.reference, _addenda("return", "R02"))
    done = _apply(db, people["clerk"], vault, book, data)
    assert (done.format, dict(done.counts), done.returned) == (
        "nacha",
        {"return": 1},
        (p3.reference,),
    )
    [case_id] = done.cases_opened
    after = _payment(db, book, people, p3.id)
    assert (after.status, after.return_code, after.case_id) == (
        PaymentStatus.RETURNED,
        "R02",
        case_id,
    )
    assert _open_minor(db, book, people) == [-50_000]  # P3's bill is open again
    with db.read() as conn:
        case = cases.get_case(conn, people["clerk"], book, case_id)
        assert ledger.integrity_problems(conn) == []
    assert case["case_type"] == "payment_return" and case["party_id"] == p3.party_id
    assert "R02" in case["title"] and "account closed" in case["title"]


def test_bacs_returned_credits_return_the_payment_and_a_replay_changes_nothing(
    db, book, released, vault, people
):
    payments, _ = released
    p1 = payments["P1"]
    data = (
        "sort_code,account_number,amount_minor,reference,reason_code\n"
        f"20-00-00,55779911,35000,{p1.reference},B\n"
    ).encode()
    done = _apply(db, people["clerk"], vault, book, data)
    assert done.returned == (p1.reference,) and len(done.cases_opened) == 1
    assert _open_minor(db, book, people) == [-25_000, -10_000]
    events = _audit_count(db)
    again = _apply(db, people["dora"], vault, book, data)
    assert again.replay and again.first_applied_by == "carla"
    assert (again.returned, again.cases_opened, again.unchanged) == ((), (), (p1.reference,))
    assert _audit_count(db) == events  # nothing written the second time
    with db.read() as conn:
        assert (
            len(cases.list_cases(conn, people["clerk"], book, cases.CaseFilter(open_only=False)))
            == 1
        )


def test_a_pain002_rejecting_one_payment(db, book, released, vault, people):
    payments, _ = released
    p4 = payments["P4"]
    data = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-28T09:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>X</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
      <GrpSts>PART</GrpSts>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts>
      <OrgnlPmtInfId>X</OrgnlPmtInfId>
      <TxInfAndSts>
        <OrgnlEndToEndId>{p4.reference}</OrgnlEndToEndId>
        <TxSts>RJCT</TxSts>
        <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf>
        <OrgnlTxRef><Amt><InstdAmt Ccy="EUR">125.00</InstdAmt></Amt></OrgnlTxRef>
      </TxInfAndSts>
    </OrgnlPmtInfAndSts>
  </CstmrPmtStsRpt>
</Document>
""".encode()
    done = _apply(db, people["clerk"], vault, book, data)
    assert (dict(done.counts), done.returned) == ({"rejected": 1}, (p4.reference,))
    after = _payment(db, book, people, p4.id)
    assert (after.status, after.return_code) == (PaymentStatus.RETURNED, "AC04")
    assert _payment(db, book, people, payments["P1"].id).status is PaymentStatus.RELEASED


def test_a_confirmation_feed_settles_on_its_payment_date(db, book, released, vault, people):
    payments, _ = released
    p1, p2 = payments["P1"], payments["P2"]
    data = (
        "reference,payment_date,payment_number,amount_minor,currency,status\n"
        f"{p1.reference},{RECEIVED},CHQ-1,35000,GBP,paid\n"
        f"{p2.reference},{RECEIVED},CHQ-2,40000,GBP,failed\n"
    ).encode()
    done = _apply(db, people["clerk"], vault, book, data)
    assert (done.settled, done.returned) == ((p1.reference,), (p2.reference,))
    assert done.payments == tuple(sorted((p1.reference, p2.reference)))
    settled = _payment(db, book, people, p1.id)
    assert (settled.status, settled.settled_on) == (PaymentStatus.SETTLED, RECEIVED)
    assert _payment(db, book, people, p2.id).return_code == "FAILED"
    with db.read() as conn:
        by_code = {
            b.account_code: b.balance_minor for b in ledger.balances(conn, people["clerk"], book)
        }
    assert by_code["1000"] == -35_000  # only P1's money left the bank


def test_a_notification_of_change_waits_for_a_second_person(db, book, released, vault, people):
    payments, files = released
    p3 = payments["P3"]
    noc = _addenda("change", "C01", "99887766")
    data = _nacha_feedback(files["nacha"], p3.reference, noc, zero=True)
    done = _apply(db, people["mona"], vault, book, data)
    [change] = done.bank_changes
    assert dict(done.counts) == {"notification_of_change": 1}
    assert (done.returned, done.settled, done.cases_opened) == ((), (), ())
    assert _payment(db, book, people, p3.id).status is PaymentStatus.RELEASED
    with db.read() as conn:
        [waiting] = parties.pending_bank_changes(conn, people["clerk"], book, p3.party_id)
    assert waiting["id"] == change and waiting["requested_by"] == "mona"
    assert waiting["reason"] == f"NOC C01 from the bank, payment {p3.reference}"
    # The same correction in another file (a blank line more): not requested twice.
    again = _apply(db, people["clerk"], vault, book, data + b"\n")
    assert (again.replay, again.bank_changes, again.unchanged) == (False, (), (p3.reference,))
    with db.write() as conn:
        before = parties.bank_details(conn, people["abe"], vault, book, p3.party_id)
    assert before.fields["account_number"] == "123456789"  # not applied yet
    with pytest.raises(Forbidden, match="requested"), db.write() as conn:
        parties.approve_bank_change(conn, people["mona"], book, change)
    with db.write() as conn:
        parties.approve_bank_change(conn, people["abe"], book, change)
        now = parties.bank_details(conn, people["abe"], vault, book, p3.party_id)
    assert dict(now.fields) == {
        **US_ACCOUNT,
        "account_number": "99887766",
        "account_type": "checking",
    }


def test_a_pain002_rejecting_the_whole_message_returns_every_payment_of_the_file(
    db, book, released, vault, people
):
    payments, files = released
    [sepa] = [data for fmt, data in files.items() if fmt.startswith("pain.001")]
    message_id = re.search(rb"<MsgId>([^<]+)</MsgId>", sepa).group(1).decode()
    data = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STS-2</MsgId><CreDtTm>2026-11-28T09:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>{message_id}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
      <GrpSts>RJCT</GrpSts>
      <StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>
    </OrgnlGrpInfAndSts>
  </CstmrPmtStsRpt>
</Document>
""".encode()
    done = _apply(db, people["clerk"], vault, book, data)
    assert done.returned == (payments["P4"].reference,) and len(done.cases_opened) == 1
    assert _payment(db, book, people, payments["P4"].id).return_code == "FF01"
    assert _payment(db, book, people, payments["P3"].id).status is PaymentStatus.RELEASED


def test_a_settlement_dated_before_the_release_names_its_line(db, book, released, vault, people):
    payments, _ = released
    data = (
        "reference,payment_date,payment_number,amount_minor,currency,status\n"
        f"{payments['P2'].reference},{RECEIVED},C2,40000,GBP,paid\n"
        f"{payments['P1'].reference},2026-01-05,C1,35000,GBP,paid\n"
    ).encode()
    with pytest.raises(ValidationFailed) as refused:
        _apply(db, people["clerk"], vault, book, data)
    [problem] = refused.value.problems
    assert (problem.line, problem.field, problem.check) == (3, "settled_on", "before_release")
    assert _payment(db, book, people, payments["P2"].id).status is PaymentStatus.RELEASED


def test_an_unknown_reference_refuses_the_whole_file(db, book, released, vault, people):
    payments, _ = released
    p1, p2 = payments["P1"], payments["P2"]
    data = (
        "sort_code,account_number,amount_minor,reference,reason_code\n"
        f"20-00-00,55779911,35000,{p1.reference},B\n"
        "20-00-00,12345678,40000,R999-1,5\n"
        f"20-00-00,12345678,40001,{p2.reference},5\n"
    ).encode()
    events = _audit_count(db)
    with pytest.raises(ValidationFailed) as refused:
        _apply(db, people["clerk"], vault, book, data)
    found = {(p.line, p.field, p.check) for p in refused.value.problems}
    assert found == {(3, "reference", "unknown_reference"), (4, "amount_minor", "amount_mismatch")}
    assert _payment(db, book, people, p1.id).status is PaymentStatus.RELEASED
    assert _audit_count(db) == events
    with db.read() as conn:
        assert (
            cases.list_cases(conn, people["clerk"], book, cases.CaseFilter(open_only=False)) == []
        )


def test_a_bad_file_names_its_line_and_field(db, book, released, vault, people):
    data = b"sort_code,account_number,amount_minor,reference,reason_code\n20-00-00,1,0,R1-1,B\n"
    with pytest.raises(ValidationFailed) as refused:
        _apply(db, people["clerk"], vault, book, data)
    assert {(p.line, p.field) for p in refused.value.problems} == {
        (2, "account_number"),
        (2, "amount_minor"),
    }


def test_a_payment_paid_after_its_return_is_refused(db, book, released, vault, people):
    payments, _ = released
    p1 = payments["P1"]
    returned = (
        "sort_code,account_number,amount_minor,reference,reason_code\n"
        f"20-00-00,55779911,35000,{p1.reference},B\n"
    )
    _apply(db, people["clerk"], vault, book, returned.encode())
    paid = (
        "reference,payment_date,payment_number,amount_minor,currency,status\n"
        f"{p1.reference},{RECEIVED},C1,35000,GBP,paid\n"
    )
    with pytest.raises(ValidationFailed, match="returned: only a released payment is paid"):
        _apply(db, people["clerk"], vault, book, paid.encode())
    # The same return told in another file: nothing new, no second case.
    other = returned.replace(",B\n", ",b\n").encode()
    done = _apply(db, people["clerk"], vault, book, other)
    assert (done.replay, done.returned, done.cases_opened, done.unchanged) == (
        False,
        (),
        (),
        (p1.reference,),
    )


def test_the_command_applies_a_file_and_says_what_it_did(
    db, book, released, vault, people, tmp_path, monkeypatch
):
    payments, _ = released
    p2 = payments["P2"]
    path = tmp_path / "arucs.csv"
    path.write_text(
        "sort_code,account_number,amount_minor,reference,reason_code\n"
        f"20-00-00,12345678,40000,{p2.reference},5\n"
    )
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("REMIT_SECRET_KEY", Fernet.generate_key().decode())
    app = typer.Typer()
    app.command()(feedback_apply_command)
    result = CliRunner().invoke(app, [str(path), "--on", RECEIVED.isoformat(), "--book", "test"])
    assert result.exit_code == 0, result.output
    assert f"returned: {p2.reference}" in result.output and "cases opened:" in result.output
    again = CliRunner().invoke(app, [str(path), "--book", "test"])
    assert again.exit_code == 0 and "already applied" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sort_code,account_number,amount_minor,reference,reason_code\n20-00-00,12345678,40000,R77-1,5\n"
    )
    refused = CliRunner().invoke(app, [str(bad), "--book", "test"])
    assert refused.exit_code == 2 and "line 2" in refused.output
    assert _payment(db, book, people, p2.id).status is PaymentStatus.RETURNED


def test_two_applications_of_one_file_at_once_apply_it_once(db, book, released, vault, people):
    payments, _ = released
    p1 = payments["P1"]
    data = (
        "sort_code,account_number,amount_minor,reference,reason_code\n"
        f"20-00-00,55779911,35000,{p1.reference},B\n"
    ).encode()
    start = threading.Barrier(2)
    results: list[feedback.Applied] = []
    failures: list[BaseException] = []

    def apply(actor) -> None:
        start.wait()
        try:
            results.append(_apply(db, actor, vault, book, data))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=apply, args=(people[n],)) for n in ("clerk", "dora")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted(r.replay for r in results) == [False, True]
    with db.read() as conn:
        found = cases.list_cases(conn, people["clerk"], book, cases.CaseFilter(open_only=False))
        assert len(found) == 1 and ledger.integrity_problems(conn) == []


def test_an_acceptance_is_only_an_audit_line(db, book, released, vault, people):
    payments, files = released
    [sepa] = [data for fmt, data in files.items() if fmt.startswith("pain.001")]
    message_id = re.search(rb"<MsgId>([^<]+)</MsgId>", sepa).group(1).decode()
    data = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STS-3</MsgId><CreDtTm>2026-11-28T09:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>{message_id}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
      <GrpSts>ACTC</GrpSts>
    </OrgnlGrpInfAndSts>
  </CstmrPmtStsRpt>
</Document>
""".encode()
    p4 = payments["P4"]
    done = _apply(db, people["clerk"], vault, book, data)
    assert (dict(done.counts), done.noted, done.payments) == ({"accepted": 1}, (p4.reference,), ())
    assert _payment(db, book, people, p4.id).status is PaymentStatus.RELEASED
    ae = audit.audit_events.c
    with db.read() as conn:
        told = conn.execute(
            select(ae.after).where(
                ae.action == "payments.feedback.notice", ae.object_id == str(p4.id)
            )
        ).scalars()
        assert [json.loads(t)["kind"] for t in told] == ["accepted"]
