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
from enum import StrEnum
from types import MappingProxyType
from typing import Any

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
