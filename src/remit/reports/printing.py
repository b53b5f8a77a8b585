"""Documents printed to PDF (remittance advice, a cheque register): one template environment
with the money and date filters documents use, and one way to print HTML with WeasyPrint
that fetches nothing from outside the document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from remit.calendar import local_date
from remit.money import Money, format_money


def document_environment(folder: Path, **filters: Any) -> Environment:
    """Templates of ``folder``, autoescaped, strict, with ``money(minor, currency, locale)``
    and ``day(value, locale)`` filters and any further ``filters``."""
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda minor, currency, locale: format_money(
        Money(int(minor), str(currency)), locale
    )
    env.filters["day"] = lambda value, locale: local_date(value, locale) if value else ""
    env.filters.update(filters)
    return env


def pdf_bytes(html: str, css: str) -> bytes:
    """``html`` printed with ``css``; only ``data:`` URLs are fetched (nothing outside)."""
    from weasyprint import CSS, HTML  # noqa: PLC0415 - heavy import, only when printing
    from weasyprint.urls import URLFetcher  # noqa: PLC0415

    fetcher = URLFetcher(allowed_protocols=("data",))
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=css, url_fetcher=fetcher)]
    )
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
