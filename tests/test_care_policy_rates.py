"""Policy and rates as councils write them (issue 9 point 5): the policy's new numbers, the
offline files' optional columns, a book's planned visit statuses and hospital stays. The
engine's stories of these rules are in tests/test_care_engine.py, held equal there to the
plain reference."""

from __future__ import annotations

import pytest

from remit.care import exchange
from remit.care.model import Policy
from remit.errors import ValidationFailed


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"late_exception": 2}, "late_exception"),
        ({"short_notice_paid_percent": 101}, "short_notice_paid_percent"),
        ({"evening_from_minute": 1440}, "evening_from_minute"),
        ({"minimum_charge_minutes": -1}, "minimum_charge_minutes"),
    ],
)
def test_the_new_policy_numbers_are_bounded(values, field):
    with pytest.raises(ValidationFailed) as failed:
        Policy.from_mapping(values)
    assert [p.field for p in failed.value.problems] == [field]


def test_the_offline_files_take_a_status_a_reason_and_a_band(tmp_path):
    planned = exchange.read_planned(
        b"visit_id,client_id,provider_id,service_code,start,end,status,reason\n"
        b"V1,C1,P1,HC,2026-11-02T09:00,2026-11-02T10:00,Cancelled_Short_Notice,ill\n"
        b"V2,C1,P1,HC,2026-11-02T12:00,2026-11-02T13:00,,\n"
        b"V3,C1,P1,HC,2026-11-02T15:00,2026-11-02T16:00,gone,\n"
    )
    assert [(p.line, p.field) for p in planned.problems] == [(4, "status")]
    frame = exchange.planned_frame(planned.valid_rows())
    assert frame.select("status", "reason").rows() == [
        ("cancelled_short_notice", "ill"),
        ("planned", ""),
    ]
    rates = exchange.read_rates(
        b"provider_id,service_code,rate_per_hour,currency,effective_from,band\n"
        b"P1,HC,18,GBP,2026-04-01,\n"
        b"P1,HC,24,GBP,2026-04-01,evening\n"
        b"P1,HC,25,GBP,2026-04-01,night\n"
    )
    assert [(p.line, p.field) for p in rates.problems] == [(4, "band")]
    policy = tmp_path / "policy.toml"
    policy.write_text("late_minutes = 20\nbank_holidays = [2026-12-25]\n")
    assert exchange.read_policy(policy).late_minutes == 20
    assert exchange.read_bank_holidays(policy) == [20812]
