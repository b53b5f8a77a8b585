"""ISO 20022 payment initiation: the shipped XSDs and the checks pain.001 and pain.008 share.

``remit check`` needs no file outside the package: the four message schemas it validates
against live in ``formats/schemas/`` (see the NOTICE there). A message's version is read from
its namespace, never guessed from its content.

>>> version_of_namespace("urn:iso:std:iso:20022:tech:xsd:pain.008.001.02")
'pain.008.001.02'
>>> version_of_namespace("urn:example:other") is None
True
>>> decimal_of_minor(1012), decimal_of_minor(5), decimal_of_minor(100_000)
('10.12', '0.05', '1000.00')
>>> minor_of_decimal("10.12"), minor_of_decimal("7"), minor_of_decimal("0.125")
(1012, 700, None)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

import schwifty
from lxml import etree
from schwifty import exceptions as iban_errors

from remit.formats.findings import CheckReport, Finding

NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
CREDIT_TRANSFERS = ("pain.001.001.03", "pain.001.001.09")
DIRECT_DEBITS = ("pain.008.001.02", "pain.008.001.08")
VERSIONS = CREDIT_TRANSFERS + DIRECT_DEBITS
NOT_PROVIDED = "NOTPROVIDED"  # the placeholder EndToEndId: repeating it is not a duplicate
_MINOR_PLACES = 2  # SEPA amounts are euro with two places


def version_of_namespace(namespace: str | None) -> str | None:
    """The ``pain.00x.001.nn`` version a namespace names, or None for any other namespace."""
    if not namespace or not namespace.startswith(NAMESPACE_PREFIX + "pain."):
        return None
    return namespace[len(NAMESPACE_PREFIX) :]


def decimal_of_minor(amount_minor: int) -> str:
    """Integer euro cents as the decimal text ISO 20022 amounts carry (no float on the way)."""
    whole, cents = divmod(amount_minor, 10**_MINOR_PLACES)
    return f"{whole}.{cents:02d}"


def minor_of_decimal(text: str | None) -> int | None:
    """Decimal amount text as integer cents; None when it is not a number of at most 2 places."""
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    minor = value.scaleb(_MINOR_PLACES)
    return int(minor) if minor == minor.to_integral_value() else None


def schema_path(version: str) -> Traversable:
    """Where the shipped XSD of one message version is, inside the package."""
    if version not in VERSIONS:
        raise ValueError(f"no schema is shipped for {version!r}")
    return resources.files("remit.formats").joinpath("schemas", f"{version}.xsd")


@cache
def schema(version: str) -> etree.XMLSchema:
    """The shipped XSD of one message version, compiled once per process."""
    return etree.XMLSchema(etree.fromstring(schema_path(version).read_bytes()))


def safe_parser() -> etree.XMLParser:
    """A parser for files written by anyone: no entities expanded, no network, no DTD."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def read_message(data: bytes) -> etree._Element | Finding:
    """The document element of ``data``, or the ``not_xml`` finding saying why it is not XML."""
    try:
        root = etree.fromstring(data, safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        return Finding("not_xml", f"not an XML document: {exc}", line=getattr(exc, "lineno", None))
    if root is None:
        return Finding("not_xml", "not an XML document: no document element")
    return root


SCHEMA_FINDINGS_MAX = 200  # a broken file of 100,000 transactions is told its first errors


class Paths:
    """Readable xpaths (``/Document/CstmrCdtTrfInitn/PmtInf[1]/CdtTrfTxInf[3]/Amt``) in O(depth).

    The elements of long lists (blocks, transactions) are registered with their path as they
    are walked, so that naming an element never counts its thousands of siblings.
    """

    def __init__(self, root: etree._Element) -> None:
        self.known: dict[etree._Element, str] = {root: "/" + _local(root.tag)}

    def add(self, element: etree._Element, path: str) -> str:
        self.known[element] = path
        return path

    def of(self, node: etree._Element) -> str:
        steps: list[str] = []
        while node not in self.known:
            parent = node.getparent()
            if parent is None:
                return "/" + "/".join(reversed(steps))
            name = _local(node.tag)
            same = [c for c in parent if c.tag == node.tag]
            steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
            node = parent
        return "/".join([self.known[node], *reversed(steps)])


def schema_findings(root: etree._Element, version: str, paths: Paths) -> list[Finding]:
    """One ``schema`` finding per XSD error (the first 200), each with the element's xpath."""
    xsd = schema(version)
    if xsd.validate(root):
        return []
    log = list(xsd.error_log)
    found = [
        Finding("schema", f"line {e.line}: {e.message}", xpath=_error_path(root, e, paths))
        for e in log
    ]
    if len(found) > SCHEMA_FINDINGS_MAX:
        more = Finding(
            "schema", f"{len(found) - SCHEMA_FINDINGS_MAX} more schema errors not listed", xpath="/"
        )
        found = [*found[:SCHEMA_FINDINGS_MAX], more]
    return found


def _error_path(root: etree._Element, entry: object, paths: Paths) -> str:
    raw = getattr(entry, "path", None) or ""
    try:
        nodes = root.getroottree().xpath(raw) if raw else []
    except etree.XPathError:
        nodes = []
    node = nodes[0] if isinstance(nodes, list) and nodes else None
    return paths.of(node) if isinstance(node, etree._Element) else (raw or "/")


@dataclass(frozen=True)
class Transaction:
    """One transfer or collection as a checker sees it: where it is and what it carries."""

    xpath: str
    end_to_end_id: str
    amount_text: str
    currency: str


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in element if _local(child.tag) == name)


def child_text(element: etree._Element, *path: str) -> str | None:
    """The stripped text at a path of child names (any namespace), or None when absent."""
    node: etree._Element | None = element
    for name in path:
        node = next(_children(node, name), None) if node is not None else None
    return None if node is None else (node.text or "").strip()


def transactions_of(block: etree._Element, paths: Paths) -> list[Transaction]:
    """The transactions of one PmtInf block (credit transfers or direct debits)."""
    found: list[Transaction] = []
    block_path = paths.of(block)
    for tx in block:
        name = _local(tx.tag)
        if name == "CdtTrfTxInf":
            amount = next((a for a in tx.iter("{*}InstdAmt")), None)
        elif name == "DrctDbtTxInf":
            amount = next(_children(tx, "InstdAmt"), None)
        else:
            continue
        found.append(
            Transaction(
                xpath=paths.add(tx, f"{block_path}/{name}[{len(found) + 1}]"),
                end_to_end_id=child_text(tx, "PmtId", "EndToEndId") or "",
                amount_text="" if amount is None else (amount.text or ""),
                currency="" if amount is None else amount.get("Ccy", ""),
            )
        )
    return found


def _amount_findings(txs: Iterable[Transaction]) -> tuple[list[Finding], int]:
    errors, total = [], 0
    for tx in txs:
        minor = minor_of_decimal(tx.amount_text)
        if minor is None:
            errors.append(
                Finding(
                    "amount_format",
                    f"amount {tx.amount_text!r} is not euro with 2 places",
                    xpath=tx.xpath,
                )
            )
        elif minor <= 0:
            errors.append(
                Finding(
                    "amount_not_positive",
                    f"amount {tx.amount_text} is not above zero",
                    xpath=tx.xpath,
                )
            )
        else:
            total += minor
        if tx.currency and tx.currency != "EUR":
            errors.append(
                Finding("currency", f"currency {tx.currency} is not EUR (SEPA)", xpath=tx.xpath)
            )
    return errors, total


def _sum_text(txs: Iterable[Transaction]) -> Decimal:
    total = Decimal(0)
    for tx in txs:
        try:
            total += Decimal(tx.amount_text.strip())
        except InvalidOperation:
            continue
    return total


def control_findings(
    holder: etree._Element, paths: Paths, txs: list[Transaction], nb_path: tuple[str, ...]
) -> list[Finding]:
    """``nb_of_txs`` and ``ctrl_sum`` findings for one level (the group header or a PmtInf)."""
    parent = holder
    for name in nb_path:
        parent = next(_children(parent, name), parent)
    where = paths.of(parent)
    found = []
    stated = child_text(parent, "NbOfTxs")
    if stated is not None and stated != str(len(txs)):
        found.append(
            Finding(
                "nb_of_txs",
                f"NbOfTxs says {stated} but there are {len(txs)} transactions",
                xpath=where,
            )
        )
    ctrl = child_text(parent, "CtrlSum")
    if ctrl is not None:
        actual = _sum_text(txs)
        try:
            agrees = Decimal(ctrl) == actual
        except InvalidOperation:
            agrees = False
        if not agrees:
            found.append(
                Finding(
                    "ctrl_sum",
                    f"CtrlSum says {ctrl} but the transactions sum to {actual}",
                    xpath=where,
                )
            )
    return found


_IBAN_CODES: tuple[tuple[type[Exception], str], ...] = (
    (iban_errors.InvalidChecksumDigits, "iban_check_digits"),
    (iban_errors.InvalidBBANChecksum, "iban_national_check"),
)


@cache
def iban_problem(iban: str) -> tuple[str, str] | None:
    """``(code, message)`` when an IBAN fails its mod-97 check digits or its national checks.

    >>> iban_problem("NL50BANK1234567890")[0]
    'iban_check_digits'
    >>> iban_problem("NL41BANK1234567890") is None
    True
    """
    try:
        schwifty.IBAN(iban, validate_bban=True)
    except iban_errors.SchwiftyException as exc:
        code = next((c for kind, c in _IBAN_CODES if isinstance(exc, kind)), "iban_format")
        return code, f"IBAN {iban}: {exc}"
    return None


@cache
def bic_problem(bic: str) -> str | None:
    """Why a BIC is malformed (8 or 11 characters, a known country), or None.

    >>> bic_problem("BANKNL2A") is None
    True
    >>> bic_problem("BANK1")
    "BIC 'BANK1': Invalid length '5'"
    """
    try:
        schwifty.BIC(bic)
    except iban_errors.SchwiftyException as exc:
        return f"BIC {bic!r}: {exc}"
    return None


def account_findings(root: etree._Element, paths: Paths) -> list[Finding]:
    """IBAN check digits and national checks, and BIC formats, wherever they appear."""
    found = []
    for node in root.iter("{*}IBAN"):
        problem = iban_problem((node.text or "").strip())
        if problem:
            found.append(Finding(problem[0], problem[1], xpath=paths.of(node)))
    for tag in ("{*}BIC", "{*}BICFI"):
        for node in root.iter(tag):
            message = bic_problem((node.text or "").strip())
            if message:
                found.append(Finding("bic_format", message, xpath=paths.of(node)))
    return found


def duplicate_findings(txs: Iterable[Transaction]) -> list[Finding]:
    """A warning for each transaction that repeats an earlier EndToEndId (NOTPROVIDED aside)."""
    seen: Counter[str] = Counter()
    found = []
    for tx in txs:
        seen[tx.end_to_end_id] += 1
        if seen[tx.end_to_end_id] == 2 and tx.end_to_end_id not in ("", NOT_PROVIDED):
            found.append(
                Finding(
                    "duplicate_end_to_end_id",
                    f"EndToEndId {tx.end_to_end_id} is repeated",
                    xpath=tx.xpath,
                )
            )
    return found


def check_message(data: bytes) -> CheckReport:
    """Check a pain.001 or pain.008 message written by anyone. Never raises.

    >>> check_message(b"not xml").as_json()["errors"][0]["code"]
    'not_xml'
    >>> check_message(b"<a/>").errors[0].code
    'unknown_message'
    """
    try:
        return _check(data)
    except Exception as exc:  # noqa: BLE001 - a checker reports; it never crashes on a stranger's file
        return CheckReport(
            "iso20022",
            errors=(Finding("unreadable", f"could not be checked: {exc}"),),
            details={"unreadable": True},
        )


def _check(data: bytes) -> CheckReport:
    root = read_message(data)
    if isinstance(root, Finding):
        return CheckReport("iso20022", errors=(root,), details={"unreadable": True})
    version = version_of_namespace(etree.QName(root).namespace)
    if version not in VERSIONS:
        named = version or etree.QName(root).namespace or "no namespace"
        return CheckReport(
            version or "iso20022",
            errors=(
                Finding(
                    "unknown_message",
                    f"not a pain.001/pain.008 version remit checks: {named}",
                    xpath="/*",
                ),
            ),
        )
    if root.getroottree().docinfo.doctype:
        doctype = Finding("doctype", "a payment message carries no DTD (entities not expanded)")
        return CheckReport(version, errors=(doctype,))
    paths = Paths(root)
    message = next(iter(root), root)
    blocks = list(_children(message, "PmtInf"))
    for number, block in enumerate(blocks, start=1):
        paths.add(block, f"{paths.of(message)}/PmtInf[{number}]")
    per_block = [transactions_of(block, paths) for block in blocks]
    txs = [tx for block_txs in per_block for tx in block_txs]
    errors = schema_findings(root, version, paths)
    errors += control_findings(message, paths, txs, ("GrpHdr",))
    for block, block_txs in zip(blocks, per_block, strict=True):
        errors += control_findings(block, paths, block_txs, ())
    amount_errors, total = _amount_findings(txs)
    errors += amount_errors + account_findings(root, paths)
    credit = version in CREDIT_TRANSFERS
    return CheckReport(
        version,
        errors=tuple(errors),
        warnings=tuple(duplicate_findings(txs)),
        entries=len(txs),
        credit_minor=total if credit else 0,
        debit_minor=0 if credit else total,
    )
