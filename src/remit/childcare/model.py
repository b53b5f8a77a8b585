"""Child care subsidy payments: the values of the calculation (issue 11; domain-rules.md
section 1). Plain typed values, no store: the offline command and the book share them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Basis(StrEnum):
    """What a child-month's units are counted on (effective-dated by the policy)."""

    CERTIFIED_MAXIMUM = "certified_maximum"  # the law until 2028-07-01 (SB 151, 2025)
    ATTENDANCE_CAPPED = "attendance_capped_at_certified"


class ProviderType(StrEnum):
    CENTER = "center"
    FCCH = "fcch"
    EXEMPT = "exempt"  # licence-exempt: paid at the FCCH ceiling x exempt_share


class Facility(StrEnum):
    CENTER = "center"
    FCCH = "fcch"


class AgeBand(StrEnum):
    UNDER_2 = "under_2"
    TWO_TO_5 = "2_to_5"
    SIX_PLUS = "6_plus"


class RateCategory(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class TimeBasis(StrEnum):
    FULL = "full"
    PART = "part"


class Absence(StrEnum):
    NONE = ""
    EXCUSED = "excused"
    CLOSURE = "closure"


@dataclass(frozen=True, slots=True)
class Policy:
    """The parameters of the calculation; every one effective-dated in a book."""

    basis: Basis = Basis.CERTIFIED_MAXIMUM
    exempt_share: Decimal = Decimal("0.70")
    closure_days_per_year: int = 10
    days_to_pay: int = 21
    smi: dict[int, int] = field(default_factory=dict)  # family size -> monthly minor units


@dataclass(frozen=True, slots=True)
class Ceiling:
    effective_from: date
    county: str
    facility: Facility
    age_band: AgeBand
    rate_category: RateCategory
    time_basis: TimeBasis
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Provider:
    provider_id: str
    provider_type: ProviderType | None  # None: no providers file (no county, no ceiling)
    county: str
    file_complete: bool
    closure_policy: bool


@dataclass(frozen=True, slots=True)
class Family:
    family_id: str
    family_size: int
    monthly_income_minor: int
    family_fee_minor: int
    fee_collected_by: str  # provider | agency


@dataclass(frozen=True, slots=True)
class CertificateVersion:
    certificate_id: str
    version_from: date
    child_id: str
    family_id: str
    provider_id: str
    child_birth_date: date
    start_date: date
    end_date: date
    schedule: tuple[Decimal, ...]  # hours Monday..Sunday
    rate_category: RateCategory
    time_basis: TimeBasis
    evening_weekend_share: Decimal
    exceptional_needs: bool
    severely_disabled: bool
    provider_rate_minor: int


@dataclass(frozen=True, slots=True)
class Attendance:
    """One day of a child-month's record (several rows of a date are summed)."""

    certificate_id: str
    day: date
    minutes: int  # attended, before rounding; 0 for an absence row
    absence: Absence
    parent_signed: date | None
    provider_signed: date | None
    received: date | None


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """One row of payments.csv: a child-month, or one version of it."""

    certificate_id: str
    version_from: date | None
    child_id: str
    provider_id: str
    month: str
    status: str  # payable | incomplete
    reasons: tuple[str, ...]
    basis: str
    units: Decimal
    ceiling_minor: int | None
    factor: Decimal | None
    rate_applied_minor: int
    gross_minor: int
    family_fee_minor: int
    net_minor: int
    due_by: date | None
    fee_check: str
    eligibility_check: str
    rate_check: str
    hours_check: str
