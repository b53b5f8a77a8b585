"""Payment runs: prepared from the book, approved by others than the preparer within their
limits, released with their bank files and postings, then sent, settled or returned.

States (``RunStatus``): prepared -> approved -> released -> sent -> settled, cancelled only
before release. Every transition is one conditional UPDATE on the run's ``version`` and
state, so two people (or processes) approving or releasing the same run at once cannot both
succeed: the second finds the version moved and gets Conflict. Every transition is audited.

Never twice: an item enters a run only through ``held_items``, whose primary key is the
item; a second run of the same items finds them held and leaves them out; cancelling a run
(or a payment's return) frees its items. Release posts, per payment, provider payable ->
payments in transit (``IN_TRANSIT_ACCOUNT``) settling the items it pays, so a released item
is no longer open; settlement posts payments in transit -> the house account's bank GL; a
return reverses the release entry, which re-opens the items.

Everything that varies per bank file (creation time, NACHA file id modifier, BACS serial,
SEPA message id) is derived from the run (its id and final approval time) and recorded at
release with the SHA-256 of the bytes; the bytes are kept sealed by the vault
(``run_files.sealed``), and a download gives them back after checking the digest. A
release that fails half-way (a crash before the commit) records nothing; releasing again
writes the same file, never a second, different one.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from remit import audit, bulk
from remit.access import service as access
from remit.access.model import Actor, Permission, require
from remit.db import insert_id, is_postgres
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.formats import registry
from remit.formats.offline import value_date
from remit.formats.payfile import FilePayment, FileStamp, RemittanceLine
from remit.ledger import items as open_items
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.items import MAX_COST_CENTRE
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.payments import cheques, house
from remit.payments.model import (
    APPROVAL_LIMIT_MINOR,
    CHEQUE,
    PAYMENT_SCHEMES,
    PaymentRun,
    PaymentStatus,
    RunFile,
    RunPayment,
    RunStatus,
    approval_limit,
    area_of,
)
from remit.payments.preview import BANK_CHANGE_DAYS, preview_run
from remit.payments.store import (
    approval_limits,
    held_items,
    payment_blocks,
    payment_runs,
    run_files,
    run_items,
    run_payments,
)
from remit.secrets import SecretUnreadable, Vault
from remit.text import text_problem
from remit.timestamps import utc_now_text

# The account a released payment waits on until the bank confirms it (a liability).
IN_TRANSIT_ACCOUNT = "2050"
NOTE_MAX = 500
MAX_LIMIT_MINOR = 10**15
_MODIFIERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# A return's reason as banks give it: NACHA R01-R85, a BACS ARUCS/AUDDIS code (one letter or
# digit), an ISO 20022 status reason (four letters or digits, e.g. AC04, AM05, NARR). Only
# a code typed by a person is held to it; a bank's file gives its own (``typed=False``).
RETURN_CODE = re.compile(r"R(0[1-9]|[1-7]\d|8[0-5])|[0-9A-Z]|[A-Z0-9]{4}")
_BATCH = 500
MAX_FILTER_VALUES = 50
# zlib level of a sealed bank file: NACHA and pain.001 text shrinks ~10x at level 1 in a
# fraction of the time level 6 takes, and the file is sealed once per release.
_SEAL_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Prepared:
    """A prepared run and what it left out (item_id, party_id, currency, open_minor, reason)."""

    run: PaymentRun
    excluded: pl.DataFrame
    held_elsewhere: int


# ---------------------------------------------------------------- reading


def _run_row(conn: Connection, book_id: int, run_id: int) -> Any:
    row = conn.execute(
        select(payment_runs).where(
            and_(payment_runs.c.id == run_id, payment_runs.c.book_id == book_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no payment run {run_id} in this book")
    return row


def _run(row: Any) -> PaymentRun:
    return PaymentRun(
        id=int(row.id),
        book_id=int(row.book_id),
        pay_date=_day(row.pay_date),
        status=RunStatus(row.status),
        currency=str(row.currency),
        total_minor=int(row.total_minor),
        other_currencies=tuple(c for c in str(row.other_currencies).split(",") if c),
        payment_count=int(row.payment_count),
        item_count=int(row.item_count),
        prepared_by=str(row.prepared_by),
        prepared_at=str(row.prepared_at),
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        second_approved_by=row.second_approved_by,
        second_approved_at=row.second_approved_at,
        released_by=row.released_by,
        released_at=row.released_at,
        sent_by=row.sent_by,
        sent_at=row.sent_at,
        settled_at=row.settled_at,
        cancelled_by=row.cancelled_by,
        cancelled_at=row.cancelled_at,
        note=str(row.note or ""),
        version=int(row.version),
        cancel_reason=str(row.cancel_reason or ""),
        accounts=_listed(row.accounts),
        methods=_listed(row.methods),
        cost_centres=_listed(row.cost_centres),
        areas=_listed(row.areas),
    )


def _listed(value: Any) -> tuple[str, ...]:
    return tuple(v for v in str(value or "").split(",") if v)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _payment(row: Any) -> RunPayment:
    return RunPayment(
        id=int(row.id),
        run_id=int(row.run_id),
        party_id=int(row.party_id),
        currency=str(row.currency),
        bank_account_id=None if row.bank_account_id is None else int(row.bank_account_id),
        method=str(row.method),
        amount_minor=int(row.amount_minor),
        status=PaymentStatus(row.status),
        reference=str(row.reference),
        file_id=None if row.file_id is None else int(row.file_id),
        release_entry_id=None if row.release_entry_id is None else int(row.release_entry_id),
        settle_entry_id=None if row.settle_entry_id is None else int(row.settle_entry_id),
        return_entry_id=None if row.return_entry_id is None else int(row.return_entry_id),
        settled_on=None if row.settled_on is None else _day(row.settled_on),
        returned_on=None if row.returned_on is None else _day(row.returned_on),
        return_code=str(row.return_code or ""),
        return_detail=str(row.return_detail or ""),
        case_id=None if row.case_id is None else int(row.case_id),
    )


def get_run(conn: Connection, actor: Actor, book_id: int, run_id: int) -> PaymentRun:
    require(actor, book_id, Permission.PAYMENT_READ)
    return _run(_run_row(conn, book_id, run_id))


def list_runs(
    conn: Connection, actor: Actor, book_id: int, *, status: str | None = None, limit: int = 100
) -> list[PaymentRun]:
    """The book's runs, newest first."""
    require(actor, book_id, Permission.PAYMENT_READ)
    pr = payment_runs.c
    query = select(payment_runs).where(pr.book_id == book_id)
    if status is not None:
        query = query.where(pr.status == RunStatus(status).value)
    rows = conn.execute(query.order_by(pr.id.desc()).limit(max(1, min(limit, 1000))))
    return [_run(r) for r in rows]


def list_payments(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    *,
    offset: int = 0,
    limit: int = 100,
) -> list[RunPayment]:
    """The payments of a run, in their reference order."""
    require(actor, book_id, Permission.PAYMENT_READ)
    _run_row(conn, book_id, run_id)
    rp = run_payments.c
    rows = conn.execute(
        select(run_payments)
        .where(rp.run_id == run_id)
        .order_by(rp.id)
        .offset(max(0, offset))
        .limit(max(1, min(limit, 10_000)))
    )
    return [_payment(r) for r in rows]


def get_payment(conn: Connection, actor: Actor, book_id: int, payment_id: int) -> RunPayment:
    require(actor, book_id, Permission.PAYMENT_READ)
    return _payment(_payment_row(conn, book_id, payment_id))


def payment_by_reference(
    conn: Connection, actor: Actor, book_id: int, reference: str
) -> RunPayment:
    """The payment a bank names by the reference remit wrote in its file (``R<run>-<n>``)."""
    require(actor, book_id, Permission.PAYMENT_READ)
    rp = run_payments.c
    row = conn.execute(
        select(run_payments).where(
            and_(rp.book_id == book_id, rp.reference == reference.strip().upper())
        )
    ).first()
    if row is None:
        raise NotFound(f"no payment {reference!r} in this book")
    return _payment(row)


def released_payments_of(
    conn: Connection, book_id: int, party_id: int, limit: int = 200
) -> list[RunPayment]:
    """A party's payments that were released (in transit, settled or returned), newest
    first, in one read: what its portal lists (the caller checks it is the party's own)."""
    rp = run_payments.c
    rows = conn.execute(
        select(run_payments)
        .where(rp.book_id == book_id, rp.party_id == party_id, rp.release_entry_id.is_not(None))
        .order_by(rp.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    return [_payment(r) for r in rows]


def _payment_row(conn: Connection, book_id: int, payment_id: int) -> Any:
    row = conn.execute(
        select(run_payments).where(
            and_(run_payments.c.id == payment_id, run_payments.c.book_id == book_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no payment {payment_id} in this book")
    return row


def payment_items(
    conn: Connection, actor: Actor, book_id: int, payment_id: int
) -> list[dict[str, Any]]:
    """What a payment covers: each item's document reference, dates and the amount paid
    of it (positive: paid to the payee; negative: a credit of the payee deducted)."""
    require(actor, book_id, Permission.PAYMENT_READ)
    _payment_row(conn, book_id, payment_id)
    ri = run_items.c
    held = conn.execute(
        select(ri.item_id, ri.doc_ref, ri.open_minor).where(ri.payment_id == payment_id)
    ).all()
    facts = open_items.item_facts(conn, book_id, [int(r.item_id) for r in held])
    rows = sorted(held, key=lambda r: (facts[int(r.item_id)].due_date, int(r.item_id)))
    return [
        {
            "item_id": int(r.item_id),
            "doc_ref": str(r.doc_ref),
            "item_date": facts[int(r.item_id)].item_date,
            "due_date": facts[int(r.item_id)].due_date,
            "amount_minor": -int(r.open_minor),
            "currency": facts[int(r.item_id)].currency,
        }
        for r in rows
    ]


def run_totals(conn: Connection, actor: Actor, book_id: int, run_id: int) -> list[dict[str, Any]]:
    """Payments and amounts of a run by method, currency and status."""
    require(actor, book_id, Permission.PAYMENT_READ)
    _run_row(conn, book_id, run_id)
    rp = run_payments.c
    rows = conn.execute(
        select(rp.method, rp.currency, rp.status, func.count(), func.sum(rp.amount_minor))
        .where(rp.run_id == run_id)
        .group_by(rp.method, rp.currency, rp.status)
        .order_by(rp.method, rp.currency, rp.status)
    )
    return [
        {"method": m, "currency": c, "status": s, "payments": int(n), "amount_minor": int(t)}
        for m, c, s, n, t in rows
    ]


# ---------------------------------------------------------------- approval limits


def set_approval_limit(
    conn: Connection, actor: Actor, book_id: int, username: str, limit_minor: int
) -> None:
    """What ``username`` may approve alone in this book (base currency, minor units)."""
    require(actor, book_id, Permission.USERS_MANAGE)
    if not 0 <= limit_minor <= MAX_LIMIT_MINOR:
        raise ValidationFailed(
            [Problem("limit", f"a limit is between 0 and {MAX_LIMIT_MINOR:,} minor units", "range")]
        )
    try:
        chosen = access.actor_for(conn, username)
    except NotFound:
        raise NotFound(f"no user {username!r}") from None
    user_id = chosen.user_id
    roles = {r.value for r in chosen.roles_in(book_id)}
    if not roles & {"approver", "manager"}:
        raise ValidationFailed(
            [Problem("user", f"{username} does not approve payments in this book", "role")]
        )
    al = approval_limits.c
    where = and_(al.book_id == book_id, al.user_id == user_id)
    before = conn.execute(select(al.limit_minor).where(where)).scalar()
    values = {"limit_minor": limit_minor, "set_by": actor.username, "set_at": utc_now_text()}
    if before is None:
        conn.execute(insert(approval_limits).values(book_id=book_id, user_id=user_id, **values))
    else:
        conn.execute(update(approval_limits).where(where).values(**values))
    audit.record(
        conn,
        actor,
        "payments.approval_limit",
        "user",
        user_id,
        None if before is None else {"limit_minor": int(before)},
        {"limit_minor": limit_minor},
        book_id,
    )


def limit_of(conn: Connection, actor: Actor, book_id: int) -> int | None:
    """What ``actor`` may approve alone: their own limit in the book, else their roles'
    default (``APPROVAL_LIMIT_MINOR``); None is no limit."""
    if actor.user_id is not None:
        al = approval_limits.c
        own = conn.execute(
            select(al.limit_minor).where(and_(al.book_id == book_id, al.user_id == actor.user_id))
        ).scalar()
        if own is not None:
            return int(own)
    if actor.is_system:
        return None
    return approval_limit(actor.roles_in(book_id))


# ---------------------------------------------------------------- prepare


def filter_choices(
    conn: Connection, actor: Actor, book_id: int, accounts: Sequence[str] = ("2000",)
) -> tuple[list[str], list[str]]:
    """The cost centres and areas (``area_of`` the entries' source types) among the open
    payable items of ``accounts``: what a run's filters may choose from."""
    require(actor, book_id, Permission.PAYMENT_READ)
    centres, sources = open_items.open_item_tags(conn, book_id, accounts)
    return centres, sorted({area_of(s) for s in sources})


def filter_problems(cost_centres: set[str] | None, areas: set[str] | None) -> list[Problem]:
    """Cost centres and areas a run may be prepared for: at most 50 each, each a clean line
    of at most 40 characters without a comma (the run lists them comma-separated)."""
    problems: list[Problem] = []
    for field, wanted in (("cost_centre", cost_centres), ("area", areas)):
        values = sorted(wanted or ())
        if len(values) > MAX_FILTER_VALUES:
            problems.append(
                Problem(field, f"at most {MAX_FILTER_VALUES} values", "too_many_values")
            )
            continue
        for value in values:
            bad = text_problem(value, field, max_chars=MAX_COST_CENTRE)
            if bad is None and ("," in value or not value.strip()):
                bad = Problem(field, f"{value!r}: not a name (empty, or a comma)", "text")
            if bad is not None:
                problems.append(bad)
    return problems


def _note_problems(note: str) -> list[Problem]:
    found = text_problem(note, "note", max_chars=NOTE_MAX)
    return [found] if found is not None else []


def held_item_ids(conn: Connection, book_id: int, *, unreleased: bool = False) -> set[int]:
    """The book's items that a run not cancelled holds (not due for another run); with
    ``unreleased``, only those of runs not yet released (a released run's items are paid)."""
    hi, pr = held_items.c, payment_runs.c
    query = select(hi.item_id).join(payment_runs, pr.id == hi.run_id).where(pr.book_id == book_id)
    if unreleased:
        query = query.where(pr.status.in_([RunStatus.PREPARED.value, RunStatus.APPROVED.value]))
    return set(conn.execute(query).scalars())


def preview(
    conn: Connection,
    actor: Actor,
    book_id: int,
    pay_date: date,
    *,
    accounts: Sequence[str] = ("2000",),
    methods: set[str] | None = None,
    party_ids: set[int] | None = None,
    cost_centres: set[str] | None = None,
    areas: set[str] | None = None,
) -> tuple[Any, int]:
    """What ``prepare_run`` would take now: the preview less the items other runs hold,
    and how many of those wait in runs not yet released."""
    require(actor, book_id, Permission.PAYMENT_READ)
    problems = filter_problems(cost_centres, areas)
    if problems:
        raise ValidationFailed(problems)
    held = held_item_ids(conn, book_id)
    waiting = held_item_ids(conn, book_id, unreleased=True)
    found = preview_run(
        conn,
        actor,
        book_id,
        pay_date,
        accounts=accounts,
        methods=methods,
        party_ids=party_ids,
        cost_centres=cost_centres,
        areas=areas,
        skip_item_ids=held,
    )
    return found, len(waiting)


def prepare_run(
    conn: Connection,
    actor: Actor,
    book_id: int,
    pay_date: date,
    *,
    accounts_codes: Sequence[str] = ("2000",),
    methods: set[str] | None = None,
    party_ids: set[int] | None = None,
    cost_centres: set[str] | None = None,
    areas: set[str] | None = None,
    bank_change_days: int = BANK_CHANGE_DAYS,
    note: str = "",
) -> Prepared:
    """Prepare a run paying on ``pay_date``: the preview's payments, less the items another
    run holds, stored with their items and held. Refused when it would pay nothing."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    problems = _note_problems(note) + filter_problems(cost_centres, areas)
    if problems:
        raise ValidationFailed(problems)
    held = held_item_ids(conn, book_id)
    chosen = preview_run(
        conn,
        actor,
        book_id,
        pay_date,
        accounts=accounts_codes,
        methods=methods,
        party_ids=party_ids,
        cost_centres=cost_centres,
        areas=areas,
        bank_change_days=bank_change_days,
        skip_item_ids=held,
    )
    payments = chosen.payments
    if payments.height == 0:
        raise Conflict(
            f"nothing to pay on {pay_date.isoformat()}: no open payable item due by then is "
            "payable (see the preview for what is left out and why, and the runs that hold items)"
        )
    base = str(ledger.get_book(conn, book_id)["base_currency"])
    in_base = payments.filter(pl.col("currency") == base)
    others = sorted(set(payments["currency"].to_list()) - {base})
    now = utc_now_text()
    run_id = insert_id(
        conn,
        (
            insert(payment_runs).values(
                book_id=book_id,
                pay_date=pay_date,
                status=RunStatus.PREPARED.value,
                currency=base,
                total_minor=int(in_base["amount_minor"].sum() or 0),
                other_currencies=",".join(others),
                payment_count=payments.height,
                item_count=int(payments["item_count"].sum()),
                accounts=",".join(accounts_codes),
                methods=",".join(sorted(methods or ())),
                cost_centres=",".join(sorted(cost_centres or ())),
                areas=",".join(sorted(areas or ())),
                prepared_by=actor.username,
                prepared_at=now,
                note=note,
                version=1,
            )
        ),
    )
    _store_payments(conn, book_id, run_id, payments, chosen.included)
    run = _run(_run_row(conn, book_id, run_id))
    audit.record(
        conn,
        actor,
        "payments.run.prepare",
        "payment_run",
        run_id,
        None,
        {
            "pay_date": pay_date.isoformat(),
            "payments": run.payment_count,
            "items": run.item_count,
            "total_minor": run.total_minor,
            "currency": base,
            "other_currencies": list(others),
            "excluded": chosen.excluded.height,
        },
        book_id,
    )
    return Prepared(run, chosen.excluded, len(held))


def _store_payments(
    conn: Connection, book_id: int, run_id: int, payments: pl.DataFrame, included: pl.DataFrame
) -> None:
    """The payments, then their items (with the open amount and reference the selection
    read, ``included``) and the items' holds, in bulk, from frames."""
    stored = payments.select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(book_id).alias("book_id"),
        "payment_key",
        "party_id",
        "currency",
        "bank_account_id",
        "method",
        "amount_minor",
        pl.lit(PaymentStatus.IN_RUN.value).alias("status"),
        pl.format(
            "R{}-{}", pl.lit(run_id), pl.int_range(1, pl.len() + 1).cast(pl.Utf8).str.zfill(6)
        ).alias("reference"),
        pl.lit("").alias("return_code"),
        pl.lit("").alias("return_detail"),
    )
    bulk.insert_frame(conn, run_payments, stored)
    rp = run_payments.c
    ids = pl.DataFrame(
        conn.execute(select(rp.payment_key, rp.id).where(rp.run_id == run_id)).all(),
        schema={"payment_key": pl.Utf8, "payment_id": pl.Int64},
        orient="row",
    )
    items = (
        included.join(ids, on="payment_key", how="left")
        .select(
            pl.lit(run_id).alias("run_id"),
            "item_id",
            "payment_id",
            "open_minor",
            "doc_ref",
        )
        .sort("item_id")
    )
    bulk.insert_frame(conn, run_items, items)
    try:
        bulk.insert_frame(conn, held_items, items.select("item_id", "run_id"))
    except Exception as exc:  # the item's primary key: another run took it meanwhile
        if "held_items" in str(exc) or "UNIQUE" in str(exc).upper() or "duplicate" in str(exc):
            raise Conflict(
                "another run took some of these items while this one was prepared: prepare again"
            ) from None
        raise


def _sequence() -> pl.Expr:
    """1, 2, 3... down a frame, as text."""
    return pl.int_range(1, pl.len() + 1).cast(pl.Utf8)


# ---------------------------------------------------------------- transitions


def _move(
    conn: Connection,
    row: Any,
    version: int,
    expected: Iterable[RunStatus],
    **values: Any,
) -> None:
    """One conditional update: the run moves only from the version and states it was in."""
    pr = payment_runs.c
    states = [s.value for s in expected]
    if int(row.version) != version:
        raise Conflict(
            f"payment run {row.id} changed since it was read (version {version}, now "
            f"{row.version}, {row.status}): reload it"
        )
    if row.status not in states:
        raise Conflict(f"payment run {row.id} is {row.status}; this needs it {' or '.join(states)}")
    done = conn.execute(
        update(payment_runs)
        .where(and_(pr.id == row.id, pr.version == version, pr.status.in_(states)))
        .values(version=pr.version + 1, **values)
    )
    if done.rowcount != 1:
        raise Conflict(f"payment run {row.id} was changed by someone else just now: reload it")


def approve_run(
    conn: Connection, actor: Actor, book_id: int, run_id: int, *, version: int
) -> PaymentRun:
    """Approve a run: never the preparer's own; above the approver's limit (or in a currency
    that no limit covers) a second, different approver completes the approval."""
    require(actor, book_id, Permission.PAYMENT_APPROVE)
    row = _run_row(conn, book_id, run_id)
    if row.status != RunStatus.PREPARED.value:
        raise Conflict(f"payment run {run_id} is {row.status}: there is nothing to approve")
    if actor.username == row.prepared_by:
        raise Forbidden(f"{actor.username} prepared payment run {run_id} and may not approve it")
    now = utc_now_text()
    limit = limit_of(conn, actor, book_id)
    within = limit is None or (int(row.total_minor) <= limit and not row.other_currencies)
    if row.approved_by is None:
        values: dict[str, Any] = {"approved_by": actor.username, "approved_at": now}
        if within:
            values["status"] = RunStatus.APPROVED.value
        step = "approve" if within else "approve.first"
    else:
        if actor.username == row.approved_by:
            raise Forbidden(
                f"{actor.username} already approved payment run {run_id}: a second approver "
                "must be someone else"
            )
        if not within:
            raise Forbidden(
                f"payment run {run_id} is over {actor.username}'s approval limit as well: "
                "a second approver needs a limit that covers it"
            )
        values = {
            "second_approved_by": actor.username,
            "second_approved_at": now,
            "status": RunStatus.APPROVED.value,
        }
        step = "approve.second"
    _move(conn, row, version, [RunStatus.PREPARED], **values)
    after = _run(_run_row(conn, book_id, run_id))
    audit.record(
        conn,
        actor,
        f"payments.run.{step}",
        "payment_run",
        run_id,
        {"status": row.status, "version": int(row.version)},
        {"status": after.status.value, "limit_minor": limit, "total_minor": after.total_minor},
        book_id,
    )
    return after


def cancel_run(
    conn: Connection, actor: Actor, book_id: int, run_id: int, *, version: int, reason: str
) -> PaymentRun:
    """Cancel a run before release: its payments are cancelled and its items freed."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    problems = _note_problems(reason)
    if not reason.strip():
        problems.append(Problem("reason", "say why the run is cancelled", "required"))
    if problems:
        raise ValidationFailed(problems)
    row = _run_row(conn, book_id, run_id)
    _move(
        conn,
        row,
        version,
        [RunStatus.PREPARED, RunStatus.APPROVED],
        status=RunStatus.CANCELLED.value,
        cancelled_by=actor.username,
        cancelled_at=utc_now_text(),
        cancel_reason=reason.strip()[:NOTE_MAX],
    )
    conn.execute(delete(held_items).where(held_items.c.run_id == run_id))
    conn.execute(
        update(run_payments)
        .where(run_payments.c.run_id == run_id)
        .values(status=PaymentStatus.CANCELLED.value)
    )
    audit.record(
        conn,
        actor,
        "payments.run.cancel",
        "payment_run",
        run_id,
        {"status": row.status},
        {"status": RunStatus.CANCELLED.value, "reason": reason},
        book_id,
    )
    return _run(_run_row(conn, book_id, run_id))


def mark_sent(
    conn: Connection, actor: Actor, book_id: int, run_id: int, *, version: int
) -> PaymentRun:
    """Record that the run's files went to the bank."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    row = _run_row(conn, book_id, run_id)
    _move(
        conn,
        row,
        version,
        [RunStatus.RELEASED],
        status=RunStatus.SENT.value,
        sent_by=actor.username,
        sent_at=utc_now_text(),
    )
    audit.record(
        conn,
        actor,
        "payments.run.sent",
        "payment_run",
        run_id,
        {"status": row.status},
        {"status": RunStatus.SENT.value},
        book_id,
    )
    return _run(_run_row(conn, book_id, run_id))


# ---------------------------------------------------------------- release


def _poster(actor: Actor) -> Actor:
    """The run posts its own entries on the releasing person's authority (an approver may
    release without the right to post by hand); the audit trail names the person."""
    return Actor.system(actor.username)


@dataclass(frozen=True, slots=True)
class _Held:
    """An item a run holds, as its row in ``run_items`` says."""

    payment_id: int
    item_id: int
    doc_ref: str
    open_minor: int


def _held_of_run(conn: Connection, run_id: int) -> list[_Held]:
    """The run's items in item order, read once for the whole release (one statement)."""
    ri = run_items.c
    rows = conn.execute(
        select(ri.payment_id, ri.item_id, ri.doc_ref, ri.open_minor)
        .where(ri.run_id == run_id)
        .order_by(ri.item_id)
    )
    return [_Held(int(p), int(i), str(d), int(m)) for p, i, d, m in rows]


def _changed_since_approval(
    conn: Connection,
    book_id: int,
    run_id: int,
    payments: Sequence[Any],
    held: Sequence[_Held],
    facts: dict[int, open_items.ItemFacts],
) -> list[Problem]:
    """What moved under an approved run (``payments`` its rows): an item no longer open by
    the amount it holds, a payee's bank account replaced, a block set on a payee or an item."""
    ri, rp = run_items.c, run_payments.c
    problems: list[Problem] = []
    moved = [
        (r.item_id, r.doc_ref, r.open_minor, facts[r.item_id].open_minor)
        for r in held
        if r.item_id in facts and facts[r.item_id].open_minor != r.open_minor
    ][:20]
    for item, ref, then, now in moved:
        problems.append(
            Problem(
                f"item {item}",
                f"{ref}: {_amount(then)} was due at approval, {_amount(now)} is due now",
                "item_changed",
            )
        )
    paid_by_transfer = [p for p in payments if p.method != CHEQUE]
    active = parties.active_bank_account_ids(
        conn, book_id, [int(r.bank_account_id) for r in paid_by_transfer if r.bank_account_id]
    )
    replaced = [
        r.reference
        for r in paid_by_transfer
        if r.bank_account_id is None or int(r.bank_account_id) not in active
    ][:20]
    for ref in replaced:
        problems.append(
            Problem(f"payment {ref}", "the payee's bank account changed", "bank_changed")
        )
    # A payee who chose cheque since (or gave it up) is paid the other way now.
    by_cheque = cheques.cheque_payee_ids(conn, book_id, {int(r.party_id) for r in payments})
    for row in payments:
        if (str(row.method) == CHEQUE) != (int(row.party_id) in by_cheque) and len(problems) < 40:
            way = "by cheque" if int(row.party_id) in by_cheque else "by transfer"
            problems.append(
                Problem(
                    f"payment {row.reference}", f"the payee is paid {way} now", "method_changed"
                )
            )
    pb = payment_blocks.c
    blocked: list[Any] = list(
        conn.execute(
            select(rp.reference, pb.reason)
            .join(payment_blocks, pb.party_id == rp.party_id)
            .where(and_(rp.run_id == run_id, pb.book_id == book_id, pb.lifted_at.is_(None)))
            .limit(20)
        )
    )
    blocked += list(
        conn.execute(
            select(rp.reference, pb.reason)
            .join(run_items, ri.payment_id == rp.id)
            .join(payment_blocks, pb.open_item_id == ri.item_id)
            .where(and_(rp.run_id == run_id, pb.lifted_at.is_(None)))
            .limit(20)
        )
    )
    for ref, reason in blocked:
        problems.append(Problem(f"payment {ref}", f"blocked since approval: {reason}", "blocked"))
    return problems


def _amount(minor: Any) -> str:
    """An amount for a message: major units with two places (no currency is at hand)."""
    value = abs(int(minor))
    return f"{value // 100:,}.{value % 100:02d}"


def stamp_for(row: Any, fmt: registry.Scheme, method: str, currency: str, code: str) -> FileStamp:
    """The fields of one file of a run, derived from the run alone: the final approval time
    (created), the pay date moved to a banking day of the scheme's calendar, a file id
    modifier and a BACS serial from the run id, a SEPA message id naming book, run and file.

    >>> from types import SimpleNamespace
    >>> row = SimpleNamespace(id=40, pay_date=date(2026, 12, 5), approved_at="2026-12-04T09:30:00Z",
    ...                       second_approved_at=None)
    >>> s = stamp_for(row, registry.scheme("bacs18"), "bacs18", "GBP", "RIV")
    >>> s.value_date, s.serial, s.file_id_modifier, s.message_id, s.created.isoformat()
    (datetime.date(2026, 12, 7), '000040', 'E', 'RIV-R40-BACS18-GBP', '2026-12-04T09:30:00+00:00')
    """
    approved = str(row.second_approved_at or row.approved_at)
    created = datetime.strptime(approved[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    message = f"{code}-R{row.id}-{method.replace('.', '')}-{currency}".upper()
    message = "".join(ch for ch in message if ch.isalnum() or ch == "-")[:35]
    return FileStamp(
        created=created,
        value_date=value_date(_day(row.pay_date), fmt),
        file_id_modifier=_MODIFIERS[int(row.id) % len(_MODIFIERS)],
        serial=f"{int(row.id) % 10**6:06d}",
        message_id=message,
    )


def _format_of(method: str, originator: dict[str, Any]) -> registry.Scheme:
    if method == "pain.001":
        return registry.scheme(str(originator.get("version") or "pain.001.001.03"))
    return PAYMENT_SCHEMES[method]


def _lines_of(held: Iterable[_Held]) -> dict[int, list[RemittanceLine]]:
    """Each payment's remittance lines in item order (``held`` in item order)."""
    lines: dict[int, list[RemittanceLine]] = defaultdict(list)
    for r in held:
        lines[r.payment_id].append(RemittanceLine(str(r.item_id), r.doc_ref, -r.open_minor))
    return lines


@dataclass(frozen=True, slots=True)
class _FileInputs:
    """What the writer needs from the store for one file's payments: payee refs and names,
    and the sealed bank records by account (decrypted only by ``_file_rows``)."""

    names: dict[int, tuple[str, str]]
    ciphertexts: dict[int, bytes]


@dataclass(frozen=True, slots=True)
class _Written:
    sha256: str
    byte_count: int
    sealed: bytes


def _file_inputs(conn: Connection, book_id: int, payments: Sequence[Any]) -> _FileInputs:
    names = parties.party_names(conn, book_id, [int(p.party_id) for p in payments])
    account_ids = sorted({int(p.bank_account_id) for p in payments if p.bank_account_id})
    return _FileInputs(names, parties.bank_ciphertexts(conn, book_id, account_ids))


def _file_rows(
    vault: Vault,
    payments: Sequence[Any],
    inputs: _FileInputs,
    lines: dict[int, list[RemittanceLine]],
) -> list[FilePayment]:
    """The rows a writer needs: payee name, bank details (decrypted here, never stored out
    of the vault) and what each payment covers."""
    secrets = {
        account_id: vault.decrypt_json(ciphertext)
        for account_id, ciphertext in inputs.ciphertexts.items()
    }
    out = []
    for p in payments:
        ref, name = inputs.names.get(int(p.party_id), (str(p.party_id), str(p.party_id)))
        bank = secrets.get(int(p.bank_account_id or 0), {})
        out.append(
            FilePayment(
                payment_id=str(p.reference),
                payee_id=ref,
                payee_name=name,
                amount_minor=int(p.amount_minor),
                currency=str(p.currency),
                reference=str(p.reference),
                bank=_bank_fields(bank),
                lines=tuple(lines.get(int(p.id), ())),
            )
        )
    return out


def _sealed_file(
    vault: Vault,
    fmt: registry.Scheme,
    payments: Sequence[Any],
    inputs: _FileInputs,
    lines: dict[int, list[RemittanceLine]],
    table: Any,
    stamp: FileStamp,
) -> _Written:
    """One bank file written, its digest, and its bytes compressed and sealed (no store)."""
    data = _write_file(fmt, _file_rows(vault, payments, inputs, lines), table, stamp)
    return _Written(
        hashlib.sha256(data).hexdigest(), len(data), vault.seal(zlib.compress(data, _SEAL_LEVEL))
    )


def _file_payments(
    conn: Connection, vault: Vault, book_id: int, payments: Sequence[Any]
) -> list[FilePayment]:
    """A file's writer rows read and decrypted in one go (a file written again)."""
    lines = _read_lines(conn, [int(p.id) for p in payments])
    return _file_rows(vault, payments, _file_inputs(conn, book_id, payments), lines)


def _read_lines(conn: Connection, payment_ids: Sequence[int]) -> dict[int, list[RemittanceLine]]:
    lines: dict[int, list[RemittanceLine]] = defaultdict(list)
    ri = run_items.c
    for i in range(0, len(payment_ids), _BATCH):
        for payment_id, item_id, doc_ref, open_minor in conn.execute(
            select(ri.payment_id, ri.item_id, ri.doc_ref, ri.open_minor)
            .where(ri.payment_id.in_(payment_ids[i : i + _BATCH]))
            .order_by(ri.payment_id, ri.item_id)
        ):
            lines[int(payment_id)].append(
                RemittanceLine(str(item_id), str(doc_ref), -int(open_minor))
            )
    return lines


def _bank_fields(stored: dict[str, str]) -> dict[str, str]:
    """The writer's bank fields from a stored record (``BankDetails.as_record``), which the
    parties service normalised before sealing it (``normalise_bank_details``): not again
    here, 100,000 times in a release."""
    return {k: str(v) for k, v in stored.items() if k != "scheme"}


def _write_file(
    fmt: registry.Scheme, payments: Sequence[FilePayment], table: Any, stamp: FileStamp
) -> bytes:
    module = registry.module_of(fmt)
    extra = {"version": fmt.version} if fmt.version else {}
    data: bytes = module.write(payments, table, stamp, **extra)
    return data


def _filename(code: str, run_id: int, fmt: registry.Scheme, currency: str) -> str:
    ext = "xml" if fmt.format.startswith("pain") else "txt"
    return f"{code}-run{run_id}-{fmt.format}-{currency}.{ext}".lower()


def release_run(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, run_id: int, *, version: int
) -> PaymentRun:
    """Release an approved run: its bank files (one per method and currency, from the house
    account that pays it), recorded with their stamps and digests, and one entry per
    payment, payable -> payments in transit, settling the items it pays. All or nothing."""
    require(actor, book_id, Permission.PAYMENT_RELEASE)
    row = _run_row(conn, book_id, run_id)
    if actor.username == row.prepared_by:
        raise Forbidden(f"{actor.username} prepared payment run {run_id} and may not release it")
    now = utc_now_text()
    _move(
        conn,
        row,
        version,
        [RunStatus.APPROVED],
        status=RunStatus.RELEASED.value,
        released_by=actor.username,
        released_at=now,
    )
    held = _held_of_run(conn, run_id)
    facts = open_items.item_facts(conn, book_id, [r.item_id for r in held])
    rp = run_payments.c
    payments = conn.execute(select(run_payments).where(rp.run_id == run_id).order_by(rp.id)).all()
    problems = _changed_since_approval(conn, book_id, run_id, payments, held, facts)
    if problems:
        raise ValidationFailed(
            [
                Problem(
                    "run",
                    f"payment run {run_id} changed after approval: cancel it and prepare again",
                    "changed_after_approval",
                ),
                *problems,
            ]
        )
    chart = {a.code for a in ledger.list_accounts(conn, book_id)}
    if IN_TRANSIT_ACCOUNT not in chart:
        raise ValidationFailed(
            [
                Problem(
                    "account",
                    f"the book has no account {IN_TRANSIT_ACCOUNT} (payments in "
                    "transit) for released payments: open it first",
                    "no_in_transit_account",
                )
            ]
        )
    code = str(ledger.get_book(conn, book_id)["code"])
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for p in payments:
        groups[(str(p.method), str(p.currency))].append(p)
    fresh = _run_row(conn, book_id, run_id)
    lines = _lines_of(held)
    planned = []
    for (method, currency), members in sorted(groups.items()):
        if method == CHEQUE:
            continue  # cheques are printed from the register, not sent in a file
        account = house.house_account_for(conn, book_id, method, currency)
        table = house.originator_for(conn, actor, book_id, account.id, method)
        fmt = _format_of(method, table)
        stamp = stamp_for(fresh, fmt, method, currency, code)
        inputs = _file_inputs(conn, book_id, members)
        planned.append((method, currency, members, account, fmt, stamp, table, inputs))
    # Writing the files in a worker thread while this one posts was tried: it saved about
    # 1 s of a 22 s release on PostgreSQL and nothing on SQLite, so they are written here.
    files = [
        _sealed_file(vault, fmt, members, inputs, lines, table, stamp)
        for _m, _c, members, _a, fmt, stamp, table, inputs in planned
    ]
    cheques.number_cheques(conn, book_id, run_id)
    entry_ids = _post_release(conn, actor, book_id, run_id, payments, held, facts)
    file_of: dict[int, int] = {}
    for (method, currency, members, account, fmt, stamp, _t, _i), made in zip(
        planned, files, strict=True
    ):
        file_id = insert_id(
            conn,
            (
                insert(run_files).values(
                    run_id=run_id,
                    method=method,
                    format=fmt.format,
                    currency=currency,
                    house_account_id=account.id,
                    created=stamp.created.isoformat(),
                    value_date=stamp.value_date,
                    file_id_modifier=stamp.file_id_modifier,
                    serial=stamp.serial,
                    message_id=stamp.message_id,
                    payment_count=len(members),
                    total_minor=sum(int(p.amount_minor) for p in members),
                    sha256=made.sha256,
                    byte_count=made.byte_count,
                    filename=_filename(code, run_id, fmt, currency),
                    sealed=made.sealed,
                )
            ),
        )
        for p in members:
            file_of[int(p.id)] = file_id
    _mark_released(
        conn, [(int(p.id), entry_ids[int(p.id)], file_of.get(int(p.id))) for p in payments]
    )
    after = _run(_run_row(conn, book_id, run_id))
    audit.record(
        conn,
        actor,
        "payments.run.release",
        "payment_run",
        run_id,
        {"status": row.status},
        {
            "status": after.status.value,
            "payments": len(payments),
            "files": sorted(set(file_of.values())),
        },
        book_id,
    )
    return after


def _mark_released(conn: Connection, released: Sequence[tuple[int, int, int | None]]) -> None:
    """Payments (id, release entry, file) released: one UPDATE from arrays on PostgreSQL,
    one driver executemany on SQLite."""
    if is_postgres(conn):
        conn.exec_driver_sql(
            "UPDATE run_payments SET status = %s, release_entry_id = r.entry, file_id = r.file "
            "FROM unnest(%s::integer[], %s::integer[], %s::integer[]) AS r(id, entry, file) "
            "WHERE run_payments.id = r.id",
            (
                PaymentStatus.RELEASED.value,
                [r[0] for r in released],
                [r[1] for r in released],
                [r[2] for r in released],
            ),
        )
        return
    conn.exec_driver_sql(
        "UPDATE run_payments SET status = ?, release_entry_id = ?, file_id = ? WHERE id = ?",
        [(PaymentStatus.RELEASED.value, entry, file, pid) for pid, entry, file in released],
    )


def _post_release(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    payments: Sequence[Any],
    held: Sequence[_Held],
    facts: dict[int, open_items.ItemFacts],
) -> dict[int, int]:
    """One entry per payment on the first open day from today: the payable account(s)
    debited, settling the bills it pays, payments in transit credited. A payee's credit
    items in the payment are first set against its bills (one settlement). ``held`` are
    the run's items and ``facts`` what the ledger says of them (read once by the caller)."""
    by_payment: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    ordered = sorted(held, key=lambda r: (r.payment_id, facts[r.item_id].due_date, r.item_id))
    for r in ordered:
        by_payment[r.payment_id].append((r.item_id, facts[r.item_id].account_code, r.open_minor))
    poster = _poster(actor)
    day = ledger.first_open_date(conn, poster, book_id, ledger.book_today(conn, book_id))
    drafts = []
    for p in payments:
        payment_id, reference, currency = int(p.id), str(p.reference), str(p.currency)
        found = by_payment[payment_id]
        if len({code for _i, code, _m in found}) == 1 and all(m < 0 for _i, _c, m in found):
            # The usual payment: bills on one account, no credit to set against them.
            lines = [
                PostingDraft(
                    found[0][1],
                    -sum(m for _i, _c, m in found),
                    currency,
                    int(p.party_id),
                    reference,
                    settles=tuple(i for i, _c, _m in found),
                )
            ]
        else:
            lines = _payment_lines(conn, poster, p, found, day)
        lines.append(
            PostingDraft(IN_TRANSIT_ACCOUNT, -int(p.amount_minor), currency, None, reference)
        )
        drafts.append(
            EntryDraft(
                entry_date=day,
                description=f"Payment {reference} (run {run_id})",
                idempotency_key=f"payrun:{run_id}:release:{payment_id}",
                postings=tuple(lines),
                source_type="payment",
                source_id=str(payment_id),
            )
        )
    results = posting.post_entries(conn, poster, book_id, drafts)
    return {int(p.id): r.entry_id for p, r in zip(payments, results, strict=True)}


def _payment_lines(
    conn: Connection, poster: Actor, p: Any, found: Sequence[tuple[int, str, int]], day: date
) -> list[PostingDraft]:
    """A payment's debits per payable account when it has items on several, or credits:
    the payee's credits are first set against its bills there (one settlement each)."""
    per_account: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for item_id, code, open_minor in found:
        per_account[code].append((item_id, open_minor))
    lines = []
    for code, members in sorted(per_account.items()):
        net = -sum(m for _i, m in members)
        if any(m > 0 for _i, m in members):
            _net_credits(conn, poster, int(p.book_id), int(p.id), members, day)
        if net <= 0:
            raise Conflict(
                f"payment {p.reference}: the payee's credits on account {code} are more "
                "than its bills there; settle them by hand and prepare again"
            )
        bills = tuple(i for i, m in members if m < 0)
        lines.append(
            PostingDraft(
                code, net, str(p.currency), int(p.party_id), str(p.reference), settles=bills
            )
        )
    return lines


def _net_credits(
    conn: Connection,
    actor: Actor,
    book_id: int,
    payment_id: int,
    members: Sequence[tuple[int, int]],
    day: date,
) -> None:
    """Set a payee's credit items against its bills in one settlement, oldest bill first."""
    credit = sum(m for _i, m in members if m > 0)
    allocations = [(i, -m) for i, m in members if m > 0]
    left = credit
    for item_id, open_minor in members:
        if open_minor >= 0 or left == 0:
            continue
        take = min(left, -open_minor)
        allocations.append((item_id, take))
        left -= take
    if left:
        return  # more credit than bills: refused by the caller
    open_items.settle(
        conn,
        actor,
        book_id,
        allocations,
        settled_on=day,
        idempotency_key=f"payrun:net:{payment_id}",
        memo="credits set against bills in a payment",
    )


# ---------------------------------------------------------------- files


def list_files(conn: Connection, actor: Actor, book_id: int, run_id: int) -> list[RunFile]:
    require(actor, book_id, Permission.PAYMENT_READ)
    _run_row(conn, book_id, run_id)
    rf = run_files.c
    return [
        RunFile(
            id=int(r.id),
            run_id=int(r.run_id),
            method=str(r.method),
            format=str(r.format),
            currency=str(r.currency),
            house_account_id=None if r.house_account_id is None else int(r.house_account_id),
            created=str(r.created),
            value_date=_day(r.value_date),
            payment_count=int(r.payment_count),
            total_minor=int(r.total_minor),
            sha256=str(r.sha256),
            byte_count=int(r.byte_count),
            filename=str(r.filename),
        )
        for r in conn.execute(
            select(*(c for c in run_files.c if c.name != "sealed"))  # not the files' bytes
            .where(rf.run_id == run_id)
            .order_by(rf.id)
        )
    ]


def _written_again(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, stored: Any, found: RunFile
) -> bytes:
    """A file released before files were sealed, written again from the run and its stamp."""
    table = house.originator_for(conn, actor, book_id, int(stored.house_account_id), found.method)
    fmt = registry.scheme(found.format)
    stamp = FileStamp(
        created=datetime.fromisoformat(str(stored.created)),
        value_date=found.value_date,
        file_id_modifier=str(stored.file_id_modifier),
        serial=str(stored.serial),
        message_id=str(stored.message_id),
    )
    rp = run_payments.c
    members = conn.execute(
        select(run_payments).where(rp.file_id == int(stored.id)).order_by(rp.id)
    ).all()
    data = _write_file(fmt, _file_payments(conn, vault, book_id, members), table, stamp)
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise Conflict(
            f"file {found.filename} would not be the file released (its payees' details or the "
            "house account changed since): it is not given out again"
        )
    return data


def file_bytes(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, run_id: int, file_id: int
) -> tuple[RunFile, bytes]:
    """A released run's bank file: the bytes sealed at release, refused (Conflict) unless
    their digest is the one recorded then. A file released before files were sealed is
    written again from the run and its stamp, and refused if the bytes differ. Audited."""
    require(actor, book_id, Permission.PAYMENT_RELEASE)
    files = {f.id: f for f in list_files(conn, actor, book_id, run_id)}
    if file_id not in files:
        raise NotFound(f"no file {file_id} of payment run {run_id}")
    found = files[file_id]
    rf = run_files.c
    stored = conn.execute(select(run_files).where(rf.id == file_id)).one()
    if stored.sealed is not None:
        try:
            data = zlib.decompress(vault.unseal(bytes(stored.sealed)))
        except SecretUnreadable:
            raise Conflict(
                f"file {found.filename} was sealed with another key than this installation's "
                "(REMIT_SECRET_KEY): it cannot be given out"
            ) from None
        if hashlib.sha256(data).hexdigest() != found.sha256:
            raise Conflict(f"file {found.filename} is not the file released: it is not given out")
    else:
        data = _written_again(conn, actor, vault, book_id, stored, found)
    audit.record(
        conn,
        actor,
        "payments.run.file",
        "payment_run",
        run_id,
        None,
        {"file": found.filename, "sha256": found.sha256},
        book_id,
    )
    return found, data


# ---------------------------------------------------------------- outcomes


def _gl_of(conn: Connection, book_id: int, payment: Any) -> str:
    if payment.file_id is not None:
        account_id = conn.execute(
            select(run_files.c.house_account_id).where(run_files.c.id == payment.file_id)
        ).scalar()
        if account_id is None:
            raise NotFound(f"file {payment.file_id} has no house account")
        return house.get_house_account(
            conn, Actor.system(), book_id, int(account_id)
        ).gl_account_code
    for account in house.list_house_accounts(conn, Actor.system(), book_id):
        if account.currency == payment.currency and account.status.value == "active":
            return account.gl_account_code
    raise NotFound(f"the book has no active bank account in {payment.currency}")


def settle_payments(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    *,
    settled_on: date,
    payment_ids: Sequence[int] | None = None,
) -> int:
    """Record that the bank paid the run's released payments (all, or those named):
    payments in transit -> bank. Returns how many were settled; the run is settled when
    none of its payments is still in transit."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    row = _run_row(conn, book_id, run_id)
    if row.status not in (RunStatus.RELEASED.value, RunStatus.SENT.value):
        raise Conflict(f"payment run {run_id} is {row.status}; only a released run is settled")
    rp = run_payments.c
    query = select(run_payments).where(
        and_(rp.run_id == run_id, rp.status == PaymentStatus.RELEASED.value)
    )
    if payment_ids is not None:
        wanted = sorted(set(payment_ids))
        query = query.where(rp.id.in_(wanted))
    payments = conn.execute(query.order_by(rp.id)).all()
    if payment_ids is not None and len(payments) != len(set(payment_ids)):
        raise Conflict("some of those payments are not in transit in this run")
    poster = _poster(actor)
    _not_before_release(conn, book_id, payments, settled_on, "settled_on")
    day = ledger.first_open_date(conn, poster, book_id, settled_on)
    gl_cache: dict[tuple[Any, str], str] = {}
    drafts = []
    for p in payments:
        key = (p.file_id, str(p.currency))
        if key not in gl_cache:
            gl_cache[key] = _gl_of(conn, book_id, p)
        amount, currency = int(p.amount_minor), str(p.currency)
        drafts.append(
            EntryDraft(
                entry_date=day,
                description=f"Payment {p.reference} settled by the bank",
                idempotency_key=f"payrun:{run_id}:settle:{p.id}",
                postings=(
                    PostingDraft(IN_TRANSIT_ACCOUNT, amount, currency, None, str(p.reference)),
                    PostingDraft(gl_cache[key], -amount, currency, None, str(p.reference)),
                ),
                source_type="payment",
                source_id=str(p.id),
            )
        )
    results = posting.post_entries(conn, poster, book_id, drafts) if drafts else []
    if results:
        conn.execute(
            update(run_payments)
            .where(rp.id == bindparam("pid"))
            .values(
                status=PaymentStatus.SETTLED.value,
                settle_entry_id=bindparam("entry"),
                settled_on=day,
            ),
            [
                {"pid": int(p.id), "entry": r.entry_id}
                for p, r in zip(payments, results, strict=True)
            ],
        )
    _settle_run_if_done(conn, actor, book_id, run_id)
    audit.record(
        conn,
        actor,
        "payments.run.settle",
        "payment_run",
        run_id,
        None,
        {"payments": len(payments), "settled_on": day.isoformat()},
        book_id,
    )
    return len(payments)


def _not_before_release(
    conn: Connection, book_id: int, payments: Sequence[Any], day: date, name: str
) -> None:
    """Refuse a bank's date earlier than the day a payment was released (posted), or later
    than the book's today: the bank has not paid or returned anything tomorrow (a date in
    the future would also settle items ahead of every later run's release)."""
    today = ledger.book_today(conn, book_id)
    if day > today:
        raise ValidationFailed(
            [
                Problem(
                    name,
                    f"{day.isoformat()} is after today ({today.isoformat()}): give the date "
                    "the bank gave",
                    "future",
                )
            ]
        )
    entry_ids = sorted({int(p.release_entry_id) for p in payments if p.release_entry_id})
    if not entry_ids:
        return
    released = ledger.latest_entry_date(conn, book_id, entry_ids)
    if released is not None and _day(released) > day:
        raise ValidationFailed(
            [
                Problem(
                    name,
                    f"{day.isoformat()} is before the payment was released on "
                    f"{_day(released).isoformat()}",
                    "before_release",
                )
            ]
        )


def _settle_run_if_done(conn: Connection, actor: Actor, book_id: int, run_id: int) -> None:
    rp, pr = run_payments.c, payment_runs.c
    waiting = conn.execute(
        select(func.count()).where(
            and_(rp.run_id == run_id, rp.status == PaymentStatus.RELEASED.value)
        )
    ).scalar()
    if waiting:
        return
    conn.execute(
        update(payment_runs)
        .where(
            and_(
                pr.id == run_id,
                pr.status.in_([RunStatus.RELEASED.value, RunStatus.SENT.value]),
            )
        )
        .values(status=RunStatus.SETTLED.value, settled_at=utc_now_text(), version=pr.version + 1)
    )


def return_payment(
    conn: Connection,
    actor: Actor,
    book_id: int,
    payment_id: int,
    *,
    code: str,
    detail: str = "",
    returned_on: date,
    typed: bool = True,
) -> RunPayment:
    """A released or settled payment came back: its release entry is reversed (the items
    it paid are open again, and free for another run); when the bank had settled it, the
    money returns to the bank from payments in transit."""
    require(actor, book_id, Permission.PAYMENT_PREPARE)
    problems = _note_problems(detail)
    found = text_problem(code, "code", max_chars=8)
    problems += [found] if found is not None else []
    if not code.strip():
        problems.append(
            Problem("code", "a return needs its reason code (R01, ARUCS 0 ...)", "required")
        )
    elif typed and not RETURN_CODE.fullmatch(code.strip().upper()):
        problems.append(
            Problem(
                "code",
                f"{code.strip()!r} is not a bank's return reason: a NACHA R-code (R01 to R85), "
                "a BACS ARUCS code (one letter or digit, e.g. 0 or B) or an ISO 20022 reason "
                "(e.g. AC04)",
                "return_code",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    p = _payment_row(conn, book_id, payment_id)
    if p.status == PaymentStatus.RETURNED.value:
        return _payment(p)  # the same return told again
    if p.status not in (PaymentStatus.RELEASED.value, PaymentStatus.SETTLED.value):
        raise Conflict(f"payment {p.reference} is {p.status}: only a released payment returns")
    poster = _poster(actor)
    _not_before_release(conn, book_id, [p], returned_on, "returned_on")
    day = ledger.first_open_date(conn, poster, book_id, returned_on)
    reversal = posting.reverse(
        conn,
        poster,
        book_id,
        int(p.release_entry_id),
        f"payment {p.reference} returned ({code})",
        day,
    )
    if p.status == PaymentStatus.SETTLED.value:
        amount, currency = int(p.amount_minor), str(p.currency)
        posting.post(
            conn,
            poster,
            book_id,
            EntryDraft(
                entry_date=day,
                description=f"Payment {p.reference} returned by the bank ({code})",
                idempotency_key=f"payrun:{p.run_id}:return:{p.id}",
                postings=(
                    PostingDraft(
                        _gl_of(conn, book_id, p), amount, currency, None, str(p.reference)
                    ),
                    PostingDraft(IN_TRANSIT_ACCOUNT, -amount, currency, None, str(p.reference)),
                ),
                source_type="payment",
                source_id=str(p.id),
            ),
        )
    rp = run_payments.c
    conn.execute(
        update(run_payments)
        .where(rp.id == payment_id)
        .values(
            status=PaymentStatus.RETURNED.value,
            return_entry_id=reversal.entry_id,
            returned_on=day,
            return_code=code.strip().upper(),
            return_detail=detail,
        )
    )
    items = select(run_items.c.item_id).where(run_items.c.payment_id == payment_id)
    conn.execute(delete(held_items).where(held_items.c.item_id.in_(items)))
    _settle_run_if_done(conn, actor, book_id, int(p.run_id))
    audit.record(
        conn,
        actor,
        "payments.payment.return",
        "payment",
        payment_id,
        {"status": p.status},
        {"status": PaymentStatus.RETURNED.value, "code": code, "detail": detail},
        book_id,
    )
    return _payment(_payment_row(conn, book_id, payment_id))


def link_case(conn: Connection, book_id: int, payment_id: int, case_id: int) -> None:
    """Note on a payment the case opened for it (a return's case, by the bank's feedback in
    ``remit.payments.feedback``), so that the same return told again opens no second case."""
    _payment_row(conn, book_id, payment_id)
    conn.execute(
        update(run_payments).where(run_payments.c.id == payment_id).values(case_id=case_id)
    )


__all__ = [
    "APPROVAL_LIMIT_MINOR",
    "IN_TRANSIT_ACCOUNT",
    "Prepared",
    "approve_run",
    "cancel_run",
    "file_bytes",
    "get_payment",
    "get_run",
    "held_item_ids",
    "limit_of",
    "link_case",
    "list_files",
    "list_payments",
    "list_runs",
    "mark_sent",
    "payment_by_reference",
    "payment_items",
    "prepare_run",
    "preview",
    "release_run",
    "released_payments_of",
    "return_payment",
    "run_totals",
    "set_approval_limit",
    "settle_payments",
    "stamp_for",
]
