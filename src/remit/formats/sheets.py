"""A spreadsheet (XLSX) read as the CSV text a file import already checks, so that one
reader names every problem by line (the sheet's row: the header is row 1, as in a CSV) and
column, whichever way the file came.

openpyxl reads the workbook (read-only, values only, no formulas evaluated: a cell holding
a formula gives the value Excel saved with it). The first sheet is read. A date cell is
written ``YYYY-MM-DD``, a time cell ``HH:MM``, a date-and-time cell at midnight as its date
(Excel keeps dates as date-times), a whole number without ``.0``; text is kept as typed.

>>> import io
>>> from openpyxl import Workbook
>>> book = Workbook()
>>> sheet = book.active
>>> from datetime import date, time
>>> sheet.append(["certificate_id", "date", "time_in"])
>>> sheet.append(["C1", date(2026, 11, 2), time(8, 30)])
>>> out = io.BytesIO(); book.save(out)
>>> sheet_as_csv(out.getvalue(), "a.xlsx").decode()
'certificate_id,date,time_in\\r\\nC1,2026-11-02,08:30\\r\\n'
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, time
from decimal import Decimal

from remit.errors import Problem, ValidationFailed

MAX_CELLS = 20_000_000


def _text(value: object) -> str:
    text: str
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        at_midnight = value.time() == time(0, 0)
        text = value.date().isoformat() if at_midnight else value.isoformat(" ", "minutes")
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, time):
        text = value.strftime("%H:%M")
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        exact = Decimal(repr(value))
        text = str(int(exact)) if exact == exact.to_integral_value() else str(exact)
    else:
        text = str(value)
    return text


def sheet_as_csv(content: bytes, name: str) -> bytes:
    """The first sheet of an XLSX workbook as UTF-8 CSV; a file that is not a workbook is
    a problem of the file, named."""
    from openpyxl import load_workbook  # noqa: PLC0415 - heavy import, only for XLSX files

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationFailed(
            [Problem("file", f"not an Excel workbook that can be read ({exc})", "xlsx", 1, name)]
        ) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise ValidationFailed([Problem("file", "the workbook has no sheet", "xlsx", 1, name)])
        out = io.StringIO()
        writer = csv.writer(out)
        cells = 0
        for row in sheet.iter_rows(values_only=True):
            values = [_text(v) for v in row]
            while values and values[-1] == "":
                values.pop()
            cells += len(values)
            if cells > MAX_CELLS:
                raise ValidationFailed(
                    [Problem("file", f"more than {MAX_CELLS:,} cells", "too_large", None, name)]
                )
            writer.writerow(values)
        return out.getvalue().encode()
    finally:
        book.close()


def is_xlsx(name: str, content: bytes) -> bool:
    """A workbook by its name or its first bytes (a ZIP holding ``xl/``)."""
    return name.lower().endswith((".xlsx", ".xlsm")) or (
        content[:2] == b"PK" and b"xl/" in content[:4000]
    )
