"""Reconciling a period in the book: the stored planned visits and actual records through the
engine, one run per provider, with the exceptions opened as one arbitration case per
provider and period.

Visits belong to the period of their planned start; an actual record is read if its
check-in is within the longest match window of the period's edges, and an unmatched one
belongs to the period of its check-in. A run can be reconciled again (new imports, a new
policy) until a decision is recorded on it; after that, its outcomes are the officer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Connection, and_, delete, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.bulk import insert_frame, read_frame
from remit.care.engine import reconcile
from remit.care.model import Policy, RunStatus, checked_period, rate_millionths
from remit.care.service import DAY_SECONDS, EPOCH, policies_on
from remit.care.store import (
    actual_records,
    care_package_rates,
    care_packages,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.db import insert_id
from remit.errors import Conflict, Problem, ValidationFailed
from remit.events.service import emit
from remit.parties import service as parties


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    provider_party_id: int
    outcomes: int
    exceptions: int
    paid_minutes: int
    amount_minor: int
    currency: str
    case_id: int | None


def reconcile_period(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    provider_party_ids: list[int] | None = None,
) -> list[RunSummary]:
    """Reconcile ``first``..``last`` (inclusive) for the given providers (default: every
    provider with visits or records in the period)."""
    require(actor, book_id, Permission.CARE_RUN)
    checked_period(first, last, 63)
    start_s = (first - EPOCH).days * DAY_SECONDS
    end_s = (last - EPOCH).days * DAY_SECONDS + DAY_SECONDS
    book_policy, overrides = policies_on(conn, book_id, first)
    reach = (
        max(
            [
                book_policy.match_window_minutes,
                *(p.match_window_minutes for p in overrides.values()),
            ]
        )
        * 60
    )
    planned = _planned(conn, book_id, start_s, end_s, provider_party_ids)
    actual = _actual(conn, book_id, start_s - reach, end_s + reach, provider_party_ids)
    providers = sorted(
        set(planned.get_column("provider_id").cast(pl.Int64).to_list())
        | set(
            actual.filter(pl.col("check_in_s").is_between(start_s, end_s, closed="left"))
            .get_column("provider_id")
            .cast(pl.Int64)
            .to_list()
        )
    )
    _refuse_decided(conn, book_id, providers, first, last)
    rates = _rates(conn, book_id)
    outcomes = reconcile(
        planned, actual, rates, book_policy, {str(k): v for k, v in overrides.items()}
    )
    # Records matched to no visit count in the period of their check-in only.
    check_ins = actual.select(record_id="record_id", check_in_s="check_in_s")
    outcomes = (
        outcomes.join(check_ins, on="record_id", how="left")
        .filter(
            (pl.col("visit_id") != "")
            | pl.col("check_in_s").is_between(start_s, end_s, closed="left")
        )
        .drop("check_in_s")
    )
    unpriced = outcomes.filter(pl.col("amount_minor").is_null())
    if unpriced.height:
        raise ValidationFailed(
            [
                Problem(
                    "rate",
                    f"planned visit {v} is paid minutes but its "
                    "package has no rate in force on its date",
                    "no_rate",
                )
                for v in unpriced.get_column("visit_id").head(50).to_list()
            ]
        )
    by_provider = {
        str(key[0]): part
        for key, part in outcomes.partition_by(
            "provider_id", as_dict=True, maintain_order=True
        ).items()
    }
    return [
        _store_run(
            conn,
            actor,
            book_id,
            pid,
            first,
            last,
            overrides.get(pid, book_policy),
            by_provider.get(str(pid), outcomes.clear()),
        )
        for pid in providers
    ]


def _planned(
    conn: Connection, book_id: int, start_s: int, end_s: int, providers: list[int] | None
) -> pl.DataFrame:
    v = planned_visits.c
    query = select(
        v.id, v.client_party_id, v.provider_party_id, v.package_id, v.start_s, v.end_s, v.carers
    ).where(and_(v.book_id == book_id, v.start_s >= start_s, v.start_s < end_s))
    if providers:
        query = query.where(v.provider_party_id.in_(providers))
    frame = read_frame(
        conn,
        query,
        {
            "id": pl.Int64,
            "client": pl.Int64,
            "provider": pl.Int64,
            "package": pl.Int64,
            "start_s": pl.Int64,
            "end_s": pl.Int64,
            "carers": pl.Int64,
        },
    )
    # The engine keys rates by provider and "service": here the package, whose rate it is.
    return frame.select(
        visit_id=pl.col("id").cast(pl.String),
        client_id=pl.col("client").cast(pl.String),
        provider_id=pl.col("provider").cast(pl.String),
        service_code=pl.col("package").cast(pl.String),
        start_s="start_s",
        end_s="end_s",
        carers="carers",
    )


def _actual(
    conn: Connection, book_id: int, start_s: int, end_s: int, providers: list[int] | None
) -> pl.DataFrame:
    a = actual_records.c
    query = select(
        a.id,
        a.client_party_id,
        a.provider_party_id,
        a.carer_ref,
        a.service_code,
        a.check_in_s,
        a.check_out_s,
    ).where(and_(a.book_id == book_id, a.check_in_s >= start_s, a.check_in_s < end_s))
    if providers:
        query = query.where(a.provider_party_id.in_(providers))
    frame = read_frame(
        conn,
        query,
        {
            "id": pl.Int64,
            "client": pl.Int64,
            "provider": pl.Int64,
            "carer_id": pl.String,
            "service_code": pl.String,
            "check_in_s": pl.Int64,
            "check_out_s": pl.Int64,
        },
    )
    return frame.select(
        record_id=pl.col("id").cast(pl.String),
        client_id=pl.col("client").cast(pl.String),
        provider_id=pl.col("provider").cast(pl.String),
        carer_id="carer_id",
        service_code="service_code",
        check_in_s="check_in_s",
        check_out_s="check_out_s",
    )


def _rates(conn: Connection, book_id: int) -> pl.DataFrame:
    p, r = care_packages.c, care_package_rates.c
    rows = conn.execute(
        select(p.provider_party_id, p.id, r.effective_from, r.rate_per_hour, r.currency)
        .join(care_package_rates, r.package_id == p.id)
        .where(p.book_id == book_id)
    ).all()
    return pl.DataFrame(
        [
            (
                str(x.provider_party_id),
                str(x.id),
                (x.effective_from - EPOCH).days,
                rate_millionths(x.rate_per_hour),
                x.currency,
            )
            for x in rows
        ],
        orient="row",
        schema={
            "provider_id": pl.String,
            "service_code": pl.String,
            "effective_day": pl.Int64,
            "rate_millionths": pl.Int64,
            "currency": pl.String,
        },
    )


def _refuse_decided(
    conn: Connection, book_id: int, providers: list[int], first: date, last: date
) -> None:
    r, o = care_runs.c, visit_outcomes.c
    decided = (
        conn.execute(
            select(r.provider_party_id).where(
                and_(
                    r.book_id == book_id,
                    r.period_start == first,
                    r.period_end == last,
                    r.provider_party_id.in_(providers or [-1]),
                    (r.status == RunStatus.POSTED.value)
                    | r.id.in_(select(o.run_id).where(o.decision.is_not(None))),
                )
            )
        )
        .scalars()
        .all()
    )
    if decided:
        raise Conflict(
            "decisions are recorded on the run of provider(s) "
            f"{', '.join(str(b) for b in decided)} for this period (or it is "
            "posted); it cannot be reconciled again"
        )
    overlap = conn.execute(
        select(r.id).where(
            and_(
                r.book_id == book_id,
                r.period_start <= last,
                r.period_end >= first,
                ~and_(r.period_start == first, r.period_end == last),
                r.provider_party_id.in_(providers or [-1]),
            )
        )
    ).first()
    if overlap is not None:
        raise Conflict(f"run {overlap.id} covers part of this period already")


def _store_run(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider: int,
    first: date,
    last: date,
    policy: Policy,
    outcomes: pl.DataFrame,
) -> RunSummary:
    r = care_runs.c
    found = conn.execute(
        select(r.id, r.case_id).where(
            and_(
                r.book_id == book_id,
                r.provider_party_id == provider,
                r.period_start == first,
                r.period_end == last,
            )
        )
    ).first()
    if found is None:
        run_id = insert_id(
            conn,
            insert(care_runs).values(
                book_id=book_id,
                provider_party_id=provider,
                period_start=first,
                period_end=last,
                status=RunStatus.RECONCILED.value,  # settled below
                policy=audit.canonical(policy.as_dict()),
                created_by=actor.username,
                created_at=audit.utc_now_text(),
                version=1,
            ),
        )
        case_id = None
    else:
        run_id, case_id = int(found.id), found.case_id
        conn.execute(delete(visit_outcomes).where(visit_outcomes.c.run_id == run_id))
        conn.execute(
            update(care_runs)
            .where(r.id == run_id)
            .values(policy=audit.canonical(policy.as_dict()), version=r.version + 1)
        )
    insert_frame(conn, visit_outcomes, _outcome_rows(outcomes, run_id))
    exceptions = int(outcomes.get_column("exception").sum())
    conn.execute(
        update(care_runs)
        .where(r.id == run_id)
        .values(status=(RunStatus.RECONCILED if exceptions else RunStatus.RESOLVED).value)
    )
    if exceptions and case_id is None:
        case_id = _open_arbitration(conn, actor, book_id, provider, first, last, run_id, exceptions)
        conn.execute(update(care_runs).where(r.id == run_id).values(case_id=case_id))
    summary = RunSummary(
        run_id,
        provider,
        outcomes.height,
        exceptions,
        int(outcomes.get_column("paid_minutes").sum()),
        int(outcomes.get_column("amount_minor").sum()),
        (
            outcomes.get_column("currency")
            .filter(outcomes.get_column("currency") != "")
            .head(1)
            .to_list()
            or [""]
        )[0],
        case_id,
    )
    detail = {
        "provider_party_id": provider,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "outcomes": summary.outcomes,
        "exceptions": exceptions,
        "amount_minor": summary.amount_minor,
        "currency": summary.currency,
    }
    audit.record(conn, actor, "care.reconcile", "care_run", run_id, None, detail, book_id)
    emit(conn, book_id, "care.run.reconciled", "care_run", run_id, detail)
    return summary


def _outcome_rows(outcomes: pl.DataFrame, run_id: int) -> pl.DataFrame:
    return outcomes.select(
        run_id=pl.lit(run_id),
        planned_visit_id=pl.when(pl.col("visit_id") != "")
        .then(pl.col("visit_id"))
        .cast(pl.Int64, strict=False),
        actual_record_id=pl.when(pl.col("record_id") != "")
        .then(pl.col("record_id"))
        .cast(pl.Int64, strict=False),
        status="status",
        rule="rule",
        planned_minutes="planned_minutes",
        delivered_minutes="delivered_minutes",
        paid_minutes="paid_minutes",
        amount_minor="amount_minor",
        currency="currency",
        exception="exception",
        reason="reason",
        final_minutes="paid_minutes",
        final_amount_minor="amount_minor",
    )


def _open_arbitration(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider: int,
    first: date,
    last: date,
    run_id: int,
    exceptions: int,
) -> int:
    _ref, name = parties.party_names(conn, book_id, [provider]).get(provider, ("", ""))
    title = (
        f"{name}: {exceptions} visit exception{'s' if exceptions != 1 else ''}, "
        f"{first.isoformat()} to {last.isoformat()}"
    )[:200]
    return cases.open_case(
        conn,
        actor,
        book_id,
        NewCase(
            "arbitration",
            title,
            "Visits that failed a rule of the tolerance policy wait here "
            "for a decision: accept actual, accept planned, set minutes, or reject.",
            party_id=provider,
            links=(("care_run", str(run_id), "reconciliation run"),),
        ),
    )
