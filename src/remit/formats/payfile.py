"""What a bank-file writer is given: the payments of one file and the fields that vary per file.

A payment run (``payments/``) and the offline command ``remit payments file`` both build these
rows, then call one writer per scheme (``nacha.write``, ``bacs18.write``, ``pain001.write``).
A writer never reads a clock or a counter: the :class:`FileStamp` is derived from the run and
recorded at release, so writing the same run again gives the same bytes.

>>> p = FilePayment("P1", "V7", "Sunrise Care", 12_500, "GBP", "SB-RIV-V7-3",
...                 {"sort_code": "200000", "account_number": "55779911"})
>>> p.bank["sort_code"]
'200000'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class RemittanceLine:
    """One item a payment covers (a self-bill, a child-month, an invoice, a deduction)."""

    payable_id: str
    reference: str
    amount_minor: int


@dataclass(frozen=True)
class FilePayment:
    """One payment (or, for a direct debit, one collection) in a bank file.

    ``amount_minor`` is positive. ``bank`` holds the payee's details under the scheme's
    names: ``routing_number``, ``account_number``, ``account_type`` (checking|savings) for
    NACHA; ``sort_code`` (6 digits), ``account_number`` (8 digits) for BACS; ``iban`` and
    optional ``bic`` for SEPA. ``transaction_code`` is the BACS code (default ``99``, a
    credit; the direct-debit codes 0N 0C 0S 01 17 18 19 are accepted).
    """

    payment_id: str
    payee_id: str
    payee_name: str
    amount_minor: int
    currency: str
    reference: str
    bank: Mapping[str, str]
    lines: tuple[RemittanceLine, ...] = ()
    transaction_code: str = "99"


@dataclass(frozen=True)
class FileStamp:
    """The fields that vary per file, fixed at release.

    ``value_date`` is already a banking day of the scheme's calendar (the NACHA effective
    entry date, the BACS processing day, the SEPA requested execution date).
    ``file_id_modifier`` is NACHA's A-Z/0-9; ``serial`` the BACS file serial (6 digits);
    ``message_id`` the SEPA MsgId (at most 35 characters).
    """

    created: datetime
    value_date: date
    file_id_modifier: str = "A"
    serial: str = "000001"
    message_id: str = "REMIT-1"
    extra: Mapping[str, str] = field(default_factory=dict)
