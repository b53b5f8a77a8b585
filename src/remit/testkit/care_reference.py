"""The care policy written plainly, one row at a time: the oracle of the engine's tests and the
baseline of its benchmark. It is deliberately naive (dictionaries, loops, exact fractions);
the engine in ``remit.care.engine`` must give the same outcomes, column for column.

Rows are dictionaries as ``remit.care.exchange`` reads them (times as whole seconds since the
epoch, local time; rates as integer millionths of a major unit per hour).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction
from typing import Any

from remit.care.model import Policy, Rule, VisitStatus, band_minutes
from remit.care.reasons import EARLY_NOTE, LATE_NOTE, MINIMUM_NOTE, reason_text
from remit.money import exponent

Row = Mapping[str, Any]
DAY_SECONDS = 86_400
RATE_SCALE = 10**6


def reconcile_rows(
    planned: Sequence[Row],
    actual: Sequence[Row],
    rates: Sequence[Row],
    policy: Policy,
    overrides: Mapping[str, Policy] | None = None,
    holidays: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Every carer place and every left-over record, with its outcome, in the engine's order."""
    overrides = overrides or {}
    holiday_set = set(holidays)

    def policy_of(provider_id: str) -> Policy:
        return overrides.get(provider_id, policy)

    currency_of: dict[str, str] = {}
    rates_of: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for r in rates:
        currency_of.setdefault(r["provider_id"], r["currency"])
        rates_of[(r["provider_id"], r["service_code"], r.get("band", "standard"))].append(
            (r["effective_day"], r["rate_millionths"])
        )
    by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(planned):
        by_pair[(p["client_id"], p["provider_id"])].append(i)

    matched: dict[int, list[int]] = defaultdict(list)
    unplanned: list[int] = []
    for j, a in enumerate(actual):
        window = policy_of(a["provider_id"]).match_window_minutes * 60
        best: tuple[tuple[int, int, int], int] | None = None
        for i in by_pair.get((a["client_id"], a["provider_id"]), ()):
            distance = abs(a["check_in_s"] - planned[i]["start_s"])
            if distance <= window:
                key = (distance, planned[i]["start_s"], i)  # ties: the earlier planned visit
                if best is None or key < best[0]:
                    best = (key, i)
        if best is None:
            unplanned.append(j)
        else:
            matched[best[1]].append(j)

    out: list[dict[str, Any]] = []
    for i, p in enumerate(planned):
        pol = policy_of(p["provider_id"])
        planned_minutes = (p["end_s"] - p["start_s"]) // 60
        provider, service = p["provider_id"], p["service_code"]
        band = band_of(p["start_s"], pol, holiday_set)
        rate = _rate(rates_of.get((provider, service, band), ()), p)
        if rate is None:
            rate = _rate(rates_of.get((provider, service, "standard"), ()), p)
        currency = currency_of.get(p["provider_id"], "")
        records = sorted(matched.get(i, ()), key=lambda j: (actual[j]["check_in_s"], j))
        places, duplicates = _fill(
            p, [actual[j] for j in records], planned_minutes, rate, currency, pol
        )
        status_of_visit = p.get("status", "planned")
        for place in range(len(places) + 1, p["carers"] + 1):
            rule = PLACE_WITHOUT_RECORD[status_of_visit]
            paid, raised = _minimum(planned_minutes * _share(p, pol) // 100, pol)
            places.append(
                _done(
                    {
                        "visit_id": p["visit_id"],
                        "record_id": "",
                        "provider_id": p["provider_id"],
                        "client_id": p["client_id"],
                        "carer_id": "",
                        "planned_minutes": planned_minutes,
                        "delivered_minutes": 0,
                        "currency": currency,
                    },
                    STATUS_OF_RULE[rule],
                    rule,
                    paid,
                    _amount(paid, rate, currency),
                    rule == Rule.NO_RECORD_FOR_PLACE,
                    pol,
                    p["carers"],
                    place,
                    visit=p,
                    raised=raised,
                )
            )
        out += places + duplicates
    for j in unplanned:
        a = actual[j]
        out.append(
            _done(
                {
                    "visit_id": "",
                    "record_id": a["record_id"],
                    "provider_id": a["provider_id"],
                    "client_id": a["client_id"],
                    "carer_id": a["carer_id"],
                    "planned_minutes": 0,
                    "delivered_minutes": (a["check_out_s"] - a["check_in_s"]) // 60,
                    "currency": currency_of.get(a["provider_id"], ""),
                },
                VisitStatus.UNPLANNED,
                Rule.NO_PLANNED_VISIT_IN_WINDOW,
                0,
                0,
                True,
                policy_of(a["provider_id"]),
                0,
                0,
            )
        )
    return out


def _fill(
    p: Row,
    records: Sequence[Row],
    planned_minutes: int,
    rate: int | None,
    currency: str,
    pol: Policy,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A visit's records, in order of check-in, fill its carer places or are duplicates."""
    placed_carers: set[str] = set()
    places: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    for a in records:
        delivered = (a["check_out_s"] - a["check_in_s"]) // 60
        base = {
            "visit_id": p["visit_id"],
            "record_id": a["record_id"],
            "provider_id": p["provider_id"],
            "client_id": p["client_id"],
            "carer_id": a["carer_id"],
            "planned_minutes": planned_minutes,
            "delivered_minutes": delivered,
            "currency": currency,
        }
        if a["carer_id"] in placed_carers or len(places) >= p["carers"]:
            rule = (
                Rule.CARER_ALREADY_PLACED if a["carer_id"] in placed_carers else Rule.PLACES_FILLED
            )
            duplicates.append(
                _done(base, VisitStatus.DUPLICATE, rule, 0, 0, False, pol, p["carers"], 0)
            )
            continue
        placed_carers.add(a["carer_id"])
        status, rule, paid, exception = (
            _decide(a, delivered, planned_minutes, pol)
            if p.get("status", "planned") == "planned"
            else _decide_not_planned(p["status"], planned_minutes * _share(p, pol) // 100)
        )
        paid, raised = _minimum(paid, pol)
        late = early = False
        if rule in TIMED:
            late = a["check_in_s"] > p["start_s"] + pol.late_minutes * 60
            early = a["check_out_s"] < p["end_s"] - pol.early_minutes * 60
        late_note, early_note = late and pol.late_exception == 1, early and pol.early_exception == 1
        places.append(
            _done(
                base,
                status,
                rule,
                paid,
                _amount(paid, rate, currency),
                exception or late_note or early_note,
                pol,
                p["carers"],
                len(places) + 1,
                visit=p,
                raised=raised,
                flags=",".join(
                    f for f, on in (("early_leaving", early), ("late_arrival", late)) if on
                ),
                notes=(
                    LATE_NOTE.format(late_by=(a["check_in_s"] - p["start_s"]) // 60)
                    if late_note
                    else ""
                )
                + (
                    EARLY_NOTE.format(early_by=(p["end_s"] - a["check_out_s"]) // 60)
                    if early_note
                    else ""
                ),
            )
        )
    return places, duplicates


TIMED = (Rule.WITHIN_TOLERANCE, Rule.OVER_EXCEPTION, Rule.SHORT_BANDED, Rule.SHORT_EXCEPTION)
PLACE_WITHOUT_RECORD = {
    "planned": Rule.NO_RECORD_FOR_PLACE,
    "cancelled_notice": Rule.CANCELLED_WITH_NOTICE,
    "cancelled_short_notice": Rule.CANCELLED_SHORT_NOTICE,
    "frustrated": Rule.FRUSTRATED_VISIT,
    "hospital": Rule.CLIENT_IN_HOSPITAL,
}
STATUS_OF_RULE = {
    Rule.NO_RECORD_FOR_PLACE: VisitStatus.MISSED,
    Rule.CANCELLED_WITH_NOTICE: VisitStatus.CANCELLED,
    Rule.CANCELLED_SHORT_NOTICE: VisitStatus.SHORT_NOTICE,
    Rule.FRUSTRATED_VISIT: VisitStatus.FRUSTRATED,
    Rule.CLIENT_IN_HOSPITAL: VisitStatus.HOSPITAL,
}


def band_of(start_s: int, pol: Policy, holidays: set[int]) -> str:
    """The time band of a planned start (1970-01-01, day 0, was a Thursday)."""
    day, minute = start_s // DAY_SECONDS, start_s % DAY_SECONDS // 60
    start, end = pol.evening_from_minute, pol.evening_to_minute
    if day in holidays:
        return "bank_holiday"
    if (day + 3) % 7 >= 5:
        return "weekend"
    if (start > end and (minute >= start or minute < end)) or (start <= minute < end):
        return "evening"
    return "standard"


def _share(p: Row, pol: Policy) -> int:
    status = p.get("status", "planned")
    if status == "cancelled_short_notice":
        return pol.short_notice_paid_percent
    if status == "frustrated":
        return pol.frustrated_paid_percent
    return 0


def _minimum(paid: int, pol: Policy) -> tuple[int, bool]:
    """Paid minutes raised to the minimum charge, and whether they were."""
    if 0 < paid < pol.minimum_charge_minutes:
        return pol.minimum_charge_minutes, True
    return paid, False


def _decide_not_planned(status: str, share_minutes: int) -> tuple[VisitStatus, Rule, int, bool]:
    """A record at a visit that is not planned: cancelled with notice or in hospital, not
    paid and to review; cancelled at short notice or frustrated, paid its share."""
    if status == "cancelled_notice":
        return VisitStatus.CANCELLED, Rule.RECORD_AT_CANCELLED_VISIT, 0, True
    if status == "hospital":
        return VisitStatus.HOSPITAL, Rule.RECORD_IN_HOSPITAL, 0, True
    rule = PLACE_WITHOUT_RECORD[status]
    return STATUS_OF_RULE[rule], rule, share_minutes, False


def _decide(
    a: Row, delivered: int, planned_minutes: int, pol: Policy
) -> tuple[VisitStatus, Rule, int, bool]:
    if a["check_out_s"] < a["check_in_s"]:
        return VisitStatus.INVALID, Rule.CHECK_OUT_BEFORE_CHECK_IN, 0, True
    if delivered > pol.max_visit_minutes:
        return VisitStatus.INVALID, Rule.OVER_MAX_VISIT, 0, True
    if delivered >= planned_minutes - pol.tolerance_minutes:
        if delivered > planned_minutes + pol.over_exception_minutes:
            return VisitStatus.OVER, Rule.OVER_EXCEPTION, planned_minutes, True
        return VisitStatus.VERIFIED, Rule.WITHIN_TOLERANCE, planned_minutes, False
    paid = min(band_minutes(delivered, pol.rounding_minutes), planned_minutes)
    if planned_minutes - delivered > pol.short_exception_minutes:
        return VisitStatus.SHORT, Rule.SHORT_EXCEPTION, paid, True
    return VisitStatus.SHORT, Rule.SHORT_BANDED, paid, False


def _rate(rates: Sequence[tuple[int, int]], p: Row) -> int | None:
    """The rate (millionths per hour) in force on the planned start's date, or None."""
    day = p["start_s"] // DAY_SECONDS
    best: tuple[int, int] | None = None
    for effective_day, rate in rates:
        if effective_day <= day and (best is None or effective_day > best[0]):
            best = (effective_day, rate)
    return best[1] if best else None


def _amount(paid: int, rate: int | None, currency: str) -> int | None:
    if rate is None:
        return None if paid else 0
    exact = Fraction(paid * rate * 10 ** exponent(currency), 60 * RATE_SCALE)
    return int(exact + Fraction(1, 2)) if exact >= 0 else -int(-exact + Fraction(1, 2))


def _done(
    base: dict[str, Any],
    status: VisitStatus,
    rule: Rule,
    paid: int,
    amount: int | None,
    exception: bool,
    pol: Policy,
    carers: int,
    place: int,
    visit: Row | None = None,
    raised: bool = False,
    flags: str = "",
    notes: str = "",
) -> dict[str, Any]:
    row = {
        **base,
        "status": status.value,
        "rule": rule.value,
        "paid_minutes": paid,
        "amount_minor": amount,
        "exception": exception,
        "flags": flags,
    }
    visit = visit or {}
    row["reason"] = reason_text(
        rule,
        row["planned_minutes"],
        row["delivered_minutes"],
        paid,
        pol,
        carers,
        place,
        share=_share(visit, pol) if visit else 0,
        status_reason=visit.get("reason") or "",
    )
    row["reason"] += (MINIMUM_NOTE.format(minimum=paid) if raised else "") + notes
    return row
