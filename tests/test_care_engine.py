"""The care engine: worked stories of a morning's visits, and the engine held equal to a
plain row-by-row reading of the policy on thousands of random mornings."""

from __future__ import annotations

import random
from datetime import datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remit.care.engine import reconcile
from remit.care.model import BANDS, PLANNED_STATUSES, Policy
from remit.testkit.care_reference import reconcile_rows

PLANNED = {
    "visit_id": pl.String,
    "client_id": pl.String,
    "provider_id": pl.String,
    "service_code": pl.String,
    "start_s": pl.Int64,
    "end_s": pl.Int64,
    "carers": pl.Int64,
}
ACTUAL = {
    "record_id": pl.String,
    "client_id": pl.String,
    "provider_id": pl.String,
    "carer_id": pl.String,
    "service_code": pl.String,
    "check_in_s": pl.Int64,
    "check_out_s": pl.Int64,
}
RATES = {
    "provider_id": pl.String,
    "service_code": pl.String,
    "effective_day": pl.Int64,
    "rate_millionths": pl.Int64,
    "currency": pl.String,
}
# Local wall-clock time counted in seconds from 1970-01-01 00:00, as the exchange reader does.
DAY = datetime(2026, 11, 2)  # noqa: DTZ001
EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001
RATE_ROWS = [
    {
        "provider_id": "P1",
        "service_code": "HC",
        "effective_day": 0,
        "rate_millionths": 18_000_000,
        "currency": "GBP",
    }
]


def at(hhmm: str, seconds: int = 0) -> int:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return int((DAY.replace(hour=hours, minute=minutes, second=seconds) - EPOCH).total_seconds())


def visit(
    vid: str, start: str, end: str, carers: int = 1, client: str = "C1", provider: str = "P1"
) -> dict:
    return {
        "visit_id": vid,
        "client_id": client,
        "provider_id": provider,
        "service_code": "HC",
        "start_s": at(start),
        "end_s": at(end),
        "carers": carers,
    }


def record(
    rid: str,
    carer: str,
    check_in: str,
    check_out: str,
    client: str = "C1",
    provider: str = "P1",
    out_seconds: int = 0,
) -> dict:
    return {
        "record_id": rid,
        "client_id": client,
        "provider_id": provider,
        "carer_id": carer,
        "service_code": "HC",
        "check_in_s": at(check_in),
        "check_out_s": at(check_out, out_seconds),
    }


DEFAULT = Policy()


def run(
    planned, actual, rates=RATE_ROWS, policy=DEFAULT, overrides=None, holidays=()
) -> list[dict]:
    plan_schema = {
        **PLANNED,
        **{k: pl.String for k in ("status", "reason") if planned_has(planned, k)},
    }
    rate_schema = {**RATES, **({"band": pl.String} if planned_has(rates, "band") else {})}
    out = reconcile(
        pl.DataFrame(planned, schema=plan_schema),
        pl.DataFrame(actual, schema=ACTUAL),
        pl.DataFrame(rates, schema=rate_schema),
        policy,
        overrides,
        holidays,
    ).to_dicts()
    assert out == reconcile_rows(planned, actual, rates, policy, overrides, holidays)
    return out


def planned_has(rows: list[dict], key: str) -> bool:
    return any(key in row for row in rows)


def brief(rows: list[dict]) -> list[tuple]:
    return [
        (
            r["visit_id"],
            r["record_id"],
            r["status"],
            r["paid_minutes"],
            r["amount_minor"],
            r["exception"],
        )
        for r in rows
    ]


def test_a_visit_within_tolerance_is_paid_as_planned():
    out = run([visit("V1", "09:00", "09:30")], [record("R1", "K1", "09:03", "09:28")])
    assert brief(out) == [("V1", "R1", "verified", 30, 900, False)]
    assert out[0]["rule"] == "within_tolerance" and out[0]["delivered_minutes"] == 25


@pytest.mark.parametrize(
    ("check_out", "seconds", "delivered", "status", "paid", "exception", "rule"),
    [
        ("09:24", 59, 24, "short", 30, False, "short_banded"),  # rounded down; 24 -> band 30
        ("09:25", 0, 25, "verified", 30, False, "within_tolerance"),  # 30 - 5
        ("09:22", 0, 22, "short", 15, False, "short_banded"),  # 22 -> 15
        ("09:23", 0, 23, "short", 30, False, "short_banded"),  # 23 -> 30, never above planned
        ("09:20", 0, 20, "short", 15, False, "short_banded"),  # short by 10: not more than 10
        ("09:19", 59, 19, "short", 15, True, "short_exception"),  # short by 11
        ("09:45", 0, 45, "verified", 30, False, "within_tolerance"),  # 30 + 15
        ("09:46", 0, 46, "over", 30, True, "over_exception"),
        ("09:07", 0, 7, "short", 0, True, "short_exception"),  # 7 -> band 0
    ],
)
def test_the_edges_of_the_tolerance_policy(
    check_out, seconds, delivered, status, paid, exception, rule
):
    out = run(
        [visit("V1", "09:00", "09:30")],
        [record("R1", "K1", "09:00", check_out, out_seconds=seconds)],
    )
    assert (
        out[0]["delivered_minutes"],
        out[0]["status"],
        out[0]["paid_minutes"],
        out[0]["exception"],
        out[0]["rule"],
    ) == (delivered, status, paid, exception, rule)
    assert out[0]["amount_minor"] == paid * 30  # 18.00 an hour is 30p a minute


def test_two_carer_visit_duplicates_missed_places_and_unplanned_care():
    planned = [visit("V1", "13:00", "13:30", carers=2), visit("V2", "17:00", "17:30")]
    actual = [
        record("R1", "K1", "13:02", "13:31"),
        record("R2", "K1", "13:05", "13:30"),  # the same carer again: duplicate
        record("R3", "K2", "13:06", "13:34"),  # the second carer: placed
        record("R4", "K3", "13:07", "13:30"),  # a third carer: places filled
        record("R5", "K1", "20:30", "21:00"),
    ]  # no visit within 60 minutes
    out = run(planned, actual)
    assert [(r["visit_id"], r["record_id"], r["status"], r["rule"]) for r in out] == [
        ("V1", "R1", "verified", "within_tolerance"),
        ("V1", "R3", "verified", "within_tolerance"),
        ("V1", "R2", "duplicate", "carer_already_placed"),
        ("V1", "R4", "duplicate", "places_filled"),
        ("V2", "", "missed", "no_record_for_place"),
        ("", "R5", "unplanned", "no_planned_visit_in_window"),
    ]
    assert sum(r["amount_minor"] for r in out) == 1800  # two carer places of 30 min at 18/h
    assert [r["exception"] for r in out] == [False, False, False, False, True, True]


def test_an_invalid_record_keeps_its_place_and_is_not_also_missed():
    planned = [visit("V1", "09:00", "09:30"), visit("V2", "12:00", "12:30")]
    actual = [
        record("R1", "K1", "09:00", "08:59"),  # check-out before check-in
        record("R2", "K1", "12:00", "12:00"),
    ]
    actual[1]["check_out_s"] += 721 * 60  # twelve hours and a minute
    out = run(planned, actual)
    assert [(r["status"], r["rule"], r["paid_minutes"], r["exception"]) for r in out] == [
        ("invalid", "check_out_before_check_in", 0, True),
        ("invalid", "over_max_visit", 0, True),
    ]


def test_the_nearest_planned_start_wins_and_a_tie_goes_to_the_earlier_visit():
    planned = [visit("V1", "09:00", "09:30"), visit("V2", "10:00", "10:30")]
    out = run(
        planned,
        [
            record("R1", "K1", "09:30", "10:00"),  # equidistant: V1
            record("R2", "K2", "09:31", "10:01"),
        ],
    )  # nearer V2
    assert [(r["visit_id"], r["record_id"]) for r in out] == [("V1", "R1"), ("V2", "R2")]


def test_the_rate_in_force_on_the_visit_date_prices_it_half_up():
    rates = [
        *RATE_ROWS,
        {
            "provider_id": "P1",
            "service_code": "HC",
            "effective_day": at("00:00") // 86_400,
            "rate_millionths": 18_550_000,
            "currency": "GBP",
        },
    ]
    out = run([visit("V1", "09:00", "09:15")], [record("R1", "K1", "09:00", "09:15")], rates)
    assert out[0]["amount_minor"] == 464  # 15/60 x 18.55 = 4.6375 -> 4.64
    yen = [{**RATE_ROWS[0], "currency": "JPY", "rate_millionths": 1_850_000_000}]
    out = run([visit("V1", "09:00", "09:15")], [record("R1", "K1", "09:00", "09:15")], yen)
    assert (out[0]["amount_minor"], out[0]["currency"]) == (463, "JPY")  # 462.5 -> 463


def test_no_rate_leaves_the_amount_empty_for_the_caller_to_report():
    out = run([visit("V1", "09:00", "09:30")], [record("R1", "K1", "09:00", "09:30")], [])
    assert out[0]["paid_minutes"] == 30 and out[0]["amount_minor"] is None


def test_a_provider_contract_can_override_the_policy():
    planned = [visit("V1", "09:00", "09:30"), visit("V2", "09:00", "09:30", provider="P2")]
    actual = [
        record("R1", "K1", "09:00", "09:21"),
        record("R2", "K2", "09:00", "09:21", provider="P2"),
    ]
    out = run(planned, actual, overrides={"P2": Policy(tolerance_minutes=10)})
    assert [(r["provider_id"], r["status"], r["paid_minutes"]) for r in out] == [
        ("P1", "short", 15),
        ("P2", "verified", 30),
    ]


def _morning(rng: random.Random) -> tuple[list, list, list]:
    base = at("00:00")
    planned = []
    for i in range(rng.randint(0, 10)):
        start = base + rng.choice([7, 8, 9, 12, 13, 17, 33]) * 3600 + rng.randint(-2, 2) * 900
        planned.append(
            {
                "visit_id": f"V{i}",
                "client_id": rng.choice("ab"),
                "provider_id": rng.choice("xy"),
                "service_code": rng.choice(["HC", "NC"]),
                "start_s": start,
                "end_s": start + rng.choice([1, 15, 30, 45, 60]) * 60,
                "carers": rng.choice([1, 1, 2, 3]),
                "status": rng.choice(["planned"] * 6 + list(PLANNED_STATUSES[1:])),
                "reason": rng.choice(["", "family visiting"]),
            }
        )
    actual = []
    for j in range(rng.randint(0, 14)):
        check_in = (
            base
            + rng.choice([7, 8, 9, 12, 13, 17, 33]) * 3600
            + rng.randint(-80, 80) * 60
            + rng.randint(0, 59)
        )
        check_out = check_in + rng.choice([rng.randint(-5, 80) * 60, 800 * 60]) + rng.randint(0, 59)
        actual.append(
            {
                "record_id": f"R{j}",
                "client_id": rng.choice("ab"),
                "provider_id": rng.choice("xy"),
                "carer_id": rng.choice("klmn"),
                "service_code": "HC",
                "check_in_s": check_in,
                "check_out_s": check_out,
            }
        )
    rates = [
        {
            "provider_id": p,
            "service_code": s,
            "effective_day": base // 86_400 + rng.choice([-5, 0, 1]),
            "rate_millionths": rng.randint(1, 40_000_000),
            "currency": currency,
            "band": band,
        }
        for p, currency in (("x", rng.choice(["GBP", "JPY", "KWD"])), ("y", "USD"))
        for s in ("HC", "NC")
        for band in BANDS
        if rng.random() < (0.9 if band == "standard" else 0.4)
    ]
    return planned, actual, rates


@settings(max_examples=300, deadline=None)
@given(
    rng=st.randoms(use_true_random=False),
    tolerance=st.sampled_from([0, 5, 10]),
    rounding=st.sampled_from([1, 10, 15]),
    window=st.sampled_from([30, 60]),
)
def test_the_engine_agrees_with_the_plain_reading_of_the_policy(rng, tolerance, rounding, window):
    planned, actual, rates = _morning(rng)
    policy = Policy(
        match_window_minutes=window, tolerance_minutes=tolerance, rounding_minutes=rounding
    )
    overrides = (
        {
            "y": Policy(
                match_window_minutes=15,
                short_exception_minutes=0,
                late_minutes=rng.choice([0, 5, 15]),
                early_minutes=rng.choice([0, 10]),
                late_exception=rng.choice([0, 1]),
                early_exception=rng.choice([0, 1]),
                short_notice_paid_percent=rng.choice([0, 50, 100]),
                frustrated_paid_percent=rng.choice([33, 100]),
                minimum_charge_minutes=rng.choice([0, 30, 45]),
                evening_from_minute=rng.choice([1200, 600]),
                evening_to_minute=rng.choice([420, 840]),
            )
        }
        if rng.random() < 0.3
        else None
    )
    holidays = [at("00:00") // 86_400] if rng.random() < 0.3 else []
    out = run(planned, actual, rates, policy, overrides, holidays)
    # Every planned carer place is held or missed once; every record appears once.
    for p in planned:
        places = [r for r in out if r["visit_id"] == p["visit_id"] and r["status"] != "duplicate"]
        assert len(places) == p["carers"]
    assert sorted(r["record_id"] for r in out if r["record_id"]) == sorted(
        a["record_id"] for a in actual
    )
    assert all(
        0 <= r["paid_minutes"] <= max(r["planned_minutes"], 45 if overrides else 0) for r in out
    )


# Issue 9: late and early, cancellations, hospital, minimum charge, time bands.


def rate(band: str, per_hour: int, effective_day: int = 0) -> dict:
    return {
        **RATE_ROWS[0],
        "band": band,
        "rate_millionths": per_hour * 10**6,
        "effective_day": effective_day,
    }


def cancelled(vid: str, status: str, reason: str = "", **kw) -> dict:
    return {**visit(vid, "09:00", "10:00", **kw), "status": status, "reason": reason}


def test_a_late_arrival_and_an_early_leaving_are_flagged_not_exceptions_by_default():
    planned = [visit("V1", "09:00", "10:00"), visit("V2", "12:00", "13:00")]
    actual = [
        record("R1", "K1", "09:20", "10:15"),  # 20 late: flagged, still within tolerance
        record("R2", "K1", "12:00", "12:40"),  # leaves 20 early (short anyway)
    ]
    out = run(planned, actual)
    assert [(r["flags"], r["status"], r["exception"]) for r in out] == [
        ("late_arrival", "verified", False),
        ("early_leaving", "short", True),
    ]


def test_fifteen_minutes_late_is_not_late_and_the_policy_may_make_lateness_an_exception():
    planned = [visit("V1", "09:00", "10:00"), visit("V2", "12:00", "13:00")]
    actual = [record("R1", "K1", "09:15", "10:10"), record("R2", "K1", "12:16", "13:16")]
    policy = Policy(late_exception=1)
    out = run(planned, actual, policy=policy)
    assert [(r["flags"], r["exception"]) for r in out] == [("", False), ("late_arrival", True)]
    assert out[1]["reason"].endswith("; arrived 16 minutes late, to review")


def test_both_flags_are_written_sorted():
    out = run([visit("V1", "09:00", "10:00")], [record("R1", "K1", "09:30", "09:40")])
    assert out[0]["flags"] == "early_leaving,late_arrival"


def test_cancellations_are_paid_their_share_and_only_a_missed_visit_is_an_exception():
    planned = [
        visit("V0", "08:00", "09:00"),
        cancelled("V1", "cancelled_notice", "client request", client="C2"),
        cancelled("V2", "cancelled_short_notice", "family visiting", client="C3"),
        cancelled("V3", "frustrated", "no answer at the door", client="C4"),
        cancelled("V4", "hospital", client="C5"),
    ]
    policy = Policy(short_notice_paid_percent=50, frustrated_paid_percent=100)
    out = run(planned, [], policy=policy)
    assert [
        (r["status"], r["rule"], r["paid_minutes"], r["amount_minor"], r["exception"]) for r in out
    ] == [
        ("missed", "no_record_for_place", 0, 0, True),
        ("cancelled", "cancelled_with_notice", 0, 0, False),
        ("short_notice", "cancelled_short_notice", 30, 900, False),
        ("frustrated", "frustrated_visit", 60, 1800, False),
        ("hospital", "client_in_hospital", 0, 0, False),
    ]
    assert out[1]["reason"] == "visit cancelled with notice (client request): not paid"
    assert out[2]["reason"] == (
        "visit cancelled at short notice (family visiting): paid 50% of 60 planned minutes"
    )
    assert out[4]["reason"] == "the client was in hospital: visit suspended, not paid"


def test_a_record_at_a_visit_cancelled_with_notice_is_an_exception_paid_nothing():
    planned = [cancelled("V1", "cancelled_notice", "client request")]
    out = run(planned, [record("R1", "K1", "09:00", "10:00")])
    assert [
        (r["record_id"], r["status"], r["rule"], r["paid_minutes"], r["exception"]) for r in out
    ] == [("R1", "cancelled", "record_at_cancelled_visit", 0, True)]


def test_a_frustrated_visit_with_the_carers_record_is_paid_its_share_once():
    planned = [cancelled("V1", "frustrated", "client out")]
    out = run(
        planned, [record("R1", "K1", "09:00", "09:05")], policy=Policy(frustrated_paid_percent=25)
    )
    assert [(r["status"], r["delivered_minutes"], r["paid_minutes"], r["flags"]) for r in out] == [
        ("frustrated", 5, 15, "")
    ]


def test_a_minimum_charge_raises_a_paid_visit_and_leaves_an_unpaid_one():
    planned = [visit("V1", "09:00", "09:15"), visit("V2", "12:00", "12:30")]
    policy = Policy(minimum_charge_minutes=30)
    out = run(planned, [record("R1", "K1", "09:00", "09:15")], policy=policy)
    assert [(r["paid_minutes"], r["amount_minor"]) for r in out] == [(30, 900), (0, 0)]
    assert out[0]["reason"].endswith("; paid the minimum charge of 30 minutes")


def test_a_visit_is_priced_by_the_band_of_its_planned_start():
    monday, saturday = at("00:00") // 86_400, at("00:00") // 86_400 + 5
    rates = [
        rate("standard", 18),
        rate("evening", 24),
        rate("weekend", 27),
        rate("bank_holiday", 36),
    ]
    planned = [
        visit("V1", "09:00", "10:00"),
        visit("V2", "20:00", "21:00"),
        visit("V3", "06:59", "07:59"),
        visit("V4", "07:00", "08:00"),
        {
            **visit("V5", "09:00", "10:00"),
            "start_s": at("09:00") + 5 * 86_400,
            "end_s": at("10:00") + 5 * 86_400,
        },
    ]
    actual = [
        record(f"R{i}", "K1", v, e)
        for i, (v, e) in enumerate(
            [("09:00", "10:00"), ("20:00", "21:00"), ("06:59", "07:59"), ("07:00", "08:00")], 1
        )
    ]
    actual.append(
        {
            **record("R5", "K1", "09:00", "10:00"),
            "check_in_s": at("09:00") + 5 * 86_400,
            "check_out_s": at("10:00") + 5 * 86_400,
        }
    )
    out = run(planned, actual, rates=rates)
    assert [r["amount_minor"] for r in out] == [1800, 2400, 2400, 1800, 2700]
    holiday = run(planned, actual, rates=rates, holidays=[monday, saturday])
    assert [r["amount_minor"] for r in holiday] == [3600] * 4 + [3600]


def test_a_band_without_a_rate_falls_back_to_the_standard_rate():
    rates = [rate("standard", 18), rate("evening", 24, effective_day=at("00:00") // 86_400 + 1)]
    out = run([visit("V1", "20:00", "21:00")], [record("R1", "K1", "20:00", "21:00")], rates=rates)
    assert out[0]["amount_minor"] == 1800  # the evening rate starts the next day
