"""``remit care reconcile``: a council tries remit on its own files, with no store at all."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remit.care.model import OUTCOME_COLUMNS
from remit.cli import app

PLANNED = """visit_id,client_id,provider_id,service_code,start,end,carers,notes
V1,C1,P1,HC,2026-11-02T09:00,2026-11-02T09:30,1,breakfast
V2,C1,P1,HC,2026-11-02T13:00,2026-11-02T13:30,2,
V3,C2,P1,HC,2026-11-02T08:00,2026-11-02T09:00,,
V4,C2,P2,HC,2026-11-02T10:00:00,2026-11-02T10:45:00,1,
"""
ACTUAL = """record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out
R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40
R2,C1,P1,K1,HC,app,2026-11-02T13:02:00,2026-11-02T13:40:00
R3,C1,P1,K2,HC,app,2026-11-02T13:03:00,2026-11-02T13:20:00
R4,C1,P1,K1,HC,APP,2026-11-02T13:04:00,2026-11-02T13:30:00
R5,C2,P1,K3,HC,manual,2026-11-02T18:00:00,2026-11-02T18:30:00
R6,C2,P2,K4,HC,phone,2026-11-02T10:10:00,2026-11-02T11:30:00
"""
RATES = """provider_id,service_code,rate_per_hour,currency,effective_from
P1,HC,18.50,GBP,2026-04-01
P1,HC,19.00,GBP,2026-11-02
P2,HC,21.10,GBP,2026-04-01
"""


def files(
    tmp_path: Path,
    planned: str = PLANNED,
    actual: str = ACTUAL,
    rates: str = RATES,
    policy: str | None = None,
) -> list[str]:
    for name, text in (("planned.csv", planned), ("actual.csv", actual), ("rates.csv", rates)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    args = [
        "care",
        "reconcile",
        "--planned",
        str(tmp_path / "planned.csv"),
        "--actual",
        str(tmp_path / "actual.csv"),
        "--rates",
        str(tmp_path / "rates.csv"),
        "--out",
        str(tmp_path / "out"),
    ]
    if policy is not None:
        (tmp_path / "policy.toml").write_text(policy, encoding="utf-8")
        args += ["--policy", str(tmp_path / "policy.toml")]
    return args


def invoke(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


def outcomes(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "out" / "outcomes.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_morning_of_visits_is_reconciled_and_priced(tmp_path):
    done = invoke(files(tmp_path))
    assert done.exit_code == 0, done.output
    rows = outcomes(tmp_path)
    assert tuple(rows[0]) == OUTCOME_COLUMNS
    assert [
        (
            r["visit_id"],
            r["record_id"],
            r["status"],
            r["paid_minutes"],
            r["amount_minor"],
            r["exception"],
        )
        for r in rows
    ] == [
        ("V1", "R1", "short", "15", "475", "false"),  # 22 min -> 15; 19.00 from 2 November
        ("V2", "R2", "verified", "30", "950", "false"),
        ("V2", "R3", "short", "15", "475", "true"),  # short by 13
        ("V2", "R4", "duplicate", "0", "0", "false"),  # K1 again
        ("V3", "", "missed", "0", "0", "true"),  # carers empty: one place
        ("V4", "R6", "over", "45", "1583", "true"),  # 21.10 x 45/60 = 15.825 -> 15.83
        ("", "R5", "unplanned", "0", "0", "true"),
    ]
    assert all(r["rule"] and r["reason"] for r in rows)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["providers"]["P1"] == {
        "counts": {"duplicate": 1, "missed": 1, "short": 2, "unplanned": 1, "verified": 1},
        "paid_minutes": 60,
        "amount_minor": 1900,
        "currency": "GBP",
        "exceptions": 3,
    }
    assert summary["providers"]["P2"]["amount_minor"] == 1583
    assert summary["totals"]["amount_minor"] == 3483
    assert summary["totals"]["counts"]["short"] == 2 and summary["totals"]["exceptions"] == 4


def test_the_policy_file_changes_the_outcome_and_refuses_unknown_names(tmp_path):
    done = invoke(files(tmp_path, policy="tolerance_minutes = 10\nshort_exception_minutes = 15\n"))
    assert done.exit_code == 0, done.output
    rows = {r["record_id"]: r for r in outcomes(tmp_path)}
    assert rows["R1"]["status"] == "verified"  # 22 of 30 is within 10
    assert rows["R3"]["exception"] == "false"  # short by 13, not more than 15
    again = tmp_path / "again"
    again.mkdir()
    bad = invoke(files(again, policy="grace_minutes = 3\nrounding_minutes = 0\n"))
    assert bad.exit_code == 2
    assert "grace_minutes: unknown parameter" in bad.output
    assert "rounding_minutes" in bad.output


def test_every_problem_is_listed_with_its_line_and_nothing_is_written(tmp_path):
    actual = ACTUAL + (
        "R1,C1,P1,K9,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"  # line 8: repeated id
        "R7,C1,P1,,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"  # line 9: no carer
        "R8,C1,P1,K1,HC,pigeon,2026-11-02T25:00:00,2026-11-02T09:30:00+01:00\n"
    )  # line 10
    planned = PLANNED + "V5,C3,P1,HC,2026-11-02T10:00,2026-11-02T09:00,0,\n"  # line 6
    done = invoke(files(tmp_path, planned=planned, actual=actual))
    assert done.exit_code == 2
    text = " ".join(done.output.split())
    for expected in (
        "actual.csv: line 8: record_id: record R1 repeats line 2",
        "actual.csv: line 9: carer_id: missing the EVV element 'carer'",
        "actual.csv: line 10: method: one of app, phone, manual",
        "actual.csv: line 10: check_in: a local date-time",
        "actual.csv: line 10: check_out: a local date-time",
        "planned.csv: line 6: end: the end must be after the start",
        "planned.csv: line 6: carers: a whole number of carers",
    ):
        assert expected in text, expected
    assert "nothing was written" in text
    assert not (tmp_path / "out").exists()


def test_skip_invalid_reconciles_the_rest_and_returns_the_rejected_rows(tmp_path):
    actual = ACTUAL + "R7,C1,P1,,HC,app,2026-11-02T13:00:00,2026-11-02T13:30:00\n"
    done = invoke([*files(tmp_path, actual=actual), "--skip-invalid"])
    assert done.exit_code == 0, done.output
    assert "R7" not in {r["record_id"] for r in outcomes(tmp_path)}
    with (tmp_path / "out" / "actual.rejected.csv").open(encoding="utf-8") as f:
        rejected = list(csv.DictReader(f))
    assert [(r["record_id"], r["line"]) for r in rejected] == [("R7", "8")]
    assert "carer" in rejected[0]["problems"]


def test_missing_columns_and_missing_rates_are_refused(tmp_path):
    no_end = PLANNED.replace(",end,", ",finish,")
    done = invoke(files(tmp_path, planned=no_end))
    assert done.exit_code == 2 and "line 1: end: missing column" in done.output
    no_rate = RATES.replace("P2,HC,21.10,GBP,2026-04-01\n", "")
    done = invoke(files(tmp_path, rates=no_rate))
    assert done.exit_code == 2
    assert "planned.csv: line 5: service_code: no rate for provider P2, service HC" in " ".join(
        done.output.split()
    )
    two = RATES + "P2,HC,20.00,EUR,2026-06-01\nP3,HC,twelve,XXQ,2026-13-01\n"
    done = invoke(files(tmp_path, rates=two))
    text = " ".join(done.output.split())
    assert done.exit_code == 2 and "one currency" in text
    assert "line 6: rate_per_hour" in text and "line 6: currency" in text
    assert "line 6: effective_from" in text


def test_a_location_stands_in_for_the_method_and_extra_columns_are_kept_out(tmp_path):
    actual = (
        "record_id,client_id,provider_id,carer_id,service_code,check_in,check_out,"
        "latitude,longitude,device\n"
        "R1,C1,P1,K1,HC,2026-11-02T09:00:00,2026-11-02T09:30:00,51.5,-0.12,x1\n"
    )
    done = invoke(files(tmp_path, actual=actual))
    assert done.exit_code == 0, done.output
    rows = outcomes(tmp_path)
    [row] = [r for r in rows if r["record_id"] == "R1"]
    assert row["status"] == "verified" and tuple(row) == OUTCOME_COLUMNS  # no "device"


def test_the_command_runs_with_no_store(tmp_path):
    env = {"REMIT_DATABASE_URL": f"sqlite:///{tmp_path}/absent/none.db", "PATH": "/usr/bin"}
    remit = Path(sys.executable).parent / "remit"
    done = subprocess.run(
        [str(remit), *files(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("text", ["", "visit_id\n", "\x00\x01garbage"])
def test_an_empty_or_broken_file_is_a_clear_error(tmp_path, text):
    done = invoke(files(tmp_path, planned=text))
    assert done.exit_code == 2 and "planned.csv" in done.output


def test_the_documented_example_gives_the_documented_outcomes(tmp_path):
    doc = (Path(__file__).parents[1] / "docs" / "formats" / "care.md").read_text()
    blocks = re.findall(r"```csv\n(.*?)```", doc, flags=re.DOTALL)
    planned, actual, rates, expected = blocks
    done = invoke(files(tmp_path, planned=planned, actual=actual, rates=rates))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "out" / "outcomes.csv").read_text() == expected
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    documented = json.loads(re.findall(r"```json\n(.*?)```", doc, flags=re.DOTALL)[0])
    assert summary == documented
