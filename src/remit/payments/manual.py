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

*Suspended* payments are kept simple: what an active payment block (a provider on hold, a
disputed item; ``remit.payments.blocks``) keeps out of the runs, per payee and currency.
``outstanding`` lists them with the manual payments not yet reconciled, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.money import MAX_AMOUNT_MINOR, UnknownCurrency, exponent
from remit.parties import service as parties
from remit.payments import blocks, house
from remit.payments.model import (
    MANUAL_METHODS,
    BlockReason,
    ManualKind,
    ManualLine,
    ManualPayment,
    ManualStatus,
    NewManualPayment,
    Outstanding,
)
from remit.payments.runs import IN_TRANSIT_ACCOUNT, held_item_ids, limit_of
from remit.payments.store import manual_payment_items, manual_payments
from remit.text import DATE_MIN, text_problem
from remit.timestamps import utc_now_text

PAYABLES_ACCOUNT = "2000"
REFERENCE_MAX = 35
NOTE_MAX = 500
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


# ---------------------------------------------------------------- checking


def _text_problems(spec: NewManualPayment) -> list[Problem]:
    checks = (
        text_problem(spec.bank_reference, "bank_reference", max_chars=REFERENCE_MAX, required=True),
        text_problem(spec.note, "note", max_chars=NOTE_MAX),
        text_problem(spec.house_account, "house_account", max_chars=32),
    )
    return [p for p in checks if p is not None]


def _header_problems(conn: Connection, book_id: int, spec: NewManualPayment) -> list[Problem]:
    problems = _text_problems(spec)
    if spec.party_id not in parties.party_names(conn, book_id, [spec.party_id]):
        problems.append(Problem("party", f"no party {spec.party_id} in this book", "unknown_party"))
    if not 0 < spec.amount_minor <= MAX_AMOUNT_MINOR:
        problems.append(
            Problem(
                "amount", f"a payment is between 1 and {MAX_AMOUNT_MINOR:,} minor units", "range"
            )
        )
    try:
        exponent(spec.currency)
    except UnknownCurrency as exc:
        problems.append(Problem("currency", str(exc), "currency"))
    today = ledger.book_today(conn, book_id)
    if not DATE_MIN <= spec.paid_on <= today:
        message = f"{spec.paid_on.isoformat()} is not a day it could have been paid (after today)"
        problems.append(Problem("paid_on", message, "date"))
    if spec.method not in MANUAL_METHODS:
        message = f"unknown method {spec.method!r} (one of {', '.join(MANUAL_METHODS)})"
        problems.append(Problem("method", message, "method"))
    mp = manual_payments.c
    taken = conn.execute(
        select(mp.id).where(
            and_(
                mp.book_id == book_id,
                mp.bank_reference == spec.bank_reference.strip(),
                mp.status != ManualStatus.REJECTED.value,
            )
        )
    ).scalar()
    if taken is not None:
        message = f"{spec.bank_reference.strip()} is already recorded, as manual payment M{taken}"
        problems.append(Problem("bank_reference", message, "duplicate"))
    return problems


def _house_account(
    conn: Connection, book_id: int, spec: NewManualPayment
) -> tuple[int | None, list[Problem]]:
    """The book's account the money left: the one named, else the only active one in the
    payment's currency."""
    active = house.list_house_accounts(conn, Actor.system(), book_id)
    if spec.house_account.strip():
        chosen = [a for a in active if a.code == spec.house_account.strip()]
        missing = f"no active bank account {spec.house_account.strip()!r} in this book"
    else:
        chosen = [a for a in active if a.currency == spec.currency]
        missing = f"the book has no active bank account in {spec.currency}"
        if len(chosen) > 1:
            codes = ", ".join(a.code for a in chosen)
            message = f"several accounts pay {spec.currency} ({codes}): name the one it left"
            return None, [Problem("house_account", message, "ambiguous")]
    if not chosen:
        return None, [Problem("house_account", missing, "unknown_account")]
    if chosen[0].currency != spec.currency:
        message = f"{chosen[0].code} holds {chosen[0].currency}, not {spec.currency}"
        return None, [Problem("house_account", message, "currency")]
    return chosen[0].id, []


def _pending_claims(
    conn: Connection, item_ids: Sequence[int], *, besides: int | None = None
) -> dict[int, int]:
    """What pending manual payments (other than ``besides``) already claim of each item."""
    mi, mp = manual_payment_items.c, manual_payments.c
    query = (
        select(mi.item_id, func.sum(mi.amount_minor))
        .join(manual_payments, mp.id == mi.manual_payment_id)
        .where(and_(mi.item_id.in_(list(item_ids)), mp.status == ManualStatus.PENDING.value))
        .group_by(mi.item_id)
    )
    if besides is not None:
        query = query.where(mp.id != besides)
    return {int(i): int(total) for i, total in conn.execute(query)}


def _line_problems(
    conn: Connection,
    book_id: int,
    spec: NewManualPayment,
    accounts: Sequence[str],
    *,
    besides: int | None = None,
) -> list[Problem]:
    """Each item: the payee's, open (a bill owed), in the currency, on a payables account,
    not held by a run, dated by the payment, and paid no more than is open (less what other
    pending manual payments claim); the parts add up to the amount."""
    problems: list[Problem] = []
    ids = [line.item_id for line in spec.lines]
    if len(set(ids)) != len(ids):
        problems.append(Problem("items", "names an item twice", "duplicate_item"))
    facts = open_items.item_facts(conn, book_id, ids)
    owners = {
        i.id: i.party_id
        for i in open_items.open_items(conn, Actor.system(), book_id, party_id=spec.party_id)
    }
    held = held_item_ids(conn, book_id)
    claims = _pending_claims(conn, ids, besides=besides)
    for line in spec.lines:
        where, found = f"item {line.item_id}", facts.get(line.item_id)
        if found is None:
            problems.append(Problem(where, "is not an item of this book", "unknown_item"))
            continue
        free = -found.open_minor - claims.get(line.item_id, 0)
        checks = (
            (found.open_minor >= 0, f"{found.doc_ref} is not a bill owed to anyone", "not_owed"),
            (line.item_id not in owners, f"{found.doc_ref} is another payee's", "other_payee"),
            (found.account_code not in accounts, f"is on account {found.account_code}", "account"),
            (found.currency != spec.currency, f"is in {found.currency}", "currency"),
            (line.item_id in held, f"{found.doc_ref} is held by a payment run", "held_by_run"),
            (found.item_date > spec.paid_on, f"is dated after {spec.paid_on}", "item_date"),
            (line.amount_minor <= 0, "a part paid is more than zero", "range"),
            (
                line.amount_minor > free,
                f"{found.doc_ref}: {line.amount_minor:,} minor units paid, only {free:,} open",
                "over_allocated",
            ),
        )
        problems += [Problem(where, m, c) for failed, m, c in checks if failed][:1]
    paid = sum(line.amount_minor for line in spec.lines)
    if spec.lines and paid != spec.amount_minor:
        message = (
            f"the items' parts sum to {paid:,} minor units, the payment is {spec.amount_minor:,}"
        )
        problems.append(Problem("items", message, "sum"))
    return problems


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
    problems = _header_problems(conn, book_id, spec)
    house_id, found = _house_account(conn, book_id, spec)
    problems += found + _line_problems(conn, book_id, spec, accounts)
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


def _free_items(conn: Connection, actor: Actor, book_id: int, manual_id: int, note: str) -> None:
    """Lift the blocks this payment set, except on items another pending one still covers."""
    ids = [line.item_id for line in _lines(conn, [manual_id])[manual_id]]
    still = _pending_claims(conn, ids, besides=manual_id) if ids else {}
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
    problems = _line_problems(
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


# ---------------------------------------------------------------- the list


def _suspended(conn: Connection, book_id: int, accounts: Sequence[str]) -> list[Outstanding]:
    """Per payee and currency, what the active blocks (other than a pending manual
    payment's) keep from the runs, since the earliest of those blocks."""
    found = [
        b for b in blocks.active_blocks(conn, book_id) if not b.source.startswith(SOURCE_PREFIX)
    ]
    if not found:
        return []
    schema = {"key": pl.Int64, "since": pl.Utf8, "reason": pl.Utf8}
    by_party = pl.DataFrame(
        [(b.party_id, b.set_at[:10], b.reason.value) for b in found if b.party_id is not None],
        schema=schema,
        orient="row",
    )
    by_item = pl.DataFrame(
        [
            (b.open_item_id, b.set_at[:10], b.reason.value)
            for b in found
            if b.open_item_id is not None
        ],
        schema=schema,
        orient="row",
    )
    items = open_items.items_frame(conn, book_id, accounts, due_by=date(2100, 12, 31))
    blocked = pl.concat(
        [
            items.join(by_party, left_on="party_id", right_on="key"),
            items.join(by_item, left_on="item_id", right_on="key"),
        ]
    )
    keys = ["party_id", "currency"]
    # An item blocked on its own and through its payee counts once.
    owed = (
        blocked.unique(subset=["item_id"])
        .group_by(keys)
        .agg((-pl.col("open_minor").sum()).alias("owed"), pl.len().alias("items"))
    )
    why = blocked.group_by(keys).agg(
        pl.col("since").min(), pl.col("reason").unique().sort().str.join(", ").alias("reasons")
    )
    grouped = owed.join(why, on=keys).filter(pl.col("owed") > 0)
    refs = parties.party_names(conn, book_id, grouped["party_id"].to_list())
    return [
        Outstanding(
            kind="suspended",
            ref=refs.get(party, ("?", "?"))[0],
            party_id=party,
            currency=currency,
            amount_minor=owed,
            since=date.fromisoformat(since),
            status="blocked",
            detail=f"{count} item(s): {reasons}",
        )
        for party, currency, since, reasons, count, owed in grouped.select(
            "party_id", "currency", "since", "reasons", "items", "owed"
        ).iter_rows()
    ]


def outstanding(
    conn: Connection, actor: Actor, book_id: int, *, accounts: Sequence[str] = (PAYABLES_ACCOUNT,)
) -> list[Outstanding]:
    """Suspended payments and manual payments not yet reconciled (pending or approved),
    oldest first: a manual payment by the day it was paid, a suspension by its block's day."""
    require(actor, book_id, Permission.PAYMENT_READ)
    waiting = [
        m
        for status in (ManualStatus.PENDING, ManualStatus.APPROVED)
        for m in list_manual_payments(conn, actor, book_id, status=status.value, limit=10_000)
    ]
    refs = parties.party_names(conn, book_id, [m.party_id for m in waiting])
    manual = [
        Outstanding(
            kind=m.kind.value,
            ref=f"M{m.id}",
            party_id=m.party_id,
            currency=m.currency,
            amount_minor=m.amount_minor,
            since=m.paid_on,
            status=m.status.value,
            detail=f"{refs.get(m.party_id, ('?', '?'))[0]} {m.method} {m.bank_reference}",
        )
        for m in waiting
    ]
    return sorted(
        [*manual, *_suspended(conn, book_id, accounts)], key=lambda o: (o.since, o.kind, o.ref)
    )
