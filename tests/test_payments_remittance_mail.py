"""Remittance advice e-mailed to each payee of a released run (issue 10, point 6), on SQLite
and PostgreSQL, through a real SMTP server on loopback and the ``payments.remittance`` job:
one message per payee with the advice PDF attached and the right total, in Spanish to a
payee we write to in Spanish, a payee with no e-mail address listed, nothing sent twice."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from pypdf import PdfReader
from sqlalchemy import func, select

from remit.access import service as access
from remit.access.model import Actor, Role
from remit.cases import correspondence, mail
from remit.cases.store import correspondence as correspondence_table
from remit.db import Database
from remit.errors import Conflict
from remit.jobs import service as jobs
from remit.jobs.model import Job, JobStatus
from remit.jobs.worker import Worker
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.money import Money, format_money
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.payments import house, remittance_mail, runs
from remit.payments.kinds import remittance_problems
from remit.payments.model import NewHouseAccount
from remit.secrets import Vault
from remit.testkit import person

SENDER = "payments@council.example"
PAY_DATE = date(2026, 11, 28)
BACS = {
    "service_user_number": "123456",
    "sort_code": "20-00-00",
    "account_number": "55779911",
    "name": "TEST COUNCIL",
}


class Inbox:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> dict[str, EmailMessage]:
        """The messages received, by their one recipient."""
        out = {}
        for envelope in self.envelopes:
            [to] = envelope.rcpt_tos
            out[to] = message_from_bytes(envelope.original_content, policy=policy.default)
        return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A real SMTP server on loopback, named to the job by the REMIT_SMTP_* settings."""
    found = Inbox()
    controller = Controller(found, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("REMIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REMIT_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("REMIT_SMTP_FROM", SENDER)
    monkeypatch.delenv("REMIT_SMTP_USER", raising=False)
    monkeypatch.delenv("REMIT_SMTP_STARTTLS", raising=False)
    try:
        yield found
    finally:
        controller.stop()


@pytest.fixture
def vault() -> Vault:
    return Vault(Fernet.generate_key())


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
def clerk(db: Database, book: int, system: Actor) -> Actor:
    """A clerk with a user row: the worker runs a job as the user who queued it."""
    with db.write() as conn:
        access.add_user(
            conn, system, "carla", "a long pass phrase carla", grants=[(book, Role.CLERK)]
        )
        return access.actor_for(conn, "carla")


@pytest.fixture
def released(db: Database, book: int, system: Actor, vault: Vault, clerk: Actor) -> dict[str, Any]:
    """P1 (English contact; bills 100.00 + 250.00), P2 (written to in Spanish; 400.00) and
    P3 (a contact with no e-mail address; 50.00) paid in a run prepared by the clerk,
    approved and released by an approver."""
    abe, mona = person("abe", book, Role.APPROVER), person("mona", book, Role.MANAGER)
    contacts = {
        "P1": parties.Contact("Jo Finance", "jo@p1.example"),
        "P2": parties.Contact("Ana Cuentas", "ana@p2.example", "", "Calle Mayor 5\n28013 Madrid"),
        "P3": parties.Contact("Sam Office", "", "0113 496 0000"),
    }
    with db.write() as conn:
        ledger.open_accounts(
            conn, system, book, [AccountSpec("2050", "Payments in transit", AccountType.LIABILITY)]
        )
        ids = {
            ref: parties.create_party(
                conn,
                system,
                book,
                parties.NewParty(
                    ref,
                    f"{ref} Home Care",
                    PartyKind.ORGANISATION,
                    (PartyRole.PROVIDER,),
                    contacts=(contact,),
                ),
            )
            for ref, contact in contacts.items()
        }
        for n, party in enumerate(ids.values()):
            account = BankDetails(
                BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": f"5577991{n}"}
            )
            change = parties.request_bank_change(conn, clerk, vault, book, party, account, "form")
            parties.approve_bank_change(conn, abe, book, change)
        ledger.post_entries(
            conn,
            system,
            book,
            [
                _bill("b1", 10_000, ids["P1"]),
                _bill("b2", 25_000, ids["P1"]),
                _bill("b3", 40_000, ids["P2"]),
                _bill("b4", 5_000, ids["P3"]),
            ],
        )
        house.add_house_account(
            conn,
            mona,
            book,
            NewHouseAccount("OPS", "Operations", "1000", "GBP", ("bacs18",), {"bacs": BACS}),
        )
        # An officer wrote to P2 in Spanish: the language we keep writing to P2 in.
        correspondence.issue_letter(
            conn,
            clerk,
            book,
            ids["P2"],
            "general",
            "es",
            {"subject": "Pagos", "body": "Le escribimos en español."},
        )
        run = runs.prepare_run(conn, clerk, book, PAY_DATE).run
    with db.write() as conn:
        before = remittance_mail.queue_remittances
        with pytest.raises(Conflict, match="is prepared"):
            before(conn, clerk, book, run.id)
    with db.write() as conn:
        run = runs.approve_run(conn, abe, book, run.id, version=run.version)
        run = runs.release_run(conn, abe, vault, book, run.id, version=run.version)
        refs = {p.party_id: p.reference for p in runs.list_payments(conn, abe, book, run.id)}
    return {"run": run.id, "ids": ids, "refs": {ref: refs[pid] for ref, pid in ids.items()}}


def run_job(db: Database, vault: Vault, actor: Actor, book: int, run_id: int) -> Job:
    with db.write() as conn:
        job_id = remittance_mail.queue_remittances(conn, actor, book, run_id)
    assert Worker(db, vault, "w-remit").run_until_empty() == 1
    with db.read() as conn:
        return jobs.get_job(conn, actor, book, job_id)


def emails(db: Database, book: int) -> list[dict[str, Any]]:
    c = correspondence_table.c
    with db.read() as conn:
        rows = conn.execute(
            select(correspondence_table)
            .where(c.book_id == book, c.channel == "email")
            .order_by(c.id)
        ).mappings()
        return [dict(r) for r in rows]


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def test_each_payee_gets_its_advice_once_in_its_language(db, book, clerk, vault, released, inbox):
    job = run_job(db, vault, clerk, book, released["run"])
    assert job.status is JobStatus.SUCCEEDED, job.error
    refs = released["refs"]
    assert job.result is not None
    assert sorted(job.result["sent"]) == sorted([refs["P1"], refs["P2"]])
    assert job.result["no_address"] == [
        {"payment": refs["P3"], "payee": "P3", "name": "P3 Home Care"}
    ]
    assert (job.progress_done, job.progress_total) == (3, 3)
    got = inbox.messages()
    assert sorted(got) == ["ana@p2.example", "jo@p1.example"]

    english = got["jo@p1.example"]
    assert english["Subject"] == f"Remittance advice {refs['P1']}: £350.00"
    text = english.get_body(preferencelist=("plain",)).get_content()
    assert "Dear Jo Finance," in text and "Total paid: £350.00" in text
    assert "- SB-b1" in text and "£100.00" in text and "- SB-b2" in text and "£250.00" in text
    html = english.get_body(preferencelist=("html",)).get_content()
    assert "<td>SB-b2</td>" in html and "£350.00" in html
    [pdf] = list(english.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"remittance-{refs['P1']}.pdf"
    shown = pdf_text(pdf.get_content())
    assert "SB-b1" in shown and "SB-b2" in shown and "350.00" in shown

    spanish = got["ana@p2.example"]
    total = format_money(Money(40_000, "GBP"), "es_ES")
    # A subject is one line of plain spaces (the amount's no-break space too).
    assert spanish["Subject"] == f"Aviso de pago {refs['P2']}: {' '.join(total.split())}"
    body = spanish.get_body(preferencelist=("plain",)).get_content()
    assert "Estimado/a Ana Cuentas:" in body and f"Total pagado: {total}" in body
    assert "SB-b3" in pdf_text(next(spanish.iter_attachments()).get_content())

    kept = emails(db, book)
    assert [(e["status"], e["template"], e["locale"]) for e in kept] == [
        ("sent", "remittance", "en_GB"),
        ("sent", "remittance", "es_ES"),
    ]
    assert all("Content-Type: application/pdf" in e["raw_message"] for e in kept)

    again = run_job(db, vault, clerk, book, released["run"])
    assert again.status is JobStatus.SUCCEEDED and again.result is not None
    assert (again.result["sent"], again.result["already_sent"]) == ([], 2)
    assert [n["payee"] for n in again.result["no_address"]] == ["P3"]
    assert len(inbox.envelopes) == 2 and len(emails(db, book)) == 2


def test_with_no_smtp_the_job_fails_saying_so_and_sends_nothing(
    db, book, clerk, vault, released, monkeypatch
):
    monkeypatch.delenv("REMIT_SMTP_HOST", raising=False)
    job = run_job(db, vault, clerk, book, released["run"])
    assert job.status is JobStatus.FAILED
    assert "e-mail is not set up on this installation" in (job.error or "")
    with db.read() as conn:
        c = correspondence_table.c
        count = conn.execute(
            select(func.count()).select_from(correspondence_table).where(c.channel == "email")
        ).scalar_one()
    assert count == 0


def test_the_job_takes_a_run_number_only():
    assert remittance_problems({"run_id": 3}) == []
    assert [p.check for p in remittance_problems({"run_id": True, "x": 1})] == [
        "unknown_param",
        "run_id",
    ]


class Refusing(Inbox):
    """An SMTP server that refuses one recipient, until told to take it."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_an_address_the_server_refuses_fails_the_job_and_is_tried_again(
    db, book, clerk, vault, released, monkeypatch
):
    refusing = Refusing("ana@p2.example")
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("REMIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REMIT_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("REMIT_SMTP_FROM", SENDER)
    try:
        first = run_job(db, vault, clerk, book, released["run"])
        assert first.status is JobStatus.FAILED
        assert f"1 of 3 remittance e-mail(s) were not sent ({released['refs']['P2']}:" in (
            first.error or ""
        )
        assert "1 sent, 1 with no address" in (first.error or "")
        assert sorted(refusing.messages()) == ["jo@p1.example"]
        assert [e["status"] for e in emails(db, book)] == ["sent", "failed"]
        refusing.refused = ""
        second = run_job(db, vault, clerk, book, released["run"])
    finally:
        controller.stop()
    assert second.status is JobStatus.SUCCEEDED and second.result is not None
    assert (second.result["sent"], second.result["already_sent"]) == (
        [released["refs"]["P2"]],
        1,
    )
    assert sorted(refusing.messages()) == ["ana@p2.example", "jo@p1.example"]


def test_the_command_sends_the_advice_here_and_says_what_it_did(
    db, book, clerk, vault, released, inbox, monkeypatch
):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the command is shown on the embedded store")
    import typer  # noqa: PLC0415 - only this test drives a command
    from typer.testing import CliRunner  # noqa: PLC0415

    from remit.payments.remittance_cli import remit_command  # noqa: PLC0415

    app = typer.Typer()
    app.command("remit")(remit_command)
    app.command("other")(lambda: None)  # two commands: `remit` is named, as under `run`
    monkeypatch.setenv("REMIT_DATABASE_URL", db.url)
    monkeypatch.setenv("REMIT_SECRET_KEY", Fernet.generate_key().decode())
    argv = ["remit", str(released["run"]), "--book", "test", "--as", "carla"]
    done = CliRunner().invoke(app, argv)
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert f"run {released['run']}: 2 advice(s) e-mailed, 0 sent before, 1 with no address" in said
    assert f"no address: {released['refs']['P3']} P3 P3 Home Care" in said
    again = CliRunner().invoke(app, argv)
    assert "0 advice(s) e-mailed, 2 sent before" in " ".join(again.output.split())
    assert len(inbox.envelopes) == 2


def test_an_advice_listed_by_two_jobs_is_sent_by_one(db, book, clerk, vault, released, inbox):
    """A job that listed a payment before another job sent its advice sends nothing: the
    payment's row is locked and its e-mails read again where the new one would be kept."""
    with db.read() as conn:
        stale, _ = remittance_mail.advice_to_mail(conn, clerk, book, released["run"])
    assert run_job(db, vault, clerk, book, released["run"]).status is JobStatus.SUCCEEDED
    mailing = remittance_mail.Mailing(released["run"])
    mailer = mail.mailer_from_env()
    for payment_id in stale:
        remittance_mail.mail_advice(db, clerk, book, payment_id, mailer, mailing)
    assert (mailing.sent, mailing.already_sent, len(mailing.no_address)) == ([], 2, 1)
    assert len(inbox.envelopes) == 2 and len(emails(db, book)) == 2
