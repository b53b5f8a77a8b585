"""remit's own file of journal entries, as CSV or JSON (``remit ledger post FILE``).

CSV: one line per posting, lines of one entry share its ``entry`` reference::

    entry,date,description,account,party,currency,debit,credit,memo
    INV-1,2026-01-31,January care,5000,,GBP,1234.50,,
    INV-1,2026-01-31,January care,2000,P001,GBP,,1234.50,

Amounts are in major units with at most the currency's decimals; ``party`` is the party's
ref in the book (needed on control accounts). The idempotency key is the ``idempotency_key``
column when present, else ``entry``: posting the same file twice, or a corrected copy of it,
never posts an entry twice (a changed entry under the same key is refused as a conflict).

JSON: ``{"entries": [{"idempotency_key": ..., "date": ..., "description": ..., "postings":
[{"account": ..., "party": ..., "currency": ..., "amount_minor": ... | "amount": "12.50"}]}]}``
with positive amounts as debits and negative ones as credits.

The parser is pure: it returns drafts whose postings carry party *refs*, and every problem
with its line (CSV) or path (JSON) and field.

>>> text = "entry,date,description,account,party,currency,debit,credit\\n" \\
...        "A,2026-01-31,Rent,5000,,GBP,10.00,\\nA,2026-01-31,Rent,1000,,GBP,,10.00\\n"
>>> parsed = parse_entry_file(text.encode(), "rent.csv")
>>> parsed.problems, [(p.account, p.amount_minor) for p in parsed.entries[0].postings]
([], [('5000', 1000), ('1000', -1000)])
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from remit.errors import Problem, ValidationFailed
from remit.ledger.rules import MAX_KEY_LENGTH
from remit.money import amount_problem, parse_money
from remit.text import ID_MAX, NAME_MAX, date_problem, text_problem

CSV_REQUIRED = ("entry", "date", "account", "currency", "debit", "credit")
CSV_OPTIONAL = ("description", "party", "memo", "idempotency_key")
# What each text field may hold (the columns it lands in): refs and codes are ids.
DESCRIPTION_MAX = 500
TEXT_BOUNDS = {
    "entry": ID_MAX,
    "idempotency_key": MAX_KEY_LENGTH,
    "description": DESCRIPTION_MAX,
    "account": ID_MAX,
    "party": ID_MAX,
    "memo": NAME_MAX,
}
# Longer than any amount within the posting bound (16 digits, separators, decimals).
AMOUNT_TEXT_MAX = 40


@dataclass(frozen=True, slots=True)
class FilePosting:
    account: str
    amount_minor: int
    currency: str
    party_ref: str = ""
    memo: str = ""


@dataclass(slots=True)
class FileEntry:
    key: str
    entry_date: date
    description: str
    postings: list[FilePosting] = field(default_factory=list)
    where: str = ""


@dataclass(slots=True)
class ParsedFile:
    entries: list[FileEntry]
    problems: list[Problem]


def parse_entry_file(data: bytes, name: str) -> ParsedFile:
    """Parse CSV or JSON by the file name's ending (or the first character)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedFile([], [Problem("file", f"not UTF-8 text: {exc}", "encoding", source=name)])
    is_json = name.lower().endswith(".json") or text.lstrip().startswith(("{", "["))
    return _parse_json(text, name) if is_json else _parse_csv(text, name)


def _amount(
    text: str, currency: str, field_name: str, line: int | None, name: str, problems: list[Problem]
) -> int | None:
    if len(text) > AMOUNT_TEXT_MAX:
        message = f"at most {AMOUNT_TEXT_MAX} characters ({len(text):,} given)"
        problems.append(Problem(field_name, message, "amount_bound", line, name))
        return None
    try:
        minor = parse_money(text, currency).amount_minor
    except ValidationFailed as exc:
        problems.extend(Problem(field_name, p.message, p.check, line, name) for p in exc.problems)
        return None
    except Exception as exc:  # noqa: BLE001 - an unknown currency is reported on its field
        problems.append(Problem("currency", str(exc), "currency", line, name))
        return None
    return _bounded(minor, field_name, line, name, problems)


def _bounded(
    minor: int, field_name: str, line: int | None, name: str, problems: list[Problem]
) -> int | None:
    """``minor`` when within the posting bound; else None and a problem."""
    problem = amount_problem(minor, field_name, line=line, source=name)
    if problem is None:
        return minor
    problems.append(problem)
    return None


def _texts(
    values: dict[str, str], where: str, line: int | None, name: str, problems: list[Problem]
) -> bool:
    """Check the text fields of one line or object against ``TEXT_BOUNDS``; False if any
    is refused. ``where`` prefixes the field names (a JSON path)."""
    found = [
        text_problem(value, f"{where}{key}", max_chars=TEXT_BOUNDS[key], line=line, source=name)
        for key, value in values.items()
        if key in TEXT_BOUNDS
    ]
    refused = [p for p in found if p is not None]
    problems.extend(refused)
    return not refused


def _date(
    text: str, field_name: str, line: int | None, name: str, problems: list[Problem]
) -> date | None:
    try:
        when = date.fromisoformat(text.strip())
    except ValueError:
        shown = text if len(text) <= AMOUNT_TEXT_MAX else text[:AMOUNT_TEXT_MAX] + "..."
        problems.append(
            Problem(field_name, f"{shown!r} is not a date (YYYY-MM-DD)", "date_format", line, name)
        )
        return None
    problem = date_problem(when, field_name, line=line, source=name)
    if problem is not None:
        problems.append(problem)
        return None
    return when


def _parse_csv(text: str, name: str) -> ParsedFile:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        return ParsedFile(
            [],
            [
                Problem(
                    "header", f"missing column(s): {', '.join(missing)}", "missing_column", 1, name
                )
            ],
        )
    problems: list[Problem] = []
    entries: dict[str, FileEntry] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not _texts(row, "", line, name, problems):
            continue
        posting, when = _csv_posting(row, line, name, problems)
        ref = row["entry"]
        if not ref:
            problems.append(Problem("entry", "every line names its entry", "required", line, name))
            continue
        key = row.get("idempotency_key") or ref
        current = entries.get(key)
        if current is None and when is not None:
            current = entries[key] = FileEntry(
                key, when, row.get("description", ""), where=f"{name} line {line}"
            )
        elif current is not None and when is not None and when != current.entry_date:
            problems.append(
                Problem(
                    "date", f"entry {ref} has lines on two dates", "entry_date_mismatch", line, name
                )
            )
        if current is not None and posting is not None:
            current.postings.append(posting)
    if not entries and not problems:
        problems.append(_nothing_to_import(name, reader.line_num))
    return ParsedFile(list(entries.values()), problems)


def _nothing_to_import(name: str, line: int | None = None) -> Problem:
    return Problem("file", "no entries in the file: nothing to import", "empty", line, name)


def _csv_posting(
    row: dict[str, str], line: int, name: str, problems: list[Problem]
) -> tuple[FilePosting | None, date | None]:
    when = _date(row["date"], "date", line, name, problems)
    currency = row["currency"].upper()
    debit, credit = row["debit"], row["credit"]
    if bool(debit) == bool(credit):
        problems.append(
            Problem(
                "debit", "give a debit or a credit on each line, not both", "one_side", line, name
            )
        )
        return None, when
    if not row["account"]:
        problems.append(Problem("account", "an account code is required", "required", line, name))
        return None, when
    amount = _amount(
        debit or credit, currency, "debit" if debit else "credit", line, name, problems
    )
    if amount is None:
        return None, when
    if amount <= 0:
        problems.append(
            Problem(
                "debit" if debit else "credit",
                "amounts are positive; use the other column for the other side",
                "positive_amount",
                line,
                name,
            )
        )
        return None, when
    signed = amount if debit else -amount
    return FilePosting(
        row["account"], signed, currency, row.get("party", ""), row.get("memo", "")
    ), when


def _parse_json(text: str, name: str) -> ParsedFile:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParsedFile([], [Problem("file", exc.msg, "json_syntax", exc.lineno, name)])
    except (ValueError, RecursionError) as exc:  # an integer past 4,300 digits; deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return ParsedFile(
            [], [Problem("file", f"not readable JSON: {reason}", "json_syntax", source=name)]
        )
    items = doc.get("entries") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        return ParsedFile(
            [], [Problem("entries", "expected a list of entries", "json_shape", source=name)]
        )
    problems: list[Problem] = []
    entries = []
    for i, item in enumerate(items):
        where = f"entries[{i}]"
        parsed = _json_entry(item, where, name, problems)
        if parsed is not None:
            entries.append(parsed)
    if not items:
        problems.append(_nothing_to_import(name))
    return ParsedFile(entries, problems)


def _strings(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """The text fields of a JSON object, as strings ("" when absent or null)."""
    return {key: str(item.get(key) or "") for key in keys}


def _json_entry(item: Any, where: str, name: str, problems: list[Problem]) -> FileEntry | None:
    if not isinstance(item, dict):
        problems.append(Problem(where, "expected an object", "json_shape", source=name))
        return None
    texts = _strings(item, ("idempotency_key", "description"))
    if not _texts(texts, f"{where}.", None, name, problems):
        return None
    key = texts["idempotency_key"]
    if not key:
        problems.append(Problem(f"{where}.idempotency_key", "required", "required", source=name))
    when = _date(str(item.get("date", "")), f"{where}.date", None, name, problems)
    lines = item.get("postings")
    if not isinstance(lines, list):
        problems.append(Problem(f"{where}.postings", "expected a list", "json_shape", source=name))
        return None
    postings = [
        p
        for k, line in enumerate(lines)
        if (p := _json_posting(line, f"{where}.postings[{k}]", name, problems))
    ]
    if not key or when is None:
        return None
    return FileEntry(key, when, texts["description"], postings, f"{name} {where}")


def _json_posting(line: Any, where: str, name: str, problems: list[Problem]) -> FilePosting | None:
    if not isinstance(line, dict):
        problems.append(Problem(where, "expected an object", "json_shape", source=name))
        return None
    texts = _strings(line, ("account", "party", "memo"))
    if not _texts(texts, f"{where}.", None, name, problems):
        return None
    currency = str(line.get("currency", "")).upper()[:AMOUNT_TEXT_MAX]
    if "amount_minor" in line:
        amount = line["amount_minor"]
        if type(amount) is not int:
            problems.append(
                Problem(
                    f"{where}.amount_minor", "must be an integer", "integer_amount", source=name
                )
            )
            return None
        parsed = _bounded(amount, f"{where}.amount_minor", None, name, problems)
    else:
        parsed = _amount(
            str(line.get("amount", "")), currency, f"{where}.amount", None, name, problems
        )
    if parsed is None:
        return None
    return FilePosting(texts["account"], parsed, currency, texts["party"], texts["memo"])
