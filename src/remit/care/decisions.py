"""Arbitration: the officer's decision on each exception of a run, always with a reason, and
the settlement by the policy's default of a case the provider did not answer in time.

A decision sets the minutes paid for the outcome and prices them at the rate of the visit's
care package on the visit's date (for an unplanned record, the package of its client,
provider and service on its date). It can be changed until the run is posted; every
decision is audited with what it replaced. When every exception of a run is decided, the
run is resolved and its arbitration case is closed as decided.

The policy's **minimum charge** holds for a decision as it does for the engine: accepting
the actual or the planned minutes (a visit's, or an unplanned record's at the rate card)
pays at least ``minimum_charge_minutes`` when it pays any minutes, so that the engine and
the officer price the same visit alike. *Set minutes* is the officer's own figure and is
paid as typed, below the minimum too: it is the one way to pay less than the contract's
minimum (a visit cut short by the client, a settlement), and what the officer typed is
what the self-bill shows. The second person's check looks at the minutes decided before
the minimum is applied: the contract's minimum is no officer's choice.

*Hold until a package exists* is for an unplanned record that no care package covers (or
whose client is not in the book yet): it pays nothing now and rejects nothing; the run can
be decided and posted without it. The held record is listed with the records in no run,
and once a package covers it, the next reconciliation of its period matches it like any
late record (a supplementary run if its run is kept) and pays it there, once: the held
outcome stays in its run, paid nothing, beside the outcome that pays it.

>>> minutes_for(Decision.ACCEPT_ACTUAL, planned=30, delivered=22, chosen=None)
22
>>> minutes_for(Decision.SET_MINUTES, planned=30, delivered=22, chosen=25)
25
>>> with_minimum(10, 30), with_minimum(45, 30), with_minimum(0, 30)
(30, 45, 0)
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.care import rates, visits
from remit.care.engine import band_of
from remit.care.model import (
    BANDS,
    MAX_PLANNED_MINUTES,
    Policy,
    RunStatus,
    amount_minor,
    rate_millionths,
)
from remit.care.service import DAY_SECONDS, EPOCH
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
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.money import exponent
from remit.text import FREE_TEXT_MAX, text_problem

PROVIDER_RESPONSE_DAYS = 14
OPEN_RUNS = (RunStatus.RECONCILED.value, RunStatus.DECIDING.value, RunStatus.RESOLVED.value)


class Decision(StrEnum):
    ACCEPT_ACTUAL = "accept_actual"  # pay the delivered minutes
    ACCEPT_PLANNED = "accept_planned"  # pay the planned minutes
    SET_MINUTES = "set_minutes"  # pay the minutes the officer sets
    REJECT = "reject"  # pay nothing
    HOLD = "hold"  # an unplanned record: pay nothing now, pay it once a package covers it
    POLICY_DEFAULT = "policy_default"  # what the policy decided (no answer in time)


# The decisions raised to the policy's minimum charge, as the engine raises what it pays.
AT_LEAST_MINIMUM = frozenset({Decision.ACCEPT_ACTUAL, Decision.ACCEPT_PLANNED})


def minutes_for(decision: Decision, planned: int, delivered: int, chosen: int | None) -> int:
    """The minutes a decision pays (the checks of ``decide`` come first)."""
    if decision is Decision.ACCEPT_ACTUAL:
        return max(delivered, 0)
    if decision is Decision.ACCEPT_PLANNED:
        return planned
    if decision is Decision.SET_MINUTES:
        return chosen or 0
    return 0


def with_minimum(minutes: int, minimum: int) -> int:
    """The engine's minimum charge: a visit paid any minutes is paid at least ``minimum``."""
    return max(minutes, minimum) if minutes > 0 else 0


def paid_minutes(row: Any, decision: Decision, chosen: int | None) -> tuple[int, int]:
    """(minutes paid, minutes decided): the decision's minutes raised to the run's policy
    minimum charge when it accepts what was planned or delivered (not an officer's own
    figure), and the minutes before that raise."""
    decided = minutes_for(decision, row.planned_minutes, row.delivered_minutes, chosen)
    if decision not in AT_LEAST_MINIMUM:
        return decided, decided
    minimum = int(json.loads(row.run_policy or "{}").get("minimum_charge_minutes", 0))
    return with_minimum(decided, minimum), decided


def decide(
    conn: Connection,
    actor: Actor,
    book_id: int,
    outcome_id: int,
    decision: Decision | str,
    reason: str,
    minutes: int | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Record the decision on one exception; returns the outcome as it now stands.

    ``expected_version`` is the outcome's version the decider saw: if someone decided it
    since, nothing changes and ``StaleDecision`` (409) says what stands now. A decision that
    pays more than the plan by more than the policy's ``second_approval_minutes``, or that
    pays an unplanned record, waits for a second person (``approve``): until then the
    exception stays open. Accepting actual or planned minutes pays at least the policy's
    minimum charge; set minutes pays the minutes set (see the module's docstring).
    """
    require(actor, book_id, Permission.CARE_DECIDE)
    row = _outcome(conn, book_id, outcome_id)
    _fresh(row, expected_version)
    chosen = _checked(conn, row, decision, reason, minutes)
    paid, decided = paid_minutes(row, chosen, minutes)
    amount = _price(paid, *_rate(conn, row))
    pending = needs_second_person(row, decided)
    _bump(conn, row)  # claims the version: a second decider of the same version fails here
    d = care_decisions.c
    conn.execute(
        update(care_decisions)
        .where(and_(d.outcome_id == outcome_id, d.status == DecisionStatus.PENDING.value))
        .values(status=DecisionStatus.REPLACED.value)
    )
    decision_id = insert_id(
        conn,
        insert(care_decisions).values(
            outcome_id=outcome_id,
            run_id=row.run_id,
            decision=chosen.value,
            minutes=paid,
            amount_minor=amount,
            reason=reason.strip(),
            status=(DecisionStatus.PENDING if pending else DecisionStatus.IN_FORCE).value,
            outcome_version=int(row.version),
            decided_by=actor.username,
            decided_at=audit.utc_now_text(),
        ),
    )
    after = {
        "decision": chosen.value,
        "final_minutes": paid,
        "final_amount_minor": amount,
        "reason": reason.strip(),
        "decision_id": decision_id,
        "awaiting_approval": pending,
        **({"minimum_charge_from": decided} if paid != decided else {}),
    }
    if pending:
        audit.record(
            conn, actor, "care.decide_pending", "visit_outcome", outcome_id, None, after, book_id
        )
        return {**dict(row._mapping), **after, "version": int(row.version) + 1}
    _apply(conn, actor, book_id, row, decision_id, chosen.value, reason.strip(), paid, amount)
    return {**dict(row._mapping), **after, "version": int(row.version) + 1}


def decide_many(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    versions: dict[int, int],
    decision: Decision | str,
    reason: str,
    minutes: int | None = None,
) -> list[dict[str, Any]]:
    """One decision and one reason on many exceptions of one run (outcome id -> the version
    seen), all or nothing: any stale row refuses the whole with ``StaleDecision`` listing
    every stale row; any invalid row refuses it with every problem, each naming its row."""
    require(actor, book_id, Permission.CARE_DECIDE)
    if not versions:
        raise ValidationFailed([Problem("outcomes", "choose at least one exception", "required")])
    if len(versions) > MAX_BULK:
        raise ValidationFailed(
            [Problem("outcomes", f"at most {MAX_BULK} exceptions at once", "too_many")]
        )
    rows = {oid: _outcome(conn, book_id, oid) for oid in sorted(versions)}
    if any(int(r.run_id) != run_id for r in rows.values()):
        raise NotFound(f"an exception chosen is not of run {run_id}")
    stale = [oid for oid, r in rows.items() if int(r.version) != versions[oid]]
    if stale:
        raise StaleDecision(
            f"{len(stale)} of the {len(rows)} exceptions chosen were decided by someone else "
            "since you opened the page: nothing was changed",
            [_state(conn, rows[oid]) for oid in stale],
        )
    problems: list[Problem] = []
    for r in rows.values():
        try:
            _checked(conn, r, decision, reason, minutes)
        except ValidationFailed as exc:
            problems += [
                Problem(p.field, f"{_label(r)}: {p.message}", p.check) for p in exc.problems
            ]
    if problems:
        raise ValidationFailed(_unique(problems))
    return [
        decide(conn, actor, book_id, oid, decision, reason, minutes, versions[oid]) for oid in rows
    ]


def approve(
    conn: Connection,
    actor: Actor,
    book_id: int,
    decision_id: int,
    accept: bool,
    note: str = "",
) -> dict[str, Any]:
    """A second person's approval (or refusal) of a decision waiting for one. The person
    who made the decision cannot; a refused decision leaves the exception open."""
    require(actor, book_id, Permission.CARE_APPROVE)
    d = care_decisions.c
    found = conn.execute(
        select(care_decisions)
        .join(care_runs, care_runs.c.id == d.run_id)
        .where(and_(d.id == decision_id, care_runs.c.book_id == book_id))
    ).first()
    if found is None:
        raise NotFound(f"no care decision {decision_id} in this book")
    if found.status != DecisionStatus.PENDING.value:
        raise Conflict(f"the decision is {found.status.replace('_', ' ')}, not waiting")
    if found.decided_by == actor.username:
        raise Forbidden("the person who made a decision cannot approve it: a second person does")
    problem = text_problem(note.strip(), "note", max_chars=FREE_TEXT_MAX, multiline=True)
    if problem is not None:
        raise ValidationFailed([problem])
    row = _outcome(conn, book_id, int(found.outcome_id))
    if row.run_status not in OPEN_RUNS:
        raise Conflict(f"the run is {row.run_status}: its outcomes can no longer change")
    status = DecisionStatus.IN_FORCE if accept else DecisionStatus.REFUSED
    conn.execute(
        update(care_decisions)
        .where(and_(d.id == decision_id, d.status == DecisionStatus.PENDING.value))
        .values(status=status.value, approved_by=actor.username, approved_at=audit.utc_now_text())
    )
    _bump(conn, row)
    detail = {"decision_id": decision_id, "approved": accept, "note": note.strip()}
    audit.record(conn, actor, "care.approve", "visit_outcome", row.id, None, detail, book_id)
    if accept:
        _apply(
            conn,
            Actor(found.decided_by),
            book_id,
            row,
            decision_id,
            found.decision,
            found.reason,
            int(found.minutes),
            int(found.amount_minor),
            approver=actor,
        )
    return {**detail, "outcome_id": int(row.id), "run_id": int(row.run_id)}


def pending_approvals(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """Decisions waiting for a second person, oldest first, with their run and provider."""
    require(actor, book_id, Permission.CARE_READ)
    d, r = care_decisions.c, care_runs.c
    rows = conn.execute(
        select(care_decisions, r.provider_party_id, r.period_start, r.period_end)
        .join(care_runs, r.id == d.run_id)
        .where(and_(r.book_id == book_id, d.status == DecisionStatus.PENDING.value))
        .order_by(d.id)
        .limit(500)
    )
    return [dict(x._mapping) for x in rows]


def history(conn: Connection, actor: Actor, book_id: int, run_id: int) -> dict[int, list[Any]]:
    """Every decision on the run's exceptions, by outcome, oldest first."""
    require(actor, book_id, Permission.CARE_READ)
    d, r = care_decisions.c, care_runs.c
    out: dict[int, list[Any]] = {}
    for row in conn.execute(
        select(care_decisions)
        .join(care_runs, r.id == d.run_id)
        .where(and_(d.run_id == run_id, r.book_id == book_id))
        .order_by(d.id)
    ).mappings():
        out.setdefault(int(row["outcome_id"]), []).append(dict(row))
    return out


def needs_second_person(row: Any, paid_minutes: int) -> bool:
    """Paying more than planned + the policy's ``second_approval_minutes``, or paying a
    record with no planned visit, needs a second person."""
    if paid_minutes <= 0:
        return False
    if row.planned_visit_id is None or row.status == "unplanned":
        return True
    limit = int(json.loads(row.run_policy or "{}").get("second_approval_minutes", 0))
    return bool(paid_minutes > int(row.planned_minutes) + limit)


class DecisionStatus(StrEnum):
    IN_FORCE = "in_force"
    PENDING = "pending_approval"
    REFUSED = "refused"
    REPLACED = "replaced"


class StaleDecision(Conflict):
    """A decision made on a version of an exception that someone else changed since."""

    def __init__(self, message: str, current: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.current = current


MAX_BULK = 500


def _fresh(row: Any, expected_version: int | None) -> None:
    if expected_version is not None and int(row.version) != expected_version:
        state = _state_of(row)
        raise StaleDecision(
            f"{_label(row)} was decided by someone else since you opened it "
            f"(now: {state['summary']}); nothing was changed",
            [state],
        )


def _state(conn: Connection, row: Any) -> dict[str, Any]:
    return _state_of(row)


def _state_of(row: Any) -> dict[str, Any]:
    summary = (
        f"{row.decision.replace('_', ' ')} by {row.decided_by}, {row.final_minutes} min"
        if row.decision
        else "undecided (a decision may wait for approval)"
    )
    return {
        "outcome_id": int(row.id),
        "version": int(row.version),
        "decision": row.decision,
        "decided_by": row.decided_by,
        "final_minutes": int(row.final_minutes),
        "summary": summary,
    }


def _label(row: Any) -> str:
    return f"exception {row.id}"


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[str, str], Problem] = {}
    for p in problems:
        seen.setdefault((p.field, p.message), p)
    return list(seen.values())


def _bump(conn: Connection, row: Any) -> None:
    """version + 1 where the version is the one read: exactly one of two concurrent
    deciders of one version gets here; the other is told what stands."""
    o = visit_outcomes.c
    done = conn.execute(
        update(visit_outcomes)
        .where(and_(o.id == row.id, o.version == row.version))
        .values(version=o.version + 1)
    )
    if done.rowcount != 1:
        raise StaleDecision(
            f"{_label(row)} was decided by someone else at the same moment; nothing was changed",
            [_state_of(row)],
        )


def _apply(
    conn: Connection,
    actor: Actor,
    book_id: int,
    row: Any,
    decision_id: int,
    decision: str,
    reason: str,
    paid: int,
    amount: int,
    approver: Actor | None = None,
) -> None:
    """Put a decision in force on its outcome; the one before it is replaced."""
    d = care_decisions.c
    conn.execute(
        update(care_decisions)
        .where(
            and_(
                d.outcome_id == row.id,
                d.status == DecisionStatus.IN_FORCE.value,
                d.id != decision_id,
            )
        )
        .values(status=DecisionStatus.REPLACED.value)
    )
    before = {
        "decision": row.decision,
        "final_minutes": row.final_minutes,
        "final_amount_minor": row.final_amount_minor,
    }
    after = {
        "decision": decision,
        "final_minutes": paid,
        "final_amount_minor": amount,
        "reason": reason,
        **({"approved_by": approver.username} if approver else {}),
    }
    # An unplanned record priced at its provider's rate card has no currency from the
    # engine: it takes the card's, so that the run's self-bill knows what it pays in.
    currency = row.currency or (_rate(conn, row)[1] if paid else "")
    conn.execute(
        update(visit_outcomes)
        .where(visit_outcomes.c.id == row.id)
        .values(
            decision=decision,
            decision_reason=reason,
            decided_by=actor.username,
            decided_at=audit.utc_now_text(),
            final_minutes=paid,
            final_amount_minor=amount,
            **({"currency": currency} if currency != row.currency else {}),
        )
    )
    audit.record(
        conn, approver or actor, "care.decide", "visit_outcome", row.id, before, after, book_id
    )
    _advance(conn, approver or actor, book_id, int(row.run_id))


def outcome_run_id(conn: Connection, actor: Actor, book_id: int, outcome_id: int) -> int:
    """The run a visit outcome of this book belongs to."""
    require(actor, book_id, Permission.CARE_READ)
    return int(_outcome(conn, book_id, outcome_id).run_id)


def _outcome(conn: Connection, book_id: int, outcome_id: int) -> Any:
    o, r = visit_outcomes.c, care_runs.c
    row = conn.execute(
        select(
            visit_outcomes, r.status.label("run_status"), r.book_id, r.policy.label("run_policy")
        )
        .join(care_runs, r.id == o.run_id)
        .where(and_(o.id == outcome_id, r.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no visit outcome {outcome_id} in this book")
    return row


def _checked(
    conn: Connection, row: Any, decision: Decision | str, reason: str, minutes: int | None
) -> Decision:
    problems = []
    try:
        chosen = Decision(decision)
    except ValueError:
        chosen = Decision.REJECT
        problems.append(
            Problem(
                "decision",
                "accept actual, accept planned, set minutes, hold until a package exists or reject",
                "decision",
            )
        )
    if chosen is Decision.POLICY_DEFAULT:
        problems.append(
            Problem(
                "decision",
                "the policy's default is applied by the settlement, not chosen",
                "decision",
            )
        )
    if not reason.strip():
        problems.append(Problem("reason", "say why (the provider sees it)", "required"))
    found = text_problem(reason.strip(), "reason", max_chars=FREE_TEXT_MAX, multiline=True)
    problems += [found] if found is not None else []
    if chosen is Decision.SET_MINUTES and (
        minutes is None or not 0 <= minutes <= MAX_PLANNED_MINUTES
    ):
        problems.append(Problem("minutes", f"0 to {MAX_PLANNED_MINUTES} minutes", "minutes"))
    if chosen is Decision.ACCEPT_ACTUAL and (
        row.actual_record_id is None or row.delivered_minutes < 0
    ):
        problems.append(Problem("decision", "there is no valid actual time to accept", "no_actual"))
    if chosen is Decision.ACCEPT_PLANNED and row.planned_visit_id is None:
        problems.append(Problem("decision", "there is no planned visit to accept", "no_planned"))
    if chosen is Decision.HOLD:
        problems += _hold_problems(conn, row)
    if problems:
        raise ValidationFailed(problems)
    if not row.exception:
        raise Conflict("only an exception is decided; this visit passed the policy")
    if row.run_status not in OPEN_RUNS:
        raise Conflict(f"the run is {row.run_status}: its outcomes can no longer change")
    if row.decision == Decision.HOLD.value:
        taken = _paid_elsewhere(conn, row)
        if taken is not None:
            raise Conflict(
                f"{_label(row)} was held until a package exists, and its record is now in run "
                f"{taken}: decide it there"
            )
    return chosen


HOLD_ONLY = (
    "hold until a package exists is for an unplanned record with no care package: "
    "this exception has a planned visit"
)


def _hold_problems(conn: Connection, row: Any) -> list[Problem]:
    """Why this exception cannot be held until a package exists (none: it can)."""
    if row.planned_visit_id is not None or row.actual_record_id is None:
        return [Problem("decision", HOLD_ONLY, "hold")]
    record = _record(conn, row)
    if record.client_party_id is not None and _package_of(conn, record) is not None:
        return [
            Problem(
                "decision",
                "a care package covers this record already: accept it (at the package's "
                "rate) or reject it",
                "hold",
            )
        ]
    return []


def _paid_elsewhere(conn: Connection, row: Any) -> int | None:
    """The run whose outcome (not a hold) holds this outcome's record now, if another."""
    if row.actual_record_id is None:
        return None
    o = visit_outcomes.c
    found = conn.execute(
        select(o.run_id).where(
            and_(
                o.actual_record_id == row.actual_record_id,
                o.id != row.id,
                func.coalesce(o.decision, "") != Decision.HOLD.value,
            )
        )
    ).scalar()
    return None if found is None else int(found)


def _record(conn: Connection, row: Any) -> Any:
    a = actual_records.c
    return conn.execute(
        select(
            a.book_id, a.client_party_id, a.provider_party_id, a.service_code, a.check_in_s
        ).where(a.id == row.actual_record_id)
    ).one()


def _package_of(conn: Connection, record: Any) -> int | None:
    """The care package of the record's client, provider and service on its day."""
    p = care_packages.c
    day = EPOCH + timedelta(days=record.check_in_s // DAY_SECONDS)
    found = conn.execute(
        select(p.id)
        .where(
            and_(
                p.client_party_id == record.client_party_id,
                p.provider_party_id == record.provider_party_id,
                p.service_code == record.service_code,
                p.start_date <= day,
                (p.end_date.is_(None)) | (p.end_date >= day),
            )
        )
        .order_by(p.start_date.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def _rate(conn: Connection, row: Any) -> tuple[int | None, str, str]:
    """(millionths per hour, currency, why there is none): the rate of the visit's package
    on its date; for a record with no visit, of the package covering it or else of its
    provider's rate card for that service on that date."""
    v, r = planned_visits.c, care_package_rates.c
    missing = "no rate of a care package covers this visit: set up the package's rate first"
    if row.planned_visit_id is not None:
        visit = conn.execute(
            select(v.package_id, v.start_s).where(v.id == row.planned_visit_id)
        ).one()
        package_id, moment = visit.package_id, visit.start_s
    else:
        record = _record(conn, row)
        day = EPOCH + timedelta(days=record.check_in_s // DAY_SECONDS)
        package_id = _package_of(conn, record)
        moment = record.check_in_s
        if package_id is None:
            band = _band(conn, row, moment)  # the card's band rate, else its standard one
            card = rates.card_rate(
                conn, record.book_id, record.provider_party_id, record.service_code, day, band
            ) or rates.card_rate(
                conn, record.book_id, record.provider_party_id, record.service_code, day
            )
            if card is None:
                return (
                    None,
                    row.currency,
                    (
                        f"no care package and no rate card for service {record.service_code}: "
                        "add a rate to the provider's rate card or a care package"
                    ),
                )
            return rate_millionths(card[0]), card[1], missing
    if package_id is None:
        return None, row.currency, missing
    day = EPOCH + timedelta(days=moment // DAY_SECONDS)
    band = _band(conn, row, moment)
    found = conn.execute(  # the visit's band's rate in force, else the standard one's
        select(r.band, r.rate_per_hour)
        .where(
            and_(
                r.package_id == package_id,
                r.effective_from <= day,
                r.band.in_(sorted({band, BANDS[0]})),
            )
        )
        .order_by(r.effective_from.desc())
    ).all()
    rate = next((x.rate_per_hour for x in found if x.band == band), None) or next(
        (x.rate_per_hour for x in found if x.band == BANDS[0]), None
    )
    if rate is None:
        return None, row.currency, missing
    return rate_millionths(str(rate)), row.currency, missing


def _band(conn: Connection, row: Any, moment: int) -> str:
    """The time band of the visit's planned start under its run's policy and the book's
    bank holidays (as the engine priced it)."""
    policy = Policy.from_mapping(json.loads(row.run_policy or "{}"))
    day = moment // DAY_SECONDS
    holidays = visits.holidays(conn, int(row.book_id), day * DAY_SECONDS, (day + 1) * DAY_SECONDS)
    return band_of(moment, policy.evening_from_minute, policy.evening_to_minute, holidays)


def _price(minutes: int, rate: int | None, currency: str, missing: str) -> int:
    if minutes == 0:
        return 0
    if rate is None or not currency:
        raise ValidationFailed([Problem("decision", missing, "no_rate")])
    return int(amount_minor(minutes, rate, 10 ** exponent(currency)))  # as the engine


def _advance(conn: Connection, actor: Actor, book_id: int, run_id: int) -> None:
    """DECIDING while exceptions wait; RESOLVED (and the case decided) when none does."""
    o, r = visit_outcomes.c, care_runs.c
    waiting = conn.execute(
        select(func.count()).where(
            and_(o.run_id == run_id, o.exception.is_(True), o.decision.is_(None))
        )
    ).scalar_one()
    status = RunStatus.DECIDING if waiting else RunStatus.RESOLVED
    conn.execute(update(care_runs).where(r.id == run_id).values(status=status.value))
    case_id = conn.execute(select(r.case_id).where(r.id == run_id)).scalar()
    if status is RunStatus.RESOLVED and case_id is not None:
        case = cases.get_case(conn, actor, book_id, case_id)
        if case["is_open"] and any(a.name == "decide" for a in case["actions"]):
            cases.transition(
                conn,
                actor,
                book_id,
                case_id,
                "decide",
                reason="every exception of the run is decided",
                expected_version=case["version"],
            )


def arbitration_may_be_decided(conn: Connection, book_id: int, case_id: int) -> str | None:
    """The case guard of an arbitration case's *decide*: refused while its run still has an
    exception without a decision in force (the last decision moves the case itself)."""
    o, r = visit_outcomes.c, care_runs.c
    waiting = conn.execute(
        select(func.count())
        .select_from(visit_outcomes)
        .join(care_runs, r.id == o.run_id)
        .where(
            and_(
                r.book_id == book_id,
                r.case_id == case_id,
                o.exception.is_(True),
                o.decision.is_(None),
            )
        )
    ).scalar_one()
    if waiting:
        return (
            f"{waiting} exception(s) of the run still wait for a decision: decide them on the "
            "run's page; the last decision closes this case as decided"
        )
    return None


def settle_unanswered(
    conn: Connection, actor: Actor, book_id: int, today: date | None = None
) -> list[int]:
    """Runs whose case has waited for the provider more than ``PROVIDER_RESPONSE_DAYS``:
    each undecided exception is settled as the policy decided it, and the case is closed as
    settled by default. Returns the runs settled."""
    require(actor, book_id, Permission.CASE_ESCALATE)
    moment = datetime.combine(today, datetime.min.time(), UTC) if today else datetime.now(UTC)
    limit = (moment - timedelta(days=PROVIDER_RESPONSE_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    r, o = care_runs.c, visit_outcomes.c
    done = []
    for run_id, case_id in conn.execute(
        select(r.id, r.case_id).where(
            and_(
                r.book_id == book_id,
                r.case_id.is_not(None),
                r.status.in_([RunStatus.RECONCILED.value, RunStatus.DECIDING.value]),
            )
        )
    ).all():
        case = cases.get_case(conn, actor, book_id, case_id)
        asked = [h["at"] for h in case["history"] if h.get("to_state") == "awaiting_provider"]
        if case["state"] != "awaiting_provider" or not asked or asked[-1] > limit:
            continue
        conn.execute(
            update(visit_outcomes)
            .where(and_(o.run_id == run_id, o.exception.is_(True), o.decision.is_(None)))
            .values(
                decision=Decision.POLICY_DEFAULT.value,
                decided_by=actor.username,
                decided_at=audit.utc_now_text(),
                decision_reason=f"no answer from the provider in {PROVIDER_RESPONSE_DAYS} days: "
                "settled as the policy decided",
            )
        )
        conn.execute(
            update(care_runs).where(r.id == run_id).values(status=RunStatus.RESOLVED.value)
        )
        cases.transition(
            conn,
            actor,
            book_id,
            case_id,
            "settle_default",
            reason=f"no answer in {PROVIDER_RESPONSE_DAYS} days",
            expected_version=case["version"],
        )
        audit.record(
            conn,
            actor,
            "care.settle_default",
            "care_run",
            run_id,
            None,
            {"case_id": case_id},
            book_id,
        )
        done.append(int(run_id))
    return done
