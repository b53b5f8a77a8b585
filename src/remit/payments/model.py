"""The plain values of payments: the schemes a payment goes by, the book's own bank accounts,
payment blocks and their reasons.

A payment *method* is the scheme named on the payee's side (``nacha``, ``bacs18``,
``pain.001``, ``cheque``); each electronic one pays in one currency and reads its originator
table from originator.toml (``remit.formats.registry``). ``pain.001`` stands for both
pain.001 versions: which one a bank file is written in is the bank's choice, not the payee's.

>>> PAYMENT_SCHEMES["pain.001"].currency, PAYMENT_SCHEMES["bacs18"].originator_table
('EUR', 'bacs')
>>> BlockReason("disputed_amount").value
'disputed_amount'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from remit.access.model import Role
from remit.formats.registry import Scheme, scheme

CHEQUE = "cheque"
# The electronic schemes a house account may originate, by method name, with the registry
# format that carries each one's currency and originator table.
PAYMENT_SCHEMES: Mapping[str, Scheme] = MappingProxyType(
    {
        "nacha": scheme("nacha"),
        "bacs18": scheme("bacs18"),
        "pain.001": scheme("pain.001.001.03"),
    }
)
METHODS = (*PAYMENT_SCHEMES, CHEQUE)
# What people call each method (pages, remittance advice); the codes stay in files and the API.
METHOD_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "nacha": "ACH (NACHA)",
        "bacs18": "BACS",
        "pain.001": "SEPA credit transfer",
        CHEQUE: "cheque",
    }
)


def method_label(method: str) -> str:
    """The method in people's words.

    >>> method_label("bacs18"), method_label("pain.001"), method_label("wire")
    ('BACS', 'SEPA credit transfer', 'wire')
    """
    return METHOD_LABELS.get(method, method)


def scheme_currency(method: str) -> str | None:
    """The one currency a method pays in, or None for a cheque (any currency).

    >>> scheme_currency("nacha"), scheme_currency("cheque")
    ('USD', None)
    """
    found = PAYMENT_SCHEMES.get(method)
    return found.currency if found is not None else None


class HouseAccountStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class BlockReason(StrEnum):
    """Why a party or an item is kept out of payment runs."""

    PROVIDER_ON_HOLD = "provider_on_hold"
    INCOMPLETE_PROVIDER_FILE = "incomplete_provider_file"
    DISPUTED_AMOUNT = "disputed_amount"
    OTHER = "other"
    # Set by remit.payments.manual on the items a manual payment waiting for approval covers.
    MANUAL_PAYMENT = "manual_payment"


@dataclass(frozen=True, slots=True)
class NewHouseAccount:
    """One of the book's own bank accounts to add: the GL account it books to, its
    currency, the schemes it originates and each scheme's originator table (as in
    originator.toml: ``{"bacs": {"service_user_number": ..., ...}}``)."""

    code: str
    name: str
    gl_account_code: str
    currency: str
    schemes: tuple[str, ...]
    originators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HouseAccount:
    """A house bank account as shown: its originator details with account numbers masked."""

    id: int
    book_id: int
    code: str
    name: str
    gl_account_code: str
    currency: str
    schemes: tuple[str, ...]
    originators: Mapping[str, Mapping[str, Any]]
    status: HouseAccountStatus
    created_by: str
    created_at: str


@dataclass(frozen=True, slots=True)
class PaymentBlock:
    """An active or lifted block on a party or on one open item."""

    id: int
    book_id: int
    party_id: int | None
    open_item_id: int | None
    reason: BlockReason
    note: str
    source: str
    set_by: str
    set_at: str
    lifted_by: str | None = None
    lifted_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class RunStatus(StrEnum):
    """A payment run's state: prepared -> approved -> released -> sent -> settled; cancelled
    only before release. A run above one approver's limit stays prepared, with its first
    approver recorded, until a second approver approves it."""

    PREPARED = "prepared"
    APPROVED = "approved"
    RELEASED = "released"
    SENT = "sent"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """One payment's state: in a run not yet released, released (in transit), then settled
    by the bank or returned; cancelled with its run."""

    IN_RUN = "in_run"
    RELEASED = "released"
    SETTLED = "settled"
    RETURNED = "returned"
    CANCELLED = "cancelled"


# What one approver may approve alone, in the book's base currency's minor units, by role,
# when the user has no limit of their own in the book (``remit payments approval-limit``);
# None is no limit. Above it a second, different approver is needed.
APPROVAL_LIMIT_MINOR: Mapping[Role, int | None] = MappingProxyType(
    {Role.APPROVER: 5_000_000, Role.MANAGER: None}
)


def approval_limit(roles: frozenset[Role]) -> int | None:
    """The highest limit among the roles that approve (None: unlimited); 0 for none.

    >>> approval_limit(frozenset({Role.APPROVER})), approval_limit(frozenset({Role.MANAGER}))
    (5000000, None)
    >>> approval_limit(frozenset({Role.CLERK}))
    0
    """
    limits = [APPROVAL_LIMIT_MINOR[r] for r in roles if r in APPROVAL_LIMIT_MINOR]
    if not limits:
        return 0
    if None in limits:
        return None
    return max(x for x in limits if x is not None)


@dataclass(frozen=True, slots=True)
class PaymentRun:
    """A payment run as stored. ``total_minor`` sums its payments in the book's base
    currency (``currency``); ``other_currencies`` names the others it pays in, which no
    single approver's limit covers (there are no rates to convert them by)."""

    id: int
    book_id: int
    pay_date: date
    status: RunStatus
    currency: str
    total_minor: int
    other_currencies: tuple[str, ...]
    payment_count: int
    item_count: int
    prepared_by: str
    prepared_at: str
    approved_by: str | None
    approved_at: str | None
    second_approved_by: str | None
    second_approved_at: str | None
    released_by: str | None
    released_at: str | None
    sent_by: str | None
    sent_at: str | None
    settled_at: str | None
    cancelled_by: str | None
    cancelled_at: str | None
    note: str
    version: int
    cancel_reason: str = ""
    # What the run was prepared for (empty: every method, cost centre, area).
    accounts: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    cost_centres: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()

    @property
    def needs_second(self) -> bool:
        """True when one approver approved above their limit and a second must follow."""
        return self.status is RunStatus.PREPARED and self.approved_by is not None


@dataclass(frozen=True, slots=True)
class RunPayment:
    """One payment of a run: one payee, currency and bank account, and the items it pays."""

    id: int
    run_id: int
    party_id: int
    currency: str
    bank_account_id: int | None
    method: str
    amount_minor: int
    status: PaymentStatus
    reference: str
    file_id: int | None
    release_entry_id: int | None
    settle_entry_id: int | None
    return_entry_id: int | None
    settled_on: date | None
    returned_on: date | None
    return_code: str
    return_detail: str
    case_id: int | None


@dataclass(frozen=True, slots=True)
class RunFile:
    """One bank file of a released run, with the stamp it is written with."""

    id: int
    run_id: int
    method: str
    format: str
    currency: str
    house_account_id: int | None
    created: str
    value_date: date
    payment_count: int
    total_minor: int
    sha256: str
    byte_count: int
    filename: str


# ---------------------------------------------------------------- manual payments (issue 10.8)

# How a payment made outside remit left the bank (the officer's word for it, not a scheme:
# remit writes no file for it).
MANUAL_METHODS = ("chaps", "faster_payment", "bacs", "phone_banking", "cheque", "card", "other")


class ManualStatus(StrEnum):
    """A manual payment's state: recorded ``pending`` by a clerk, then ``approved`` (and
    posted) by someone else or ``rejected`` (its items free again); an approved one becomes
    ``reconciled`` when the bank statement shows it."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECONCILED = "reconciled"


class ManualKind(StrEnum):
    """``linked``: it paid named open items (part or whole); ``one_off``: it paid no item
    (an advance the provider owes back until its bills arrive)."""

    LINKED = "linked"
    ONE_OFF = "one_off"


@dataclass(frozen=True, slots=True)
class ManualLine:
    """What a manual payment pays of one open item (positive minor units)."""

    item_id: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class NewManualPayment:
    """A payment made outside remit, as a clerk records it: payee, amount, the day and way
    it was paid, the bank's reference and the items it covered (none: a one-off)."""

    party_id: int
    amount_minor: int
    currency: str
    paid_on: date
    method: str
    bank_reference: str
    note: str = ""
    lines: tuple[ManualLine, ...] = ()
    house_account: str = ""  # the code of the book's account it left; empty: the one there is


@dataclass(frozen=True, slots=True)
class ManualPayment:
    """A manual payment as stored, with the items it covers."""

    id: int
    book_id: int
    kind: ManualKind
    status: ManualStatus
    party_id: int
    amount_minor: int
    currency: str
    paid_on: date
    method: str
    bank_reference: str
    note: str
    house_account_id: int
    recorded_by: str
    recorded_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str
    entry_id: int | None
    reconciled_by: str | None
    reconciled_on: date | None
    reconcile_entry_id: int | None
    version: int
    lines: tuple[ManualLine, ...]


@dataclass(frozen=True, slots=True)
class Outstanding:
    """One line of the list of suspended and linked payments not yet reconciled.

    ``kind``: ``linked`` or ``one_off`` (a manual payment, pending or approved: ``ref`` is
    ``M<id>``) or ``suspended`` (what a party's or an item's block keeps from the runs:
    ``ref`` is the payee's ref, ``detail`` the block's reasons). ``since`` orders the list:
    the day a manual payment was paid, the day a block was set."""

    kind: str
    ref: str
    party_id: int
    currency: str
    amount_minor: int
    since: date
    status: str
    detail: str


# The areas of a book a payable comes from, by the source type of its entry: a run may pay
# one area's items only (issue 10, point 2). An entry posted by hand has no source type; its
# area is ``manual``. A source type not named here is shown as it is.
MANUAL_AREA = "manual"
AREA_LABELS: Mapping[str, str] = {
    "care_run": "Care self-bills",
    MANUAL_AREA: "Entries by hand",
    "manual_payment": "Manual payments",
}


def area_of(source_type: str) -> str:
    """The area of an entry's source type.

    >>> area_of(""), area_of("care_run")
    ('manual', 'care_run')
    """
    return source_type or MANUAL_AREA


def area_label(area: str) -> str:
    """How an area is named on a page.

    >>> area_label("care_run"), area_label("childcare_month")
    ('Care self-bills', 'childcare_month')
    """
    return AREA_LABELS.get(area, area)
