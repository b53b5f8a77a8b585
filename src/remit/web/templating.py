"""The one Jinja environment of the web app: layout and shared pages here, each package's
pages in its own ``templates/<package>/`` folder, all autoescaped.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader, pass_context
from jinja2.runtime import Context

from remit import __version__
from remit.calendar import book_locale, local_date, locale_of
from remit.care.reports import hours_text
from remit.money import CURRENCY_EXPONENTS, Money, format_money
from remit.payments.model import area_label, method_label
from remit.web.forms import once_token

SRC = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = (
    SRC / "web" / "templates",
    SRC / "cases" / "templates",
    SRC / "parties" / "templates",
    SRC / "ledger" / "templates",
    SRC / "jobs" / "templates",
    SRC / "events" / "templates",
    SRC / "access" / "templates",
    SRC / "care" / "templates",
    SRC / "payments" / "templates",
    SRC / "childcare" / "templates",
)


def money_text(minor: int | None, currency: str, blank_zero: bool = True) -> str:
    """An amount for a table cell: grouped, with the currency's decimals.

    >>> money_text(123456, "GBP"), money_text(0, "GBP"), money_text(-5, "JPY")
    ('1,234.56', '', '-5')
    """
    if minor is None or (minor == 0 and blank_zero):
        return ""
    return f"{Money(minor, currency).to_decimal():,}"


def amount_text(minor: int | None, currency: str) -> str:
    """An amount for people: its currency's symbol, grouped, in the currency's locale;
    empty without an amount or a currency.

    >>> amount_text(536622, "GBP"), amount_text(-1250, "USD"), amount_text(0, "GBP")
    ('£5,366.22', '-$12.50', '£0.00')
    """
    if minor is None or currency not in CURRENCY_EXPONENTS:
        return ""
    return _amount(int(minor), currency)


@functools.lru_cache(maxsize=16_384)
def _amount(minor: int, currency: str) -> str:
    """Babel's text for an amount, kept: a page of 150 amounts spent a third of its time in
    Babel, and a run's amounts repeat (rate times minutes)."""
    return format_money(Money(minor, currency), locale_of(currency))


def date_text(value: date | str | None, locale: str = "en_GB") -> str:
    """A date for people in a locale; text that is no date (a typed value sent back) as
    it is.

    >>> date_text(date(2026, 11, 2)), date_text("2026-11-02", "en_US"), date_text("")
    ('2 Nov 2026', 'Nov 2, 2026', '')
    >>> date_text("2026-13-01")
    '2026-13-01'
    """
    if not value:
        return ""
    if isinstance(value, date):
        return local_date(value, locale)
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return local_date(day, locale)


def page_locale(context: Mapping[str, Any] | Context, currency: str = "") -> str:
    """The locale of the page's book (its setting, ``book_locale``), read from the layout's
    ``ctx``; without a book, the currency's. One place, so that every template's
    ``|date_local`` follows the book's setting without naming it.

    >>> from types import SimpleNamespace  # a request's ctx, as the layout has it
    >>> page_locale({"ctx": SimpleNamespace(book={"locale": "en_US", "base_currency": "GBP"})})
    'en_US'
    >>> page_locale({}, "USD"), page_locale({"ctx": SimpleNamespace(book=None)})
    ('en_US', 'en_GB')
    """
    book = getattr(context.get("ctx"), "book", None)
    if isinstance(book, Mapping):
        return book_locale(book)
    return locale_of(currency)


def date_local(value: date | str | None, currency: str = "") -> str:
    """A date for people in the locale of a currency (a book's, where no book is at hand).

    >>> date_local(date(2026, 11, 2), "GBP"), date_local("2026-11-02", "USD")
    ('2 Nov 2026', 'Nov 2, 2026')
    """
    return date_text(value, locale_of(currency))


@pass_context
def book_date(context: Context, value: date | str | None, currency: str = "") -> str:
    """The ``date_local`` filter: a date in the locale of the page's book (``currency``,
    which templates pass, counts only where the page has no book)."""
    return date_text(value, page_locale(context, currency))


def day_text(value: date | str | None) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def when_text(value: str | None) -> str:
    """Stored UTC ISO text as 'YYYY-MM-DD HH:MM UTC'."""
    if not value:
        return ""
    return f"{value[:10]} {value[11:16]} UTC"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATE_DIRS[0]))
    templates.env.loader = ChoiceLoader(
        [FileSystemLoader([str(d) for d in TEMPLATE_DIRS if d.exists()])]
    )
    templates.env.globals.update(
        version=__version__,
        money=money_text,
        amount=amount_text,
        day=day_text,
        when=when_text,
        once_token=once_token,
    )
    templates.env.filters.update(
        money=money_text,
        amount=amount_text,
        date_local=book_date,
        hours=hours_text,
        day=day_text,
        when=when_text,
        zip=zip,
        method=method_label,
        area=area_label,
    )
    return templates
