"""Letters and e-mails to parties: the template catalogue, rendering in English and Spanish,
and letters as PDF.

Pure: no database and no network. The service (``correspondence``) gathers the facts and
calls in here; this module only turns a template and its context into text, HTML and PDF.

Templates live beside this module, one file per template, channel and language::

    templates/letters/_base.html          layout: letterhead, address, date, reference
    templates/letters/{en,es}/_layout.html greeting, sign-off and labels of the language
    templates/letters/{en,es}/<name>.html  ``{% block subject %}`` and ``{% block body %}``
    templates/emails/{en,es}/<name>.txt    first line ``Subject: ...``, a blank line, the body
    templates/emails/{en,es}/<name>.html   optional: the same e-mail as HTML (an alternative)

LETTER_TEMPLATES: the catalogue ``TEMPLATES`` below names each template, its label, the
channels it is written for and the context it needs (``TemplateField``: name, label, kind,
required). The service adds the facts every template may use: ``book_name``,
``party_name``, ``party_ref``, ``recipient_name``, ``recipient_lines`` (letters),
``letter_date`` and ``case_id``. Dates, money and numbers are formatted by Babel for the
locale through the filters ``date``, ``money`` and ``number``; ``paragraphs`` turns an
officer's free text into HTML paragraphs. A language with the currency picks the locale
(``resolve_locale``): a US-dollar book writes ``en_US`` or ``es_US``, any other ``en_GB`` or
``es_ES``.

``RECORD_TEMPLATES`` are written by remit itself from its records (a remittance advice lists
the documents a payment paid, ``FieldKind.LINES``), never chosen on an officer's form; the
service looks both catalogues up through ``template_spec``.

>>> spec = TEMPLATES["statement_cover"]
>>> spec.channels, spec.required
(('letter', 'email'), ('period_start', 'period_end', 'closing_balance'))
"""

from __future__ import annotations

import functools
import html as htmllib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from markupsafe import Markup, escape

from remit.errors import Problem, ValidationFailed
from remit.money import Money, format_money, parse_money
from remit.text import date_problem, text_problem

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUPPORTED_LOCALES = ("en_GB", "en_US", "es_ES", "es_US")
LANGUAGES = ("en", "es")
TEMPLATE_CHANNELS = ("letter", "email")
MAX_TEXT = 300
MAX_LONG_TEXT = 20_000


class FieldKind(StrEnum):
    TEXT = "text"  # one line
    LONG_TEXT = "long_text"  # paragraphs written by the officer
    DATE = "date"  # a date, or ISO text "2026-03-31"
    MONEY = "money"  # Money, or text "1234.56" in the book's currency
    LINES = "lines"  # rows from the records: mappings with "doc_ref" (text) and "amount" (Money)
    ROWS = "rows"  # rows from the records: mappings of names to text (a schedule, a list)


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    label: str
    kind: FieldKind
    required: bool = True


@dataclass(frozen=True, slots=True)
class LetterTemplate:
    """One template of the catalogue, written for each channel and language it names."""

    name: str
    label: str
    channels: tuple[str, ...]
    fields: tuple[TemplateField, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


_F, _K = TemplateField, FieldKind
TEMPLATES: Mapping[str, LetterTemplate] = MappingProxyType(
    {
        t.name: t
        for t in (
            LetterTemplate(
                "general",
                "Letter or e-mail written by the officer",
                TEMPLATE_CHANNELS,
                (_F("subject", "Subject", _K.TEXT), _F("body", "Text", _K.LONG_TEXT)),
            ),
            LetterTemplate(
                "query_acknowledgement",
                "Acknowledge a query",
                TEMPLATE_CHANNELS,
                (
                    _F("case_reference", "Case reference", _K.TEXT),
                    _F("query_subject", "What the query is about", _K.TEXT),
                    _F("reply_due_date", "We reply by", _K.DATE),
                ),
            ),
            LetterTemplate(
                "bank_details_changed",
                "Bank details changed: fraud safeguard",
                TEMPLATE_CHANNELS,
                (
                    _F("changed_on", "Date of the change", _K.DATE),
                    _F("callback_phone", "Our phone number, from our own records", _K.TEXT),
                    # Filled by the service from the party's active account when not given.
                    _F("masked_account", "New account, masked", _K.TEXT, required=False),
                ),
            ),
            LetterTemplate(
                "statement_cover",
                "Cover for a statement",
                TEMPLATE_CHANNELS,
                (
                    _F("period_start", "Period from", _K.DATE),
                    _F("period_end", "Period to", _K.DATE),
                    _F("closing_balance", "Closing balance", _K.MONEY),
                ),
            ),
        )
    }
)


# Written by remit from its records, not on the officer's form (see the module's docstring).
RECORD_TEMPLATES: Mapping[str, LetterTemplate] = MappingProxyType(
    {
        "remittance": LetterTemplate(
            "remittance",
            "Remittance advice of a payment",
            ("email",),
            (
                _F("payment_reference", "Payment reference", _K.TEXT),
                _F("pay_date", "Pay date", _K.DATE),
                _F("total", "Amount paid", _K.MONEY),
                _F("documents", "Documents paid", _K.LINES),
            ),
        ),
        # A child care certificate's version, to the family (issue 11; childcare.service).
        "notice_of_action": LetterTemplate(
            "notice_of_action",
            "Notice of action: a child care certificate",
            ("letter",),
            (
                _F("certificate_ref", "Certificate", _K.TEXT),
                _F("child_name", "Child", _K.TEXT),
                _F("provider_name", "Provider", _K.TEXT),
                _F("action", "approval or change", _K.TEXT),
                _F("effective", "Takes effect on", _K.DATE),
                _F("period_start", "Care from", _K.DATE),
                _F("period_end", "Care to", _K.DATE),
                _F("schedule", "Certified hours", _K.ROWS),
                _F("rate_category", "Rate category", _K.TEXT),
                _F("time_basis", "Time basis", _K.TEXT),
                _F("provider_rate", "Provider's rate", _K.MONEY),
                _F("family_fee", "Monthly family fee", _K.MONEY),
                _F("fee_exempt", "Exempt from fees (yes or no)", _K.TEXT),
                _F("reason", "Reason", _K.TEXT, required=False),
                _F("changed", "What changed", _K.ROWS, required=False),
            ),
        ),
    }
)


def template_spec(template: str) -> LetterTemplate | None:
    """A template of either catalogue, by name.

    >>> template_spec("remittance").channels, template_spec("general").label[:6], template_spec("x")
    (('email',), 'Letter', None)
    """
    return TEMPLATES.get(template) or RECORD_TEMPLATES.get(template)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered item: its subject, its HTML (a letter; an e-mail with an HTML template,
    else "") and its plain text."""

    subject: str
    html: str
    text: str


# ---------------------------------------------------------------- locale and checks


def resolve_locale(locale: str, currency: str) -> str:
    """The Babel locale for a language (or a full locale) and the book's currency.

    >>> resolve_locale("es", "USD"), resolve_locale("es", "EUR"), resolve_locale("en", "GBP")
    ('es_US', 'es_ES', 'en_GB')
    >>> resolve_locale("en-US", "GBP"), resolve_locale("fr", "EUR")
    ('en_US', '')
    """
    wanted = locale.strip().replace("-", "_")
    if wanted in LANGUAGES:
        region = "US" if currency == "USD" else {"en": "GB", "es": "ES"}[wanted]
        return f"{wanted}_{region}"
    return wanted if wanted in SUPPORTED_LOCALES else ""


def request_problems(template: str, channel: str, locale: str) -> list[Problem]:
    """Everything wrong with the choice of template, channel and language.

    >>> [p.check for p in request_problems("general", "fax", "de")]
    ['channel', 'locale']
    """
    problems = []
    spec = template_spec(template)
    if spec is None:
        names = ", ".join((*TEMPLATES, *RECORD_TEMPLATES))
        problems.append(
            Problem("template", f"unknown template {template!r} (one of {names})", "template")
        )
    elif channel not in spec.channels:
        problems.append(
            Problem(
                "channel",
                f"{template!r} is written for {' and '.join(spec.channels)}, not {channel!r}",
                "channel",
            )
        )
    if not resolve_locale(locale, "XXX"):
        problems.append(
            Problem(
                "locale",
                f"write in English (en) or Spanish (es), or one of "
                f"{', '.join(SUPPORTED_LOCALES)}; not {locale!r}",
                "locale",
            )
        )
    return problems


def prepare_context(
    template: str, context: Mapping[str, Any], currency: str
) -> tuple[dict[str, Any], list[Problem]]:
    """The template's fields from ``context``, typed (dates, Money), and every problem.

    Keys the template does not declare are left out.

    >>> values, problems = prepare_context("statement_cover", {"period_start": "2026-03-01",
    ...     "period_end": date(2026, 3, 31), "closing_balance": "1,234.50", "x": 1}, "GBP")
    >>> values["period_start"], values["closing_balance"], "x" in values, problems
    (datetime.date(2026, 3, 1), Money(amount_minor=123450, currency='GBP'), False, [])
    >>> _, problems = prepare_context("statement_cover", {"period_start": "2026-03-31",
    ...     "period_end": "2026-03-01", "closing_balance": "12.345"}, "GBP")
    >>> [(p.field, p.check) for p in problems]
    [('closing_balance', 'currency_exponent'), ('period_end', 'period_order')]
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    found = template_spec(template)
    for spec in found.fields if found is not None else ():
        raw = context.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                problems.append(Problem(spec.name, f"{spec.label}: required", "required"))
            continue
        value, problem = _coerce(spec, raw, currency)
        if problem is not None:
            problems.append(problem)
        else:
            values[spec.name] = value
    start, end = values.get("period_start"), values.get("period_end")
    if start is not None and end is not None and end < start:
        problems.append(Problem("period_end", "the period ends before it starts", "period_order"))
    masked = values.get("masked_account")
    if masked is not None and not looks_masked(masked):
        problems.append(
            Problem(
                "masked_account",
                "show only the masked account (at most the last 4 digits of any number)",
                "masked_only",
            )
        )
    return values, problems


def looks_masked(text: str) -> bool:
    """True when account details are masked: a mask mark and no more than 4 digits in a row.

    >>> looks_masked("sort code **-**-40 acct ****5678"), looks_masked("ABA ****0021 acct ****6789")
    (True, True)
    >>> looks_masked("20-00-00 55779911"), looks_masked("acct 5577 9911")
    (False, False)
    """
    joined = re.sub(r"[\s-]", "", text)
    return ("*" in text or "…" in text) and re.search(r"\d{5,}", joined) is None


def _coerce(spec: TemplateField, raw: Any, currency: str) -> tuple[Any, Problem | None]:
    """A field's value typed for its kind, or the problem with it."""
    try:
        if spec.kind is FieldKind.DATE:
            return _as_date(raw), None
        if spec.kind is FieldKind.MONEY:
            return _as_money(raw, currency), None
        if spec.kind is FieldKind.LINES:
            return _as_lines(raw), None
        if spec.kind is FieldKind.ROWS:
            return _as_rows(raw), None
        return _as_text(raw, spec.kind), None
    except _BadValue as bad:
        return None, Problem(spec.name, bad.message, bad.check)


class _BadValue(Exception):
    def __init__(self, message: str, check: str) -> None:
        super().__init__(message)
        self.message, self.check = message, check


def _as_date(raw: Any) -> date:
    try:
        day = raw if isinstance(raw, date) else date.fromisoformat(str(raw).strip())
    except ValueError:
        raise _BadValue(f"{raw!r} is not a date (YYYY-MM-DD)", "date_format") from None
    found = date_problem(day, "date")
    if found is not None:
        raise _BadValue(found.message, found.check)
    return day


def _as_money(raw: Any, currency: str) -> Money:
    if isinstance(raw, Money):
        return raw
    if not isinstance(raw, str):
        raise _BadValue("give an amount as text or Money", "number_format")
    try:
        return parse_money(raw, currency, "en_US")
    except ValidationFailed as failed:
        first = failed.problems[0]
        raise _BadValue(first.message, first.check) from None


def _as_lines(raw: Any) -> tuple[Mapping[str, Any], ...]:
    """Rows from the records, each with a document reference and an amount of Money."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple)) or not raw:
        raise _BadValue("give one or more rows from the records", "lines")
    for row in raw:
        if not (
            isinstance(row, Mapping)
            and isinstance(row.get("doc_ref"), str)
            and isinstance(row.get("amount"), Money)
        ):
            raise _BadValue("each row needs a doc_ref (text) and an amount (Money)", "lines")
    return tuple(raw)


def _as_rows(raw: Any) -> tuple[Mapping[str, str], ...]:
    """Rows from the records, each a mapping of names to short text."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple)) or not raw:
        raise _BadValue("give one or more rows from the records", "rows")
    for row in raw:
        if not (
            isinstance(row, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in row.items())
            and all(len(v) <= MAX_TEXT for v in row.values())
        ):
            raise _BadValue(f"each row maps names to text of at most {MAX_TEXT} characters", "rows")
    return tuple(raw)


def _as_text(raw: Any, kind: FieldKind) -> str:
    if not isinstance(raw, str):
        raise _BadValue("give text", "text")
    long = kind is FieldKind.LONG_TEXT
    limit = MAX_LONG_TEXT if long else MAX_TEXT
    # A one-line field's white space (line breaks too) is collapsed to single spaces.
    text = raw.strip() if long else " ".join(raw.split())
    found = text_problem(text, "text", max_chars=limit, multiline=long)
    if found is not None:
        raise _BadValue(found.message, found.check)
    return text


# ---------------------------------------------------------------- formatting


def format_day(value: date, locale: str, style: str = "long") -> str:
    """A date written for the locale (Babel's ``long`` style by default).

    >>> d = date(2026, 3, 5)
    >>> format_day(d, "en_GB"), format_day(d, "en_US"), format_day(d, "es_US")
    ('5 March 2026', 'March 5, 2026', '5 de marzo de 2026')
    """
    return str(babel_dates.format_date(value, style, locale=locale))


def paragraphs(text: str) -> Markup:
    """Free text as HTML paragraphs: blank lines part them, single line breaks stay.

    >>> str(paragraphs("Dear <b>Jo</b>,\\nline two\\n\\nThanks"))
    '<p>Dear &lt;b&gt;Jo&lt;/b&gt;,<br>\\nline two</p>\\n<p>Thanks</p>'
    """
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(
            Markup("<br>\n").join(escape(line) for line in block.split("\n"))
        )
        for block in blocks
    )


@pass_context
def _date_filter(ctx: Any, value: date, style: str = "long") -> str:
    return format_day(value, ctx["locale"], style)


@pass_context
def _money_filter(ctx: Any, value: Money) -> str:
    return format_money(value, ctx["locale"])


@pass_context
def _number_filter(ctx: Any, value: Any) -> str:
    return str(babel_numbers.format_decimal(value, locale=ctx["locale"]))


@functools.cache
def environment() -> Environment:
    """The Jinja environment over the templates; HTML is escaped, text is not."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date=_date_filter, money=_money_filter, number=_number_filter, paragraphs=paragraphs
    )
    return env


# ---------------------------------------------------------------- rendering


def render(template: str, channel: str, locale: str, context: Mapping[str, Any]) -> Rendered:
    """Render a template of the catalogue for a channel in a locale (``en_GB`` ...).

    The context is the template's prepared fields with the facts the service adds.

    >>> facts = {"book_name": "Northshire Council", "party_name": "Sunrise Care",
    ...          "party_ref": "P001", "recipient_name": "Jo Smith", "case_id": 12,
    ...          "letter_date": date(2026, 3, 5), "recipient_lines": ["Sunrise Care"],
    ...          "case_reference": "12", "query_subject": "March visits",
    ...          "reply_due_date": date(2026, 3, 12)}
    >>> mail = render("query_acknowledgement", "email", "es_ES", facts)
    >>> mail.subject
    'Hemos recibido su consulta: March visits (referencia 12)'
    >>> "a más tardar el 12 de marzo de 2026" in mail.text, mail.html
    (True, '')
    >>> letter = render("query_acknowledgement", "letter", "en_US", facts)
    >>> "We will reply by March 12, 2026 at the latest" in letter.text
    True
    """
    problems = request_problems(template, channel, locale)
    if problems:
        raise ValidationFailed(problems)
    variables = {**context, "locale": resolve_locale(locale, "XXX")}
    language = variables["locale"].split("_")[0]
    if channel == "email":
        return _render_email(f"emails/{language}/{template}", variables)
    page = environment().get_template(f"letters/{language}/{template}.html")
    subject_html = "".join(page.blocks["subject"](page.new_context(variables)))
    body = page.render(variables)
    return Rendered(" ".join(htmllib.unescape(subject_html).split()), body, html_to_text(body))


def _render_email(stem: str, variables: dict[str, Any]) -> Rendered:
    """The text template (its ``Subject:`` line, then the body) and, when the template has an
    ``.html`` sibling, the same e-mail as HTML."""
    text = environment().get_template(f"{stem}.txt").render(variables)
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"the e-mail template {stem}.txt must begin with a 'Subject:' line")
    subject = " ".join(first.removeprefix("Subject:").split())
    html = ""
    if (TEMPLATE_DIR / f"{stem}.html").is_file():
        html = environment().get_template(f"{stem}.html").render({**variables, "subject": subject})
    return Rendered(subject, html, rest.strip("\n") + "\n")


_HIDDEN = re.compile(r"(?is)<(head|style|script)\b.*?</\1\s*>")
_BREAKS = re.compile(r"(?i)<(br|/?p|/?div|/?h\d|/?header|/?address|/?li|/?tr|/?main)\b[^>]*>")
_TAGS = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """The readable text of a letter's HTML, one line per block (for search and lists).

    Meant for remit's own rendered letters, where every text from outside is escaped.

    >>> html_to_text("<html><head><title>T</title></head><body><p>Dear Jo,</p>"
    ...              "<p>We  paid <b>£5</b> &amp; more.<br>Thanks</p></body></html>")
    'Dear Jo,\\nWe paid £5 & more.\\nThanks\\n'
    """
    text = _TAGS.sub("", _BREAKS.sub("\n", _HIDDEN.sub("", html)))
    lines = (" ".join(line.split()) for line in htmllib.unescape(text).split("\n"))
    return "\n".join(line for line in lines if line) + "\n"


# ---------------------------------------------------------------- PDF


PRINT_CSS = """
@page {
  size: A4;
  margin: 28mm 20mm 25mm 25mm;
  @top-left { content: string(letterhead); font: 8.5pt "DejaVu Sans", sans-serif;
              color: #555; }
  @bottom-right { content: counter(page) " / " counter(pages);
                  font: 8.5pt "DejaVu Sans", sans-serif; color: #555; }
}
@page :first { margin-top: 15mm; @top-left { content: none; } }
html { font: 10.5pt/1.45 "DejaVu Serif", serif; color: #000; }
.letterhead { string-set: letterhead content(); font: bold 15pt "DejaVu Sans", sans-serif;
              border-bottom: 0.6pt solid #000; padding-bottom: 3mm; margin: 0 0 12mm; }
.address { width: 85mm; min-height: 30mm; margin: 0 0 8mm; font-style: normal; }
.date { text-align: right; margin: 0 0 4mm; }
.reference { font-size: 9pt; margin: 0 0 6mm; }
h1.subject { font-size: 11pt; font-weight: bold; margin: 0 0 5mm; }
p { margin: 0 0 3mm; orphans: 2; widows: 2; }
.signoff { margin-top: 8mm; break-inside: avoid; }
"""


def to_pdf(html: str) -> bytes:
    """A letter's HTML as an A4 PDF with remit's print stylesheet (letterhead, page numbers).

    Nothing outside the document is fetched: no files, no network (``data:`` URIs only).

    >>> to_pdf("<p class='letterhead'>Northshire Council</p><p>Dear Jo,</p>")[:5]
    b'%PDF-'
    """
    from weasyprint import CSS, HTML  # noqa: PLC0415 - heavy import, only when printing
    from weasyprint.urls import URLFetcher  # noqa: PLC0415

    fetcher = URLFetcher(allowed_protocols=("data",))
    document = HTML(string=html, url_fetcher=fetcher)
    pdf = document.write_pdf(stylesheets=[CSS(string=PRINT_CSS, url_fetcher=fetcher)])
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
