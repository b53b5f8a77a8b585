"""Use cases of the ledger. Each runs inside the caller's one transaction.

Posting lives in ``posting.py`` and is re-exported here: ``post``, ``post_entries``,
``post_entry_file``, ``reverse``, ``get_entry``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
    update,
)

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.calendar import calendar_problems, locale_of, locale_problems, normal_locale
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.ledger.model import (
    AccountSpec,
    AccountType,
    Balance,
    Period,
    PeriodStatus,
    StatementLine,
    TrialBalance,
    TrialBalanceRow,
)
from remit.ledger.posting import (
    accounts_by_code,
    get_entry,
    list_periods,
    post,
    post_entries,
    post_entry_file,
    reverse,
)
from remit.ledger.rules import month_bounds
from remit.ledger.store import (
    account_daily_totals,
    accounts,
    books,
    item_allocations,
    journal_entries,
    open_items,
    periods,
    postings,
)
from remit.money import CURRENCY_EXPONENTS
from remit.parties.model import IdentifierScheme
from remit.parties.rules import normalise_identifier, uk_vat_problems
from remit.text import DATE_MAX, DATE_MIN, text_problem

__all__ = ["get_entry", "list_periods", "post", "post_entries", "post_entry_file", "reverse"]


# ---------------------------------------------------------------- books and accounts


def create_book(
    conn: Connection,
    actor: Actor,
    code: str,
    name: str,
    base_currency: str,
    timezone: str = "UTC",
    calendar: str = "GB-ENG",
) -> int:
    """Open a new book; the system or an admin may do it.

    ``calendar`` names the holidays of its business days (see ``remit.calendar``).
    """
    if not actor.is_system:
        raise_forbidden_unless_admin(actor)
    problems = []
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        problems.append(Problem("code", "1 to 32 letters, digits, - or _", "book_code"))
    if base_currency not in CURRENCY_EXPONENTS:
        problems.append(Problem("base_currency", f"unknown currency {base_currency!r}", "currency"))
    problems += calendar_problems(calendar)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem("timezone", f"unknown time zone {timezone!r}", "timezone"))
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(select(books.c.id).where(books.c.code == code)).first():
        raise Conflict(f"a book with code {code!r} already exists")
    values = {
        "code": code,
        "name": name,
        "base_currency": base_currency,
        "timezone": timezone,
        "calendar": calendar,
        # no "locale": a new book writes dates in its currency's locale until a manager sets
        # one (calendar.book_locale), and a store not yet migrated to 0011 takes it as well
        "created_at": audit.utc_now_text(),
    }
    book_id = insert_id(conn, insert(books).values(**values))
    audit.record(conn, actor, "book.create", "book", book_id, None, values, book_id)
    return book_id


def raise_forbidden_unless_admin(actor: Actor) -> None:
    if not any(actor.can(book_id, Permission.BOOK_ADMIN) for book_id in actor.roles):
        raise Forbidden(f"{actor.username} may not create books (needs admin)")


def book_today(conn: Connection, book_id: int) -> date:
    """Today's date in the book's time zone (accounting dates and SLAs are local)."""
    return today_in(str(get_book(conn, book_id)["timezone"]))


def today_in(timezone: str) -> date:
    """Today's date in a time zone (a book's: ``book["timezone"]``)."""
    return datetime.now(ZoneInfo(timezone)).date()


def book_id_for(conn: Connection, code: str) -> int:
    row = conn.execute(select(books.c.id).where(books.c.code == code)).first()
    if row is None:
        raise NotFound(f"no book with code {code!r}")
    return int(row.id)


def get_book(conn: Connection, book_id: int) -> dict[str, Any]:
    row = conn.execute(select(books).where(books.c.id == book_id)).mappings().first()
    if row is None:
        raise NotFound(f"no book {book_id}")
    return _with_locale(dict(row))


def _with_locale(book: dict[str, Any]) -> dict[str, Any]:
    """The book with its locale: its own, else its currency's (a book no manager set)."""
    book["locale"] = book.get("locale") or locale_of(str(book["base_currency"]))
    return book


ADDRESS_MAX = 500
ADDRESS_LINES_MAX = 8


def set_book_details(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    address: str | None = None,
    vat_number: str | None = None,
) -> dict[str, Any]:
    """Set the book's postal address and VAT number (admin, audited); None keeps a value,
    "" clears it. Its documents (self-billed invoices) show both."""
    require(actor, book_id, Permission.BOOK_ADMIN)
    before = get_book(conn, book_id)
    values: dict[str, str | None] = {}
    problems: list[Problem] = []
    if address is not None:
        lines = [line.strip() for line in address.replace("\r\n", "\n").split("\n")]
        cleaned = "\n".join(line for line in lines if line)
        found = text_problem(cleaned, "address", max_chars=ADDRESS_MAX, multiline=True)
        if found is not None:
            problems.append(found)
        elif cleaned.count("\n") >= ADDRESS_LINES_MAX:
            problems.append(Problem("address", f"at most {ADDRESS_LINES_MAX} lines", "length"))
        values["address"] = cleaned or None
    if vat_number is not None:
        compact = normalise_identifier(IdentifierScheme.UK_VAT, vat_number) if vat_number else ""
        if compact:
            problems += uk_vat_problems(vat_number, "vat_number")
        values["vat_number"] = compact or None
    if problems:
        raise ValidationFailed(problems)
    changed = {k: v for k, v in values.items() if before.get(k) != v}
    if changed:
        conn.execute(update(books).where(books.c.id == book_id).values(**changed))
        audit.record(
            conn,
            actor,
            "book.details",
            "book",
            book_id,
            {k: before.get(k) for k in changed},
            changed,
            book_id,
        )
    return get_book(conn, book_id)


def set_book_locale(conn: Connection, actor: Actor, book_id: int, locale: str) -> dict[str, Any]:
    """Set the locale the book's dates are written in (``en-GB``, ``en-US``, ... of
    ``BOOK_LOCALES``): a manager's setting of how the book reads, audited; an unknown one
    is refused and nothing changes."""
    require(actor, book_id, Permission.ACCOUNTS_MANAGE)
    problems = locale_problems(locale)
    if problems:
        raise ValidationFailed(problems)
    chosen = normal_locale(locale)
    before = get_book(conn, book_id)
    if before.get("locale") != chosen:
        conn.execute(update(books).where(books.c.id == book_id).values(locale=chosen))
        audit.record(
            conn,
            actor,
            "book.locale",
            "book",
            book_id,
            {"locale": before.get("locale")},
            {"locale": chosen},
            book_id,
        )
    return get_book(conn, book_id)


def list_books(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(books).order_by(books.c.code)).mappings()
    return [_with_locale(dict(r)) for r in rows]


def open_accounts(
    conn: Connection, actor: Actor, book_id: int, specs: Sequence[AccountSpec]
) -> list[int]:
    """Add accounts to the book's chart; codes are unique per book."""
    require(actor, book_id, Permission.ACCOUNTS_MANAGE)
    existing = set(accounts_by_code(conn, book_id))
    problems = []
    for i, spec in enumerate(specs, start=1):
        if spec.code in existing:
            problems.append(
                Problem("code", f"account {spec.code} already exists", "duplicate_account", line=i)
            )
        if spec.is_control and not spec.party_role:
            problems.append(
                Problem(
                    "party_role",
                    "a control account names the party role of its sub-ledger",
                    "required",
                    line=i,
                )
            )
        if spec.currency and spec.currency not in CURRENCY_EXPONENTS:
            problems.append(
                Problem("currency", f"unknown currency {spec.currency!r}", "currency", line=i)
            )
        existing.add(spec.code)
    if problems:
        raise ValidationFailed(problems)
    rows = [
        {
            "book_id": book_id,
            "code": s.code,
            "name": s.name,
            "type": s.type.value,
            "is_control": s.is_control,
            "party_role": s.party_role,
            "currency": s.currency,
        }
        for s in specs
    ]
    ids = [insert_id(conn, insert(accounts).values(**row)) for row in rows]
    audit.record(
        conn,
        actor,
        "accounts.open",
        "book",
        book_id,
        None,
        {"accounts": [r["code"] for r in rows]},
        book_id,
    )
    return ids


def list_accounts(conn: Connection, book_id: int) -> list[AccountSpec]:
    rows = conn.execute(
        select(accounts).where(accounts.c.book_id == book_id).order_by(accounts.c.code)
    )
    return [
        AccountSpec(
            r.code, r.name, AccountType(r.type), bool(r.is_control), r.party_role, r.currency
        )
        for r in rows
    ]


# ---------------------------------------------------------------- balances


def balances(
    conn: Connection,
    actor: Actor,
    book_id: int,
    as_of: date | None = None,
    account: str | None = None,
    party_id: int | None = None,
    currency: str | None = None,
) -> list[Balance]:
    """Balances per account, party and currency, as of a date (inclusive)."""
    require(actor, book_id, Permission.LEDGER_READ)
    return _balances(conn, book_id, as_of, account, party_id, currency)


def _balances(
    conn: Connection,
    book_id: int,
    as_of: date | None = None,
    account: str | None = None,
    party_id: int | None = None,
    currency: str | None = None,
) -> list[Balance]:
    p, a = postings.c, accounts.c
    query = (
        select(a.code, p.party_id, p.currency, func.sum(p.amount_minor).label("total"))
        .join(accounts, a.id == p.account_id)
        .where(a.book_id == book_id)
        .group_by(a.code, p.party_id, p.currency)
        .order_by(a.code, p.party_id, p.currency)
    )
    if as_of is not None:
        query = query.where(p.entry_date <= as_of)
    if account is not None:
        query = query.where(a.code == account)
    if party_id is not None:
        query = query.where(p.party_id == party_id)
    if currency is not None:
        query = query.where(p.currency == currency)
    return [Balance(r.code, r.currency, int(r.total), r.party_id) for r in conn.execute(query)]


def party_balances(
    conn: Connection, actor: Actor, book_id: int, account: str, as_of: date | None = None
) -> dict[tuple[int, str], int]:
    """Every party's balance on one control account: {(party_id, currency): minor}."""
    return {
        (b.party_id, b.currency): b.balance_minor
        for b in balances(conn, actor, book_id, as_of=as_of, account=account)
        if b.party_id is not None
    }


def trial_balance(
    conn: Connection, actor: Actor, book_id: int, as_of: date | None = None
) -> TrialBalance:
    """Each account's net balance in the debit or credit column, per currency.

    Read from the day totals (a few rows per account and day), not from every posting.
    """
    require(actor, book_id, Permission.LEDGER_READ)
    t = account_daily_totals.c
    query = (
        select(t.account_id, t.currency, func.sum(t.debit_minor - t.credit_minor).label("total"))
        .where(t.book_id == book_id)
        .group_by(t.account_id, t.currency)
    )
    if as_of is not None:
        query = query.where(t.entry_date <= as_of)
    sums = conn.execute(query).all()
    chart = {r.id: r for r in conn.execute(select(accounts).where(accounts.c.book_id == book_id))}
    rows = []
    for account_id, currency, summed in sums:
        acct, total = chart[account_id], int(summed)
        rows.append(
            TrialBalanceRow(
                acct.code,
                acct.name,
                AccountType(acct.type),
                currency,
                max(total, 0),
                max(-total, 0),
            )
        )
    rows.sort(key=lambda r: (r.currency, r.account_code))
    return TrialBalance(str(get_book(conn, book_id)["code"]), as_of, tuple(rows))


# ---------------------------------------------------------------- periods


def first_open_date(conn: Connection, actor: Actor, book_id: int, on_or_after: date) -> date:
    """``on_or_after`` if its month is open, else the first day of the first open month
    after it: the date a late document (a supplementary self-bill) is posted on."""
    require(actor, book_id, Permission.LEDGER_READ)
    pc = periods.c
    closed = set(
        conn.execute(
            select(pc.start_date).where(
                and_(
                    pc.book_id == book_id,
                    pc.status == PeriodStatus.CLOSED.value,
                    pc.end_date >= on_or_after,
                )
            )
        ).scalars()
    )
    day = on_or_after
    while month_bounds(day.year, day.month)[0] in closed:
        _start, end = month_bounds(day.year, day.month)
        day = date.fromordinal(end.toordinal() + 1)
    return day


def close_period(conn: Connection, actor: Actor, book_id: int, year: int, month: int) -> Period:
    """Close a calendar month: it takes no more postings."""
    require(actor, book_id, Permission.PERIOD_CLOSE)
    return _set_period(conn, actor, book_id, year, month, PeriodStatus.CLOSED, "")


def reopen_period(
    conn: Connection, actor: Actor, book_id: int, year: int, month: int, reason: str
) -> Period:
    """Reopen a closed month; needs the manager role and a reason, and is audited."""
    require(actor, book_id, Permission.PERIOD_REOPEN)
    if not reason.strip():
        raise ValidationFailed([Problem("reason", "reopening a period needs a reason", "required")])
    return _set_period(conn, actor, book_id, year, month, PeriodStatus.OPEN, reason)


def _set_period(
    conn: Connection,
    actor: Actor,
    book_id: int,
    year: int,
    month: int,
    status: PeriodStatus,
    reason: str,
) -> Period:
    if not (DATE_MIN.year <= year <= DATE_MAX.year and 1 <= month <= 12):
        raise ValidationFailed(
            [Problem("month", f"a month from {DATE_MIN:%Y-%m} to {DATE_MAX:%Y-%m}", "date_range")]
        )
    start, end = month_bounds(year, month)
    pc = periods.c
    row = conn.execute(
        select(periods).where(and_(pc.book_id == book_id, pc.start_date == start))
    ).first()
    before = {"status": row.status} if row else {"status": PeriodStatus.OPEN.value}
    if before["status"] == status.value:
        raise Conflict(f"period {start:%Y-%m} is already {status.value}")
    values = {
        "status": status.value,
        "changed_at": audit.utc_now_text(),
        "changed_by": actor.username,
    }
    if row is None:
        conn.execute(
            insert(periods).values(book_id=book_id, start_date=start, end_date=end, **values)
        )
    else:
        conn.execute(update(periods).where(pc.id == row.id).values(**values))
    action = "period.close" if status is PeriodStatus.CLOSED else "period.reopen"
    audit.record(
        conn,
        actor,
        action,
        "period",
        f"{book_id}:{start:%Y-%m}",
        before,
        {"status": status.value, "reason": reason},
        book_id,
    )
    return Period(start, end, status)


# ---------------------------------------------------------------- integrity


def integrity_problems(conn: Connection, limit: int = 100) -> list[str]:
    """What should never be: entries that do not balance, postings without their entry, day
    totals that disagree with the postings, and open items that do not sum to their party's
    control-account balance or whose cached open amount disagrees with their allocations."""
    p, je, t = postings.c, journal_entries.c, account_daily_totals.c
    unbalanced = conn.execute(
        select(p.entry_id, p.currency)
        .group_by(p.entry_id, p.currency)
        .having(func.sum(p.amount_minor) != 0)
        .limit(limit)
    )
    found = [f"entry {r.entry_id} does not balance in {r.currency}" for r in unbalanced]
    orphans = conn.execute(
        select(p.entry_id)
        .distinct()
        .outerjoin(journal_entries, je.id == p.entry_id)
        .where(je.id.is_(None))
        .limit(limit)
    )
    found += [f"postings of entry {r.entry_id} have no entry row" for r in orphans]
    # Debits and credits summed apart: each fits BIGINT (see posting._check_turnover), their
    # sum, or a sum of absolute values, need not.
    from_postings = select(
        p.account_id,
        p.currency,
        p.entry_date,
        func.sum(case((p.amount_minor > 0, p.amount_minor), else_=0)).label("debit"),
        func.sum(case((p.amount_minor < 0, -p.amount_minor), else_=0)).label("credit"),
        literal(1).label("side"),
    ).group_by(p.account_id, p.currency, p.entry_date)
    from_totals = select(
        t.account_id,
        t.currency,
        t.entry_date,
        t.debit_minor.label("debit"),
        t.credit_minor.label("credit"),
        literal(2).label("side"),
    )
    both = union_all(from_postings, from_totals).subquery()
    mismatched = conn.execute(
        select(both.c.account_id, both.c.currency, both.c.entry_date)
        .group_by(
            both.c.account_id, both.c.currency, both.c.entry_date, both.c.debit, both.c.credit
        )
        .having(func.count() != 2)
        .limit(limit)
    )
    found += sorted(
        {
            f"day totals of account {r.account_id} {r.currency} on {r.entry_date} "
            "disagree with its postings"
            for r in mismatched
        }
    )
    return found + _item_problems(conn, limit)


def _item_problems(conn: Connection, limit: int) -> list[str]:
    p, a, i, x = postings.c, accounts.c, open_items.c, item_allocations.c
    # Postings count plus, items minus: every (account, party, currency) nets to zero. Each
    # side is summed apart (a balance fits BIGINT, see posting._check_turnover).
    from_postings = (
        select(p.account_id, p.party_id, p.currency, func.sum(p.amount_minor).label("total"))
        .join(accounts, a.id == p.account_id)
        .where(and_(a.is_control.is_(True), p.party_id.is_not(None)))
        .group_by(p.account_id, p.party_id, p.currency)
    )
    from_items = select(
        i.account_id, i.party_id, i.currency, func.sum(i.open_minor).label("total")
    ).group_by(i.account_id, i.party_id, i.currency)
    both = union_all(from_postings, from_items).subquery()
    differing = conn.execute(
        select(both.c.account_id, both.c.party_id, both.c.currency)
        .group_by(both.c.account_id, both.c.party_id, both.c.currency, both.c.total)
        .having(func.count() != 2)
        .limit(limit)
    )
    found = sorted(
        {
            f"open items of party {r.party_id} on account {r.account_id} in {r.currency} "
            "do not sum to its balance"
            for r in differing
        }
    )
    moved = (
        select(x.item_id, func.sum(x.amount_minor).label("moved")).group_by(x.item_id).subquery()
    )
    stale = conn.execute(
        select(i.id)
        .outerjoin(moved, moved.c.item_id == i.id)
        .where(i.open_minor != i.amount_minor + func.coalesce(moved.c.moved, 0))
        .limit(limit)
    )
    found += [f"open item {r.id}: its open amount disagrees with its allocations" for r in stale]
    return found


# ---------------------------------------------------------------- party statements


def party_activity(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    account: str | None = None,
    limit: int = 100,
    before: tuple[date, int, int] | None = None,
    portal: bool = False,
) -> list[StatementLine]:
    """A party's postings on its control accounts, newest first: its statement lines.

    ``before`` is the (date, entry id, line) of the previous page's last line. Staff need
    ``ledger.read``; a portal user (``portal=True``) may read only its own party's lines.
    """
    if portal:
        if actor.party_in(book_id) != party_id:
            raise Forbidden("a portal user sees only its own statement")
    else:
        require(actor, book_id, Permission.LEDGER_READ)
    p, a, je = postings.c, accounts.c, journal_entries.c
    query = (
        select(
            p.entry_date,
            p.entry_id,
            p.line_no,
            a.code,
            a.name,
            p.currency,
            p.amount_minor,
            je.description,
            je.source_type,
        )
        .join(accounts, a.id == p.account_id)
        .join(journal_entries, je.id == p.entry_id)
        .where(and_(p.party_id == party_id, a.book_id == book_id))
    )
    if account is not None:
        query = query.where(a.code == account)
    if before is not None:
        day, entry_id, line_no = before
        query = query.where(
            tuple_(p.entry_date, p.entry_id, p.line_no)
            < tuple_(literal(day), literal(entry_id), literal(line_no))
        )
    query = query.order_by(p.entry_date.desc(), p.entry_id.desc(), p.line_no.desc())
    return [
        StatementLine(
            r.entry_date,
            int(r.entry_id),
            int(r.line_no),
            r.code,
            r.name,
            r.currency,
            int(r.amount_minor),
            r.description,
            r.source_type,
        )
        for r in conn.execute(query.limit(limit))
    ]


def party_balances_by_account(
    conn: Connection, actor: Actor, book_id: int, party_id: int, portal: bool = False
) -> list[Balance]:
    """A party's balance on each control account and currency (its own, for a portal)."""
    if portal:
        if actor.party_in(book_id) != party_id:
            raise Forbidden("a portal user sees only its own balance")
    else:
        require(actor, book_id, Permission.LEDGER_READ)
    return _balances(conn, book_id, party_id=party_id)


def require_read(actor: Actor, book_id: int) -> None:
    require(actor, book_id, Permission.LEDGER_READ)


def entry_ids(
    conn: Connection, actor: Actor, book_id: int, before: int | None = None, limit: int = 50
) -> list[int]:
    """Ids of the book's journal entries, newest first (keyset: ``before`` an id)."""
    require(actor, book_id, Permission.LEDGER_READ)
    je = journal_entries.c
    query = select(je.id).where(je.book_id == book_id)
    if before is not None:
        query = query.where(je.id < before)
    return [int(i) for i in conn.execute(query.order_by(je.id.desc()).limit(limit)).scalars()]


def latest_entry_date(conn: Connection, book_id: int, ids: Sequence[int]) -> date | None:
    """The latest date of the book's entries among ``ids`` (None when there are none):
    a bank's date for a payment is checked against the day it was posted."""
    if not ids:
        return None
    je = journal_entries.c
    latest = conn.execute(
        select(func.max(je.entry_date)).where(and_(je.id.in_(list(ids)), je.book_id == book_id))
    ).scalar()
    if latest is None:
        return None
    return latest if isinstance(latest, date) else date.fromisoformat(str(latest))
