"""Manual, one-off and suspended payments (issue 10, point 8): money that left the bank
outside a payment run, linked to the items it covered so that no run pays them again.

A clerk records a manual payment ``pending`` (an urgent CHAPS, a phone-banking payment):
payee, amount, currency, the day and way it was paid, the bank's reference, a note and the
open items it covered, each part or whole. While it waits, each item carries a payment block
(``manual_payment``, source ``payments.manual:<id>``), so the preview lists it as left out
and no run takes it. ``held_items`` is not used for this: its rows belong to a run (its
``run_id`` is required and ``runs.held_item_ids`` joins it to the runs).

Someone else (an approver within their limit, or a manager) approves it: one entry posts
provider payable -> payments in transit (2050), settling each item by its part, and the
blocks are lifted. Payments in transit, not the bank, because remit has not seen the money
leave: when the bank statement shows it, ``reconcile_manual_payment`` posts payments in
transit -> the house account's bank GL, as a run's settlement does. A rejection lifts the
blocks and posts nothing. A partly paid item stays open by the rest, which a later run pays.

A *one-off* payment covers no item (an emergency payment to a provider): on approval it
posts a debit to the provider's payable account, an item the provider owes back, due on the
day it was paid. It stands against the provider's next bills: a run nets it off (a credit of
the payee reduces its payment) or a clerk settles it by hand. No bank file is written for
either kind.

The checks are in ``remit.payments.manual_checks``; the list of suspended and manual payments
not yet reconciled, oldest first, in ``remit.payments.manual_list``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.payments import blocks, house, manual_checks
from remit.payments.manual_checks import NOTE_MAX, PAYABLES_ACCOUNT, REFERENCE_MAX
from remit.payments.model import (
    BlockReason,
    ManualKind,
    ManualLine,
    ManualPayment,
    ManualStatus,
    NewManualPayment,
)
from remit.payments.runs import IN_TRANSIT_ACCOUNT, limit_of
from remit.payments.store import manual_payment_items, manual_payments
from remit.text import text_problem
from remit.timestamps import utc_now_text

SOURCE_PREFIX = "payments.manual:"


# ---------------------------------------------------------------- reading


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _row(conn: Connection, book_id: int, manual_id: int) -> Any:
    mp = manual_payments.c
    row = conn.execute(
        select(manual_payments).where(and_(mp.id == manual_id, mp.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no manual payment {manual_id} in this book")
    return row


def _lines(conn: Connection, manual_ids: Sequence[int]) -> dict[int, list[ManualLine]]:
    mi = manual_payment_items.c
    found: dict[int, list[ManualLine]] = {i: [] for i in manual_ids}
    if manual_ids:
        rows = conn.execute(
            select(mi.manual_payment_id, mi.item_id, mi.amount_minor)
            .where(mi.manual_payment_id.in_(list(manual_ids)))
            .order_by(mi.manual_payment_id, mi.item_id)
        )
        for r in rows:
            found[int(r.manual_payment_id)].append(ManualLine(int(r.item_id), int(r.amount_minor)))
    return found


def _manual(row: Any, lines: Sequence[ManualLine]) -> ManualPayment:
    def opt_int(value: Any) -> int | None:
        return None if value is None else int(value)

    return ManualPayment(
        id=int(row.id),
        book_id=int(row.book_id),
        kind=ManualKind(row.kind),
        status=ManualStatus(row.status),
        party_id=int(row.party_id),
        amount_minor=int(row.amount_minor),
        currency=str(row.currency),
        paid_on=_day(row.paid_on),
        method=str(row.method),
        bank_reference=str(row.bank_reference),
        note=str(row.note or ""),
        house_account_id=int(row.house_account_id),
        recorded_by=str(row.recorded_by),
        recorded_at=str(row.recorded_at),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=str(row.decision_note or ""),
        entry_id=opt_int(row.entry_id),
        reconciled_by=row.reconciled_by,
        reconciled_on=None if row.reconciled_on is None else _day(row.reconciled_on),
        reconcile_entry_id=opt_int(row.reconcile_entry_id),
        version=int(row.version),
        lines=tuple(lines),
    )


def get_manual_payment(
    conn: Connection, actor: Actor, book_id: int, manual_id: int
) -> ManualPayment:
    require(actor, book_id, Permission.PAYMENT_READ)
    row = _row(conn, book_id, manual_id)
    return _manual(row, _lines(conn, [manual_id])[manual_id])


def list_manual_payments(
    conn: Connection, actor: Actor, book_id: int, *, status: str | None = None, limit: int = 200
) -> list[ManualPayment]:
    """The book's manual payments, oldest paid first."""
    require(actor, book_id, Permission.PAYMENT_READ)
    mp = manual_payments.c
    query = select(manual_payments).where(mp.book_id == book_id)
    if status is not None:
        query = query.where(mp.status == ManualStatus(status).value)
    rows = conn.execute(query.order_by(mp.paid_on, mp.id).limit(max(1, min(limit, 10_000)))).all()
    lines = _lines(conn, [int(r.id) for r in rows])
    return [_manual(r, lines[int(r.id)]) for r in rows]


# ---------------------------------------------------------------- record


def record_manual_payment(
    conn: Connection,
    actor: Actor,
    book_id: int,
    spec: NewManualPayment,
    *,
    accounts: Sequence[str] = (PAYABLES_ACCOUNT,),
) -> ManualPayment:
    """Record a payment made outside remit, pending a second person's approval; its items
    are blocked from every run meanwhile. Every problem at once; nothing written if any."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    spec = _stripped(spec)
    problems = manual_checks.header_problems(conn, book_id, spec)
    house_id, found = manual_checks.house_account_of(conn, book_id, spec)
    problems += found + manual_checks.line_problems(conn, book_id, spec, accounts)
    if problems or house_id is None:
        raise ValidationFailed(problems)
    kind = ManualKind.LINKED if spec.lines else ManualKind.ONE_OFF
    values = {
        "book_id": book_id,
        "kind": kind.value,
        "status": ManualStatus.PENDING.value,
        "party_id": spec.party_id,
        "currency": spec.currency,
        "amount_minor": spec.amount_minor,
        "paid_on": spec.paid_on,
        "method": spec.method,
        "bank_reference": spec.bank_reference,
        "note": spec.note,
        "house_account_id": house_id,
        "recorded_by": actor.username,
        "recorded_at": utc_now_text(),
        "decision_note": "",
        "version": 1,
    }
    try:
        with conn.begin_nested():
            manual_id = insert_id(conn, insert(manual_payments).values(**values))
    except IntegrityError:
        raise Conflict(f"{spec.bank_reference} was recorded just now by someone else") from None
    holder = Actor.system(actor.username)
    rows = [
        {
            "manual_payment_id": manual_id,
            "item_id": line.item_id,
            "amount_minor": line.amount_minor,
            "block_id": blocks.set_block(
                conn,
                holder,
                book_id,
                open_item_id=line.item_id,
                reason=BlockReason.MANUAL_PAYMENT.value,
                note=f"paid by manual payment M{manual_id}, waiting for approval",
                source=f"{SOURCE_PREFIX}{manual_id}",
            ),
        }
        for line in spec.lines
    ]
    if rows:
        conn.execute(insert(manual_payment_items), rows)
    after: dict[str, Any] = {k: v for k, v in values.items() if k not in ("book_id", "recorded_at")}
    after |= {
        "paid_on": spec.paid_on.isoformat(),
        "items": [[line.item_id, line.amount_minor] for line in spec.lines],
    }
    audit.record(
        conn, actor, "payments.manual.record", "manual_payment", manual_id, None, after, book_id
    )
    return get_manual_payment(conn, actor, book_id, manual_id)


def _stripped(spec: NewManualPayment) -> NewManualPayment:
    return NewManualPayment(
        party_id=spec.party_id,
        amount_minor=spec.amount_minor,
        currency=spec.currency.strip(),
        paid_on=spec.paid_on,
        method=spec.method.strip().lower(),
        bank_reference=spec.bank_reference.strip(),
        note=spec.note.strip(),
        lines=spec.lines,
        house_account=spec.house_account.strip(),
    )


# ---------------------------------------------------------------- decisions


def _move(conn: Connection, row: Any, version: int, expected: ManualStatus, **values: Any) -> None:
    """One conditional update: the payment moves only from the version and state it was in."""
    mp = manual_payments.c
    if int(row.version) != version or row.status != expected.value:
        raise Conflict(
            f"manual payment M{row.id} is {row.status} (version {row.version}); this needs it "
            f"{expected.value} at version {version}: reload it"
        )
    done = conn.execute(
        update(manual_payments)
        .where(and_(mp.id == row.id, mp.version == version, mp.status == expected.value))
        .values(version=mp.version + 1, **values)
    )
    if done.rowcount != 1:
        raise Conflict(f"manual payment M{row.id} was changed by someone else just now: reload it")


def _fresh(row: Any, version: int) -> None:
    """Refuse, before anything is posted, a step on a payment changed since it was read."""
    if int(row.version) != version:
        raise Conflict(
            f"manual payment M{row.id} changed since it was read (version {version}, now "
            f"{row.version}, {row.status}): reload it"
        )


def _free_items(conn: Connection, actor: Actor, book_id: int, manual_id: int, note: str) -> None:
    """Lift the blocks this payment set, except on items another pending one still covers."""
    ids = [line.item_id for line in _lines(conn, [manual_id])[manual_id]]
    still = manual_checks.pending_claims(conn, ids, besides=manual_id) if ids else {}
    for item_id in ids:
        if item_id in still:
            continue
        try:
            blocks.lift_block(
                conn,
                Actor.system(actor.username),
                book_id,
                open_item_id=item_id,
                reason=BlockReason.MANUAL_PAYMENT.value,
                note=note,
            )
        except NotFound:
            continue  # lifted by hand meanwhile: nothing to free


def _spec_of(row: Any, lines: Sequence[ManualLine]) -> NewManualPayment:
    return NewManualPayment(
        int(row.party_id),
        int(row.amount_minor),
        str(row.currency),
        _day(row.paid_on),
        str(row.method),
        str(row.bank_reference),
        lines=tuple(lines),
    )


def approve_manual_payment(
    conn: Connection, actor: Actor, book_id: int, manual_id: int, *, version: int
) -> ManualPayment:
    """Approve a manual payment someone else recorded, within one's limit, and post it:
    provider payable -> payments in transit, settling each item by its part (a one-off
    posts the advance to the provider's payable account)."""
    require(actor, book_id, Permission.PAYMENT_APPROVE)
    row = _row(conn, book_id, manual_id)
    if row.status != ManualStatus.PENDING.value:
        raise Conflict(f"manual payment M{manual_id} is {row.status}: there is nothing to approve")
    _fresh(row, version)
    if actor.username == row.recorded_by:
        raise Forbidden(
            f"{actor.username} recorded manual payment M{manual_id} and may not approve it"
        )
    limit = limit_of(conn, actor, book_id)
    base = str(ledger.get_book(conn, book_id)["base_currency"])
    if limit is not None and (row.currency != base or int(row.amount_minor) > limit):
        raise Forbidden(
            f"manual payment M{manual_id} is over {actor.username}'s approval limit: an approver "
            "whose limit covers it (or a manager) approves it"
        )
    lines = _lines(conn, [manual_id])[manual_id]
    problems = manual_checks.line_problems(
        conn, book_id, _spec_of(row, lines), (PAYABLES_ACCOUNT,), besides=manual_id
    )
    if problems:
        raise ValidationFailed(problems)
    entry_id = _post(conn, actor, book_id, row, lines)
    _move(
        conn,
        row,
        version,
        ManualStatus.PENDING,
        status=ManualStatus.APPROVED.value,
        decided_by=actor.username,
        decided_at=utc_now_text(),
        entry_id=entry_id,
    )
    _free_items(conn, actor, book_id, manual_id, f"manual payment M{manual_id} approved")
    audit.record(
        conn,
        actor,
        "payments.manual.approve",
        "manual_payment",
        manual_id,
        {"status": row.status, "version": int(row.version)},
        {"status": ManualStatus.APPROVED.value, "entry_id": entry_id, "limit_minor": limit},
        book_id,
    )
    return get_manual_payment(conn, actor, book_id, manual_id)


def _post(
    conn: Connection, actor: Actor, book_id: int, row: Any, lines: Sequence[ManualLine]
) -> int:
    poster = Actor.system(actor.username)  # posted on the approver's authority, audited as them
    day = ledger.first_open_date(conn, poster, book_id, _day(row.paid_on))
    ref, currency, party = (
        f"M{row.id} {row.bank_reference}"[:100],
        str(row.currency),
        int(row.party_id),
    )
    accounts = {
        i: f.account_code
        for i, f in open_items.item_facts(conn, book_id, [x.item_id for x in lines]).items()
    }
    debits = [
        PostingDraft(
            accounts[x.item_id], x.amount_minor, currency, party, ref, settles=(x.item_id,)
        )
        for x in lines
    ] or [
        PostingDraft(
            PAYABLES_ACCOUNT,
            int(row.amount_minor),
            currency,
            party,
            ref,
            due_date=_day(row.paid_on),
            doc_ref=f"M{row.id} advance",
        )
    ]
    credit = PostingDraft(IN_TRANSIT_ACCOUNT, -int(row.amount_minor), currency, None, ref)
    draft = EntryDraft(
        entry_date=day,
        description=f"Manual payment M{row.id} ({row.method}, {row.bank_reference})",
        idempotency_key=f"manual:{row.id}:approve",
        postings=(*debits, credit),
        source_type="manual_payment",
        source_id=str(row.id),
    )
    return posting.post(conn, poster, book_id, draft).entry_id


def reject_manual_payment(
    conn: Connection, actor: Actor, book_id: int, manual_id: int, *, version: int, reason: str
) -> ManualPayment:
    """Reject a pending manual payment: nothing is posted and its items are free again."""
    require(actor, book_id, Permission.PAYMENT_APPROVE)
    found = text_problem(reason.strip(), "reason", max_chars=NOTE_MAX, required=True)
    if found is not None:
        raise ValidationFailed([found])
    row = _row(conn, book_id, manual_id)
    _move(
        conn,
        row,
        version,
        ManualStatus.PENDING,
        status=ManualStatus.REJECTED.value,
        decided_by=actor.username,
        decided_at=utc_now_text(),
        decision_note=reason.strip(),
    )
    _free_items(conn, actor, book_id, manual_id, f"manual payment M{manual_id} rejected")
    audit.record(
        conn,
        actor,
        "payments.manual.reject",
        "manual_payment",
        manual_id,
        {"status": row.status, "version": int(row.version)},
        {"status": ManualStatus.REJECTED.value, "reason": reason.strip()},
        book_id,
    )
    return get_manual_payment(conn, actor, book_id, manual_id)


def _compact(reference: str) -> str:
    """A bank reference as compared: no spaces, upper case.

    >>> _compact(" chaps 0001 ") == _compact("CHAPS0001")
    True
    """
    return "".join(reference.split()).upper()


def reconcile_manual_payment(
    conn: Connection,
    actor: Actor,
    book_id: int,
    manual_id: int,
    *,
    version: int,
    statement_reference: str,
    reconciled_on: date,
) -> ManualPayment:
    """The bank statement shows an approved manual payment: payments in transit -> the
    house account's bank GL. The statement's reference must be the one recorded (spaces
    and case aside), so that the wrong payment is not reconciled."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    row = _row(conn, book_id, manual_id)
    problems = []
    found = text_problem(
        statement_reference, "statement_reference", max_chars=REFERENCE_MAX, required=True
    )
    if found is not None:
        problems.append(found)
    elif _compact(statement_reference) != _compact(str(row.bank_reference)):
        message = (
            f"{statement_reference.strip()} is not M{manual_id}'s reference {row.bank_reference}"
        )
        problems.append(Problem("statement_reference", message, "reference"))
    if reconciled_on < _day(row.paid_on):
        message = f"{reconciled_on.isoformat()} is before the payment was made ({row.paid_on})"
        problems.append(Problem("reconciled_on", message, "date"))
    if problems:
        raise ValidationFailed(problems)
    if row.status != ManualStatus.APPROVED.value:
        raise Conflict(
            f"manual payment M{manual_id} is {row.status}: only an approved one is reconciled"
        )
    _fresh(row, version)
    poster = Actor.system(actor.username)
    gl = house.get_house_account(conn, poster, book_id, int(row.house_account_id)).gl_account_code
    amount, currency, ref = int(row.amount_minor), str(row.currency), f"M{manual_id}"
    day = ledger.first_open_date(conn, poster, book_id, reconciled_on)
    entry = posting.post(
        conn,
        poster,
        book_id,
        EntryDraft(
            entry_date=day,
            description=f"Manual payment M{manual_id} on the bank statement ({row.bank_reference})",
            idempotency_key=f"manual:{manual_id}:reconcile",
            postings=(
                PostingDraft(IN_TRANSIT_ACCOUNT, amount, currency, None, ref),
                PostingDraft(gl, -amount, currency, None, ref),
            ),
            source_type="manual_payment",
            source_id=str(manual_id),
        ),
    )
    _move(
        conn,
        row,
        version,
        ManualStatus.APPROVED,
        status=ManualStatus.RECONCILED.value,
        reconciled_by=actor.username,
        reconciled_at=utc_now_text(),
        reconciled_on=day,
        reconcile_entry_id=entry.entry_id,
    )
    audit.record(
        conn,
        actor,
        "payments.manual.reconcile",
        "manual_payment",
        manual_id,
        {"status": row.status},
        {
            "status": ManualStatus.RECONCILED.value,
            "on": day.isoformat(),
            "entry_id": entry.entry_id,
        },
        book_id,
    )
    return get_manual_payment(conn, actor, book_id, manual_id)
