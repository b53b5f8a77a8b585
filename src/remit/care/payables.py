"""Provider payables from resolved runs: the self-bill entry, holds, and adjustments.

A resolved run becomes one journal entry: care expense by cost centre (the service code of
the visits) against the provider's payable, its total the final amounts of the outcomes
plus the approved adjustments. Its idempotency key is the run's, so posting twice posts
once. A provider on hold passes nothing to payment; an adjustment counts only once a
second person approved it.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.care.model import RunStatus
from remit.care.store import (
    actual_records,
    care_adjustments,
    care_holds,
    care_runs,
    care_settings,
    planned_visits,
    visit_outcomes,
)
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.events.service import emit
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.money import CURRENCY_EXPONENTS, Money, format_money
from remit.parties import service as parties
from remit.payments import blocks as payment_blocks
from remit.payments.model import BlockReason
from remit.text import is_clean_line, text_problem

EXPENSE_ACCOUNT = "5000"  # the demo chart's care expense; a book may name another
PAYABLE_ACCOUNT = "2000"  # the provider payables control account
REASON_MAX = 500  # the columns' length (holds and adjustments)
DEFAULT_PAYMENT_TERMS_DAYS = 14  # a self-bill is due this long after it is posted


def run_row(conn: Connection, book_id: int, run_id: int) -> Any:
    row = conn.execute(
        select(care_runs).where(and_(care_runs.c.id == run_id, care_runs.c.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no care run {run_id} in this book")
    return row


def run_with_hold(conn: Connection, actor: Actor, book_id: int, run_id: int) -> tuple[Any, bool]:
    """A run of this book, and whether its provider is on hold now."""
    require(actor, book_id, Permission.CARE_READ)
    run = run_row(conn, book_id, run_id)
    return run, on_hold(conn, book_id, int(run.provider_party_id))


def adjustments_of(
    conn: Connection, actor: Actor, book_id: int, run_id: int
) -> list[dict[str, Any]]:
    """A run's adjustments, oldest first (none for a run of another book)."""
    require(actor, book_id, Permission.CARE_READ)
    a, r = care_adjustments.c, care_runs.c
    query = (
        select(care_adjustments)
        .join(care_runs, r.id == a.run_id)
        .where(and_(a.run_id == run_id, r.book_id == book_id))
        .order_by(a.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def adjustment_run_id(conn: Connection, actor: Actor, book_id: int, adjustment_id: int) -> int:
    """The run an adjustment of this book belongs to."""
    require(actor, book_id, Permission.CARE_READ)
    a, r = care_adjustments.c, care_runs.c
    found = conn.execute(
        select(a.run_id)
        .join(care_runs, r.id == a.run_id)
        .where(and_(a.id == adjustment_id, r.book_id == book_id))
    ).scalar()
    if found is None:
        raise NotFound(f"no care adjustment {adjustment_id} in this book")
    return int(found)


def held_providers(conn: Connection, actor: Actor, book_id: int) -> set[int]:
    """The providers of the book held from payment now."""
    require(actor, book_id, Permission.CARE_READ)
    h = care_holds.c
    return set(
        conn.execute(
            select(h.provider_party_id).where(and_(h.book_id == book_id, h.lifted_at.is_(None)))
        ).scalars()
    )


def on_hold(conn: Connection, book_id: int, provider_party_id: int) -> bool:
    h = care_holds.c
    return (
        conn.execute(
            select(h.id).where(
                and_(
                    h.book_id == book_id,
                    h.provider_party_id == provider_party_id,
                    h.lifted_at.is_(None),
                )
            )
        ).first()
        is not None
    )


def hold(conn: Connection, actor: Actor, book_id: int, provider_party_id: int, reason: str) -> int:
    """Suspend a provider: none of its runs passes to payment until the hold is lifted."""
    require(actor, book_id, Permission.CARE_POLICY)
    _refuse_no_provider(conn, book_id, provider_party_id)
    if not reason.strip():
        raise ValidationFailed([Problem("reason", "say why the provider is held", "required")])
    found = text_problem(reason.strip(), "reason", max_chars=REASON_MAX, multiline=True)
    if found is not None:
        raise ValidationFailed([found])
    if on_hold(conn, book_id, provider_party_id):
        raise Conflict("the provider is already held")
    hold_id = insert_id(
        conn,
        insert(care_holds).values(
            book_id=book_id,
            provider_party_id=provider_party_id,
            reason=reason.strip()[:500],
            held_by=actor.username,
            held_at=audit.utc_now_text(),
        ),
    )
    audit.record(
        conn,
        actor,
        "care.hold",
        "party",
        provider_party_id,
        None,
        {"reason": reason.strip()},
        book_id,
    )
    # Nothing of the provider is paid either: a payment block keeps its open items (what
    # was posted before the hold too) out of every payment run until the hold is lifted.
    payment_blocks.set_block(
        conn,
        Actor.system(actor.username),
        book_id,
        party_id=provider_party_id,
        reason=BlockReason.PROVIDER_ON_HOLD.value,
        note=" ".join(reason.split())[:500],
        source=f"care.hold:{hold_id}",
    )
    return hold_id


def _refuse_no_provider(conn: Connection, book_id: int, party_id: int) -> None:
    """A hold is for a provider of this book: NotFound for an id not in the book, a
    ValidationFailed for a party of the book that is no provider (a client, say)."""
    if parties.party_has_role(conn, book_id, party_id, "provider"):
        return
    names = parties.party_names(conn, book_id, [party_id])
    if party_id not in names:
        raise NotFound(f"no party {party_id} in this book")
    ref, name = names[party_id]
    raise ValidationFailed(
        [Problem("provider", f"{name} ({ref}) is not a provider: only a provider is held", "role")]
    )


def lift_hold(conn: Connection, actor: Actor, book_id: int, provider_party_id: int) -> None:
    require(actor, book_id, Permission.CARE_POLICY)
    h = care_holds.c
    changed = conn.execute(
        update(care_holds)
        .where(
            and_(
                h.book_id == book_id,
                h.provider_party_id == provider_party_id,
                h.lifted_at.is_(None),
            )
        )
        .values(lifted_by=actor.username, lifted_at=audit.utc_now_text())
    ).rowcount
    if not changed:
        raise Conflict("the provider is not held")
    with contextlib.suppress(NotFound):  # lifted by hand already (remit payments unblock)
        payment_blocks.lift_block(
            conn,
            Actor.system(actor.username),
            book_id,
            party_id=provider_party_id,
            reason=BlockReason.PROVIDER_ON_HOLD.value,
            note="care hold lifted",
        )
    audit.record(
        conn,
        actor,
        "care.lift_hold",
        "party",
        provider_party_id,
        {"held": True},
        {"held": False},
        book_id,
    )


def request_adjustment(
    conn: Connection, actor: Actor, book_id: int, run_id: int, amount_minor: int, reason: str
) -> int:
    """A manual adjustment of a run's payable, waiting for a second person's approval."""
    require(actor, book_id, Permission.CARE_DECIDE)
    run = run_row(conn, book_id, run_id)
    problems = []
    if amount_minor == 0 or abs(amount_minor) >= 10**13:
        problems.append(Problem("amount_minor", "a non-zero amount in minor units", "amount"))
    if not reason.strip():
        problems.append(Problem("reason", "say why", "required"))
    found = text_problem(reason.strip(), "reason", max_chars=REASON_MAX, multiline=True)
    problems += [found] if found is not None else []
    if problems:
        raise ValidationFailed(problems)
    currency = _currency(conn, run_id)
    asked_on = run_id
    if run.status == RunStatus.POSTED.value:  # goes to the period's next self-bill
        run_id = open_supplementary(conn, actor, book_id, run)
    adjustment_id = insert_id(
        conn,
        insert(care_adjustments).values(
            run_id=run_id,
            amount_minor=amount_minor,
            currency=currency,
            reason=reason.strip()[:500],
            status="pending",
            requested_by=actor.username,
            requested_at=audit.utc_now_text(),
        ),
    )
    audit.record(
        conn,
        actor,
        "care.adjust",
        "care_adjustment",
        adjustment_id,
        None,
        {
            "run_id": run_id,
            "asked_on_run_id": asked_on,
            "amount_minor": amount_minor,
            "reason": reason.strip(),
        },
        book_id,
    )
    return adjustment_id


def open_supplementary(conn: Connection, actor: Actor, book_id: int, run: Any) -> int:
    """The provider's not yet posted supplementary run of a posted run's period (made, with
    no visit lines, when there is none): where an adjustment asked after posting goes."""
    r = care_runs.c
    same = and_(
        r.book_id == book_id,
        r.provider_party_id == run.provider_party_id,
        r.period_start == run.period_start,
        r.period_end == run.period_end,
    )
    latest = conn.execute(
        select(r.id, r.sequence, r.status).where(same).order_by(r.sequence.desc()).limit(1)
    ).one()
    if latest.status != RunStatus.POSTED.value:
        return int(latest.id)
    run_id = insert_id(
        conn,
        insert(care_runs).values(
            book_id=book_id,
            provider_party_id=run.provider_party_id,
            period_start=run.period_start,
            period_end=run.period_end,
            sequence=int(latest.sequence) + 1,
            status=RunStatus.RESOLVED.value,
            policy=run.policy,
            created_by=actor.username,
            created_at=audit.utc_now_text(),
            version=1,
        ),
    )
    audit.record(
        conn,
        actor,
        "care.supplementary",
        "care_run",
        run_id,
        None,
        {"of_run_id": int(run.id), "sequence": int(latest.sequence) + 1},
        book_id,
    )
    return run_id


def payment_terms_days(conn: Connection, book_id: int, provider_party_id: int) -> int:
    """The provider's payment terms in days: its own setting, else the book's, else 14."""
    found = _setting(conn, book_id, provider_party_id, care_settings.c.payment_terms_days)
    return DEFAULT_PAYMENT_TERMS_DAYS if found is None else int(found)


def _setting(conn: Connection, book_id: int, provider_party_id: int, column: Any) -> Any:
    s = care_settings.c
    rows = conn.execute(
        select(s.provider_party_id, column).where(
            and_(
                s.book_id == book_id,
                (s.provider_party_id == provider_party_id) | s.provider_party_id.is_(None),
                column.is_not(None),
            )
        )
    ).all()
    own = [value for pid, value in rows if pid is not None]
    book = [value for pid, value in rows if pid is None]
    return (own or book or [None])[0]


def decide_adjustment(
    conn: Connection, actor: Actor, book_id: int, adjustment_id: int, approve: bool
) -> None:
    """Approve or reject an adjustment; the person who asked for it cannot."""
    require(actor, book_id, Permission.CARE_POLICY)
    a = care_adjustments.c
    row = conn.execute(
        select(care_adjustments)
        .join(care_runs, care_runs.c.id == a.run_id)
        .where(and_(a.id == adjustment_id, care_runs.c.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no adjustment {adjustment_id} in this book")
    if row.requested_by == actor.username:
        raise Forbidden("the person who asked for an adjustment cannot approve it")
    if row.status != "pending":
        raise Conflict(f"the adjustment is {row.status}")
    status = "approved" if approve else "rejected"
    conn.execute(
        update(care_adjustments)
        .where(a.id == adjustment_id)
        .values(status=status, decided_by=actor.username, decided_at=audit.utc_now_text())
    )
    audit.record(
        conn,
        actor,
        f"care.adjustment_{status}",
        "care_adjustment",
        adjustment_id,
        {"status": "pending"},
        {"status": status},
        book_id,
    )


def _currency(conn: Connection, run_id: int) -> str:
    """The run's currency: its visits', else (a run of adjustments only) its adjustments'."""
    o, a = visit_outcomes.c, care_adjustments.c
    found = (
        conn.execute(
            select(o.currency).where(and_(o.run_id == run_id, o.currency != "")).limit(1)
        ).scalar()
        or conn.execute(
            select(a.currency).where(and_(a.run_id == run_id, a.currency != "")).limit(1)
        ).scalar()
    )
    return str(found) if found else ""


def post_payable(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    expense_account: str = EXPENSE_ACCOUNT,
    payable_account: str = PAYABLE_ACCOUNT,
) -> int | None:
    """Post a resolved run as the provider's self-bill payable; returns the entry id (None
    when the run pays nothing). Posting again answers the entry already posted."""
    require(actor, book_id, Permission.LEDGER_POST)
    require(actor, book_id, Permission.CARE_RUN)
    run = run_row(conn, book_id, run_id)
    if run.status == RunStatus.POSTED.value:
        return int(run.entry_id) if run.entry_id is not None else None
    if run.status != RunStatus.RESOLVED.value:
        raise Conflict(f"the run is {run.status}: decide its exceptions first")
    if on_hold(conn, book_id, run.provider_party_id):
        raise Conflict("the provider is held: nothing passes to payment")
    _refuse_pending_adjustments(conn, run_id)
    _refuse_decider(conn, actor, book_id, run)
    by_centre = cost_centres(conn, run_id)
    currency = _currency(conn, run_id)
    adjustments = conn.execute(
        select(func.coalesce(func.sum(care_adjustments.c.amount_minor), 0)).where(
            and_(care_adjustments.c.run_id == run_id, care_adjustments.c.status == "approved")
        )
    ).scalar_one()
    # The payable falls on the run's cost centre when its visits have one service code (a
    # payment run may pay one cost centre's bills); with several it has none ("").
    services = [centre for centre, amount in by_centre.items() if amount]
    payable_centre = services[0] if len(services) == 1 and services[0] != "None" else ""
    if len(payable_centre) > 40 or "," in payable_centre or not is_clean_line(payable_centre):
        payable_centre = ""  # not a name a run's filter could choose
    if adjustments:
        by_centre["adjustments"] = by_centre.get("adjustments", 0) + int(adjustments)
    total = sum(by_centre.values())
    entry_id = None
    if total < 0:
        raise ValidationFailed(
            [
                Problem(
                    "total",
                    "the run comes to less than nothing: review its adjustments",
                    "negative",
                )
            ]
        )
    posted_on = ledger.first_open_date(conn, actor, book_id, run.period_end)
    due_on = posted_on + timedelta(days=payment_terms_days(conn, book_id, run.provider_party_id))
    if total:
        if currency not in CURRENCY_EXPONENTS:
            raise ValidationFailed([Problem("currency", "the run has no currency", "currency")])
        period = f"{run.period_start.isoformat()} to {run.period_end.isoformat()}"
        if run.sequence:
            period += f" (supplementary {run.sequence})"
        lines = [
            PostingDraft(expense_account, amount, currency, memo=f"cost centre {centre}")
            for centre, amount in sorted(by_centre.items())
            if amount
        ]
        lines.append(
            PostingDraft(
                payable_account,
                -total,
                currency,
                party_id=int(run.provider_party_id),
                memo=f"self-bill, care run {run_id}",
                due_date=due_on,
                doc_ref=_invoice_number(conn, book_id, run),
                cost_centre=payable_centre,
            )
        )
        result = ledger.post(
            conn,
            actor,
            book_id,
            EntryDraft(
                posted_on,
                f"Care self-bill {period}",
                f"care-run-{run_id}",
                tuple(lines),
                source_type="care_run",
                source_id=str(run_id),
            ),
        )
        entry_id = result.entry_id
    conn.execute(
        update(care_runs)
        .where(care_runs.c.id == run_id)
        .values(
            status=RunStatus.POSTED.value, entry_id=entry_id, posted_on=posted_on, due_on=due_on
        )
    )
    detail = {
        "entry_id": entry_id,
        "posted_on": posted_on.isoformat(),
        "due_on": due_on.isoformat(),
        "amount_minor": total,
        "currency": currency,
        "provider_party_id": int(run.provider_party_id),
    }
    audit.record(
        conn,
        actor,
        "care.post",
        "care_run",
        run_id,
        {"status": run.status},
        {"status": RunStatus.POSTED.value, **detail},
        book_id,
    )
    emit(conn, book_id, "care.payable.posted", "care_run", run_id, detail)
    return entry_id


def _invoice_number(conn: Connection, book_id: int, run: Any) -> str:
    """The self-bill's invoice number, the document reference of its open item."""
    # selfbill imports this module: its pure numbering function is imported when used.
    from remit.care.selfbill import invoice_number  # noqa: PLC0415

    provider = int(run.provider_party_id)
    ref = parties.party_names(conn, book_id, [provider]).get(provider, ("", ""))[0]
    book_code = str(ledger.get_book(conn, book_id)["code"])
    return invoice_number(book_code, ref, int(run.id), int(run.sequence))[:100]


def deciders(conn: Connection, run_id: int) -> set[str]:
    """Who decided the run's exceptions (the decisions in force; a settlement by the
    policy's default is no one's, and a second person's approval is not a decision)."""
    o = visit_outcomes.c
    return set(
        conn.execute(
            select(o.decided_by).where(
                and_(
                    o.run_id == run_id,
                    o.decision.is_not(None),
                    o.decision != "policy_default",
                )
            )
        ).scalars()
    )


def decider_may_post(conn: Connection, book_id: int, provider_party_id: int) -> bool:
    """The setting of the provider, else the book's, else no: the person who decided a
    run's exceptions does not post it."""
    found = _setting(conn, book_id, provider_party_id, care_settings.c.decider_may_post)
    return bool(found)


def _refuse_decider(conn: Connection, actor: Actor, book_id: int, run: Any) -> None:
    if actor.is_system or decider_may_post(conn, book_id, int(run.provider_party_id)):
        return
    if actor.username in deciders(conn, int(run.id)):
        raise Forbidden(
            "you decided exceptions of this run, so another person posts it "
            "(the book's rule: two people see every self-bill)"
        )


def _refuse_pending_adjustments(conn: Connection, run_id: int) -> None:
    a = care_adjustments.c
    waiting = conn.execute(
        select(a.amount_minor, a.currency).where(and_(a.run_id == run_id, a.status == "pending"))
    ).all()
    if waiting:
        amounts = ", ".join(
            format_money(Money(int(x.amount_minor), x.currency))
            if x.currency
            else str(x.amount_minor)
            for x in waiting
        )
        raise Conflict(
            f"{len(waiting)} adjustment(s) of this run wait for a second person's approval "
            f"({amounts}): approve or reject them before posting"
        )


def cost_centres(conn: Connection, run_id: int) -> dict[str, int]:
    """The run's final amounts by cost centre (the visit's service code)."""
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    rows = conn.execute(
        select(func.coalesce(v.service_code, a.service_code), func.sum(o.final_amount_minor))
        .select_from(visit_outcomes)
        .outerjoin(planned_visits, v.id == o.planned_visit_id)
        .outerjoin(actual_records, a.id == o.actual_record_id)
        .where(o.run_id == run_id)
        .group_by(func.coalesce(v.service_code, a.service_code))
    ).all()
    out: dict[str, int] = defaultdict(int)
    for centre, amount in rows:
        out[str(centre)] += int(amount or 0)
    return dict(out)


def payable_lines(
    conn: Connection, actor: Actor, book_id: int, run_id: int
) -> list[dict[str, Any]]:
    """The self-bill's lines: one per carer place or record, in visit order."""
    require(actor, book_id, Permission.CARE_READ)
    run_row(conn, book_id, run_id)
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    rows = conn.execute(
        select(
            o.id,
            o.version,
            v.ref.label("visit"),
            a.ref.label("record"),
            a.carer_ref.label("carer"),
            func.coalesce(v.service_code, a.service_code).label("service_code"),
            func.coalesce(v.start_s, a.check_in_s).label("moment_s"),
            o.status,
            o.rule,
            o.planned_minutes,
            o.delivered_minutes,
            o.paid_minutes,
            o.decision,
            o.final_minutes,
            o.final_amount_minor,
            o.currency,
            o.exception,
            o.reason,
            o.decision_reason,
        )
        .select_from(visit_outcomes)
        .outerjoin(planned_visits, v.id == o.planned_visit_id)
        .outerjoin(actual_records, a.id == o.actual_record_id)
        .where(o.run_id == run_id)
        .order_by(func.coalesce(v.start_s, a.check_in_s), o.id)
    )
    return [dict(r._mapping) for r in rows]


def runs_of(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date | None = None,
    provider_party_id: int | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest period first, with their totals."""
    require(actor, book_id, Permission.CARE_READ)
    return _runs(conn, book_id, first, provider_party_id)


def _runs(
    conn: Connection, book_id: int, first: date | None, provider_party_id: int | None
) -> list[dict[str, Any]]:
    r, o = care_runs.c, visit_outcomes.c
    query = (
        select(
            r.id,
            r.provider_party_id,
            r.period_start,
            r.period_end,
            r.status,
            r.case_id,
            r.entry_id,
            r.sequence,
            func.max(o.currency).label("currency"),
            func.count(o.id).label("outcomes"),
            func.coalesce(func.sum(o.final_amount_minor), 0).label("amount_minor"),
            func.coalesce(func.sum(func.cast(o.exception, r.version.type)), 0).label("exceptions"),
            func.count(o.decision).label("decided"),
        )
        .select_from(care_runs)
        .outerjoin(visit_outcomes, o.run_id == r.id)
        .where(r.book_id == book_id)
        .group_by(
            r.id,
            r.provider_party_id,
            r.period_start,
            r.period_end,
            r.status,
            r.case_id,
            r.entry_id,
            r.sequence,
        )
        .order_by(r.period_start.desc(), r.id)
    )
    if first is not None:
        query = query.where(r.period_start == first)
    if provider_party_id is not None:
        query = query.where(r.provider_party_id == provider_party_id)
    return [dict(x._mapping) for x in conn.execute(query)]


def portal_runs(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """The provider user's own runs, newest first, with their totals."""
    require(actor, book_id, Permission.PORTAL_PROVIDER)
    party_id = actor.party_in(book_id)
    if party_id is None:
        raise Forbidden("this user is not bound to a provider")
    return _runs(conn, book_id, None, party_id)


def set_settings(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider_party_id: int | None = None,
    payment_terms_days: int | None = None,
    decider_may_post: bool | None = None,
) -> None:
    """The book's (no provider) or one provider's care settings; None leaves one as it is."""
    require(actor, book_id, Permission.CARE_POLICY)
    if payment_terms_days is not None and not 0 <= payment_terms_days <= 366:
        raise ValidationFailed(
            [Problem("payment_terms_days", "payment terms of 0 to 366 days", "range")]
        )
    if provider_party_id is not None:
        _refuse_not_provider(conn, book_id, provider_party_id)
    s = care_settings.c
    scope = and_(
        s.book_id == book_id,
        s.provider_party_id == provider_party_id
        if provider_party_id is not None
        else s.provider_party_id.is_(None),
    )
    row = conn.execute(select(care_settings).where(scope)).first()
    values: dict[str, Any] = {"updated_by": actor.username, "updated_at": audit.utc_now_text()}
    if payment_terms_days is not None:
        values["payment_terms_days"] = payment_terms_days
    if decider_may_post is not None:
        values["decider_may_post"] = decider_may_post
    if row is None:
        conn.execute(
            insert(care_settings).values(
                book_id=book_id, provider_party_id=provider_party_id, **values
            )
        )
    else:
        conn.execute(update(care_settings).where(s.id == row.id).values(**values))
    audit.record(
        conn,
        actor,
        "care.settings",
        "book" if provider_party_id is None else "party",
        provider_party_id or book_id,
        dict(row._mapping) if row is not None else None,
        values,
        book_id,
    )


def _refuse_not_provider(conn: Connection, book_id: int, party_id: int) -> None:
    if not parties.party_has_role(conn, book_id, party_id, "provider"):
        raise NotFound(f"no provider {party_id} in this book")
