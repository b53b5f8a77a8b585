"""Use cases of care packages and policies: commission care, generate the planned visits of a
period from the packages' weekly patterns, and keep the versioned tolerance policies (the
bulk reads and writes of the big tables are ``remit.bulk``'s).

>>> [d.isoformat() for d in days(date(2026, 11, 1), date(2026, 11, 3))]
['2026-11-01', '2026-11-02', '2026-11-03']
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, delete, insert, or_, select, union

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.bulk import insert_frame, refs_taken
from remit.care.model import (
    BANDS,
    MAX_CARERS,
    MAX_PLANNED_MINUTES,
    Policy,
    RunStatus,
    checked_period,
    rate_millionths,
)
from remit.care.store import (
    care_imports,
    care_package_rates,
    care_package_slots,
    care_packages,
    care_policies,
    care_provider_rates,
    care_runs,
    planned_visits,
)
from remit.db import insert_id
from remit.errors import Conflict, Problem, ValidationFailed
from remit.money import CURRENCY_EXPONENTS, to_rate
from remit.parties import service as parties
from remit.text import ID_MAX, date_problem, text_problem

EPOCH = date(1970, 1, 1)
DAY_SECONDS = 86_400
BATCH = 50_000
SERVICE_CODE_MAX = 32
POLICY_NOTE_MAX = 500  # the column's length


@dataclass(frozen=True, slots=True)
class Slot:
    """One visit of a package's week."""

    weekday: int  # 0 Monday .. 6 Sunday
    start_minute: int  # minutes after midnight
    duration_minutes: int
    carers: int = 1


@dataclass(frozen=True, slots=True)
class NewPackage:
    ref: str
    client_party_id: int
    provider_party_id: int
    service_code: str
    start_date: date
    end_date: date | None
    slots: tuple[Slot, ...]
    rates: tuple[tuple[date, str, str], ...]  # (effective from, rate per hour, currency)
    # Rates of the other time bands (evening, weekend, bank_holiday): (effective from, band,
    # rate per hour, currency); a band with no rate in force is paid the standard rate.
    band_rates: tuple[tuple[date, str, str, str], ...] = ()


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def package_problems(new: NewPackage) -> list[Problem]:
    """Everything wrong with a package to commission, at once."""
    problems = []
    if not new.ref.strip():
        problems.append(Problem("ref", f"a reference of 1 to {ID_MAX} characters", "required"))
    if not new.service_code.strip():
        problems.append(Problem("service_code", "a service code of 1 to 32 characters", "required"))
    days_given = [("start_date", new.start_date), ("end_date", new.end_date)]
    days_given += [(f"rates[{i}]", first) for i, (first, _rate, _cur) in enumerate(new.rates)]
    problems += [
        p
        for p in (
            text_problem(new.ref, "ref", max_chars=ID_MAX),
            text_problem(new.service_code, "service_code", max_chars=SERVICE_CODE_MAX),
            *(date_problem(day, field) for field, day in days_given if day is not None),
        )
        if p is not None
    ]
    if new.end_date is not None and new.end_date < new.start_date:
        problems.append(Problem("end_date", "on or after the start date", "dates"))
    if not new.slots:
        problems.append(Problem("slots", "at least one visit a week", "required"))
    for i, s in enumerate(new.slots):
        if not (
            0 <= s.weekday <= 6
            and 0 <= s.start_minute < 1440
            and 1 <= s.duration_minutes <= MAX_PLANNED_MINUTES
            and 1 <= s.carers <= MAX_CARERS
        ):
            problems.append(
                Problem(
                    f"slots[{i}]",
                    "a weekday 0-6, a start within the day, "
                    f"1 to {MAX_PLANNED_MINUTES} minutes and 1 to "
                    f"{MAX_CARERS} carers",
                    "slot",
                )
            )
    if not new.rates:
        problems.append(Problem("rates", "at least one hourly rate", "required"))
    for i, (_from, rate, currency) in enumerate(new.rates):
        if rate_millionths(rate) is None or currency not in CURRENCY_EXPONENTS:
            problems.append(
                Problem(
                    f"rates[{i}]",
                    "a rate per hour with at most six decimals and an ISO 4217 currency",
                    "rate",
                )
            )
    paid_in = {c for _f, _r, c in new.rates}
    for i, (first, band, rate, currency) in enumerate(new.band_rates):
        if (
            band not in BANDS[1:]
            or rate_millionths(rate) is None
            or (paid_in and currency not in paid_in)
            or date_problem(first, f"band_rates[{i}]") is not None
        ):
            problems.append(
                Problem(
                    f"band_rates[{i}]",
                    f"a band ({', '.join(BANDS[1:])}), a date, a rate per hour with at most "
                    "six decimals, in the package's currency",
                    "rate",
                )
            )
    return problems


def create_package(conn: Connection, actor: Actor, book_id: int, new: NewPackage) -> int:
    """Commission care: a package with its weekly pattern and rates."""
    return create_packages(conn, actor, book_id, [new])[0]


def create_packages(
    conn: Connection, actor: Actor, book_id: int, news: Sequence[NewPackage]
) -> list[int]:
    """Commission care in bulk: every problem of every package is reported (with its
    position as the line when there are several) and nothing is written; the new ids in
    the order given."""
    require(actor, book_id, Permission.CARE_IMPORT)
    many = len(news) > 1
    problems: list[Problem] = []
    known = {
        role: _holding(conn, book_id, role, {getattr(n, f"{role}_party_id") for n in news})
        for role in ("client", "provider")
    }
    for n, new in enumerate(news, start=1):
        found = package_problems(new)
        for role, party_id in (
            ("client", new.client_party_id),
            ("provider", new.provider_party_id),
        ):
            if party_id not in known[role]:
                found.append(
                    Problem(f"{role}_party_id", f"not a {role} of this book", f"unknown_{role}")
                )
        problems += [replace(p, line=n) for p in found] if many else found
    if problems:
        raise ValidationFailed(problems)
    problems = currency_problems(
        conn,
        book_id,
        [
            (n if many else None, new.provider_party_id, currency, f"rates[{i}]")
            for n, new in enumerate(news, start=1)
            for i, (_from, _rate, currency) in enumerate(new.rates)
        ],
    )
    if problems:
        raise ValidationFailed(problems)
    _refuse_taken_refs(conn, book_id, [new.ref for new in news])
    now = audit.utc_now_text()
    ids = [
        int(i)
        for i in conn.execute(
            insert(care_packages).returning(care_packages.c.id, sort_by_parameter_order=True),
            [
                {
                    "book_id": book_id,
                    "ref": new.ref.strip(),
                    "client_party_id": new.client_party_id,
                    "provider_party_id": new.provider_party_id,
                    "service_code": new.service_code.strip(),
                    "start_date": new.start_date,
                    "end_date": new.end_date,
                    "created_by": actor.username,
                    "created_at": now,
                }
                for new in news
            ],
        ).scalars()
    ]
    slots = [
        {
            "package_id": pid,
            "weekday": s.weekday,
            "start_minute": s.start_minute,
            "duration_minutes": s.duration_minutes,
            "carers": s.carers,
        }
        for pid, new in zip(ids, news, strict=True)
        for s in new.slots
    ]
    rates = [
        {
            "package_id": pid,
            "effective_from": f,
            "band": BANDS[0],
            "rate_per_hour": str(to_rate(r)),
            "currency": c,
        }
        for pid, new in zip(ids, news, strict=True)
        for f, r, c in new.rates
    ] + [
        {
            "package_id": pid,
            "effective_from": f,
            "band": b,
            "rate_per_hour": str(to_rate(r)),
            "currency": c,
        }
        for pid, new in zip(ids, news, strict=True)
        for f, b, r, c in new.band_rates
    ]
    for table, rows in ((care_package_slots, slots), (care_package_rates, rates)):
        for i in range(0, len(rows), BATCH):
            conn.execute(insert(table), rows[i : i + BATCH])
    audit.record_many(
        conn,
        actor,
        [
            (
                "care.package",
                "care_package",
                pid,
                None,
                {
                    "ref": new.ref,
                    "client_party_id": new.client_party_id,
                    "provider_party_id": new.provider_party_id,
                    "service_code": new.service_code,
                    "slots": len(new.slots),
                },
                book_id,
            )
            for pid, new in zip(ids, news, strict=True)
        ],
    )
    return ids


def provider_currencies(
    conn: Connection, book_id: int, provider_ids: Iterable[int]
) -> dict[int, str]:
    """The currency each provider is paid in: that of its package rates or rate card (one
    query; a provider with neither is absent)."""
    wanted = sorted(set(provider_ids))
    if not wanted:
        return {}
    p, r, c = care_packages.c, care_package_rates.c, care_provider_rates.c
    packaged = (
        select(p.provider_party_id, r.currency)
        .join(care_package_rates, r.package_id == p.id)
        .where(and_(p.book_id == book_id, p.provider_party_id.in_(wanted)))
    )
    carded = select(c.provider_party_id, c.currency).where(
        and_(c.book_id == book_id, c.provider_party_id.in_(wanted))
    )
    return {int(pid): str(cur) for pid, cur in conn.execute(union(packaged, carded)).all()}


def currency_problems(
    conn: Connection,
    book_id: int,
    rates: Sequence[tuple[int | None, int, str, str]],
) -> list[Problem]:
    """A problem for each rate (line, provider, currency, field) in another currency than
    its provider is paid in: that of the provider's rates in the book, or else of the first
    of these rates (a provider is paid in one currency)."""
    paid_in = provider_currencies(conn, book_id, [r[1] for r in rates])
    refs = parties.party_names(conn, book_id, {r[1] for r in rates})
    problems = []
    for line, pid, currency, field in rates:
        expected = paid_in.setdefault(pid, currency)
        if currency != expected:
            who = refs.get(pid, (str(pid), ""))[0]
            problems.append(
                Problem(
                    field,
                    f"provider {who} is paid in {expected}; this rate is in {currency}",
                    "currency_mismatch",
                    line,
                )
            )
    return problems


def _holding(conn: Connection, book_id: int, role: str, party_ids: set[int]) -> set[int]:
    """Which of the given parties hold the role in the book (one query for many)."""
    if len(party_ids) <= 20:
        return {p for p in party_ids if parties.party_has_role(conn, book_id, p, role)}
    return party_ids & parties.party_ids_with_role(conn, book_id, role)


def _refuse_taken_refs(conn: Connection, book_id: int, refs: list[str]) -> None:
    taken = {r for r, k in Counter(refs).items() if k > 1}  # twice in the batch
    for i in range(0, len(refs), 5_000):
        taken.update(
            conn.execute(
                select(care_packages.c.ref).where(
                    and_(
                        care_packages.c.book_id == book_id,
                        care_packages.c.ref.in_(refs[i : i + 5_000]),
                    )
                )
            ).scalars()
        )
    if taken:
        first = sorted(taken)[0]
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise Conflict(f"care package {first!r} already exists{more}")


@dataclass(frozen=True, slots=True)
class PlanReport:
    """What planning a period did: visits added, and per provider reference how many it
    skipped because an imported visit of the same client, provider and start exists."""

    added: int
    duplicates: dict[str, int]

    def text(self) -> str:
        """In words, for the page and the command.

        >>> PlanReport(12, {"P1": 2, "P2": 1}).text()
        'planned 12 new visit(s); skipped 3 that duplicate imported visits (P1: 2, P2: 1)'
        >>> PlanReport(0, {}).text()
        'planned 0 new visit(s)'
        """
        words = f"planned {self.added:,} new visit(s)"
        if self.duplicates:
            each = ", ".join(f"{ref}: {n:,}" for ref, n in sorted(self.duplicates.items()))
            total = sum(self.duplicates.values())
            words += f"; skipped {total:,} that duplicate imported visits ({each})"
        return words


def generate_planned(conn: Connection, actor: Actor, book_id: int, first: date, last: date) -> int:
    """The planned visits of the days ``first``..``last`` from every package in force,
    refs ``<package ref>/<date>/<hh:mm>``; visits already generated are left as they are
    (running it twice plans nothing twice). Returns how many were added (``plan_period``
    says what was skipped too)."""
    return plan_period(conn, actor, book_id, first, last).added


def plan_period(
    conn: Connection, actor: Actor, book_id: int, first: date, last: date
) -> PlanReport:
    """Plan ``first``..``last`` from the packages (see ``generate_planned``), skipping the
    visits an import already planned (same client, provider and start), counted per
    provider; a period with a posted run of a provider is refused, nothing planned."""
    require(actor, book_id, Permission.CARE_IMPORT)
    checked_period(first, last, 367)
    _refuse_posted(conn, book_id, first, last)
    wanted = _visits_of(conn, book_id, first, last)
    taken = refs_taken(conn, planned_visits, book_id, wanted.get_column("ref").to_list())
    new = wanted.filter(~pl.col("ref").is_in(sorted(taken))) if taken else wanted
    imported = _imported_visits(conn, book_id, first, last)
    keys = ["client_party_id", "provider_party_id", "start_s"]
    duplicate = new.join(imported, on=keys, how="semi")
    new = new.join(imported, on=keys, how="anti")
    counts = duplicate.group_by("provider_party_id").len()
    refs = parties.party_names(conn, book_id, counts.get_column("provider_party_id").to_list())
    duplicates = {
        refs.get(int(pid), (str(pid), ""))[0]: int(n)
        for pid, n in counts.iter_rows()  # one row per provider
    }
    insert_frame(conn, planned_visits, new)
    audit.record(
        conn,
        actor,
        "care.plan",
        "book",
        book_id,
        None,
        {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "visits": new.height,
            "duplicates_skipped": duplicates,
        },
        book_id,
    )
    return PlanReport(new.height, duplicates)


def _imported_visits(conn: Connection, book_id: int, first: date, last: date) -> pl.DataFrame:
    """(client, provider, start) of the visits of the period that an import planned."""
    v = planned_visits.c
    low, high = (first - EPOCH).days * DAY_SECONDS, (last - EPOCH).days * DAY_SECONDS
    rows = conn.execute(
        select(v.client_party_id, v.provider_party_id, v.start_s).where(
            and_(
                v.book_id == book_id,
                v.import_id.is_not(None),
                v.start_s >= low,
                v.start_s < high + DAY_SECONDS,
            )
        )
    ).all()
    return pl.DataFrame(
        rows,
        orient="row",
        schema={"client_party_id": pl.Int64, "provider_party_id": pl.Int64, "start_s": pl.Int64},
    )


def _refuse_posted(conn: Connection, book_id: int, first: date, last: date) -> None:
    """A period a provider's posted run covers is paid: planning it again is refused."""
    r = care_runs.c
    posted = conn.execute(
        select(r.provider_party_id, r.period_start, r.period_end)
        .where(
            and_(
                r.book_id == book_id,
                r.status == RunStatus.POSTED.value,
                r.period_start <= last,
                r.period_end >= first,
            )
        )
        .order_by(r.period_start, r.provider_party_id)
    ).all()
    if not posted:
        return
    refs = parties.party_names(conn, book_id, {int(p.provider_party_id) for p in posted})
    words = "; ".join(
        f"the period {p.period_start.isoformat()} to {p.period_end.isoformat()} is posted "
        f"for provider {refs.get(int(p.provider_party_id), ('?', ''))[0]}"
        for p in posted
    )
    raise Conflict(f"{words}; plan a later period")


def _visits_of(conn: Connection, book_id: int, first: date, last: date) -> pl.DataFrame:
    """The planned visits' rows of the packages in force: each weekly slot on each of its
    weekdays in the period, in order of day, package and start."""
    p, s = care_packages.c, care_package_slots.c
    rows = conn.execute(
        select(
            p.id,
            p.ref,
            p.client_party_id,
            p.provider_party_id,
            p.service_code,
            p.start_date,
            p.end_date,
            s.weekday,
            s.start_minute,
            s.duration_minutes,
            s.carers,
        )
        .join(care_package_slots, s.package_id == p.id)
        .where(
            and_(
                p.book_id == book_id,
                p.start_date <= last,
                or_(p.end_date.is_(None), p.end_date >= first),
            )
        )
    ).all()
    slots = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "package_id": pl.Int64,
            "package_ref": pl.String,
            "client_party_id": pl.Int64,
            "provider_party_id": pl.Int64,
            "service_code": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "weekday": pl.Int64,
            "start_minute": pl.Int64,
            "duration_minutes": pl.Int64,
            "carers": pl.Int64,
        },
    )
    calendar = pl.DataFrame({"day": pl.date_range(first, last, eager=True)}).with_columns(
        weekday=pl.col("day").dt.weekday().cast(pl.Int64) - 1
    )  # Monday 0, as the slots
    start_s = pl.col("day").cast(pl.Int64) * DAY_SECONDS + pl.col("start_minute") * 60
    hh_mm = pl.format(
        "{}:{}",
        (pl.col("start_minute") // 60).cast(pl.String).str.zfill(2),
        (pl.col("start_minute") % 60).cast(pl.String).str.zfill(2),
    )
    return (
        slots.join(calendar, on="weekday")
        .filter(
            (pl.col("start_date") <= pl.col("day"))
            & (pl.col("end_date").is_null() | (pl.col("day") <= pl.col("end_date")))
        )
        .sort("day", "package_id", "start_minute")
        .select(
            book_id=pl.lit(book_id, dtype=pl.Int64),
            ref=pl.format("{}/{}/{}", "package_ref", pl.col("day").dt.to_string("%Y-%m-%d"), hh_mm),
            package_id="package_id",
            client_party_id="client_party_id",
            provider_party_id="provider_party_id",
            service_code="service_code",
            start_s=start_s,
            end_s=start_s + pl.col("duration_minutes") * 60,
            carers="carers",
        )
    )


# ---------------------------------------------------------------- policies


def set_policy(
    conn: Connection,
    actor: Actor,
    book_id: int,
    policy: Policy,
    effective_from: date,
    provider_party_id: int | None = None,
    note: str = "",
) -> int:
    """A new version of the book's policy, or of one provider contract's override."""
    require(actor, book_id, Permission.CARE_POLICY)
    found = text_problem(note, "note", max_chars=POLICY_NOTE_MAX, multiline=True)
    found = found or date_problem(effective_from, "effective_from")
    if found is not None:
        raise ValidationFailed([found])
    if provider_party_id is not None and not parties.party_has_role(
        conn, book_id, provider_party_id, "provider"
    ):
        raise ValidationFailed(
            [Problem("provider_party_id", "not a provider of this book", "unknown_provider")]
        )
    c = care_policies.c
    conn.execute(
        delete(care_policies).where(
            and_(  # a same-day correction replaces it
                c.book_id == book_id,
                c.effective_from == effective_from,
                c.provider_party_id.is_(None)
                if provider_party_id is None
                else c.provider_party_id == provider_party_id,
            )
        )
    )
    policy_id = insert_id(
        conn,
        insert(care_policies).values(
            book_id=book_id,
            provider_party_id=provider_party_id,
            effective_from=effective_from,
            params=audit.canonical(policy.as_dict()),
            note=note[:500],
            created_by=actor.username,
            created_at=audit.utc_now_text(),
        ),
    )
    audit.record(
        conn,
        actor,
        "care.policy",
        "care_policy",
        policy_id,
        None,
        {
            "effective_from": effective_from.isoformat(),
            "provider_party_id": provider_party_id,
            **policy.as_dict(),
        },
        book_id,
    )
    return policy_id


def recent_imports(
    conn: Connection, actor: Actor, book_id: int, limit: int = 10
) -> list[dict[str, Any]]:
    """The book's latest care imports, newest first."""
    require(actor, book_id, Permission.CARE_READ)
    i = care_imports.c
    query = select(care_imports).where(i.book_id == book_id).order_by(i.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(query).mappings()]


def policy_versions(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """Every version of the book's policy and of the providers' overrides, newest first."""
    require(actor, book_id, Permission.CARE_READ)
    c = care_policies.c
    rows = (
        conn.execute(
            select(
                c.id,
                c.provider_party_id,
                c.effective_from,
                c.params,
                c.note,
                c.created_by,
                c.created_at,
            )
            .where(c.book_id == book_id)
            .order_by(c.effective_from.desc(), c.id.desc())
        )
        .mappings()
        .all()
    )
    return [{**dict(r), "params": json.loads(r["params"])} for r in rows]


def policies_on(
    conn: Connection, book_id: int, day: date, providers: Sequence[int] = ()
) -> tuple[Policy, dict[int, Policy]]:
    """The book's policy in force on ``day`` (the defaults if none), and the overrides of
    the providers that have one in force then."""
    c = care_policies.c
    rows = conn.execute(
        select(c.provider_party_id, c.effective_from, c.params)
        .where(and_(c.book_id == book_id, c.effective_from <= day))
        .order_by(c.effective_from)
    ).all()
    book = Policy()
    overrides: dict[int, Policy] = {}
    for r in rows:  # later versions win
        policy = Policy.from_mapping(json.loads(r.params))
        if r.provider_party_id is None:
            book = policy
        elif not providers or r.provider_party_id in providers:
            overrides[int(r.provider_party_id)] = policy
    return book, overrides
