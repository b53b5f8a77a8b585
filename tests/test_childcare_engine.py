"""The vectorised child care engine gives exactly the rows of the plain reading of the rules
(``remit.childcare.calculate``) on random months: versions starting inside the month,
every provider type, missing providers and ceilings, both bases, closures across the
fiscal year within a random cap, fees collected by providers or the agency, bad
signatures, unknown certificates, attendance outside the certificate."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from remit.childcare.calculate import Inputs, calculate
from remit.childcare.engine import calculate_frame
from remit.childcare.model import (
    Absence,
    AgeBand,
    Attendance,
    Basis,
    Ceiling,
    CertificateVersion,
    Facility,
    Family,
    Policy,
    Provider,
    ProviderType,
    RateCategory,
    TimeBasis,
)

COUNTIES = ("Kern", "Fresno")


def random_month(seed: int) -> Inputs:
    rng = random.Random(seed)
    first = date(2026, rng.choice((7, 9, 10, 12)), 1) if rng.random() < 0.8 else date(2027, 2, 1)
    providers = {
        f"P{n}": Provider(
            f"P{n}",
            rng.choice(list(ProviderType)),
            rng.choice(COUNTIES),
            file_complete=rng.random() < 0.85,
            closure_policy=rng.random() < 0.6,
        )
        for n in range(rng.randint(1, 5))
    }
    ceilings = [
        Ceiling(
            date(rng.choice((2022, 2026)), rng.choice((1, 7)), 1),
            county,
            facility,
            band,
            category,
            basis,
            rng.randint(500, 250_000),
        )
        for county in COUNTIES
        for facility in Facility
        for band in AgeBand
        for category in RateCategory
        for basis in TimeBasis
        if rng.random() < 0.7
    ]
    ceilings = list({(c.effective_from, c.county, c.facility, c.age_band, c.rate_category,
                      c.time_basis): c for c in ceilings}.values())  # fmt: skip
    families = {
        f"F{n}": Family(
            f"F{n}",
            rng.randint(1, 6),
            rng.randint(100_000, 1_200_000),
            rng.choice((0, 0, 2_500, 9_000, 40_000)),
            rng.choice(("provider", "agency")),
        )
        for n in range(rng.randint(1, 6))
    }
    certs: list[CertificateVersion] = []
    attendance: list[Attendance] = []
    for n in range(rng.randint(1, 12)):
        cert = f"C{n:02d}"
        start = (
            first - timedelta(days=rng.choice((200, 40, 0))) + timedelta(days=rng.randint(0, 20))
        )
        end = start + timedelta(days=rng.choice((20, 60, 365)))
        froms = sorted(
            {start, *(first + timedelta(days=rng.randint(0, 27)) for _ in range(rng.randint(0, 2)))}
        )
        for vf in froms:
            hours = [Decimal(rng.choice((0, 0, 2, 4, "4.5", 8, "7.25"))) for _ in range(7)]
            if not any(hours):
                hours[0] = Decimal(6)
            certs.append(
                CertificateVersion(
                    cert, vf, f"K{n}", rng.choice(list(families)),
                    rng.choice([*providers, "P-GONE"]),
                    first - timedelta(days=rng.randint(100, 3_000)), start, end, tuple(hours),
                    rng.choice(list(RateCategory)), rng.choice(list(TimeBasis)),
                    Decimal(rng.choice(("0", "0.1", "0.25", "0.5", "0.75"))),
                    rng.random() < 0.2, rng.random() < 0.1, rng.randint(300, 300_000),
                )
            )  # fmt: skip
        signed = first + timedelta(days=rng.choice((20, 32, 34)))
        parent = None if rng.random() < 0.08 else signed
        provider = signed - timedelta(days=rng.choice((0, 0, 0, 15)))
        received = signed + timedelta(days=2)
        for month_start in (first - timedelta(days=62), first):
            if month_start < first and rng.random() < 0.5:
                continue
            for _ in range(rng.randint(1, 10)):
                day = month_start + timedelta(days=rng.randint(0, 27))
                kind = rng.choice([Absence.NONE] * 5 + [Absence.EXCUSED, Absence.CLOSURE])
                minutes = rng.randint(10, 600) if kind is Absence.NONE else 0
                attendance.append(Attendance(cert, day, minutes, kind, parent, provider, received))
    if rng.random() < 0.3:
        attendance.append(Attendance("C-NONE", first, 60, Absence.NONE, first, first, first))
    policy = Policy(
        basis=rng.choice(list(Basis)),
        exempt_share=Decimal(rng.choice(("0.70", "0.65"))),
        closure_days_per_year=rng.randint(0, 4),
        days_to_pay=21,
        smi={s: rng.randint(300_000, 1_000_000) for s in range(1, 7)} if rng.random() < 0.7 else {},
    )
    return Inputs(
        month=first,
        certificates=certs,
        attendance=attendance,
        ceilings=ceilings,
        providers=providers if rng.random() < 0.9 else None,
        families=families if rng.random() < 0.9 else None,
        policy=policy,
    )


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_the_engine_gives_the_plain_readings_rows(seed: int) -> None:
    inputs = random_month(seed)
    assert calculate_frame(inputs) == calculate(inputs)


def test_random_months_reach_every_kind_of_row() -> None:
    """The generator is worth its salt: over 60 months it makes payable and incomplete rows,
    every reason, fees deducted, and paid closures under the attendance basis."""
    rows = [r for seed in range(60) for r in calculate(random_month(seed))]
    reasons = {reason for r in rows for reason in r.reasons}
    assert {r.status for r in rows} == {"payable", "incomplete"}
    assert {"file_incomplete", "no_ceiling", "outside_certificate", "unknown_certificate",
            "parent_signature_missing",
            "provider_signature_before_last_day_of_care"} <= reasons  # fmt: skip
    assert any(r.family_fee_minor for r in rows)
    assert {r.fee_check for r in rows} >= {"ok", "not_checked"}
