"""A provider's rate card: the hourly rate of a service for care that no package covers
(unplanned care, accepted by a decision), effective-dated, by band.

A rate card file (docs/formats/care.md) has the columns ``provider_ref, service_code,
effective_from, rate_per_hour, currency`` and optionally ``band`` (``standard`` when absent
or empty). The whole file is checked first, every problem named by its line and field, and
nothing is written unless every row is right. A provider is paid in one currency: a rate
in another currency than the provider's existing package rates or rate card is refused.

>>> rate_problems(NewRate(1, "HC", date(2026, 4, 1), "19.50", "GBP"))
[]
>>> [p.field for p in rate_problems(NewRate(1, "", date(2026, 4, 1), "cheap", "XXX", "night"))]
['service_code', 'band', 'rate_per_hour', 'currency']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, insert, select, tuple_

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.care.model import csv_records, empty_cells, rate_millionths
from remit.care.service import SERVICE_CODE_MAX, currency_problems
from remit.care.store import care_provider_rates
from remit.errors import Problem, ValidationFailed
from remit.money import CURRENCY_EXPONENTS
from remit.parties import service as parties
from remit.text import ID_MAX, date_problem, text_problem

BANDS = ("standard", "evening", "weekend", "bank_holiday")
COLUMNS = ("provider_ref", "service_code", "effective_from", "rate_per_hour", "currency")


@dataclass(frozen=True, slots=True)
class NewRate:
    provider_party_id: int
    service_code: str
    effective_from: date
    rate_per_hour: str  # a decimal string in major units, "19.50"
    currency: str
    band: str = "standard"


def rate_problems(new: NewRate, line: int | None = None) -> list[Problem]:
    """Everything wrong with one rate on its own (the book is not consulted)."""
    problems = [
        p
        for p in (
            text_problem(
                new.service_code,
                "service_code",
                max_chars=SERVICE_CODE_MAX,
                line=line,
                required=True,
            ),
            date_problem(new.effective_from, "effective_from", line=line),
        )
        if p is not None
    ]
    if new.band not in BANDS:
        problems.append(Problem("band", f"one of {', '.join(BANDS)}", "band", line))
    if rate_millionths(new.rate_per_hour) is None:
        problems.append(
            Problem(
                "rate_per_hour", "a rate per hour with at most six decimals, 19.50", "rate", line
            )
        )
    if new.currency not in CURRENCY_EXPONENTS:
        problems.append(Problem("currency", "an ISO 4217 currency, GBP", "currency", line))
    return problems


def add_rates(
    conn: Connection,
    actor: Actor,
    book_id: int,
    news: Sequence[NewRate],
    lines: Sequence[int] | None = None,
) -> list[int]:
    """Add rates to providers' rate cards, all or nothing: every problem of every rate is
    named (by its line, the position in ``news`` unless ``lines`` are given); the new ids."""
    require(actor, book_id, Permission.CARE_IMPORT)
    at = list(lines) if lines is not None else list(range(1, len(news) + 1))
    providers = parties.party_ids_with_role(conn, book_id, "provider")
    problems = [p for new, line in zip(news, at, strict=True) for p in rate_problems(new, line)]
    problems += [
        Problem("provider_ref", "not a provider of this book", "unknown_provider", line)
        for new, line in zip(news, at, strict=True)
        if new.provider_party_id not in providers
    ]
    problems += _repeated(conn, book_id, news, at)
    problems += currency_problems(
        conn,
        book_id,
        [
            (line, n.provider_party_id, n.currency, "currency")
            for n, line in zip(news, at, strict=True)
        ],
    )
    if problems:
        raise ValidationFailed(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    now = audit.utc_now_text()
    rows = [
        {
            "book_id": book_id,
            "provider_party_id": n.provider_party_id,
            "service_code": n.service_code.strip(),
            "band": n.band,
            "effective_from": n.effective_from,
            "rate_per_hour": n.rate_per_hour.strip(),
            "currency": n.currency,
            "created_by": actor.username,
            "created_at": now,
        }
        for n in news
    ]
    ids = [
        int(i)
        for i in conn.execute(
            insert(care_provider_rates).returning(
                care_provider_rates.c.id, sort_by_parameter_order=True
            ),
            rows,
        ).scalars()
    ]
    audit.record_many(
        conn,
        actor,
        [
            (
                "care.provider_rate",
                "party",
                row["provider_party_id"],
                None,
                {
                    k: str(v)
                    for k, v in row.items()
                    if k not in ("book_id", "created_by", "created_at")
                }
                | {"rate_id": rid},
                book_id,
            )
            for rid, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


def _repeated(
    conn: Connection, book_id: int, news: Sequence[NewRate], lines: Sequence[int]
) -> list[Problem]:
    """A problem for a rate whose provider, service, band and date repeats an earlier line
    or a rate of the card already."""
    c = care_provider_rates.c
    keys = [(n.provider_party_id, n.service_code.strip(), n.band, n.effective_from) for n in news]
    stored = {
        tuple(row)
        for row in conn.execute(
            select(c.provider_party_id, c.service_code, c.band, c.effective_from).where(
                and_(
                    c.book_id == book_id,
                    tuple_(c.provider_party_id, c.service_code).in_(sorted({k[:2] for k in keys})),
                )
            )
        ).all()
    }
    seen: dict[tuple[Any, ...], int] = {}
    problems = []
    for key, line in zip(keys, lines, strict=True):
        if key in stored:
            problems.append(
                Problem(
                    "effective_from",
                    "the rate card has a rate from this date already",
                    "exists",
                    line,
                )
            )
        elif key in seen:
            problems.append(
                Problem("effective_from", f"repeats line {seen[key]}", "repeated", line)
            )
        seen.setdefault(key, line)
    return problems


def import_rates(
    conn: Connection, actor: Actor, book_id: int, filename: str, content: bytes
) -> list[int]:
    """A rate card file (see the module's docstring), all or nothing; the new rate ids."""
    require(actor, book_id, Permission.CARE_IMPORT)
    rows = _read(content, filename)
    refs = parties.party_ids_for(conn, book_id, {row["provider_ref"] for _, row in rows})
    problems = [
        Problem(
            "provider_ref",
            f"no provider {row['provider_ref']} in this book",
            "unknown_provider",
            line,
        )
        for line, row in rows
        if row["provider_ref"] not in refs
    ]
    news, lines = [], []
    for line, row in rows:
        day = _day(row["effective_from"])
        if day is None:
            problems.append(Problem("effective_from", "a date, 2026-04-01", "date", line))
        elif row["provider_ref"] in refs:
            news.append(
                NewRate(
                    refs[row["provider_ref"]],
                    row["service_code"],
                    day,
                    row["rate_per_hour"],
                    row["currency"].upper(),
                    row.get("band") or "standard",
                )
            )
            lines.append(line)
    try:
        ids = add_rates(conn, actor, book_id, news, lines) if news else []
    except ValidationFailed as exc:
        problems += exc.problems
    if problems:
        raise ValidationFailed(
            sorted(
                (replace(p, source=filename) for p in problems),
                key=lambda p: (p.line or 0, p.field),
            )
        )
    return ids


def _read(content: bytes, name: str) -> list[tuple[int, dict[str, str]]]:
    """The file's rows with their line numbers; a refusal for what makes it no rate card."""
    rows = csv_records(content, name, COLUMNS)
    problems = empty_cells(rows, name, COLUMNS)
    problems += [
        p
        for line, row in rows
        if (p := text_problem(row["provider_ref"], "provider_ref", max_chars=ID_MAX, line=line))
        is not None
    ]
    if problems:
        raise ValidationFailed(problems)
    return rows


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def list_rates(
    conn: Connection, actor: Actor, book_id: int, provider_party_id: int | None = None
) -> list[dict[str, Any]]:
    """The rate card of the book's providers (or of one), by provider, service, band, date."""
    require(actor, book_id, Permission.CARE_READ)
    c = care_provider_rates.c
    query = select(care_provider_rates).where(c.book_id == book_id)
    if provider_party_id is not None:
        query = query.where(c.provider_party_id == provider_party_id)
    rows = [
        dict(r)
        for r in conn.execute(
            query.order_by(c.provider_party_id, c.service_code, c.band, c.effective_from)
        ).mappings()
    ]
    names = parties.party_names(conn, book_id, {r["provider_party_id"] for r in rows})
    for row in rows:
        row["provider_ref"], row["provider_name"] = names.get(row["provider_party_id"], ("", ""))
    return rows


def card_rate(
    conn: Connection,
    book_id: int,
    provider_party_id: int,
    service_code: str,
    day: date,
    band: str = "standard",
) -> tuple[str, str] | None:
    """The rate card's (rate_per_hour, currency) for a service on a day: the latest rate
    from that day or before; None when the card has none."""
    c = care_provider_rates.c
    found = conn.execute(
        select(c.rate_per_hour, c.currency)
        .where(
            and_(
                c.book_id == book_id,
                c.provider_party_id == provider_party_id,
                c.service_code == service_code,
                c.band == band,
                c.effective_from <= day,
            )
        )
        .order_by(c.effective_from.desc())
        .limit(1)
    ).first()
    return None if found is None else (str(found.rate_per_hour), str(found.currency))
