"""Report tables as people take them away: CSV and XLSX from columns that name their unit.

Every package's reports describe their columns (``Column``: key, heading with the unit,
``Kind``) and hand rows as dicts; these functions write them. Text that came from outside
(refs, names, reasons) is kept from running as a spreadsheet formula in both formats.

These are the one writer of every file meant for people (self-bills, reports, statements,
the trial balance). The exchange formats that other programs read back (care outcomes,
rejected rows, entry files: see docs/formats) are written exactly as the data is, and do
not come through here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from babel.numbers import get_currency_symbol

from remit.money import CURRENCY_EXPONENTS, Money, exponent


class Kind(StrEnum):
    """What a column holds, which says how CSV and XLSX write it."""

    TEXT = "text"  # text from outside (refs, names, reasons): guarded against formulas
    LABEL = "label"  # text remit wrote (a status, a formatted amount)
    INT = "int"  # minutes, counts, minor units
    DATE = "date"
    DECIMAL = "decimal"  # a percentage
    HOURS = "hours"  # given in minutes, written as decimal hours
    MONEY = "money"  # given in minor units of the row's "currency", written in major units


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    heading: str  # in plain words, naming a unit the kind does not: "Hours commissioned"
    kind: Kind = Kind.INT


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def typed_value(value: Any, kind: Kind, currency: str | None = None) -> Any:
    """What a cell holds: minutes as decimal hours, minor units as major units of their
    currency (left as they are without one); anything else unchanged.

    >>> typed_value(750, Kind.HOURS), typed_value(-1250, Kind.MONEY, "GBP")
    (Decimal('12.50'), Decimal('-12.50'))
    """
    if value is None:
        return None
    if kind is Kind.HOURS:
        return (Decimal(int(value)) / 60).quantize(Decimal("0.01"))
    if kind is Kind.MONEY and currency in CURRENCY_EXPONENTS:
        return Money(int(value), str(currency)).to_decimal()
    return value


def money_format(currency: str | None) -> str:
    """A spreadsheet number format with the currency's symbol and decimals.

    >>> money_format("GBP"), money_format("JPY"), money_format(None)
    ('"£"#,##0.00;-"£"#,##0.00', '"¥"#,##0;-"¥"#,##0', '#,##0')
    """
    if currency not in CURRENCY_EXPONENTS:
        return "#,##0"
    places = exponent(str(currency))
    symbol = get_currency_symbol(str(currency), locale="en")
    number = "#,##0" + ("." + "0" * places if places else "")
    return f'"{symbol}"{number};-"{symbol}"{number}'


def cell_text(value: Any, kind: Kind) -> str:
    """A value as CSV text; text from outside that a spreadsheet would run as a formula is
    quoted with a leading apostrophe.

    >>> cell_text("=HYPERLINK(1)", Kind.TEXT), cell_text(None, Kind.INT), cell_text(7, Kind.INT)
    ("'=HYPERLINK(1)", '', '7')
    """
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if kind is Kind.TEXT and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def table_csv(columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 CSV: a header line of the columns' headings, then a line per row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.heading for c in columns])
    writer.writerows(
        [
            cell_text(typed_value(row.get(c.key), c.kind, row.get("currency")), c.kind)
            for c in columns
        ]
        for row in rows
    )
    return out.getvalue().encode("utf-8")


def write_sheet(
    sheet: Any, columns: Sequence[Column], rows: Iterable[dict[str, Any]], first_row: int = 1
) -> int:
    """A table on an openpyxl sheet from ``first_row``; returns the next free row. Numbers
    are integers or Decimals; text is always text, never a formula."""
    from openpyxl.styles import Font  # noqa: PLC0415 - heavy import, only when exporting

    for j, column in enumerate(columns, start=1):
        cell = sheet.cell(first_row, j, column.heading)
        cell.font = Font(bold=True)
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(
            sheet.column_dimensions[letter].width or 0, min(len(column.heading) + 2, 40)
        )
    i = first_row
    for i, row in enumerate(rows, start=first_row + 1):
        for j, column in enumerate(columns, start=1):
            value = typed_value(row.get(column.key), column.kind, row.get("currency"))
            put_cell(sheet, i, j, value, column.kind)
            if column.kind is Kind.MONEY and value is not None:
                sheet.cell(i, j).number_format = money_format(row.get("currency"))
    return i + 1


# The characters an XLSX cell cannot hold: openpyxl's ILLEGAL_CHARACTERS_RE (C0 controls
# but tab and line breaks), and what XML 1.0 or UTF-8 cannot carry either, which openpyxl
# writes anyway into a file no spreadsheet opens (U+FFFE, U+FFFF, lone surrogates).
# Compiled here once, so that openpyxl is imported only when a workbook is made.
_XML_REFUSED = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]|[\ud800-\udfff\ufffe\uffff]")


def put_cell(sheet: Any, row: int, column: int, value: Any, kind: Kind = Kind.LABEL) -> None:
    """One cell: text stays text (never a formula; a character XML cannot hold, which
    older data may still carry, shows as U+FFFD), numbers and dates keep their type."""
    if isinstance(value, str):
        value = _XML_REFUSED.sub("\ufffd", value)
    cell = sheet.cell(row, column, value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would read "=..." as a formula
        # Shown and kept as text even when someone edits the cell, like CSV's apostrophe.
        cell.quotePrefix = value.startswith(_FORMULA_START)
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    elif kind is Kind.DECIMAL:
        cell.number_format = "0.0"
    elif kind is Kind.HOURS:
        cell.number_format = "0.00"


def workbook_bytes(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
