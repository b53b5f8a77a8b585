"""Checks of party identifiers and bank details: pure functions, no I/O.

Each validator returns a list of `Problem` (empty when valid) and never raises for bad input.
Every problem names the field and the check that failed; check names are stable identifiers
that tests, imports and screens rely on:

- identifiers: ``ein_format``, ``ein_prefix``, ``ssn_format``, ``itin_format``,
  ``uk_company_format``, ``uk_company_prefix``, ``uk_vat_format``,
  ``uk_vat_checksum``, ``unknown_scheme``
- bank details: ``required``, ``unknown_field``, ``unknown_scheme``, ``aba_format``,
  ``aba_checksum``, ``aba_prefix``, ``us_account_format``, ``us_account_type``,
  ``sort_code_format``, ``uk_account_format``, ``iban_format``, ``iban_checksum``,
  ``iban_country``, ``iban_length``, ``bic_format``, ``bic_country``,
  ``bic_iban_country_mismatch``

Problem messages never repeat the number that was checked: they are shown and logged.

>>> validate_identifier(IdentifierScheme.US_EIN, "04-2103594")
[]
>>> [p.check for p in validate_identifier(IdentifierScheme.US_EIN, "07-1144442")]
['ein_prefix']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

from schwifty import BIC, IBAN
from schwifty.exceptions import (
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    SchwiftyException,
)
from stdnum.exceptions import InvalidChecksum as NumberChecksum
from stdnum.exceptions import InvalidComponent, ValidationError
from stdnum.gb import vat as gb_vat
from stdnum.us import ein, itin, rtn, ssn

from remit.errors import Problem
from remit.parties.model import (
    BANK_FIELD_SPECS,
    BankDetails,
    BankFieldSpec,
    BankScheme,
    IdentifierScheme,
    UsAccountType,
)

# --- identifiers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _UsNumber:
    """How one US taxpayer number is checked, and what its problems say."""

    validate: Callable[[str], str]  # python-stdnum's validator
    format_check: str
    component_check: str
    shape: str
    component_message: str


_US_NUMBERS: Final[Mapping[IdentifierScheme, _UsNumber]] = MappingProxyType({
    IdentifierScheme.US_EIN: _UsNumber(
        ein.validate, "ein_format", "ein_prefix", "an EIN, NN-NNNNNNN",
        "the first two digits are not a prefix the IRS assigns"),
    IdentifierScheme.US_SSN: _UsNumber(
        ssn.validate, "ssn_format", "ssn_format", "an SSN, NNN-NN-NNNN",
        "this number is never issued as an SSN (area 000, 666 or 9xx, group 00, "
        "serial 0000, or a number withdrawn after misuse)"),
    IdentifierScheme.US_ITIN: _UsNumber(
        itin.validate, "itin_format", "itin_format", "an ITIN, 9NN-NN-NNNN",
        "an ITIN starts with 9 and has 50-65, 70-88, 90-92 or 94-99 as its fourth and "
        "fifth digits"),
})  # fmt: skip
# The IRS added 50-65 to the ITIN group ranges in 2011; python-stdnum 2.2 still knows only
# 70-99 (without 89 and 93), so those groups are accepted here.
_ITIN_EXTRA = re.compile(r"9[0-9]{2}-?(5[0-9]|6[0-5])-?[0-9]{4}")

# Company number prefixes: those in Companies House's URI customer guide, plus CE/CS
# (charitable incorporated organisations), SG (Scottish qualifying partnership), RS (registered
# society), OE (overseas entity) and BR (UK establishment of an overseas company). Prefixes
# seen only in third-party lists (PC, IT, FE) are left out until confirmed.
UK_COMPANY_PREFIXES: Final = frozenset({
    "AC", "ZC", "FC", "GE", "LP", "OC", "SE", "IP", "IC", "RC", "CE", "RS", "OE", "BR",
    "SC", "SA", "SZ", "SF", "GS", "SL", "SO", "ES", "SP", "SI", "SR", "CS", "SG",
    "NI", "R0", "NA", "NZ", "NF", "GN", "NL", "NC", "EN", "NP", "NV", "NR", "NO",
})  # fmt: skip
_UK_COMPANY_DIGITS = re.compile(r"[0-9]{8}")
_UK_COMPANY_PREFIXED = re.compile(r"([A-Z][A-Z0-9])[0-9]{6}")
_SEPARATORS = re.compile(r"[\s-]+")


def normalise_identifier(scheme: IdentifierScheme | str, value: str) -> str:
    """The compact form to store: US numbers as 9 digits, UK company numbers as 8 characters
    in upper case with short all-digit numbers padded. Never raises.

    >>> normalise_identifier(IdentifierScheme.US_EIN, " 04-2103594 ")
    '042103594'
    >>> normalise_identifier(IdentifierScheme.UK_COMPANY, "3977902")
    '03977902'
    >>> normalise_identifier(IdentifierScheme.UK_COMPANY, "sc 123456")
    'SC123456'
    """
    compact = _SEPARATORS.sub("", value)
    if scheme == IdentifierScheme.UK_COMPANY:
        compact = compact.upper()
        if compact.isascii() and compact.isdigit() and len(compact) < 8:
            compact = compact.zfill(8)
    if scheme == IdentifierScheme.UK_VAT:
        compact = gb_vat.compact(compact)
    return compact


def validate_identifier(
    scheme: IdentifierScheme | str, value: str, field: str = "identifier"
) -> list[Problem]:
    """Every problem with a party identifier; `field` names it in the problems. A scheme
    given as text (from an import) is accepted; an unknown one is a problem, not an error.

    >>> validate_identifier(IdentifierScheme.US_SSN, "536-90-4399")
    []
    >>> validate_identifier(IdentifierScheme.UK_COMPANY, "SC123456")
    []
    >>> [p.check for p in validate_identifier(IdentifierScheme.US_EIN, "911-14-4442")]
    ['ein_format']
    >>> [p.check for p in validate_identifier(IdentifierScheme.UK_COMPANY, "XY123456")]
    ['uk_company_prefix']
    """
    if scheme == IdentifierScheme.UK_COMPANY:
        return _check_uk_company(normalise_identifier(scheme, value), field)
    if scheme in _US_NUMBERS:
        return _check_us_number(IdentifierScheme(scheme), value, field)
    if scheme == IdentifierScheme.UK_VAT:
        return uk_vat_problems(value, field)
    return [Problem(field, f"unknown identifier scheme {scheme!r}", "unknown_scheme")]


def uk_vat_problems(value: str, field: str = "vat_number") -> list[Problem]:
    """A UK VAT registration number: 9 digits (12 with a branch), GB optional, with HMRC's
    check digits (both the mod-97 and the 9755 series), or a GD/HA government number; python-
    stdnum holds the rules.

    >>> uk_vat_problems("GB 980 7806 84")
    []
    >>> [p.check for p in uk_vat_problems("GB123456789")]
    ['uk_vat_checksum']
    """
    try:
        gb_vat.validate(value)
    except NumberChecksum:
        return [Problem(field, "the check digits do not match (HMRC)", "uk_vat_checksum")]
    except ValidationError:
        message = "a UK VAT number is GB and 9 digits (12 with a branch), or GD/HA and 3 digits"
        return [Problem(field, message, "uk_vat_format")]
    return []


def _check_us_number(scheme: IdentifierScheme, value: str, field: str) -> list[Problem]:
    number = _US_NUMBERS[scheme]
    try:
        number.validate(value)
    except InvalidComponent:
        if scheme == IdentifierScheme.US_ITIN and _ITIN_EXTRA.fullmatch(value.strip()):
            return []
        return [Problem(field, number.component_message, number.component_check)]
    except ValidationError:
        message = f"expected {number.shape} (9 digits, hyphens optional)"
        return [Problem(field, message, number.format_check)]
    return []


def _check_uk_company(number: str, field: str) -> list[Problem]:
    if _UK_COMPANY_DIGITS.fullmatch(number):
        if number == "00000000":
            return [Problem(field, "a company number is never all zeros", "uk_company_format")]
        return []
    prefixed = _UK_COMPANY_PREFIXED.fullmatch(number)
    if prefixed is None:
        message = "a UK company number is 8 digits, or 2 letters and 6 digits"
        return [Problem(field, message, "uk_company_format")]
    if prefixed.group(1) not in UK_COMPANY_PREFIXES:
        message = f"{prefixed.group(1)} is not a Companies House number prefix"
        return [Problem(field, message, "uk_company_prefix")]
    return []


# --- bank details ----------------------------------------------------------------------------

# Federal Reserve routing symbols: 00-12 Federal Reserve banks (00 the US Government),
# 21-32 thrift institutions, 61-72 electronic transactions, 80 traveller's cheques.
_ABA_PREFIXES: Final = frozenset((*range(13), *range(21, 33), *range(61, 73), 80))
_ROUTING = re.compile(r"[0-9]{9}")
_US_ACCOUNT = re.compile(r"[0-9]{4,17}")
_SORT_CODE = re.compile(r"[0-9]{6}")
_UK_ACCOUNT = re.compile(r"[0-9]{8}")
_IBAN_ERRORS: Final = (
    # first match wins: the subclasses before SchwiftyException
    (InvalidLength, "iban_length", "the IBAN has the wrong length for its country"),
    (InvalidCountryCode, "iban_country", "the IBAN does not start with a known country code"),
    (InvalidChecksumDigits, "iban_checksum", "the IBAN check digits do not match (a typo?)"),
    (SchwiftyException, "iban_format", "the IBAN does not have its country's format"),
)
# IBANs of the Crown Dependencies start with GB; their banks' BICs carry JE, GG or IM.
_BIC_COUNTRIES_OF_IBAN: Final = MappingProxyType({"GB": frozenset({"GB", "JE", "GG", "IM"})})

_Fields: TypeAlias = Mapping[str, str]


def normalise_bank_details(details: BankDetails) -> BankDetails:
    """Digits only for routing, sort code and account numbers; IBAN compact upper case; BIC
    upper case. Never raises; normalising twice changes nothing.

    >>> normalise_bank_details(BankDetails(BankScheme.UK_SORT_CODE,
    ...     {"sort_code": "20 00 00", "account_number": "5577-9911"})).fields
    mappingproxy({'sort_code': '200000', 'account_number': '55779911'})
    """
    return details.normalised()


def validate_bank_details(details: BankDetails) -> list[Problem]:
    """Every problem with a set of bank details, each naming its field and check.

    >>> validate_bank_details(BankDetails(BankScheme.US_ABA, {"routing_number": "021000021",
    ...     "account_number": "123456789", "account_type": "checking"}))
    []
    >>> validate_bank_details(BankDetails(BankScheme.IBAN,
    ...     {"iban": "GB82 WEST 1234 5698 7654 32", "bic": "NWBKGB2L"}))
    []
    >>> for p in validate_bank_details(BankDetails(BankScheme.UK_SORT_CODE,
    ...         {"sort_code": "20-00-0", "account_number": "5577991", "branch": "x"})):
    ...     print(p)
    branch: branch is not a field of uk_sort_code bank details [unknown_field]
    sort_code: a sort code has 6 digits, as 12-34-56, 12 34 56 or 123456 [sort_code_format]
    account_number: a UK account number has exactly 8 digits [uk_account_format]
    """
    spec = BANK_FIELD_SPECS.get(details.scheme)
    if spec is None:
        return [Problem("scheme", f"unknown bank scheme {details.scheme!r}", "unknown_scheme")]
    fields = details.normalised().fields
    return _field_problems(details.scheme, spec, fields) + _CHECKERS[details.scheme](fields)


def _field_problems(scheme: BankScheme, spec: BankFieldSpec, fields: _Fields) -> list[Problem]:
    missing = [
        Problem(name, f"{name} is required", "required")
        for name in spec.required
        if not fields.get(name)
    ]
    unknown = [
        Problem(name, f"{name} is not a field of {scheme} bank details", "unknown_field")
        for name in fields
        if name not in spec.allowed
    ]
    return missing + unknown


def _check_us_aba(fields: _Fields) -> list[Problem]:
    problems = _check_routing(fields.get("routing_number", ""))
    account = fields.get("account_number", "")
    if account and not _US_ACCOUNT.fullmatch(account):
        message = "a US account number has 4 to 17 digits"
        problems.append(Problem("account_number", message, "us_account_format"))
    account_type = fields.get("account_type", "")
    if account_type and account_type not in tuple(UsAccountType):
        message = "account type must be checking or savings"
        problems.append(Problem("account_type", message, "us_account_type"))
    return problems


def _check_routing(routing: str) -> list[Problem]:
    if not routing:
        return []
    if not _ROUTING.fullmatch(routing):
        return [Problem("routing_number", "a routing number has 9 digits", "aba_format")]
    problems = []
    if not rtn.is_valid(routing):
        message = "the check digit does not match (3-7-1 weights): a typo?"
        problems.append(Problem("routing_number", message, "aba_checksum"))
    if int(routing[:2]) not in _ABA_PREFIXES:
        message = "the first two digits are not a Federal Reserve routing symbol"
        problems.append(Problem("routing_number", message, "aba_prefix"))
    return problems


def _check_uk_sort_code(fields: _Fields) -> list[Problem]:
    # Only the shape is checked. The VocaLink modulus check needs Pay.UK's published weight
    # table and substitution list, updated several times a year: it belongs with reference
    # data, not in code, and is NOT done here. A well-shaped account may still be refused.
    problems = []
    sort_code = fields.get("sort_code", "")
    if sort_code and not _SORT_CODE.fullmatch(sort_code):
        message = "a sort code has 6 digits, as 12-34-56, 12 34 56 or 123456"
        problems.append(Problem("sort_code", message, "sort_code_format"))
    account = fields.get("account_number", "")
    if account and not _UK_ACCOUNT.fullmatch(account):
        message = "a UK account number has exactly 8 digits"
        problems.append(Problem("account_number", message, "uk_account_format"))
    return problems


def _check_iban(fields: _Fields) -> list[Problem]:
    # Schwifty stops at the first failure, so an IBAN yields one problem at most. National
    # check digits inside the BBAN are not verified (no algorithm for most countries).
    iban_text, bic_text = fields.get("iban", ""), fields.get("bic", "")
    iban = _parse_iban(iban_text) if iban_text else None
    bic = _parse_bic(bic_text) if bic_text else None
    problems = []
    if isinstance(iban, Problem):
        problems.append(iban)
    if isinstance(bic, Problem):
        problems.append(bic)
    if isinstance(iban, IBAN) and isinstance(bic, BIC):
        allowed = _BIC_COUNTRIES_OF_IBAN.get(iban.country_code, {iban.country_code})
        if bic.country_code not in allowed:
            message = f"the BIC is in {bic.country_code} but the IBAN in {iban.country_code}"
            problems.append(Problem("bic", message, "bic_iban_country_mismatch"))
    return problems


def _parse_iban(text: str) -> IBAN | Problem:
    try:
        return IBAN(text)
    except SchwiftyException as error:
        check, message = next((c, m) for t, c, m in _IBAN_ERRORS if isinstance(error, t))
        return Problem("iban", message, check)


def _parse_bic(text: str) -> BIC | Problem:
    try:
        return BIC(text)
    except InvalidCountryCode:
        return Problem("bic", "the BIC's country code is unknown", "bic_country")
    except SchwiftyException:
        return Problem("bic", "a BIC has 8 or 11 letters and digits", "bic_format")


_CHECKERS: Final[Mapping[BankScheme, Callable[[_Fields], list[Problem]]]] = MappingProxyType(
    {
        BankScheme.US_ABA: _check_us_aba,
        BankScheme.UK_SORT_CODE: _check_uk_sort_code,
        BankScheme.IBAN: _check_iban,
    }
)
