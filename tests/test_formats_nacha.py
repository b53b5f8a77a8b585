"""NACHA writer and checker: moov-io conformance files, the 100,000-entry file, round trips."""

from __future__ import annotations

import gzip
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remit.formats import nacha
from remit.formats.payfile import FilePayment, FileStamp, RemittanceLine
from remit.testkit.shared import testdata as shared_file

MOOV = "moov-io-ach"
READ_DIRS = [
    "ack", "adv", "arc", "atx", "boc", "ccd", "cie", "cor", "ctx", "dne", "enr", "iat",
    "mte", "pop", "pos", "ppd", "rck", "shr", "tel", "trc", "trx", "web", "xck",
]  # fmt: skip
# moov-io's invalid samples, each with the finding code its defect gives
INVALID = {
    "short-line.ach": ("record_length", 5),
    "long-line.ach": ("record_length", 3),
    "20110729A-invalid.ach": ("record_length", 1),
    "adv-invalidBatchEntries.ach": ("entry_count", 4),
    "adv-invalidFileControl.ach": ("entry_count", 6),
    "iat-invalidAddendaRecordIndicator.ach": ("addenda_indicator", 3),
    "iat-invalidEntryDetail.ach": ("transaction_code", 3),
    "iat-invalidBatchHeader.ach": ("service_class", 11),
    "iat-invalidBatchControl.ach": ("record_length", 22),
    "iat-invalidAddenda10.ach": ("record_length", 22),
    "ppd-debit-fixedLengthInvalid.ach": ("record_length", 1),
    "ppd-debit-invalid-entryDetail-checkDigit.ach": ("check_digit", 3),
}
STAMP = FileStamp(datetime(2026, 5, 8, 15, 5, tzinfo=UTC), date(2026, 5, 11), file_id_modifier="B")


def payment(n: int, amount: int = 1234, **bank: str) -> FilePayment:
    details = {"routing_number": "231380104", "account_number": f"{n:09d}"}
    details["account_type"] = bank.get("account_type", "checking")
    return FilePayment(f"P{n}", f"V{n}", f"Payee {n}", amount, "USD", f"REF-{n}", details)


@pytest.mark.parametrize("kind", READ_DIRS)
def test_moov_read_samples_are_valid(kind: str) -> None:
    for path in shared_file(MOOV, "test", f"ach-{kind}-read").glob("*.ach"):
        report = nacha.check(path.read_bytes())
        assert report.valid, (path.name, report.errors)
        assert report.entries >= 1


def test_moov_example_ppd_credit_is_valid_with_its_totals() -> None:
    report = nacha.check(shared_file(MOOV, "examples", "testdata", "ppd-credit.ach").read_bytes())
    assert report.valid
    assert report.entries == 1 and report.credit_minor > 0 and report.debit_minor == 0


@pytest.mark.parametrize(("name", "expected"), sorted(INVALID.items()))
def test_moov_invalid_samples_fail_for_their_reason(name: str, expected: tuple[str, int]) -> None:
    report = nacha.check(shared_file(MOOV, "test", "testdata", name).read_bytes())
    assert not report.valid
    assert expected in [(e.code, e.line) for e in report.errors]


def test_missing_blocking_is_a_warning_only() -> None:
    data = nacha.write([payment(1)], nacha.ORIGINATOR_EXAMPLE, STAMP)
    unblocked = b"\n".join(line for line in data.split(b"\n") if line != b"9" * 94)
    report = nacha.check(unblocked)
    assert report.valid and [w.code for w in report.warnings] == ["blocking"]


def test_a_changed_amount_breaks_the_controls() -> None:
    lines = nacha.write([payment(1)], nacha.ORIGINATOR_EXAMPLE, STAMP).decode().split("\n")
    lines[2] = lines[2][:29] + "0000009999" + lines[2][39:]
    codes = {e.code for e in nacha.check("\n".join(lines).encode()).errors}
    assert codes == {"credit_total"}


def test_bad_routing_check_digit_names_the_line() -> None:
    lines = nacha.write([payment(1)], nacha.ORIGINATOR_EXAMPLE, STAMP).decode().split("\n")
    lines[2] = lines[2][:11] + "5" + lines[2][12:]
    errors = nacha.check("\n".join(lines).encode()).errors
    assert ("check_digit", 3) in [(e.code, e.line) for e in errors]


def test_large_moov_file_checks_valid_within_three_seconds() -> None:
    path = shared_file(
        MOOV, "test", "testdata", "large-files", "PPD-200-batches-100000-entries.ach.gz"
    )
    data = gzip.decompress(path.read_bytes())
    started = time.perf_counter()
    report = nacha.check(data)
    elapsed = time.perf_counter() - started
    assert report.valid, report.errors[:3]
    # the file's name rounds: its file control counts 100,199 entries, as do its type-6 records
    assert report.entries == 100_199 and report.debit_minor == 0
    assert elapsed <= 3.0


def test_written_file_layout() -> None:
    text = nacha.write([payment(1), payment(2, account_type="savings")],
                       nacha.ORIGINATOR_EXAMPLE, STAMP).decode()  # fmt: skip
    lines = text.split("\n")
    assert text.endswith("\n") and lines[-1] == ""
    assert all(len(line) == 94 for line in lines[:-1]) and len(lines[:-1]) == 10
    assert lines[0][23:34] == "2605081505B"
    assert (
        lines[1][50:53] == "PPD" and lines[1][69:75] == "260511" and lines[1][79:87] == "12104288"
    )
    assert [lines[2][1:3], lines[3][1:3]] == ["22", "32"]
    assert [lines[2][79:], lines[3][79:]] == ["121042880000001", "121042880000002"]
    assert lines[5].startswith("9000001000001") and lines[6] == "9" * 94


def test_ccd_plus_carries_one_addenda_of_references() -> None:
    lines_ = (RemittanceLine("a", "SB-1", 1000), RemittanceLine("b", "SB-2", 234))
    pay = replace(payment(1), lines=lines_)
    originator = {**nacha.ORIGINATOR_EXAMPLE, "sec_code": "CCD", "addenda": True}
    data = nacha.write([pay], originator, STAMP)
    rows = data.decode().split("\n")
    assert rows[2][78] == "1" and rows[3].startswith("705SB-1 SB-2 ")
    assert rows[3][83:] == "00010000001"
    assert nacha.check(data).valid
    assert [line.reference for line in nacha.parse(data)[0].lines] == ["SB-1", "SB-2"]


def test_ctx_splits_rmr_segments_into_counted_addenda() -> None:
    items = tuple(RemittanceLine(f"p{i}", f"INVOICE-{i:04d}", 100 + i) for i in range(10))
    pay = replace(payment(1, amount=sum(i.amount_minor for i in items)), lines=items)
    data = nacha.write([pay], {**nacha.ORIGINATOR_EXAMPLE, "sec_code": "CTX"}, STAMP)
    rows = data.decode().split("\n")
    count = int(rows[2][54:58])
    assert count > 1 and all(rows[3 + i].startswith("705") for i in range(count))
    assert [int(rows[3 + i][83:87]) for i in range(count)] == list(range(1, count + 1))
    assert nacha.check(data).valid
    back = nacha.parse(data)[0].lines
    assert [(x.reference, x.amount_minor) for x in back] == [
        (x.reference, x.amount_minor) for x in items
    ]


def test_write_refuses_a_wrong_file() -> None:
    with pytest.raises(ValueError, match="currency"):
        nacha.write([replace(payment(1), currency="EUR")], nacha.ORIGINATOR_EXAMPLE, STAMP)
    with pytest.raises(ValueError, match="sec_code"):
        nacha.write([payment(1)], {**nacha.ORIGINATOR_EXAMPLE, "sec_code": "WEB"}, STAMP)


def test_sniff() -> None:
    assert nacha.sniff(nacha.write([payment(1)], nacha.ORIGINATOR_EXAMPLE, STAMP))
    assert not nacha.sniff(b"VOL1" + b" " * 76)


ROUTINGS = ["231380104", "121042882", "011000015"]
payments_st = st.lists(
    st.builds(
        lambda amount, name, ref, account, routing, kind: (
            amount,
            name,
            ref,
            account,
            routing,
            kind,
        ),
        st.integers(1, nacha.MAX_AMOUNT_MINOR // 1000),
        st.text(min_size=1, max_size=40),
        st.from_regex(r"[A-Z0-9-]{1,15}", fullmatch=True),
        st.from_regex(r"[0-9]{4,17}", fullmatch=True),
        st.sampled_from(ROUTINGS),
        st.sampled_from(["checking", "savings"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(payments_st, st.sampled_from(["PPD", "CCD", "CTX"]))
def test_round_trip(rows: list[tuple[int, str, str, str, str, str]], sec: str) -> None:
    pays = [
        FilePayment(f"P{i}", f"V{i}", name, amount, "USD", ref,
                    {"routing_number": routing, "account_number": account, "account_type": kind})
        for i, (amount, name, ref, account, routing, kind) in enumerate(rows)
    ]  # fmt: skip
    data = nacha.write(pays, {**nacha.ORIGINATOR_EXAMPLE, "sec_code": sec}, STAMP)
    report = nacha.check(data)
    assert report.valid, report.errors
    assert report.entries == len(pays) and report.debit_minor == 0
    assert report.credit_minor == sum(p.amount_minor for p in pays)
    back = nacha.parse(data)
    width = 16 if sec == "CTX" else 22
    assert [(b.amount_minor, b.payee_name, b.reference, dict(b.bank)) for b in back] == [
        (p.amount_minor, nacha.ascii_upper(p.payee_name, width).strip(), p.reference, dict(p.bank))
        for p in pays
    ]


def test_writing_100000_entries_takes_at_most_two_seconds() -> None:
    pays = [payment(n, amount=100 + n) for n in range(100_000)]
    started = time.perf_counter()
    data = nacha.write(pays, nacha.ORIGINATOR_EXAMPLE, STAMP)
    assert time.perf_counter() - started <= 2.0
    report = nacha.check(data)
    assert report.valid and report.entries == 100_000
    assert report.credit_minor == sum(100 + n for n in range(100_000))


def test_returns_and_notifications_of_change_from_moov_files() -> None:
    web = nacha.returns(shared_file(MOOV, "test", "testdata", "return-WEB.ach").read_bytes())
    assert [(r["kind"], r["code"], r["original_trace"]) for r in web] == [
        ("return", "R01", "091400600000001"),
        ("return", "R03", "091400600000003"),
    ]
    cor = nacha.returns(shared_file(MOOV, "test", "testdata", "cor-example.ach").read_bytes())
    assert [(r["kind"], r["code"], r["corrected_data"]) for r in cor] == [
        ("change", "C01", "1918171614")
    ]
