"""SEPA pain.001 writer and the pain.001/pain.008 checker (issue 10, points 3 to 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources

import pytest
import schwifty
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from remit.formats import iso20022, pain001
from remit.formats.payfile import FilePayment, FileStamp
from remit.testkit.shared import testdata as shared_file

SHIPPED = ("pain.001.001.03", "pain.001.001.09", "pain.008.001.02", "pain.008.001.08")
SAMPLES = {
    "SAMPLE_RESULT_00100103.xml": "pain.001.001.03",
    "SAMPLE_RESULT_00100109.xml": "pain.001.001.09",
    "SAMPLE_RESULT_00800102.xml": "pain.008.001.02",
    "SAMPLE_RESULT_00800108.xml": "pain.008.001.08",
}
ORIGINATOR = {"name": "Riverside Council", "iban": "NL41BANK1234567890", "bic": "BANKNL2A"}
STAMP = FileStamp(
    datetime(2026, 12, 3, 9, 30, 15, 123, tzinfo=UTC), date(2026, 12, 7), message_id="RUN-42"
)


def nl_iban(account: int) -> str:
    return str(schwifty.IBAN.generate("NL", bank_code="ABNA", account_code=f"{account:010d}"))


def payment(n: int = 1, **changes: object) -> FilePayment:
    fields: dict[str, object] = {
        "payment_id": f"P{n}",
        "payee_id": f"V{n}",
        "payee_name": f"Provider {n}",
        "amount_minor": 1000 * n + 5,
        "currency": "EUR",
        "reference": f"SB-{n}",
        "bank": {"iban": nl_iban(n)},
    }
    fields.update(changes)
    return FilePayment(**fields)  # type: ignore[arg-type]


def sample(name: str) -> bytes:
    path = shared_file("raphaelm-python-sepaxml", "extracted_expected_xml", name)
    return path.read_bytes()


def codes(findings: object) -> set[str]:
    return {f.code for f in findings}  # type: ignore[attr-defined]


def xml_of(data: bytes) -> etree._Element:
    return etree.fromstring(data)


# 1. the shipped XSDs ------------------------------------------------------------------------


@pytest.mark.parametrize("version", SHIPPED)
def test_shipped_xsd_is_byte_identical_to_the_published_copy(version: str) -> None:
    shipped = resources.files("remit.formats").joinpath("schemas", f"{version}.xsd").read_bytes()
    published = shared_file("raphaelm-python-sepaxml", "sepaxml", "schemas", f"{version}.xsd")
    assert shipped == published.read_bytes()


def test_schemas_ship_with_their_notice_and_compile() -> None:
    notice = resources.files("remit.formats").joinpath("schemas", "NOTICE").read_text()
    assert "iso20022.org" in notice and "python-sepaxml" in notice and "MIT" in notice
    for version in SHIPPED:
        assert isinstance(iso20022.schema(version), etree.XMLSchema)
    with pytest.raises(ValueError, match="no schema"):
        iso20022.schema("pain.001.001.99")


# 2. the writer ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", pain001.FORMATS)
def test_written_file_is_schema_valid_checks_valid_and_parses_back(version: str) -> None:
    payments = [payment(1), payment(2, bank={"iban": nl_iban(2), "bic": "ABNANL2A"}), payment(3)]
    data = pain001.write(payments, ORIGINATOR, STAMP, version=version)
    assert iso20022.schema(version).validate(xml_of(data))
    report = pain001.check(data)
    assert report.as_json() == {
        "format": version,
        "valid": True,
        "errors": [],
        "warnings": [],
        "totals": {"entries": 3, "credit_minor": 1005 + 2005 + 3005, "debit_minor": 0},
    }
    back = pain001.parse(data)
    assert [
        (p.payment_id, p.amount_minor, p.payee_name, p.reference, dict(p.bank)) for p in back
    ] == [(p.payment_id, p.amount_minor, p.payee_name, p.reference, dict(p.bank)) for p in payments]


def test_header_block_and_amounts_follow_the_stamp_and_the_minor_units() -> None:
    payments = [payment(1, amount_minor=5), payment(2, amount_minor=100_000)]
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    root = xml_of(pain001.write(payments, ORIGINATOR, STAMP))
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=ns) == "RUN-42"
    assert root.findtext(".//p:GrpHdr/p:CreDtTm", namespaces=ns) == "2026-12-03T09:30:15+00:00"
    for level in ("p:GrpHdr", "p:PmtInf"):
        assert root.findtext(f".//{level}/p:NbOfTxs", namespaces=ns) == "2"
        assert root.findtext(f".//{level}/p:CtrlSum", namespaces=ns) == "1000.05"
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt", namespaces=ns) == "2026-12-07"
    assert root.findtext(".//p:PmtTpInf/p:SvcLvl/p:Cd", namespaces=ns) == "SEPA"
    assert [a.text for a in root.iterfind(".//p:InstdAmt", ns)] == ["0.05", "1000.00"]
    assert [e.text for e in root.iterfind(".//p:EndToEndId", ns)] == ["P1", "P2"]
    assert root.findtext(".//p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=ns) == "BANKNL2A"


def test_version_09_uses_its_choice_date_and_bicfi() -> None:
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
    root = xml_of(pain001.write([payment(1)], ORIGINATOR, STAMP, version="pain.001.001.09"))
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt/p:Dt", namespaces=ns) == "2026-12-07"
    assert root.findtext(".//p:DbtrAgt/p:FinInstnId/p:BICFI", namespaces=ns) == "BANKNL2A"


def test_optional_originator_fields() -> None:
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    plain = {"name": "Riverside Council", "iban": "NL41BANK1234567890"}
    root = xml_of(pain001.write([payment(1)], plain, STAMP))
    assert root.findtext(".//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", namespaces=ns) == "NOTPROVIDED"
    assert root.find(".//p:InitgPty/p:Id", ns) is None
    with_id = {**plain, "initiating_party_id": "NL-KVK-1234"}
    root = xml_of(pain001.write([payment(1)], with_id, STAMP))
    assert root.findtext(".//p:InitgPty/p:Id/p:OrgId/p:Othr/p:Id", namespaces=ns) == "NL-KVK-1234"


def test_text_is_transliterated_and_cut_to_the_sepa_fields() -> None:
    long_name = "Ærøskøbing Straße Crèche & Søn " + "x" * 80
    long_reference = "Réf " + "y" * 200
    back = pain001.parse(
        pain001.write(
            [payment(1, payee_name=long_name, reference=long_reference)], ORIGINATOR, STAMP
        )
    )
    assert back[0].payee_name.startswith("AEroskobing Strasse Creche + Son xx")
    assert len(back[0].payee_name) == 70
    assert back[0].reference == ("Ref " + "y" * 200)[:140]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "GBP"}, "not EUR"),
        ({"amount_minor": 0}, "not in 1..10"),
        ({"amount_minor": 10**15 + 1}, "not in 1..10"),
        ({"bank": {}}, "no IBAN"),
        ({"payment_id": "A//B"}, "not a SEPA identifier"),
        ({"payment_id": "X" * 36}, "not a SEPA identifier"),
        ({"payee_name": "株式会社"}, "no character"),
    ],
)
def test_writer_refuses_what_it_cannot_write_right(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pain001.write([payment(1, **change)], ORIGINATOR, STAMP)


def test_writer_refuses_no_payments_and_unknown_versions() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pain001.write([], ORIGINATOR, STAMP)
    with pytest.raises(ValueError, match="not one of"):
        pain001.write([payment(1)], ORIGINATOR, STAMP, version="pain.001.001.10")


def test_module_contract() -> None:
    assert pain001.FORMAT == "pain.001.001.03" and pain001.FORMATS[1] == "pain.001.001.09"
    assert (pain001.CURRENCY, pain001.CALENDAR, pain001.ORIGINATOR_TABLE) == ("EUR", "ECB", "sepa")


# 3. the checker -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "version"), SAMPLES.items())
def test_published_samples_are_schema_valid_but_carry_a_bad_iban(name: str, version: str) -> None:
    data = sample(name)
    assert pain001.sniff(data)
    report = pain001.check(data)
    assert report.format == version
    assert "schema" not in codes(report.errors)
    assert codes(report.errors) == {"iban_check_digits"}
    assert all(
        f.xpath and f.xpath.startswith("/Document/") and f.xpath.endswith("/IBAN")
        for f in report.errors
    )
    assert "NL50BANK1234567890" in report.errors[0].message
    credit = version.startswith("pain.001")
    totals = report.as_json()["totals"]
    assert totals == {
        "entries": 2,
        "credit_minor": 6012 if credit else 0,
        "debit_minor": 0 if credit else 6012,
    }


def test_not_xml_is_unreadable() -> None:
    report = pain001.check(b"\x00\x01 this is no XML")
    assert report.format == "iso20022"
    assert codes(report.errors) == {"not_xml"}
    assert report.details == {"unreadable": True}
    assert not pain001.sniff(b"\x00\x01 this is no XML")


def test_other_xml_is_an_unknown_message() -> None:
    report = pain001.check(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>')
    assert codes(report.errors) == {"unknown_message"}
    assert not report.details


def written(version: str = "pain.001.001.03", count: int = 2) -> bytes:
    return pain001.write(
        [payment(n) for n in range(1, count + 1)], ORIGINATOR, STAMP, version=version
    )


def test_schema_errors_name_the_element() -> None:
    data = written().replace(b"<MsgId>", b"<Stray>x</Stray><MsgId>")
    errors = [f for f in pain001.check(data).errors if f.code == "schema"]
    assert errors and errors[0].xpath == "/Document/CstmrCdtTrfInitn/GrpHdr/Stray"
    assert "not expected" in errors[0].message


def test_counts_and_control_sums_are_checked_at_both_levels() -> None:
    data = written(count=2)
    wrong_group = data.replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>", 1)
    report = pain001.check(wrong_group)
    assert [(f.code, f.xpath) for f in report.errors] == [
        ("nb_of_txs", "/Document/CstmrCdtTrfInitn/GrpHdr")
    ]
    both = data.replace(b"<CtrlSum>30.10</CtrlSum>", b"<CtrlSum>30.11</CtrlSum>")
    report = pain001.check(both)
    assert [(f.code, f.xpath) for f in report.errors] == [
        ("ctrl_sum", "/Document/CstmrCdtTrfInitn/GrpHdr"),
        ("ctrl_sum", "/Document/CstmrCdtTrfInitn/PmtInf[1]"),
    ]


def test_amounts_must_be_above_zero_with_two_places() -> None:
    data = written().replace(b">10.05<", b">0.00<")
    zero = pain001.check(data)
    assert ("amount_not_positive", "/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[1]") in {
        (f.code, f.xpath) for f in zero.errors
    }
    three_places = pain001.check(written().replace(b">10.05<", b">10.055<"))
    assert "amount_format" in codes(three_places.errors)


def test_national_iban_checks_and_bic_format() -> None:
    # DE45370400440000012345 has right mod-97 digits but fails the German account check
    bad_national = payment(1, bank={"iban": "DE45370400440000012345", "bic": "BANKXX2A"})
    data = pain001.write([bad_national], ORIGINATOR, STAMP)
    report = pain001.check(data)
    assert codes(report.errors) == {"iban_national_check", "bic_format"}
    where = {f.code: f.xpath for f in report.errors}
    assert (
        where["bic_format"]
        == "/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[1]/CdtrAgt/FinInstnId/BIC"
    )


def test_duplicate_end_to_end_id_is_a_warning() -> None:
    data = written(count=3).replace(b"<EndToEndId>P3<", b"<EndToEndId>P1<")
    report = pain001.check(data)
    assert report.valid
    assert [(f.code, f.xpath) for f in report.warnings] == [
        ("duplicate_end_to_end_id", "/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[3]")
    ]


def test_notprovided_end_to_end_ids_are_not_duplicates() -> None:
    data = written(count=2).replace(b"<EndToEndId>P1<", b"<EndToEndId>NOTPROVIDED<")
    data = data.replace(b"<EndToEndId>P2<", b"<EndToEndId>NOTPROVIDED<")
    assert not pain001.check(data).warnings


def test_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">&b;</Document>'
    )
    report = pain001.check(bomb)
    assert report.format == "pain.001.001.03"
    assert codes(report.errors) == {"doctype"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=2000), junk=st.binary(max_size=20))
def test_check_never_raises_on_damaged_files(cut: int, junk: bytes) -> None:
    data = written()
    damaged = data[:cut] + junk + data[cut + len(junk) :]
    report = pain001.check(damaged)
    assert report.format
    assert isinstance(report.as_json()["valid"], bool)


# 4. round trip --------------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=90
).map(lambda s: "Payee " + s)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9\-.:]{0,33}[A-Za-z0-9]", fullmatch=True)


@st.composite
def payment_lists(draw: st.DrawFn) -> list[FilePayment]:
    payment_ids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    return [
        FilePayment(
            payment_id=pid,
            payee_id=f"V{i}",
            payee_name=draw(names),
            amount_minor=draw(st.integers(min_value=1, max_value=10**15)),
            currency="EUR",
            reference=draw(st.text(max_size=200)),
            bank={"iban": nl_iban(draw(st.integers(0, 10**10 - 1)))}
            | draw(st.sampled_from([{}, {"bic": "ABNANL2A"}, {"bic": "DEUTDEFF500"}])),
        )
        for i, pid in enumerate(payment_ids)
    ]


@settings(max_examples=60, deadline=None)
@given(payments=payment_lists(), version=st.sampled_from(pain001.FORMATS))
def test_round_trip(payments: list[FilePayment], version: str) -> None:
    data = pain001.write(payments, ORIGINATOR, STAMP, version=version)
    assert iso20022.schema(version).validate(xml_of(data))
    report = pain001.check(data)
    assert report.valid, report.errors
    assert report.format == version
    assert (report.entries, report.credit_minor) == (
        len(payments),
        sum(p.amount_minor for p in payments),
    )
    back = pain001.parse(data)
    assert [p.payment_id for p in back] == [p.payment_id for p in payments]
    assert [p.amount_minor for p in back] == [p.amount_minor for p in payments]
    assert [p.payee_name for p in back] == [pain001.sepa_text(p.payee_name, 70) for p in payments]
    assert [p.reference for p in back] == [pain001.sepa_text(p.reference, 140) for p in payments]
    assert [dict(p.bank) for p in back] == [dict(p.bank) for p in payments]
    assert {p.currency for p in back} == {"EUR"}
