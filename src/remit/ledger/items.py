"""Open items of the control accounts, and the settlements that close them.

Every posting to a control account with a party is an item (``posting._write`` makes it in
the posting's transaction); a settlement allocates amounts among items of one account,
party and currency, summing to zero, so the open items of a party always sum to its
control-account balance, at any date. Payment runs read ``items_frame``; receipts and
payments settle with ``settle`` or a posting's ``settles=``.

Dates: a settlement is dated on or after the dates of its items and of every earlier
settlement of them. Then the open amount as of any day (items dated by then, settlements
dated by then) is a state the items really passed through: never past zero, never beyond
the amount.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)

from remit import audit, bulk
from remit.access.model import Actor, Permission, require
from remit.db import insert_id, is_postgres
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.ledger.model import OpenItem
from remit.ledger.store import accounts, item_allocations, journal_entries, settlements
from remit.ledger.store import open_items as item_table
from remit.text import DATE_MAX, DATE_MIN, is_clean_line

MAX_DOC_REF = 100
MAX_COST_CENTRE = 40
MAX_SETTLEMENT_MEMO = 200
MAX_SETTLEMENT_KEY = 200
ITEM_COLUMNS = (
    "book_id",
    "account_id",
    "party_id",
    "currency",
    "entry_id",
    "line_no",
    "item_date",
    "due_date",
    "doc_ref",
    "amount_minor",
    "cost_centre",
    "open_minor",
    "created_at",
)
FRAME_SCHEMA = {
    "item_id": pl.Int64,
    "party_id": pl.Int64,
    "account_code": pl.Utf8,
    "currency": pl.Utf8,
    "open_minor": pl.Int64,
    "due_date": pl.Date,
    "item_date": pl.Date,
    "doc_ref": pl.Utf8,
    "cost_centre": pl.Utf8,
    "source_type": pl.Utf8,
}


def default_doc_ref(source_type: str, source_id: str, idempotency_key: str) -> str:
    """An item's document reference when its posting names none.

    >>> default_doc_ref("care_run", "12", "care-run-12"), default_doc_ref("", "", "k-1")
    ('care_run:12', 'k-1')
    """
    ref = f"{source_type}:{source_id}" if source_type else idempotency_key
    return ref[:MAX_DOC_REF]


# ---------------------------------------------------------------- reading


def open_items(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    account: str | None = None,
    party_id: int | None = None,
    due_by: date | None = None,
    as_of: date | None = None,
    include_settled: bool = False,
) -> list[OpenItem]:
    """The book's open items (``include_settled``: all of them), oldest first.

    ``as_of``: open amounts as they stood at the end of that day (items dated by then,
    settlements dated by then).
    """
    require(actor, book_id, Permission.LEDGER_READ)
    i, a = item_table.c, accounts.c
    if as_of is None:
        open_amount: Any = i.open_minor
        query = select(item_table, a.code.label("account_code"), open_amount.label("open_now"))
    else:
        moved = _moved_by(book_id, as_of)
        open_amount = i.amount_minor + func.coalesce(moved.c.moved, 0)
        query = select(item_table, a.code.label("account_code"), open_amount.label("open_now"))
        query = query.outerjoin(moved, moved.c.item_id == i.id).where(i.item_date <= as_of)
    query = query.join(accounts, a.id == i.account_id).where(i.book_id == book_id)
    if account is not None:
        query = query.where(a.code == account)
    if party_id is not None:
        query = query.where(i.party_id == party_id)
    if due_by is not None:
        query = query.where(i.due_date <= due_by)
    if not include_settled:
        query = query.where(open_amount != 0)
    query = query.order_by(i.item_date, i.id)
    return [
        OpenItem(
            int(r.id),
            r.account_code,
            int(r.party_id),
            r.currency,
            int(r.entry_id),
            r.item_date,
            r.due_date,
            r.doc_ref,
            int(r.amount_minor),
            int(r.open_now),
        )
        for r in conn.execute(query)
    ]


def _moved_by(book_id: int, as_of: date) -> Any:
    """Per item, what settlements dated by ``as_of`` allocated to it."""
    x, s = item_allocations.c, settlements.c
    return (
        select(x.item_id, func.sum(x.amount_minor).label("moved"))
        .join(settlements, s.id == x.settlement_id)
        .where(and_(s.book_id == book_id, s.settled_on <= as_of))
        .group_by(x.item_id)
        .subquery()
    )


def party_open_total(
    conn: Connection, book_id: int, account: str, party_id: int, *, as_of: date | None = None
) -> dict[str, int]:
    """The sum of a party's open items on one account, per currency (its balance there)."""
    i, a = item_table.c, accounts.c
    if as_of is None:
        amount: Any = func.sum(i.open_minor)
        query = select(i.currency, amount.label("total"))
    else:
        moved = _moved_by(book_id, as_of)
        amount = func.sum(i.amount_minor + func.coalesce(moved.c.moved, 0))
        query = (
            select(i.currency, amount.label("total"))
            .outerjoin(moved, moved.c.item_id == i.id)
            .where(i.item_date <= as_of)
        )
    query = (
        query.join(accounts, a.id == i.account_id)
        .where(and_(i.book_id == book_id, a.code == account, i.party_id == party_id))
        .group_by(i.currency)
    )
    return {r.currency: int(r.total) for r in conn.execute(query) if int(r.total)}


def items_frame(
    conn: Connection, book_id: int, account_codes: Sequence[str], *, due_by: date
) -> pl.DataFrame:
    """The open items of these accounts due by a date, for a payment engine: one query
    on the due-date index, straight into a frame (no objects per row). ``source_type`` is
    that of the item's entry: the area of the book it came from (``care_run``, ...)."""
    query = text(
        "SELECT i.id, i.party_id, a.code, i.currency, i.open_minor, i.due_date, i.item_date,"
        " i.doc_ref, i.cost_centre, e.source_type FROM open_items i"
        " JOIN accounts a ON a.id = i.account_id JOIN journal_entries e ON e.id = i.entry_id"
        " WHERE i.book_id = :book AND a.book_id = :book AND a.code IN :codes"
        " AND i.due_date <= :due AND i.open_minor <> 0 ORDER BY i.due_date, i.id"
    ).bindparams(bindparam("codes", expanding=True))
    if not account_codes:
        return pl.DataFrame(schema=FRAME_SCHEMA)
    due: Any = due_by if is_postgres(conn) else due_by.isoformat()
    result = conn.execute(query, {"book": book_id, "codes": list(account_codes), "due": due})
    # The driver's own tuples, turned into columns: no row objects in between.
    columns = list(zip(*result.cursor.fetchall(), strict=False)) or [()] * len(FRAME_SCHEMA)
    result.close()
    if is_postgres(conn):
        return pl.DataFrame(dict(zip(FRAME_SCHEMA, columns, strict=True)), schema=FRAME_SCHEMA)
    # SQLite keeps dates as ISO text: parse the two columns at once.
    as_text = {name: (pl.Utf8 if kind == pl.Date else kind) for name, kind in FRAME_SCHEMA.items()}
    frame = pl.DataFrame(dict(zip(as_text, columns, strict=True)), schema=as_text)
    return frame.with_columns(
        pl.col("due_date").str.to_date("%Y-%m-%d"), pl.col("item_date").str.to_date("%Y-%m-%d")
    )


def open_item_tags(
    conn: Connection, book_id: int, account_codes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The cost centres and entry source types among the open items of these accounts
    (for a run's filters: what there is to choose from), each sorted, "" left out of the
    cost centres and kept among the source types (entries posted by hand)."""
    i, a, e = item_table.c, accounts.c, journal_entries.c
    rows = conn.execute(
        select(i.cost_centre, e.source_type)
        .distinct()
        .join(accounts, a.id == i.account_id)
        .join(journal_entries, e.id == i.entry_id)
        .where(
            and_(
                i.book_id == book_id,
                a.code.in_(list(account_codes)),
                i.open_minor != 0,
            )
        )
    ).all()
    centres = sorted({str(c) for c, _ in rows if c})
    sources = sorted({str(s or "") for _, s in rows})
    return centres, sources


# ---------------------------------------------------------------- settling


@dataclass(frozen=True, slots=True)
class _Item:
    id: int
    book_id: int
    account_id: int
    party_id: int
    currency: str
    item_date: date
    amount_minor: int
    open_minor: int


def _load_items(conn: Connection, item_ids: Iterable[int]) -> dict[int, _Item]:
    """The items, locked on PostgreSQL (their open amounts are about to change)."""
    wanted = sorted(set(item_ids))
    if not wanted:
        return {}
    i = item_table.c
    query = select(
        i.id,
        i.book_id,
        i.account_id,
        i.party_id,
        i.currency,
        i.item_date,
        i.amount_minor,
        i.open_minor,
    ).where(bulk.among(conn, i.id, wanted))
    if is_postgres(conn):
        query = query.order_by(i.id).with_for_update()  # the locks taken in one order
    return {
        int(item_id): _Item(
            int(item_id), int(book), int(account), int(party), currency, day, int(amount), int(o)
        )
        for item_id, book, account, party, currency, day, amount, o in conn.execute(query)
    }


def _last_settled(conn: Connection, item_ids: Iterable[int]) -> dict[int, date]:
    """The date of each item's latest settlement (items never settled are left out)."""
    wanted = sorted(set(item_ids))
    if not wanted:
        return {}
    x, s = item_allocations.c, settlements.c
    rows = conn.execute(
        select(x.item_id, func.max(s.settled_on))
        .join(settlements, s.id == x.settlement_id)
        .where(bulk.among(conn, x.item_id, wanted))
        .group_by(x.item_id)
    )
    return {int(item_id): day for item_id, day in rows}


def entry_item_states(
    conn: Connection, book_id: int, entry_ids: Iterable[int]
) -> dict[int, tuple[int, int, date | None]]:
    """For entries with one open item each (a child-month's payable): the item's amount,
    what is still open of it, and the date it was last settled (None: never)."""
    wanted = sorted(set(entry_ids))
    if not wanted:
        return {}
    i = item_table.c
    rows = conn.execute(
        select(i.id, i.entry_id, i.amount_minor, i.open_minor).where(
            and_(i.book_id == book_id, bulk.among(conn, i.entry_id, wanted))
        )
    ).all()
    last = _last_settled(conn, (int(r.id) for r in rows))
    return {
        int(r.entry_id): (int(r.amount_minor), int(r.open_minor), last.get(int(r.id))) for r in rows
    }


@dataclass(frozen=True, slots=True)
class PendingSettle:
    """A new item (of a posting being written) and the items its posting settles."""

    where: str
    account_id: int
    party_id: int
    currency: str
    amount_minor: int
    day: date
    settles: tuple[int, ...]


def plan_settles(
    conn: Connection, book_id: int, pending: Sequence[PendingSettle]
) -> list[list[tuple[int, int]]]:
    """For each new item, the allocations to the items it settles (the new item takes
    minus their sum); refuses, with every reason, before anything is written. Drafts of
    one batch see each other's allocations."""
    found = _load_items(conn, (n for p in pending for n in p.settles))
    opens = {item_id: item.open_minor for item_id, item in found.items()}
    last = _last_settled(conn, found)
    problems: list[Problem] = []
    plans: list[list[tuple[int, int]]] = []
    for p in pending:
        remaining = p.amount_minor
        plan: list[tuple[int, int]] = []
        if len(set(p.settles)) != len(p.settles):
            problems.append(_settles_problem(p.where, "names an item twice", "duplicate_item"))
        for item_id in p.settles:
            item = found.get(item_id)
            reason = _settle_refusal(item, p, opens, last)
            if reason is not None:
                problems.append(_settles_problem(p.where, f"item {item_id} {reason[0]}", reason[1]))
                continue
            if remaining == 0 or item is None:
                continue
            take = min(abs(remaining), abs(opens[item_id]))
            toward_zero = take if opens[item_id] < 0 else -take
            plan.append((item_id, toward_zero))
            opens[item_id] += toward_zero
            last[item_id] = p.day
            remaining -= toward_zero
        plans.append(plan)
    if problems:
        raise ValidationFailed(problems)
    return plans


def _settle_refusal(
    item: _Item | None, p: PendingSettle, opens: Mapping[int, int], last: Mapping[int, date]
) -> tuple[str, str] | None:
    if item is None:
        return "is not an open item of this book", "unknown_item"
    settled = last.get(item.id)
    checks = (
        (
            (item.account_id, item.party_id, item.currency)
            != (p.account_id, p.party_id, p.currency),
            ("is of another account, party or currency", "other_item"),
        ),
        (
            (item.amount_minor > 0) == (p.amount_minor > 0),
            ("has the same sign: it cannot settle it", "same_sign"),
        ),
        (opens[item.id] == 0, ("is already fully settled", "settled")),
        (item.item_date > p.day, (f"is dated {item.item_date}, after {p.day}", "before_item_date")),
        (
            settled is not None and settled > p.day,
            (f"was settled on {settled}, after {p.day}", "before_last_settlement"),
        ),
    )
    return next((reason for failed, reason in checks if failed), None)


def _settles_problem(where: str, message: str, check: str) -> Problem:
    return Problem("settles", message, check, source=where)


def write_settlement(
    conn: Connection,
    username: str,
    book_id: int,
    settled_on: date,
    key: str,
    print_: str,
    memo: str,
    allocations: Sequence[tuple[int, int]],
    reverses: int | None = None,
) -> int:
    """Write a checked settlement: its row, its allocations, the items' open amounts."""
    settlement_id = insert_id(
        conn,
        insert(settlements).values(
            book_id=book_id,
            settled_on=settled_on,
            idempotency_key=key,
            fingerprint=print_,
            memo=memo,
            reverses_settlement_id=reverses,
            created_by=username,
            created_at=audit.utc_now_text(),
        ),
    )
    conn.execute(
        insert(item_allocations),
        [
            {"settlement_id": settlement_id, "item_id": item_id, "amount_minor": amount}
            for item_id, amount in allocations
        ],
    )
    i = item_table.c
    conn.execute(
        update(item_table)
        .where(i.id == bindparam("item"))
        .values(open_minor=i.open_minor + bindparam("moved")),
        [{"item": item_id, "moved": amount} for item_id, amount in sorted(allocations)],
    )
    return settlement_id


def _print(*said: Any) -> str:
    return hashlib.sha256(json.dumps(said, separators=(",", ":")).encode()).hexdigest()


def settle_posted(
    conn: Connection,
    username: str,
    book_id: int,
    posted: Sequence[tuple[int, int, date, list[tuple[int, int]]]],
) -> None:
    """The settlements of new postings with ``settles=`` (entry, line, date, plan). The new
    items were inserted already open by what their settlement leaves (``posting._write``):
    only the items they settle are updated here."""
    if not posted:
        return
    new_ids = _item_ids(conn, [(entry_id, line_no) for entry_id, line_no, _, _ in posted])
    written: list[tuple[str, list[tuple[int, int]]]] = []
    rows = []
    now = audit.utc_now_text()
    for entry_id, line_no, day, plan in posted:
        if not plan:
            continue
        new_item = new_ids[(entry_id, line_no)]
        allocations = [*plan, (new_item, -sum(amount for _, amount in plan))]
        key = f"posting:{entry_id}:{line_no}"
        written.append((key, allocations))
        rows.append(
            {
                "book_id": book_id,
                "settled_on": day,
                "idempotency_key": key,
                "fingerprint": _print(key),
                "memo": "",
                "reverses_settlement_id": None,
                "created_by": username,
                "created_at": now,
            }
        )
    if not rows:
        return
    # One statement per table for the whole batch (a payment run settles 100,000 bills in
    # one post_entries call): the rows are those write_settlement writes one at a time.
    ids = _insert_settlements(conn, rows)
    allocated = [
        (ids[key], item_id, amount)
        for key, allocations in written
        for item_id, amount in allocations
    ]
    moved: dict[int, int] = {}
    for _key, allocations in written:
        for item_id, amount in allocations[:-1]:  # the last is the new item's own
            moved[item_id] = moved.get(item_id, 0) + amount
    changes = sorted(moved.items())
    # COPY (PostgreSQL) or one driver executemany (SQLite) a table, and one UPDATE from
    # arrays on PostgreSQL: an executemany through SQLAlchemy Core spent more time making
    # its parameters than SQLite spent writing 200,000 rows.
    bulk.insert_frame(
        conn,
        item_allocations,
        pl.DataFrame(
            allocated,
            schema={"settlement_id": pl.Int64, "item_id": pl.Int64, "amount_minor": pl.Int64},
            orient="row",
        ),
    )
    if is_postgres(conn):
        conn.exec_driver_sql(
            "UPDATE open_items SET open_minor = open_items.open_minor + m.moved "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS m(id, moved) WHERE open_items.id = m.id",
            ([c[0] for c in changes], [c[1] for c in changes]),
        )
        return
    conn.exec_driver_sql(
        "UPDATE open_items SET open_minor = open_minor + ? WHERE id = ?",
        [(amount, item_id) for item_id, amount in changes],
    )


def _insert_settlements(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert settlement rows and return their ids by idempotency key. The ids are taken
    first (PostgreSQL: from the sequence; SQLite: after the largest, the write transaction
    being IMMEDIATE so no other writer interleaves) and the rows written in bulk."""
    count = len(rows)
    if is_postgres(conn):
        ids = [
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('settlements', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        ]
        days: list[Any] = [r["settled_on"] for r in rows]
    else:
        top = int(conn.execute(select(func.coalesce(func.max(settlements.c.id), 0))).scalar_one())
        ids = list(range(top + 1, top + 1 + count))
        days = [r["settled_on"].isoformat() for r in rows]  # SQLite keeps a Date as ISO text
    frame = pl.DataFrame(
        {
            "id": ids,
            "book_id": [r["book_id"] for r in rows],
            "settled_on": days,
            "idempotency_key": [r["idempotency_key"] for r in rows],
            "fingerprint": [r["fingerprint"] for r in rows],
            "memo": [r["memo"] for r in rows],
            "reverses_settlement_id": pl.Series(
                [r["reverses_settlement_id"] for r in rows], dtype=pl.Int64
            ),
            "created_by": [r["created_by"] for r in rows],
            "created_at": [r["created_at"] for r in rows],
        },
        schema_overrides={"id": pl.Int64, "book_id": pl.Int64},
    )
    bulk.insert_frame(conn, settlements, frame)
    return {str(r["idempotency_key"]): i for r, i in zip(rows, ids, strict=True)}


def _item_ids(conn: Connection, postings: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
    i = item_table.c
    entry_ids = sorted({entry_id for entry_id, _ in postings})
    rows = conn.execute(
        select(i.id, i.entry_id, i.line_no).where(bulk.among(conn, i.entry_id, entry_ids))
    )
    return {(int(e), int(n)): int(item_id) for item_id, e, n in rows}


def settle_reversal(
    conn: Connection, username: str, book_id: int, original_id: int, reversal_id: int, on: date
) -> None:
    """Settle each item of a reversal against the item it reverses, as far as that one is
    still open (and may be settled on ``on``): an unsettled entry reversed leaves nothing
    open. What the reversed posting itself settled (its ``settles=``) is undone first, so
    reversing a payment re-opens the bills it paid. An item settled by a separate
    settlement stays settled (reverse that one first); the reversal's rest stays open."""
    i = item_table.c
    rows = conn.execute(
        select(i.id, i.entry_id, i.line_no).where(i.entry_id.in_([original_id, reversal_id]))
    ).all()
    by_line: dict[int, dict[int, int]] = {}
    for r in rows:
        by_line.setdefault(int(r.line_no), {})[int(r.entry_id)] = int(r.id)
    pairs = [
        (ids[original_id], ids[reversal_id], line_no)
        for line_no, ids in sorted(by_line.items())
        if original_id in ids and reversal_id in ids
    ]
    for _old, _new, line_no in pairs:
        _undo_posting_settlement(conn, username, book_id, original_id, reversal_id, line_no, on)
    found = _load_items(conn, (n for pair in pairs for n in pair[:2]))
    last = _last_settled(conn, (old for old, _, _ in pairs))
    for old, new, line_no in pairs:
        before, after = found[old], found[new]
        if before.open_minor == 0 or before.item_date > on or last.get(old, on) > on:
            continue
        take = min(abs(before.open_minor), abs(after.open_minor))
        toward_zero = take if before.open_minor < 0 else -take
        key = f"posting:{reversal_id}:{line_no}"
        write_settlement(
            conn,
            username,
            book_id,
            on,
            key,
            _print(key),
            f"reversal of entry {original_id}",
            [(old, toward_zero), (new, -toward_zero)],
        )


def _undo_posting_settlement(
    conn: Connection,
    username: str,
    book_id: int,
    original_id: int,
    reversal_id: int,
    line_no: int,
    on: date,
) -> None:
    """Reverse the settlement a posting made with ``settles=``, if any, not yet reversed,
    and datable on ``on``."""
    made = _settlement_by_key(conn, book_id, f"posting:{original_id}:{line_no}")
    s = settlements.c
    if (
        made is None
        or conn.execute(select(s.id).where(s.reverses_settlement_id == made.id)).first()
    ):
        return
    moved = _allocations_of(conn, int(made.id))
    _load_items(conn, (n for n, _ in moved))  # locks them
    if max(_last_settled(conn, (n for n, _ in moved)).values(), default=on) > on:
        return
    key = f"unsettle:{reversal_id}:{line_no}"
    write_settlement(
        conn,
        username,
        book_id,
        on,
        key,
        _print(key),
        f"reversal of entry {original_id}",
        [(item_id, -amount) for item_id, amount in moved],
        reverses=int(made.id),
    )


def _allocations_of(conn: Connection, settlement_id: int) -> list[tuple[int, int]]:
    x = item_allocations.c
    rows = conn.execute(select(x.item_id, x.amount_minor).where(x.settlement_id == settlement_id))
    return [(int(r.item_id), int(r.amount_minor)) for r in rows]


def settle(
    conn: Connection,
    actor: Actor,
    book_id: int,
    allocations: Sequence[tuple[int, int]],
    *,
    settled_on: date,
    idempotency_key: str,
    memo: str = "",
) -> int:
    """Allocate amounts among open items (item id, signed amount toward zero), summing to
    zero; a replay of the key with the same content answers the same settlement."""
    require(actor, book_id, Permission.LEDGER_POST)
    said = _print(settled_on.isoformat(), memo, sorted([int(n), int(a)] for n, a in allocations))
    prior = _settlement_by_key(conn, book_id, idempotency_key)
    if prior is not None:
        if prior.fingerprint != said:
            raise Conflict(
                f"idempotency key {idempotency_key!r} was already used for another settlement"
            )
        return int(prior.id)
    problems = _header_problems(idempotency_key, memo, settled_on)
    problems += _allocation_problems(conn, book_id, allocations, settled_on)
    if problems:
        raise ValidationFailed(problems)
    settlement_id = write_settlement(
        conn, actor.username, book_id, settled_on, idempotency_key, said, memo, allocations
    )
    audit.record(
        conn,
        actor,
        "ledger.settle",
        "settlement",
        settlement_id,
        None,
        {
            "settled_on": settled_on.isoformat(),
            "idempotency_key": idempotency_key,
            "allocations": [list(pair) for pair in allocations],
        },
        book_id,
    )
    return settlement_id


def _settlement_by_key(conn: Connection, book_id: int, key: str) -> Any:
    s = settlements.c
    return conn.execute(
        select(s.id, s.fingerprint, s.reverses_settlement_id).where(
            and_(s.book_id == book_id, s.idempotency_key == key)
        )
    ).first()


def _header_problems(key: str, memo: str, day: date) -> list[Problem]:
    problems = []
    if not (0 < len(key) <= MAX_SETTLEMENT_KEY) or not is_clean_line(key):
        problems.append(
            Problem(
                "idempotency_key",
                f"1 to {MAX_SETTLEMENT_KEY} characters on one line",
                "idempotency_key",
            )
        )
    if len(memo) > MAX_SETTLEMENT_MEMO or not is_clean_line(memo):
        problems.append(
            Problem("memo", f"at most {MAX_SETTLEMENT_MEMO} characters on one line", "length")
        )
    if not DATE_MIN <= day <= DATE_MAX:
        problems.append(
            Problem("settled_on", f"{day} is outside {DATE_MIN} to {DATE_MAX}", "date_range")
        )
    return problems


def _allocation_problems(
    conn: Connection, book_id: int, allocations: Sequence[tuple[int, int]], day: date
) -> list[Problem]:
    """Every reason the allocations cannot be a settlement on ``day``; line n is the n-th."""
    if len(allocations) < 2:
        return [Problem("allocations", "a settlement allocates to two items at least", "too_few")]
    found = _load_items(conn, (n for n, _ in allocations))
    last = _last_settled(conn, found)
    problems: list[Problem] = []
    seen: set[int] = set()
    for line, (item_id, amount) in enumerate(allocations, start=1):
        item = found.get(item_id)
        reason = _allocation_refusal(item, book_id, amount, day, last)
        if item_id in seen:
            reason = ("is named twice", "duplicate_item")
        seen.add(item_id)
        if reason is not None:
            problems.append(
                Problem("allocations", f"item {item_id} {reason[0]}", reason[1], line=line)
            )
    groups = {(i.account_id, i.party_id, i.currency) for i in found.values()}
    if len(groups) > 1:
        problems.append(
            Problem(
                "allocations",
                "the items are of more than one account, party or currency",
                "other_item",
            )
        )
    total = sum(amount for _, amount in allocations if type(amount) is int)
    if total != 0:
        problems.append(
            Problem(
                "allocations", f"the amounts sum to {total} minor units, not zero", "unbalanced"
            )
        )
    return problems


def _allocation_refusal(
    item: _Item | None, book_id: int, amount: int, day: date, last: Mapping[int, date]
) -> tuple[str, str] | None:
    if item is None or item.book_id != book_id:
        return "is not an open item of this book", "unknown_item"
    if type(amount) is not int or amount == 0:
        return "needs a whole, non-zero amount of minor units", "zero_amount"
    settled = last.get(item.id)
    checks = (
        (
            (amount > 0) == (item.amount_minor > 0),
            ("would move away from zero: the amount must be of the opposite sign", "same_sign"),
        ),
        (
            abs(amount) > abs(item.open_minor),
            (
                f"has {abs(item.open_minor)} minor units open, less than {abs(amount)}",
                "over_allocation",
            ),
        ),
        (item.item_date > day, (f"is dated {item.item_date}, after {day}", "before_item_date")),
        (
            settled is not None and settled > day,
            (f"was settled on {settled}, after {day}", "before_last_settlement"),
        ),
    )
    return next((reason for failed, reason in checks if failed), None)


def reverse_settlement(
    conn: Connection,
    actor: Actor,
    book_id: int,
    settlement_id: int,
    *,
    on: date,
    idempotency_key: str,
) -> int:
    """Undo a settlement (its items open again) on a date; a settlement is reversed once."""
    require(actor, book_id, Permission.LEDGER_REVERSE)
    said = _print("reversal", settlement_id, on.isoformat())
    prior = _settlement_by_key(conn, book_id, idempotency_key)
    if prior is not None:
        if prior.fingerprint != said:
            raise Conflict(
                f"idempotency key {idempotency_key!r} was already used for another settlement"
            )
        return int(prior.id)
    s = settlements.c
    original = conn.execute(
        select(settlements).where(and_(s.id == settlement_id, s.book_id == book_id))
    ).first()
    if original is None:
        raise NotFound(f"no settlement {settlement_id} in this book")
    if original.reverses_settlement_id is not None:
        raise Conflict(f"settlement {settlement_id} is itself a reversal; settle again instead")
    done = conn.execute(select(s.id).where(s.reverses_settlement_id == settlement_id)).first()
    if done is not None:
        raise Conflict(f"settlement {settlement_id} was already reversed by {done.id}")
    moved = _allocations_of(conn, settlement_id)
    problems = _header_problems(idempotency_key, "", on)
    _load_items(conn, (n for n, _ in moved))  # locks them
    latest = max(_last_settled(conn, (n for n, _ in moved)).values(), default=on)
    if latest > on:
        problems.append(
            Problem(
                "on",
                f"its items were settled on {latest}: a reversal is dated on or after that",
                "before_last_settlement",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    reversal_id = write_settlement(
        conn,
        actor.username,
        book_id,
        on,
        idempotency_key,
        said,
        f"reversal of settlement {settlement_id}",
        [(item_id, -amount) for item_id, amount in moved],
        reverses=settlement_id,
    )
    audit.record(
        conn,
        actor,
        "ledger.settlement_reverse",
        "settlement",
        reversal_id,
        None,
        {"reverses": settlement_id, "on": on.isoformat(), "idempotency_key": idempotency_key},
        book_id,
    )
    return reversal_id


def item_in_book(conn: Connection, book_id: int, item_id: int) -> bool:
    """Whether ``item_id`` is an open item (settled or not) of the book."""
    i = item_table.c
    found = conn.execute(select(i.id).where(and_(i.id == item_id, i.book_id == book_id)))
    return found.first() is not None


def match_open_items(
    conn: Connection, actor: Actor, book_id: int, account_codes: Sequence[str], *, key_prefix: str
) -> int:
    """Settle each party's opposite-sign open items with each other, oldest first, per
    account and currency (a payment posted without ``settles`` against the bills it paid;
    how the migration gave old balances their items). Each settlement is dated the later of
    its two items' dates and their last settlements, keyed ``key_prefix:<item>:<item>``;
    returns how many were made. One audit event for the whole match."""
    require(actor, book_id, Permission.LEDGER_POST)
    i, a = item_table.c, accounts.c
    rows = conn.execute(
        select(i.id, i.account_id, i.party_id, i.currency, i.item_date, i.open_minor)
        .join(accounts, a.id == i.account_id)
        .where(and_(i.book_id == book_id, a.code.in_(list(account_codes)), i.open_minor != 0))
        .order_by(i.account_id, i.party_id, i.currency, i.item_date, i.id)
    ).all()
    last = _last_settled(conn, (r.id for r in rows))
    groups: dict[tuple[int, int, str], tuple[list[list[Any]], list[list[Any]]]] = {}
    for r in rows:
        debits, credits = groups.setdefault((r.account_id, r.party_id, r.currency), ([], []))
        day = max(r.item_date, last.get(int(r.id), r.item_date))
        (debits if r.open_minor > 0 else credits).append([int(r.id), int(r.open_minor), day])
    made = 0
    for debits, credits in groups.values():
        while debits and credits:
            debit, credit = debits[0], credits[0]
            take = min(debit[1], -credit[1])
            day = max(debit[2], credit[2])
            pairs = [(debit[0], -take), (credit[0], take)]
            key = f"{key_prefix}:{debit[0]}:{credit[0]}"
            said = _print(day.isoformat(), "matched", sorted([n, m] for n, m in pairs))
            write_settlement(conn, actor.username, book_id, day, key, said, "matched", pairs)
            made += 1
            debit[1], credit[1] = debit[1] - take, credit[1] + take
            debit[2] = credit[2] = day
            if debit[1] == 0:
                debits.pop(0)
            if credit[1] == 0:
                credits.pop(0)
    if made:
        audit.record(
            conn,
            actor,
            "ledger.match_items",
            "book",
            book_id,
            None,
            {"accounts": list(account_codes), "settlements": made, "key_prefix": key_prefix},
            book_id,
        )
    return made


@dataclass(frozen=True)
class ItemFacts:
    """What a payment run needs to know of an item it holds, read without a lock."""

    item_id: int
    account_code: str
    currency: str
    item_date: date
    due_date: date
    doc_ref: str
    open_minor: int


def item_facts(conn: Connection, book_id: int, item_ids: Iterable[int]) -> dict[int, ItemFacts]:
    """The items of the book among ``item_ids`` (others are left out), with their control
    account's code, in one statement (``bulk.among``) however many."""
    i, a = item_table.c, accounts.c
    rows = conn.execute(
        select(i.id, a.code, i.currency, i.item_date, i.due_date, i.doc_ref, i.open_minor)
        .join(accounts, a.id == i.account_id)
        .where(and_(bulk.among(conn, i.id, sorted(set(item_ids))), i.book_id == book_id))
    )
    return {
        int(r.id): ItemFacts(
            int(r.id),
            str(r.code),
            str(r.currency),
            _as_date(r.item_date),
            _as_date(r.due_date),
            str(r.doc_ref),
            int(r.open_minor),
        )
        for r in rows
    }


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
