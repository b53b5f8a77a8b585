"""SEPA credit transfers: the pain.001.001.03 and pain.001.001.09 writer, parser and checker.

Written by hand, not with python-sepaxml (MIT, checked in the stack notes): sepaxml builds
an ElementTree and validates it on export with the pure-Python xmlschema, about 100 times
slower than lxml's C validator here (``bench/formats_pain.py``), and it would add two
dependencies. The message remit writes is small and fixed (one PmtInf, the same elements for
every transfer), so each transfer is one text template with its values escaped; the whole
text is then parsed and validated by lxml (already a dependency) against the shipped XSD of
its version. Every file :func:`write` returns has passed that XSD; a payment the writer
cannot put right raises ``ValueError``.

Text goes out in the SEPA (EPC) Latin character set: accents transliterated, anything else
replaced by a space, names cut to 70 characters and the remittance to 140.

>>> sepa_text("Crèche Ærø & Søn — Müller", 70)
'Creche AEro + Son - Muller'
>>> sepa_text("Sunrise Care Limited", 7)
'Sunrise'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from remit.formats import iso20022
from remit.formats.findings import CheckReport
from remit.formats.payfile import FilePayment, FileStamp
from remit.money import MAX_AMOUNT_MINOR

FORMATS = ("pain.001.001.03", "pain.001.001.09")
FORMAT = FORMATS[0]
CURRENCY = "EUR"
CALENDAR = "ECB"
ORIGINATOR_TABLE = "sepa"
NAME_MAX = 70  # EPC: party names are at most 70 characters
REFERENCE_MAX = 140  # one unstructured remittance line
ID_MAX = 35  # MsgId, PmtInfId, EndToEndId

_SPECIAL_LETTERS = str.maketrans(
    {"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L", "ł": "l",
     "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th", "ı": "i", "&": "+", "–": "-", "—": "-",
     "‘": "'", "’": "'", "«": "'", "»": "'", "“": "'", "”": "'", '"': "'"}
)  # fmt: skip
_OUTSIDE_SEPA = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]+")
_SEPA_ID = re.compile(r"[A-Za-z0-9\-?:().,'+]([A-Za-z0-9/\-?:().,'+ ]*[A-Za-z0-9\-?:().,'+])?")
_SPACES = re.compile(r" {2,}")


def sepa_text(value: str, max_chars: int) -> str:
    """``value`` in the SEPA character set, spaces collapsed, cut to ``max_chars``."""
    if value.isascii():
        ascii_only = value.translate(_SPECIAL_LETTERS)
    else:
        decomposed = unicodedata.normalize("NFKD", value.translate(_SPECIAL_LETTERS))
        ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _SPACES.sub(" ", _OUTSIDE_SEPA.sub(" ", ascii_only)).strip()
    return cleaned[:max_chars].rstrip()


def sepa_id(value: str, field: str) -> str:
    """An identifier as it goes out, unchanged: 1-35 SEPA characters, no ``//``, no ``/`` at an end.

    >>> sepa_id("RUN-7-P12", "EndToEndId")
    'RUN-7-P12'
    >>> sepa_id("a//b", "EndToEndId")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: EndToEndId 'a//b' is not a SEPA identifier (1-35 of A-Z a-z 0-9 ...)
    """
    if len(value) > ID_MAX or "//" in value or not _SEPA_ID.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} is not a SEPA identifier "
            "(1-35 of A-Z a-z 0-9 / - ? : ( ) . , ' +, no // and no / at either end)"
        )
    return value


def sniff(data: bytes) -> bool:
    """Whether ``data`` looks like a pain.001 or pain.008 message (by its namespace).

    >>> sniff(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"/>')
    True
    >>> sniff(b"101 091000019 1234567891...")
    False
    """
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return (
        head.startswith(b"<")
        and re.search(rb"urn:iso:std:iso:20022:tech:xsd:pain\.00[18]\.", head) is not None
    )


def check(data: bytes) -> CheckReport:
    """Check a pain.001 (.03, .09) or pain.008 (.02, .08) message by anyone; never raises."""
    return iso20022.check_message(data)


class _Layout:
    """The text of one message version, element by element; the versions' differences live here.

    Values are escaped for XML even though the SEPA set has no ``&`` or ``<``: an IBAN or a
    BIC is written as given, and the XSD check after writing catches a malformed one.
    """

    def __init__(self, version: str) -> None:
        if version not in FORMATS:
            raise ValueError(f"pain.001 version {version!r} is not one of {', '.join(FORMATS)}")
        self.version = version
        self.namespace = iso20022.NAMESPACE_PREFIX + version
        self.bic_tag = "BIC" if version == "pain.001.001.03" else "BICFI"

    def agent(self, name: str, bic: str, indent: str) -> str:
        inner = (
            f"<{self.bic_tag}>{escape(bic)}</{self.bic_tag}>"
            if bic
            else "<Othr><Id>NOTPROVIDED</Id></Othr>"
        )
        return f"{indent}<{name}><FinInstnId>{inner}</FinInstnId></{name}>\n"

    def execution_date(self, day: date) -> str:
        if self.version == "pain.001.001.03":
            return f"<ReqdExctnDt>{day.isoformat()}</ReqdExctnDt>"
        return f"<ReqdExctnDt><Dt>{day.isoformat()}</Dt></ReqdExctnDt>"


def _valid_payment(payment: FilePayment) -> None:
    if payment.currency != CURRENCY:
        raise ValueError(
            f"payment {payment.payment_id}: currency {payment.currency} is not EUR (SEPA)"
        )
    if not 0 < payment.amount_minor <= MAX_AMOUNT_MINOR:
        raise ValueError(
            f"payment {payment.payment_id}: amount {payment.amount_minor} is not in 1..10^15"
        )
    if not payment.bank.get("iban"):
        raise ValueError(f"payment {payment.payment_id}: no IBAN")


def _name(value: str, field: str) -> str:
    name = sepa_text(value, NAME_MAX)
    if not name:
        raise ValueError(f"{field} {value!r} has no character the SEPA set can write")
    return name


def _header(
    layout: _Layout,
    count: int,
    originator: Mapping[str, Any],
    stamp: FileStamp,
    total: str,
) -> str:
    message_id = sepa_id(stamp.message_id, "MsgId")
    name = escape(_name(originator["name"], "originator name"))
    party_id = originator.get("initiating_party_id")
    identity = (
        f"<Id><OrgId><Othr><Id>{sepa_id(party_id, 'initiating_party_id')}</Id></Othr></OrgId></Id>"
        if party_id
        else ""
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<Document xmlns="{layout.namespace}">\n'
        "  <CstmrCdtTrfInitn>\n"
        "    <GrpHdr>\n"
        f"      <MsgId>{message_id}</MsgId>\n"
        f"      <CreDtTm>{stamp.created.replace(microsecond=0).isoformat()}</CreDtTm>\n"
        f"      <NbOfTxs>{count}</NbOfTxs>\n"
        f"      <CtrlSum>{total}</CtrlSum>\n"
        f"      <InitgPty><Nm>{name}</Nm>{identity}</InitgPty>\n"
        "    </GrpHdr>\n"
        "    <PmtInf>\n"
        f"      <PmtInfId>{message_id}</PmtInfId>\n"
        "      <PmtMtd>TRF</PmtMtd>\n"
        f"      <NbOfTxs>{count}</NbOfTxs>\n"
        f"      <CtrlSum>{total}</CtrlSum>\n"
        "      <PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>\n"
        f"      {layout.execution_date(stamp.value_date)}\n"
        f"      <Dbtr><Nm>{name}</Nm></Dbtr>\n"
        f"      <DbtrAcct><Id><IBAN>{escape(originator['iban'])}</IBAN></Id></DbtrAcct>\n"
        + layout.agent("DbtrAgt", originator.get("bic") or "", "      ")
        + "      <ChrgBr>SLEV</ChrgBr>\n"
    )


_FOOTER = "    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n"


def _transaction(layout: _Layout, payment: FilePayment) -> str:
    bic = payment.bank.get("bic")
    name = _name(payment.payee_name, f"payment {payment.payment_id}: payee name")
    reference = sepa_text(payment.reference, REFERENCE_MAX)
    end_to_end = sepa_id(payment.payment_id, "EndToEndId")
    amount = iso20022.decimal_of_minor(payment.amount_minor)
    return (
        "      <CdtTrfTxInf>\n"
        f"        <PmtId><EndToEndId>{end_to_end}</EndToEndId></PmtId>\n"
        f'        <Amt><InstdAmt Ccy="EUR">{amount}</InstdAmt></Amt>\n'
        + (layout.agent("CdtrAgt", bic, "        ") if bic else "")
        + f"        <Cdtr><Nm>{escape(name)}</Nm></Cdtr>\n"
        f"        <CdtrAcct><Id><IBAN>{escape(payment.bank['iban'])}</IBAN></Id></CdtrAcct>\n"
        + (f"        <RmtInf><Ustrd>{escape(reference)}</Ustrd></RmtInf>\n" if reference else "")
        + "      </CdtTrfTxInf>\n"
    )


def message_text(
    payments: Sequence[FilePayment],
    originator: Mapping[str, Any],
    stamp: FileStamp,
    version: str = FORMAT,
) -> str:
    """The message as text (not yet validated): one PmtInf, SEPA service level."""
    layout = _Layout(version)
    if not payments:
        raise ValueError("a pain.001 message needs at least one payment")
    for payment in payments:
        _valid_payment(payment)
    total = iso20022.decimal_of_minor(sum(p.amount_minor for p in payments))
    body = "".join(_transaction(layout, p) for p in payments)
    return _header(layout, len(payments), originator, stamp, total) + body + _FOOTER


def build(
    payments: Sequence[FilePayment],
    originator: Mapping[str, Any],
    stamp: FileStamp,
    version: str = FORMAT,
) -> etree._Element:
    """The message as an lxml tree, ready for its XSD."""
    text = message_text(payments, originator, stamp, version).encode("utf-8")
    return etree.fromstring(text, iso20022.safe_parser())


def write(
    payments: Sequence[FilePayment],
    originator: Mapping[str, Any],
    stamp: FileStamp,
    version: str = FORMAT,
) -> bytes:
    """The pain.001 message of ``payments``, validated against the shipped XSD of ``version``."""
    data = message_text(payments, originator, stamp, version).encode("utf-8")
    xsd = iso20022.schema(version)
    if not xsd.validate(etree.fromstring(data, iso20022.safe_parser())):
        first = xsd.error_log[0]
        raise ValueError(f"the {version} message would not be schema-valid: {first.message}")
    return data


def _payment_of(tx: etree._Element) -> FilePayment:
    parts = {str(child.tag).rpartition("}")[2]: child for child in tx}

    def text(top: str, *path: str) -> str:
        node = parts.get(top)
        return (iso20022.child_text(node, *path) or "") if node is not None else ""

    amount = text("Amt", "InstdAmt")
    minor = iso20022.minor_of_decimal(amount)
    if minor is None:
        raise ValueError(f"transaction amount {amount!r} is not euro with 2 places")
    bank = {"iban": text("CdtrAcct", "Id", "IBAN")}
    bic = text("CdtrAgt", "FinInstnId", "BIC") or text("CdtrAgt", "FinInstnId", "BICFI")
    if bic:
        bank["bic"] = bic
    currency = parts["Amt"][0].get("Ccy", "") if "Amt" in parts and len(parts["Amt"]) else ""
    return FilePayment(
        payment_id=text("PmtId", "EndToEndId"),
        payee_id="",
        payee_name=text("Cdtr", "Nm"),
        amount_minor=minor,
        currency=currency,
        reference=text("RmtInf", "Ustrd"),
        bank=bank,
    )


def parse(data: bytes) -> list[FilePayment]:
    """The payments of a pain.001 message, for round trips (payee ids are not in the file: "")."""
    root = iso20022.read_message(data)
    if not isinstance(root, etree._Element):
        raise ValueError(root.message)
    ns = {"p": root.nsmap.get(None, "")}
    found = root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", ns)
    return [_payment_of(tx) for tx in found]
