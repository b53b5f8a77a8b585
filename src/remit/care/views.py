"""What other pages show of care: the queue's care sections (runs needing a decision,
providers who answered, decisions awaiting a second person, runs ready to post, held runs)
and the care panels of the client and provider pages (packages, planned visits, rate card,
holds, recent runs).

The queue's sections reach the work queue through ``cases.service.register_queue_source``
(called by the composition root, so cases names no care module); the party panels are read
by ``parties/page.py``, the one page that composes several packages' data.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from babel import Locale, numbers
from sqlalchemy import Connection, String, and_, func, literal, select

from remit.access.model import Actor, Permission, require
from remit.calendar import book_locale, local_date
from remit.care.model import RunStatus
from remit.care.reports import locale_for
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import (
    care_answers,
    care_decisions,
    care_holds,
    care_package_rates,
    care_package_slots,
    care_packages,
    care_provider_rates,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases.model import QueueItem, QueueSection
from remit.ledger import service as ledger
from remit.money import exponent, to_rate
from remit.parties import service as parties

SHOWN = 20  # items per queue section; the care home page lists every run
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OPEN_STATUSES = (RunStatus.RECONCILED.value, RunStatus.DECIDING.value)


def period_text(first: date, last: date, locale: str = "en_GB") -> str:
    """A run's period in words, in the book's locale.

    >>> period_text(date(2026, 11, 2), date(2026, 11, 8))
    '2 Nov 2026 to 8 Nov 2026'
    """
    return f"{local_date(first, locale)} to {local_date(last, locale)}"


def _plural(n: int, words: str) -> str:
    """A count with its words, ``{s}`` marking the plural.

    >>> _plural(1, "exception{s} to decide"), _plural(3, "exception{s} to decide")
    ('1 exception to decide', '3 exceptions to decide')
    """
    return f"{n} {words.format(s='' if n == 1 else 's')}"


def _held(book_id: int) -> Any:
    h = care_holds.c
    return select(h.provider_party_id).where(and_(h.book_id == book_id, h.lifted_at.is_(None)))


def queue_sections(conn: Connection, actor: Actor, book_id: int) -> list[QueueSection]:
    """The care work of the book for the queue (none for a user who may not read care)."""
    if not actor.can(book_id, Permission.CARE_READ):
        return []
    book = ledger.get_book(conn, book_id)
    place = (str(book["code"]), book_locale(book))
    return [
        _section(conn, book_id, place, "Care runs needing a decision", _undecided(book_id)),
        _section(conn, book_id, place, "Providers who answered an exception", _answered(book_id)),
        _section(conn, book_id, place, "Decisions waiting for a second person", _pending(book_id)),
        _section(conn, book_id, place, "Care runs ready to post", _ready(book_id)),
        _section(conn, book_id, place, "Held care runs", _held_runs(book_id)),
    ]


def _section(
    conn: Connection, book_id: int, place: tuple[str, str], title: str, query: Any
) -> QueueSection:
    """Rows of (run id, provider, period start, end, count, word) as queue items; ``place``:
    the book's code and locale."""
    code, locale = place
    rows = list(conn.execute(query.limit(SHOWN + 1)))
    names = parties.party_names(conn, book_id, {int(r.provider_party_id) for r in rows})
    items = tuple(
        QueueItem(
            f"{names.get(int(r.provider_party_id), ('', '?'))[1]}, "
            f"{period_text(r.period_start, r.period_end, locale)}",
            f"/b/{code}/care/runs/{r.id}",
            _plural(int(r.n), r.word) if r.word else "",
        )
        for r in rows[:SHOWN]
    )
    note = f"The first {SHOWN}; the care page lists them all." if len(rows) > SHOWN else ""
    return QueueSection(title, items, note)


def _run_columns(word: str, count: Any) -> list[Any]:
    r = care_runs.c
    return [
        r.id,
        r.provider_party_id,
        r.period_start,
        r.period_end,
        count.label("n"),
        literal(word, String).label("word"),
    ]


def _undecided(book_id: int) -> Any:
    r, o = care_runs.c, visit_outcomes.c
    return (
        select(*_run_columns("exception{s} to decide", func.count(o.id)))
        .join(visit_outcomes, o.run_id == r.id)
        .where(
            and_(
                r.book_id == book_id,
                r.status.in_(OPEN_STATUSES),
                o.exception.is_(True),
                o.decision.is_(None),
            )
        )
        .group_by(r.id, r.provider_party_id, r.period_start, r.period_end)
        .order_by(r.period_start, r.id)
    )


def _answered(book_id: int) -> Any:
    r, o, a = care_runs.c, visit_outcomes.c, care_answers.c
    return (
        select(*_run_columns("answer{s} waiting for a decision", func.count(a.id)))
        .join(care_answers, a.run_id == r.id)
        .join(visit_outcomes, o.id == a.outcome_id)
        .where(and_(r.book_id == book_id, r.status.in_(OPEN_STATUSES), o.decision.is_(None)))
        .group_by(r.id, r.provider_party_id, r.period_start, r.period_end)
        .order_by(func.max(a.answered_at).desc(), r.id)
    )


def _pending(book_id: int) -> Any:
    r, d = care_runs.c, care_decisions.c
    return (
        select(*_run_columns("decision{s} to approve", func.count(d.id)))
        .join(care_decisions, d.run_id == r.id)
        .where(and_(r.book_id == book_id, d.status == "pending_approval"))
        .group_by(r.id, r.provider_party_id, r.period_start, r.period_end)
        .order_by(r.period_start, r.id)
    )


def _ready(book_id: int) -> Any:
    r = care_runs.c
    return (
        select(*_run_columns("", func.count()))
        .where(
            and_(
                r.book_id == book_id,
                r.status == RunStatus.RESOLVED.value,
                r.provider_party_id.not_in(_held(book_id)),
            )
        )
        .group_by(r.id, r.provider_party_id, r.period_start, r.period_end)
        .order_by(r.period_start, r.id)
    )


def _held_runs(book_id: int) -> Any:
    r = care_runs.c
    return (
        select(*_run_columns("", func.count()))
        .where(
            and_(
                r.book_id == book_id,
                r.status != RunStatus.POSTED.value,
                r.provider_party_id.in_(_held(book_id)),
            )
        )
        .group_by(r.id, r.provider_party_id, r.period_start, r.period_end)
        .order_by(r.period_start, r.id)
    )


# ---------------------------------------------------------------- party panels


def weekly_pattern(slots: Iterable[tuple[int, int, int, int]]) -> str:
    """A package's week in words, from (weekday, start minute, minutes, carers).

    >>> weekly_pattern([(0, 480, 30, 1), (0, 1080, 45, 2), (3, 480, 30, 1)])
    'Mon 08:00 30 min, Mon 18:00 45 min (2 carers), Thu 08:00 30 min'
    """
    parts = []
    for weekday, start, minutes, carers in sorted(slots):
        text = f"{WEEKDAYS[weekday]} {start // 60:02d}:{start % 60:02d} {minutes} min"
        parts.append(text + (f" ({carers} carers)" if carers > 1 else ""))
    return ", ".join(parts)


RATE_PLACES = 6  # the decimals a rate is kept and paid at


def rate_text(rate_per_hour: str, currency: str) -> str:
    """An hourly rate with its currency's symbol.

    A rate keeps the decimals it is paid at (up to six), never rounded to the currency's
    minor unit: 19.505 an hour is shown as £19.505, not £19.51.

    >>> rate_text("19.00", "GBP"), rate_text("21.5", "USD"), rate_text("19.505000", "GBP")
    ('£19.00 an hour', '$21.50 an hour', '£19.505 an hour')
    """
    rate = to_rate(rate_per_hour)
    places = exponent(currency)
    pattern = copy.copy(Locale.parse(locale_for(currency)).currency_formats["standard"])
    pattern.frac_prec = (places, max(places, RATE_PLACES))
    shown = numbers.format_currency(
        rate, currency, format=pattern, locale=locale_for(currency), currency_digits=False
    )
    return f"{shown} an hour"


def _with_rate_text(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**x, "rate_text": rate_text(str(x["rate_per_hour"]), str(x["currency"]))} for x in rows
    ]


def _packages(conn: Connection, book_id: int, column: Any, party_id: int) -> list[dict[str, Any]]:
    p, s, rt = care_packages.c, care_package_slots.c, care_package_rates.c
    rows = [
        dict(x._mapping)
        for x in conn.execute(
            select(care_packages)
            .where(and_(p.book_id == book_id, column == party_id))
            .order_by(p.start_date.desc(), p.id)
            .limit(200)
        )
    ]
    ids = [int(x["id"]) for x in rows]
    slots: dict[int, list[tuple[int, int, int, int]]] = {i: [] for i in ids}
    rates: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for slot in conn.execute(select(care_package_slots).where(s.package_id.in_(ids))):
            slots[int(slot.package_id)].append(
                (
                    int(slot.weekday),
                    int(slot.start_minute),
                    int(slot.duration_minutes),
                    int(slot.carers),
                )
            )
        for x in conn.execute(
            select(care_package_rates)
            .where(rt.package_id.in_(ids))
            .order_by(rt.package_id, rt.band, rt.effective_from)
        ):
            rates[int(x.package_id)].append(dict(x._mapping))
    names = parties.party_names(
        conn,
        book_id,
        {int(x["client_party_id"]) for x in rows} | {int(x["provider_party_id"]) for x in rows},
    )
    today = ledger.book_today(conn, book_id)
    for package in rows:
        key = int(package["id"])
        package["pattern"] = weekly_pattern(slots[key])
        package["rates"] = _with_rate_text(_current(rates[key], today))
        package["client_name"] = names.get(int(package["client_party_id"]), ("", ""))[1]
        package["provider_name"] = names.get(int(package["provider_party_id"]), ("", ""))[1]
    return rows


def _current(rates: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Per band, the rate in force today (or the first one, if none has started yet)."""
    by_band: dict[str, dict[str, Any]] = {}
    for rate in rates:  # ordered by band, then effective_from
        band = str(rate["band"])
        if band not in by_band or rate["effective_from"] <= today:
            by_band[band] = rate
    return list(by_band.values())


def client_care(
    conn: Connection, actor: Actor, book_id: int, client_party_id: int
) -> dict[str, Any]:
    """A client's care packages and its planned visits of this week and the next."""
    require(actor, book_id, Permission.CARE_READ)
    today = ledger.book_today(conn, book_id)
    monday = today - timedelta(days=today.weekday())
    v = planned_visits.c
    packages = _packages(conn, book_id, care_packages.c.client_party_id, client_party_id)
    visits = [
        dict(x._mapping)
        for x in conn.execute(
            select(planned_visits)
            .where(
                and_(
                    v.book_id == book_id,
                    v.client_party_id == client_party_id,
                    v.start_s >= _seconds(monday),
                    v.start_s < _seconds(monday + timedelta(days=14)),
                )
            )
            .order_by(v.start_s)
            .limit(500)
        )
    ]
    for x in visits:
        x["when"] = when_of(int(x["start_s"]))
        x["minutes"] = (int(x["end_s"]) - int(x["start_s"])) // 60
    return {"packages": packages, "visits": visits, "from": monday}


def _seconds(day: date) -> int:
    return (day - EPOCH).days * DAY_SECONDS


def when_of(start_s: int) -> str:
    """A planned visit's start (local seconds since 1970) in words.

    >>> when_of(_seconds(date(2026, 11, 2)) + 8 * 3600 + 30 * 60)
    'Mon 2026-11-02 08:30'
    """
    day = EPOCH + timedelta(days=start_s // DAY_SECONDS)
    minute = (start_s % DAY_SECONDS) // 60
    return f"{WEEKDAYS[day.weekday()]} {day.isoformat()} {minute // 60:02d}:{minute % 60:02d}"


def provider_care(
    conn: Connection, actor: Actor, book_id: int, provider_party_id: int
) -> dict[str, Any]:
    """A provider's packages, rate card, holds and recent runs."""
    require(actor, book_id, Permission.CARE_READ)
    pr, h, r = care_provider_rates.c, care_holds.c, care_runs.c
    rates = _with_rate_text(
        [
            dict(x._mapping)
            for x in conn.execute(
                select(care_provider_rates)
                .where(and_(pr.book_id == book_id, pr.provider_party_id == provider_party_id))
                .order_by(pr.service_code, pr.band, pr.effective_from)
            )
        ]
    )
    holds = [
        dict(x._mapping)
        for x in conn.execute(
            select(care_holds)
            .where(and_(h.book_id == book_id, h.provider_party_id == provider_party_id))
            .order_by(h.id.desc())
            .limit(20)
        )
    ]
    runs = [
        dict(x._mapping)
        for x in conn.execute(
            select(r.id, r.period_start, r.period_end, r.status, r.sequence, r.case_id)
            .where(and_(r.book_id == book_id, r.provider_party_id == provider_party_id))
            .order_by(r.period_start.desc(), r.sequence.desc())
            .limit(12)
        )
    ]
    return {
        "packages": _packages(conn, book_id, care_packages.c.provider_party_id, provider_party_id),
        "rates": rates,
        "holds": holds,
        "held": any(x["lifted_at"] is None for x in holds),
        "runs": runs,
    }


def held_providers(conn: Connection, actor: Actor, book_id: int) -> set[int]:
    """The providers on hold now (for a "held" badge on lists)."""
    require(actor, book_id, Permission.CARE_READ)
    return {int(x) for x in conn.execute(_held(book_id)).scalars()}
