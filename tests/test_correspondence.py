"""Correspondence with parties, on SQLite and PostgreSQL: calls logged, letters printed to real
PDFs in English and Spanish, e-mails through a real SMTP server on loopback."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.fernet import Fernet
from pypdf import PdfReader
from sqlalchemy import func, insert, select

from remit.access.model import Actor, Role
from remit.audit import audit_events
from remit.cases import correspondence as letters_out
from remit.cases import service as cases
from remit.cases.mail import Mailer
from remit.cases.model import NewCase
from remit.cases.store import correspondence
from remit.db import Database
from remit.documents import service as documents
from remit.errors import Forbidden, NotFound, ValidationFailed
from remit.events.store import events, webhook_subscriptions
from remit.ledger import service as ledger
from remit.money import Money
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.secrets import Vault
from remit.testkit import person

SENDER = "payments@council.example"
ADDRESS = "1 High Street\nLeeds\nLS1 1AA"


class Inbox:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Mailer]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, Mailer("127.0.0.1", controller.port, SENDER, timeout=5)
    finally:
        controller.stop()


@pytest.fixture
def clerk(book: int) -> Actor:
    return person("carla", book, Role.CLERK)


def new_party(
    db: Database, actor: Actor, book_id: int, ref: str, *contacts: parties.Contact
) -> int:
    with db.write() as conn:
        return parties.create_party(
            conn,
            actor,
            book_id,
            parties.NewParty(
                ref,
                "Sunrise Home Care",
                PartyKind.ORGANISATION,
                (PartyRole.PROVIDER,),
                contacts=contacts,
            ),
        )


@pytest.fixture
def provider(db: Database, book: int, clerk: Actor) -> int:
    return new_party(
        db, clerk, book, "P001", parties.Contact("Jo Finance", "jo@sunrise.example", "", ADDRESS)
    )


@pytest.fixture
def listening(db: Database, book: int) -> None:
    """A webhook subscription to correspondence events, so that emitted events are kept."""
    with db.write() as conn:
        conn.execute(
            insert(webhook_subscriptions).values(
                book_id=book,
                url="https://hooks.example/remit",
                event_types="correspondence.*",
                secret_ciphertext=b"x",
                active=True,
                created_by="test",
                created_at="2026-01-01T00:00:00.000000Z",
            )
        )


def pdf_text(db: Database, actor: Actor, book_id: int, item_id: int) -> str:
    with db.read() as conn:
        item = letters_out.get_item(conn, actor, book_id, item_id)
        pdf = documents.download(conn, actor, book_id, item["document_id"]).content
    pages = PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


def stored(db: Database, book_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(correspondence)
                .where(correspondence.c.book_id == book_id)
                .order_by(correspondence.c.id)
            ).mappings()
        ]


def audit_actions(db: Database, item_id: int) -> list[str]:
    a = audit_events.c
    with db.read() as conn:
        return list(
            conn.execute(
                select(a.action)
                .where((a.object_type == "correspondence") & (a.object_id == str(item_id)))
                .order_by(a.id)
            ).scalars()
        )


STATEMENT = {
    "period_start": "2026-03-01",
    "period_end": date(2026, 3, 31),
    "closing_balance": Money(123456, "GBP"),
}


# ---------------------------------------------------------------- calls


def test_a_call_is_logged_audited_and_listed(db, book, clerk, provider, listening):
    with db.write() as conn:
        call = letters_out.log_call(
            conn,
            clerk,
            book,
            provider,
            "in",
            "Asked  about\nMarch",
            "Jo asked when the March run pays; told her the 28th.",
        )
    with db.read() as conn:
        item = letters_out.get_item(conn, clerk, book, call)
        listed = letters_out.list_for_party(conn, clerk, book, provider)
        announced = conn.execute(
            select(func.count()).select_from(events).where(events.c.object_id == str(call))
        ).scalar_one()
    assert (item["channel"], item["direction"], item["status"]) == ("call", "in", "logged")
    assert item["subject"] == "Asked about March" and "the 28th" in item["body"]
    assert item["party_name"] and item["party_ref"]  # the page names the party, not its id
    assert [row["id"] for row in listed] == [call]
    assert audit_actions(db, call) == ["correspondence.call"]
    assert announced == 1
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        letters_out.log_call(conn, clerk, book, provider, "sideways", " ", "")
    assert {p.field for p in err.value.problems} == {"direction", "subject"}


# ---------------------------------------------------------------- letters


def test_a_letter_in_english_is_a_real_pdf_kept_as_issued(db, book, clerk, provider):
    with db.write() as conn:
        item_id = letters_out.issue_letter(
            conn, clerk, book, provider, "statement_cover", "en", STATEMENT
        )
    text = pdf_text(db, clerk, book, item_id)
    assert "Test council" in text  # the letterhead
    assert "Sunrise Home Care Jo Finance 1 High Street Leeds LS1 1AA" in text
    assert "Your statement for 1 March 2026 to 31 March 2026" in text
    assert "The closing balance on 31 March 2026 is £1,234.56" in text
    assert "Our reference: P001" in text and "1 / 1" in text
    [row] = stored(db, book)
    assert (row["channel"], row["status"], row["locale"]) == ("letter", "sent", "en_GB")
    assert row["recipient"] == "Sunrise Home Care\nJo Finance\n1 High Street\nLeeds\nLS1 1AA"
    assert row["file_id"] is not None and row["sent_at"] is not None
    assert "£1,234.56" in row["body"]
    assert audit_actions(db, item_id) == ["document.attach", "correspondence.letter"]


def test_a_spanish_letter_in_a_dollar_book_uses_es_us(db, system):
    with db.write() as conn:
        usd = ledger.create_book(
            conn, system, "usd", "Condado de Prueba", "USD", "America/Los_Angeles", "US"
        )
    officer = person("marta", usd, Role.MANAGER)
    party = new_party(
        db,
        officer,
        usd,
        "F-7",
        parties.Contact("Ana Núñez", "", "", "1200 Main St, Fresno, CA 93721"),
    )
    context = {
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
        "closing_balance": "1,234.56",
    }
    with db.write() as conn:
        item_id = letters_out.issue_letter(
            conn, officer, usd, party, "statement_cover", "es", context
        )
    text = pdf_text(db, officer, usd, item_id)
    assert "Condado de Prueba" in text and "Estimado/a Ana Núñez:" in text
    assert "Su extracto del 1 de marzo de 2026 al 31 de marzo de 2026" in text
    assert "El saldo final a 31 de marzo de 2026 es de $1,234.56" in text
    assert "Atentamente," in text and "1200 Main St Fresno CA 93721" in text
    assert stored(db, usd)[0]["locale"] == "es_US"


def test_a_spanish_safeguard_letter_shows_only_the_masked_account(db, book, clerk, provider):
    vault = Vault(Fernet.generate_key())
    details = BankDetails(
        BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
    )
    with db.write() as conn:
        change = parties.request_bank_change(
            conn, clerk, vault, book, provider, details, "letter of 3 Mar, confirmed by call-back"
        )
        parties.approve_bank_change(conn, person("abe", book, Role.APPROVER), book, change)
    with db.write() as conn:
        item_id = letters_out.issue_letter(
            conn,
            clerk,
            book,
            provider,
            "bank_details_changed",
            "es",
            {"changed_on": "2026-03-05", "callback_phone": "0113 496 0000"},
        )
    text = pdf_text(db, clerk, book, item_id)
    assert "Se han modificado sus datos bancarios" in text
    assert "se modificó el 5 de marzo de 2026" in text
    assert "llámenos de inmediato al 0113 496 0000" in text
    assert "****9911" in text and "55779911" not in text
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        letters_out.issue_letter(
            conn,
            clerk,
            book,
            provider,
            "bank_details_changed",
            "en",
            {
                "changed_on": "2026-03-05",
                "callback_phone": "0113",
                "masked_account": "20-00-00 55779911",
            },
        )
    assert [p.check for p in err.value.problems] == ["masked_only"]


def test_a_long_subject_is_kept_in_full_in_the_letter_and_cut_to_fit_the_log(
    db, book, clerk, provider
):
    topic = "visits " * 42  # 294 characters: the letter's subject line is longer still
    with db.write() as conn:
        item_id = letters_out.issue_letter(
            conn,
            clerk,
            book,
            provider,
            "query_acknowledgement",
            "en",
            {"case_reference": "Q-1", "query_subject": topic, "reply_due_date": "2026-04-01"},
        )
    [row] = stored(db, book)
    assert row["id"] == item_id and len(row["subject"]) == 300
    assert "(reference Q-1)" in row["body"] and "(reference Q-1)" in pdf_text(
        db, clerk, book, item_id
    )


# ---------------------------------------------------------------- e-mail


def test_an_email_arrives_through_a_real_smtp_server_exactly_as_kept(
    db, book, clerk, provider, smtp, listening
):
    inbox, mailer = smtp
    with db.write() as conn:
        case_id = cases.open_case(
            conn, clerk, book, NewCase("helpdesk", "March visits", party_id=provider)
        )
    item_id = letters_out.send_email(
        db, clerk, book, provider, "query_acknowledgement", "en", {}, mailer, case_id=case_id
    )
    [envelope] = inbox.envelopes
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == ["jo@sunrise.example"]
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert received["Subject"] == (
        f"We have received your query: March visits (reference {case_id})"
    )
    assert received["To"] == "Jo Finance <jo@sunrise.example>"
    assert str(received["From"]) == f"Test council <{SENDER}>"
    body = received.get_content()
    assert body.startswith("Dear Jo Finance,") and f"case {case_id}" in body
    with db.read() as conn:
        item = letters_out.get_item(conn, clerk, book, item_id)
        announced = (
            conn.execute(select(events.c.payload).where(events.c.object_id == str(item_id)))
            .scalars()
            .all()
        )
    assert item["raw_message"].encode("utf-8") == envelope.original_content
    assert (item["status"], item["error"], item["case_id"]) == ("sent", None, case_id)
    assert item["message_id"] == received["Message-ID"] and item["sent_at"] is not None
    assert item["recipient"] == "Jo Finance <jo@sunrise.example>"
    assert len(announced) == 1 and '"status":"sent"' in announced[0]
    assert audit_actions(db, item_id) == ["correspondence.email", "correspondence.email_sent"]


def test_spanish_email_to_another_address_keeps_accents_intact(db, book, clerk, provider, smtp):
    inbox, mailer = smtp
    letters_out.send_email(
        db,
        clerk,
        book,
        provider,
        "general",
        "es",
        {"subject": "Visitas de marzo: revisión", "body": "Le confirmamos el pago.\n\nGracias."},
        mailer,
        to="cuentas@sunrise.example",
    )
    [envelope] = inbox.envelopes
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert envelope.rcpt_tos == ["cuentas@sunrise.example"]
    assert received["Subject"] == "Visitas de marzo: revisión"
    assert "Estimado/a Sunrise Home Care:" in received.get_content()
    assert "Le confirmamos el pago." in received.get_content()
    assert stored(db, book)[0]["locale"] == "es_ES"


def test_a_server_that_is_down_leaves_a_failed_item_and_nothing_else(
    db, book, clerk, provider, listening
):
    down = Mailer("127.0.0.1", free_port(), SENDER, timeout=2)
    item_id = letters_out.send_email(
        db, clerk, book, provider, "statement_cover", "en", STATEMENT, down
    )
    [row] = stored(db, book)
    assert row["id"] == item_id and row["status"] == "failed" and row["sent_at"] is None
    assert "Connection" in row["error"] and "127.0.0.1" in row["error"]
    assert row["raw_message"].startswith("From: Test council")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
    assert audit_actions(db, item_id) == ["correspondence.email", "correspondence.email_failed"]


def test_smtp_login_is_used_and_the_password_never_shown(db, book, clerk, provider):
    inbox, logins = Inbox(), []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data)
        if isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret":
            return AuthResult(success=True)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Authentication credentials invalid"
        )

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        mailer = Mailer("127.0.0.1", controller.port, SENDER, "pay", "s3cret", timeout=5)
        item_id = letters_out.send_email(
            db, clerk, book, provider, "general", "en", {"subject": "Hello", "body": "Hi"}, mailer
        )
        wrong = Mailer("127.0.0.1", controller.port, SENDER, "pay", "guess", timeout=5)
        failed_id = letters_out.send_email(
            db, clerk, book, provider, "general", "en", {"subject": "Hello", "body": "Hi"}, wrong
        )
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1 and logins[0].login == b"pay"
    assert "s3cret" not in repr(mailer)
    rows = {r["id"]: r for r in stored(db, book)}
    assert rows[item_id]["status"] == "sent"
    assert rows[failed_id]["status"] == "failed" and "guess" not in rows[failed_id]["error"]
    assert "Authentication" in rows[failed_id]["error"]


# ---------------------------------------------------------------- refusals


def test_no_address_or_no_email_is_a_clear_problem_and_nothing_is_stored(db, book, clerk, smtp):
    inbox, mailer = smtp
    bare = new_party(db, clerk, book, "P404", parties.Contact("Front desk", phone="0113"))
    with pytest.raises(ValidationFailed) as err, db.write() as conn:
        letters_out.issue_letter(
            conn, clerk, book, bare, "general", "en", {"subject": "Hi", "body": "Text"}
        )
    assert [p.check for p in err.value.problems] == ["no_postal_address"]
    with pytest.raises(ValidationFailed) as err:
        letters_out.send_email(
            db, clerk, book, bare, "general", "en", {"subject": "Hi", "body": "Text"}, mailer
        )
    assert [p.check for p in err.value.problems] == ["no_email_address"]
    assert "no e-mail address" in str(err.value)
    with pytest.raises(ValidationFailed, match="not set up") as err:
        letters_out.send_email(
            db, clerk, book, bare, "general", "en", {"subject": "Hi", "body": "Text"}, None
        )
    assert stored(db, book) == [] and inbox.envelopes == []


def test_every_problem_with_the_input_is_reported_at_once(db, book, clerk, provider, smtp):
    _, mailer = smtp
    with db.read() as conn, pytest.raises(ValidationFailed) as err:
        letters_out.preview(
            conn,
            clerk,
            book,
            provider,
            "statement_cover",
            "letter",
            "en",
            {"period_start": "31/03/2026", "period_end": "2026-03-31", "closing_balance": "12.345"},
        )
    assert {(p.field, p.check) for p in err.value.problems} == {
        ("period_start", "date_format"),
        ("closing_balance", "currency_exponent"),
    }
    with db.read() as conn, pytest.raises(ValidationFailed) as err:
        letters_out.preview(conn, clerk, book, provider, "dunning", "fax", "de", {})
    assert {p.field for p in err.value.problems} == {"template", "locale"}
    with pytest.raises(ValidationFailed) as err:
        letters_out.send_email(
            db,
            clerk,
            book,
            provider,
            "bank_details_changed",
            "en",
            {
                "changed_on": "2026-03-05",
                "callback_phone": "0113",
                "masked_account": "acct ****9911",
            },
            mailer,
            to="new-bank@fraud.example",
        )
    assert [p.check for p in err.value.problems] == ["registered_only"]
    assert stored(db, book) == []


def test_preview_renders_without_storing(db, book, clerk, provider):
    with db.read() as conn:
        letter = letters_out.preview(
            conn,
            clerk,
            book,
            provider,
            "general",
            "letter",
            "en",
            {"subject": "Your visits", "body": "Para one\n\nTwo"},
        )
        email = letters_out.preview(
            conn,
            clerk,
            book,
            provider,
            "general",
            "email",
            "es",
            {"subject": "Sus visitas", "body": "Uno"},
        )
    assert letter.subject == "Your visits" and "<p>Para one</p>" in letter.html
    assert email.text.startswith("Estimado/a Jo Finance:") and email.html == ""
    assert stored(db, book) == []


def test_an_auditor_may_read_but_not_send(db, book, clerk, provider, smtp):
    _, mailer = smtp
    auditor = person("audrey", book, Role.AUDITOR)
    with db.write() as conn:
        call = letters_out.log_call(conn, clerk, book, provider, "out", "Chased invoice", "")
    with db.read() as conn:
        assert [r["id"] for r in letters_out.list_for_party(conn, auditor, book, provider)] == [
            call
        ]
        assert letters_out.get_item(conn, auditor, book, call)["subject"] == "Chased invoice"
    with pytest.raises(Forbidden), db.write() as conn:
        letters_out.log_call(conn, auditor, book, provider, "in", "x", "")
    with pytest.raises(Forbidden), db.write() as conn:
        letters_out.issue_letter(conn, auditor, book, provider, "statement_cover", "en", STATEMENT)
    with pytest.raises(Forbidden):
        letters_out.send_email(
            db, auditor, book, provider, "statement_cover", "en", STATEMENT, mailer
        )
    assert len(stored(db, book)) == 1


def test_a_party_or_item_of_another_book_is_not_found(db, book, clerk, provider, system, smtp):
    _, mailer = smtp
    with db.write() as conn:
        other = ledger.create_book(conn, system, "other", "Other council", "GBP", "Europe/London")
    stranger = new_party(
        db,
        person("olga", other, Role.CLERK),
        other,
        "X1",
        parties.Contact("Ed", "ed@other.example", "", ADDRESS),
    )
    with pytest.raises(NotFound), db.write() as conn:
        letters_out.log_call(conn, clerk, book, stranger, "in", "Hello", "")
    with pytest.raises(NotFound), db.write() as conn:
        letters_out.issue_letter(conn, clerk, book, stranger, "statement_cover", "en", STATEMENT)
    with pytest.raises(NotFound):
        letters_out.send_email(
            db, clerk, book, stranger, "statement_cover", "en", STATEMENT, mailer
        )
    with db.read() as conn, pytest.raises(NotFound):
        letters_out.list_for_party(conn, clerk, book, stranger)
    with db.write() as conn:
        theirs = letters_out.log_call(conn, Actor.system(), other, stranger, "in", "Hi", "")
    with db.read() as conn, pytest.raises(NotFound):
        letters_out.get_item(conn, clerk, book, theirs)
    assert stored(db, book) == []
