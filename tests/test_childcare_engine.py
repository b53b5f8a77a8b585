"""The vectorised child care engine gives exactly the rows of the plain reading of the rules
(``remit.childcare.calculate``) on random months: versions starting inside the month,
every provider type, missing providers and ceilings, both bases, closures across the
fiscal year within a random cap, fees collected by providers or the agency, bad
signatures, unknown certificates, attendance outside the certificate."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remit.childcare.calculate import calculate
from remit.childcare.engine import calculate_frame
from remit.testkit.childcare import random_month


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
