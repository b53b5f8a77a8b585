"""Use cases of the ledger. Each runs inside the caller's one transaction.

Posting goes through one path, ``post_entries``, for one entry or a million: every draft is
checked first (all problems reported together, nothing written), replays are answered with
the entry already posted, and the rest is written in bulk (COPY on PostgreSQL, executemany
on SQLite): postings first, then the entry rows that seal them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update

from remit.access.model import Actor, Permission, require
from remit.db import insert_id, is_postgres
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.ledger import audit
from remit.ledger.entryfile import parse_entry_file
from remit.ledger.model import (
    AccountSpec,
    AccountType,
    Balance,
    Entry,
    EntryDraft,
    Period,
    PeriodStatus,
    Posting,
    PostingDraft,
    PostResult,
    TrialBalance,
    TrialBalanceRow,
)
from remit.ledger.rules import (
    closed_period_for,
    entry_problems,
    fingerprint,
    month_bounds,
    reversal_of,
)
from remit.ledger.store import accounts, books, journal_entries, periods, postings
from remit.money import CURRENCY_EXPONENTS

KEY_LOOKUP_CHUNK = 500
AUDIT_DETAIL_LIMIT = 10
POSTING_COLUMNS = ("entry_id", "book_id", "account_id", "party_id", "currency", "amount_minor",
                   "entry_date", "memo")
ENTRY_COLUMNS = ("id", "book_id", "entry_date", "description", "idempotency_key", "fingerprint",
                 "source_type", "source_id", "reverses_entry_id", "created_by", "created_at")


# ---------------------------------------------------------------- books and accounts


def create_book(conn: Connection, actor: Actor, code: str, name: str, base_currency: str,
                timezone: str = "UTC") -> int:
    """Open a new book; the system or an admin may do it."""
    if not actor.is_system:
        raise_forbidden_unless_admin(actor)
    problems = []
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        problems.append(Problem("code", "1 to 32 letters, digits, - or _", "book_code"))
    if base_currency not in CURRENCY_EXPONENTS:
        problems.append(Problem("base_currency", f"unknown currency {base_currency!r}",
                                "currency"))
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(select(books.c.id).where(books.c.code == code)).first():
        raise Conflict(f"a book with code {code!r} already exists")
    values = {"code": code, "name": name, "base_currency": base_currency,
              "timezone": timezone, "created_at": audit.utc_now_text()}
    book_id = insert_id(conn, insert(books).values(**values))
    audit.record(conn, actor, "book.create", "book", book_id, None, values, book_id)
    return book_id


def raise_forbidden_unless_admin(actor: Actor) -> None:
    if not any(actor.can(book_id, Permission.BOOK_ADMIN) for book_id in actor.roles):
        raise Forbidden(f"{actor.username} may not create books (needs admin)")


def book_id_for(conn: Connection, code: str) -> int:
    row = conn.execute(select(books.c.id).where(books.c.code == code)).first()
    if row is None:
        raise NotFound(f"no book with code {code!r}")
    return int(row.id)


def get_book(conn: Connection, book_id: int) -> dict[str, Any]:
    row = conn.execute(select(books).where(books.c.id == book_id)).mappings().first()
    if row is None:
        raise NotFound(f"no book {book_id}")
    return dict(row)


def list_books(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(books).order_by(books.c.code)).mappings()]


def open_accounts(conn: Connection, actor: Actor, book_id: int,
                  specs: Sequence[AccountSpec]) -> list[int]:
    """Add accounts to the book's chart; codes are unique per book."""
    require(actor, book_id, Permission.ACCOUNTS_MANAGE)
    existing = set(_accounts_by_code(conn, book_id))
    problems = []
    for i, spec in enumerate(specs, start=1):
        if spec.code in existing:
            problems.append(Problem("code", f"account {spec.code} already exists",
                                    "duplicate_account", line=i))
        if spec.is_control and not spec.party_role:
            problems.append(Problem("party_role", "a control account names the party role of "
                                    "its sub-ledger", "required", line=i))
        if spec.currency and spec.currency not in CURRENCY_EXPONENTS:
            problems.append(Problem("currency", f"unknown currency {spec.currency!r}",
                                    "currency", line=i))
        existing.add(spec.code)
    if problems:
        raise ValidationFailed(problems)
    rows = [{"book_id": book_id, "code": s.code, "name": s.name, "type": s.type.value,
             "is_control": s.is_control, "party_role": s.party_role, "currency": s.currency}
            for s in specs]
    ids = [insert_id(conn, insert(accounts).values(**row))
           for row in rows]
    audit.record(conn, actor, "accounts.open", "book", book_id, None,
                 {"accounts": [r["code"] for r in rows]}, book_id)
    return ids


def list_accounts(conn: Connection, book_id: int) -> list[AccountSpec]:
    rows = conn.execute(select(accounts).where(accounts.c.book_id == book_id)
                        .order_by(accounts.c.code))
    return [AccountSpec(r.code, r.name, AccountType(r.type), bool(r.is_control), r.party_role,
                        r.currency) for r in rows]


def _accounts_by_code(conn: Connection, book_id: int) -> dict[str, Any]:
    rows = conn.execute(select(accounts).where(accounts.c.book_id == book_id))
    return {r.code: r for r in rows}


# ---------------------------------------------------------------- posting


def post(conn: Connection, actor: Actor, book_id: int, draft: EntryDraft) -> PostResult:
    """Post one entry; a replay of its idempotency key returns the entry already posted."""
    return post_entries(conn, actor, book_id, [draft])[0]


def post_entries(conn: Connection, actor: Actor, book_id: int, drafts: Sequence[EntryDraft],
                 labels: Sequence[str] | None = None) -> list[PostResult]:
    """Post many entries at once, all or nothing; results are in the order of the drafts.

    ``labels`` name each draft in problems (a file and line); by default "entry N (key)".
    """
    require(actor, book_id, Permission.LEDGER_POST)
    prints = [fingerprint(d) for d in drafts]
    resolved = _check_drafts(conn, book_id, drafts, labels)
    known = _existing_keys(conn, book_id, [d.idempotency_key for d in drafts])
    results: list[PostResult | None] = [None] * len(drafts)
    fresh: list[int] = []
    batch_keys: dict[str, tuple[int, str]] = {}
    for i, draft in enumerate(drafts):
        key = draft.idempotency_key
        prior = known.get(key) or batch_keys.get(key)
        if prior is not None:
            if prior[1] != prints[i]:
                raise Conflict(f"idempotency key {key!r} was already used for a different entry")
            results[i] = PostResult(prior[0], key, replayed=True)
            continue
        batch_keys[key] = (-1 - len(fresh), prints[i])
        fresh.append(i)
    ids = _allocate_entry_ids(conn, len(fresh))
    for entry_id, i in zip(ids, fresh, strict=True):
        results[i] = PostResult(entry_id, drafts[i].idempotency_key, replayed=False)
        batch_keys[drafts[i].idempotency_key] = (entry_id, prints[i])
    for i, result in enumerate(results):  # in-batch replays point at the new entry
        if result is not None and result.entry_id < 0:
            results[i] = PostResult(batch_keys[result.idempotency_key][0],
                                    result.idempotency_key, replayed=True)
    if fresh:
        _write(conn, actor, book_id, [drafts[i] for i in fresh], ids,
               [prints[i] for i in fresh], [resolved[i] for i in fresh])
    return [r for r in results if r is not None]


def _check_drafts(conn: Connection, book_id: int, drafts: Sequence[EntryDraft],
                  labels: Sequence[str] | None = None) -> list[list[tuple[int, int | None]]]:
    """Check every draft against the rules and the book; return resolved account ids."""
    by_code = _accounts_by_code(conn, book_id)
    closed = [p for p in list_periods(conn, book_id) if p.status is PeriodStatus.CLOSED]
    members: dict[str, set[int]] = {}
    problems: list[Problem] = []
    resolved: list[list[tuple[int, int | None]]] = []
    for n, draft in enumerate(drafts, start=1):
        if labels is not None:
            where = labels[n - 1]
        else:
            where = f"entry {n} ({draft.idempotency_key})" if len(drafts) > 1 else ""
        problems.extend(entry_problems(draft, where))
        period = closed_period_for(draft.entry_date, closed)
        if period is not None:
            problems.append(Problem("entry_date", f"{draft.entry_date} falls in the closed "
                                    f"period {period.start_date} to {period.end_date}",
                                    "closed_period", source=where))
        lines = []
        for k, posting in enumerate(draft.postings, start=1):
            account = by_code.get(posting.account)
            if account is None:
                problems.append(Problem("account", f"unknown account {posting.account!r}",
                                        "unknown_account", source=_at(where, k)))
                continue
            problems.extend(_party_problems(conn, book_id, account, posting, members,
                                            _at(where, k)))
            lines.append((int(account.id), posting.party_id))
        resolved.append(lines)
    if problems:
        raise ValidationFailed(problems)
    return resolved


def _at(where: str, posting: int) -> str:
    return f"{where}, posting {posting}" if where else f"posting {posting}"


def _party_problems(conn: Connection, book_id: int, account: Any, posting: PostingDraft,
                    members: dict[str, set[int]], where: str) -> list[Problem]:
    if account.currency and posting.currency != account.currency:
        return [Problem("currency", f"account {account.code} takes {account.currency} only",
                        "account_currency", source=where)]
    if not account.is_control:
        if posting.party_id is not None:
            return [Problem("party", f"account {account.code} has no party sub-ledger",
                            "party_not_allowed", source=where)]
        return []
    if posting.party_id is None:
        return [Problem("party", f"control account {account.code} needs a party",
                        "party_required", source=where)]
    role = account.party_role
    if role not in members:
        # The parties package posts and reads balances here, so it is imported late.
        from remit.parties.service import party_ids_with_role  # noqa: PLC0415

        members[role] = party_ids_with_role(conn, book_id, role)
    if posting.party_id not in members[role]:
        return [Problem("party", f"party {posting.party_id} is not a {role} of this book",
                        "party_role", source=where)]
    return []


def _existing_keys(conn: Connection, book_id: int,
                   keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    unique = list(dict.fromkeys(keys))
    found: dict[str, tuple[int, str]] = {}
    je = journal_entries.c
    for start in range(0, len(unique), KEY_LOOKUP_CHUNK):
        chunk = unique[start:start + KEY_LOOKUP_CHUNK]
        rows = conn.execute(select(je.idempotency_key, je.id, je.fingerprint).where(
            and_(je.book_id == book_id, je.idempotency_key.in_(chunk))))
        found.update({r.idempotency_key: (int(r.id), r.fingerprint) for r in rows})
    return found


def _allocate_entry_ids(conn: Connection, count: int) -> list[int]:
    if count == 0:
        return []
    if is_postgres(conn):
        rows = conn.execute(text("SELECT nextval('journal_entry_id_seq') "
                                 "FROM generate_series(1, :n)"), {"n": count})
        return [int(r[0]) for r in rows]
    # SQLite: the write transaction began IMMEDIATE, so no other writer can interleave.
    top = conn.execute(select(func.coalesce(func.max(journal_entries.c.id), 0))).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))


def _write(conn: Connection, actor: Actor, book_id: int, drafts: Sequence[EntryDraft],
           ids: Sequence[int], prints: Sequence[str],
           resolved: Sequence[list[tuple[int, int | None]]],
           reverses: int | None = None) -> None:
    now = audit.utc_now_text()
    posting_rows = [
        (entry_id, book_id, account_id, party_id, p.currency, p.amount_minor, d.entry_date,
         p.memo)
        for d, entry_id, lines in zip(drafts, ids, resolved, strict=True)
        for p, (account_id, party_id) in zip(d.postings, lines, strict=True)
    ]
    entry_rows = [
        (entry_id, book_id, d.entry_date, d.description, d.idempotency_key, fp, d.source_type,
         d.source_id, reverses, actor.username, now)
        for d, entry_id, fp in zip(drafts, ids, prints, strict=True)
    ]
    _bulk_insert(conn, "postings", POSTING_COLUMNS, posting_rows)
    _bulk_insert(conn, "journal_entries", ENTRY_COLUMNS, entry_rows)
    _audit_posting(conn, actor, book_id, drafts, ids, prints, len(posting_rows))


def _bulk_insert(conn: Connection, table: str, columns: Sequence[str],
                 rows: Sequence[tuple[Any, ...]]) -> None:
    if is_postgres(conn):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                         list(rows))


def _audit_posting(conn: Connection, actor: Actor, book_id: int, drafts: Sequence[EntryDraft],
                   ids: Sequence[int], prints: Sequence[str], posting_count: int) -> None:
    if len(drafts) <= AUDIT_DETAIL_LIMIT:
        audit.record_many(conn, actor, [
            ("ledger.post", "journal_entry", entry_id, None, _entry_summary(d, fp), book_id)
            for d, entry_id, fp in zip(drafts, ids, prints, strict=True)])
        return
    digest = hashlib.sha256("".join(prints).encode()).hexdigest()
    audit.record(conn, actor, "ledger.post_batch", "journal_entry_batch",
                 f"{ids[0]}-{ids[-1]}", None,
                 {"entries": len(ids), "postings": posting_count, "first_id": ids[0],
                  "last_id": ids[-1], "fingerprints_sha256": digest}, book_id)


def _entry_summary(draft: EntryDraft, fp: str) -> dict[str, Any]:
    return {"date": draft.entry_date.isoformat(), "description": draft.description,
            "idempotency_key": draft.idempotency_key, "fingerprint": fp,
            "postings": [[p.account, p.party_id, p.currency, p.amount_minor]
                         for p in draft.postings]}


def post_entry_file(conn: Connection, actor: Actor, book_id: int, name: str,
                    data: bytes) -> list[PostResult]:
    """Post every entry of a CSV or JSON entry file, or nothing (see ``entryfile``)."""
    require(actor, book_id, Permission.LEDGER_POST)
    parsed = parse_entry_file(data, name)
    problems = list(parsed.problems)
    # The parties package reads the ledger, so it is imported late (see _party_problems).
    from remit.parties.service import party_ids_for  # noqa: PLC0415

    refs = party_ids_for(conn, book_id, (p.party_ref for e in parsed.entries
                                         for p in e.postings if p.party_ref))
    drafts = []
    for item in parsed.entries:
        for posting in item.postings:
            if posting.party_ref and posting.party_ref not in refs:
                problems.append(Problem("party", f"no party {posting.party_ref!r} in this book",
                                        "unknown_party", source=item.where))
        drafts.append(EntryDraft(item.entry_date, item.description, item.key, tuple(
            PostingDraft(p.account, p.amount_minor, p.currency, refs.get(p.party_ref), p.memo)
            for p in item.postings), source_type="file", source_id=name[:100]))
    if problems:
        raise ValidationFailed(problems)
    if not drafts:
        raise ValidationFailed([Problem("file", "no entries in the file", "empty", source=name)])
    labels = [f"{item.where} ({item.key})" for item in parsed.entries]
    return post_entries(conn, actor, book_id, drafts, labels)


# ---------------------------------------------------------------- reading entries, reversing


def get_entry(conn: Connection, book_id: int, entry_id: int) -> Entry:
    je = journal_entries.c
    row = conn.execute(select(journal_entries).where(
        and_(je.id == entry_id, je.book_id == book_id))).first()
    if row is None:
        raise NotFound(f"no journal entry {entry_id} in this book")
    lines = conn.execute(
        select(accounts.c.code, postings.c.amount_minor, postings.c.currency,
               postings.c.party_id, postings.c.memo)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id == entry_id).order_by(postings.c.id))
    return Entry(int(row.id), int(row.book_id), row.entry_date, row.description,
                 row.idempotency_key, row.fingerprint, row.source_type, row.source_id,
                 row.reverses_entry_id, row.created_by,
                 tuple(Posting(r.code, int(r.amount_minor), r.currency, r.party_id, r.memo)
                       for r in lines))


def reverse(conn: Connection, actor: Actor, book_id: int, entry_id: int, reason: str,
            entry_date: date | None = None) -> PostResult:
    """Post the entry that undoes ``entry_id``; an entry is reversed at most once."""
    require(actor, book_id, Permission.LEDGER_REVERSE)
    if not reason.strip():
        raise ValidationFailed([Problem("reason", "a reversal needs a reason", "required")])
    original = get_entry(conn, book_id, entry_id)
    if original.reverses_entry_id is not None:
        raise Conflict(f"entry {entry_id} is itself a reversal; post a new entry instead")
    draft = EntryDraft(
        entry_date=entry_date or original.entry_date,
        description=f"Reversal of entry {entry_id}: {reason}"[:500],
        idempotency_key=f"reversal:{entry_id}",
        postings=reversal_of(PostingDraft(p.account_code, p.amount_minor, p.currency,
                                          p.party_id, p.memo) for p in original.postings),
        source_type="reversal", source_id=str(entry_id))
    known = _existing_keys(conn, book_id, [draft.idempotency_key])
    if draft.idempotency_key in known:
        return PostResult(known[draft.idempotency_key][0], draft.idempotency_key, True)
    resolved = _check_drafts(conn, book_id, [draft])
    [new_id] = _allocate_entry_ids(conn, 1)
    _write(conn, actor, book_id, [draft], [new_id], [fingerprint(draft)], resolved,
           reverses=entry_id)
    return PostResult(new_id, draft.idempotency_key, replayed=False)


# ---------------------------------------------------------------- balances


def balances(conn: Connection, actor: Actor, book_id: int, as_of: date | None = None,
             account: str | None = None, party_id: int | None = None,
             currency: str | None = None) -> list[Balance]:
    """Balances per account, party and currency, as of a date (inclusive)."""
    require(actor, book_id, Permission.LEDGER_READ)
    p, a = postings.c, accounts.c
    query = (select(a.code, p.party_id, p.currency, func.sum(p.amount_minor).label("total"))
             .join(accounts, a.id == p.account_id).where(p.book_id == book_id)
             .group_by(a.code, p.party_id, p.currency).order_by(a.code, p.party_id, p.currency))
    if as_of is not None:
        query = query.where(p.entry_date <= as_of)
    if account is not None:
        query = query.where(a.code == account)
    if party_id is not None:
        query = query.where(p.party_id == party_id)
    if currency is not None:
        query = query.where(p.currency == currency)
    return [Balance(r.code, r.currency, int(r.total), r.party_id) for r in conn.execute(query)]


def party_balances(conn: Connection, actor: Actor, book_id: int, account: str,
                   as_of: date | None = None) -> dict[tuple[int, str], int]:
    """Every party's balance on one control account: {(party_id, currency): minor}."""
    return {(b.party_id, b.currency): b.balance_minor
            for b in balances(conn, actor, book_id, as_of=as_of, account=account)
            if b.party_id is not None}


def trial_balance(conn: Connection, actor: Actor, book_id: int,
                  as_of: date | None = None) -> TrialBalance:
    """Each account's net balance in the debit or credit column, per currency."""
    require(actor, book_id, Permission.LEDGER_READ)
    p = postings.c
    query = (select(p.account_id, p.currency, func.sum(p.amount_minor).label("total"))
             .where(p.book_id == book_id).group_by(p.account_id, p.currency))
    if as_of is not None:
        query = query.where(p.entry_date <= as_of)
    sums = conn.execute(query).all()
    chart = {r.id: r for r in conn.execute(select(accounts).where(accounts.c.book_id == book_id))}
    rows = []
    for account_id, currency, summed in sums:
        acct, total = chart[account_id], int(summed)
        rows.append(TrialBalanceRow(acct.code, acct.name, AccountType(acct.type), currency,
                                    max(total, 0), max(-total, 0)))
    rows.sort(key=lambda r: (r.currency, r.account_code))
    return TrialBalance(str(get_book(conn, book_id)["code"]), as_of, tuple(rows))


# ---------------------------------------------------------------- periods


def list_periods(conn: Connection, book_id: int) -> list[Period]:
    rows = conn.execute(select(periods).where(periods.c.book_id == book_id)
                        .order_by(periods.c.start_date))
    return [Period(r.start_date, r.end_date, PeriodStatus(r.status)) for r in rows]


def close_period(conn: Connection, actor: Actor, book_id: int, year: int, month: int) -> Period:
    """Close a calendar month: it takes no more postings."""
    require(actor, book_id, Permission.PERIOD_CLOSE)
    return _set_period(conn, actor, book_id, year, month, PeriodStatus.CLOSED, "")


def reopen_period(conn: Connection, actor: Actor, book_id: int, year: int, month: int,
                  reason: str) -> Period:
    """Reopen a closed month; needs the manager role and a reason, and is audited."""
    require(actor, book_id, Permission.PERIOD_REOPEN)
    if not reason.strip():
        raise ValidationFailed([Problem("reason", "reopening a period needs a reason",
                                        "required")])
    return _set_period(conn, actor, book_id, year, month, PeriodStatus.OPEN, reason)


def _set_period(conn: Connection, actor: Actor, book_id: int, year: int, month: int,
                status: PeriodStatus, reason: str) -> Period:
    start, end = month_bounds(year, month)
    pc = periods.c
    row = conn.execute(select(periods).where(and_(pc.book_id == book_id,
                                                  pc.start_date == start))).first()
    before = {"status": row.status} if row else {"status": PeriodStatus.OPEN.value}
    if before["status"] == status.value:
        raise Conflict(f"period {start:%Y-%m} is already {status.value}")
    values = {"status": status.value, "changed_at": audit.utc_now_text(),
              "changed_by": actor.username}
    if row is None:
        conn.execute(insert(periods).values(book_id=book_id, start_date=start, end_date=end,
                                            **values))
    else:
        conn.execute(update(periods).where(pc.id == row.id).values(**values))
    action = "period.close" if status is PeriodStatus.CLOSED else "period.reopen"
    audit.record(conn, actor, action, "period", f"{book_id}:{start:%Y-%m}", before,
                 {"status": status.value, "reason": reason}, book_id)
    return Period(start, end, status)


# ---------------------------------------------------------------- integrity


def integrity_problems(conn: Connection) -> list[str]:
    """Entries that do not balance and postings without an entry (should never exist)."""
    p, je = postings.c, journal_entries.c
    unbalanced = conn.execute(select(p.entry_id, p.currency).group_by(p.entry_id, p.currency)
                              .having(func.sum(p.amount_minor) != 0).limit(100))
    found = [f"entry {r.entry_id} does not balance in {r.currency}" for r in unbalanced]
    orphans = conn.execute(select(p.entry_id).distinct().outerjoin(
        journal_entries, je.id == p.entry_id).where(je.id.is_(None)).limit(100))
    found += [f"postings of entry {r.entry_id} have no entry row" for r in orphans]
    return found
