"""Use cases of care packages and policies: commission care, generate the planned visits of a
period from the packages' weekly patterns, and keep the versioned tolerance policies.

>>> [d.isoformat() for d in days(date(2026, 11, 1), date(2026, 11, 3))]
['2026-11-01', '2026-11-02', '2026-11-03']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select

from remit.access.model import Actor, Permission, require
from remit.care.model import MAX_CARERS, MAX_PLANNED_MINUTES, Policy
from remit.care.store import (
    care_package_rates,
    care_package_slots,
    care_packages,
    care_policies,
    planned_visits,
)
from remit.db import insert_id
from remit.errors import Conflict, Problem, ValidationFailed
from remit.ledger import audit
from remit.money import CURRENCY_EXPONENTS, to_rate
from remit.parties import service as parties

EPOCH = date(1970, 1, 1)
RATE_TEXT = re.compile(r"\d{1,9}(\.\d{1,6})?")  # as the exchange format's rate_per_hour
DAY_SECONDS = 86_400


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


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def package_problems(new: NewPackage) -> list[Problem]:
    """Everything wrong with a package to commission, at once."""
    problems = []
    if not new.ref.strip() or len(new.ref) > 64:
        problems.append(Problem("ref", "a reference of 1 to 64 characters", "required"))
    if not new.service_code.strip() or len(new.service_code) > 32:
        problems.append(Problem("service_code", "a service code of 1 to 32 characters",
                                "required"))
    if new.end_date is not None and new.end_date < new.start_date:
        problems.append(Problem("end_date", "on or after the start date", "dates"))
    if not new.slots:
        problems.append(Problem("slots", "at least one visit a week", "required"))
    for i, s in enumerate(new.slots):
        if not (0 <= s.weekday <= 6 and 0 <= s.start_minute < 1440
                and 1 <= s.duration_minutes <= MAX_PLANNED_MINUTES
                and 1 <= s.carers <= MAX_CARERS):
            problems.append(Problem(f"slots[{i}]", "a weekday 0-6, a start within the day, "
                                    f"1 to {MAX_PLANNED_MINUTES} minutes and 1 to "
                                    f"{MAX_CARERS} carers", "slot"))
    if not new.rates:
        problems.append(Problem("rates", "at least one hourly rate", "required"))
    for i, (_from, rate, currency) in enumerate(new.rates):
        if not RATE_TEXT.fullmatch(rate.strip()) or currency not in CURRENCY_EXPONENTS:
            problems.append(Problem(f"rates[{i}]", "a rate per hour with at most six decimals "
                                    "and an ISO 4217 currency", "rate"))
    return problems


def create_package(conn: Connection, actor: Actor, book_id: int, new: NewPackage) -> int:
    """Commission care: a package with its weekly pattern and rates."""
    require(actor, book_id, Permission.CARE_IMPORT)
    problems = package_problems(new)
    for role, party_id, name in (("client", new.client_party_id, "client_party_id"),
                                 ("provider", new.provider_party_id, "provider_party_id")):
        if not parties.party_has_role(conn, book_id, party_id, role):
            problems.append(Problem(name, f"not a {role} of this book", f"unknown_{role}"))
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(select(care_packages.c.id).where(and_(
            care_packages.c.book_id == book_id, care_packages.c.ref == new.ref))).first():
        raise Conflict(f"care package {new.ref!r} already exists")
    package_id = insert_id(conn, insert(care_packages).values(
        book_id=book_id, ref=new.ref.strip(), client_party_id=new.client_party_id,
        provider_party_id=new.provider_party_id, service_code=new.service_code.strip(),
        start_date=new.start_date, end_date=new.end_date, created_by=actor.username,
        created_at=audit.utc_now_text()))
    conn.execute(insert(care_package_slots), [
        {"package_id": package_id, "weekday": s.weekday, "start_minute": s.start_minute,
         "duration_minutes": s.duration_minutes, "carers": s.carers} for s in new.slots])
    conn.execute(insert(care_package_rates), [
        {"package_id": package_id, "effective_from": f, "rate_per_hour": str(to_rate(r)),
         "currency": c} for f, r, c in new.rates])
    audit.record(conn, actor, "care.package", "care_package", package_id, None,
                 {"ref": new.ref, "client_party_id": new.client_party_id,
                  "provider_party_id": new.provider_party_id,
                  "service_code": new.service_code, "slots": len(new.slots)}, book_id)
    return package_id


def generate_planned(conn: Connection, actor: Actor, book_id: int, first: date,
                     last: date) -> int:
    """The planned visits of the days ``first``..``last`` from every package in force,
    refs ``<package ref>/<date>/<hh:mm>``; visits already generated are left as they are
    (running it twice plans nothing twice). Returns how many were added."""
    require(actor, book_id, Permission.CARE_IMPORT)
    if last < first or (last - first).days > 366:
        raise ValidationFailed([Problem("period", "a period of 1 to 367 days", "period")])
    p, s = care_packages.c, care_package_slots.c
    rows = conn.execute(select(p.id, p.ref, p.client_party_id, p.provider_party_id,
                               p.service_code, p.start_date, p.end_date, s.weekday,
                               s.start_minute, s.duration_minutes, s.carers)
                        .join(care_package_slots, s.package_id == p.id)
                        .where(and_(p.book_id == book_id, p.start_date <= last,
                                    or_(p.end_date.is_(None), p.end_date >= first)))).all()
    by_weekday: dict[int, list[Any]] = {}
    for r in rows:
        by_weekday.setdefault(r.weekday, []).append(r)
    wanted = []
    for day in days(first, last):
        base = (day - EPOCH).days * DAY_SECONDS
        for r in by_weekday.get(day.weekday(), ()):
            if r.start_date <= day and (r.end_date is None or day <= r.end_date):
                start = base + r.start_minute * 60
                wanted.append({"book_id": book_id,
                               "ref": f"{r.ref}/{day.isoformat()}/"
                                      f"{r.start_minute // 60:02d}:{r.start_minute % 60:02d}",
                               "package_id": r.id, "client_party_id": r.client_party_id,
                               "provider_party_id": r.provider_party_id,
                               "service_code": r.service_code, "start_s": start,
                               "end_s": start + r.duration_minutes * 60, "carers": r.carers})
    existing: set[str] = set()
    refs = [w["ref"] for w in wanted]
    for i in range(0, len(refs), 5_000):
        existing.update(conn.execute(select(planned_visits.c.ref).where(and_(
            planned_visits.c.book_id == book_id,
            planned_visits.c.ref.in_(refs[i:i + 5_000])))).scalars())
    new = [w for w in wanted if w["ref"] not in existing]
    for i in range(0, len(new), 50_000):
        conn.execute(insert(planned_visits), new[i:i + 50_000])
    audit.record(conn, actor, "care.plan", "book", book_id, None,
                 {"from": first.isoformat(), "to": last.isoformat(), "visits": len(new)},
                 book_id)
    return len(new)


# ---------------------------------------------------------------- policies


def set_policy(conn: Connection, actor: Actor, book_id: int, policy: Policy,
               effective_from: date, provider_party_id: int | None = None,
               note: str = "") -> int:
    """A new version of the book's policy, or of one provider contract's override."""
    require(actor, book_id, Permission.CARE_POLICY)
    if provider_party_id is not None and not parties.party_has_role(
            conn, book_id, provider_party_id, "provider"):
        raise ValidationFailed([Problem("provider_party_id", "not a provider of this book",
                                        "unknown_provider")])
    c = care_policies.c
    conn.execute(delete(care_policies).where(and_(  # a same-day correction replaces it
        c.book_id == book_id, c.effective_from == effective_from,
        c.provider_party_id.is_(None) if provider_party_id is None
        else c.provider_party_id == provider_party_id)))
    policy_id = insert_id(conn, insert(care_policies).values(
        book_id=book_id, provider_party_id=provider_party_id, effective_from=effective_from,
        params=json.dumps(policy.as_dict(), sort_keys=True), note=note[:500],
        created_by=actor.username, created_at=audit.utc_now_text()))
    audit.record(conn, actor, "care.policy", "care_policy", policy_id, None,
                 {"effective_from": effective_from.isoformat(),
                  "provider_party_id": provider_party_id, **policy.as_dict()}, book_id)
    return policy_id


def policies_on(conn: Connection, book_id: int, day: date,
                providers: Sequence[int] = ()) -> tuple[Policy, dict[int, Policy]]:
    """The book's policy in force on ``day`` (the defaults if none), and the overrides of
    the providers that have one in force then."""
    c = care_policies.c
    rows = conn.execute(select(c.provider_party_id, c.effective_from, c.params).where(and_(
        c.book_id == book_id, c.effective_from <= day)).order_by(c.effective_from)).all()
    book = Policy()
    overrides: dict[int, Policy] = {}
    for r in rows:  # later versions win
        policy = Policy.from_mapping(json.loads(r.params))
        if r.provider_party_id is None:
            book = policy
        elif not providers or r.provider_party_id in providers:
            overrides[int(r.provider_party_id)] = policy
    return book, overrides
