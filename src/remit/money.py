"""The money kernel: integer minor units, ISO 4217 exponents, named rounding, allocation.

Every amount in remit is a `Money`: integer minor units plus an ISO 4217 code. Rates are
`Decimal` (`to_rate`). Every rounding names a `RoundingMode`; every split goes through
`allocate`, so parts add back to the whole. No I/O; Babel only at the format and parse
edges. Floats are refused everywhere with `TypeError`.

>>> Money.from_decimal("12.345", "GBP", RoundingMode.HALF_EVEN)
Money(amount_minor=1234, currency='GBP')
>>> [str(part) for part in Money(1000, "GBP").allocate([1, 1, 1])]
['GBP 3.34', 'GBP 3.33', 'GBP 3.33']
"""

from __future__ import annotations

import copy
import decimal
import enum
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from fractions import Fraction
from types import MappingProxyType

from babel import Locale, numbers

from remit.errors import Problem, RemitError, ValidationFailed

# ISO 4217 List One, active codes with a numeric minor unit (metals, XDR, XSU, XUA and the
# testing codes have none and are left out). ISO 4217 is authoritative here, not CLDR/Babel,
# which differs for some codes (ISO: IQD 3; AFN, ALL, IRR, LAK, RSD, YER ... 2; ISK 0).
# ANG, CUC, SLL and ZWL are being replaced (by XCG, -, SLE and ZWG); they stay in the table
# so that records from the transition still load.
_CODES_BY_EXPONENT = (
    (0, "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"),
    (3, "BHD IQD JOD KWD LYD OMR TND"),
    (4, "CLF UYW"),
    (
        2,
        """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
        BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR
        FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW
        KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
        NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD
        SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU
        UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
        """,
    ),
)
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {code: places for places, codes in _CODES_BY_EXPONENT for code in codes.split()}
)

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE_TEXT = frozenset({"nan", "snan", "inf", "infinity"})
# Precision floor of every local decimal context; contexts grow past it when an exact result
# needs more digits, so no intermediate result is ever silently rounded.
_MIN_PRECISION_DIGITS = 50


# The largest amount one posting may carry, and one entry's debits may add up to: 10^15 minor
# units (ten trillion pounds or dollars). Balances and day totals are BIGINT (at most
# 2^63 - 1, about 9.2 x 10^18), so thousands of postings at the limit still fit, and a
# posting that would take a total past the column's range is refused, never wrapped.
MAX_AMOUNT_MINOR = 10**15
BALANCE_LIMIT_MINOR = 2**63 - 1


def amount_problem(
    amount_minor: int,
    field: str,
    *,
    line: int | None = None,
    source: str = "",
    limit: int = MAX_AMOUNT_MINOR,
) -> Problem | None:
    """What is wrong with an amount of minor units, or None: beyond +/- ``limit``.

    >>> amount_problem(10**15, "amount_minor") is None
    True
    >>> str(amount_problem(-(10**15) - 1, "amount_minor", line=4))
    'line 4: amount_minor: at most 1,000,000,000,000,000 minor units either way [amount_bound]'
    """
    if -limit <= amount_minor <= limit:
        return None
    return Problem(field, f"at most {limit:,} minor units either way", "amount_bound", line, source)


class UnknownCurrency(RemitError):
    """The code is not an ISO 4217 currency in `CURRENCY_EXPONENTS`."""


class CurrencyMismatch(RemitError):
    """Two amounts in different currencies were added, subtracted or compared."""


class RoundingMode(enum.Enum):
    """The named rounding rules: the one place in remit that names them.

    >>> [str(round_decimal(Decimal("-2.5"), 0, mode)) for mode in RoundingMode]
    ['-3', '-2', '-2', '-3', '-3', '-2']
    """

    HALF_UP = decimal.ROUND_HALF_UP  # nearest; ties away from zero (2.5 -> 3, -2.5 -> -3)
    HALF_EVEN = decimal.ROUND_HALF_EVEN  # nearest; ties to even (2.5 -> 2, 3.5 -> 4)
    DOWN = decimal.ROUND_DOWN  # toward zero (truncate)
    UP = decimal.ROUND_UP  # away from zero
    FLOOR = decimal.ROUND_FLOOR  # toward minus infinity
    CEILING = decimal.ROUND_CEILING  # toward plus infinity


def exponent(currency: str) -> int:
    """Return the ISO 4217 minor-unit exponent of `currency`.

    >>> exponent("GBP"), exponent("JPY"), exponent("KWD"), exponent("CLF")
    (2, 0, 3, 4)
    >>> exponent("gbp")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    remit.money.UnknownCurrency: 'gbp' is not a known ISO 4217 currency code
    """
    if isinstance(currency, str) and _CURRENCY_CODE.fullmatch(currency):
        found = CURRENCY_EXPONENTS.get(currency)
        if found is not None:
            return found
    raise UnknownCurrency(f"{currency!r} is not a known ISO 4217 currency code")


def _context(digits: int, mode: RoundingMode = RoundingMode.HALF_EVEN) -> Context:
    """A fresh context with room for `digits`; the thread's context is never read or changed."""
    traps = [InvalidOperation, DivisionByZero, Overflow]  # never pass silently
    return Context(prec=max(_MIN_PRECISION_DIGITS, digits), rounding=mode.value, traps=traps)


def _as_decimal(value: object, field: str) -> Decimal:
    """The one constructor from outside values to `Decimal`: ints, Decimals, decimal strings."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(
            f"{field} must be a Decimal, an int or a decimal string, not "
            f"{type(value).__name__} (floats are never used for money)"
        )
    if isinstance(value, str):
        text = value.strip()
        if text.lower().lstrip("+-") in _NON_FINITE_TEXT:
            raise ValueError(f"{field} must be finite, got {value!r}")
        if not _DECIMAL_TEXT.fullmatch(text):
            message = f"{value!r} is not a decimal number"
            raise ValidationFailed([Problem(field, message, check="number_format")])
        return Decimal(text)
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{field} must be finite, got {number}")
    return number


def to_rate(value: str | int | Decimal) -> Decimal:
    """Return a rate or factor as an exact `Decimal`; floats and non-finite values are refused.

    >>> to_rate("0.175"), to_rate(3)
    (Decimal('0.175'), Decimal('3'))
    >>> to_rate(0.175)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    TypeError: rate must be a Decimal, an int or a decimal string, not float
    """
    return _as_decimal(value, "rate")


def round_decimal(value: Decimal, places: int, mode: RoundingMode) -> Decimal:
    """Round `value` to `places` decimal places by the named rule.

    >>> round_decimal(Decimal("1.005"), 2, RoundingMode.HALF_UP)
    Decimal('1.01')
    >>> round_decimal(Decimal("1.005"), 2, RoundingMode.HALF_EVEN)
    Decimal('1.00')
    """
    if not isinstance(mode, RoundingMode):
        raise TypeError(f"mode must be a RoundingMode, not {type(mode).__name__}")
    number = _as_decimal(value, "value")
    with localcontext(_context(number.adjusted() + places + 2, mode)):
        return number.quantize(Decimal(1).scaleb(-places))


def quantize_minor(value: Decimal, currency: str, mode: RoundingMode) -> int:
    """Convert a major-unit amount to integer minor units of `currency` by the named rule.

    >>> quantize_minor(Decimal("12.345"), "GBP", RoundingMode.HALF_UP)
    1235
    >>> quantize_minor(Decimal("-2.5"), "JPY", RoundingMode.HALF_EVEN)
    -2
    """
    places = exponent(currency)
    numerator, denominator = round_decimal(value, places, mode).as_integer_ratio()
    return int(numerator * 10**places // denominator)  # exact: the rounded value has `places`


@functools.total_ordering  # <=, >, >= from < and ==; < refuses mixed currencies
@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount: integer minor units of an ISO 4217 currency.

    >>> a, b = Money(1250, "GBP"), Money(-300, "GBP")
    >>> str(a + b), str(a - b), str(-a), str(abs(b))
    ('GBP 9.50', 'GBP 15.50', 'GBP -12.50', 'GBP 3.00')
    >>> a > b, bool(Money.zero("GBP")), str(Money(1234, "JPY")), str(Money(1234, "KWD"))
    (True, False, 'JPY 1234', 'KWD 1.234')
    >>> a + Money(1, "EUR")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    remit.money.CurrencyMismatch: GBP and EUR cannot be combined
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            kind = type(self.amount_minor).__name__
            raise TypeError(f"amount_minor must be an int, not {kind}; see Money.from_decimal")
        exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return nothing of `currency`.

        >>> Money.zero("JPY")
        Money(amount_minor=0, currency='JPY')
        """
        return cls(0, currency)

    @classmethod
    def from_decimal(
        cls,
        value: Decimal | str | int,
        currency: str,
        rounding: RoundingMode = RoundingMode.HALF_UP,
    ) -> Money:
        """Build from a major-unit amount, rounding to the currency's minor unit by `rounding`.

        >>> Money.from_decimal("1.005", "USD"), Money.from_decimal(Decimal("-2.5"), "JPY")
        (Money(amount_minor=101, currency='USD'), Money(amount_minor=-3, currency='JPY'))
        """
        return cls(quantize_minor(_as_decimal(value, "amount"), currency, rounding), currency)

    def to_decimal(self) -> Decimal:
        """Return the exact major-unit amount, with the currency's number of places.

        >>> Money(1234, "GBP").to_decimal(), Money(5, "KWD").to_decimal()
        (Decimal('12.34'), Decimal('0.005'))
        """
        places = exponent(self.currency)
        with localcontext(_context(len(str(self.amount_minor)) + places)):
            return Decimal(self.amount_minor).scaleb(-places)

    def multiply(self, rate: Decimal | int, rounding: RoundingMode) -> Money:
        """Multiply by an exact rate, rounding the product to a minor unit by `rounding`.

        >>> Money(1999, "GBP").multiply(Decimal("0.2"), RoundingMode.HALF_EVEN)
        Money(amount_minor=400, currency='GBP')
        """
        if isinstance(rate, str):
            raise TypeError("rate must be a Decimal or an int; parse text with to_rate")
        factor = _as_decimal(rate, "rate")
        digits = len(str(self.amount_minor)) + len(factor.as_tuple().digits)
        with localcontext(_context(digits)):
            product = Decimal(self.amount_minor) * factor  # exact: the context has room
        return Money(int(round_decimal(product, 0, rounding)), self.currency)

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Split by `weights` with `allocate`; the parts add back to this amount.

        >>> [p.amount_minor for p in Money(-100, "USD").allocate([1, 1, 1])]
        [-34, -33, -33]
        """
        return allocate_money(self, weights)

    def is_zero(self) -> bool:
        """Return whether the amount is zero.

        >>> Money(0, "GBP").is_zero(), Money(1, "GBP").is_zero()
        (True, False)
        """
        return self.amount_minor == 0

    def format(self, locale: str = "en_US") -> str:
        """Return the amount formatted for `locale`; see `format_money`.

        >>> Money(123456, "USD").format()
        '$1,234.56'
        """
        return format_money(self, locale)

    def _same_currency(self, other: object) -> int:
        """Return `other`'s amount_minor if it is Money in this currency; refuse otherwise."""
        if not isinstance(other, Money):
            raise TypeError(f"Money cannot be combined with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")
        return other.amount_minor

    def __add__(self, other: Money) -> Money:
        return Money(self.amount_minor + self._same_currency(other), self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount_minor - self._same_currency(other), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __bool__(self) -> bool:
        return self.amount_minor != 0

    def __lt__(self, other: Money) -> bool:
        return self.amount_minor < self._same_currency(other)

    def __str__(self) -> str:
        return f"{self.currency} {self.to_decimal():f}"


def _integer_weights(weights: Sequence[int | Decimal]) -> list[int]:
    """Scale non-negative int/Decimal weights exactly to integers in the same proportions."""
    ratios: list[Fraction] = []
    for index, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, int | Decimal):
            raise TypeError(f"weight {index} must be an int or a Decimal, not {type(weight)}")
        if isinstance(weight, Decimal) and not weight.is_finite():
            raise ValueError(f"weight {index} must be finite, got {weight}")
        if weight < 0:
            raise ValueError(f"weight {index} is negative: {weight}")
        ratios.append(Fraction(weight))
    if not ratios or not any(ratios):
        raise ValueError("allocation needs at least one positive weight")
    common = math.lcm(*(ratio.denominator for ratio in ratios))
    return [ratio.numerator * (common // ratio.denominator) for ratio in ratios]


def allocate(total_minor: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Split `total_minor` in proportion to `weights` by largest remainder.

    Each part is the floor or the ceiling of its exact share ``total * w / sum(weights)``
    and the parts always sum to `total_minor`. The units left after flooring go one each to
    the parts with the largest remainders; equal remainders go to the lower index first.
    A negative total is split as its mirror image, zero weights get 0, and negative, float,
    empty or all-zero weights are refused. Arithmetic is exact integer arithmetic.

    >>> allocate(100, [1, 1, 1])
    [34, 33, 33]
    >>> allocate(-100, [1, 1, 1])
    [-34, -33, -33]
    >>> allocate(5, [Decimal("0.5"), 0, Decimal("0.5")])
    [3, 0, 2]
    """
    if isinstance(total_minor, bool) or not isinstance(total_minor, int):
        raise TypeError(f"total_minor must be an int, not {type(total_minor).__name__}")
    scaled = _integer_weights(weights)
    magnitude = abs(total_minor)
    whole = sum(scaled)
    parts = [magnitude * weight // whole for weight in scaled]
    remainders = [magnitude * weight % whole for weight in scaled]
    leftover = magnitude - sum(parts)  # < number of parts with a non-zero remainder
    by_remainder = sorted(range(len(parts)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[:leftover]:
        parts[index] += 1
    return [-part for part in parts] if total_minor < 0 else parts


def allocate_money(total: Money, weights: Sequence[int | Decimal]) -> list[Money]:
    """Split `total` in proportion to `weights`; see `allocate`.

    >>> [str(part) for part in allocate_money(Money(1000, "JPY"), [2, 1])]
    ['JPY 667', 'JPY 333']
    """
    return [Money(part, total.currency) for part in allocate(total.amount_minor, weights)]


def format_money(money: Money, locale: str = "en_US") -> str:
    r"""Format `money` for `locale` with Babel, showing the ISO 4217 number of places.

    >>> format_money(Money(123456, "GBP"), "en_GB"), format_money(Money(-123456, "JPY"))
    ('£1,234.56', '-¥123,456')
    >>> format_money(Money(1234567, "KWD"), "de_DE")
    '1.234,567\xa0KWD'
    """
    places = exponent(money.currency)
    # Babel's own currency digits come from CLDR, which differs from ISO 4217 for some codes:
    # the locale's pattern is copied and given the ISO number of places instead.
    pattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (places, places)
    return numbers.format_currency(
        money.to_decimal(), money.currency, format=pattern, locale=locale, currency_digits=False
    )


def _unsign(text: str, locale: str) -> tuple[bool, str]:
    """Split a leading minus sign or enclosing parentheses from `text`."""
    if len(text) > 1 and text[0] == "(" and text[-1] == ")":
        return True, text[1:-1].strip()
    for minus in (numbers.get_minus_sign_symbol(locale), "-", "\N{MINUS SIGN}"):
        if minus and text.startswith(minus):
            return True, text[len(minus) :].strip()
    return False, text


def _parse_number(text: str, body: str, locale: str) -> Decimal:
    """Parse the unsigned localised number `body`, taken from `text`."""
    problem = Problem("amount", f"{text!r} is not an amount in {locale}", check="number_format")
    group, point = numbers.get_group_symbol(locale), numbers.get_decimal_symbol(locale)
    digits = body.replace(group, "").replace(point, "")
    if not (digits.isascii() and digits.isdigit()):
        raise ValidationFailed([problem])
    try:
        return numbers.parse_decimal(body, locale, strict=True)
    except numbers.NumberFormatError as error:
        raise ValidationFailed([problem]) from error


def parse_money(text: str, currency: str, locale: str = "en_US") -> Money:
    """Parse an amount written for `locale`, with or without the currency's symbol or code.

    A leading minus or enclosing parentheses make it negative. More decimal places than the
    currency has (even trailing zeros) and anything that is not a number are refused.

    >>> parse_money("1.234,56 €", "EUR", "de_DE"), parse_money("($12.50)", "USD")
    (Money(amount_minor=123456, currency='EUR'), Money(amount_minor=-1250, currency='USD'))
    >>> parse_money("12.345", "GBP")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    remit.errors.ValidationFailed: amount: '12.345' has 3 decimal places; GBP has 2
    """
    places = exponent(currency)
    body = text
    marks = {numbers.get_currency_symbol(currency, locale), currency}
    for mark in sorted(marks, key=len, reverse=True):  # "US$" before "USD" before "$"
        body = body.replace(mark, "", 1)
    negative, body = _unsign(body.strip(), locale)
    number = _parse_number(text, body, locale)
    written = number.as_tuple().exponent
    if not isinstance(written, int) or -written > places:
        message = f"{text!r} has more decimal places than {currency} has ({places})"
        raise ValidationFailed([Problem("amount", message, check="currency_exponent")])
    minor = quantize_minor(number, currency, RoundingMode.HALF_UP)  # exact: places checked
    return Money(-minor if negative else minor, currency)
