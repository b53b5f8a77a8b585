"""Pure checks on journal entries, before anything touches the store.

>>> from datetime import date
>>> from remit.ledger.model import EntryDraft, PostingDraft
>>> good = EntryDraft(date(2026, 3, 1), "rent", "k1", (
...     PostingDraft("6000", 1000, "GBP"), PostingDraft("1000", -1000, "GBP")))
>>> entry_problems(good)
[]
>>> bad = EntryDraft(date(2026, 3, 1), "rent", "k2", (
...     PostingDraft("6000", 1000, "GBP"), PostingDraft("1000", -999, "GBP")))
>>> [p.check for p in entry_problems(bad)]
['unbalanced']
>>> huge = EntryDraft(date(2026, 3, 1), "rent", "k3", (
...     PostingDraft("6000", 10**15, "GBP"), PostingDraft("6001", 1, "GBP"),
...     PostingDraft("1000", -(10**15) - 1, "GBP")))
>>> [p.check for p in entry_problems(huge)]
['amount_bound', 'entry_bound']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date

from remit.errors import Problem
from remit.ledger.model import EntryDraft, Period, PeriodStatus, PostingDraft
from remit.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR, amount_problem
from remit.text import DATE_MAX, DATE_MIN, date_problem, is_clean_line, text_problem

MAX_KEY_LENGTH = 200
# The store's columns: what an entry's and a posting's text may hold (one line each).
TEXT_LIMITS = {"description": 500, "source_type": 50, "source_id": 100}
MAX_MEMO_LENGTH = 200


def entry_problems(draft: EntryDraft, where: str = "") -> list[Problem]:
    """Every reason the entry cannot be posted, independent of the store."""
    problems: list[Problem] = []
    add = problems.append
    if not draft.idempotency_key or len(draft.idempotency_key) > MAX_KEY_LENGTH:
        add(
            Problem(
                "idempotency_key",
                f"must be 1 to {MAX_KEY_LENGTH} characters",
                "idempotency_key",
                source=where,
            )
        )
    elif (
        bad := text_problem(
            draft.idempotency_key, "idempotency_key", max_chars=MAX_KEY_LENGTH, source=where
        )
    ) is not None:
        add(bad)
    for field, limit in TEXT_LIMITS.items():
        bad = text_problem(getattr(draft, field), field, max_chars=limit, source=where)
        if bad is not None:
            add(bad)
    if (bad := date_problem(draft.entry_date, "entry_date", source=where)) is not None:
        add(bad)
    if len(draft.postings) < 2:
        add(
            Problem(
                "postings", "an entry needs at least two postings", "too_few_postings", source=where
            )
        )
    sums: dict[str, int] = {}
    debits = 0
    for index, posting in enumerate(draft.postings, start=1):
        found = posting_problems(
            posting, f"{where}, posting {index}" if where else f"posting {index}"
        )
        problems.extend(found)
        if type(posting.amount_minor) is int:
            sums[posting.currency] = sums.get(posting.currency, 0) + posting.amount_minor
            debits += max(posting.amount_minor, 0)
    if debits > MAX_AMOUNT_MINOR:
        add(
            Problem(
                "postings",
                f"the debits add up to {debits:,} minor units; one entry carries at most "
                f"{MAX_AMOUNT_MINOR:,}",
                "entry_bound",
                source=where,
            )
        )
    for currency, total in sorted(sums.items()):
        if total != 0:
            add(
                Problem(
                    "postings",
                    f"unbalanced in {currency}: debits and credits differ by {total} minor units",
                    "unbalanced",
                    source=where,
                )
            )
    return problems


def posting_problems(posting: PostingDraft, where: str = "") -> list[Problem]:
    problems = []
    if type(posting.amount_minor) is not int:
        problems.append(
            Problem(
                "amount_minor",
                "must be an integer count of minor units",
                "integer_amount",
                source=where,
            )
        )
    elif posting.amount_minor == 0:
        problems.append(
            Problem("amount_minor", "a posting of zero moves nothing", "zero_amount", source=where)
        )
    elif (bound := amount_problem(posting.amount_minor, "amount_minor", source=where)) is not None:
        problems.append(bound)
    if posting.currency not in CURRENCY_EXPONENTS:
        problems.append(
            Problem("currency", f"unknown currency {posting.currency!r}", "currency", source=where)
        )
    if not posting.account:
        problems.append(Problem("account", "an account code is required", "required", source=where))
    memo = text_problem(posting.memo, "memo", max_chars=MAX_MEMO_LENGTH, source=where)
    if memo is not None:
        problems.append(memo)
    return problems


def texts_fit(draft: EntryDraft) -> bool:
    """The fast form of the text and date checks of ``entry_problems`` (the posting fast
    path runs it on every entry; the descriptive checks say what is wrong)."""
    return (
        DATE_MIN <= draft.entry_date <= DATE_MAX
        and len(draft.description) <= TEXT_LIMITS["description"]
        and len(draft.source_type) <= TEXT_LIMITS["source_type"]
        and len(draft.source_id) <= TEXT_LIMITS["source_id"]
        and is_clean_line(draft.description)
        and is_clean_line(draft.idempotency_key)
        and (not draft.source_type or is_clean_line(draft.source_type))
        and (not draft.source_id or is_clean_line(draft.source_id))
        and all(
            not p.memo or (len(p.memo) <= MAX_MEMO_LENGTH and is_clean_line(p.memo))
            for p in draft.postings
        )
    )


def fingerprint(draft: EntryDraft) -> str:
    """SHA-256 of what the entry says, to tell a replay from a reuse of its key.

    >>> from remit.ledger.model import EntryDraft, PostingDraft
    >>> a = EntryDraft(date(2026, 1, 1), "x", "k", (PostingDraft("1", 5, "USD"),
    ...                PostingDraft("2", -5, "USD")))
    >>> fingerprint(a) == fingerprint(a)
    True
    """
    body = [
        draft.entry_date.isoformat(),
        draft.description,
        draft.source_type,
        draft.source_id,
        [
            [p.account, p.party_id, p.currency, p.amount_minor, p.memo]
            if p.due_date is None and not p.doc_ref and not p.settles and not p.cost_centre
            else _posting_print(p)
            for p in draft.postings
        ],
    ]
    return hashlib.sha256(_FINGERPRINT_JSON.encode(body).encode()).hexdigest()


def _posting_print(p: PostingDraft) -> list[object]:
    """What a posting says; its open-item fields only when set, so that the fingerprints
    of entries posted before open items existed stay as they were (replays still match)."""
    said: list[object] = [p.account, p.party_id, p.currency, p.amount_minor, p.memo]
    if p.due_date is not None or p.doc_ref or p.settles or p.cost_centre:
        due = p.due_date.isoformat() if p.due_date is not None else None
        fields: dict[str, object] = {
            "due_date": due,
            "doc_ref": p.doc_ref,
            "settles": list(p.settles),
        }
        if p.cost_centre:  # only when set: earlier fingerprints stay as they were
            fields["cost_centre"] = p.cost_centre
        said.append(fields)
    return said


# Compact JSON, as json.dumps(separators=(",", ":")) writes it; built once (posting is hot).
_FINGERPRINT_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def closed_period_for(entry_date: date, periods: Iterable[Period]) -> Period | None:
    """The closed period that contains the date, if any."""
    for period in periods:
        closed = period.status is PeriodStatus.CLOSED
        if closed and period.start_date <= entry_date <= period.end_date:
            return period
    return None


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First and last day of a calendar month.

    >>> month_bounds(2024, 2)
    (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29))
    """
    start = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return start, date.fromordinal(nxt.toordinal() - 1)


def reversal_of(postings: Iterable[PostingDraft]) -> tuple[PostingDraft, ...]:
    """The postings that undo the given ones."""
    return tuple(
        PostingDraft(
            p.account, -p.amount_minor, p.currency, p.party_id, p.memo, cost_centre=p.cost_centre
        )
        for p in postings
    )
