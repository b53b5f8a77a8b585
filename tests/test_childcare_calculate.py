"""The child care calculation (issue 11, points 4 and 7): ``remit childcare calculate`` held
to the worked example of docs/formats/childcare.md, both bases worked by hand, the family
fee across providers and versions, and malformed files named by line and column with
nothing written."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from remit.childcare import exchange
from remit.childcare.calculate import Inputs, calculate
from remit.childcare.engine import calculate_frame
from remit.childcare.model import Basis, Family, Policy
from remit.cli import app
from remit.errors import ValidationFailed

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats" / "childcare.md"
BLOCK = re.compile(r"<!-- (file|output) (\S+) -->\n```\w*\n(.*?)```\n", re.S)
OCTOBER = date(2026, 10, 1)
CEILINGS = """effective_from,county,facility,age_band,rate_category,time_basis,amount
2022-01-01,Kern,fcch,6_plus,hourly,part,12.00
2022-01-01,Kern,center,2_to_5,weekly,full,400.00
"""
PROVIDERS = """provider_id,provider_type,county,file_complete,closure_policy
ROSA,fcch,Kern,yes,no
SUN,center,Kern,yes,yes
"""
HEADER = exchange.CERTIFICATES
ATTENDANCE = ",".join(exchange.ATTENDANCE) + "\n"
SIGNED = "2026-10-31,2026-10-31,2026-11-02"


def _cert(cert: str, provider: str, born: str, schedule: str, category: str, basis: str,
          rate: str, family: str = "F1", start: str = "2026-07-01") -> str:  # fmt: skip
    return (
        f"{cert},{start},K-{cert},{family},{provider},{born},{start},2027-06-30,{schedule},"
        f"{category},{basis},0,no,no,{rate}\n"
    )


def _inputs(certs: str, attendance: str, **policy: object) -> Inputs:
    return Inputs(
        month=OCTOBER,
        certificates=exchange.read_certificates((",".join(HEADER) + "\n" + certs).encode()),
        attendance=exchange.read_attendance((ATTENDANCE + attendance).encode()),
        ceilings=exchange.read_ceilings(CEILINGS.encode()),
        providers=exchange.read_providers(PROVIDERS.encode()),
        policy=Policy(**policy),  # type: ignore[arg-type]
    )


def _calculate(folder: Path, month: str, *optional: str) -> Any:
    """``remit childcare calculate`` on the files in ``folder`` into ``folder/out``."""
    out = folder / "out"
    out.mkdir()
    files = ["--certificates", "certs.csv", "--attendance", "attendance.csv",
             "--ceilings", "ceilings.csv", *optional]  # fmt: skip
    args = [a if a.startswith("--") else str(folder / a) for a in files]
    return CliRunner().invoke(
        app, ["childcare", "calculate", *args, "--month", month, "--out", str(out)]
    )


def test_the_worked_example_of_the_doc_is_what_the_command_writes(tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    inputs = {name: text for kind, name, text in blocks if kind == "file"}
    outputs = {name: text for kind, name, text in blocks if kind == "output"}
    assert set(outputs) == {"payments.csv", "summary.json"} and len(inputs) == 6
    for name, text in inputs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = _calculate(
        tmp_path,
        "2026-10",
        *("--families", "families.csv", "--providers", "providers.csv", "--policy", "policy.toml"),
    )
    assert result.exit_code == 0, result.output
    assert "3 payable and 1 incomplete" in " ".join(result.output.split())
    for name, text in outputs.items():
        assert (out / name).read_text(encoding="utf-8") == text, name
    rows = {(r["certificate_id"], r["version_from"]): r for r in _csv(out / "payments.csv")}
    # The numbers worked by hand in the doc: C1's $1,600.00 x 1.125 = $1,800.00, less the
    # family's $40.00 fee; C2's two versions; C3 at 70% of the FCCH hourly ceiling.
    assert rows[("C1", "2026-10-01")]["net_minor"] == "176000"
    assert [rows[("C2", d)]["gross_minor"] for d in ("2026-10-01", "2026-10-19")] == [
        "84000",
        "45000",
    ]
    assert rows[("C3", "2026-10-01")]["rate_applied_minor"] == "840"
    assert json.loads((out / "summary.json").read_text())["totals"]["net_minor"] == 360440


def _csv(path: Path) -> list[dict[str, str]]:
    import csv  # noqa: PLC0415

    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_attendance_capped_hourly_pays_quarter_hours_within_the_certified_day() -> None:
    """4 h a weekday certified; Thu 1st 14:00-18:07 (4.00 h, at most 4), Fri 2nd 14:00-16:08
    (2 h 8 min: 2.25 h), Mon 5th excused (its 4 h), Tue 6th closed (Rosa has no closure
    policy: unpaid), Sat 10th 2 h (no hours certified on Saturdays: unpaid, no error)."""
    cert = _cert("H1", "ROSA", "2019-05-05", "mon=4;tue=4;wed=4;thu=4;fri=4", "hourly", "part",
                 "11.00")  # fmt: skip
    attendance = (
        f"H1,2026-10-01,14:00,18:07,,{SIGNED}\n"
        f"H1,2026-10-02,14:00,16:08,,{SIGNED}\n"
        f"H1,2026-10-05,,,excused,{SIGNED}\n"
        f"H1,2026-10-06,,,closure,{SIGNED}\n"
        f"H1,2026-10-10,10:00,12:00,,{SIGNED}\n"
    )
    [capped] = calculate(_inputs(cert, attendance, basis=Basis.ATTENDANCE_CAPPED))
    assert (capped.status, capped.units, capped.rate_applied_minor) == (
        "payable",
        Decimal("10.2500"),
        1100,
    )
    assert capped.gross_minor == 11275 and capped.hours_check == "88.00;8.25"
    [maximum] = calculate(_inputs(cert, attendance))  # certified: 22 days x 4 h
    assert (maximum.units, maximum.gross_minor) == (Decimal("88.0000"), 96800)


@pytest.mark.parametrize(("cap", "units", "gross"), [(2, "0.4000", 16000), (3, "0.6000", 24000)])
def test_closure_days_are_paid_within_the_yearly_cap_counted_from_july(
    cap: int, units: str, gross: int
) -> None:
    """Weekly full time at a centre: 22 certified days = 4.4 weeks. September's two closures
    (on another child's record) count towards the cap: with 2 a year October's closure is the
    third and unpaid (2 paid days: 4.4 x 2/22 = 0.4 weeks); with 3 it is paid (0.6)."""
    certs = _cert("W1", "SUN", "2022-03-10", "mon=8;tue=8;wed=8;thu=8;fri=8", "weekly", "full",
                  "500.00") + _cert("W2", "SUN", "2022-04-10", "mon=8;tue=8;wed=8;thu=8;fri=8",
                                    "weekly", "full", "500.00", family="F2")  # fmt: skip
    attendance = (
        f"W2,2026-09-07,,,closure,{SIGNED}\n"
        f"W2,2026-09-08,,,closure,{SIGNED}\n"
        f"W1,2026-10-01,08:00,16:00,,{SIGNED}\n"
        f"W1,2026-10-02,,,closure,{SIGNED}\n"
        f"W1,2026-10-05,08:00,16:00,,{SIGNED}\n"
    )
    found = calculate(
        _inputs(certs, attendance, basis=Basis.ATTENDANCE_CAPPED, closure_days_per_year=cap)
    )
    [row] = [r for r in found if r.certificate_id == "W1"]
    assert (str(row.units), row.rate_applied_minor, row.gross_minor) == (units, 40000, gross)


def test_a_family_fee_comes_off_the_largest_child_month_last_version_first() -> None:
    """F1's $500.00 fee, collected by the provider: B is the larger child-month (1 h a day
    to the 14th, 10 days, $120.00; then 2 h a day, 12 days, $288.00), so its last row
    gives $288.00, its first $120.00, and A (22 h, $264.00) the $92.00 left."""
    b2 = (
        "B,2026-10-15,K-B,F1,ROSA,2019-06-05,2026-07-01,2027-06-30,"
        "mon=2;tue=2;wed=2;thu=2;fri=2,hourly,part,0,no,no,12.00\n"
    )
    certs = (
        _cert("A", "ROSA", "2019-05-05", "mon=1;tue=1;wed=1;thu=1;fri=1", "hourly", "part",
              "12.00")
        + _cert("B", "ROSA", "2019-06-05", "mon=1;tue=1;wed=1;thu=1;fri=1", "hourly", "part",
                "12.00")
        + b2
    )  # fmt: skip
    attendance = f"A,2026-10-01,08:00,09:00,,{SIGNED}\nB,2026-10-01,08:00,09:00,,{SIGNED}\n"
    inputs = _inputs(certs, attendance)
    assert [r.gross_minor for r in calculate(inputs)] == [26400, 12000, 28800]
    family = Family("F1", 3, 900_000, 50_000, "provider")
    paid = calculate(replace(inputs, families={"F1": family}))
    assert [(r.certificate_id, r.family_fee_minor, r.net_minor) for r in paid] == [
        ("A", 9200, 17200),
        ("B", 12000, 0),
        ("B", 28800, 0),
    ]
    agency = Family("F1", 3, 900_000, 50_000, "agency")  # the agency collects it: not netted
    assert {r.family_fee_minor for r in calculate(replace(inputs, families={"F1": agency}))} == {0}


def test_malformed_files_name_the_line_and_column_and_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "certs.csv").write_text(
        ",".join(HEADER)
        + "\n"
        + _cert("C1", "ROSA", "2019-05-05", "mon=8;funday=2", "hourly", "part", "12.00")
        + _cert("C2", "ROSA", "2019-13-05", "mon=8", "hourly", "sometimes", "12.005")
    )
    (tmp_path / "attendance.csv").write_text(
        ATTENDANCE
        + f"C1,2026-10-01,12:00,09:00,,{SIGNED}\n"
        + f"C1,2026-10-02,08:00,09:00,,{SIGNED}\n"
        + "C1,2026-10-05,08:00,09:00,,2026-10-30,2026-10-31,2026-11-02\n"
    )
    (tmp_path / "ceilings.csv").write_text("effective_from,county,facility\n")
    out = tmp_path / "out"
    result = _calculate(tmp_path, "2026-13")
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    for expected in (
        "--month",
        "certs.csv: line 2: schedule",
        "schedule",
        "certs.csv: line 3: child_birth_date",
        "child_birth_date",
        "time_basis",
        "provider_rate",
        "attendance.csv: line 2: time_out",
        "time_out",
        "attendance.csv: line 4: parent_signed",
        "ceilings.csv: line 1: age_band",
        "age_band",
    ):
        assert expected in said, expected
    assert list(out.iterdir()) == []


def test_a_record_problem_leaves_the_other_children_paid() -> None:
    certs = _cert("OK", "ROSA", "2019-05-05", "mon=2", "hourly", "part", "12.00") + _cert(
        "NOSIGN", "ROSA", "2019-05-05", "mon=2", "hourly", "part", "12.00"
    )
    attendance = (
        f"OK,2026-10-05,08:00,10:00,,{SIGNED}\n"
        "NOSIGN,2026-10-05,08:00,10:00,,,2026-10-31,2026-11-02\n"
        f"NOSIGN,2027-07-05,08:00,10:00,,{SIGNED}\n"
    )
    inputs = _inputs(certs, attendance)
    by_cert = {r.certificate_id: r for r in calculate(inputs)}
    assert by_cert["OK"].status == "payable" and by_cert["OK"].gross_minor == 4 * 2 * 1200
    assert by_cert["NOSIGN"].reasons == ("parent_signature_missing",)
    assert by_cert["NOSIGN"].net_minor == 0 and by_cert["NOSIGN"].due_by is None


def test_the_policy_file_is_checked_key_by_key() -> None:
    with pytest.raises(ValidationFailed) as caught:
        exchange.read_policy(b'basis = "sometimes"\ndays_to_pay = -1\nwhat = 1\n[smi]\n"x" = "1"\n')
    assert {p.field for p in caught.value.problems} == {"basis", "days_to_pay", "what", "smi.x"}
    found = exchange.read_policy(b'exempt_share = "0.65"\n[smi]\n"4" = "9000.00"\n')
    assert (found.exempt_share, found.smi) == (Decimal("0.65"), {4: 900_000})


def test_a_claim_on_a_certificate_not_yet_in_force_is_an_incomplete_row() -> None:
    """Attendance in October on a certificate whose only version starts in November: the
    child-month is not lost from the output, it is incomplete, every day outside."""
    late = _cert("LATE", "ROSA", "2019-05-05", "mon=2", "hourly", "part", "12.00",
                 start="2026-11-01")  # fmt: skip
    inputs = _inputs(late, f"LATE,2026-10-05,08:00,10:00,,{SIGNED}\n")
    for rows in (calculate(inputs), calculate_frame(inputs)):
        [row] = rows
        assert (row.status, row.reasons, row.net_minor) == (
            "incomplete",
            ("outside_certificate",),
            0,
        )
        assert row.hours_check == "0.00;2.00" and row.version_from == OCTOBER
        assert exchange.summary(rows)["totals"] == {"payable": 0, "incomplete": 1, "net_minor": 0}


def test_a_child_month_of_two_providers_counts_once_in_the_totals() -> None:
    certs = _cert("TWO", "ROSA", "2019-05-05", "mon=2", "hourly", "part", "12.00") + (
        "TWO,2026-10-19,K-TWO,F1,SUN,2019-05-05,2026-07-01,2027-06-30,mon=2,hourly,part,0,"
        "no,no,12.00\n"
    )
    rows = calculate(_inputs(certs, f"TWO,2026-10-05,08:00,10:00,,{SIGNED}\n"))
    assert len(rows) == 2 and {r.provider_id for r in rows} == {"ROSA", "SUN"}
    found = exchange.summary(rows)
    assert found["totals"]["incomplete"] + found["totals"]["payable"] == 1
    assert set(found["providers"]) == {"ROSA", "SUN"}


def test_dates_beyond_the_bounds_and_overlong_fields_are_problems_not_crashes() -> None:
    far = ATTENDANCE + "C1,2026-10-05,08:00,10:00,,2026-10-31,2026-10-31,9999-12-31\n"
    with pytest.raises(ValidationFailed) as caught:
        exchange.read_attendance(far.encode())
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "received")]
    long = ATTENDANCE + f"{'C' * 200_000},2026-10-05,08:00,10:00,,{SIGNED}\n"
    with pytest.raises(ValidationFailed) as caught:
        exchange.read_attendance(long.encode())
    assert caught.value.problems[0].check == "csv"
    assert exchange.read_policy(b'exempt_share = "0"\n').exempt_share == Decimal(0)
