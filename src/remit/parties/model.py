"""Plain values of parties: roles, identifiers and bank details.

Bank details are a scheme plus its named fields, kept as text exactly as entered until
`BankDetails.normalised` tidies them. Nothing here checks a checksum or a register: that is
`parties.rules`. The repr of `BankDetails` is masked so that account numbers stay out of logs.

>>> details = BankDetails(BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00",
...                                                 "account_number": "5577 9911"})
>>> details.normalised().fields["sort_code"]
'200000'
>>> details
BankDetails(uk_sort_code: sort code **-**-00 acct ****9911)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final, cast


class PartyRole(StrEnum):
    PROVIDER = "provider"
    CLIENT = "client"
    CUSTOMER = "customer"
    CARRIER = "carrier"
    VENDOR = "vendor"


class PartyKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class IdentifierScheme(StrEnum):
    US_EIN = "us_ein"
    US_SSN = "us_ssn"
    US_ITIN = "us_itin"
    UK_COMPANY = "uk_company"
    UK_VAT = "uk_vat"  # a VAT registration number (HMRC): shown on self-billed invoices


class BankScheme(StrEnum):
    US_ABA = "us_aba"
    UK_SORT_CODE = "uk_sort_code"
    IBAN = "iban"


class BankChangeStatus(StrEnum):
    """Where a requested change of a party's bank details stands (maker-checker)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class UsAccountType(StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"


@dataclass(frozen=True, slots=True)
class BankFieldSpec:
    """The field names a bank scheme requires and allows."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        return self.required + self.optional


BANK_FIELD_SPECS: Final[Mapping[BankScheme, BankFieldSpec]] = MappingProxyType(
    {
        BankScheme.US_ABA: BankFieldSpec(("routing_number", "account_number", "account_type")),
        BankScheme.UK_SORT_CODE: BankFieldSpec(("sort_code", "account_number")),
        BankScheme.IBAN: BankFieldSpec(("iban",), optional=("bic",)),
    }
)

_SEPARATORS = re.compile(r"[\s-]+")
_WHITESPACE = re.compile(r"\s+")
_DIGIT_FIELDS: Final = frozenset({"routing_number", "account_number", "sort_code"})
_CODE_FIELDS: Final = frozenset({"iban", "bic"})


def _normalise_field(name: str, value: str) -> str:
    if name in _DIGIT_FIELDS:
        return _SEPARATORS.sub("", value)
    if name in _CODE_FIELDS:
        return _WHITESPACE.sub("", value).upper()
    if name == "account_type":
        return value.strip().lower()
    return value.strip()


def _last(value: str, shown: int) -> str:
    """The last `shown` characters, or fewer for a short value: never more than half of it."""
    shown = min(shown, len(value) // 2)
    return value[-shown:] if shown else ""


@dataclass(frozen=True, slots=True, repr=False)
class BankDetails:
    """One bank account as entered: a scheme and its fields (see `BANK_FIELD_SPECS`).

    >>> aba = BankDetails(BankScheme.US_ABA, {"routing_number": "021000021",
    ...     "account_number": "123456789", "account_type": "Checking"})
    >>> aba.masked()
    'ABA ****0021 acct ****6789'
    >>> BankDetails(BankScheme.IBAN, {"iban": "gb82 west 1234 5698 7654 32"}).masked()
    'IBAN GB** … 5432'
    """

    scheme: BankScheme
    fields: Mapping[str, str]

    def __post_init__(self) -> None:
        # A private read-only copy: the caller's dict may change, this value may not.
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def __hash__(self) -> int:
        return hash((self.scheme, frozenset(self.fields.items())))

    def __repr__(self) -> str:
        return f"BankDetails({self.scheme}: {self.masked()})"

    def normalised(self) -> BankDetails:
        """Digits only for numbers and codes, IBAN and BIC compact upper case, blank
        optional fields dropped. Never raises; invalid text stays invalid.

        >>> BankDetails(BankScheme.IBAN, {"iban": "gb82 west 1234 5698 7654 32", "bic": ""}
        ...             ).normalised().fields
        mappingproxy({'iban': 'GB82WEST12345698765432'})
        """
        spec = BANK_FIELD_SPECS.get(self.scheme)
        optional = spec.optional if spec else ()
        fields = {
            name: _normalise_field(name, str(value))
            for name, value in self.fields.items()
            if not (name in optional and not str(value).strip())
        }
        return BankDetails(self.scheme, fields)

    def masked(self) -> str:
        """A form safe to show and log: at most the last 4 digits of any number.

        >>> BankDetails(BankScheme.UK_SORT_CODE, {"sort_code": "203040",
        ...                                       "account_number": "12345678"}).masked()
        'sort code **-**-40 acct ****5678'
        """
        fields = self.normalised().fields
        account = fields.get("account_number", "")
        if self.scheme == BankScheme.US_ABA:
            routing = fields.get("routing_number", "")
            return f"ABA ****{_last(routing, 4)} acct ****{_last(account, 4)}"
        if self.scheme == BankScheme.UK_SORT_CODE:
            sort_code = fields.get("sort_code", "")
            last_two = sort_code[-2:] if len(sort_code) >= 6 else "**"
            return f"sort code **-**-{last_two} acct ****{_last(account, 4)}"
        if self.scheme == BankScheme.IBAN:
            iban = fields.get("iban", "")
            return f"IBAN {iban[:2]}** … {_last(iban, 4)}"
        return f"{self.scheme} (unknown scheme)"

    def as_record(self) -> dict[str, str]:
        """Scheme and fields as one flat mapping, for encryption and fingerprints.

        >>> BankDetails.from_record({"scheme": "iban", "iban": "X"}).as_record()
        {'scheme': 'iban', 'iban': 'X'}
        """
        return {"scheme": str(self.scheme), **self.fields}

    @classmethod
    def from_record(cls, record: Mapping[str, str]) -> BankDetails:
        """The inverse of `as_record`; an unknown scheme is kept for `rules` to report."""
        fields = {name: value for name, value in record.items() if name != "scheme"}
        raw = record.get("scheme", "")
        try:
            return cls(BankScheme(raw), fields)
        except ValueError:
            # Kept as text so that rules.validate_bank_details reports "unknown_scheme".
            return cls(cast("BankScheme", raw), fields)
