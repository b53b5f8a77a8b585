"""Plain values of the ledger.

>>> line = PostingDraft(account="1100", amount_minor=12_500, currency="USD")
>>> draft = EntryDraft(
...     entry_date=date(2026, 1, 31), description="January care", idempotency_key="inv-1",
...     postings=(line, PostingDraft(account="4000", amount_minor=-12_500, currency="USD")))
>>> len(draft.postings)
2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> str:
        """``debit`` for assets and expenses, ``credit`` for the rest."""
        return "debit" if self in (AccountType.ASSET, AccountType.EXPENSE) else "credit"


class PeriodStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account to open in a book's chart of accounts.

    A control account carries a party sub-ledger: every posting to it names a party that
    holds ``party_role`` in the book (provider payables, client receivables).
    """

    code: str
    name: str
    type: AccountType
    is_control: bool = False
    party_role: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class PostingDraft:
    """One line of an entry to be posted: account code, optional party, signed amount.

    A line on a control account becomes an open item: ``due_date`` (None: the entry date)
    and ``doc_ref`` (empty: the entry's ``source_type:source_id``, or its idempotency key)
    describe it, and ``settles`` names open items (ids) the new item settles, in that order,
    each as far as it is still open, until the new item is used up. ``cost_centre`` tags the
    item with the budget it falls on (a payment run may pay one cost centre's items).
    """

    account: str
    amount_minor: int
    currency: str
    party_id: int | None = None
    memo: str = ""
    due_date: date | None = None
    doc_ref: str = ""
    settles: tuple[int, ...] = ()
    cost_centre: str = ""


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A journal entry to be posted. The idempotency key is unique per book."""

    entry_date: date
    description: str
    idempotency_key: str
    postings: tuple[PostingDraft, ...]
    source_type: str = ""
    source_id: str = ""


@dataclass(frozen=True, slots=True)
class OpenItem:
    """A payable or receivable on a control account, and how much of it is still open.

    Amounts are signed like the posting it came from: on a liability, negative means we
    owe the party. ``open_minor`` moves toward zero as settlements allocate to the item.
    """

    id: int
    account_code: str
    party_id: int
    currency: str
    entry_id: int
    item_date: date
    due_date: date
    doc_ref: str
    amount_minor: int
    open_minor: int


@dataclass(frozen=True, slots=True)
class Posting:
    account_code: str
    amount_minor: int
    currency: str
    party_id: int | None = None
    memo: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """A posted journal entry, as stored."""

    id: int
    book_id: int
    entry_date: date
    description: str
    idempotency_key: str
    fingerprint: str
    source_type: str
    source_id: str
    reverses_entry_id: int | None
    created_by: str
    postings: tuple[Posting, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PostResult:
    """What ``post`` did with one draft: a new entry, or the one a replay refers to."""

    entry_id: int
    idempotency_key: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class Balance:
    account_code: str
    currency: str
    balance_minor: int
    party_id: int | None = None


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account_code: str
    account_name: str
    account_type: AccountType
    currency: str
    debit_minor: int
    credit_minor: int

    @property
    def balance_minor(self) -> int:
        return self.debit_minor - self.credit_minor


@dataclass(frozen=True, slots=True)
class TrialBalance:
    book_code: str
    as_of: date | None
    rows: tuple[TrialBalanceRow, ...]

    def totals(self) -> dict[str, tuple[int, int]]:
        """Debit and credit totals per currency; equal in a sound ledger."""
        out: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            debit, credit = out.get(row.currency, (0, 0))
            out[row.currency] = (debit + row.debit_minor, credit + row.credit_minor)
        return out

    def is_balanced(self) -> bool:
        return all(debit == credit for debit, credit in self.totals().values())


@dataclass(frozen=True, slots=True)
class Period:
    start_date: date
    end_date: date
    status: PeriodStatus


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One posting on a party's control account, as a statement shows it."""

    entry_date: date
    entry_id: int
    line_no: int
    account_code: str
    account_name: str
    currency: str
    amount_minor: int
    description: str
    source_type: str
