"""The money kernel: exponents, Money, rounding, allocation, Babel edges, and the float ban."""

from __future__ import annotations

import ast
import dataclasses
import decimal
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given, settings
from hypothesis import strategies as st

from remit.errors import RemitError, ValidationFailed
from remit.money import (
    CURRENCY_EXPONENTS,
    CurrencyMismatch,
    Money,
    RoundingMode,
    UnknownCurrency,
    allocate,
    allocate_money,
    exponent,
    format_money,
    parse_money,
    quantize_minor,
    round_decimal,
    to_rate,
)

SRC_REMIT = Path(__file__).resolve().parents[1] / "src" / "remit"

totals = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from([0, 1, -1, 10**15, -(10**15), 10**15 + 7]),
)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    st.just(0),
)
weight_lists = st.lists(weight, min_size=1, max_size=25).filter(any)


def exact_shares(total: int, weights: list[int | Decimal]) -> list[Fraction]:
    whole = sum(Fraction(w) for w in weights)
    return [Fraction(total) * Fraction(w) / whole for w in weights]


def reference_round(value: Fraction, mode: RoundingMode) -> int:
    """An independent, Fraction-based statement of each rounding rule."""
    low, high = math.floor(value), math.ceil(value)
    if low == high:
        return low
    toward_zero, away_from_zero = (low, high) if value > 0 else (high, low)
    simple = {
        RoundingMode.FLOOR: low,
        RoundingMode.CEILING: high,
        RoundingMode.DOWN: toward_zero,
        RoundingMode.UP: away_from_zero,
    }
    if mode in simple:
        return simple[mode]
    if value - low != Fraction(1, 2):
        return low if value - low < Fraction(1, 2) else high
    if mode is RoundingMode.HALF_UP:
        return away_from_zero
    return low if low % 2 == 0 else high


# --- allocation -------------------------------------------------------------------------------


@given(totals, weight_lists)
def test_allocate_parts_sum_exactly_to_the_total(total: int, weights: list[int | Decimal]) -> None:
    assert sum(allocate(total, weights)) == total


@given(totals, weight_lists)
def test_allocate_each_part_is_within_one_minor_unit_of_its_exact_share(
    total: int, weights: list[int | Decimal]
) -> None:
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    for part, share in zip(parts, exact_shares(total, weights), strict=True):
        assert abs(part - share) < 1


@given(totals, weight_lists)
def test_allocate_gives_zero_weights_nothing(total: int, weights: list[int | Decimal]) -> None:
    parts = allocate(total, weights)
    assert all(part == 0 for part, w in zip(parts, weights, strict=True) if w == 0)


@given(totals, weight_lists)
def test_allocate_is_deterministic(total: int, weights: list[int | Decimal]) -> None:
    assert allocate(total, weights) == allocate(total, list(weights))
    assert allocate(total, weights) == allocate(total, tuple(weights))


@given(totals, weight_lists)
def test_allocate_negative_total_mirrors_the_positive(
    total: int, weights: list[int | Decimal]
) -> None:
    assert allocate(-total, weights) == [-part for part in allocate(total, weights)]


@given(totals, weight_lists)
def test_allocate_is_unchanged_by_scaling_the_weights(
    total: int, weights: list[int | Decimal]
) -> None:
    assert allocate(total, weights) == allocate(total, [w * 1000 for w in weights])


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (2, [1, 1, 1], [1, 1, 0]),  # equal remainders: lower index first
        (5, [3, 3], [3, 2]),
        (-5, [3, 3], [-3, -2]),
        (10, [0, 1, 0, 1], [0, 5, 0, 5]),
        (1, [Decimal("0.1"), Decimal("0.9")], [0, 1]),
        (1000, [Decimal("0.5"), 0, Decimal("0.25"), Decimal("0.25")], [500, 0, 250, 250]),
        (0, [1, 2], [0, 0]),
        (7, [1], [7]),
    ],
)
def test_allocate_worked_examples(
    total: int, weights: list[int | Decimal], expected: list[int]
) -> None:
    assert allocate(total, weights) == expected


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        ([], ValueError, "positive weight"),
        ([0, 0], ValueError, "positive weight"),
        ([Decimal(0), 0], ValueError, "positive weight"),
        ([1, -1], ValueError, "negative"),
        ([Decimal("-0.5")], ValueError, "negative"),
        ([Decimal("NaN")], ValueError, "finite"),
        ([Decimal("Infinity"), 1], ValueError, "finite"),
        ([0.5, 0.5], TypeError, "int or a Decimal"),
        ([True, 1], TypeError, "int or a Decimal"),
        (["1", "2"], TypeError, "int or a Decimal"),
    ],
)
def test_allocate_refuses_bad_weights(
    weights: list[object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        allocate(100, weights)  # type: ignore[arg-type]


@pytest.mark.parametrize("total", [1.0, Decimal(100), True, "100"])
def test_allocate_refuses_a_total_that_is_not_an_int(total: object) -> None:
    with pytest.raises(TypeError, match="total_minor"):
        allocate(total, [1, 1])  # type: ignore[arg-type]


def test_money_allocation_keeps_the_currency_and_the_total() -> None:
    bill = Money(-10001, "GBP")
    parts = bill.allocate([1, 2, Decimal("0.5")])
    assert parts == allocate_money(bill, [1, 2, Decimal("0.5")])
    assert [p.amount_minor for p in parts] == allocate(-10001, [1, 2, Decimal("0.5")])
    assert {p.currency for p in parts} == {"GBP"}
    assert sum(parts, Money.zero("GBP")) == bill


# --- currency exponents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "places"),
    [("JPY", 0), ("KWD", 3), ("GBP", 2), ("CLF", 4), ("UYW", 4), ("USD", 2), ("EUR", 2)],
)
def test_exponent_of_common_currencies(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize(
    ("currency", "places"),
    [("ISK", 0), ("HUF", 2), ("TWD", 2), ("COP", 2), ("IDR", 2), ("IQD", 3)],
)
def test_iso_4217_is_authoritative_over_cldr(currency: str, places: int) -> None:
    assert exponent(currency) == places


def test_exponent_table_holds_the_required_codes() -> None:
    required = {
        0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
        3: "BHD IQD JOD KWD LYD OMR TND",
        4: "CLF UYW",
        2: "USD GBP EUR CAD AUD CHF MXN NZD SEK NOK DKK PLN CZK ZAR INR CNY HKD SGD BRL",
    }
    for places, codes in required.items():
        for code in codes.split():
            assert CURRENCY_EXPONENTS[code] == places, code
    assert all(re.fullmatch("[A-Z]{3}", code) for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}


def test_exponent_table_mostly_agrees_with_babel() -> None:
    # ISO and CLDR differ on a known handful; a large disagreement means a typo in the table.
    differ = [c for c, e in CURRENCY_EXPONENTS.items() if e != get_currency_precision(c)]
    assert len(differ) < 20, differ


def test_exponent_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        CURRENCY_EXPONENTS["ZZZ"] = 2  # type: ignore[index]


@pytest.mark.parametrize("code", ["gbp", "GB", "GBPX", "", "XXX", "ZZZ", "XAU", " USD", 826])
def test_unknown_currency_is_refused(code: object) -> None:
    with pytest.raises(UnknownCurrency):
        exponent(code)  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrency):
        Money(1, code)  # type: ignore[arg-type]
    assert issubclass(UnknownCurrency, RemitError)


# --- Money ------------------------------------------------------------------------------------


def test_money_arithmetic_in_one_currency() -> None:
    a, b = Money(1250, "GBP"), Money(-300, "GBP")
    assert a + b == Money(950, "GBP")
    assert a - b == Money(1550, "GBP")
    assert -a == Money(-1250, "GBP")
    assert abs(b) == Money(300, "GBP")
    same = Money(1250, "GBP")
    assert [b < a, b <= a, a > b, a >= b, same <= a, same >= a] == [True] * 6
    assert [a < b, a <= b, b > a, b >= a, same < a, same > a] == [False] * 6
    assert bool(a)
    assert not bool(Money.zero("GBP"))
    assert Money.zero("JPY").is_zero()
    assert not a.is_zero()
    assert Money.zero("KWD") == Money(0, "KWD")


def test_money_is_a_frozen_hashable_value() -> None:
    assert Money(1, "USD") == Money(1, "USD")
    assert Money(1, "USD") != Money(1, "CAD")
    assert len({Money(1, "USD"), Money(1, "USD"), Money(1, "CAD")}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Money(1, "USD").amount_minor = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_currency_mismatch_is_refused(operation: object) -> None:
    with pytest.raises(CurrencyMismatch, match="GBP and EUR"):
        operation(Money(1, "GBP"), Money(1, "EUR"))  # type: ignore[operator]
    assert issubclass(CurrencyMismatch, RemitError)


def test_money_does_not_mix_with_plain_numbers() -> None:
    with pytest.raises(TypeError):
        Money(1, "GBP") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "GBP") < 2  # type: ignore[operator]  # noqa: B015


@pytest.mark.parametrize("amount", [1.0, Decimal(1), Decimal("1.5"), True, "1", None])
def test_money_amount_must_be_an_int(amount: object) -> None:
    with pytest.raises(TypeError, match="amount_minor must be an int"):
        Money(amount, "USD")  # type: ignore[arg-type]


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(TypeError):
        Money(1.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money.from_decimal(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Money(100, "USD").multiply(0.5, RoundingMode.HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        to_rate(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        round_decimal(1.5, 0, RoundingMode.HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        quantize_minor(1.5, "USD", RoundingMode.HALF_UP)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1234, "GBP"), "GBP 12.34"),
        (Money(1234, "JPY"), "JPY 1234"),
        (Money(1234, "KWD"), "KWD 1.234"),
        (Money(-5, "GBP"), "GBP -0.05"),
        (Money(0, "CLF"), "CLF 0.0000"),
        (Money(1, "CLF"), "CLF 0.0001"),
    ],
)
def test_money_str(money: Money, text: str) -> None:
    assert str(money) == text


def test_to_decimal_is_exact_with_the_currency_places() -> None:
    assert Money(1234, "GBP").to_decimal().as_tuple() == Decimal("12.34").as_tuple()
    assert Money(0, "GBP").to_decimal().as_tuple() == Decimal("0.00").as_tuple()
    assert Money(1234, "JPY").to_decimal().as_tuple() == Decimal("1234").as_tuple()
    assert Money(-1, "KWD").to_decimal().as_tuple() == Decimal("-0.001").as_tuple()
    huge = 10**60 + 1
    assert Money(huge, "GBP").to_decimal() == Decimal(f"{huge}E-2")


@given(st.integers(min_value=-(10**20), max_value=10**20), st.sampled_from(["GBP", "JPY", "KWD"]))
def test_from_decimal_inverts_to_decimal(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    assert Money.from_decimal(money.to_decimal(), currency, RoundingMode.DOWN) == money


# --- rounding ---------------------------------------------------------------------------------

ROUNDING_TABLE = [
    # mode,                  1.005, -1.005, 1.015, -1.015  (GBP minor units)
    (RoundingMode.HALF_UP, (101, -101, 102, -102)),
    (RoundingMode.HALF_EVEN, (100, -100, 102, -102)),
    (RoundingMode.DOWN, (100, -100, 101, -101)),
    (RoundingMode.UP, (101, -101, 102, -102)),
    (RoundingMode.FLOOR, (100, -101, 101, -102)),
    (RoundingMode.CEILING, (101, -100, 102, -101)),
]


@pytest.mark.parametrize(("mode", "expected"), ROUNDING_TABLE)
def test_from_decimal_rounds_half_cents_by_the_named_rule(
    mode: RoundingMode, expected: tuple[int, int, int, int]
) -> None:
    values = ("1.005", "-1.005", Decimal("1.015"), Decimal("-1.015"))
    got = tuple(Money.from_decimal(v, "GBP", mode).amount_minor for v in values)
    assert got == expected


def test_from_decimal_defaults_to_half_up_and_accepts_ints_and_strings() -> None:
    assert Money.from_decimal("2.5", "JPY") == Money(3, "JPY")
    assert Money.from_decimal("2.5", "JPY", RoundingMode.HALF_EVEN) == Money(2, "JPY")
    assert Money.from_decimal(Decimal("1.2345"), "KWD") == Money(1235, "KWD")
    assert Money.from_decimal(12, "GBP") == Money(1200, "GBP")
    assert Money.from_decimal(" 12.30 ", "GBP") == Money(1230, "GBP")


@pytest.mark.parametrize("text", ["abc", "", "1,5", "1_000", "12.3.4", "1 2"])
def test_from_decimal_refuses_malformed_text(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Money.from_decimal(text, "GBP")
    assert [(p.field, p.check) for p in caught.value.problems] == [("amount", "number_format")]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity"), "NaN", "inf", "-Infinity"])
def test_from_decimal_refuses_non_finite_values(value: Decimal | str) -> None:
    with pytest.raises(ValueError, match="finite"):
        Money.from_decimal(value, "GBP")


@settings(max_examples=300)
@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.decimals(min_value=-1000, max_value=1000, places=12, allow_nan=False, allow_infinity=False),
    st.sampled_from(list(RoundingMode)),
)
def test_multiply_matches_exact_fraction_rounding(
    amount: int, rate: Decimal, mode: RoundingMode
) -> None:
    got = Money(amount, "GBP").multiply(rate, mode)
    assert got == Money(reference_round(Fraction(amount) * Fraction(rate), mode), "GBP")


@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False),
    st.sampled_from(["GBP", "JPY", "KWD", "CLF"]),
    st.sampled_from(list(RoundingMode)),
)
def test_quantize_minor_matches_exact_fraction_rounding(
    value: Decimal, currency: str, mode: RoundingMode
) -> None:
    scaled = Fraction(value) * 10 ** exponent(currency)
    assert quantize_minor(value, currency, mode) == reference_round(scaled, mode)


def test_multiply_is_exact_beyond_fifty_digits() -> None:
    rate = Decimal("0." + "4" * 59 + "5")  # 61 significant digits: a 50-digit context would round
    for mode in RoundingMode:
        expected = reference_round(Fraction(10**15 + 1) * Fraction(rate), mode)
        assert Money(10**15 + 1, "USD").multiply(rate, mode).amount_minor == expected
    half = Decimal("5E-62")  # times 10**61 is exactly one half of a minor unit
    assert Money(10**61, "USD").multiply(half, RoundingMode.HALF_EVEN).amount_minor == 0
    assert Money(10**61, "USD").multiply(half, RoundingMode.HALF_UP).amount_minor == 1


def test_multiply_names_its_rounding_and_takes_decimals_or_ints() -> None:
    assert Money(1000, "GBP").multiply(Decimal("0.175"), RoundingMode.HALF_UP) == Money(175, "GBP")
    assert Money(1000, "GBP").multiply(3, RoundingMode.HALF_UP) == Money(3000, "GBP")
    assert Money(5, "GBP").multiply(Decimal("0.5"), RoundingMode.HALF_EVEN) == Money(2, "GBP")
    assert Money(5, "GBP").multiply(Decimal("0.5"), RoundingMode.HALF_UP) == Money(3, "GBP")
    with pytest.raises(TypeError):
        Money(5, "GBP").multiply(Decimal("0.5"))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="to_rate"):
        Money(5, "GBP").multiply("0.5", RoundingMode.HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RoundingMode"):
        Money(5, "GBP").multiply(Decimal("0.5"), "HALF_UP")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Money(5, "GBP").multiply(Decimal("NaN"), RoundingMode.HALF_UP)


def test_the_ambient_decimal_context_is_ignored_and_left_alone() -> None:
    with decimal.localcontext() as ambient:
        ambient.prec = 3
        ambient.rounding = decimal.ROUND_FLOOR
        before = ambient.copy()
        product = Money(123456789, "GBP").multiply(Decimal("1.0000001"), RoundingMode.HALF_UP)
        assert product == Money(123456801, "GBP")
        assert Money.from_decimal("123456.785", "GBP") == Money(12345679, "GBP")
        assert Money(123456789, "GBP").to_decimal() == Decimal("1234567.89")
        assert round_decimal(Decimal("2.675"), 2, RoundingMode.HALF_EVEN) == Decimal("2.68")
        assert (ambient.prec, ambient.rounding) == (before.prec, before.rounding)


def test_round_decimal_keeps_the_requested_places() -> None:
    assert str(round_decimal(Decimal("2"), 2, RoundingMode.HALF_UP)) == "2.00"
    assert str(round_decimal(Decimal("-0.125"), 2, RoundingMode.HALF_EVEN)) == "-0.12"
    assert round_decimal(Decimal("1250"), -2, RoundingMode.HALF_EVEN) == Decimal("1200")


# --- rates ------------------------------------------------------------------------------------


def test_to_rate_accepts_exact_values() -> None:
    assert to_rate("0.175") == Decimal("0.175")
    assert to_rate(" 1.5 ") == Decimal("1.5")
    assert to_rate("-2E-3") == Decimal("-0.002")
    assert to_rate(3) == Decimal(3)
    assert to_rate(Decimal("1.25")) == Decimal("1.25")


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), "nan", "-inf"]
)
def test_to_rate_refuses_non_finite_values(value: Decimal | str) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_rate(value)


@pytest.mark.parametrize(
    "value", ["", "abc", "1,5", "1_000", "0x10", "1.2.3", "½", "\N{ARABIC-INDIC DIGIT ONE}"]
)
def test_to_rate_refuses_malformed_text(value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        to_rate(value)
    assert [p.field for p in caught.value.problems] == ["rate"]


@pytest.mark.parametrize("value", [0.5, True, None, Fraction(1, 2)])
def test_to_rate_refuses_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="rate must be"):
        to_rate(value)  # type: ignore[arg-type]


# --- formatting and parsing -------------------------------------------------------------------

LOCALES = ("en_US", "en_GB", "de_DE", "es_ES")
CURRENCIES = ("USD", "GBP", "EUR", "JPY", "KWD")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("currency", CURRENCIES)
@settings(deadline=None, max_examples=60)
@given(amount=st.integers(min_value=-(10**12), max_value=10**12))
def test_format_then_parse_round_trips(locale: str, currency: str, amount: int) -> None:
    money = Money(amount, currency)
    assert parse_money(format_money(money, locale), currency, locale) == money
    assert money.format(locale) == format_money(money, locale)


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(123456, "USD"), "en_US", "$1,234.56"),
        (Money(-123456, "GBP"), "en_GB", "-£1,234.56"),
        (Money(123456, "EUR"), "de_DE", "1.234,56\xa0€"),
        (Money(123456, "JPY"), "en_US", "¥123,456"),
        (Money(123456, "JPY"), "de_DE", "123.456\xa0¥"),
        (Money(1234567, "KWD"), "en_US", "KWD1,234.567"),
        (Money(1234567, "KWD"), "es_ES", "1.234,567\xa0KWD"),
        (Money(5, "GBP"), "en_GB", "£0.05"),
        (Money(123, "ISK"), "en_US", "ISK123"),  # ISO 0 places
        (Money(123, "IQD"), "en_US", "IQD0.123"),  # ISO 3 places, CLDR says 0
    ],
)
def test_format_money_shows_the_iso_number_of_places(money: Money, locale: str, text: str) -> None:
    assert format_money(money, locale) == text


@pytest.mark.parametrize(
    ("text", "currency", "locale", "amount_minor"),
    [
        ("1.234,56 €", "EUR", "de_DE", 123456),
        ("1.234,56\xa0€", "EUR", "de_DE", 123456),
        ("-1.234,56 €", "EUR", "de_DE", -123456),
        ("(1.234,56 €)", "EUR", "de_DE", -123456),
        ("$12.50", "USD", "en_US", 1250),
        ("-$12.50", "USD", "en_US", -1250),
        ("$-12.50", "USD", "en_US", -1250),
        ("($12.50)", "USD", "en_US", -1250),
        ("  12.5  ", "USD", "en_US", 1250),
        ("USD 12.50", "USD", "en_US", 1250),
        ("12.50 USD", "USD", "en_US", 1250),
        ("US$1,000", "USD", "en_GB", 100000),
        ("¥1,234", "JPY", "en_US", 1234),
        ("1.234,567 KWD", "KWD", "es_ES", 1234567),
        ("0", "GBP", "en_GB", 0),
        ("\N{MINUS SIGN}£3.00", "GBP", "en_GB", -300),
    ],
)
def test_parse_money_examples(text: str, currency: str, locale: str, amount_minor: int) -> None:
    assert parse_money(text, currency, locale) == Money(amount_minor, currency)


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("", "USD", "en_US"),
        ("abc", "USD", "en_US"),
        ("$", "USD", "en_US"),
        ("12.3.4", "USD", "en_US"),
        ("1,2,3", "USD", "en_US"),
        ("12,50", "USD", "en_US"),
        ("12.50", "EUR", "de_DE"),
        ("1e5", "USD", "en_US"),
        ("NaN", "USD", "en_US"),
        ("Infinity", "USD", "en_US"),
        ("--5", "USD", "en_US"),
        ("(-5)", "USD", "en_US"),
        ("£12.00", "USD", "en_US"),
        ("12 34", "USD", "en_US"),
        ("1_000", "USD", "en_US"),
        ("\N{ARABIC-INDIC DIGIT ONE}\N{ARABIC-INDIC DIGIT TWO}", "USD", "en_US"),
    ],
)
def test_parse_money_refuses_garbage(text: str, currency: str, locale: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_money(text, currency, locale)
    assert [(p.field, p.check) for p in caught.value.problems] == [("amount", "number_format")]


@pytest.mark.parametrize(
    ("text", "currency", "locale"),
    [
        ("12.345", "GBP", "en_GB"),
        ("12.340", "GBP", "en_GB"),
        ("¥12.5", "JPY", "en_US"),
        ("1,2345 KWD", "KWD", "de_DE"),
        ("0.00001", "CLF", "en_US"),
    ],
)
def test_parse_money_refuses_more_places_than_the_currency_has(
    text: str, currency: str, locale: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_money(text, currency, locale)
    assert [(p.field, p.check) for p in caught.value.problems] == [("amount", "currency_exponent")]


def test_parse_money_refuses_an_unknown_currency() -> None:
    with pytest.raises(UnknownCurrency):
        parse_money("12.00", "XYZ")


# --- house rules --------------------------------------------------------------------------------

FLOAT_CALL = re.compile(r"\bfloat\(")
FLOAT_OK = re.compile(r"#\s*float-ok:\s*\S")


def test_no_float_calls_in_the_source_tree() -> None:
    """Floats are banned in money paths; a justified exception carries `# float-ok: why`."""
    offences = [
        f"{path.relative_to(SRC_REMIT.parent)}:{number}: {line.strip()}"
        for path in sorted(SRC_REMIT.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if FLOAT_CALL.search(line) and not FLOAT_OK.search(line)
    ]
    assert not offences, "float( found in money paths:\n" + "\n".join(offences)


def test_the_kernel_imports_only_the_standard_library_babel_and_errors() -> None:
    tree = ast.parse((SRC_REMIT / "money.py").read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    remit_modules = {name for name in imported if name.split(".")[0] == "remit"}
    assert remit_modules == {"remit.errors"}
    allowed_roots = {
        "__future__", "collections", "copy", "dataclasses", "decimal", "enum", "fractions",
        "functools", "math", "re", "types", "babel", "remit",
    }  # fmt: skip
    assert {name.split(".")[0] for name in imported} <= allowed_roots
