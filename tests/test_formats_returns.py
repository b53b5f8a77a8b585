"""The banks' feedback files read into notices: NACHA returns and notifications of change,
returned BACS credits, pain.002.001.03/.10 status reports and payers' confirmation feeds,
with ``remit payments returns`` and the examples of docs/formats/payments-returns.md.

The NACHA samples are moov-io's return files in ../shared/testdata (read, never copied);
every other input is written here from the formats' layouts.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from remit.cli import app
from remit.formats import nacha
from remit.formats.payfile import FilePayment, FileStamp
from remit.formats.returns import FeedbackFile, read_feedback, sniff
from remit.testkit import shared

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats" / "payments-returns.md"
BACS_HEADER = "sort_code,account_number,amount_minor,reference,reason_code\n"
COR_ENTRY = (
    "621231380104744-5678-99      0000000000SB-RIV-2       ELAN HOMECARE           1121042880000001"
)
CONFIRM_HEADER = "reference,payment_date,payment_number,amount_minor,currency,status\n"


def moov(*parts: str) -> bytes:
    return shared.testdata("moov-io-ach", *parts).read_bytes()


def problems(read: FeedbackFile) -> list[tuple[int | str | None, str, str]]:
    assert read.notices == ()
    return [(p.line if p.xpath is None else p.xpath, p.field, p.code) for p in read.problems]


# --- NACHA ----------------------------------------------------------------------------------


def test_moov_return_file_gives_each_r_code_with_its_entry() -> None:
    read = read_feedback(moov("test", "testdata", "return-WEB.ach"))
    assert read.format == "nacha" and read.problems == ()
    assert [
        (n.kind, n.reference, n.amount_minor, n.currency, n.reason_code, n.reason, n.line)
        for n in read.notices
    ] == [
        ("return", "MjMxNDAwMjAtOGQ", 12354, "USD", "R01", "insufficient funds", 4),
        (
            "return",
            "NmRjZTJmMzItMGN",
            4565,
            "USD",
            "R03",
            "no account or unable to locate the account",
            8,
        ),
    ]
    first = read.notices[0]
    assert first.raw["original_trace"] == "091400600000001"
    assert first.raw["entry_line"] == 3
    assert first.raw["account_number"] == "123456789"


@pytest.mark.parametrize(
    "parts", [("examples", "testdata", "cor-read.ach"), ("test", "ach-cor-read", "cor-read.ach")]
)
def test_moov_notification_of_change_proposes_the_corrected_account(parts: tuple[str, ...]) -> None:
    read = read_feedback(moov(*parts))
    assert read.problems == ()
    (notice,) = read.notices
    assert notice.kind == "notification_of_change"
    assert notice.reason_code == "C01" and notice.reason == "incorrect account number"
    assert notice.corrected == {"account_number": "1918171614"}
    assert notice.amount_minor is None  # a non-dollar entry
    assert notice.reference == "location #23"
    assert notice.line == 4


def test_every_moov_return_file_with_addenda_99_or_98_is_read_or_refused_whole() -> None:
    root = shared.testdata("moov-io-ach")
    files = [
        p
        for p in sorted(root.rglob("*.ach"))
        if re.search(rb"^79[89]", p.read_bytes(), re.M) and "iat" not in p.name.lower()
    ]
    assert len(files) >= 8
    for path in files:
        read = read_feedback(path.read_bytes(), kind="nacha")
        assert bool(read.notices) != bool(read.problems), path.name


def test_an_unknown_r_code_is_a_problem_on_its_line() -> None:
    read = read_feedback(moov("test", "testdata", "return-PPD-custom-reason-code.ach"))
    assert read.format == "nacha"
    assert problems(read) == [(4, "reason_code", "reason_code")]
    assert "'R97' is not a NACHA return (R-) code" in read.problems[0].message


def test_a_forward_file_has_no_returns() -> None:
    read = read_feedback(moov("examples", "testdata", "ppd-credit.ach"))
    assert problems(read) == [(1, "file", "no_returns")]


def returned(entry: str, addenda: str) -> bytes:
    header = (
        "101 091400606 6910001341810170306A094101FIRST BANK & TRUST     ASF APPLICATION SUPERVI"
    )
    return "\n".join([header.ljust(94), entry, addenda, ""]).encode()


def test_a_return_of_a_file_remit_wrote_matches_by_the_payment_reference() -> None:
    payment = FilePayment(
        "PAY-000001",
        "V7",
        "Sunrise Care",
        12500,
        "USD",
        "SB-RIV-7",
        {"routing_number": "231380104", "account_number": "123456789", "account_type": "savings"},
    )
    stamp = FileStamp(datetime(2026, 11, 25, 9, 30, tzinfo=UTC), date(2026, 11, 27))
    written = nacha.write([payment], nacha.ORIGINATOR_EXAMPLE, stamp).decode().splitlines()
    entry = "6" + "31" + written[2][3:]  # the RDFI returns the credit as an automated return
    addenda = f"799R02{entry[79:94]}      23138010{'':44}{'091000017611242'}"
    (notice,) = read_feedback(returned(entry, addenda)).notices
    assert (notice.kind, notice.reference, notice.amount_minor) == ("return", "SB-RIV-7", 12500)
    assert notice.raw["original_trace"] == written[2][79:94]


@pytest.mark.parametrize(
    ("code", "data", "corrected"),
    [
        ("C02", "011000015", {"routing_number": "011000015"}),
        (
            "C03",
            "011000015   1918171614",
            {"routing_number": "011000015", "account_number": "1918171614"},
        ),
        ("C05", "32", {"transaction_code": "32", "account_type": "savings"}),
        (
            "C06",
            "1918171614".ljust(17) + "   22",
            {"account_number": "1918171614", "transaction_code": "22", "account_type": "checking"},
        ),
        (
            "C07",
            "011000015" + "55667788".ljust(17) + "37",
            {
                "routing_number": "011000015",
                "account_number": "55667788",
                "transaction_code": "37",
                "account_type": "savings",
            },
        ),
        ("C13", "ADDENDA BAD", {"corrected_data": "ADDENDA BAD"}),
    ],
)
def test_change_codes_split_the_corrected_data_by_the_rules_layout(
    code: str, data: str, corrected: dict[str, str]
) -> None:
    entry = COR_ENTRY
    addenda = f"798{code}021000020000002      12104288{data.ljust(29)}{'':15}091012980000088"
    assert len(entry) == len(addenda) == 94
    (notice,) = read_feedback(returned(entry, addenda)).notices
    assert notice.corrected == corrected
    assert notice.reason_code == code


def test_a_c_code_on_a_return_addenda_and_a_bad_amount_are_refused() -> None:
    entry = COR_ENTRY.replace("0000000000SB", "00000X0000SB")
    addenda = "799C01021000020000002      12104288" + " " * 44 + "091012980000088"
    read = read_feedback(returned(entry, addenda))
    assert problems(read) == [(3, "reason_code", "reason_code"), (2, "amount", "amount")]


# --- BACS returned credits -----------------------------------------------------------------


def test_bacs_returned_credits_are_returns_in_gbp_with_the_arucs_words() -> None:
    rows = (
        "Reason_Code,reference,amount_minor,sort_code,account_number,notes\n"
        'b,SB-1,12500,20-00-00,55779911,"a\nb"\n'  # a quoted line break: the next is line 4
        "3,SB-2,1,400001,12345678,\n"
    )
    read = read_feedback(rows.encode())
    assert read.format == "bacs-returns"
    assert [
        (n.reference, n.amount_minor, n.reason_code, n.reason, n.line) for n in read.notices
    ] == [
        ("SB-1", 12500, "B", "account closed", 2),
        ("SB-2", 1, "3", "account transferred to another bank or building society", 4),
    ]
    assert read.notices[0].raw == {"sort_code": "200000", "account_number": "55779911"}
    assert {n.kind for n in read.notices} == {"return"}
    assert {n.currency for n in read.notices} == {"GBP"}


def test_bacs_problems_name_the_physical_line_and_column_and_drop_every_notice() -> None:
    rows = (
        BACS_HEADER
        + "20-00-00,55779911,12500,SB-1,B\n"  # fine, but the file is refused whole
        + '2000001,55779911,12500,"SB\n2",0\n'  # a quoted line break: the record is on line 3
        + f"20-00-00,55779911,{10**13 + 1},{'R' * 36},6\n"
        + "20-00-00,55779911,12,SB\x07,C\n"
    )
    read = read_feedback(rows.encode(), kind="bacs-returns")
    assert problems(read) == [
        (3, "sort_code", "sort_code"),
        (3, "reference", "control_character"),
        (5, "amount_minor", "amount_bound"),
        (5, "reference", "length"),
        (5, "reason_code", "reason_code"),
        (6, "reference", "control_character"),
    ]


def test_a_missing_column_is_named_on_line_1_and_an_empty_file_is_refused() -> None:
    read = read_feedback(
        b"sort_code,account_number,amount_minor,reference\n1,2,3,4\n", kind="bacs-returns"
    )
    assert problems(read) == [(1, "reason_code", "missing_column")]
    assert problems(read_feedback(BACS_HEADER.encode())) == [(1, "file", "empty")]
    assert problems(read_feedback(BACS_HEADER.encode() + b"\xff\n", kind="bacs-returns")) == [
        (None, "file", "encoding")
    ]


# --- pain.002 -------------------------------------------------------------------------------


def pain002(version: str, body: str, group_status: str = "PART", group_extra: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{version}">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-27T09:00:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>REMIT-20261125093000</OrgnlMsgId>
      <OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
      <GrpSts>{group_status}</GrpSts>{group_extra}
    </OrgnlGrpInfAndSts>
    {body}
  </CstmrPmtStsRpt>
</Document>""".encode()


def tx(
    e2e: str,
    status: str,
    *,
    reason: str = "",
    amount: str = "",
    date_xml: str = "",
    instr: str = "PAY-1",
) -> str:
    why = f"<StsRsnInf><Rsn><Cd>{reason}</Cd></Rsn></StsRsnInf>" if reason else ""
    ref = ""
    if amount or date_xml:
        money = f'<Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt>' if amount else ""
        ref = f"<OrgnlTxRef>{money}{date_xml}</OrgnlTxRef>"
    e2e_xml = f"<OrgnlEndToEndId>{e2e}</OrgnlEndToEndId>" if e2e else ""
    status_xml = f"<TxSts>{status}</TxSts>" if status else ""
    return (
        f"<TxInfAndSts><StsId>S-{e2e}</StsId><OrgnlInstrId>{instr}</OrgnlInstrId>{e2e_xml}"
        f"{status_xml}{why}{ref}</TxInfAndSts>"
    )


def block(*txs: str, status: str = "", block_id: str = "PMT-1") -> str:
    status_xml = f"<PmtInfSts>{status}</PmtInfSts>" if status else ""
    inner = f"<OrgnlPmtInfId>{block_id}</OrgnlPmtInfId>{status_xml}{''.join(txs)}"
    return f"<OrgnlPmtInfAndSts>{inner}</OrgnlPmtInfAndSts>"


def test_pain002_03_transactions_by_end_to_end_id_with_reason_amount_and_date() -> None:
    body = block(
        tx(
            "SB-1",
            "RJCT",
            reason="AC04",
            amount="125.00",
            date_xml="<ReqdExctnDt>2026-11-27</ReqdExctnDt>",
        ),
        tx("SB-2", "ACSC", amount="40"),
        tx("SB-3", "ACSP"),
        tx("NOTPROVIDED", "RJCT", reason="XY99", instr="PAY-4"),
    )
    read = read_feedback(pain002("pain.002.001.03", body))
    assert read.format == "pain.002.001.03" and read.problems == ()
    assert [
        (n.kind, n.reference, n.amount_minor, n.currency, n.reason_code, n.reason, n.payment_date)
        for n in read.notices
    ] == [
        ("rejected", "SB-1", 12500, "EUR", "AC04", "account closed", date(2026, 11, 27)),
        ("paid", "SB-2", 4000, "EUR", "", "settlement completed", None),
        ("accepted", "SB-3", None, None, "", "accepted, settlement in process", None),
        ("rejected", "PAY-4", None, None, "XY99", "ISO 20022 status reason XY99", None),
    ]
    assert read.notices[0].xpath == "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts/TxInfAndSts[1]"
    assert read.notices[0].raw["status"] == "RJCT"


def test_pain002_10_reads_the_wrapped_date_and_inherits_the_block_status() -> None:
    body = block(
        tx("SB-1", "", amount="7.5", date_xml="<ReqdExctnDt><Dt>2026-12-01</Dt></ReqdExctnDt>"),
        status="RJCT",
    ) + block(status="ACCP", block_id="PMT-2")
    read = read_feedback(pain002("pain.002.001.10", body), kind="pain.002")
    assert read.format == "pain.002.001.10"
    assert [
        (n.kind, n.reference, n.amount_minor, n.payment_date, n.raw.get("level"))
        for n in read.notices
    ] == [
        ("rejected", "SB-1", 750, date(2026, 12, 1), None),
        ("accepted", "PMT-2", None, None, "payment_information"),
    ]


def test_a_group_rjct_rejects_the_whole_message_by_its_id() -> None:
    why = "<StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>"
    read = read_feedback(pain002("pain.002.001.03", "", group_status="RJCT", group_extra=why))
    (notice,) = read.notices
    assert (notice.kind, notice.reference, notice.reason_code, notice.reason) == (
        "rejected",
        "REMIT-20261125093000",
        "FF01",
        "invalid file format",
    )
    assert notice.xpath == "/Document/CstmrPmtStsRpt/OrgnlGrpInfAndSts/GrpSts"
    assert notice.raw["level"] == "message"


def test_pain002_problems_name_the_xpath_and_drop_every_notice() -> None:
    body = block(
        tx("SB-1", "ACSC"),
        tx("", "RJCT", instr=""),
        tx("X" * 36, "DONE"),
        tx("SB-4", "RJCT", amount="1.234"),
    )
    read = read_feedback(pain002("pain.002.001.03", body))
    base = "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts/TxInfAndSts"
    assert problems(read) == [
        (f"{base}[2]", "OrgnlEndToEndId", "required"),
        (f"{base}[3]/OrgnlEndToEndId", "OrgnlEndToEndId", "length"),
        (f"{base}[3]/TxSts", "TxSts", "status"),
        (f"{base}[4]/OrgnlTxRef/Amt/InstdAmt", "InstdAmt", "amount"),
    ]


def test_other_xml_and_entities_are_refused_without_expanding_them(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
        "<OrgnlGrpInfAndSts><OrgnlMsgId>&x;</OrgnlMsgId><GrpSts>RJCT</GrpSts>"
        "</OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>"
    ).encode()
    read = read_feedback(xxe)
    assert "TOP-SECRET" not in json.dumps(read.as_json())
    assert problems(read) == [
        ("/Document/CstmrPmtStsRpt/OrgnlGrpInfAndSts", "OrgnlMsgId", "required")
    ]  # the entity is not expanded: the id is empty
    other = pain002("pain.001.001.03", "").replace(b"CstmrPmtStsRpt", b"CstmrCdtTrfInitn")
    assert problems(read_feedback(other)) == [("/Document", "Document", "namespace")]
    assert problems(read_feedback(b"<Document><unclosed>", kind="pain.002"))[0][2] == "not_xml"


# --- confirmations --------------------------------------------------------------------------


def test_confirmations_give_paid_failed_and_cancelled_with_their_dates() -> None:
    rows = (
        CONFIRM_HEADER
        + "SB-1,2026-11-27,CHQ-1,12500,USD,paid\nSB-2,2026-11-28,CHQ-2,5,JPY,FAILED\n"
    )
    read = read_feedback(rows.encode())
    assert read.format == "confirmations"
    assert [
        (n.kind, n.reference, n.payment_date, n.amount_minor, n.currency, n.raw, n.line)
        for n in read.notices
    ] == [
        ("paid", "SB-1", date(2026, 11, 27), 12500, "USD", {"payment_number": "CHQ-1"}, 2),
        ("failed", "SB-2", date(2026, 11, 28), 5, "JPY", {"payment_number": "CHQ-2"}, 3),
    ]


def test_confirmation_problems_name_line_and_field() -> None:
    rows = (
        CONFIRM_HEADER + "SB-1,2026-02-30,CHQ-1,12500,usd,settled\n" + ",1899-12-31,,-1,USD,paid\n"
    )
    read = read_feedback(rows.encode(), kind="confirmations")
    assert problems(read) == [
        (2, "payment_date", "date"),
        (2, "currency", "currency"),
        (2, "status", "status"),
        (3, "reference", "required"),
        (3, "payment_number", "required"),
        (3, "payment_date", "date_range"),
        (3, "amount_minor", "amount"),
    ]


# --- the kind -------------------------------------------------------------------------------


def test_the_kind_is_told_from_the_bytes_or_refused() -> None:
    assert sniff(BACS_HEADER.encode()) == "bacs-returns"
    assert sniff(CONFIRM_HEADER.encode()) == "confirmations"
    assert sniff(moov("test", "testdata", "return-WEB.ach")) == "nacha"
    assert sniff(b"\xef\xbb\xbf  <?xml version='1.0'?>") == "pain.002"
    assert problems(read_feedback(b"a,b\n1,2\n")) == [(None, "file", "unknown_format")]
    assert problems(read_feedback(b"x", kind="mt940")) == [(None, "--kind", "kind")]
    # told the kind, a file of another kind is refused, not guessed
    assert problems(read_feedback(CONFIRM_HEADER.encode() + b"x\n", kind="bacs-returns"))[0][2] == (
        "missing_column"
    )


# --- the command ----------------------------------------------------------------------------


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["payments", "returns", *args], catch_exceptions=False)


def test_command_prints_the_notices_as_json_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "arucs.csv"
    path.write_text(BACS_HEADER + "20-00-00,55779911,12500,SB-1,5\n", encoding="utf-8")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["format"] == "bacs-returns" and printed["problems"] == []
    assert printed["notices"][0]["reason"] == "no account"
    assert printed["notices"][0]["line"] == 2


def test_command_exits_2_with_every_problem_and_no_notices(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(CONFIRM_HEADER + "SB-1,2026-11-27,CHQ-1,12500,USD,paid\nSB-2,x,C,1,USD,paid\n")
    result = run(str(path), "--kind", "confirmations")
    assert result.exit_code == 2
    printed = json.loads(result.stdout)
    assert printed["notices"] == []
    assert printed["problems"] == [
        {
            "line": 3,
            "field": "payment_date",
            "code": "date",
            "message": "a date YYYY-MM-DD in the calendar ('x' given)",
        }
    ]
    missing = run(str(tmp_path / "absent.ach"))
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["problems"][0]["code"] == "unreadable"


def test_command_reads_a_moov_return_file() -> None:
    path = shared.testdata("moov-io-ach", "test", "testdata", "return-WEB.ach")
    result = run(str(path), "--kind", "nacha")
    assert result.exit_code == 0
    assert [n["reason_code"] for n in json.loads(result.stdout)["notices"]] == ["R01", "R03"]


# --- the documentation ----------------------------------------------------------------------

EXAMPLE = re.compile(r"<!-- example kind=(\S+) -->\n```\w*\n(.*?)```\n\n```json\n(.*?)```", re.S)


def test_every_example_of_the_doc_is_what_the_reader_gives() -> None:
    examples = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    assert {kind for kind, _, _ in examples} == {
        "nacha",
        "bacs-returns",
        "pain.002",
        "confirmations",
    }
    for kind, source, expected in examples:
        assert read_feedback(source.encode(), kind=kind).as_json() == json.loads(expected), kind
        assert read_feedback(source.encode()).as_json() == json.loads(expected), kind  # sniffed


def test_the_payments_doc_links_the_returns_page() -> None:
    assert "(payments-returns.md)" in (DOC.parent / "payments.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "line", "code"),
    [
        ("pos-invalidReturnFile.ach", 4, "R96"),
        ("web-invalidNOCFile.ach", 4, "C92"),
        ("iat-invalidAddenda99.ach", 11, "R96"),
    ],
)
def test_moov_invalid_return_files_are_refused_for_their_code(
    name: str, line: int, code: str
) -> None:
    read = read_feedback(moov("test", "testdata", name))
    assert problems(read) == [(line, "reason_code", "reason_code")]
    assert repr(code) in read.problems[0].message


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300).map(lambda t: (BACS_HEADER + t).encode()),
        st.text(max_size=300).map(lambda t: (CONFIRM_HEADER + t).encode()),
        st.text(max_size=300).map(lambda t: pain002("pain.002.001.10", t)),
    ),
    kind=st.sampled_from([None, "nacha", "bacs-returns", "pain.002", "confirmations"]),
)
def test_any_bytes_give_notices_or_problems_never_both_never_an_exception(
    data: bytes, kind: str | None
) -> None:
    read = read_feedback(data, kind=kind)
    assert bool(read.notices) != bool(read.problems)
    json.dumps(read.as_json())


def test_a_group_status_alone_is_one_notice_and_a_group_rjct_comes_before_its_transactions() -> (
    None
):
    (accepted,) = read_feedback(pain002("pain.002.001.10", "", group_status="ACTC")).notices
    assert (accepted.kind, accepted.reference, accepted.reason) == (
        "accepted",
        "REMIT-20261125093000",
        "accepted after the technical validation",
    )
    body = block(tx("SB-1", "", reason="AM04"), tx("SB-2", "RJCT", reason="MD07"))
    read = read_feedback(pain002("pain.002.001.03", body, group_status="RJCT"))
    assert [(n.kind, n.reference, n.reason_code) for n in read.notices] == [
        ("rejected", "REMIT-20261125093000", ""),
        ("rejected", "SB-1", "AM04"),  # no TxSts: the group's RJCT
        ("rejected", "SB-2", "MD07"),
    ]
    assert read.notices[2].reason == "end customer deceased"
