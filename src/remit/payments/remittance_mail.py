"""Remittance advice e-mailed to the payees of a released run (issue 10, point 6): one
e-mail per payment, with the advice's PDF attached, to the payee's first contact with an
e-mail address, through ``remit.cases.correspondence.send_email`` (kept as sent, never
inside a transaction), in the language we write to the payee in.

``remittance_emails`` keeps each e-mail of a payment's advice, so that the job run again
sends no advice twice: an advice the server accepted, or one not confirmed either way, is
done; one the server refused is tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.calendar import book_locale
from remit.cases import correspondence, mail
from remit.db import Database
from remit.errors import Conflict, RemitError, ValidationFailed
from remit.jobs import service as jobs
from remit.ledger import service as ledger
from remit.money import Money
from remit.payments import runs
from remit.payments.model import PaymentRun, PaymentStatus, RunStatus
from remit.payments.remittance import Advice, advice, advice_pdf, kind_of
from remit.payments.store import remittance_emails, run_payments

REMITTANCE_JOB = "payments.remittance"
ADVICE_TEMPLATE = "remittance"  # remit.cases.letters.RECORD_TEMPLATES
_MAILED_RUNS = (RunStatus.RELEASED, RunStatus.SENT, RunStatus.SETTLED)
_MAILED_PAYMENTS = (PaymentStatus.RELEASED.value, PaymentStatus.SETTLED.value)


@dataclass(slots=True)
class Mailing:
    """What one pass over a run's advice did: the payments' references by outcome."""

    run_id: int
    sent: list[str] = field(default_factory=list)
    no_address: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    already_sent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "sent": list(self.sent),
            "no_address": list(self.no_address),
            "failed": list(self.failed),
            "already_sent": self.already_sent,
        }


def _mailable_run(conn: Connection, actor: Actor, book_id: int, run_id: int) -> PaymentRun:
    run = runs.get_run(conn, actor, book_id, run_id)
    if run.status not in _MAILED_RUNS:
        raise Conflict(
            f"run {run_id} is {run.status.value}: its remittance advice is e-mailed once it "
            "is released"
        )
    return run


def advice_to_mail(
    conn: Connection, actor: Actor, book_id: int, run_id: int
) -> tuple[list[int], int]:
    """The released payments of a run whose advice has not gone out yet, and how many
    already have. An advice has gone out when an e-mail of it was accepted by the server
    or is not confirmed either way (sending it again could send it twice); one the server
    refused is tried again."""
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    _mailable_run(conn, actor, book_id, run_id)
    rp, re_ = run_payments.c, remittance_emails.c
    ids = [
        int(i)
        for i in conn.execute(
            select(rp.id)
            .where(rp.run_id == run_id, rp.book_id == book_id, rp.status.in_(_MAILED_PAYMENTS))
            .order_by(rp.id)
        ).scalars()
    ]
    tried = conn.execute(
        select(re_.payment_id, re_.correspondence_id)
        .join(run_payments, rp.id == re_.payment_id)
        .where(rp.run_id == run_id, re_.book_id == book_id)
    ).all()
    outcomes = correspondence.email_outcomes(
        conn, actor, book_id, [int(t.correspondence_id) for t in tried]
    )
    done = {int(t.payment_id) for t in tried if _went_out(outcomes.get(int(t.correspondence_id)))}
    return [i for i in ids if i not in done], len(done & set(ids))


def _went_out(outcome: tuple[str, str | None] | None) -> bool:
    if outcome is None:
        return False
    status, error = outcome
    return status == correspondence.SENT or error == correspondence.NOT_SENT_YET


def advice_locale(conn: Connection, actor: Actor, book_id: int, party_id: int) -> str:
    """The language to write to the payee in: that of the latest letter or e-mail we sent
    it (an officer chose it: the party's recorded language), else the book's."""
    for item in correspondence.list_for_party(conn, actor, book_id, party_id, limit=20):
        if item["direction"] == "out" and item["locale"]:
            return str(item["locale"])
    return book_locale(ledger.get_book(conn, book_id))


def advice_context(found: Advice) -> dict[str, Any]:
    """The ``remittance`` template's fields from an advice: its lines as documents."""
    currency = found.payment.currency
    return {
        "payment_reference": found.payment.reference,
        "pay_date": found.run.pay_date,
        "total": Money(found.total_minor, currency),
        "documents": [
            {
                "doc_ref": str(line["doc_ref"]),
                "kind": _kind_code(int(line["amount_minor"]), str(line["doc_ref"])),
                "item_date": line["item_date"],
                "amount": Money(int(line["amount_minor"]), currency),
            }
            for line in found.lines
        ],
    }


def _kind_code(amount_minor: int, doc_ref: str) -> str:
    """``kind_of`` as a code the templates put in their language."""
    return {"credit deducted": "credit", "self-bill (care visits)": "self_bill"}.get(
        kind_of(amount_minor, doc_ref), "bill"
    )


class _MailedMeanwhile(Conflict):
    """Another job e-mailed this payment's advice since this one listed it."""


def _keeper(actor: Actor, book_id: int, payment_id: int) -> Callable[[Connection, int], None]:
    """Records the e-mail against the payment in the transaction that keeps it, after
    locking the payment's row: two jobs of one run never both send its advice."""

    def keep(conn: Connection, item_id: int) -> None:
        rp, re_ = run_payments.c, remittance_emails.c
        conn.execute(select(rp.id).where(rp.id == payment_id).with_for_update()).first()
        earlier = [
            int(i)
            for i in conn.execute(
                select(re_.correspondence_id).where(re_.payment_id == payment_id)
            ).scalars()
        ]
        outcomes = correspondence.email_outcomes(conn, actor, book_id, earlier)
        if any(_went_out(o) for o in outcomes.values()):
            raise _MailedMeanwhile(f"the advice of payment {payment_id} was e-mailed meanwhile")
        conn.execute(
            insert(remittance_emails).values(
                book_id=book_id,
                payment_id=payment_id,
                correspondence_id=item_id,
                created_at=audit.utc_now_text(),
            )
        )

    return keep


def mail_advice(
    database: Database,
    actor: Actor,
    book_id: int,
    payment_id: int,
    mailer: mail.Mailer | None,
    mailing: Mailing,
) -> None:
    """E-mail one payment's advice, with its PDF, to the payee's first contact with an
    e-mail address; note the outcome in ``mailing``. No transaction is open while the PDF
    is printed or the server is spoken to."""
    with database.read() as conn:
        found = advice(conn, actor, book_id, payment_id)
        locale = advice_locale(conn, actor, book_id, found.payment.party_id)
    pdf = mail.Attachment(
        f"remittance-{found.payment.reference}.pdf", "application/pdf", advice_pdf(found)
    )
    try:
        item_id = correspondence.send_email(
            database,
            actor,
            book_id,
            found.payment.party_id,
            ADVICE_TEMPLATE,
            locale,
            advice_context(found),
            mailer,
            on_kept=_keeper(actor, book_id, payment_id),
            attachments=(pdf,),
        )
    except _MailedMeanwhile:  # nothing kept, nothing sent: the other job sent it
        mailing.already_sent += 1
        return
    except ValidationFailed as exc:
        if [p.check for p in exc.problems] != ["no_email_address"]:
            raise
        mailing.no_address.append(
            {
                "payment": found.payment.reference,
                "payee": found.payee_ref,
                "name": found.payee_name,
            }
        )
        return
    with database.read() as conn:
        status, error = correspondence.email_outcomes(conn, actor, book_id, [item_id])[item_id]
    if status == correspondence.SENT:
        mailing.sent.append(found.payment.reference)
    else:
        mailing.failed.append({"payment": found.payment.reference, "error": str(error)})


def mail_run_advice(
    database: Database,
    actor: Actor,
    book_id: int,
    run_id: int,
    mailer: mail.Mailer | None,
    progress: Callable[[int, int, str], None] = lambda done, total, message: None,
) -> Mailing:
    """E-mail the advice of each released payment of a run not e-mailed yet, one at a
    time. A payee without an e-mail address is listed, not a failure; an e-mail the
    server refused is, after the others were sent (``RemitError``: run it again to retry
    those). With no SMTP set up it fails before anything is sent."""
    with database.read() as conn:
        pending, already = advice_to_mail(conn, actor, book_id, run_id)
    mailing = Mailing(run_id, already_sent=already)
    progress(0, len(pending), f"{len(pending)} advice(s) to e-mail, {already} already sent")
    for done, payment_id in enumerate(pending, start=1):
        mail_advice(database, actor, book_id, payment_id, mailer, mailing)
        progress(
            done,
            len(pending),
            f"{len(mailing.sent)} sent, {len(mailing.no_address)} no address, "
            f"{len(mailing.failed)} failed",
        )
    if mailing.failed:
        refused = "; ".join(f"{f['payment']}: {f['error']}" for f in mailing.failed)
        raise RemitError(
            f"{len(mailing.failed)} of {len(pending)} remittance e-mail(s) were not sent "
            f"({refused}); {len(mailing.sent)} sent, {len(mailing.no_address)} with no "
            "address: run the job again to try those not sent"
        )
    return mailing


def queue_remittances(conn: Connection, actor: Actor, book_id: int, run_id: int) -> int:
    """Queue the job that e-mails a released run's remittance advice; returns its id."""
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    _mailable_run(conn, actor, book_id, run_id)
    return jobs.enqueue(conn, actor, book_id, REMITTANCE_JOB, {"run_id": run_id})
