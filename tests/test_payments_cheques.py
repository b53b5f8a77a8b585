"""Cheques (issue 10, point 3): payees paid by cheque beside a BACS payee in one run; at
release the BACS file holds only the transfer, the cheques are numbered from the stock's
first number and the next run goes on from there; the register PDF and the positive-pay
file list them; a cheque payee with no postal address is left out with the reason; a clerk
downloads neither."""

from __future__ import annotations

import io
from datetime import date

import pytest
import typer
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pypdf import PdfReader
from typer.testing import CliRunner

from remit.access import service as access
from remit.access.model import Role
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.formats import bacs18
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import cheque_routes, cheques, house, runs
from remit.payments.cheques_cli import cheques_command
from remit.payments.model import NewHouseAccount, PaymentStatus, RunStatus
from remit.secrets import Vault
from remit.testkit import person
from remit.testkit.web import sign_in
from remit.web.app import create_app

PAY_DATE = date(2026, 11, 28)
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}
CHEQUE = {"account_number": "44556677", "sort_code": "20-00-00", "first_number": 100001}
ADDRESS = "1 High Street\nRivertown RT1 1AA"


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
def vault():
    return Vault(Fernet.generate_key())


@pytest.fixture
def people(book):
    return {
        "clerk": person("carla", book, Role.CLERK),
        "abe": person("abe", book, Role.APPROVER),
        "mona": person("mona", book, Role.MANAGER),
    }


@pytest.fixture
def payees(db, book, system, vault, people):
    """P1 paid by BACS (100.00 + 250.00); P2 (400.00, with bank details too) and P3 (50.00)
    paid by cheque, both with an address; P4 paid by cheque with none (70.00). One house
    account writes BACS files and cheques."""
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
                    ref,
                    f"{ref} Home Care",
                    PartyKind.ORGANISATION,
                    (PartyRole.PROVIDER,),
                    contacts=(parties.Contact("Office", address=address),),
                )
                for ref, address in (("P1", ""), ("P2", ADDRESS), ("P3", ADDRESS), ("P4", ""))
            ],
        )
        for party, number in ((ids[0], "12345678"), (ids[1], "87654321")):
            details = BankDetails(
                BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": number}
            )
            change = parties.request_bank_change(
                conn, people["clerk"], vault, book, party, details, "form"
            )
            parties.approve_bank_change(conn, people["abe"], book, change)
        for party in ids[1:]:
            assert cheques.set_pays_by_cheque(conn, people["clerk"], book, party, on=True)
        ledger.post_entries(
            conn,
            system,
            book,
            [
                _bill("b1", 10_000, ids[0]),
                _bill("b2", 25_000, ids[0]),
                _bill("b3", 40_000, ids[1]),
                _bill("b4", 5_000, ids[2]),
                _bill("b5", 7_000, ids[3]),
            ],
        )
        house.add_house_account(
            conn,
            people["mona"],
            book,
            NewHouseAccount(
                "OPS",
                "Operations",
                "1000",
                "GBP",
                ("bacs18", "cheque"),
                {"bacs": BACS, "cheque": CHEQUE},
            ),
        )
    return ids


def _released(db, book, vault, people):
    with db.write() as conn:
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
        run = runs.approve_run(
            conn, people["abe"], book, prepared.run.id, version=prepared.run.version
        )
        run = runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
    return prepared, run


def test_cheques_are_numbered_at_release_and_listed_in_the_register_and_positive_pay(
    db, book, payees, vault, people
):
    prepared, run = _released(db, book, vault, people)
    excluded = prepared.excluded.select("party_id", "reason").rows()
    assert excluded == [(payees[3], "no_postal_address")]
    with db.write() as conn:
        payments = runs.list_payments(conn, people["abe"], book, run.id)
        by_method = sorted((p.method, p.party_id, p.amount_minor) for p in payments)
        assert by_method == [
            ("bacs18", payees[0], 35_000),
            ("cheque", payees[1], 40_000),
            ("cheque", payees[2], 5_000),
        ]
        assert {p.status for p in payments} == {PaymentStatus.RELEASED}
        [file] = runs.list_files(conn, people["abe"], book, run.id)
        _, data = runs.file_bytes(conn, people["abe"], vault, book, run.id, file.id)
        register = cheques.cheque_register(conn, people["abe"], book, run.id)
        positive = cheques.positive_pay_csv(conn, people["abe"], book, run.id)
        assert cheques.number_cheques(conn, book, run.id) == 0  # never renumbered
        assert ledger.integrity_problems(conn) == []
        in_transit = {
            b.account_code: b.balance_minor for b in ledger.balances(conn, people["abe"], book)
        }
    # the BACS file holds only the transfer
    assert [p.amount_minor for p in bacs18.parse(data)] == [35_000]
    assert (file.payment_count, file.total_minor) == (1, 35_000)
    # every payment, cheques too, waits on payments in transit
    assert in_transit["2050"] == -80_000
    assert [(r["cheque_number"], r["payee_ref"], r["amount_minor"]) for r in register.rows] == [
        (100001, "P2", 40_000),
        (100002, "P3", 5_000),
    ]
    assert {r["drawn_on"] for r in register.rows} == {"OPS ****6677"}
    assert register.totals() == [("GBP", 2, 45_000)]
    assert positive.decode().splitlines() == [
        "cheque_number,account_number,amount_minor,currency,payee,issue_date",
        "100001,44556677,40000,GBP,P2 Home Care,2026-11-28",
        "100002,44556677,5000,GBP,P3 Home Care,2026-11-28",
    ]
    pdf = cheques.register_pdf(register)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("Cheque register", "100001", "100002", "P2 Home Care", "£400.00", "£450.00"):
        assert expected in text
    assert "44556677" not in text  # the account drawn on is masked on paper


def test_a_second_run_goes_on_from_the_last_number_used(db, book, system, payees, vault, people):
    _released(db, book, vault, people)
    with db.write() as conn:
        ledger.post_entries(
            conn, system, book, [_bill("b6", 1_200, payees[2]), _bill("b7", 800, payees[1])]
        )
    _, second = _released(db, book, vault, people)
    with db.read() as conn:
        register = cheques.cheque_register(conn, people["mona"], book, second.id)
    assert [(r["cheque_number"], r["payee_ref"]) for r in register.rows] == [
        (100003, "P2"),
        (100004, "P3"),
    ]


def test_a_payee_back_on_its_bank_account_is_paid_by_transfer(db, book, payees, vault, people):
    with db.write() as conn:
        assert cheques.set_pays_by_cheque(conn, people["clerk"], book, payees[1], on=False)
        assert not cheques.set_pays_by_cheque(conn, people["clerk"], book, payees[1], on=False)
    _, run = _released(db, book, vault, people)
    with db.read() as conn:
        payments = runs.list_payments(conn, people["abe"], book, run.id)
    assert sorted((p.method, p.party_id) for p in payments) == [
        ("bacs18", payees[0]),
        ("bacs18", payees[1]),
        ("cheque", payees[2]),
    ]


def test_who_may_choose_cheques_and_download_them(db, book, payees, vault, people):
    with db.write() as conn:
        with pytest.raises(Forbidden):
            cheques.set_pays_by_cheque(
                conn, person("aud", book, Role.AUDITOR), book, payees[0], on=True
            )
        with pytest.raises(NotFound):
            cheques.set_pays_by_cheque(conn, people["clerk"], book, 999_999, on=True)
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
        with pytest.raises(Conflict, match="no numbers yet"):
            cheques.cheque_register(conn, people["abe"], book, prepared.run.id)
    run = prepared.run
    with db.write() as conn:
        run = runs.approve_run(conn, people["abe"], book, run.id, version=run.version)
        runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
        with pytest.raises(Forbidden):
            cheques.cheque_register(conn, people["clerk"], book, run.id)
        with pytest.raises(Forbidden):
            cheques.positive_pay_csv(conn, people["clerk"], book, run.id)


def test_the_downloads_through_the_pages(db, book, system, payees, vault, people):
    _, run = _released(db, book, vault, people)
    with db.write() as conn:
        for name, role in (("carla", Role.CLERK), ("abe", Role.APPROVER)):
            access.add_user(conn, system, name, f"a long pass phrase {name}", grants=[(book, role)])
    app = create_app(db)
    app.include_router(cheque_routes.router)
    approver, clerk = TestClient(app), TestClient(app)
    sign_in(approver, "abe", "a long pass phrase abe")
    sign_in(clerk, "carla", "a long pass phrase carla")
    base = f"/b/test/payments/runs/{run.id}"
    pdf = approver.get(f"{base}/cheques.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv_file = approver.get(f"{base}/cheques.csv")
    assert csv_file.status_code == 200
    assert csv_file.text.splitlines()[1] == "100001,44556677,40000,GBP,P2 Home Care,2026-11-28"
    assert clerk.get(f"{base}/cheques.pdf").status_code == 403
    assert clerk.get(f"{base}/cheques.csv").status_code == 403


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({**CHEQUE, "account_number": "44-55"}, "cheque.account_number"),
        ({**CHEQUE, "sort_code": "20-00"}, "cheque.sort_code"),
        ({**CHEQUE, "routing_number": "011000016"}, "cheque.sort_code"),
        (
            {"account_number": "44556677", "routing_number": "011000016", "first_number": 1},
            "cheque.routing_number",
        ),
        ({**CHEQUE, "first_number": "100001"}, "cheque.first_number"),
        ({**CHEQUE, "first_number": 0}, "cheque.first_number"),
        ({**CHEQUE, "colour": "blue"}, "cheque.colour"),
    ],
)
def test_a_cheque_account_with_a_bad_table_is_refused(db, book, people, table, field):
    spec = NewHouseAccount("CHQ", "Cheques", "1000", "GBP", ("cheque",), {"cheque": table})
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        house.add_house_account(conn, people["mona"], book, spec)
    assert field in [p.field for p in refused.value.problems]
    with db.read() as conn:
        assert house.list_house_accounts(conn, people["mona"], book) == []


def test_a_cheque_account_needs_its_table(db, book, people):
    spec = NewHouseAccount("CHQ", "Cheques", "1000", "GBP", ("cheque",), {})
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        house.add_house_account(conn, people["mona"], book, spec)
    assert [p.check for p in refused.value.problems] == ["missing_table"]


def test_the_command_writes_the_register_and_positive_pay(
    db, book, system, payees, vault, people, tmp_path, monkeypatch
):
    _, run = _released(db, book, vault, people)
    with db.write() as conn:
        for name, role in (("carla", Role.CLERK), ("abe", Role.APPROVER)):
            access.add_user(conn, system, name, f"a long pass phrase {name}", grants=[(book, role)])
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REMIT_USER", raising=False)
    command = typer.Typer()
    command.command()(cheques_command)
    out = tmp_path / "out"
    refused = CliRunner().invoke(command, [str(run.id), "--out", str(out), "--as", "carla"])
    assert refused.exit_code != 0 and not out.exists()
    done = CliRunner().invoke(command, [str(run.id), "--out", str(out), "--as", "abe"])
    assert done.exit_code == 0, done.output
    assert "2 cheque(s)" in done.output
    assert (out / f"cheques-run{run.id}.pdf").read_bytes().startswith(b"%PDF")
    assert (out / f"positive-pay-run{run.id}.csv").read_text().splitlines()[2] == (
        "100002,44556677,5000,GBP,P3 Home Care,2026-11-28"
    )


def test_cheques_with_no_account_that_writes_them_release_nothing(db, book, payees, vault, people):
    with db.write() as conn:
        [ops] = house.list_house_accounts(conn, people["mona"], book)
        house.close_house_account(conn, people["mona"], book, ops.id)
        house.add_house_account(
            conn,
            people["mona"],
            book,
            NewHouseAccount("BACS", "Transfers", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
        )
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
        run = runs.approve_run(
            conn, people["abe"], book, prepared.run.id, version=prepared.run.version
        )
    with pytest.raises(NotFound, match="pays cheque in GBP"), db.write() as conn:
        runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
    with db.read() as conn:
        after = runs.get_run(conn, people["abe"], book, run.id)
        assert after.status is RunStatus.APPROVED
        assert runs.list_files(conn, people["abe"], book, run.id) == []
        with pytest.raises(Conflict, match="not released"):
            cheques.cheque_register(conn, people["abe"], book, run.id)


def test_a_payee_who_changes_to_or_from_cheque_after_approval_stops_the_release(
    db, book, payees, vault, people
):
    with db.write() as conn:
        prepared = runs.prepare_run(conn, people["clerk"], book, PAY_DATE)
        run = runs.approve_run(
            conn, people["abe"], book, prepared.run.id, version=prepared.run.version
        )
        cheques.set_pays_by_cheque(conn, people["clerk"], book, payees[0], on=True)
        cheques.set_pays_by_cheque(conn, people["clerk"], book, payees[2], on=False)
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        runs.release_run(conn, people["abe"], vault, book, run.id, version=run.version)
    found = {(p.check, p.message) for p in refused.value.problems}
    assert ("method_changed", "the payee is paid by cheque now") in found
    assert ("method_changed", "the payee is paid by transfer now") in found
    with db.read() as conn:
        assert runs.get_run(conn, people["abe"], book, run.id).status is RunStatus.APPROVED
