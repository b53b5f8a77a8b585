"""A month's child care subsidy payments, calculated exactly as issue 11 and
docs/formats/childcare.md say (domain-rules.md section 1): per child-month, or per version
of its certificate when a version starts inside the month.

This is the plain reading of the rules, one child-month at a time, in exact fractions:
every number of a row can be followed by hand. It is the reference that a vectorised
engine for the book's 100,000-child-month months is held equal to (not built yet: see
docs/formats/childcare.md, "Speed").
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from remit.childcare.model import (
    AgeBand,
    Attendance,
    Basis,
    Ceiling,
    CertificateVersion,
    Facility,
    Family,
    PaymentRow,
    Policy,
    Provider,
    ProviderType,
    RateCategory,
)

UNKNOWN_CERTIFICATE = "unknown_certificate"
EVENING_WEEKEND = ((Fraction(1, 2), Fraction(5, 4)), (Fraction(1, 10), Fraction(9, 8)))
SEVERELY_DISABLED, EXCEPTIONAL_NEEDS = Fraction(3, 2), Fraction(6, 5)


def half_up(value: Fraction) -> int:
    """The nearest whole number, halves away from zero (values here are never negative).

    >>> half_up(Fraction(5, 2)), half_up(Fraction(249, 100)), half_up(Fraction(0))
    (3, 2, 0)
    """
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def decimals(value: Fraction, places: int) -> Decimal:
    """A fraction as a decimal with ``places`` places, rounded half-up.

    >>> str(decimals(Fraction(20, 3), 4)), str(decimals(Fraction(1, 8), 2))
    ('6.6667', '0.13')
    """
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def quarter_hours(minutes: int) -> Fraction:
    """Attended minutes as hours, rounded to the nearest quarter hour (7.5 minutes up).

    >>> quarter_hours(458), quarter_hours(442), quarter_hours(0)
    (Fraction(31, 4), Fraction(29, 4), Fraction(0, 1))
    """
    return Fraction(half_up(Fraction(minutes, 15)), 4)


def age_band(birth: date, on: date) -> AgeBand:
    """The child's age band on a day (the first of the month).

    >>> first = date(2026, 12, 1)
    >>> age_band(date(2024, 12, 2), first).value, age_band(date(2020, 12, 1), first).value
    ('under_2', '6_plus')
    """
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years < 2:
        return AgeBand.UNDER_2
    return AgeBand.TWO_TO_5 if years <= 5 else AgeBand.SIX_PLUS


def fiscal_year_start(day: date) -> date:
    """The 1st of July that opens the fiscal year of ``day``."""
    return date(day.year if day.month >= 7 else day.year - 1, 7, 1)


@dataclass(frozen=True, slots=True)
class _Day:
    minutes: int = 0
    excused: bool = False
    closure: bool = False


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything the calculation reads; ``providers``/``families`` None: no such file."""

    month: date  # its first day
    certificates: Sequence[CertificateVersion]
    attendance: Sequence[Attendance]
    ceilings: Sequence[Ceiling]
    providers: Mapping[str, Provider] | None = None
    families: Mapping[str, Family] | None = None
    policy: Policy = field(default_factory=Policy)


def calculate(inputs: Inputs) -> list[PaymentRow]:
    """Every row of payments.csv for the month, in certificate and version order."""
    first = inputs.month
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    versions: dict[str, list[CertificateVersion]] = defaultdict(list)
    for v in inputs.certificates:
        versions[v.certificate_id].append(v)
    for found in versions.values():
        found.sort(key=lambda v: v.version_from)
    in_month = [a for a in inputs.attendance if first <= a.day <= last]
    claimed = sorted({a.certificate_id for a in in_month})
    paid_closures = _paid_closures(inputs, versions, last)
    rows: list[PaymentRow] = []
    months: list[_ChildMonth] = []
    for cert in claimed:
        if cert not in versions:
            rows.append(_unknown(cert, first))
            continue
        records = [a for a in in_month if a.certificate_id == cert]
        months.append(_child_month(inputs, versions[cert], records, paid_closures, first, last))
    _deduct_fees(months, inputs.families)
    rows += [row for m in months for row in m.rows]
    rows.sort(key=lambda r: (r.certificate_id, r.version_from or first))
    return rows


def _unknown(cert: str, first: date) -> PaymentRow:
    return PaymentRow(
        cert,
        None,
        "",
        "",
        f"{first:%Y-%m}",
        "incomplete",
        (UNKNOWN_CERTIFICATE,),
        "",
        Decimal(0),
        None,
        None,
        0,
        0,
        0,
        0,
        None,
        "",
        "",
        "",
        "",
    )


def version_on(found: Sequence[CertificateVersion], day: date) -> CertificateVersion | None:
    """The version of a certificate in force on a day (its latest from that day or before)."""
    current = None
    for v in found:
        if v.version_from <= day:
            current = v
    return current


def _paid_closures(
    inputs: Inputs, versions: Mapping[str, Sequence[CertificateVersion]], last: date
) -> dict[str, set[date]]:
    """Per provider with a closure policy (centre or FCCH), the closure dates paid: its first
    ``closure_days_per_year`` distinct closure dates of the fiscal year, earliest first."""
    start = fiscal_year_start(last)
    dates: dict[str, set[date]] = defaultdict(set)
    for a in inputs.attendance:
        if a.absence != "closure" or not start <= a.day <= last:
            continue
        found = versions.get(a.certificate_id)
        v = version_on(found, a.day) if found else None
        if v is None and found:
            v = found[0]
        if v is not None:
            dates[v.provider_id].add(a.day)
    paid: dict[str, set[date]] = {}
    for provider_id, days in dates.items():
        provider = (inputs.providers or {}).get(provider_id)
        if provider is None or not provider.closure_policy:
            continue
        if provider.provider_type not in (ProviderType.CENTER, ProviderType.FCCH):
            continue
        paid[provider_id] = set(sorted(days)[: inputs.policy.closure_days_per_year])
    return paid


@dataclass(slots=True)
class _ChildMonth:
    certificate_id: str
    family_id: str
    rows: list[PaymentRow]

    @property
    def payable(self) -> bool:
        return bool(self.rows) and self.rows[0].status == "payable"

    @property
    def gross(self) -> int:
        return sum(r.gross_minor for r in self.rows)


def _days(records: Iterable[Attendance]) -> dict[date, _Day]:
    """Each date's record: minutes summed over its rows, and whether it was an excused
    absence or a closure."""
    out: dict[date, _Day] = {}
    for a in records:
        day = out.get(a.day, _Day())
        out[a.day] = _Day(
            day.minutes + a.minutes,
            day.excused or a.absence == "excused",
            day.closure or a.absence == "closure",
        )
    return out


def _hours(v: CertificateVersion, day: date) -> Fraction:
    return Fraction(v.schedule[day.weekday()])


def _ceiling(
    inputs: Inputs, provider: Provider | None, v: CertificateVersion
) -> tuple[Ceiling | None, int | None]:
    """The ceiling row in force on the first of the month and its amount (licence-exempt:
    the FCCH row x exempt_share, half-up to the cent)."""
    if provider is None or provider.provider_type is None:
        return None, None
    facility = Facility.CENTER if provider.provider_type is ProviderType.CENTER else Facility.FCCH
    band = age_band(v.child_birth_date, inputs.month)
    found = [
        c
        for c in inputs.ceilings
        if c.county == provider.county
        and c.facility is facility
        and c.age_band is band
        and c.rate_category is v.rate_category
        and c.time_basis is v.time_basis
        and c.effective_from <= inputs.month
    ]
    if not found:
        return None, None
    row = max(found, key=lambda c: c.effective_from)
    amount = row.amount_minor
    if provider.provider_type is ProviderType.EXEMPT:
        amount = half_up(Fraction(amount) * Fraction(inputs.policy.exempt_share))
    return row, amount


def _factor(provider: Provider | None, v: CertificateVersion) -> Fraction:
    factor = Fraction(1)
    licensed = provider is not None and provider.provider_type in (
        ProviderType.CENTER,
        ProviderType.FCCH,
    )
    if licensed and v.rate_category is not RateCategory.HOURLY:
        share = Fraction(v.evening_weekend_share)
        factor *= next((f for floor, f in EVENING_WEEKEND if share >= floor), Fraction(1))
    if v.severely_disabled:
        factor *= SEVERELY_DISABLED
    elif v.exceptional_needs:
        factor *= EXCEPTIONAL_NEEDS
    return factor


def _units(
    policy: Policy,
    v: CertificateVersion,
    certified: Sequence[date],
    days: Mapping[date, _Day],
    paid_closures: set[date],
) -> Fraction:
    """The version's units of its certified days (see docs/formats/childcare.md)."""
    if not certified:
        return Fraction(0)
    hours = sum((_hours(v, d) for d in certified), Fraction(0))
    per_week = sum(1 for h in v.schedule if h > 0)
    month = certified[0]
    month_days = sum(
        1
        for n in range(1, calendar.monthrange(month.year, month.month)[1] + 1)
        if v.schedule[date(month.year, month.month, n).weekday()] > 0
    )
    by_category = {
        RateCategory.HOURLY: hours,
        RateCategory.DAILY: Fraction(len(certified)),
        RateCategory.WEEKLY: Fraction(len(certified), per_week),
        RateCategory.MONTHLY: Fraction(len(certified), month_days),
    }
    full = by_category[v.rate_category]
    if policy.basis is Basis.CERTIFIED_MAXIMUM:
        return full
    attended = [d for d in certified if days.get(d, _Day()).minutes > 0]
    absent = [
        d
        for d in certified
        if d not in attended
        and (days.get(d, _Day()).excused or (days.get(d, _Day()).closure and d in paid_closures))
    ]
    paid = len(attended) + len(absent)
    if v.rate_category is RateCategory.HOURLY:
        return sum(
            (min(quarter_hours(days[d].minutes), _hours(v, d)) for d in attended), Fraction(0)
        ) + sum((_hours(v, d) for d in absent), Fraction(0))
    if v.rate_category is RateCategory.DAILY:
        return Fraction(paid)
    return full * paid / len(certified)


def _spans(
    found: Sequence[CertificateVersion], first: date, last: date
) -> list[tuple[CertificateVersion, date, date]]:
    """The versions holding in the month, each with the first and last day it holds there."""
    spans = []
    for n, v in enumerate(found):
        until = found[n + 1].version_from - timedelta(days=1) if n + 1 < len(found) else last
        start, end = max(v.version_from, first), min(until, last)
        if start <= end:
            spans.append((v, start, end))
    return spans


def _child_month(
    inputs: Inputs,
    found: Sequence[CertificateVersion],
    records: Sequence[Attendance],
    paid_closures: Mapping[str, set[date]],
    first: date,
    last: date,
) -> _ChildMonth:
    policy = inputs.policy
    days = _days(records)
    spans = _spans(found, first, last)
    reasons: set[str] = set()
    parts = []
    for v, start, end in spans:
        provider = _provider(inputs, v.provider_id)
        certified = [
            start + timedelta(days=n)
            for n in range((end - start).days + 1)
            if v.start_date <= start + timedelta(days=n) <= v.end_date
            and _hours(v, start + timedelta(days=n)) > 0
        ]
        row, ceiling = _ceiling(inputs, provider, v)
        if row is None:
            reasons.add("no_ceiling")
        if provider is None or not provider.file_complete:
            reasons.add("file_incomplete")
        parts.append((v, start, end, provider, certified, row, ceiling))
    for day in days:
        held = version_on(found, day)
        if held is None or not held.start_date <= day <= held.end_date:
            reasons.add("outside_certificate")
    sample = records[0]
    last_care = max((d for part in parts for d in part[4]), default=None)
    for who, signed in (("parent", sample.parent_signed), ("provider", sample.provider_signed)):
        if signed is None:
            reasons.add(f"{who}_signature_missing")
        elif last_care is not None and signed < last_care:
            reasons.add(f"{who}_signature_before_last_day_of_care")
    # The family of the child-month: that of its first version in the month.
    family_id = parts[0][0].family_id if parts else found[0].family_id
    family = (inputs.families or {}).get(family_id) if inputs.families else None
    fee_check, eligibility_check = _evidence(family, policy)
    if not parts:  # claimed, but no version holds in the month: every day is outside it
        lone = _lone(found[0], first, days, reasons, policy, (fee_check, eligibility_check))
        return _ChildMonth(found[0].certificate_id, family_id, [lone])
    payable = not reasons
    rows = []
    for v, start, _end, provider, certified, row, ceiling in parts:
        factor = _factor(provider, v)
        attended = sum(
            (quarter_hours(d.minutes) for day, d in days.items() if start <= day <= _end),
            Fraction(0),
        )
        certified_hours = sum((_hours(v, d) for d in certified), Fraction(0))
        units, rate, gross = Fraction(0), 0, 0
        if payable and ceiling is not None:
            capped = half_up(Fraction(ceiling) * factor)
            rate = min(capped, v.provider_rate_minor)
            closures = paid_closures.get(v.provider_id, set())
            units = _units(policy, v, certified, days, closures)
            gross = half_up(units * rate)
        rows.append(
            PaymentRow(
                certificate_id=v.certificate_id,
                version_from=start,
                child_id=v.child_id,
                provider_id=v.provider_id,
                month=f"{first:%Y-%m}",
                status="payable" if payable else "incomplete",
                reasons=tuple(sorted(reasons)),
                basis=policy.basis.value,
                units=decimals(units, 4),
                ceiling_minor=ceiling,
                factor=decimals(factor, 4) if row is not None else None,
                rate_applied_minor=rate,
                gross_minor=gross,
                family_fee_minor=0,
                net_minor=gross,
                due_by=(
                    sample.received + timedelta(days=policy.days_to_pay)
                    if payable and sample.received is not None
                    else None
                ),
                fee_check=fee_check,
                eligibility_check=eligibility_check,
                rate_check=_rate_check(row),
                hours_check=f"{decimals(certified_hours, 2)};{decimals(attended, 2)}",
            )
        )
    return _ChildMonth(found[0].certificate_id, family_id, rows)


def _lone(
    v: CertificateVersion,
    first: date,
    days: Mapping[date, _Day],
    reasons: set[str],
    policy: Policy,
    evidence: tuple[str, str],
) -> PaymentRow:
    """The one row of a claimed child-month no version of which holds in the month."""
    attended = sum((quarter_hours(d.minutes) for d in days.values()), Fraction(0))
    return PaymentRow(
        v.certificate_id, first, v.child_id, v.provider_id, f"{first:%Y-%m}", "incomplete",
        tuple(sorted(reasons)), policy.basis.value, decimals(Fraction(0), 4), None, None,
        0, 0, 0, 0, None, *evidence, "", f"0.00;{decimals(attended, 2)}",
    )  # fmt: skip


def _provider(inputs: Inputs, provider_id: str) -> Provider | None:
    if inputs.providers is None:  # no providers file: every file complete, no county
        return Provider(provider_id, None, "", file_complete=True, closure_policy=False)
    return inputs.providers.get(provider_id)


def _rate_check(row: Ceiling | None) -> str:
    if row is None:
        return ""
    return "/".join(
        (
            row.county,
            row.facility.value,
            row.age_band.value,
            row.rate_category.value,
            row.time_basis.value,
            row.effective_from.isoformat(),
        )
    )


def _evidence(family: Family | None, policy: Policy) -> tuple[str, str]:
    """The family fee and income eligibility tests of the error-rate audit."""
    smi = policy.smi.get(family.family_size) if family is not None else None
    if family is None or smi is None:
        return "not_checked", "not_checked"
    income, fee = family.monthly_income_minor, family.family_fee_minor
    if income < Fraction(3, 4) * smi and fee > 0:
        fee_check = "should_be_zero"
    elif fee > Fraction(income, 100):
        fee_check = "above_1pct_of_income"
    else:
        fee_check = "ok"
    eligible = "income_above_85pct_smi" if income > Fraction(17, 20) * smi else "ok"
    return fee_check, eligible


def _deduct_fees(months: Sequence[_ChildMonth], families: Mapping[str, Family] | None) -> None:
    """A fee the provider collects, deducted once per family from its payable child-months,
    largest gross first (then certificate id), each version row from the last back."""
    if not families:
        return
    by_family: dict[str, list[_ChildMonth]] = defaultdict(list)
    for m in months:
        if m.payable:
            by_family[m.family_id].append(m)
    for family_id, found in by_family.items():
        family = families.get(family_id)
        if family is None or family.fee_collected_by != "provider":
            continue
        left = family.family_fee_minor
        for m in sorted(found, key=lambda m: (-m.gross, m.certificate_id)):
            for i in range(len(m.rows) - 1, -1, -1):
                row = m.rows[i]
                take = min(left, row.gross_minor)
                if take:
                    m.rows[i] = replace(
                        row, family_fee_minor=take, net_minor=row.gross_minor - take
                    )
                    left -= take
