"""Business days per jurisdiction, from the ``holidays`` package.

A book names its calendar by a short code: a country with an optional subdivision
(``GB-ENG``, ``US``, ``US-CA``) or a financial calendar (``XFED`` for the Federal Reserve
and ACH settlement, ``ECB`` for TARGET2). Weekends are Saturday and Sunday.

>>> cal = BusinessCalendar("GB-ENG")
>>> cal.add_business_days(date(2026, 12, 24), 1)   # Christmas and Boxing Day (moved to 28th)
datetime.date(2026, 12, 29)
>>> cal.business_days_between(date(2026, 12, 24), date(2026, 12, 29))
1
>>> BusinessCalendar("XFED").is_business_day(date(2026, 11, 26))  # Thanksgiving
False
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

import holidays
from babel.dates import format_date

from remit.errors import Problem, ValidationFailed

FINANCIAL = {"XFED": "XFED", "ECB": "XECB"}
SATURDAY = 5
CALENDAR_CODES = ("GB-ENG", "GB-SCT", "GB-WLS", "GB-NIR", "US", "US-CA", "XFED", "ECB")


def calendar_problems(code: str) -> list[Problem]:
    """What is wrong with a calendar code (empty when it is known to ``holidays``).

    >>> calendar_problems("US-CA")
    []
    >>> calendar_problems("XX")[0].check
    'calendar'
    """
    if _known(code):
        return []
    return [
        Problem(
            "calendar",
            f"unknown holiday calendar {code!r}; for example {', '.join(CALENDAR_CODES)}",
            "calendar",
        )
    ]


@functools.lru_cache(maxsize=64)
def _known(code: str) -> bool:
    """Whether ``holidays`` knows the code (asked once per code: building its calendar
    takes milliseconds, and every case opened asks)."""
    try:
        _holidays(code, (2026,))
    except (NotImplementedError, KeyError, ValueError):
        return False
    return True


def _holidays(code: str, years: Iterable[int]) -> holidays.HolidayBase:
    if code in FINANCIAL:
        return holidays.financial_holidays(FINANCIAL[code], years=list(years))
    country, _, subdiv = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdiv or None, years=list(years))


@functools.lru_cache(maxsize=64)
def _holiday_set(code: str, year: int) -> frozenset[date]:
    return frozenset(_holidays(code, (year,)).keys())


class BusinessCalendar:
    """Working days of one jurisdiction."""

    def __init__(self, code: str) -> None:
        problems = calendar_problems(code)
        if problems:
            raise ValidationFailed(problems)
        self.code = code

    def holidays_between(self, first: date, last: date) -> list[date]:
        """The public holidays from ``first`` to ``last`` inclusive, in order (a holiday on a
        weekend and the weekday it is moved to both).

        >>> BusinessCalendar("GB-ENG").holidays_between(date(2026, 12, 25), date(2026, 12, 31))
        [datetime.date(2026, 12, 25), datetime.date(2026, 12, 26), datetime.date(2026, 12, 28)]
        """
        years = range(first.year, last.year + 1)
        return sorted(d for y in years for d in _holiday_set(self.code, y) if first <= d <= last)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and day not in _holiday_set(self.code, day.year)

    def add_business_days(self, start: date, days: int) -> date:
        """The date ``days`` business days after ``start`` (``start`` itself not counted).

        >>> BusinessCalendar("US").add_business_days(date(2026, 11, 20), 3)  # Fri + 3
        datetime.date(2026, 11, 25)
        >>> BusinessCalendar("US").add_business_days(date(2026, 11, 21), 0)  # a Saturday
        datetime.date(2026, 11, 23)
        """
        day = start
        if days == 0:
            while not self.is_business_day(day):
                day += timedelta(days=1)
            return day
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        return day

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after ``start`` up to and including ``end``; negative if before.

        >>> BusinessCalendar("GB-ENG").business_days_between(date(2026, 11, 23),
        ...                                                   date(2026, 11, 20))
        -1
        """
        if end < start:
            return -self.business_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count += 1
        return count


# The locales a book may write its dates in (Babel's names, with their names in English):
# a bounded list, so that a book's pages never depend on a locale nobody has looked at.
BOOK_LOCALES: Mapping[str, str] = MappingProxyType(
    {
        "en_GB": "English (United Kingdom)",
        "en_US": "English (United States)",
        "es_US": "Spanish (United States)",
        "es_ES": "Spanish (Spain)",
    }
)


def normal_locale(text: str) -> str:
    """A locale as Babel names it, from either spelling people type (``en-GB``, ``en_gb``);
    text that is no language and region as it is.

    >>> normal_locale(" en-us "), normal_locale("es_ES"), normal_locale("english")
    ('en_US', 'es_ES', 'english')
    """
    language, sep, region = text.strip().replace("-", "_").partition("_")
    if not sep:
        return text.strip()
    return f"{language.lower()}_{region.upper()}"


def locale_problems(text: str, field: str = "locale") -> list[Problem]:
    """What is wrong with a book's locale (empty when it is one of ``BOOK_LOCALES``).

    >>> locale_problems("en-US")
    []
    >>> locale_problems("fr-FR")[0].message
    "unknown locale 'fr-FR'; choose one of en-GB, en-US, es-US, es-ES"
    """
    if normal_locale(text) in BOOK_LOCALES:
        return []
    known = ", ".join(code.replace("_", "-") for code in BOOK_LOCALES)
    return [Problem(field, f"unknown locale {text.strip()!r}; choose one of {known}", "locale")]


def book_locale(book: Mapping[str, Any]) -> str:
    """The locale a book writes its dates in: its own setting, else its currency's.

    >>> book_locale({"locale": "en_US", "base_currency": "GBP"})
    'en_US'
    >>> book_locale({"locale": None, "base_currency": "USD"})
    'en_US'
    """
    chosen = str(book.get("locale") or "")
    return chosen if chosen in BOOK_LOCALES else locale_of(str(book.get("base_currency", "")))


def locale_of(currency: str) -> str:
    """The locale a book's amounts and dates are written in: US English for dollars (the
    child care agency's book), British English otherwise (the council's).

    >>> locale_of("USD"), locale_of("GBP")
    ('en_US', 'en_GB')
    """
    return "en_US" if currency == "USD" else "en_GB"


@functools.lru_cache(maxsize=8192)  # Babel takes ~0.1 ms a date; a page shows 150 of a few dozen
def local_date(day: date | None, locale: str = "en_GB") -> str:
    """A date for people in a locale: the day, the month's short name and the year, in the
    locale's order; empty without a date.

    >>> local_date(date(2026, 11, 2)), local_date(date(2026, 11, 2), "en_US"), local_date(None)
    ('2 Nov 2026', 'Nov 2, 2026', '')
    """
    if day is None:
        return ""
    return format_date(day, "medium", locale=locale)
