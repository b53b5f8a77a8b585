"""``remit payments file`` (offline bank files) and ``remit check FILE``.

The validation and the check's unreadable/unknown answers need no scheme module; the tests
that write or check a real file import the scheme's module or are skipped until it exists.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from remit.cli import app
from remit.errors import ValidationFailed
from remit.formats import offline, registry
from remit.formats.findings import CheckReport, Finding
from remit.formats.payfile import FilePayment, FileStamp
from remit.testkit import shared

NACHA_HEADER = (
    "payable_id,payee_id,payee_name,amount_minor,currency,reference,"
    "routing_number,account_number,account_type,notes\n"
)
NACHA_ROWS = (
    "SB1,V7,Sunrise Care,12500,USD,SB-RIV-1,011000015,12345678,checking,x\n"
    "SB2,V8,Élan Homecare Services of the Valley,4000,USD,SB-RIV-2,021000021,987654321,savings,\n"
    "SB3,V7,Sunrise Care,500,USD,SB-RIV-3,011000015,12345678,checking,\n"
)
NACHA_TOML = """\
[nacha]
immediate_destination = "011000015"
immediate_origin = "1234567890"
destination_name = "FEDERAL RESERVE BANK"
origin_name = "RIVERSIDE COUNCIL"
company_name = "RIVERSIDE"
company_id = "1234567890"
odfi_routing = "021000021"
sec_code = "CCD"
addenda = true
entry_description = "CAREPAY"
"""
BACS_CSV = (
    "payable_id,payee_id,payee_name,amount_minor,currency,reference,sort_code,account_number\n"
    "SB1,V7,Sunrise Care,12500,GBP,SB-1,20-00-00,55779911\n"
)
BACS_TOML = """\
[bacs]
service_user_number = "123456"
sort_code = "40-00-01"
account_number = "12345678"
name = "RIVERSIDE COUNCIL"
"""
SEPA_CSV = (
    "payable_id,payee_id,payee_name,amount_minor,currency,reference,iban,bic\n"
    "SB1,V7,Sunrise Pflege,12500,EUR,SB-1,DE89 3704 0044 0532 0130 00,COBADEFFXXX\n"
    "SB2,V8,Aide à domicile,300,EUR,SB-2,FR1420041010050500013M02606,\n"
)
SEPA_TOML = """\
[sepa]
name = "Riverside Council"
iban = "DE89370400440532013000"
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def write_inputs(tmp_path: Path, payables: str, originator: str) -> tuple[Path, Path]:
    csv_path, toml_path = tmp_path / "payables.csv", tmp_path / "originator.toml"
    csv_path.write_text(payables, encoding="utf-8")
    toml_path.write_text(originator, encoding="utf-8")
    return csv_path, toml_path


def file_args(csv_path: Path, toml_path: Path, out: Path, fmt: str = "nacha") -> list[str]:
    return [
        "payments",
        "file",
        "--payables",
        str(csv_path),
        "--format",
        fmt,
        "--originator",
        str(toml_path),
        "--date",
        "2026-11-26",
        "--out",
        str(out),
    ]


def problems_of(call: object) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ValidationFailed) as failed:
        call()  # type: ignore[operator]
    return [(p.line, p.field, p.check) for p in failed.value.problems]


# --- payables.csv ------------------------------------------------------------------------


def test_rows_of_one_payee_and_account_are_one_payment_listing_each_payable() -> None:
    payments = offline.read_payables((NACHA_HEADER + NACHA_ROWS).encode(), registry.scheme("nacha"))
    assert [(p.payment_id, p.payee_id, p.amount_minor) for p in payments] == [
        ("PAY-000001", "V7", 13000),
        ("PAY-000002", "V8", 4000),
    ]
    assert [line.payable_id for line in payments[0].lines] == ["SB1", "SB3"]
    assert payments[0].reference == "PAY-000001"  # several payables: the remittance lists them
    assert payments[1].reference == "SB-RIV-2"
    assert dict(payments[1].bank) == {
        "routing_number": "021000021",
        "account_number": "987654321",
        "account_type": "savings",
    }


def test_same_payee_with_another_account_is_another_payment() -> None:
    rows = NACHA_ROWS.replace(
        "SB3,V7,Sunrise Care,500,USD,SB-RIV-3,011000015,12345678",
        "SB3,V7,Sunrise Care,500,USD,SB-RIV-3,011000015,999",
    )
    payments = offline.read_payables((NACHA_HEADER + rows).encode(), registry.scheme("nacha"))
    assert [p.amount_minor for p in payments] == [12500, 4000, 500]


def test_every_bad_nacha_value_is_named_by_line_and_column() -> None:
    rows = (
        "SB1,V7,Sunrise Care,0,USD,SB-1,011000016,12345678,checking\n"
        "SB2,V8,Elan,12.50,EUR,SB-2,02100002,1234567890123456789,loan\n"
        "SB2,V9,,-4,USD,,011000015,12-34,savings\n"
        f"SB4,V9,Nine,{10**15 + 1},USD,SB-4,011000015,1,checking\n"
    )
    found = problems_of(
        lambda: offline.read_payables((NACHA_HEADER + rows).encode(), registry.scheme("nacha"))
    )
    assert found == [
        (2, "amount_minor", "amount"),
        (2, "routing_number", "routing_number"),
        (3, "amount_minor", "amount"),
        (3, "currency", "currency"),
        (3, "routing_number", "routing_number"),
        (3, "account_number", "account_number"),
        (3, "account_type", "account_type"),
        (4, "payee_name", "required"),
        (4, "reference", "required"),
        (4, "amount_minor", "amount"),
        (4, "account_number", "account_number"),
        (4, "payable_id", "duplicate"),
        (5, "amount_minor", "amount_bound"),
    ]


def test_missing_bank_columns_are_each_named_on_line_1() -> None:
    content = (
        b"payable_id,payee_id,payee_name,amount_minor,currency,reference,iban\nA,B,C,1,GBP,R,x\n"
    )
    assert problems_of(lambda: offline.read_payables(content, registry.scheme("bacs18"))) == [
        (1, "sort_code", "missing_column"),
        (1, "account_number", "missing_column"),
    ]


def test_bacs_sort_code_forms_and_account_length() -> None:
    fmt = registry.scheme("bacs18")
    [payment] = offline.read_payables(BACS_CSV.encode(), fmt)
    assert dict(payment.bank) == {"sort_code": "200000", "account_number": "55779911"}
    bad = BACS_CSV.replace("20-00-00,55779911", "20-0000-0,5577991")
    assert problems_of(lambda: offline.read_payables(bad.encode(), fmt)) == [
        (2, "sort_code", "sort_code"),
        (2, "account_number", "account_number"),
    ]


def test_iban_check_digits_and_national_checks_bic_optional() -> None:
    fmt = registry.scheme("pain.001.001.03")
    payments = offline.read_payables(SEPA_CSV.encode(), fmt)
    assert dict(payments[0].bank) == {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}
    assert dict(payments[1].bank) == {"iban": "FR1420041010050500013M02606"}
    bad = (
        SEPA_CSV.replace("DE89 3704", "DE88 3704")
        .replace(",FR14200", ",FR14200")
        .replace("COBADEFFXXX", "COBA")
    )
    bad = bad.replace("FR1420041010050500013M02606", "FR7630006000011234567890188")  # RIB key
    found = problems_of(lambda: offline.read_payables(bad.encode(), fmt))
    assert found == [(2, "iban", "iban"), (2, "bic", "bic"), (3, "iban", "iban")]


def test_one_payment_over_the_schemes_amount_field_is_refused() -> None:
    rows = (
        "SB1,V7,Sunrise,9000000000,USD,R1,011000015,1,checking\n"
        "SB2,V7,Sunrise,1000000000,USD,R2,011000015,1,checking\n"
    )
    found = problems_of(
        lambda: offline.read_payables((NACHA_HEADER + rows).encode(), registry.scheme("nacha"))
    )
    assert found == [(3, "amount_minor", "payment_total")]


# --- originator.toml ---------------------------------------------------------------------


def test_originator_table_is_cleaned_and_addenda_defaults_to_false() -> None:
    table = offline.read_originator(NACHA_TOML.encode(), registry.scheme("nacha"))
    assert table["sec_code"] == "CCD" and table["addenda"] is True
    plain = NACHA_TOML.replace("addenda = true\n", "")
    assert offline.read_originator(plain.encode(), registry.scheme("nacha"))["addenda"] is False
    bacs = offline.read_originator(BACS_TOML.encode(), registry.scheme("bacs18"))
    assert bacs["sort_code"] == "400001"


def test_bad_originator_values_name_their_key_and_line() -> None:
    bad = (
        NACHA_TOML.replace('odfi_routing = "021000021"', 'odfi_routing = "021000022"')
        .replace('"CCD"', '"WEB"')
        .replace("addenda = true", 'addenda = "yes"')
        .replace('company_id = "1234567890"\n', "colour = 1\n")
    )
    found = problems_of(lambda: offline.read_originator(bad.encode(), registry.scheme("nacha")))
    assert found == [
        (7, "nacha.colour", "unknown_key"),
        (1, "nacha.company_id", "required"),  # a missing key: the table's line
        (8, "nacha.odfi_routing", "odfi_routing"),
        (9, "nacha.sec_code", "sec_code"),
        (10, "nacha.addenda", "boolean"),
    ]


def test_bacs_service_user_number_and_missing_table() -> None:
    bad = BACS_TOML.replace('"123456"', '"12345"')
    found = problems_of(lambda: offline.read_originator(bad.encode(), registry.scheme("bacs18")))
    assert found == [(2, "bacs.service_user_number", "service_user_number")]
    found = problems_of(
        lambda: offline.read_originator(BACS_TOML.encode(), registry.scheme("nacha"))
    )
    assert found == [(None, "nacha", "missing_table")]
    found = problems_of(lambda: offline.read_originator(b"[bacs\n", registry.scheme("bacs18")))
    assert found == [(1, "file", "toml")]


def test_sepa_originator_iban_checked() -> None:
    bad = SEPA_TOML.replace("DE89", "DE88")
    found = problems_of(
        lambda: offline.read_originator(bad.encode(), registry.scheme("pain.001.001.09"))
    )
    assert found == [(3, "sepa.iban", "iban")]


# --- the date, the remittance, the registry ----------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "pay_date", "expected"),
    [
        ("nacha", date(2026, 11, 26), date(2026, 11, 27)),  # Thanksgiving
        ("nacha", date(2026, 7, 3), date(2026, 7, 3)),  # the Fed does not observe Saturday's
        ("bacs18", date(2026, 12, 26), date(2026, 12, 29)),  # Boxing Day moved to the 28th
        ("pain.001.001.03", date(2026, 5, 1), date(2026, 5, 4)),  # TARGET2 closed on 1 May
    ],
)
def test_value_date_is_the_next_banking_day_of_the_schemes_calendar(
    fmt: str, pay_date: date, expected: date
) -> None:
    assert offline.value_date(pay_date, registry.scheme(fmt)) == expected


def test_remittance_lists_each_payable_under_its_payment() -> None:
    payments = offline.read_payables((NACHA_HEADER + NACHA_ROWS).encode(), registry.scheme("nacha"))
    rows = list(csv.DictReader(io.StringIO(offline.remittance_csv(payments))))
    assert [(r["payment_id"], r["payable_id"], r["amount_minor"]) for r in rows] == [
        ("PAY-000001", "SB1", "12500"),
        ("PAY-000001", "SB3", "500"),
        ("PAY-000002", "SB2", "4000"),
    ]
    assert list(rows[0]) == list(offline.REMITTANCE_COLUMNS)


def test_registry_knows_each_format_and_refuses_others() -> None:
    assert {f: s.currency for f, s in registry.SCHEMES.items()} == {
        "nacha": "USD",
        "bacs18": "GBP",
        "pain.001.001.03": "EUR",
        "pain.001.001.09": "EUR",
    }
    with pytest.raises(registry.UnknownFormat):
        registry.scheme("pain.008.001.02")


# --- the command: refusals write nothing --------------------------------------------------


def test_every_problem_of_every_input_at_once_exit_2_and_no_file(tmp_path: Path) -> None:
    rows = NACHA_ROWS.replace("011000015", "011000016", 1).replace("4000,USD", "4000,EUR")
    toml = NACHA_TOML.replace('"011000015"', '"011000010"')
    csv_path, toml_path = write_inputs(tmp_path, NACHA_HEADER + rows, toml)
    out = tmp_path / "out.ach"
    out.write_bytes(b"the file of an earlier run")
    args = file_args(csv_path, toml_path, out)
    args[args.index("2026-11-26")] = "2026-13-01"
    result = run(*args, "--remittance", str(tmp_path / "remit.csv"))
    assert result.exit_code == 2
    said = result.output
    assert "payables.csv: line 2: routing_number:" in said
    assert "payables.csv: line 3: currency: nacha files pay in USD only ('EUR' given)" in said
    assert "originator.toml: line 2: nacha.immediate_destination:" in said
    assert "--date:" in said
    assert "nothing was written" in said
    assert out.read_bytes() == b"the file of an earlier run"
    assert not (tmp_path / "remit.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "originator.toml",
        "out.ach",
        "payables.csv",
    ]


def test_unknown_format_and_missing_input_exit_2(tmp_path: Path) -> None:
    csv_path, toml_path = write_inputs(tmp_path, BACS_CSV, BACS_TOML)
    result = run(*file_args(csv_path, toml_path, tmp_path / "x", fmt="swift"))
    assert result.exit_code == 2 and "unknown format 'swift'" in result.output
    result = run(*file_args(tmp_path / "absent.csv", toml_path, tmp_path / "x", fmt="bacs18"))
    assert result.exit_code == 2 and "payables.csv: file: cannot be read" in result.output
    assert not (tmp_path / "x").exists()


class _Writer:
    """A scheme module for the command's own steps: what it was given, what it returns."""

    def __init__(self, data: bytes, report: CheckReport, refuse: str = "") -> None:
        self.data, self.report, self.refuse = data, report, refuse
        self.given: dict[str, object] = {}

    def write(
        self, payments: list[FilePayment], originator: dict, stamp: FileStamp, **kw: str
    ) -> bytes:
        if self.refuse:
            raise ValueError(self.refuse)
        self.given = {"payments": payments, "originator": originator, "stamp": stamp, **kw}
        return self.data

    def check(self, data: bytes) -> CheckReport:
        return self.report


def _with_writer(monkeypatch: pytest.MonkeyPatch, writer: _Writer) -> None:
    monkeypatch.setattr(registry, "module_of", lambda fmt: writer)


def test_files_are_written_only_after_the_writer_and_its_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _Writer(b"<Document/>", CheckReport("pain.001.001.09", entries=2))
    _with_writer(monkeypatch, writer)
    csv_path, toml_path = write_inputs(tmp_path, SEPA_CSV, SEPA_TOML)
    out, remittance = tmp_path / "sct.xml", tmp_path / "remittance.csv"
    args = file_args(csv_path, toml_path, out, fmt="pain.001.001.09")
    result = run(*args, "--remittance", str(remittance), "--created", "2026-11-25T09:30:00")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"<Document/>"
    assert remittance.read_text().splitlines()[1] == "PAY-000001,V7,SB1,SB-1,12500,EUR"
    assert writer.given["version"] == "pain.001.001.09"
    stamp = writer.given["stamp"]
    assert isinstance(stamp, FileStamp)
    assert stamp.value_date == date(2026, 11, 26) and stamp.message_id == "REMIT-20261125093000"
    assert writer.given["originator"] == {
        "name": "Riverside Council",
        "iban": "DE89370400440532013000",
    }
    assert "2 payment(s), €128.00 in all, value date 2026-11-26" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "originator.toml",
        "payables.csv",
        "remittance.csv",
        "sct.xml",
    ]


@pytest.mark.parametrize(
    ("writer", "said"),
    [
        (
            _Writer(b"x", CheckReport("nacha"), refuse="currency GBP"),
            "the writer refused: currency GBP",
        ),
        (
            _Writer(
                b"x", CheckReport("nacha", errors=(Finding("entry_hash", "off by 1", line=9),))
            ),
            "the written file fails its own check (entry_hash: off by 1)",
        ),
    ],
)
def test_a_writer_refusal_or_a_failed_self_check_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: _Writer, said: str
) -> None:
    _with_writer(monkeypatch, writer)
    csv_path, toml_path = write_inputs(tmp_path, NACHA_HEADER + NACHA_ROWS, NACHA_TOML)
    out, remittance = tmp_path / "out.ach", tmp_path / "remittance.csv"
    result = run(*file_args(csv_path, toml_path, out), "--remittance", str(remittance))
    assert result.exit_code == 2 and said in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["originator.toml", "payables.csv"]


def test_a_format_whose_module_is_absent_is_said_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = dataclasses.replace(registry.SCHEMES["nacha"], module="absent_scheme")
    monkeypatch.setitem(registry.SCHEMES, "nacha", absent)
    csv_path, toml_path = write_inputs(tmp_path, NACHA_HEADER + NACHA_ROWS, NACHA_TOML)
    result = run(*file_args(csv_path, toml_path, tmp_path / "out.ach"))
    assert result.exit_code == 2 and "the nacha writer is not installed" in result.output
    assert not (tmp_path / "out.ach").exists()


def test_an_output_in_a_missing_folder_or_over_an_input_is_refused_first(tmp_path: Path) -> None:
    csv_path, toml_path = write_inputs(tmp_path, BACS_CSV, BACS_TOML)
    args = file_args(csv_path, toml_path, tmp_path / "absent" / "out.txt", fmt="bacs18")
    result = run(*args, "--remittance", str(csv_path))
    said = " ".join(result.output.replace("\n", "").split())  # the console wraps long paths
    assert result.exit_code == 2
    assert "--out: the folder" in said and "does not exist [folder]" in said
    assert f"--remittance: {csv_path} is already an input or output" in said
    assert csv_path.read_text() == BACS_CSV


# --- remit check: no scheme module needed -------------------------------------------------


def test_check_of_a_missing_file_is_unreadable_exit_2(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "absent.ach"))
    assert result.exit_code == 2
    said = json.loads(result.stdout)
    assert said["format"] is None and said["valid"] is False
    assert [e["code"] for e in said["errors"]] == ["unreadable"]
    assert said["totals"] == {"entries": 0, "credit_minor": 0, "debit_minor": 0}


def test_check_of_an_unknown_format_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("dear provider,\nthis is not a bank file\n")
    result = run("check", str(path))
    assert result.exit_code == 2
    said = json.loads(result.stdout)
    assert said["format"] is None and said["errors"][0]["code"] == "unknown_format"


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (CheckReport("bacs18", entries=1, credit_minor=5), 0),
        (CheckReport("bacs18", warnings=(Finding("blocking", "not blocked"),)), 0),
        (CheckReport("bacs18", errors=(Finding("record_length", "99 characters", line=3),)), 1),
        (
            CheckReport(
                "pain.001.001.03", errors=(Finding("not_xml", "no"),), details={"unreadable": True}
            ),
            2,
        ),
    ],
)
def test_check_prints_the_modules_report_and_exits_by_its_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report: CheckReport, code: int
) -> None:
    checker = _Writer(b"", report)
    monkeypatch.setattr(registry, "sniff", lambda data: checker)
    path = tmp_path / "file"
    path.write_bytes(b"VOL1")
    result = run("check", str(path))
    assert result.exit_code == code
    assert json.loads(result.stdout) == report.as_json()


# --- with the scheme modules (skipped until they are merged) ------------------------------


def _round_trip(tmp_path: Path, module: str, fmt: str, payables: str, originator: str) -> None:
    scheme_module = pytest.importorskip(f"remit.formats.{module}")
    csv_path, toml_path = write_inputs(tmp_path, payables, originator)
    out, remittance = tmp_path / "bank.file", tmp_path / "remittance.csv"
    args = file_args(csv_path, toml_path, out, fmt=fmt)
    result = run(*args, "--remittance", str(remittance), "--created", "2026-11-25T09:30")
    assert result.exit_code == 0, result.output
    first = out.read_bytes()
    assert run(*args, "--created", "2026-11-25T09:30").exit_code == 0
    assert out.read_bytes() == first  # the same inputs give the same bytes
    checked = run("check", str(out))
    report = json.loads(checked.stdout)
    assert checked.exit_code == 0 and report["valid"], report
    expected = offline.read_payables(payables.encode(), registry.scheme(fmt))
    assert report["totals"]["entries"] == len(expected)
    assert report["totals"]["credit_minor"] == sum(p.amount_minor for p in expected)
    parsed = scheme_module.parse(first)
    assert [p.amount_minor for p in parsed] == [p.amount_minor for p in expected]
    rows = list(csv.DictReader(io.StringIO(remittance.read_text())))
    assert len(rows) == len(payables.strip().splitlines()) - 1


def test_nacha_file_written_checks_valid_and_parses_back(tmp_path: Path) -> None:
    _round_trip(tmp_path, "nacha", "nacha", NACHA_HEADER + NACHA_ROWS, NACHA_TOML)


def test_bacs18_file_written_checks_valid_and_parses_back(tmp_path: Path) -> None:
    _round_trip(tmp_path, "bacs18", "bacs18", BACS_CSV, BACS_TOML)


@pytest.mark.parametrize("fmt", ["pain.001.001.03", "pain.001.001.09"])
def test_pain001_file_written_checks_valid_and_parses_back(tmp_path: Path, fmt: str) -> None:
    _round_trip(tmp_path, "pain001", fmt, SEPA_CSV, SEPA_TOML)


def test_check_of_moov_io_samples_exit_codes() -> None:
    pytest.importorskip("remit.formats.nacha")
    valid = shared.testdata("moov-io-ach", "examples", "testdata", "ppd-credit.ach")
    result = run("check", str(valid))
    assert result.exit_code == 0 and json.loads(result.stdout)["format"] == "nacha"
    short = shared.testdata("moov-io-ach", "test", "testdata", "short-line.ach")
    result = run("check", str(short))
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and not report["valid"]


# --- properties and size ------------------------------------------------------------------

_PAYEES = st.sampled_from(["V1", "V2", "V3"])
_ACCOUNTS = st.sampled_from([("011000015", "111"), ("021000021", "222")])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_PAYEES, _ACCOUNTS, st.integers(1, 10**9)), min_size=1, max_size=30))
def test_grouping_pays_each_payable_once_with_its_amount(
    rows: list[tuple[str, tuple[str, str], int]],
) -> None:
    body = "".join(
        f"SB{i},{payee},Payee {payee},{amount},USD,R{i},{routing},{account},checking\n"
        for i, (payee, (routing, account), amount) in enumerate(rows)
    )
    payments = offline.read_payables((NACHA_HEADER + body).encode(), registry.scheme("nacha"))
    assert len({(p.payee_id, p.bank["routing_number"]) for p in payments}) == len(payments)
    for payment in payments:
        assert payment.amount_minor == sum(line.amount_minor for line in payment.lines)
    listed = list(csv.DictReader(io.StringIO(offline.remittance_csv(payments))))
    assert sorted((r["payable_id"], int(r["amount_minor"])) for r in listed) == sorted(
        (f"SB{i}", amount) for i, (_, _, amount) in enumerate(rows)
    )


def test_the_offline_benchmark_runs_small() -> None:
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    bench = importlib.import_module("bench.formats_offline")
    figures = bench.run(entries=200)
    assert set(figures) == {
        "read_payables_nacha",
        "read_payables_bacs18",
        "read_payables_pain.001.001.03",
        "remittance_csv",
    }
    assert all(seconds >= 0 for seconds in figures.values())
