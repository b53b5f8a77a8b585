"""Random months of child care inputs, for the tests that hold the engine, the fast readers
and the plain reading of the rules equal (tests/test_childcare_*.py)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from remit.childcare import exchange
from remit.childcare.calculate import Inputs
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
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
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


def table(header: tuple[str, ...], rows: Sequence[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([h.upper() if h == "county" else h for h in header])  # any case
    writer.writerows(rows)
    return out.getvalue().encode()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def files_of(inputs: Inputs) -> dict[str, bytes]:
    """A month's inputs as the exchange files (certs, attendance, ceilings, and providers and
    families when there are)."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    certs = [
        [v.certificate_id, v.version_from, v.child_id, v.family_id, v.provider_id,
         v.child_birth_date, v.start_date, v.end_date,
         ";".join(f"{d}={h}" for d, h in zip(days, v.schedule, strict=True) if h),
         v.rate_category.value, v.time_basis.value, v.evening_weekend_share,
         _yes(v.exceptional_needs), _yes(v.severely_disabled),
         f"{v.provider_rate_minor // 100}.{v.provider_rate_minor % 100:02d}"]
        for v in inputs.certificates
    ]  # fmt: skip
    attendance = []
    for a in inputs.attendance:
        times = ["", ""]
        if a.absence.value == "":
            start = 6 * 60
            end = start + a.minutes
            times = [f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"]
        dates = [a.parent_signed or "", a.provider_signed or "", a.received or ""]
        attendance.append([a.certificate_id, a.day, *times, a.absence.value, *dates])
    ceilings = [
        [c.effective_from, c.county, c.facility.value, c.age_band.value, c.rate_category.value,
         c.time_basis.value, f"{c.amount_minor // 100}.{c.amount_minor % 100:02d}"]
        for c in inputs.ceilings
    ]  # fmt: skip
    files = {
        "certs": table(exchange.CERTIFICATES, certs),
        "attendance": table(exchange.ATTENDANCE, attendance),
        "ceilings": table(exchange.CEILINGS, ceilings),
    }
    if inputs.providers is not None:
        files["providers"] = table(exchange.PROVIDERS, [
            [p.provider_id, p.provider_type.value if p.provider_type else "", p.county,
             _yes(p.file_complete), _yes(p.closure_policy)]
            for p in inputs.providers.values()
        ])  # fmt: skip
    if inputs.families is not None:
        files["families"] = table(exchange.FAMILIES, [
            [f.family_id, f.family_size, f.monthly_income_minor, f.family_fee_minor,
             f.fee_collected_by]
            for f in inputs.families.values()
        ])  # fmt: skip
    return files
