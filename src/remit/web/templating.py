"""The one Jinja environment of the web app: layout and shared pages here, each package's
pages in its own ``templates/<package>/`` folder, all autoescaped.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from remit import __version__
from remit.calendar import local_date, locale_of
from remit.care.reports import hours_text
from remit.money import CURRENCY_EXPONENTS, Money, format_money
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


def date_local(value: date | str | None, currency: str = "") -> str:
    """A date for people, in the locale of the book's currency (``amount``'s); text that is
    no date (a typed value sent back) as it is.

    >>> date_local(date(2026, 11, 2), "GBP"), date_local("2026-11-02", "USD"), date_local("")
    ('2 Nov 2026', 'Nov 2, 2026', '')
    >>> date_local("2026-13-01")
    '2026-13-01'
    """
    if not value:
        return ""
    if isinstance(value, date):
        return local_date(value, locale_of(currency))
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return local_date(day, locale_of(currency))


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
        date_local=date_local,
        hours=hours_text,
        day=day_text,
        when=when_text,
        zip=zip,
    )
    return templates
