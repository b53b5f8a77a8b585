"""The banks' feedback applied to the book's payments (issue 10, point 7).

A NACHA return file, returned BACS credits, a pain.002 status report or a payer's
confirmation feed is read by ``remit.formats.returns`` into notices; here each notice is
matched to a payment of the book by the reference remit wrote in its file (``R<run>-<n>``;
a pain.002 that rejects a whole message names the file's message id, which stands for every
payment of that file) and acted on:

- ``return``, ``rejected``, ``failed``, ``cancelled``: the payment is returned
  (``runs.return_payment``: its items are open again) and a ``payment_return`` case is
  opened for the payee with the bank's code and words, linked to the payment;
- ``paid``: the payment is settled on the date the feed gives (else the day received);
- ``accepted``: nothing but an audit line;
- ``notification_of_change``: the payee's current bank details with the bank's corrections
  are proposed as a bank-detail change, which waits for a second person's approval like any
  other; the payment itself is not changed.

All or nothing: a file with any problem (unreadable, a notice naming no payment of the book,
an amount or currency other than the payment's, a payment in a state the notice cannot
apply to) raises one ``ValidationFailed`` naming every problem's line (or xpath) and field,
and the caller's transaction writes nothing.

Replay: the file's SHA-256 is recorded in the audit chain with what it did; the same bytes
applied again change nothing and answer with the first application (``Applied.replay``);
two applications at once take turns on the locks of the payments they name.
A notice told again in another file is also a no-op: a returned payment stays returned with
its one case, a settled one settled, and a correction already waiting is not requested twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, select

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.cases import service as cases
from remit.cases.model import NewCase, Priority
from remit.db import is_postgres
from remit.errors import Conflict, NotFound, Problem, RemitError, ValidationFailed
from remit.formats.returns import FeedbackProblem, ReturnNotice, read_feedback
from remit.parties import service as parties
from remit.parties.model import BANK_FIELD_SPECS, BankDetails, BankScheme
from remit.payments import runs
from remit.payments.model import PaymentStatus
from remit.payments.store import payment_runs, run_files, run_payments
from remit.secrets import Vault
from remit.text import NAME_MAX

APPLY_ACTION = "payments.feedback.apply"
NOTICE_ACTION = "payments.feedback.notice"
FILE_OBJECT = "feedback_file"
RETURNING = frozenset({"return", "rejected", "failed", "cancelled"})
# The code a return records when the feed gives none (return_payment needs one, <= 8 chars).
_STATUS_CODES = {"failed": "FAILED", "cancelled": "CANCEL", "rejected": "RJCT"}
_RETURNABLE = frozenset({PaymentStatus.RELEASED.value, PaymentStatus.SETTLED.value})
_REPORTED = frozenset(
    {PaymentStatus.RELEASED.value, PaymentStatus.SETTLED.value, PaymentStatus.RETURNED.value}
)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a feedback file did: notices per kind, payments returned, settled or only
    noted, cases opened and bank-detail changes requested (each waiting for approval)."""

    format: str
    sha256: str
    counts: Mapping[str, int]
    returned: tuple[str, ...] = ()
    settled: tuple[str, ...] = ()
    noted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()  # told before: nothing to do
    cases_opened: tuple[int, ...] = ()
    bank_changes: tuple[int, ...] = ()
    replay: bool = False
    first_applied_at: str | None = None
    first_applied_by: str | None = None

    @property
    def payments(self) -> tuple[str, ...]:
        """Every payment the file changed (returned or settled), in reference order."""
        return tuple(sorted({*self.returned, *self.settled}))

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sha256": self.sha256,
            "counts": dict(self.counts),
            "returned": list(self.returned),
            "settled": list(self.settled),
            "noted": list(self.noted),
            "unchanged": list(self.unchanged),
            "cases_opened": list(self.cases_opened),
            "bank_changes": list(self.bank_changes),
            "replay": self.replay,
            "first_applied_at": self.first_applied_at,
            "first_applied_by": self.first_applied_by,
        }


@dataclass
class _Plan:
    """What the file will do, worked out (and checked) before anything is written."""

    problems: list[Problem] = field(default_factory=list)
    steps: list[tuple[ReturnNotice, Any]] = field(default_factory=list)  # (notice, payment row)


# ---------------------------------------------------------------- problems


def _where(notice: ReturnNotice) -> dict[str, Any]:
    return {"line": notice.line, "source": f"xpath {notice.xpath}" if notice.xpath else ""}


def _problem(notice: ReturnNotice, name: str, message: str, check: str) -> Problem:
    return Problem(name, message, check, **_where(notice))


def _file_problem(found: FeedbackProblem) -> Problem:
    source = f"xpath {found.xpath}" if found.xpath else ""
    return Problem(found.field, found.message, found.code, found.line, source)


def _located(notice: ReturnNotice, exc: RemitError) -> list[Problem]:
    """A service's refusal, said at the notice's place in the file."""
    if isinstance(exc, ValidationFailed):
        return [
            Problem(p.field, f"payment {notice.reference}: {p.message}", p.check, **_where(notice))
            for p in exc.problems
        ]
    return [_problem(notice, "reference", str(exc), type(exc).__name__.lower())]


# ---------------------------------------------------------------- replay


def _first_application(conn: Connection, book_id: int, digest: str) -> Any:
    ae = audit.audit_events.c
    return conn.execute(
        select(ae.occurred_at, ae.actor, ae.after)
        .where(
            and_(
                ae.object_type == FILE_OBJECT,
                ae.object_id == digest,
                ae.action == APPLY_ACTION,
                ae.book_id == book_id,
            )
        )
        .order_by(ae.id)
    ).first()


def _replayed(row: Any, digest: str) -> Applied:
    done = json.loads(row.after)
    return Applied(
        format=str(done["format"]),
        sha256=digest,
        counts=dict(done["counts"]),
        unchanged=tuple(sorted({*done["returned"], *done["settled"], *done["noted"]})),
        replay=True,
        first_applied_at=str(row.occurred_at),
        first_applied_by=str(row.actor),
    )


# ---------------------------------------------------------------- matching


def _locked(conn: Connection, query: Any) -> Any:
    """On PostgreSQL the payments a file names are locked until the commit, so that a
    second application of the same file waits, then finds the first one in the audit and
    changes nothing (SQLite's writers already take turns: ``BEGIN IMMEDIATE``)."""
    return query.with_for_update(of=run_payments) if is_postgres(conn) else query


def _payments_by_reference(conn: Connection, book_id: int, refs: set[str]) -> dict[str, Any]:
    rp = run_payments.c
    found: dict[str, Any] = {}
    wanted = sorted(refs)
    for start in range(0, len(wanted), 500):
        query = select(run_payments).where(
            and_(rp.book_id == book_id, rp.reference.in_(wanted[start : start + 500]))
        )
        found.update({str(r.reference): r for r in conn.execute(_locked(conn, query))})
    return found


def _payments_by_message(conn: Connection, book_id: int, refs: set[str]) -> dict[str, list[Any]]:
    """A file's message id (pain.001 MsgId and PmtInfId) names every payment of that file."""
    rf, pr, rp = run_files.c, payment_runs.c, run_payments.c
    if not refs:
        return {}
    query = (
        select(rf.message_id, run_payments)
        .join(payment_runs, pr.id == rf.run_id)
        .join(run_payments, rp.file_id == rf.id)
        .where(and_(pr.book_id == book_id, rf.message_id.in_(sorted(refs))))
        .order_by(rp.id)
    )
    rows = conn.execute(_locked(conn, query)).all()
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(str(row.message_id).upper(), []).append(row)
    return found


def _check_amount(plan: _Plan, notice: ReturnNotice, payment: Any) -> None:
    if notice.currency is not None and notice.currency != payment.currency:
        plan.problems.append(
            _problem(
                notice,
                "currency",
                f"{notice.currency}, but payment {payment.reference} is in {payment.currency}",
                "currency_mismatch",
            )
        )
    if notice.amount_minor is not None and notice.amount_minor != int(payment.amount_minor):
        plan.problems.append(
            _problem(
                notice,
                "amount_minor",
                f"{notice.amount_minor} minor units, but payment {payment.reference} is "
                f"{int(payment.amount_minor)} {payment.currency}",
                "amount_mismatch",
            )
        )


def _check_state(plan: _Plan, notice: ReturnNotice, payment: Any, status: str) -> str:
    """The payment's status after the notice (as far as this file has moved it), or the
    status unchanged with a problem when the notice cannot apply to it."""
    ref = payment.reference
    if notice.kind in RETURNING:
        if status in _RETURNABLE or status == PaymentStatus.RETURNED.value:
            return PaymentStatus.RETURNED.value
        message = f"payment {ref} is {status}: only a released payment comes back"
    elif notice.kind == "paid":
        if status in (PaymentStatus.RELEASED.value, PaymentStatus.SETTLED.value):
            return PaymentStatus.SETTLED.value
        message = f"payment {ref} is {status}: only a released payment is paid"
    else:  # accepted, notification_of_change: the payment stays as it is
        if status in _REPORTED:
            return status
        message = f"payment {ref} is {status}: the bank has not had it"
    plan.problems.append(_problem(notice, "reference", message, "payment_state"))
    return status


def _named(
    conn: Connection, book_id: int, notices: Sequence[ReturnNotice]
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The payments the notices name, by reference and by file message id (locked)."""
    refs = {n.reference.strip().upper() for n in notices}
    by_ref = _payments_by_reference(conn, book_id, refs)
    return by_ref, _payments_by_message(conn, book_id, refs - set(by_ref))


def _plan(
    notices: Sequence[ReturnNotice], by_ref: dict[str, Any], by_message: dict[str, list[Any]]
) -> _Plan:
    plan = _Plan()
    status: dict[int, str] = {}
    for notice in notices:
        ref = notice.reference.strip().upper()
        if ref in by_ref:
            payments = [by_ref[ref]]
            _check_amount(plan, notice, by_ref[ref])
        elif ref in by_message and notice.kind != "notification_of_change":
            payments = by_message[ref]
        else:
            plan.problems.append(
                _problem(
                    notice,
                    "reference",
                    f"{notice.reference!r} names no payment of this book",
                    "unknown_reference",
                )
            )
            continue
        for payment in payments:
            pid = int(payment.id)
            status[pid] = _check_state(plan, notice, payment, status.get(pid, payment.status))
            plan.steps.append((notice, payment))
    return plan


# ---------------------------------------------------------------- acting


@dataclass
class _Done:
    returned: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    noted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cases_opened: list[int] = field(default_factory=list)
    bank_changes: list[int] = field(default_factory=list)
    events: list[tuple[str, str, object, Any, Any, int | None]] = field(default_factory=list)


def _return(
    conn: Connection,
    actor: Actor,
    book_id: int,
    notice: ReturnNotice,
    payment: Any,
    received_on: date,
    done: _Done,
) -> None:
    pid, ref = int(payment.id), str(payment.reference)
    code = notice.reason_code or _STATUS_CODES.get(notice.kind, notice.kind.upper()[:8])
    words = notice.reason or notice.kind
    before = runs.get_payment(conn, actor, book_id, pid)
    after = runs.return_payment(
        conn,
        actor,
        book_id,
        pid,
        code=code,
        detail=words[:500],
        returned_on=received_on,
        typed=False,
    )
    if before.status is not PaymentStatus.RETURNED:
        done.returned.append(ref)
    if after.case_id is not None:
        if before.status is PaymentStatus.RETURNED:
            done.unchanged.append(ref)
        return
    where = f"line {notice.line}" if notice.line is not None else f"xpath {notice.xpath}"
    case_id = cases.open_case(
        conn,
        actor,
        book_id,
        NewCase(
            case_type="payment_return",
            title=f"Payment {ref} returned: {code} {words}"[:NAME_MAX],
            description=(
                f"The bank returned payment {ref} ({after.amount_minor} minor units "
                f"{after.currency}) with {code}: {words}. Its items are open again; find out "
                f"why and pay it again or cancel. From the bank's file, {where}."
            ),
            priority=Priority.HIGH,
            party_id=int(payment.party_id),
            links=(("payment", str(pid), ref),),
        ),
        today=received_on,
    )
    runs.link_case(conn, book_id, pid, case_id)
    done.cases_opened.append(case_id)


def _settle(
    conn: Connection,
    actor: Actor,
    book_id: int,
    notice: ReturnNotice,
    payment: Any,
    received_on: date,
    done: _Done,
) -> None:
    ref = str(payment.reference)
    current = runs.get_payment(conn, actor, book_id, int(payment.id))
    if current.status is PaymentStatus.SETTLED:
        done.unchanged.append(ref)
        return
    runs.settle_payments(
        conn,
        actor,
        book_id,
        int(payment.run_id),
        settled_on=notice.payment_date or received_on,
        payment_ids=[int(payment.id)],
    )
    done.settled.append(ref)


def _corrected(current: BankDetails, corrected: Mapping[str, str]) -> BankDetails:
    spec = BANK_FIELD_SPECS[current.scheme]
    names = (*spec.required, *spec.optional)
    fields = dict(current.fields)
    fields.update({k: v.strip() for k, v in corrected.items() if k in names and v.strip()})
    return BankDetails(current.scheme, fields).normalised()


def _change(
    conn: Connection,
    actor: Actor,
    vault: Vault,
    book_id: int,
    notice: ReturnNotice,
    payment: Any,
    done: _Done,
) -> None:
    """Propose the bank's corrections; a correction of no bank field (a name, an id) or of
    an account since replaced is noted in the audit only."""
    ref, party_id = str(payment.reference), int(payment.party_id)
    reason = f"NOC {notice.reason_code} from the bank, payment {ref}"
    found = parties.bank_details_to_correct(conn, actor, vault, book_id, party_id)
    if found is None or found[1].scheme is not BankScheme.US_ABA:
        raise Conflict(f"payment {ref}'s payee has no US bank account to correct")
    account_id, current = found
    proposed = _corrected(current, notice.corrected)
    if account_id != payment.bank_account_id or proposed == current.normalised():
        done.noted.append(ref)
        return
    waiting = parties.pending_bank_changes(conn, actor, book_id, party_id)
    if any(w["reason"] == reason for w in waiting):
        done.unchanged.append(ref)  # the same correction, told again
        return
    if waiting:
        raise Conflict(
            f"payment {ref}'s payee has a bank-detail change waiting for approval "
            f"(change {waiting[0]['id']}): decide it before applying the bank's correction"
        )
    change = parties.request_bank_change(conn, actor, vault, book_id, party_id, proposed, reason)
    done.bank_changes.append(change)


def _act(
    conn: Connection,
    actor: Actor,
    vault: Vault,
    book_id: int,
    notice: ReturnNotice,
    payment: Any,
    received_on: date,
    done: _Done,
) -> None:
    if notice.kind in RETURNING:
        _return(conn, actor, book_id, notice, payment, received_on, done)
    elif notice.kind == "paid":
        _settle(conn, actor, book_id, notice, payment, received_on, done)
    elif notice.kind == "notification_of_change":
        _change(conn, actor, vault, book_id, notice, payment, done)
    else:
        done.noted.append(str(payment.reference))


def _notice_event(
    notice: ReturnNotice, payment_id: int, digest: str, book_id: int
) -> tuple[str, str, object, Any, Any, int | None]:
    """The audit line of one notice applied to one payment (an ``accepted`` has no other)."""
    after = {
        "kind": notice.kind,
        "reason_code": notice.reason_code,
        "reason": notice.reason,
        "file_sha256": digest,
        "line": notice.line,
        "xpath": notice.xpath,
    }
    return (NOTICE_ACTION, "payment", payment_id, None, after, book_id)


def _applied(fmt: str, digest: str, notices: Sequence[ReturnNotice], done: _Done) -> Applied:
    return Applied(
        format=fmt,
        sha256=digest,
        counts=dict(sorted(Counter(n.kind for n in notices).items())),
        returned=tuple(done.returned),
        settled=tuple(done.settled),
        noted=tuple(dict.fromkeys(done.noted)),
        unchanged=tuple(dict.fromkeys(done.unchanged)),
        cases_opened=tuple(done.cases_opened),
        bank_changes=tuple(done.bank_changes),
    )


def apply_feedback(
    conn: Connection,
    actor: Actor,
    vault: Vault,
    book_id: int,
    data: bytes,
    *,
    kind: str | None = None,
    received_on: date,
) -> Applied:
    """Apply a bank's feedback file to the book's payments, all or nothing (see the module's
    docstring); ``received_on`` dates the returns and the cases they open."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    digest = hashlib.sha256(data).hexdigest()
    read = read_feedback(data, kind=kind)
    if read.problems:
        raise ValidationFailed([_file_problem(p) for p in read.problems])
    by_ref, by_message = _named(conn, book_id, read.notices)  # locked first, then looked up
    first = _first_application(conn, book_id, digest)
    if first is not None:
        return _replayed(first, digest)
    plan = _plan(read.notices, by_ref, by_message)
    if plan.problems:
        raise ValidationFailed(plan.problems)
    done = _Done()
    problems: list[Problem] = []
    for notice, payment in plan.steps:
        try:
            _act(conn, actor, vault, book_id, notice, payment, received_on, done)
        except (ValidationFailed, Conflict, NotFound) as exc:
            problems += _located(notice, exc)  # the caller's transaction writes nothing
            continue
        done.events.append(_notice_event(notice, int(payment.id), digest, book_id))
    if problems:
        raise ValidationFailed(problems)
    applied = _applied(str(read.format), digest, read.notices, done)
    summary = applied.as_json()
    for key in ("replay", "first_applied_at", "first_applied_by", "sha256"):
        summary.pop(key)
    done.events.append((APPLY_ACTION, FILE_OBJECT, digest, None, summary, book_id))
    audit.record_many(conn, actor, done.events)
    return applied


__all__ = ["Applied", "apply_feedback"]
