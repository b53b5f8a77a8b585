"""Reconciling a period in the book: the stored planned visits and actual records through the
engine, one run per provider, with the exceptions opened as one arbitration case per
provider and period.

Visits belong to the period of their planned start; a record matched to a visit belongs to
the visit's period, an unmatched one to the period of its check-in. A run can be reconciled
again (new imports, a new policy) until a decision is recorded on it; after that its
outcomes are the officer's, and what arrives later goes to a supplementary run of the
period. A record and a carer place belong to at most one run's outcome (two partial unique
indexes hold it in the store; ``_keep`` makes it so).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.bulk import analyze_after, insert_frame, read_frame
from remit.care import visits
from remit.care.engine import reconcile
from remit.care.imports import claim_held_records, package_ids
from remit.care.model import (
    Policy,
    Rule,
    RunStatus,
    VisitStatus,
    checked_period,
    rate_millionths,
)
from remit.care.service import DAY_SECONDS, EPOCH, policies_on
from remit.care.store import (
    actual_records,
    care_decisions,
    care_package_rates,
    care_packages,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.db import insert_id, is_postgres
from remit.errors import Conflict, Problem, ValidationFailed
from remit.events.service import emit_many
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
    sequence: int = 0  # 0: the period's first run; 1, 2, ...: supplementary runs
    replaced: bool = False  # an undecided run of the period computed again


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a provider's outcomes of the period go: a run replaced, or a new one."""

    run_id: int | None
    sequence: int
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
    provider with visits or records in the period).

    A provider's run of exactly this period with no decision yet is replaced; once its run
    has a decision or is posted, what no run holds yet (late records, visits imported since)
    goes to a supplementary run of the period. Whatever the periods chosen, a record and a
    carer place belong to at most one run: every run not replaced here keeps what it holds,
    and the engine sees the visits and records around the period so that a record near its
    edge is matched as it would be in one longer period (see ``_keep``).
    """
    require(actor, book_id, Permission.CARE_RUN)
    claim_held_records(conn, book_id)  # a client registered since is matched now
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
    targets = _targets(conn, book_id, first, last, provider_party_ids)
    replaced = [t.run_id for t in targets.values() if t.run_id is not None]
    if replaced:
        conn.execute(delete(visit_outcomes).where(visit_outcomes.c.run_id.in_(replaced)))
    planned, actual = _inputs(conn, book_id, start_s, end_s, reach, provider_party_ids)
    held_visits = planned.filter(pl.col("held_by") != 0).select("visit_id", "held_by")
    planned = planned.drop("held_by")
    planned = visits.with_absences(conn, book_id, planned)
    providers = sorted(
        set(
            planned.filter(pl.col("start_s").is_between(start_s, end_s, closed="left"))
            .get_column("provider_id")
            .cast(pl.Int64)
            .to_list()
        )
        | set(
            actual.filter(pl.col("check_in_s").is_between(start_s, end_s, closed="left"))
            .get_column("provider_id")
            .cast(pl.Int64)
            .to_list()
        )
        | {pid for pid, t in targets.items() if t.run_id is not None}
    )
    rates = _rates(conn, book_id)
    _refuse_mixed_currencies(conn, book_id, rates, providers)
    outcomes = reconcile(
        planned,
        actual.drop("support"),
        rates,
        book_policy,
        {str(k): v for k, v in overrides.items()},
        visits.holidays(conn, book_id, start_s - 2 * reach, end_s + 2 * reach),
    )
    outcomes = _keep(outcomes, planned, actual, held_visits, start_s, end_s)
    outcomes = _unplanned_reasons(outcomes, actual)
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
    summaries, lines, details = [], [], []
    names = parties.party_names(conn, book_id, providers)
    for pid in providers:
        part = by_provider.get(str(pid), outcomes.clear())
        target = targets.get(pid) or _new_target(conn, book_id, pid, first, last)
        if target.run_id is None and not part.height:
            continue  # nothing new for this provider: no empty run
        summary, rows, detail = _store_run(
            conn,
            actor,
            book_id,
            pid,
            first,
            last,
            overrides.get(pid, book_policy),
            part,
            target,
        )
        summaries.append(summary)
        lines.append(rows)
        details.append((summary.run_id, detail))
    summaries = _open_arbitrations(conn, actor, book_id, summaries, names, (first, last))
    # Every run's lines in one bulk write, their audit events and events in one each.
    if details:
        insert_frame(conn, visit_outcomes, pl.concat(lines))
        audit.record_many(
            conn,
            actor,
            [("care.reconcile", "care_run", run_id, None, d, book_id) for run_id, d in details],
        )
        emit_many(conn, book_id, "care.run.reconciled", "care_run", details)
    analyze_after(conn, visit_outcomes, sum(x.outcomes for x in summaries))
    return summaries


def _keep(
    outcomes: pl.DataFrame,
    planned: pl.DataFrame,
    actual: pl.DataFrame,
    held_visits: pl.DataFrame,
    start_s: int,
    end_s: int,
) -> pl.DataFrame:
    """The engine's outcomes that belong to this period and to no other run, with ``place``.

    A planned visit belongs to the period of its planned start's date; a record matched to
    a visit belongs to the visit's period, an unmatched one to its check-in's. A visit whose
    places a run already holds is not placed again: a record matched to it now (a late
    record of a visit decided as missed, say) is an exception of this run, paid nothing
    until decided, and the other run's decision stands.
    """
    visits = planned.select(
        "visit_id", in_period=pl.col("start_s").is_between(start_s, end_s, closed="left")
    ).join(held_visits, on="visit_id", how="left")
    check_ins = actual.select("record_id", "check_in_s")
    rows = (
        outcomes.with_row_index("_order")
        .join(visits, on="visit_id", how="left")
        .join(check_ins, on="record_id", how="left")
        .with_columns(pl.col("held_by").fill_null(0))
    )
    planned_row = pl.col("visit_id") != ""
    rows = rows.filter(
        pl.when(planned_row)
        .then(pl.col("in_period").fill_null(False))
        .otherwise(pl.col("check_in_s").is_between(start_s, end_s, closed="left"))
    )
    held = planned_row & (pl.col("held_by") != 0)
    is_place = pl.col("status") != VisitStatus.DUPLICATE.value
    rows = rows.filter(~(held & (pl.col("record_id") == "")))  # its places are held already
    late = held & is_place
    rows = rows.with_columns(
        status=pl.when(late).then(pl.lit(VisitStatus.UNPLANNED.value)).otherwise("status"),
        rule=pl.when(late).then(pl.lit(Rule.VISIT_DECIDED_IN_OTHER_RUN.value)).otherwise("rule"),
        paid_minutes=pl.when(late).then(0).otherwise("paid_minutes"),
        amount_minor=pl.when(late).then(0).otherwise("amount_minor"),
        exception=pl.when(late).then(True).otherwise("exception"),
        reason=pl.when(late)
        .then(
            pl.concat_str(
                pl.lit("the visit is already decided in run "),
                pl.col("held_by").cast(pl.String),
                pl.lit(": a late record, paid nothing until decided"),
            )
        )
        .otherwise("reason"),
    )
    eligible = (planned_row & ~held & is_place).alias("_eligible")
    rows = rows.sort("_order").with_columns(eligible)
    rows = rows.with_columns(
        place=pl.when("_eligible")
        .then(pl.col("_eligible").cast(pl.Int64).cum_sum().over("visit_id"))
        .otherwise(None)
    )
    return rows.drop("_order", "_eligible", "in_period", "held_by", "check_in_s")


def _inputs(
    conn: Connection,
    book_id: int,
    start_s: int,
    end_s: int,
    reach: int,
    providers: list[int] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The engine's planned visits (with ``held_by``: the run holding its places, 0 none)
    and the records no run holds, around the period: visits within two match windows of
    its edges, records within one (see ``_keep``).

    When few records are free (a supplementary run: at most one in ``SCOPED_SHARE`` of the
    span's records), only what can change is read: the visits no run holds, and the held
    visits of the free records' clients within two match windows of each record (those a
    late record can be matched to). A held visit far from every free record would come out
    of the engine missed, and be dropped by ``_keep``: leaving it out changes no outcome.
    """
    lo, hi = start_s - 2 * reach, end_s + 2 * reach
    actual = _actual(conn, book_id, start_s - reach, end_s + reach, providers)
    if actual.height * SCOPED_SHARE > _records_in(conn, book_id, lo, hi, providers):
        return _planned(conn, book_id, lo, hi, providers), actual
    free = _planned(conn, book_id, lo, hi, providers, free_only=True)
    windows = actual.select(
        client=pl.col("client_id").cast(pl.Int64, strict=False),
        lo=pl.col("check_in_s") - 2 * reach,
        hi=pl.col("check_in_s") + 2 * reach + 1,
    ).drop_nulls()
    near = _planned_near(conn, book_id, windows, lo, hi)
    if providers:
        near = near.filter(pl.col("provider_id").is_in([str(p) for p in providers]))
    planned = pl.concat([free, near]).unique("visit_id", keep="first", maintain_order=True)
    return planned, actual


SCOPED_SHARE = 10  # a reconcile reads only what can change when <= 1 record in 10 is free

_VISIT_SCHEMA = {
    "id": pl.Int64,
    "client": pl.Int64,
    "provider": pl.Int64,
    "package": pl.Int64,
    "start_s": pl.Int64,
    "end_s": pl.Int64,
    "carers": pl.Int64,
    "status": pl.String,
    "reason": pl.String,
    "held_by": pl.Int64,
}


def _records_in(
    conn: Connection, book_id: int, start_s: int, end_s: int, providers: list[int] | None
) -> int:
    a = actual_records.c
    query = select(func.count()).where(
        and_(a.book_id == book_id, a.check_in_s >= start_s, a.check_in_s < end_s)
    )
    if providers:
        query = query.where(a.provider_party_id.in_(providers))
    return int(conn.execute(query).scalar_one())


def _held_by() -> Any:
    """The run holding a visit's places (0: none), per visit, through the places index."""
    o, v = visit_outcomes.c, planned_visits.c
    held = (
        select(func.min(o.run_id))
        .where(and_(o.planned_visit_id == v.id, o.place.is_not(None)))
        .scalar_subquery()
    )
    return func.coalesce(held, 0)


def _targets(
    conn: Connection, book_id: int, first: date, last: date, providers: list[int] | None
) -> dict[int, _Target]:
    """The providers' runs of exactly this period that are replaced (no decision, not
    posted); a provider whose latest run of the period is kept is not listed."""
    r, o, d = care_runs.c, visit_outcomes.c, care_decisions.c
    query = select(r.id, r.provider_party_id, r.sequence, r.status, r.case_id).where(
        and_(r.book_id == book_id, r.period_start == first, r.period_end == last)
    )
    if providers:
        query = query.where(r.provider_party_id.in_(providers))
    latest: dict[int, Any] = {}
    for row in conn.execute(query.order_by(r.provider_party_id, r.sequence)).all():
        latest[int(row.provider_party_id)] = row
    if not latest:
        return {}
    ids = [int(x.id) for x in latest.values()]
    decided = set(
        conn.execute(
            select(o.run_id).where(and_(o.run_id.in_(ids), o.decision.is_not(None))).distinct()
        ).scalars()
    ) | set(conn.execute(select(d.run_id).where(d.run_id.in_(ids)).distinct()).scalars())
    return {
        pid: _Target(int(row.id), int(row.sequence), row.case_id)
        for pid, row in latest.items()
        if row.status != RunStatus.POSTED.value and int(row.id) not in decided
    }


def _new_target(conn: Connection, book_id: int, provider: int, first: date, last: date) -> _Target:
    r = care_runs.c
    top = conn.execute(
        select(func.max(r.sequence)).where(
            and_(
                r.book_id == book_id,
                r.provider_party_id == provider,
                r.period_start == first,
                r.period_end == last,
            )
        )
    ).scalar()
    return _Target(None, 0 if top is None else int(top) + 1, None)


def _refuse_mixed_currencies(
    conn: Connection, book_id: int, rates: pl.DataFrame, providers: list[int]
) -> None:
    """One currency per provider: never price one provider's dollars as pounds."""
    mixed = (
        rates.filter(pl.col("provider_id").is_in([str(p) for p in providers]))
        .group_by("provider_id")
        .agg(pl.col("currency").unique().sort())
        .filter(pl.col("currency").list.len() > 1)
    )
    if mixed.height:
        pid = int(mixed.get_column("provider_id")[0])
        ref, name = parties.party_names(conn, book_id, [pid]).get(pid, (str(pid), ""))
        raise Conflict(
            f"provider {ref} {name} has care packages priced in "
            f"{' and '.join(mixed.get_column('currency')[0].to_list())}: a provider is paid "
            "in one currency; correct its packages' rates"
        )


def _planned(
    conn: Connection,
    book_id: int,
    start_s: int,
    end_s: int,
    providers: list[int] | None,
    free_only: bool = False,
) -> pl.DataFrame:
    """The visits starting in the span, with ``held_by``; ``free_only``: those whose places
    no run holds."""
    v, o = planned_visits.c, visit_outcomes.c
    # The free ones through NOT EXISTS, which PostgreSQL answers with one anti-join, rather
    # than the held run's id looked up visit by visit.
    held = select(o.id).where(and_(o.planned_visit_id == v.id, o.place.is_not(None))).exists()
    held_by = literal(0) if free_only else _held_by()
    query = select(
        v.id,
        v.client_party_id,
        v.provider_party_id,
        v.package_id,
        v.start_s,
        v.end_s,
        v.carers,
        v.status,
        func.coalesce(v.status_reason, ""),
        held_by,
    ).where(and_(v.book_id == book_id, v.start_s >= start_s, v.start_s < end_s))
    if providers:
        query = query.where(v.provider_party_id.in_(providers))
    if free_only:
        query = query.where(~held)
    return _visit_frame(read_frame(conn, query, _VISIT_SCHEMA))


def _visit_frame(frame: pl.DataFrame) -> pl.DataFrame:
    # The engine keys rates by provider and "service": here the package, whose rate it is.
    return frame.select(
        visit_id=pl.col("id").cast(pl.String),
        client_id=pl.col("client").cast(pl.String),
        provider_id=pl.col("provider").cast(pl.String),
        service_code=pl.col("package").cast(pl.String),
        start_s="start_s",
        end_s="end_s",
        carers="carers",
        status="status",
        reason="reason",
        held_by="held_by",
    )


def _planned_near(
    conn: Connection, book_id: int, windows: pl.DataFrame, start_s: int, end_s: int
) -> pl.DataFrame:
    """The visits of each window's client starting in the window (and in the span), with
    ``held_by``: one query, the windows passed as arrays (PostgreSQL) or one JSON value
    (SQLite), each read through the index of client and start."""
    if windows.is_empty():
        return _visit_frame(pl.DataFrame(schema=_VISIT_SCHEMA))
    held = (
        "COALESCE((SELECT MIN(o.run_id) FROM visit_outcomes o WHERE o.planned_visit_id = v.id"
        " AND o.place IS NOT NULL), 0)"
    )
    columns = (
        "v.id, v.client_party_id, v.provider_party_id, v.package_id, v.start_s, v.end_s,"
        f" v.carers, v.status, COALESCE(v.status_reason, ''), {held}"
    )
    if is_postgres(conn):
        sql = (
            f"SELECT DISTINCT {columns} FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])"
            " AS w(client, lo, hi) JOIN planned_visits v ON v.book_id = %s"
            " AND v.client_party_id = w.client AND v.start_s >= greatest(w.lo, %s)"
            " AND v.start_s < least(w.hi, %s)"
        )
        params: tuple[Any, ...] = (
            windows.get_column("client").to_list(),
            windows.get_column("lo").to_list(),
            windows.get_column("hi").to_list(),
            book_id,
            start_s,
            end_s,
        )
    else:
        sql = (
            # CROSS JOIN: SQLite keeps the windows outside, each read through the index.
            f"SELECT DISTINCT {columns} FROM json_each(?) w CROSS JOIN planned_visits v"
            " WHERE v.book_id = ? AND v.client_party_id = json_extract(w.value, '$[0]')"
            " AND v.start_s >= max(json_extract(w.value, '$[1]'), ?)"
            " AND v.start_s < min(json_extract(w.value, '$[2]'), ?)"
        )
        params = (json.dumps(windows.rows()), book_id, start_s, end_s)
    rows = conn.exec_driver_sql(sql, params).all()
    return _visit_frame(pl.DataFrame(rows, orient="row", schema=_VISIT_SCHEMA))


def _actual(
    conn: Connection, book_id: int, start_s: int, end_s: int, providers: list[int] | None
) -> pl.DataFrame:
    """The records checked in during the span that no run's outcome holds. A record an
    officer held until a package exists (an outcome decided ``hold``, paid nothing) is
    read again once a package covers it, and not before: it stays held, in no new run."""
    a, o = actual_records.c, visit_outcomes.c
    hold = o.decision == HOLD
    paid_by = func.coalesce(o.decision, "") != HOLD
    held = select(o.id).where(o.actual_record_id == a.id, paid_by).exists()
    on_hold = select(o.id).where(o.actual_record_id == a.id, hold).exists()
    query = select(
        a.id,
        a.client_party_id,
        a.client_ref,
        a.provider_party_id,
        a.carer_ref,
        a.service_code,
        a.check_in_s,
        a.check_out_s,
        case((on_hold, 1), else_=0).label("on_hold"),  # an integer: read_frame copies text
    ).where(and_(a.book_id == book_id, a.check_in_s >= start_s, a.check_in_s < end_s, ~held))
    if providers:
        query = query.where(a.provider_party_id.in_(providers))
    frame = read_frame(
        conn,
        query,
        {
            "id": pl.Int64,
            "client": pl.Int64,
            "client_ref": pl.String,
            "provider": pl.Int64,
            "carer_id": pl.String,
            "service_code": pl.String,
            "check_in_s": pl.Int64,
            "check_out_s": pl.Int64,
            "on_hold": pl.Int64,
        },
    )
    covered = package_ids(
        conn,
        book_id,
        frame.select(
            client_party_id="client",
            provider_party_id="provider",
            service_code="service_code",
            check_in_s="check_in_s",
        ),
    ).get_column("package_id")
    unknown = pl.col("client").is_null()
    frame = frame.with_columns(covered=covered.is_not_null())
    # held until a package exists: still none covers it (or its client is still unknown)
    frame = frame.filter(~((pl.col("on_hold") == 1) & (unknown | ~pl.col("covered"))))
    return frame.select(
        record_id=pl.col("id").cast(pl.String),
        # a client not in the book is a client of its own, which no visit can match
        client_id=pl.when(unknown)
        .then(pl.concat_str(pl.lit("ref:"), pl.col("client_ref")))
        .otherwise(pl.col("client").cast(pl.String)),
        provider_id=pl.col("provider").cast(pl.String),
        carer_id="carer_id",
        service_code="service_code",
        check_in_s="check_in_s",
        check_out_s="check_out_s",
        # why the record cannot be planned care, if it cannot (null: it could be)
        support=pl.when(unknown)
        .then(pl.format(UNKNOWN_CLIENT, pl.col("client_ref")))
        .when(~pl.col("covered"))
        .then(pl.lit(NO_SUPPORT_PLAN))
        .otherwise(None),
    )


HOLD = "hold"  # decisions.Decision.HOLD: held until a package exists
NO_SUPPORT_PLAN = "no support plan: no care package for this client and provider"
UNKNOWN_CLIENT = "client not in the book (reference {})"


def _unplanned_reasons(outcomes: pl.DataFrame, actual: pl.DataFrame) -> pl.DataFrame:
    """The engine's unplanned outcomes of records that could not have been planned (no care
    package, or a client not in the book) say so; every other reason is the engine's."""
    support = actual.select("record_id", "support").filter(pl.col("support").is_not_null())
    if not support.height:
        return outcomes
    rows = outcomes.join(support, on="record_id", how="left", maintain_order="left")
    why = (pl.col("rule") == Rule.NO_PLANNED_VISIT_IN_WINDOW.value) & pl.col(
        "support"
    ).is_not_null()
    return rows.with_columns(
        reason=pl.when(why).then(pl.col("support")).otherwise(pl.col("reason"))
    ).drop("support")


def _rates(conn: Connection, book_id: int) -> pl.DataFrame:
    p, r = care_packages.c, care_package_rates.c
    rows = conn.execute(
        select(p.provider_party_id, p.id, r.effective_from, r.rate_per_hour, r.currency, r.band)
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
                x.band,
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
            "band": pl.String,
        },
    )


def _store_run(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider: int,
    first: date,
    last: date,
    policy: Policy,
    outcomes: pl.DataFrame,
    target: _Target,
) -> tuple[RunSummary, pl.DataFrame, dict[str, Any]]:
    """The provider's run of the period stored (or updated) with its state and case; its
    lines and its audit detail are the caller's to write, with every other run's."""
    r = care_runs.c
    exceptions = int(outcomes.get_column("exception").sum())
    status = (RunStatus.RECONCILED if exceptions else RunStatus.RESOLVED).value
    if target.run_id is None:
        run_id = insert_id(
            conn,
            insert(care_runs).values(
                book_id=book_id,
                provider_party_id=provider,
                period_start=first,
                period_end=last,
                sequence=target.sequence,
                status=status,
                policy=audit.canonical(policy.as_dict()),
                created_by=actor.username,
                created_at=audit.utc_now_text(),
                version=1,
            ),
        )
        case_id = None
    else:  # its outcomes were deleted before the engine ran
        run_id, case_id = target.run_id, target.case_id
        conn.execute(
            update(care_runs)
            .where(r.id == run_id)
            .values(policy=audit.canonical(policy.as_dict()), version=r.version + 1, status=status)
        )
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
        target.sequence,
        target.run_id is not None,
    )
    detail = {
        "provider_party_id": provider,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "sequence": target.sequence,
        "outcomes": summary.outcomes,
        "exceptions": exceptions,
        "amount_minor": summary.amount_minor,
        "currency": summary.currency,
    }
    return summary, _outcome_rows(outcomes, run_id), detail


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
        place="place",
        flags="flags",
    )


def _open_arbitrations(
    conn: Connection,
    actor: Actor,
    book_id: int,
    summaries: list[RunSummary],
    names: Mapping[int, tuple[str, str]],
    period: tuple[date, date],
) -> list[RunSummary]:
    """An arbitration case for every run with exceptions and no case yet, all opened at
    once (a month of 400 providers opens 400 cases in a few statements), each linked to
    its run and its run to it."""
    waiting = [x for x in summaries if x.exceptions and x.case_id is None]
    if not waiting:
        return summaries
    case_ids = cases.open_cases(
        conn,
        actor,
        book_id,
        [_arbitration(x, names.get(x.provider_party_id, ("", ""))[1], period) for x in waiting],
    )
    opened = {x.run_id: case_id for x, case_id in zip(waiting, case_ids, strict=True)}
    conn.execute(
        update(care_runs)
        .where(care_runs.c.id == bindparam("run"))
        .values(case_id=bindparam("case")),
        [{"run": run, "case": case} for run, case in opened.items()],
    )
    return [replace(x, case_id=opened[x.run_id]) if x.run_id in opened else x for x in summaries]


def _arbitration(run: RunSummary, name: str, period: tuple[date, date]) -> NewCase:
    first, last = period
    title = (
        f"{name}: {run.exceptions} visit exception{'s' if run.exceptions != 1 else ''}, "
        f"{first.isoformat()} to {last.isoformat()}"
        + (f" (supplementary run {run.sequence})" if run.sequence else "")
    )[:200]
    return NewCase(
        "arbitration",
        title,
        "Visits that failed a rule of the tolerance policy wait here "
        "for a decision: accept actual, accept planned, set minutes, hold (unplanned care "
        "with no package, until one exists) or reject.",
        party_id=run.provider_party_id,
        links=(("care_run", str(run.run_id), "reconciliation run"),),
    )


UNMATCHED_SHOWN = 500


def provider_ids_for(conn: Connection, actor: Actor, book_id: int, refs: list[str]) -> list[int]:
    """The book's providers of these references; every unknown one named at once."""
    require(actor, book_id, Permission.CARE_READ)
    found = parties.party_ids_for(conn, book_id, refs)
    problems = [
        Problem("provider", f"no provider {ref!r} in this book", "unknown_provider")
        for ref in refs
        if ref not in found or not parties.party_has_role(conn, book_id, found[ref], "provider")
    ]
    if problems:
        raise ValidationFailed(problems)
    return [found[ref] for ref in dict.fromkeys(refs)]


def unmatched_records(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider_party_ids: list[int] | None = None,
    limit: int = UNMATCHED_SHOWN,
) -> tuple[int, list[dict[str, Any]]]:
    """Actual records that belong to no run's outcome, oldest check-in first: how many
    there are, and the first ``limit`` with their provider, client and whether a posted run
    of their provider covers their day (then only a supplementary run pays them).

    A record held until a package exists is one of them (paid by no run yet), with
    ``held_run_id`` (the run whose officer held it) and ``covered`` (a package covers it
    now: the next reconciliation of its period pays it)."""
    require(actor, book_id, Permission.CARE_READ)
    a, o = actual_records.c, visit_outcomes.c
    where = and_(a.book_id == book_id, o.id.is_(None))
    if provider_party_ids:
        where = and_(where, a.provider_party_id.in_(provider_party_ids))
    base = select(actual_records).outerjoin(
        visit_outcomes,
        and_(o.actual_record_id == a.id, func.coalesce(o.decision, "") != HOLD),
    )
    total = int(
        conn.execute(select(func.count()).select_from(base.where(where).subquery())).scalar_one()
    )
    rows = [
        dict(x._mapping)
        for x in conn.execute(base.where(where).order_by(a.check_in_s, a.id).limit(limit))
    ]
    ids = {int(x["provider_party_id"]) for x in rows} | {
        int(x["client_party_id"]) for x in rows if x["client_party_id"] is not None
    }
    names = parties.party_names(conn, book_id, ids)
    r = care_runs.c
    covering = conn.execute(
        select(r.id, r.provider_party_id, r.period_start, r.period_end, r.status).where(
            and_(
                r.book_id == book_id,
                r.provider_party_id.in_({int(x["provider_party_id"]) for x in rows} or {-1}),
            )
        )
    ).all()
    for row in rows:
        day = EPOCH.toordinal() + int(row["check_in_s"]) // DAY_SECONDS
        runs_of_day = [
            c
            for c in covering
            if c.provider_party_id == row["provider_party_id"]
            and c.period_start.toordinal() <= day <= c.period_end.toordinal()
        ]
        row["day"] = date.fromordinal(day)
        row["provider_ref"], row["provider_name"] = names.get(
            int(row["provider_party_id"]), ("", "")
        )
        client = row["client_party_id"]
        row["client_ref_shown"], row["client_name"] = (
            names.get(int(client), ("", "")) if client is not None else (row["client_ref"], "")
        )
        row["posted_run_id"] = next(
            (int(c.id) for c in runs_of_day if c.status == RunStatus.POSTED.value), None
        )
        row["run_id"] = next((int(c.id) for c in runs_of_day), None)
    _with_holds(conn, book_id, rows)
    return total, rows


def _with_holds(conn: Connection, book_id: int, rows: list[dict[str, Any]]) -> None:
    """Each row with ``held_run_id`` (None: not held) and ``covered`` (whether a care
    package covers it now)."""
    if not rows:
        return
    o = visit_outcomes.c
    held = dict(
        conn.execute(
            select(o.actual_record_id, func.max(o.run_id))
            .where(
                and_(
                    o.decision == HOLD,
                    o.actual_record_id.in_([int(x["id"]) for x in rows] or [-1]),
                )
            )
            .group_by(o.actual_record_id)
        ).all()
    )
    found = package_ids(
        conn,
        book_id,
        pl.DataFrame(
            [
                (x["client_party_id"], x["provider_party_id"], x["service_code"], x["check_in_s"])
                for x in rows
            ],
            schema={
                "client_party_id": pl.Int64,
                "provider_party_id": pl.Int64,
                "service_code": pl.String,
                "check_in_s": pl.Int64,
            },
            orient="row",
        ),
    ).get_column("package_id")
    for row, package in zip(rows, found.to_list(), strict=True):
        run = held.get(int(row["id"]))
        row["held_run_id"] = None if run is None else int(run)
        row["covered"] = package is not None
