"""Posting to the ledger: the one path every entry takes, from one entry to a million.

``post_entries`` checks every draft (a fast pass that builds the rows as it goes; the
descriptive checks of ``rules`` run only when something is wrong, to say what and where),
answers replays with the entry already posted, refuses a key reused for other content, and
writes in bulk (COPY on PostgreSQL, executemany on SQLite): postings and entry rows (in the
order each database's guards expect), then the day totals, then one audit event and the
webhook events (one per entry, or one summary for a big batch).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, select, text

from remit import audit, bulk
from remit.access.model import Actor, Permission, require
from remit.db import is_postgres
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.events.service import BATCH_EVENT_LIMIT, emit, emit_many
from remit.ledger.entryfile import parse_entry_file
from remit.ledger.items import (
    ITEM_COLUMNS,
    MAX_COST_CENTRE,
    MAX_DOC_REF,
    PendingSettle,
    default_doc_ref,
    plan_settles,
    settle_posted,
    settle_reversal,
)
from remit.ledger.model import (
    Entry,
    EntryDraft,
    Period,
    PeriodStatus,
    Posting,
    PostingDraft,
    PostResult,
)
from remit.ledger.rules import (
    MAX_KEY_LENGTH,
    closed_period_for,
    entry_problems,
    fingerprint,
    reversal_of,
    texts_fit,
)
from remit.ledger.store import (
    account_daily_totals,
    accounts,
    journal_entries,
    open_items,
    periods,
    postings,
)
from remit.money import BALANCE_LIMIT_MINOR, CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR
from remit.parties.service import party_ids_for, party_ids_with_role, party_roles_of
from remit.text import DATE_MAX, DATE_MIN, date_problem, is_clean_line, text_problem

AUDIT_DETAIL_LIMIT = 10
POSTING_COLUMNS = (
    "entry_id",
    "line_no",
    "entry_lines",
    "account_id",
    "party_id",
    "currency",
    "amount_minor",
    "entry_date",
    "memo",
)
ENTRY_COLUMNS = (
    "id",
    "book_id",
    "entry_date",
    "line_count",
    "description",
    "idempotency_key",
    "fingerprint",
    "source_type",
    "source_id",
    "reverses_entry_id",
    "created_by",
    "created_at",
)


def accounts_by_code(conn: Connection, book_id: int) -> dict[str, Any]:
    """The book's chart of accounts by code (rows of ``accounts``)."""
    rows = conn.execute(select(accounts).where(accounts.c.book_id == book_id))
    return {r.code: r for r in rows}


def list_periods(conn: Connection, book_id: int) -> list[Period]:
    rows = conn.execute(
        select(periods).where(periods.c.book_id == book_id).order_by(periods.c.start_date)
    )
    return [Period(r.start_date, r.end_date, PeriodStatus(r.status)) for r in rows]


def post(conn: Connection, actor: Actor, book_id: int, draft: EntryDraft) -> PostResult:
    """Post one entry; a replay of its idempotency key returns the entry already posted."""
    return post_entries(conn, actor, book_id, [draft])[0]


def post_entries(
    conn: Connection,
    actor: Actor,
    book_id: int,
    drafts: Sequence[EntryDraft],
    labels: Sequence[str] | None = None,
) -> list[PostResult]:
    """Post many entries at once, all or nothing; results are in the order of the drafts.

    ``labels`` name each draft in problems (a file and line); by default "entry N (key)".
    """
    require(actor, book_id, Permission.LEDGER_POST)

    def fresh_label(i: int) -> str:
        if labels is not None:
            return labels[i]
        return f"entry {i + 1} ({drafts[i].idempotency_key})" if len(drafts) > 1 else ""

    prints = [fingerprint(d) for d in drafts]
    known = _existing_keys(conn, book_id, [d.idempotency_key for d in drafts])
    first_of_key: dict[str, int] = {}
    fresh: list[int] = []
    for i, draft in enumerate(drafts):
        key = draft.idempotency_key
        if key in known:
            prior: str | None = known[key][1]
        else:
            prior = prints[first_of_key[key]] if key in first_of_key else None
        if prior is not None and prior != prints[i]:
            raise Conflict(f"idempotency key {key!r} was already used for a different entry")
        if prior is None:
            first_of_key[key] = i
            fresh.append(i)
    new_drafts = [drafts[i] for i in fresh]
    ids = _allocate_entry_ids(conn, len(fresh))
    batch = _Batch.build(conn, book_id, new_drafts, ids)
    if batch.flagged:
        _raise_problems(conn, book_id, drafts, labels)
    if batch.settling:
        batch.plans = plan_settles(
            conn, book_id, _pending_settles(batch, new_drafts, [fresh_label(i) for i in fresh])
        )
    _write(conn, actor, book_id, new_drafts, ids, [prints[i] for i in fresh], batch)
    posted = {d.idempotency_key: entry_id for d, entry_id in zip(new_drafts, ids, strict=True)}
    posted.update({key: found[0] for key, found in known.items()})
    fresh_set = set(fresh)
    return [
        PostResult(posted[d.idempotency_key], d.idempotency_key, i not in fresh_set)
        for i, d in enumerate(drafts)
    ]


class _Batch:
    """The rows to write for a batch of new entries, checked on the way.

    The fast path: it checks what ``rules.entry_problems`` and ``_party_problems`` check, but
    only says *whether* something is wrong; ``_raise_problems`` then says what and where.
    """

    __slots__ = ("entries", "flagged", "items", "plans", "postings", "settling", "totals")

    def __init__(self) -> None:
        self.postings: list[tuple[Any, ...]] = []
        self.entries: list[tuple[int, date, int]] = []
        self.totals: dict[tuple[int, str, date], list[int]] = {}
        # Open items, as (account, party, currency, entry, line, date, due date, doc ref,
        # amount); ``settling``: (draft index, line no, index in ``items``) of the postings
        # with ``settles``, and ``plans`` their allocations (``items.plan_settles``).
        self.items: list[tuple[Any, ...]] = []
        self.settling: list[tuple[int, int, int]] = []
        self.plans: list[list[tuple[int, int]]] = []
        self.flagged = False

    @classmethod
    def build(
        cls, conn: Connection, book_id: int, drafts: Sequence[EntryDraft], ids: Sequence[int]
    ) -> _Batch:
        batch = cls()
        chart = {
            code: (int(r.id), bool(r.is_control), r.party_role, r.currency)
            for code, r in accounts_by_code(conn, book_id).items()
        }
        closed = ClosedDays(list_periods(conn, book_id))
        party_ids = {p.party_id for d in drafts for p in d.postings if p.party_id is not None}
        members = party_roles_of(conn, book_id, party_ids) if party_ids else {}
        # SQLite stores a Date as ISO text: make it once per entry, not once per posting.
        as_text = not is_postgres(conn)
        for n, (draft, entry_id) in enumerate(zip(drafts, ids, strict=True)):
            if not batch.add(draft, entry_id, chart, closed, members, as_text, n):
                batch.flagged = True
                break
        return batch

    def add(
        self,
        draft: EntryDraft,
        entry_id: int,
        chart: dict[str, Any],
        closed: ClosedDays,
        members: dict[str | None, set[int]],
        as_text: bool,
        index: int = 0,
    ) -> bool:
        """Add the entry's rows; False (and nothing added) when anything is wrong."""
        day, lines, count = draft.entry_date, draft.postings, len(draft.postings)
        if (
            count < 2
            or day in closed
            or not (0 < len(draft.idempotency_key) <= MAX_KEY_LENGTH)
            or not texts_fit(draft)
        ):
            return False
        stored_day = day.isoformat() if as_text else day
        sums: dict[str, int] = {}
        debits = 0
        rows: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        settling: list[tuple[int, int, int]] = []
        ref = ""
        no_party: set[int] = set()
        for line_no, p in enumerate(lines, start=1):
            account = chart.get(p.account)
            amount, currency, party = p.amount_minor, p.currency, p.party_id
            if (
                account is None
                or type(amount) is not int
                or amount == 0
                or currency not in CURRENCY_EXPONENTS
                or (account[3] is not None and currency != account[3])
                or (
                    party not in members.get(account[2], no_party)
                    if account[1]
                    else (
                        party is not None
                        or p.due_date is not None
                        or p.doc_ref != ""
                        or p.settles != ()
                        or p.cost_centre != ""
                    )
                )
            ):
                return False
            sums[currency] = sums.get(currency, 0) + amount
            if amount > 0:
                debits += amount
            rows.append(
                (entry_id, line_no, count, account[0], party, currency, amount, stored_day, p.memo)
            )
            if account[1]:
                # An item; the usual one (no open-item fields) is made here, the rest apart.
                if p.due_date is None and not p.doc_ref and not p.settles and not p.cost_centre:
                    ref = ref or default_doc_ref(
                        draft.source_type, draft.source_id, draft.idempotency_key
                    )
                    item = (account[0], party, currency, entry_id, line_no, stored_day)
                    items.append((*item, stored_day, ref, amount, ""))
                elif not self._add_item(
                    p,
                    draft,
                    account[0],
                    entry_id,
                    line_no,
                    stored_day,
                    as_text,
                    index,
                    items,
                    settling,
                ):
                    return False
        # Balanced per currency with debits of at most the bound: then no posting is past
        # the bound either way (rules.entry_problems also says which one is).
        if debits > MAX_AMOUNT_MINOR or any(sums.values()):
            return False
        self.postings += rows
        self.items += items
        self.settling += settling
        totals = self.totals
        for row in rows:
            key = (row[3], row[5], day)
            turnover = totals.get(key)
            if turnover is None:
                turnover = totals[key] = [0, 0]
            amount = row[6]
            if amount > 0:
                turnover[0] += amount
            else:
                turnover[1] -= amount
        self.entries.append((entry_id, day, count))
        return True

    def _add_item(
        self,
        p: PostingDraft,
        draft: EntryDraft,
        account_id: int,
        entry_id: int,
        line_no: int,
        stored_day: Any,
        as_text: bool,
        index: int,
        items: list[tuple[Any, ...]],
        settling: list[tuple[int, int, int]],
    ) -> bool:
        """The item of a posting with open-item fields; False when they are wrong."""
        item = _item_row(p, draft, account_id, entry_id, line_no, stored_day, as_text)
        if item is None:
            return False
        if p.settles:
            settling.append((index, line_no, len(self.items) + len(items)))
        items.append(item)
        return True


def _item_row(
    p: PostingDraft,
    draft: EntryDraft,
    account_id: int,
    entry_id: int,
    line_no: int,
    stored_day: Any,
    as_text: bool,
) -> tuple[Any, ...] | None:
    """The open item of a posting to a control account (see ``_Batch.items``); None when
    its due date, document reference or cost centre is wrong."""
    due = p.due_date
    doc_ref = p.doc_ref or default_doc_ref(
        draft.source_type, draft.source_id, draft.idempotency_key
    )
    if due is None:
        stored_due = stored_day
    elif type(due) is not date or not DATE_MIN <= due <= DATE_MAX:
        return None
    else:
        stored_due = due.isoformat() if as_text else due
    if len(doc_ref) > MAX_DOC_REF or not is_clean_line(doc_ref):
        return None
    if p.cost_centre and (len(p.cost_centre) > MAX_COST_CENTRE or not is_clean_line(p.cost_centre)):
        return None
    if p.settles and not all(type(n) is int for n in p.settles):
        return None
    return (
        account_id,
        p.party_id,
        p.currency,
        entry_id,
        line_no,
        stored_day,
        stored_due,
        doc_ref,
        p.amount_minor,
        p.cost_centre,
    )


class ClosedDays:
    """The days of a book's closed periods, as the periods store them (date ranges, of any
    length): ``day in closed`` is one binary search over the merged ranges.

    >>> closed = ClosedDays([Period(date(2026, 1, 1), date(2026, 1, 31), PeriodStatus.CLOSED),
    ...                      Period(date(2026, 2, 1), date(2026, 2, 10), PeriodStatus.CLOSED),
    ...                      Period(date(2026, 3, 1), date(2026, 3, 31), PeriodStatus.OPEN)])
    >>> [date(2026, m, d) in closed for m, d in ((1, 1), (2, 10), (2, 11), (3, 5), (12, 31))]
    [True, True, False, False, False]
    """

    __slots__ = ("ends", "starts")

    def __init__(self, found: Iterable[Period]) -> None:
        merged: list[list[date]] = []
        ranges = sorted(
            (p.start_date, p.end_date) for p in found if p.status is PeriodStatus.CLOSED
        )
        for start, end in ranges:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        at = bisect.bisect_right(self.starts, day) - 1
        return at >= 0 and day <= self.ends[at]


def _raise_problems(
    conn: Connection, book_id: int, drafts: Sequence[EntryDraft], labels: Sequence[str] | None
) -> None:
    """Say every problem of every draft, and where; the fast path found one."""
    _check_drafts(conn, book_id, drafts, labels)
    # The two disagree: a bug of ours, not the user's input.
    raise RuntimeError("posting refused by the fast checks but no problem was described")


def _check_drafts(
    conn: Connection,
    book_id: int,
    drafts: Sequence[EntryDraft],
    labels: Sequence[str] | None = None,
) -> None:
    """Check every draft against the rules and the book; raise with every problem."""
    by_code = accounts_by_code(conn, book_id)
    closed = [p for p in list_periods(conn, book_id) if p.status is PeriodStatus.CLOSED]
    members: dict[str, set[int]] = {}
    problems: list[Problem] = []
    for n, draft in enumerate(drafts, start=1):
        if labels is not None:
            where = labels[n - 1]
        else:
            where = f"entry {n} ({draft.idempotency_key})" if len(drafts) > 1 else ""
        problems.extend(entry_problems(draft, where))
        period = closed_period_for(draft.entry_date, closed)
        if period is not None:
            problems.append(
                Problem(
                    "entry_date",
                    f"{draft.entry_date} falls in the closed "
                    f"period {period.start_date} to {period.end_date}",
                    "closed_period",
                    source=where,
                )
            )
        for k, posting in enumerate(draft.postings, start=1):
            account = by_code.get(posting.account)
            if account is None:
                problems.append(
                    Problem(
                        "account",
                        f"unknown account {posting.account!r}",
                        "unknown_account",
                        source=_at(where, k),
                    )
                )
                continue
            problems.extend(
                _party_problems(conn, book_id, account, posting, members, _at(where, k))
            )
            problems.extend(_item_field_problems(account, posting, _at(where, k)))

    if problems:
        raise ValidationFailed(problems)


def _item_field_problems(account: Any, posting: PostingDraft, where: str) -> list[Problem]:
    """What is wrong with a posting's open-item fields (only control accounts have items)."""
    if not account.is_control:
        if (
            posting.due_date is not None
            or posting.doc_ref
            or posting.settles
            or posting.cost_centre
        ):
            return [
                Problem(
                    "due_date"
                    if posting.due_date is not None
                    else "doc_ref"
                    if posting.doc_ref
                    else "settles"
                    if posting.settles
                    else "cost_centre",
                    f"account {account.code} is not a control account: it has no open items",
                    "item_fields_not_allowed",
                    source=where,
                )
            ]
        return []
    problems = []
    due = posting.due_date
    if due is not None:
        if type(due) is not date:
            problems.append(Problem("due_date", "must be a date", "date", source=where))
        elif (bad := date_problem(due, "due_date", source=where)) is not None:
            problems.append(bad)
    if bad := text_problem(posting.doc_ref, "doc_ref", max_chars=MAX_DOC_REF, source=where):
        problems.append(bad)
    if bad := text_problem(
        posting.cost_centre, "cost_centre", max_chars=MAX_COST_CENTRE, source=where
    ):
        problems.append(bad)
    if not all(type(n) is int for n in posting.settles):
        problems.append(
            Problem("settles", "names open items by their ids (integers)", "item_id", source=where)
        )
    return problems


def _pending_settles(
    batch: _Batch, drafts: Sequence[EntryDraft], labels: Sequence[str]
) -> list[PendingSettle]:
    """The new items that settle others, for ``items.plan_settles``."""
    pending = []
    for index, line_no, at in batch.settling:
        account_id, party, currency, _entry, _line, _day, _due, _ref, amount, _cc = batch.items[at]
        draft = drafts[index]
        pending.append(
            PendingSettle(
                _at(labels[index], line_no),
                account_id,
                party,
                currency,
                amount,
                draft.entry_date,
                tuple(draft.postings[line_no - 1].settles),
            )
        )
    return pending


def _at(where: str, posting: int) -> str:
    return f"{where}, posting {posting}" if where else f"posting {posting}"


def _party_problems(
    conn: Connection,
    book_id: int,
    account: Any,
    posting: PostingDraft,
    members: dict[str, set[int]],
    where: str,
) -> list[Problem]:
    if account.currency and posting.currency != account.currency:
        return [
            Problem(
                "currency",
                f"account {account.code} takes {account.currency} only",
                "account_currency",
                source=where,
            )
        ]
    if not account.is_control:
        if posting.party_id is not None:
            return [
                Problem(
                    "party",
                    f"account {account.code} has no party sub-ledger",
                    "party_not_allowed",
                    source=where,
                )
            ]
        return []
    if posting.party_id is None:
        return [
            Problem(
                "party",
                f"control account {account.code} needs a party",
                "party_required",
                source=where,
            )
        ]
    role = account.party_role
    if role not in members:
        members[role] = party_ids_with_role(conn, book_id, role)
    if posting.party_id not in members[role]:
        return [
            Problem(
                "party",
                f"party {posting.party_id} is not a {role} of this book",
                "party_role",
                source=where,
            )
        ]
    return []


# Planner switches that pin a lookup to its index (see _index_lookups).
_SCANS = ("enable_seqscan", "enable_bitmapscan")


def _existing_keys(
    conn: Connection, book_id: int, keys: Iterable[str]
) -> dict[str, tuple[int, str]]:
    unique = list(dict.fromkeys(keys))
    found: dict[str, tuple[int, str]] = {}
    je = journal_entries.c
    with _index_lookups(conn):
        rows = conn.execute(
            select(je.idempotency_key, je.id, je.fingerprint).where(
                and_(je.book_id == book_id, bulk.among(conn, je.idempotency_key, unique))
            )
        )
        found.update({r.idempotency_key: (int(r.id), r.fingerprint) for r in rows})
    return found


@contextmanager
def _index_lookups(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, make the key lookup use the unique index whatever the statistics say.

    After a bulk load, until autovacuum analyzes the table, the planner believes it is small
    and matches on ``book_id`` alone, reading every entry of the book for each chunk of keys
    (measured: most of the time of a 200,000-posting load).
    """
    if not is_postgres(conn):
        yield
        return
    for name in _SCANS:
        conn.exec_driver_sql(f"SET LOCAL {name} = off")
    try:
        yield
    finally:
        for name in _SCANS:
            conn.exec_driver_sql(f"SET LOCAL {name} TO DEFAULT")


def _allocate_entry_ids(conn: Connection, count: int) -> list[int]:
    if count == 0:
        return []
    if is_postgres(conn):
        rows = conn.execute(
            text("SELECT nextval('journal_entry_id_seq') FROM generate_series(1, :n)"), {"n": count}
        )
        return [int(r[0]) for r in rows]
    # SQLite: the write transaction began IMMEDIATE, so no other writer can interleave.
    top = conn.execute(select(func.coalesce(func.max(journal_entries.c.id), 0))).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def _write(
    conn: Connection,
    actor: Actor,
    book_id: int,
    drafts: Sequence[EntryDraft],
    ids: Sequence[int],
    prints: Sequence[str],
    batch: _Batch,
    reverses: int | None = None,
) -> None:
    """Postings and entry rows, then the day totals and one audit event."""
    if not drafts:
        return
    _check_turnover(conn, batch.totals)
    now = audit.utc_now_text()
    entry_rows = [
        (
            entry_id,
            book_id,
            day,
            count,
            d.description,
            d.idempotency_key,
            fp,
            d.source_type,
            d.source_id,
            reverses,
            actor.username,
            now,
        )
        for d, (entry_id, day, count), fp in zip(drafts, batch.entries, prints, strict=True)
    ]
    # The entry rows seal their postings on SQLite (inserted last, checked on insert); on
    # PostgreSQL postings must follow their entry row, and the check runs at commit.
    if is_postgres(conn):
        _bulk_insert(conn, "journal_entries", ENTRY_COLUMNS, entry_rows)
        _bulk_insert(conn, "postings", POSTING_COLUMNS, batch.postings)
    else:
        _bulk_insert(conn, "postings", POSTING_COLUMNS, batch.postings)
        _bulk_insert(conn, "journal_entries", ENTRY_COLUMNS, entry_rows)
    if batch.items:
        # A new item goes in already open by what its own settlement leaves (the amount
        # less what it settles), not updated after: 100,000 fewer row updates in a run.
        opened = [row[8] for row in batch.items]  # (..., amount, cost centre)
        for (_index, _line, at), plan in zip(batch.settling, batch.plans, strict=True):
            opened[at] -= sum(amount for _, amount in plan)
        _bulk_insert(
            conn,
            "open_items",
            ITEM_COLUMNS,
            [(book_id, *row, left, now) for row, left in zip(batch.items, opened, strict=True)],
        )
    if batch.plans:
        settle_posted(
            conn,
            actor.username,
            book_id,
            [
                (batch.items[at][3], line_no, drafts[index].entry_date, plan)
                for (index, line_no, at), plan in zip(batch.settling, batch.plans, strict=True)
            ],
        )
    _add_day_totals(conn, book_id, batch.totals)
    _audit_posting(conn, actor, book_id, drafts, ids, prints, len(batch.postings))
    _emit_posted(conn, book_id, drafts, ids, len(batch.postings), reverses)


def _emit_posted(
    conn: Connection,
    book_id: int,
    drafts: Sequence[EntryDraft],
    ids: Sequence[int],
    posting_count: int,
    reverses: int | None,
) -> None:
    """Webhook events of a posting call: one indexed read when the book has no webhooks."""
    if len(ids) > BATCH_EVENT_LIMIT:
        first, last = min(ids), max(ids)
        emit(
            conn,
            book_id,
            "entries.posted",
            "journal_entry_batch",
            f"{first}-{last}",
            {"entries": len(ids), "postings": posting_count, "first_id": first, "last_id": last},
        )
        return
    emit_many(
        conn,
        book_id,
        "entry.posted",
        "journal_entry",
        (
            (
                entry_id,
                {
                    "entry_id": entry_id,
                    "entry_date": d.entry_date.isoformat(),
                    "description": d.description,
                    "idempotency_key": d.idempotency_key,
                    "source_type": d.source_type,
                    "source_id": d.source_id,
                    "reverses_entry_id": reverses,
                    "postings": [
                        {
                            "account": p.account,
                            "amount_minor": p.amount_minor,
                            "currency": p.currency,
                            "party_id": p.party_id,
                            "memo": p.memo,
                        }
                        for p in d.postings
                    ],
                },
            )
            for d, entry_id in zip(drafts, ids, strict=True)
        ),
    )


# Namespace of the advisory locks on accounts that posting takes on PostgreSQL.
_TURNOVER_LOCKS = 0x72656D69
# Below this, writers check an account's turnover concurrently (under shared locks): 64 of
# them at once cannot overshoot BIGINT together. Past it (10^17 minor units, far beyond any
# organisation's books), posting to the account takes turns (an exclusive lock).
_SHARED_TURNOVER = BALANCE_LIMIT_MINOR // 64


def _check_turnover(conn: Connection, totals: dict[tuple[int, str, date], list[int]]) -> None:
    """Refuse a batch that would take an account's debits or credits in a currency (its
    day totals, so every balance and day total read from them) past what BIGINT holds.

    Exact arithmetic in Python, before anything is written, so no total ever wraps or turns
    into a float (SQLite). SQLite has one writer at a time. On PostgreSQL a writer reads the
    turnover under a shared lock on its accounts, and one that comes near the limit takes
    them exclusively and reads again (two such writers at once: PostgreSQL aborts one as a
    deadlock, which rolls it back).
    """
    added: dict[tuple[int, str], list[int]] = {}
    for (account_id, currency, _day), (debit, credit) in totals.items():
        both = added.setdefault((account_id, currency), [0, 0])
        both[0] += debit
        both[1] += credit
    account_ids = sorted({account_id for account_id, _ in added})
    postgres = is_postgres(conn)
    if postgres:
        _lock_accounts(conn, account_ids, "pg_advisory_xact_lock_shared")
    seen = _turnover(conn, account_ids)
    if postgres and _most_after(seen, added) > _SHARED_TURNOVER:
        _lock_accounts(conn, account_ids, "pg_advisory_xact_lock")
        seen = _turnover(conn, account_ids)
    over = [
        key
        for key, both in added.items()
        if max(seen.get(key, (0, 0))[side] + both[side] for side in (0, 1)) > BALANCE_LIMIT_MINOR
    ]
    if over:
        _refuse_turnover(conn, over)


def _most_after(seen: dict[tuple[int, str], tuple[int, int]], added: dict[Any, list[int]]) -> int:
    """The largest debit or credit turnover of any account after the batch."""
    return max(
        seen.get(key, (0, 0))[side] + both[side] for key, both in added.items() for side in (0, 1)
    )


def _lock_accounts(conn: Connection, account_ids: Sequence[int], lock: str) -> None:
    """Take ``lock`` (an advisory lock function) on each account, in id order."""
    conn.execute(
        text(f"SELECT {lock}(:space, id) FROM unnest(CAST(:ids AS integer[])) AS id ORDER BY id"),
        {"space": _TURNOVER_LOCKS, "ids": list(account_ids)},
    )


def _refuse_turnover(conn: Connection, over: Sequence[tuple[int, str]]) -> None:
    a = accounts.c
    found = conn.execute(select(a.id, a.code).where(a.id.in_({i for i, _ in over})))
    codes = {int(account_id): code for account_id, code in found}
    raise ValidationFailed(
        [
            Problem(
                "postings",
                f"account {codes.get(account_id, account_id)} would take more than "
                f"{BALANCE_LIMIT_MINOR:,} minor units of debits or credits in {currency}, "
                "the most its balance and day totals can hold",
                "balance_bound",
            )
            for account_id, currency in sorted(over)
        ]
    )


def _turnover(
    conn: Connection, account_ids: Sequence[int]
) -> dict[tuple[int, str], tuple[int, int]]:
    """All debits and all credits so far of these accounts, per currency."""
    t = account_daily_totals.c
    rows = conn.execute(
        select(t.account_id, t.currency, func.sum(t.debit_minor), func.sum(t.credit_minor))
        .where(t.account_id.in_(account_ids))
        .group_by(t.account_id, t.currency)
    )
    return {(int(a), str(c)): (int(d), int(k)) for a, c, d, k in rows}


def _add_day_totals(
    conn: Connection, book_id: int, totals: dict[tuple[int, str, date], list[int]]
) -> None:
    # Sorted, so that two writers on PostgreSQL lock the same rows in the same order.
    rows = [
        (account_id, currency, day, book_id, debit, credit)
        for (account_id, currency, day), (debit, credit) in sorted(totals.items())
    ]
    marks = ", ".join([_mark(conn)] * 6)
    conn.exec_driver_sql(
        "INSERT INTO account_daily_totals (account_id, currency, entry_date, book_id, "
        f"debit_minor, credit_minor) VALUES ({marks}) "
        "ON CONFLICT (account_id, currency, entry_date) DO UPDATE SET "
        "debit_minor = account_daily_totals.debit_minor + excluded.debit_minor, "
        "credit_minor = account_daily_totals.credit_minor + excluded.credit_minor",
        rows,
    )


def _mark(conn: Connection) -> str:
    return "%s" if is_postgres(conn) else "?"


def _bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if is_postgres(conn):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(_mark(conn) for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))


def _audit_posting(
    conn: Connection,
    actor: Actor,
    book_id: int,
    drafts: Sequence[EntryDraft],
    ids: Sequence[int],
    prints: Sequence[str],
    posting_count: int,
) -> None:
    if len(drafts) <= AUDIT_DETAIL_LIMIT:
        audit.record_many(
            conn,
            actor,
            [
                ("ledger.post", "journal_entry", entry_id, None, _entry_summary(d, fp), book_id)
                for d, entry_id, fp in zip(drafts, ids, prints, strict=True)
            ],
        )
        return
    digest = hashlib.sha256("".join(prints).encode()).hexdigest()
    audit.record(
        conn,
        actor,
        "ledger.post_batch",
        "journal_entry_batch",
        f"{ids[0]}-{ids[-1]}",
        None,
        {
            "entries": len(ids),
            "postings": posting_count,
            "first_id": ids[0],
            "last_id": ids[-1],
            "fingerprints_sha256": digest,
        },
        book_id,
    )


def _entry_summary(draft: EntryDraft, fp: str) -> dict[str, Any]:
    return {
        "date": draft.entry_date.isoformat(),
        "description": draft.description,
        "idempotency_key": draft.idempotency_key,
        "fingerprint": fp,
        "postings": [[p.account, p.party_id, p.currency, p.amount_minor] for p in draft.postings],
    }


def post_entry_file(
    conn: Connection, actor: Actor, book_id: int, name: str, data: bytes
) -> list[PostResult]:
    """Post every entry of a CSV or JSON entry file, or nothing (see ``entryfile``)."""
    require(actor, book_id, Permission.LEDGER_POST)
    parsed = parse_entry_file(data, name)
    problems = list(parsed.problems)

    refs = party_ids_for(
        conn, book_id, (p.party_ref for e in parsed.entries for p in e.postings if p.party_ref)
    )
    drafts = []
    for item in parsed.entries:
        for posting in item.postings:
            if posting.party_ref and posting.party_ref not in refs:
                problems.append(
                    Problem(
                        "party",
                        f"no party {posting.party_ref!r} in this book",
                        "unknown_party",
                        source=item.where,
                    )
                )
        drafts.append(
            EntryDraft(
                item.entry_date,
                item.description,
                item.key,
                tuple(
                    PostingDraft(
                        p.account, p.amount_minor, p.currency, refs.get(p.party_ref), p.memo
                    )
                    for p in item.postings
                ),
                source_type="file",
                source_id=name[:100],
            )
        )
    labels = [f"{item.where} ({item.key})" for item in parsed.entries]
    if problems and not parsed.problems:
        # The file reads but names parties the book lacks: say what else is wrong with its
        # entries too (unknown accounts, imbalance, closed periods), not one kind at a time.
        # A posting without its unknown party would also be told it needs one: left out.
        try:
            _check_drafts(conn, book_id, drafts, labels)
        except ValidationFailed as refused:
            problems += [p for p in refused.problems if p.check != "party_required"]
    if problems:
        raise ValidationFailed(problems)
    if not drafts:
        raise ValidationFailed([Problem("file", "no entries in the file", "empty", source=name)])
    return post_entries(conn, actor, book_id, drafts, labels)


# ---------------------------------------------------------------- reading entries, reversing


def get_entry(conn: Connection, book_id: int, entry_id: int) -> Entry:
    je = journal_entries.c
    row = conn.execute(
        select(journal_entries).where(and_(je.id == entry_id, je.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no journal entry {entry_id} in this book")
    lines = conn.execute(
        select(
            accounts.c.code,
            postings.c.amount_minor,
            postings.c.currency,
            postings.c.party_id,
            postings.c.memo,
        )
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id == entry_id)
        .order_by(postings.c.line_no)
    )
    return Entry(
        int(row.id),
        int(row.book_id),
        row.entry_date,
        row.description,
        row.idempotency_key,
        row.fingerprint,
        row.source_type,
        row.source_id,
        row.reverses_entry_id,
        row.created_by,
        tuple(Posting(r.code, int(r.amount_minor), r.currency, r.party_id, r.memo) for r in lines),
    )


def reverse(
    conn: Connection,
    actor: Actor,
    book_id: int,
    entry_id: int,
    reason: str,
    entry_date: date | None = None,
) -> PostResult:
    """Post the entry that undoes ``entry_id``; an entry is reversed at most once."""
    require(actor, book_id, Permission.LEDGER_REVERSE)
    if not reason.strip():
        raise ValidationFailed([Problem("reason", "a reversal needs a reason", "required")])
    original = get_entry(conn, book_id, entry_id)
    if original.reverses_entry_id is not None:
        raise Conflict(f"entry {entry_id} is itself a reversal; post a new entry instead")
    # The reversal's items fall on the cost centres of the items they undo.
    oi = open_items.c
    centres = {
        int(line): str(centre)
        for line, centre in conn.execute(
            select(oi.line_no, oi.cost_centre).where(
                and_(oi.entry_id == entry_id, oi.cost_centre != "")
            )
        )
    }
    draft = EntryDraft(
        entry_date=entry_date or original.entry_date,
        description=f"Reversal of entry {entry_id}: {reason}"[:500],
        idempotency_key=f"reversal:{entry_id}",
        postings=reversal_of(
            PostingDraft(
                p.account_code,
                p.amount_minor,
                p.currency,
                p.party_id,
                p.memo,
                cost_centre=centres.get(n, ""),
            )
            for n, p in enumerate(original.postings, start=1)
        ),
        source_type="reversal",
        source_id=str(entry_id),
    )
    known = _existing_keys(conn, book_id, [draft.idempotency_key])
    if draft.idempotency_key in known:
        return PostResult(known[draft.idempotency_key][0], draft.idempotency_key, True)
    [new_id] = _allocate_entry_ids(conn, 1)
    batch = _Batch.build(conn, book_id, [draft], [new_id])
    if batch.flagged:
        _raise_problems(conn, book_id, [draft], None)
    _write(conn, actor, book_id, [draft], [new_id], [fingerprint(draft)], batch, reverses=entry_id)
    settle_reversal(conn, actor.username, book_id, entry_id, new_id, draft.entry_date)
    return PostResult(new_id, draft.idempotency_key, replayed=False)
