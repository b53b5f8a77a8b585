"""Party identifiers and bank details: real numbers pass, each kind of mistake is named."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remit.errors import Problem
from remit.parties.model import BankDetails, BankScheme, IdentifierScheme
from remit.parties.rules import (
    normalise_bank_details,
    normalise_identifier,
    validate_bank_details,
    validate_identifier,
)

EIN, SSN, ITIN, UK = (
    IdentifierScheme.US_EIN,
    IdentifierScheme.US_SSN,
    IdentifierScheme.US_ITIN,
    IdentifierScheme.UK_COMPANY,
)
ABA, SORT, IBAN = BankScheme.US_ABA, BankScheme.UK_SORT_CODE, BankScheme.IBAN

ALL_CHECKS = frozenset({
    "ein_format", "ein_prefix", "ssn_format", "itin_format", "uk_company_format",
    "uk_company_prefix", "unknown_scheme", "required", "unknown_field", "aba_format",
    "aba_checksum", "aba_prefix", "us_account_format", "us_account_type", "sort_code_format",
    "uk_account_format", "iban_format", "iban_checksum", "iban_country", "iban_length",
    "bic_format", "bic_country", "bic_iban_country_mismatch",
})  # fmt: skip


def aba(
    routing: str = "021000021", account: str = "123456789", kind: str = "checking"
) -> BankDetails:
    return BankDetails(ABA, {"routing_number": routing, "account_number": account,
                             "account_type": kind})  # fmt: skip


def uk(sort_code: str = "20-00-00", account: str = "55779911") -> BankDetails:
    return BankDetails(SORT, {"sort_code": sort_code, "account_number": account})


def iban(number: str = "GB82WEST12345698765432", bic: str | None = None) -> BankDetails:
    return BankDetails(IBAN, {"iban": number} | ({"bic": bic} if bic is not None else {}))


def checks(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.field, p.check) for p in problems]


# --- identifiers -----------------------------------------------------------------------------

VALID_IDENTIFIERS = [
    (EIN, "04-2103594"),
    (EIN, "042103594"),
    (EIN, "91-1144442"),
    (SSN, "536-90-4399"),
    (SSN, "536904399"),
    (ITIN, "912-90-3456"),
    (ITIN, "912-55-3456"),  # groups 50-65, issued since 2011
    (UK, "03977902"),  # Google UK Limited
    (UK, "3977902"),  # written without its leading zero
    (UK, "SC123456"),
    (UK, "oc301540"),
    (UK, "R0000123"),
    (UK, "NI 012345"),
]

BAD_IDENTIFIERS = [
    (EIN, "911-14-4442", "ein_format"),  # hyphen in the wrong place
    (EIN, "04-210359", "ein_format"),
    (EIN, "07-1144442", "ein_prefix"),  # 07 is not assigned to any IRS campus
    (SSN, "1112-23333", "ssn_format"),
    (SSN, "666-00-0000", "ssn_format"),
    (SSN, "078-05-1120", "ssn_format"),  # the Woolworth wallet number
    (ITIN, "9129-03456", "itin_format"),
    (ITIN, "123-45-6789", "itin_format"),
    (ITIN, "912-93-4567", "itin_format"),
    (UK, "", "uk_company_format"),
    (UK, "123456789", "uk_company_format"),
    (UK, "SC12345X", "uk_company_format"),
    (UK, "00000000", "uk_company_format"),
    (UK, "XY123456", "uk_company_prefix"),
    ("de_steuer_id", "12345678901", "unknown_scheme"),
]


@pytest.mark.parametrize(("scheme", "value"), VALID_IDENTIFIERS)
def test_real_identifiers_pass_before_and_after_normalising(
    scheme: IdentifierScheme, value: str
) -> None:
    assert validate_identifier(scheme, value) == []
    assert validate_identifier(scheme, normalise_identifier(scheme, value)) == []


@pytest.mark.parametrize(("scheme", "value", "check"), BAD_IDENTIFIERS)
def test_each_bad_identifier_names_its_check_and_field(
    scheme: IdentifierScheme, value: str, check: str
) -> None:
    assert checks(validate_identifier(scheme, value, field="tin")) == [("tin", check)]


def test_problem_messages_do_not_repeat_the_number() -> None:
    for scheme, value, _ in BAD_IDENTIFIERS:
        for problem in validate_identifier(scheme, value):
            assert not value or value not in problem.message


def test_uk_company_numbers_are_padded_and_upper_cased() -> None:
    assert normalise_identifier(UK, "3977902") == "03977902"
    assert normalise_identifier(UK, " sc 123456 ") == "SC123456"
    assert normalise_identifier(EIN, "04-2103594") == "042103594"


@given(st.sampled_from(list(IdentifierScheme)), st.text())
def test_identifier_checks_never_raise_and_normalising_is_idempotent(
    scheme: IdentifierScheme, text: str
) -> None:
    assert isinstance(validate_identifier(scheme, text), list)
    once = normalise_identifier(scheme, text)
    assert normalise_identifier(scheme, once) == once


# --- bank details ----------------------------------------------------------------------------

VALID_BANK_DETAILS = [
    aba(),  # JPMorgan Chase, New York
    aba("011000015", "0001234", "savings"),  # Federal Reserve Bank of Boston
    aba("322271627", "12345678901234567", "Checking"),  # thrift range 21-32
    aba(" 121 000 358 ", "9876-5432"),
    uk(),
    uk("20 00 00"),
    uk("200000"),
    iban(),
    iban("gb82 west 1234 5698 7654 32", "nwbkgb2l"),
    iban("DE89370400440532013000", "DEUTDEFF500"),
    iban("FR1420041010050500013M02606"),
    iban("NL91ABNA0417164300", ""),  # blank optional BIC
    iban("GB82WEST12345698765432", "ABCDJESH"),  # Jersey bank, GB IBAN
]

BAD_BANK_DETAILS = [
    (
        BankDetails(ABA, {"routing_number": "021000021", "account_number": "123456789"}),
        [("account_type", "required")],
    ),
    (aba(routing="  "), [("routing_number", "required")]),
    (
        BankDetails(SORT, {"sort_code": "200000", "account_number": "55779911", "iban": "x"}),
        [("iban", "unknown_field")],
    ),
    (aba(routing="02100002"), [("routing_number", "aba_format")]),
    (aba(routing="02100002A"), [("routing_number", "aba_format")]),
    (aba(routing="021000022"), [("routing_number", "aba_checksum")]),
    (aba(routing="131000005"), [("routing_number", "aba_prefix")]),
    (aba(routing="991000009"), [("routing_number", "aba_prefix")]),
    (aba(account="123"), [("account_number", "us_account_format")]),
    (aba(account="123456789012345678"), [("account_number", "us_account_format")]),
    (aba(account="12AB5678"), [("account_number", "us_account_format")]),
    (aba(kind="current"), [("account_type", "us_account_type")]),
    (uk(sort_code="20-00-0"), [("sort_code", "sort_code_format")]),
    (uk(sort_code="20/00/00"), [("sort_code", "sort_code_format")]),
    (uk(account="5577991"), [("account_number", "uk_account_format")]),  # no zero-padding
    (uk(account="557799112"), [("account_number", "uk_account_format")]),
    (iban("GB82123412345698765432"), [("iban", "iban_format")]),
    (iban("GB82WEST123456987654!2"), [("iban", "iban_format")]),
    (iban("GB83WEST12345698765432"), [("iban", "iban_checksum")]),
    (iban("XX82WEST12345698765432"), [("iban", "iban_country")]),
    (iban("GB82WEST1234569876543"), [("iban", "iban_length")]),
    (iban(bic="NWBK"), [("bic", "bic_format")]),
    (iban(bic="NWB!GB2L"), [("bic", "bic_format")]),
    (iban(bic="NWBKXX2L"), [("bic", "bic_country")]),
    (iban("DE89370400440532013000", "NWBKGB2L"), [("bic", "bic_iban_country_mismatch")]),
    (BankDetails.from_record({"scheme": "swift", "account": "1"}), [("scheme", "unknown_scheme")]),
]


@pytest.mark.parametrize("details", VALID_BANK_DETAILS, ids=repr)
def test_real_bank_details_pass_before_and_after_normalising(details: BankDetails) -> None:
    assert validate_bank_details(details) == []
    assert validate_bank_details(normalise_bank_details(details)) == []


@pytest.mark.parametrize(("details", "expected"), BAD_BANK_DETAILS, ids=repr)
def test_each_bad_bank_detail_names_its_field_and_check(
    details: BankDetails, expected: list[tuple[str, str]]
) -> None:
    assert checks(validate_bank_details(details)) == expected


def test_every_check_name_is_exercised() -> None:
    seen = {check for _, _, check in BAD_IDENTIFIERS}
    seen |= {check for _, expected in BAD_BANK_DETAILS for _, check in expected}
    assert seen == ALL_CHECKS


def test_all_problems_are_reported_at_once() -> None:
    details = BankDetails(ABA, {"routing_number": "131000006", "account_number": "12",
                                "account_type": "current", "memo": "x"})  # fmt: skip
    assert checks(validate_bank_details(details)) == [
        ("memo", "unknown_field"),
        ("routing_number", "aba_checksum"),
        ("routing_number", "aba_prefix"),
        ("account_number", "us_account_format"),
        ("account_type", "us_account_type"),
    ]


def test_missing_iban_and_bad_bic_are_both_reported() -> None:
    details = BankDetails(IBAN, {"bic": "NWBKXX2L"})
    assert checks(validate_bank_details(details)) == [
        ("iban", "required"),
        ("bic", "bic_country"),
    ]


def test_normalised_details_are_compact() -> None:
    assert normalise_bank_details(aba(" 021-000-021 ", "1234 5678", " Savings ")).fields == {
        "routing_number": "021000021",
        "account_number": "12345678",
        "account_type": "savings",
    }
    assert normalise_bank_details(iban("gb82 west 1234 5698 7654 32", " nwbkgb2l ")).fields == {
        "iban": "GB82WEST12345698765432",
        "bic": "NWBKGB2L",
    }


def test_details_are_immutable_and_hashable() -> None:
    fields = {"sort_code": "200000", "account_number": "55779911"}
    details = BankDetails(SORT, fields)
    fields["account_number"] = "00000000"
    assert details.fields["account_number"] == "55779911"
    assert hash(details) == hash(uk("200000"))
    assert BankDetails.from_record(details.as_record()) == details


# --- masking ---------------------------------------------------------------------------------


def test_masked_forms() -> None:
    assert aba().masked() == "ABA ****0021 acct ****6789"
    assert uk("20-30-56", "12345678").masked() == "sort code **-**-56 acct ****5678"
    assert iban().masked() == "IBAN GB** … 5432"
    assert repr(uk()) == "BankDetails(uk_sort_code: sort code **-**-00 acct ****9911)"


def _leaks(secret: str, text: str, longest_shown: int = 4) -> bool:
    """True if more than `longest_shown` consecutive characters of `secret` appear in text."""
    width = longest_shown + 1
    return any(secret[i : i + width] in text for i in range(len(secret) - width + 1))


digits = st.text(alphabet="0123456789", min_size=4, max_size=17)


@given(routing=st.text(alphabet="0123456789", min_size=9, max_size=9), account=digits)
def test_us_masked_shows_at_most_the_last_four_digits(routing: str, account: str) -> None:
    details = aba(routing, account)
    for shown in (details.masked(), repr(details)):
        assert routing not in shown
        assert not _leaks(account, shown)
    assert not re.search(r"[0-9]{5}", details.masked())


@given(sort_code=st.text(alphabet="0123456789", min_size=6, max_size=6),
       account=st.text(alphabet="0123456789", min_size=8, max_size=8))  # fmt: skip
def test_uk_masked_shows_at_most_the_last_four_digits(sort_code: str, account: str) -> None:
    details = uk(sort_code, account)
    assert not _leaks(account, details.masked())
    assert sort_code not in details.masked()


@given(account=st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_iban_masked_shows_country_and_last_four_only(account: str) -> None:
    details = iban(f"GB00WEST123456{account}")
    assert not _leaks(account, details.masked())
    assert "WEST" not in details.masked()


@given(st.sampled_from(list(BankScheme)), st.dictionaries(
    st.sampled_from(["routing_number", "account_number", "account_type", "sort_code",
                     "iban", "bic", "other"]), st.text()))  # fmt: skip
def test_bank_checks_never_raise_and_normalising_is_idempotent(
    scheme: BankScheme, fields: dict[str, str]
) -> None:
    details = BankDetails(scheme, fields)
    assert all(isinstance(p, Problem) for p in validate_bank_details(details))
    once = normalise_bank_details(details)
    assert normalise_bank_details(once) == once
    assert isinstance(details.masked(), str)


@given(account=digits)
def test_short_account_numbers_show_at_most_half(account: str) -> None:
    masked = aba(account=account).masked()
    shown = masked.rsplit("*", 1)[1]
    assert len(shown) <= len(account) // 2
