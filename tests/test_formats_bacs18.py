"""BACS Standard 18: the writer's layout, the checker on files built from the layout with each
field broken in turn, and round trips (no public Standard 18 sample exists)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remit.formats import bacs18
from remit.formats.payfile import FilePayment, FileStamp

ME = {
    "service_user_number": "123456",
    "sort_code": "400000",
    "account_number": "11112222",
    "name": "Riverside Care Trust",
}
STAMP = FileStamp(datetime(2026, 3, 2, 9, 30, tzinfo=UTC), date(2026, 3, 4), serial="000042")


def pay(amount: int, name: str = "Sunrise Care", ref: str = "SB-RIV-V7-3", code: str = "99"):
    return FilePayment(
        "P1",
        "V7",
        name,
        amount,
        "GBP",
        ref,
        {"sort_code": "200000", "account_number": "55779911"},
        transaction_code=code,
    )


def lines_of(data: bytes) -> list[str]:
    return data.decode("ascii").split("\n")[:-1]


def rebuilt(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("latin-1")


def codes(data: bytes) -> list[str]:
    return [f.code for f in bacs18.check(data).errors]


def put(line: str, start: int, value: str) -> str:
    """Overwrite 1-based column ``start`` onwards with ``value``."""
    return line[: start - 1] + value + line[start - 1 + len(value) :]


def credit_file() -> list[str]:
    return lines_of(bacs18.write([pay(12_500), pay(7_550, "Zoë O'Brien-Smith Ltd")], ME, STAMP))


# -- the writer ------------------------------------------------------------------------------


def test_write_lays_out_labels_records_contra_and_trailer() -> None:
    lines = credit_file()
    assert [line[:4] for line in lines[:4]] == ["VOL1", "HDR1", "HDR2", "UHL1"]
    assert [line[:4] for line in lines[-3:]] == ["EOF1", "EOF2", "UTL1"]
    assert {len(line) for line in lines[:4] + lines[-3:]} == {80}
    first, second, contra = lines[4:7]
    assert {len(first), len(second), len(contra)} == {100}
    assert first[0:6] == "200000" and first[6:14] == "55779911" and first[14] == "0"
    assert first[15:17] == "99" and first[17:31] == "40000011112222"
    assert first[35:46] == "00000012500"
    assert first[46:64] == "RIVERSIDE CARE TRU"
    assert first[64:82] == "SB-RIV-V7-3".ljust(18)
    assert second[82:100] == "ZOE O BRIEN-SMITH "
    assert contra[0:17] == "40000011112222017" and contra[35:46] == "00000020050"
    assert contra[64:82] == "CONTRA".ljust(18) and contra[82:100] == "RIVERSIDE CARE TRU"
    assert lines[0][4:10] == "000042" and lines[1][21:27] == "000042"
    assert lines[0][41:47] == "123456"
    assert lines[3][4:10] == " 26063"  # 4 March 2026, the processing day
    utl = lines[-1]
    assert utl[4:17] == "0000000020050" and utl[17:30] == "0000000020050"
    assert utl[30:37] == "0000001" and utl[37:44] == "0000002"


def test_write_direct_debits_gets_a_credit_contra() -> None:
    data = bacs18.write(
        [pay(1_000, code="01"), pay(2_000, code="17"), pay(1, code="0N")], ME, STAMP
    )
    lines = lines_of(data)
    contra = lines[-4]
    assert contra[15:17] == "99" and contra[35:46] == "00000003000"
    assert lines[6][35:46] == "00000000000"  # an instruction carries no amount
    report = bacs18.check(data)
    assert report.valid, report.errors
    assert (report.entries, report.credit_minor, report.debit_minor) == (3, 0, 3000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "EUR"}, "GBP"),
        ({"transaction_code": "42"}, "transaction code"),
        ({"bank": {"sort_code": "20-00-00", "account_number": "55779911"}}, "sort_code"),
        ({"bank": {"sort_code": "200000", "account_number": "5577991"}}, "account_number"),
        ({"amount_minor": 10**11}, "11 digits"),
        ({"amount_minor": 0}, "11 digits"),
    ],
)
def test_write_refuses_what_would_make_a_wrong_file(change: dict, message: str) -> None:
    fields = {**pay(100).__dict__, **change}
    with pytest.raises(ValueError, match=message):
        bacs18.write([FilePayment(**fields)], ME, STAMP)


def test_write_refuses_an_empty_file_and_a_bad_serial() -> None:
    with pytest.raises(ValueError, match="at least one"):
        bacs18.write([], ME, STAMP)
    with pytest.raises(ValueError, match="serial"):
        bacs18.write([pay(1)], ME, FileStamp(STAMP.created, STAMP.value_date, serial="42"))


def test_write_is_the_same_bytes_each_time() -> None:
    assert bacs18.write([pay(5)], ME, STAMP) == bacs18.write([pay(5)], ME, STAMP)


# -- the checker -----------------------------------------------------------------------------


def hand_built() -> list[str]:
    """A file typed from the layout, not by the writer, padded labels of 100 characters."""
    origin = "40000011112222"
    rec = f"20000055779911099{origin}    00000012500" + "RIVERSIDE".ljust(18)
    rec += "INV 1".ljust(18) + "SUNRISE CARE".ljust(18)
    contra = f"{origin}017{origin}    00000012500" + "NARRATIVE".ljust(18)
    contra += "CONTRA".ljust(18) + "RIVERSIDE".ljust(18)
    return [
        "VOL1000007".ljust(41) + "654321".ljust(38) + "1",
        "HDR1A654321S  654321 000007000100010000   26060 26060 000000".ljust(100),
        "HDR2F0200000100".ljust(50) + "00".ljust(30),
        "UHL1 26061999999    000000001 DAILY  001".ljust(80),
        rec,
        contra,
        "EOF1A654321S  654321 000007000100010000   26060 26060 000000".ljust(100),
        "EOF2F0200000100".ljust(50) + "00".ljust(30),
        "UTL10000000012500000000001250000000010000001".ljust(80),
    ]


def test_check_accepts_a_file_built_from_the_layout() -> None:
    report = bacs18.check(rebuilt(hand_built()))
    assert report.valid, report.errors
    assert (report.entries, report.credit_minor, report.debit_minor) == (1, 12_500, 0)
    assert report.details == {"serial": "000007", "processing_day": "2026-03-02"}
    assert bacs18.sniff(rebuilt(hand_built()))


def test_check_accepts_crlf_and_106_character_records() -> None:
    lines = hand_built()
    lines[4] += " 26061"
    lines[5] += " 26061"
    assert bacs18.check(("\r\n".join(lines) + "\r\n").encode()).valid


def test_check_a_valid_written_file_has_the_payment_totals() -> None:
    report = bacs18.check(rebuilt(credit_file()))
    assert report.valid, report.errors
    assert report.as_json()["totals"] == {"entries": 2, "credit_minor": 20_050, "debit_minor": 0}


BREAKS = [
    # (line index, 1-based column, new text, the finding expected)
    (4, 1, "2A0000", "sort_code"),
    (4, 18, "40 000", "sort_code"),
    (4, 7, "5577991X", "account_number"),
    (4, 24, "1111222.", "account_number"),
    (4, 15, "X", "numeric"),
    (4, 16, "98", "transaction_code"),
    (4, 36, "0000001250O", "numeric"),
    (4, 65, "sb-riv", "character_set"),
    (4, 83, "CAFÉ", "character_set"),
    (4, 36, "00000012501", "contra_total"),
    (-1, 5, "0000000012501", "utl1_totals"),
    (-1, 18, "0000000012499", "utl1_totals"),
    (-1, 31, "0000002", "utl1_counts"),
    (-1, 38, "0000003", "utl1_counts"),
    (-1, 31, "00000X1", "numeric"),
    (1, 22, "000008", "serial"),
    (-3, 22, "000009", "eof1_header"),
    (3, 5, " 26400", "processing_date"),
]


@pytest.mark.parametrize(("index", "column", "text", "code"), BREAKS)
def test_check_finds_each_broken_field(index: int, column: int, text: str, code: str) -> None:
    lines = hand_built()
    lines[index] = put(lines[index], column, text)
    report = bacs18.check(rebuilt(lines))
    assert code in [f.code for f in report.errors], report.errors
    assert not report.valid


def test_check_findings_name_the_line() -> None:
    lines = hand_built()
    lines[4] = put(lines[4], 16, "98")
    (finding,) = [f for f in bacs18.check(rebuilt(lines)).errors if f.code == "transaction_code"]
    assert finding.line == 5 and "'98'" in finding.message


def test_check_zero_amount_and_instruction_with_amount() -> None:
    lines = hand_built()
    lines[4] = put(lines[4], 36, "00000000000")
    assert "amount" in codes(rebuilt(lines))
    lines = hand_built()
    lines[4] = put(lines[4], 16, "0N")
    assert "amount" in codes(rebuilt(lines))


def test_check_lengths() -> None:
    lines = hand_built()
    lines[4] = lines[4][:93]
    lines[0] = lines[0] + "   "
    found = bacs18.check(rebuilt(lines)).errors
    assert {(f.code, f.line) for f in found} >= {("record_length", 5), ("label_length", 1)}


@pytest.mark.parametrize("label", ["VOL1", "HDR2", "UHL1", "EOF2", "UTL1"])
def test_check_missing_labels(label: str) -> None:
    lines = [line for line in hand_built() if not line.startswith(label)]
    assert "label_missing" in codes(rebuilt(lines))


def test_check_label_order_and_records_outside_the_labels() -> None:
    lines = hand_built()
    lines[1], lines[2] = lines[2], lines[1]
    assert "label_order" in codes(rebuilt(lines))
    lines = hand_built()
    lines.append(lines.pop(4))
    assert "label_order" in codes(rebuilt(lines))


def test_check_missing_contra() -> None:
    lines = [line for line in hand_built() if "CONTRA" not in line]
    assert "contra_total" in codes(rebuilt(lines))


def test_check_contra_narrative_on_another_account_is_a_payment_with_a_warning() -> None:
    lines = hand_built()
    lines[4] = put(lines[4], 65, "CONTRA            ")
    report = bacs18.check(rebuilt(lines))
    assert [w.code for w in report.warnings] == ["contra_account"]
    assert report.entries == 1 and report.credit_minor == 12_500


@pytest.mark.parametrize("data", [b"", b"\n", b"VOL1", b"\xff\xfe" * 60, b"VOL1\n" + b"9" * 100])
def test_check_never_raises(data: bytes) -> None:
    assert not bacs18.check(data).valid


def test_parse_refuses_an_invalid_file() -> None:
    lines = hand_built()
    lines[-1] = put(lines[-1], 5, "0000000000001")
    with pytest.raises(ValueError, match="UTL1"):
        bacs18.parse(rebuilt(lines))


def test_sniff() -> None:
    assert bacs18.sniff(bacs18.write([pay(1)], ME, STAMP))
    assert not bacs18.sniff(b"101 091000019 1234567891")


# -- round trips -----------------------------------------------------------------------------

names = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 .&/-'éöçÅß"),
    min_size=1,
    max_size=30,
)
payments = st.builds(
    FilePayment,
    payment_id=st.just("P"),
    payee_id=st.just("V"),
    payee_name=names,
    amount_minor=st.integers(1, 10**9),
    currency=st.just("GBP"),
    reference=st.text(alphabet="ABC0123456789-/", min_size=1, max_size=18),
    bank=st.fixed_dictionaries(
        {
            "sort_code": st.from_regex(r"\A[0-9]{6}\Z"),
            "account_number": st.from_regex(r"\A[0-9]{8}\Z"),
        }
    ),
    transaction_code=st.sampled_from(["99", "99", "01", "17", "18", "19"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(payments, min_size=1, max_size=20))
def test_round_trip(batch: list[FilePayment]) -> None:
    data = bacs18.write(batch, ME, STAMP)
    report = bacs18.check(data)
    assert report.valid, report.errors
    assert report.entries == len(batch)
    assert report.credit_minor == sum(p.amount_minor for p in batch if p.transaction_code == "99")
    assert report.debit_minor == sum(p.amount_minor for p in batch if p.transaction_code != "99")
    back = bacs18.parse(data)
    assert [(p.amount_minor, p.transaction_code, dict(p.bank), p.reference) for p in back] == [
        (p.amount_minor, p.transaction_code, dict(p.bank), p.reference) for p in batch
    ]
    assert [p.payee_name for p in back] == [bacs18.bacs_text(p.payee_name).rstrip() for p in batch]
