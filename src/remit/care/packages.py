"""Commissioned care from a file: ``packages.csv``, one row per weekly visit of a package.

Columns (docs/formats/care.md): ``package_id, client_id, provider_id, service_code,
start_date, end_date`` (the package; the same on each of its rows), ``days, start, minutes,
carers`` (a weekly visit: ``days`` names weekdays, ``Mon Wed Fri``, or ``daily``,
``weekdays``, ``weekends``), and ``rate_per_hour, currency, rate_from`` (a rate and the date
it holds from, by default the package's start; rows with another ``rate_from`` give the
package's later rates), with optional ``evening_rate_per_hour``, ``weekend_rate_per_hour``
and ``bank_holiday_rate_per_hour`` (the time bands' rates from the same date). The whole
file is checked first, every problem with its line; a package whose id exists already is
refused.

>>> weekdays("Mon Wed fri"), weekdays("weekends"), weekdays("daily")
((0, 2, 4), (5, 6), (0, 1, 2, 3, 4, 5, 6))
>>> weekdays("Mon Funday")
Traceback (most recent call last):
ValueError: Funday
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, select

from remit.access.model import Actor, Permission, require
from remit.care.model import (
    MAX_CARERS,
    MAX_PLANNED_MINUTES,
    csv_records,
    empty_cells,
    rate_millionths,
)
from remit.care.service import (
    SERVICE_CODE_MAX,
    NewPackage,
    Slot,
    create_package,
    currency_problems,
)
from remit.care.store import care_packages
from remit.errors import Problem, ValidationFailed
from remit.money import CURRENCY_EXPONENTS
from remit.parties import service as parties
from remit.text import FREE_TEXT_MAX, ID_MAX, date_problem, text_problem

COLUMNS = (
    "package_id",
    "client_id",
    "provider_id",
    "service_code",
    "start_date",
    "days",
    "start",
    "minutes",
    "rate_per_hour",
    "currency",
)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}
CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# How long each column's values may be; any other column holds at most FREE_TEXT_MAX.
TEXT_LIMITS = {
    **dict.fromkeys(("package_id", "client_id", "provider_id"), ID_MAX),
    "service_code": SERVICE_CODE_MAX,
}
DATE_COLUMNS = ("start_date", "end_date", "rate_from")
PACKAGE_FIELDS = ("client_id", "provider_id", "service_code", "start_date", "end_date")


def weekdays(text: str) -> tuple[int, ...]:
    words = text.replace(",", " ").split()
    if len(words) == 1 and words[0].lower() in DAY_SETS:
        return DAY_SETS[words[0].lower()]
    found = []
    for word in words:
        if word[:3].lower() not in DAY_NAMES or len(word) > 9:
            raise ValueError(word)
        found.append(DAY_NAMES.index(word[:3].lower()))
    if not found:
        raise ValueError(text)
    return tuple(sorted(set(found)))


def import_packages(
    conn: Connection, actor: Actor, book_id: int, filename: str, content: bytes
) -> list[int]:
    """Create the packages of a packages.csv, all or nothing; returns their ids."""
    require(actor, book_id, Permission.CARE_IMPORT)
    rows, problems = _rows(content, filename)
    clients = _refs(conn, book_id, "client", rows, "client_id", filename, problems)
    providers = _refs(conn, book_id, "provider", rows, "provider_id", filename, problems)
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
    for line, row in rows:
        grouped[row["package_id"]].append((line, row))
    taken = set(
        conn.execute(
            select(care_packages.c.ref).where(
                and_(
                    care_packages.c.book_id == book_id,
                    care_packages.c.ref.in_(list(grouped)[:50_000]),
                )
            )
        ).scalars()
    )
    news = []
    for ref, members in grouped.items():
        new = _package(ref, members, clients, providers, taken, filename, problems)
        if new is not None:
            news.append(new)
    problems += [
        replace(p, source=filename)
        for p in currency_problems(
            conn,
            book_id,
            [
                (line, providers[row["provider_id"]], row["currency"].upper(), "currency")
                for line, row in rows
                if row["provider_id"] in providers and row["currency"].upper() in CURRENCY_EXPONENTS
            ],
        )
    ]
    if problems:
        raise ValidationFailed(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    return [create_package(conn, actor, book_id, new) for new in news]


def _rows(content: bytes, name: str) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    rows = csv_records(content, name, COLUMNS)
    problems = empty_cells(rows, name, COLUMNS)
    cells = [p for line, row in rows for p in _cell_problems(row, line, name)]
    if cells:  # before any value is looked up in the database (PostgreSQL refuses a NUL)
        raise ValidationFailed(sorted(problems + cells, key=lambda p: (p.line or 0, p.field)))
    return rows, problems


def _cell_problems(row: dict[str, str], line: int, name: str) -> list[Problem]:
    """Each value too long for its column or holding a control character (a quoted line
    break too: one record per line), and each date outside the kernel's range.

    >>> [(p.field, p.check) for p in _cell_problems(
    ...     {"package_id": "K\\x0b1", "start_date": "0001-01-01"}, 2, "p.csv")]
    [('package_id', 'control_character'), ('start_date', 'date_range')]
    """
    found = [
        text_problem(
            value, column, max_chars=TEXT_LIMITS.get(column, FREE_TEXT_MAX), line=line, source=name
        )
        for column, value in row.items()
    ]
    found += [
        date_problem(day, column, line=line, source=name)
        for column in DATE_COLUMNS
        if (day := _day(row.get(column, ""))) is not None
    ]
    return [p for p in found if p is not None]


def _refs(
    conn: Connection,
    book_id: int,
    role: str,
    rows: list[tuple[int, dict[str, str]]],
    column: str,
    name: str,
    problems: list[Problem],
) -> dict[str, int]:
    refs = {row[column] for _, row in rows if row.get(column)}
    found = parties.party_ids_for(conn, book_id, refs)
    with_role = parties.party_ids_with_role(conn, book_id, role)
    known = {ref: pid for ref, pid in found.items() if pid in with_role}
    problems += [
        Problem(column, f"no {role} {row[column]} in this book", f"unknown_{role}", line, name)
        for line, row in rows
        if row.get(column) and row[column] not in known
    ]
    return known


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _package(
    ref: str,
    members: list[tuple[int, dict[str, str]]],
    clients: dict[str, int],
    providers: dict[str, int],
    taken: set[str],
    name: str,
    problems: list[Problem],
) -> NewPackage | None:
    first_line, first = members[0]
    before = len(problems)
    if ref in taken:
        problems.append(
            Problem("package_id", f"package {ref} exists already", "exists", first_line, name)
        )
    for line, row in members[1:]:
        problems += [
            Problem(
                f,
                f"differs from line {first_line} of the same package",
                "package_differs",
                line,
                name,
            )
            for f in PACKAGE_FIELDS
            if row.get(f, "") != first.get(f, "")
        ]
    start, end = _day(first["start_date"]), _day(first.get("end_date", ""))
    if start is None:
        problems.append(Problem("start_date", "a date like 2026-11-02", "date", first_line, name))
    if first.get("end_date") and (end is None or (start and end < start)):
        problems.append(
            Problem("end_date", "a date on or after the start", "date", first_line, name)
        )
    slots: set[Slot] = set()
    rates: dict[date, tuple[str, str]] = {}
    for line, row in members:
        slots |= _slots(row, line, name, problems)
        rate_from = _day(row.get("rate_from", "")) if row.get("rate_from") else start
        if (
            rate_from is None
            or rate_millionths(row["rate_per_hour"]) is None
            or row["currency"].upper() not in CURRENCY_EXPONENTS
        ):
            problems.append(
                Problem(
                    "rate_per_hour",
                    "a rate of at most six decimals, an ISO 4217 currency and a date it holds from",
                    "rate",
                    line,
                    name,
                )
            )
        elif rates.setdefault(rate_from, (row["rate_per_hour"], row["currency"].upper())) != (
            row["rate_per_hour"],
            row["currency"].upper(),
        ):
            problems.append(
                Problem(
                    "rate_per_hour",
                    f"another rate from {rate_from} is on an earlier line",
                    "rate",
                    line,
                    name,
                )
            )
    band_rates = _band_rates(members, start, name, problems)
    if len(problems) > before or start is None:
        return None
    if first["client_id"] not in clients or first["provider_id"] not in providers:
        return None  # already reported by _refs
    return NewPackage(
        ref,
        clients[first["client_id"]],
        providers[first["provider_id"]],
        first["service_code"],
        start,
        end,
        tuple(sorted(slots, key=lambda s: (s.weekday, s.start_minute))),
        tuple((d, r, c) for d, (r, c) in sorted(rates.items())),
        band_rates,
    )


# Optional columns: the rate per hour of a visit starting in another time band (the policy
# says when evening starts and ends; bank holidays are the book's calendar's), from the
# row's rate_from, in the row's currency. A band left empty is paid the standard rate.
BAND_COLUMNS = {
    "evening_rate_per_hour": "evening",
    "weekend_rate_per_hour": "weekend",
    "bank_holiday_rate_per_hour": "bank_holiday",
}


def _band_rates(
    members: list[tuple[int, dict[str, Any]]],
    start: date | None,
    name: str,
    problems: list[Problem],
) -> tuple[tuple[date, str, str, str], ...]:
    """The package's rates of the other time bands, each (from, band, rate, currency)."""
    found: dict[tuple[date, str], tuple[str, str]] = {}
    for line, row in members:
        rate_from = _day(row.get("rate_from", "")) if row.get("rate_from") else start
        for column, band in BAND_COLUMNS.items():
            rate = (row.get(column) or "").strip()
            if not rate or rate_from is None:
                continue
            if rate_millionths(rate) is None:
                problems.append(
                    Problem(column, "a rate of at most six decimals, or empty", "rate", line, name)
                )
            elif found.setdefault((rate_from, band), (rate, row["currency"].upper())) != (
                rate,
                row["currency"].upper(),
            ):
                problems.append(
                    Problem(
                        column,
                        f"another {band} rate from {rate_from} is on an earlier line",
                        "rate",
                        line,
                        name,
                    )
                )
    return tuple((d, b, r, c) for (d, b), (r, c) in sorted(found.items()))


def _slots(row: dict[str, Any], line: int, name: str, problems: list[Problem]) -> set[Slot]:
    found: set[Slot] = set()
    days: tuple[int, ...] = ()
    try:
        days = weekdays(row["days"])
    except ValueError as exc:
        problems.append(
            Problem(
                "days",
                f"weekday names (Mon Tue ...), daily, weekdays or weekends, not {exc}",
                "days",
                line,
                name,
            )
        )
    clock = CLOCK.fullmatch(row["start"])
    minutes = row["minutes"]
    carers = row.get("carers") or "1"
    if clock is None:
        problems.append(Problem("start", "a time like 09:30", "time", line, name))
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_PLANNED_MINUTES:
        problems.append(Problem("minutes", f"1 to {MAX_PLANNED_MINUTES}", "minutes", line, name))
    if not carers.isdigit() or not 1 <= int(carers) <= MAX_CARERS:
        problems.append(Problem("carers", f"1 to {MAX_CARERS}", "carers", line, name))
    if clock is None or not minutes.isdigit() or not carers.isdigit():
        return found
    start = int(clock.group(1)) * 60 + int(clock.group(2))
    return {Slot(d, start, int(minutes), int(carers)) for d in days}
