"""SEPA credit transfers: the pain.001.001.03 and pain.001.001.09 writer, parser and checker.

Written with lxml by hand, not with python-sepaxml (MIT, checked in the stack notes): sepaxml
builds the tree with ElementTree and validates the whole message with the pure-Python
xmlschema on export, it is not a dependency of remit (it would add text-unidecode), and the
message remit writes is small (one PmtInf, a fixed set of elements). lxml is already a
dependency, and its C ``XMLSchema`` validates 100,000 transactions in well under a second
(``bench/formats_pain.py``). Every file :func:`write` returns has been validated against the
shipped XSD of its version; a payment the writer cannot put right raises ``ValueError``.

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
from typing import Any

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


class _Builder:
    """Appends the elements of one message version; the version's differences live here."""

    def __init__(self, version: str) -> None:
        if version not in FORMATS:
            raise ValueError(f"pain.001 version {version!r} is not one of {', '.join(FORMATS)}")
        self.version = version
        self.ns = f"{{{iso20022.NAMESPACE_PREFIX}{version}}}"
        self.bic_tag = "BIC" if version == "pain.001.001.03" else "BICFI"

    def add(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        node = etree.SubElement(parent, self.ns + name)
        if text is not None:
            node.text = text
        return node

    def path(self, parent: etree._Element, names: str, text: str | None = None) -> etree._Element:
        node = parent
        for name in names.split("/"):
            node = self.add(node, name)
        if text is not None:
            node.text = text
        return node

    def agent(self, parent: etree._Element, name: str, bic: str) -> None:
        institution = self.path(parent, f"{name}/FinInstnId")
        if bic:
            self.add(institution, self.bic_tag, bic)
        else:
            self.path(institution, "Othr/Id", "NOTPROVIDED")

    def execution_date(self, parent: etree._Element, day: str) -> None:
        if self.version == "pain.001.001.03":
            self.add(parent, "ReqdExctnDt", day)
        else:
            self.path(parent, "ReqdExctnDt/Dt", day)


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
    b: _Builder,
    message: etree._Element,
    payments: Sequence[FilePayment],
    originator: Mapping[str, Any],
    stamp: FileStamp,
    total: str,
) -> None:
    header = b.add(message, "GrpHdr")
    b.add(header, "MsgId", sepa_id(stamp.message_id, "MsgId"))
    b.add(header, "CreDtTm", stamp.created.replace(microsecond=0).isoformat())
    b.add(header, "NbOfTxs", str(len(payments)))
    b.add(header, "CtrlSum", total)
    party = b.add(header, "InitgPty")
    b.add(party, "Nm", _name(originator["name"], "originator name"))
    if originator.get("initiating_party_id"):
        b.path(
            party,
            "Id/OrgId/Othr/Id",
            sepa_id(originator["initiating_party_id"], "initiating_party_id"),
        )


def _transaction(b: _Builder, block: etree._Element, payment: FilePayment) -> None:
    tx = b.add(block, "CdtTrfTxInf")
    b.path(tx, "PmtId/EndToEndId", sepa_id(payment.payment_id, "EndToEndId"))
    b.path(tx, "Amt/InstdAmt", iso20022.decimal_of_minor(payment.amount_minor)).set("Ccy", CURRENCY)
    if payment.bank.get("bic"):
        b.agent(tx, "CdtrAgt", payment.bank["bic"])
    b.path(tx, "Cdtr/Nm", _name(payment.payee_name, f"payment {payment.payment_id}: payee name"))
    b.path(tx, "CdtrAcct/Id/IBAN", payment.bank["iban"])
    reference = sepa_text(payment.reference, REFERENCE_MAX)
    if reference:
        b.path(tx, "RmtInf/Ustrd", reference)


def build(payments: Sequence[FilePayment], originator: Mapping[str, Any], stamp: FileStamp,
          version: str = FORMAT) -> etree._Element:  # fmt: skip
    """The message as an lxml tree (not yet validated): one PmtInf, SEPA service level."""
    b = _Builder(version)
    if not payments:
        raise ValueError("a pain.001 message needs at least one payment")
    for payment in payments:
        _valid_payment(payment)
    total = iso20022.decimal_of_minor(sum(p.amount_minor for p in payments))
    root = etree.Element(b.ns + "Document", nsmap={None: b.ns[1:-1]})
    message = b.add(root, "CstmrCdtTrfInitn")
    _header(b, message, payments, originator, stamp, total)
    block = b.add(message, "PmtInf")
    b.add(block, "PmtInfId", sepa_id(stamp.message_id, "PmtInfId"))
    b.add(block, "PmtMtd", "TRF")
    b.add(block, "NbOfTxs", str(len(payments)))
    b.add(block, "CtrlSum", total)
    b.path(block, "PmtTpInf/SvcLvl/Cd", "SEPA")
    b.execution_date(block, stamp.value_date.isoformat())
    b.path(block, "Dbtr/Nm", _name(originator["name"], "originator name"))
    b.path(block, "DbtrAcct/Id/IBAN", originator["iban"])
    b.agent(block, "DbtrAgt", originator.get("bic") or "")
    b.add(block, "ChrgBr", "SLEV")
    for payment in payments:
        _transaction(b, block, payment)
    return root


def write(payments: Sequence[FilePayment], originator: Mapping[str, Any], stamp: FileStamp,
          version: str = FORMAT) -> bytes:  # fmt: skip
    """The pain.001 message of ``payments``, validated against the shipped XSD of ``version``."""
    root = build(payments, originator, stamp, version)
    xsd = iso20022.schema(version)
    if not xsd.validate(root):
        first = xsd.error_log[0]
        raise ValueError(f"the {version} message would not be schema-valid: {first.message}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _text(node: etree._Element, path: str) -> str:
    found = node.findtext(path, default="", namespaces={"p": node.nsmap.get(None, "")})
    return str(found or "").strip()


def parse(data: bytes) -> list[FilePayment]:
    """The payments of a pain.001 message, for round trips (payee ids are not in the file: "")."""
    root = iso20022.read_message(data)
    if not isinstance(root, etree._Element):
        raise ValueError(root.message)
    ns = {"p": root.nsmap.get(None, "")}
    payments = []
    for tx in root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:CdtTrfTxInf", ns):
        amount = tx.find("p:Amt/p:InstdAmt", ns)
        minor = iso20022.minor_of_decimal(None if amount is None else amount.text)
        if amount is None or minor is None:
            raise ValueError("a transaction has no amount in euro with 2 places")
        bank = {"iban": _text(tx, "p:CdtrAcct/p:Id/p:IBAN")}
        bic = _text(tx, "p:CdtrAgt/p:FinInstnId/p:BIC") or _text(
            tx, "p:CdtrAgt/p:FinInstnId/p:BICFI"
        )
        if bic:
            bank["bic"] = bic
        payments.append(
            FilePayment(
                payment_id=_text(tx, "p:PmtId/p:EndToEndId"),
                payee_id="",
                payee_name=_text(tx, "p:Cdtr/p:Nm"),
                amount_minor=minor,
                currency=amount.get("Ccy", ""),
                reference=_text(tx, "p:RmtInf/p:Ustrd"),
                bank=bank,
            )
        )
    return payments
