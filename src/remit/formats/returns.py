r"""The banks' feedback on payments, read into one shape: :class:`ReturnNotice`.

Four kinds of file tell remit what became of a payment after the bank file left:

- ``nacha``: a NACHA return file; each entry carries an addenda 99 (a return, an R-code) or
  98 (a notification of change, a C-code with the corrected bank details);
- ``bacs-returns``: returned BACS credits, the ARUCS report as CSV
  ``sort_code,account_number,amount_minor,reference,reason_code``;
- ``pain.002``: an ISO 20022 payment status report, ``pain.002.001.03`` or ``.10``;
- ``confirmations``: a payer's confirmation feed, CSV ``reference,payment_date,
  payment_number,amount_minor,currency,status``.

Each notice's ``reference`` is what matches a payment remit wrote: the NACHA individual
identification number (remit writes the payment reference there), the BACS reference, the
ISO end-to-end id (or the instruction id, or for a whole rejected message its message id),
or the payer's reference. Reading is all or nothing: a file with any problem gives no
notices, and every problem names its physical line (CSV: the header is line 1) or xpath and
its field. Pure: bytes in, dataclasses out; matching notices to payments is the caller's.
The formats and examples: ``docs/formats/payments-returns.md``.

>>> rows = b"sort_code,account_number,amount_minor,reference,reason_code\n"
>>> read = read_feedback(rows + b"20-00-00,55779911,12500,SB-1,B\n")
>>> read.format, [(n.kind, n.reference, n.amount_minor, n.reason) for n in read.notices]
('bacs-returns', [('return', 'SB-1', 12500, 'account closed')])
>>> bad = read_feedback(rows + b"20-00-00,5577991,0,SB-1,Z\n")
>>> bad.notices, [(p.line, p.field) for p in bad.problems]
((), [(2, 'account_number'), (2, 'amount_minor'), (2, 'reason_code')])
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from remit.formats import nacha
from remit.formats.iso20022 import NAMESPACE_PREFIX, Paths, read_message
from remit.formats.nacha_check import split_records
from remit.formats.offline import bacs_account_message, sort_code, sort_code_message
from remit.money import CURRENCY_EXPONENTS
from remit.text import DATE_MAX, DATE_MIN, control_position

REFERENCE_MAX = 35  # ISO 20022 Max35Text, the longest reference any of the four carries
AMOUNT_MAX = 10**13  # minor units: above any one payment the writers allow
KINDS = ("nacha", "bacs-returns", "pain.002", "confirmations")
PAIN002_VERSIONS = ("pain.002.001.03", "pain.002.001.10")
BACS_COLUMNS = ("sort_code", "account_number", "amount_minor", "reference", "reason_code")
CONFIRMATION_COLUMNS = (
    "reference",
    "payment_date",
    "payment_number",
    "amount_minor",
    "currency",
    "status",
)
CONFIRMATION_STATUSES = ("paid", "failed", "cancelled")
_DIGITS = re.compile(r"[0-9]+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# --- the code tables ----------------------------------------------------------------------

# NACHA return reason codes (addenda 99), in plain words. Source: the NACHA Operating Rules,
# Appendix Four (Return Entries), as summarised by moov-io's docs/returns.md (in
# shared/testdata) and the public ACH return-code lists; the wording here is remit's own.
NACHA_RETURN_REASONS: Mapping[str, str] = {
    "R01": "insufficient funds",
    "R02": "account closed",
    "R03": "no account or unable to locate the account",
    "R04": "invalid account number",
    "R05": "unauthorised debit to a consumer account",
    "R06": "returned at the originating bank's request",
    "R07": "authorisation revoked by the customer",
    "R08": "payment stopped",
    "R09": "uncollected funds",
    "R10": "customer says the originator is not known or not authorised",
    "R11": "customer says the entry is not as authorised",
    "R12": "account at a branch sold to another bank",
    "R13": "receiving bank not qualified to take the entry",
    "R14": "representative payee deceased or unable to continue",
    "R15": "beneficiary or account holder deceased",
    "R16": "account frozen",
    "R17": "file record edit criteria: a field was rejected",
    "R18": "improper effective entry date",
    "R19": "amount field error",
    "R20": "non-transaction account",
    "R21": "invalid company identification",
    "R22": "invalid individual identification number",
    "R23": "credit entry refused by the receiver",
    "R24": "duplicate entry",
    "R25": "addenda error",
    "R26": "mandatory field error",
    "R27": "trace number error",
    "R28": "routing number check digit error",
    "R29": "corporate customer says the entry is not authorised",
    "R30": "receiving bank not in the check truncation programme",
    "R31": "permissible return entry (CCD and CTX)",
    "R32": "receiving bank cannot settle",
    "R33": "return of an XCK entry",
    "R34": "receiving bank's participation limited",
    "R35": "return of an improper debit entry",
    "R36": "return of an improper credit entry",
    "R37": "source document presented for payment",
    "R38": "stop payment on the source document",
    "R39": "improper source document",
    "R61": "misrouted return",
    "R62": "return of an erroneous or reversing debit",
    "R67": "duplicate return",
    "R68": "untimely return",
    "R69": "field errors in the return",
    "R70": "permissible return entry not accepted or not requested",
    "R71": "misrouted dishonoured return",
    "R72": "untimely dishonoured return",
    "R73": "timely original return",
    "R74": "corrected return",
    "R75": "return not a duplicate",
    "R76": "no errors found",
    "R77": "non-acceptance of an R62 dishonoured return",
}

# NACHA change codes (addenda 98). Source: the NACHA Operating Rules, Appendix Five
# (Notification of Change), with the layout of the 29-character corrected data field.
NACHA_CHANGE_REASONS: Mapping[str, str] = {
    "C01": "incorrect account number",
    "C02": "incorrect routing number",
    "C03": "incorrect routing number and account number",
    "C04": "incorrect individual or receiving company name",
    "C05": "incorrect transaction code (account type)",
    "C06": "incorrect account number and transaction code",
    "C07": "incorrect routing number, account number and transaction code",
    "C08": "incorrect receiving bank identification (IAT)",
    "C09": "incorrect individual identification number",
    "C10": "incorrect company name",
    "C11": "incorrect company identification",
    "C12": "incorrect company name and company identification",
    "C13": "addenda format error",
    "C14": "incorrect SEC code for an outbound international payment",
}

# Where each part of the corrected data sits (0-based slices of the 29 characters).
_CORRECTED_LAYOUT: Mapping[str, tuple[tuple[str, int, int], ...]] = {
    "C01": (("account_number", 0, 17),),
    "C02": (("routing_number", 0, 9),),
    "C03": (("routing_number", 0, 9), ("account_number", 12, 29)),
    "C04": (("name", 0, 22),),
    "C05": (("transaction_code", 0, 2),),
    "C06": (("account_number", 0, 17), ("transaction_code", 20, 22)),
    "C07": (("routing_number", 0, 9), ("account_number", 9, 26), ("transaction_code", 26, 28)),
    "C09": (("individual_id", 0, 22),),
    "C10": (("company_name", 0, 16),),
    "C11": (("company_id", 0, 10),),
    "C12": (("company_name", 0, 16), ("company_id", 20, 30)),
}
_ACCOUNT_TYPE_OF_CODE = {
    **dict.fromkeys(("22", "23", "24", "27", "28", "29"), "checking"),
    **dict.fromkeys(("32", "33", "34", "37", "38", "39"), "savings"),
}

# BACS ARUCS (Automated Return of Unapplied Credits Service) reason codes. Source: the ARUCS
# report descriptions published by Bacs-approved bureaux (PT-X "What is an ARUCS report",
# Access PaySuite "ARUCS report"): six codes. ARUDD's direct-debit codes are not ARUCS's.
BACS_RETURN_REASONS: Mapping[str, str] = {
    "0": "invalid details: refer to payee",
    "2": "beneficiary deceased",
    "3": "account transferred to another bank or building society",
    "5": "no account",
    "B": "account closed",
    "C": "requested by the remitter",
}

# ISO 20022 external status reason codes (ExternalStatusReason1Code) met in pain.002.
# Source: the ISO 20022 External Code Sets list; other codes are read, named as such.
ISO_STATUS_REASONS: Mapping[str, str] = {
    "AC01": "incorrect account number",
    "AC02": "invalid debtor account number",
    "AC03": "invalid creditor account number",
    "AC04": "account closed",
    "AC05": "debtor account closed",
    "AC06": "account blocked",
    "AC13": "invalid debtor account type",
    "AC14": "invalid creditor account type",
    "AG01": "transaction forbidden on this account",
    "AG02": "invalid bank operation code",
    "AM01": "zero amount",
    "AM02": "amount not allowed",
    "AM03": "currency not allowed",
    "AM04": "insufficient funds",
    "AM05": "duplicate payment",
    "AM09": "wrong amount",
    "BE01": "inconsistent with the end customer",
    "BE04": "missing creditor address",
    "BE05": "unrecognised initiating party",
    "BE06": "unknown end customer",
    "CNOR": "creditor bank not registered",
    "CUST": "requested by the customer",
    "DNOR": "debtor bank not registered",
    "DT01": "invalid date",
    "DUPL": "duplicate payment",
    "ED05": "settlement failed",
    "FF01": "invalid file format",
    "FOCR": "following a cancellation request",
    "MD01": "no mandate",
    "MD07": "end customer deceased",
    "MS02": "reason not specified, from the customer",
    "MS03": "reason not specified, from the bank",
    "NARR": "see the additional information",
    "RC01": "bank identifier incorrect",
    "RR01": "missing debtor account or identification",
    "RR02": "missing debtor name or address",
    "RR03": "missing creditor name or address",
    "RR04": "regulatory reason",
    "TM01": "received after the cut-off time",
}

# pain.002 transaction (and group) statuses: ExternalPaymentTransactionStatus1Code.
PAIN002_STATUS_KINDS: Mapping[str, str] = {
    "ACSC": "paid",  # settlement completed: the debtor's account debited
    "ACCC": "paid",  # settlement on the creditor's account completed
    "ACCP": "accepted",  # customer profile checked
    "ACSP": "accepted",  # settlement in process
    "ACTC": "accepted",  # technical validation passed
    "ACWC": "accepted",  # accepted with change
    "ACWP": "accepted",  # accepted without posting
    "ACFC": "accepted",  # funds checked
    "RCVD": "accepted",  # received, not yet checked
    "PDNG": "accepted",  # pending: kept as accepted, the status in raw
    "PART": "accepted",  # some transactions accepted (group level)
    "RJCT": "rejected",
    "CANC": "cancelled",
}
STATUS_WORDS: Mapping[str, str] = {
    "ACSC": "settlement completed",
    "ACCC": "settled on the creditor's account",
    "ACCP": "accepted after the customer profile check",
    "ACSP": "accepted, settlement in process",
    "ACTC": "accepted after the technical validation",
    "ACWC": "accepted with change",
    "ACWP": "accepted without posting",
    "ACFC": "accepted, funds checked",
    "RCVD": "received",
    "PDNG": "pending",
    "PART": "partly accepted",
    "RJCT": "rejected",
    "CANC": "cancelled",
}


# --- the result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnNotice:
    """What the bank said about one payment (or one whole message, when it rejects it)."""

    kind: str  # return | notification_of_change | rejected | accepted | paid | failed | cancelled
    reference: str
    amount_minor: int | None
    currency: str | None
    reason_code: str
    reason: str
    corrected: dict[str, str] = field(default_factory=dict)
    payment_date: date | None = None
    line: int | None = None
    xpath: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "corrected": dict(self.corrected),
            "payment_date": self.payment_date.isoformat() if self.payment_date else None,
            "line": self.line,
            "xpath": self.xpath,
            "raw": dict(self.raw),
        }


@dataclass(frozen=True)
class FeedbackProblem:
    """One thing wrong in a feedback file: where (line or xpath), which field, and why."""

    field: str
    code: str
    message: str
    line: int | None = None
    xpath: str | None = None

    def as_json(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.line is not None:
            where["line"] = self.line
        if self.xpath is not None:
            where["xpath"] = self.xpath
        return {**where, "field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class FeedbackFile:
    """A whole file read: its format, its notices, or (never both) its problems."""

    format: str | None
    notices: tuple[ReturnNotice, ...] = ()
    problems: tuple[FeedbackProblem, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "notices": [n.as_json() for n in self.notices],
            "problems": [p.as_json() for p in self.problems],
        }


def _result(
    fmt: str | None, notices: Sequence[ReturnNotice], problems: Sequence[FeedbackProblem]
) -> FeedbackFile:
    """All or nothing: problems drop every notice."""
    if problems:
        return FeedbackFile(fmt, (), tuple(problems))
    return FeedbackFile(fmt, tuple(notices), ())


# --- shared checks --------------------------------------------------------------------------


def _reference_problem(value: str, name: str, **where: Any) -> FeedbackProblem | None:
    if not value:
        return FeedbackProblem(name, "required", "is required", **where)
    if len(value) > REFERENCE_MAX:
        message = f"at most {REFERENCE_MAX} characters ({len(value)} given)"
        return FeedbackProblem(name, "length", message, **where)
    position = control_position(value)
    if position is not None:
        message = (
            f"control character U+{ord(value[position]):04X} at position {position + 1} "
            "is not allowed"
        )
        return FeedbackProblem(name, "control_character", message, **where)
    return None


def _amount(value: str, name: str, **where: Any) -> tuple[int | None, FeedbackProblem | None]:
    if not _DIGITS.fullmatch(value) or int(value) == 0:
        message = f"a positive whole number of minor units ({value[:40]!r} given)"
        return None, FeedbackProblem(name, "amount", message, **where)
    if int(value) > AMOUNT_MAX:
        return None, FeedbackProblem(name, "amount_bound", f"at most {AMOUNT_MAX:,}", **where)
    return int(value), None


def _iso_date(value: str, name: str, **where: Any) -> tuple[date | None, FeedbackProblem | None]:
    try:
        day = date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        message = f"a date YYYY-MM-DD in the calendar ({value[:40]!r} given)"
        return None, FeedbackProblem(name, "date", message, **where)
    if not DATE_MIN <= day <= DATE_MAX:
        message = f"{value} is outside {DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}"
        return None, FeedbackProblem(name, "date_range", message, **where)
    return day, None


# --- CSV ------------------------------------------------------------------------------------


def _csv_rows(
    data: bytes, columns: Sequence[str]
) -> tuple[list[tuple[int, dict[str, str]]], list[FeedbackProblem]]:
    """Each record's ``columns`` (stripped) with its physical line, or the file's problems
    (not UTF-8 CSV, a column missing from the header, no records)."""
    try:
        text = data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            need = ",".join(columns)
            return [], [
                FeedbackProblem(
                    c, "missing_column", f"missing column (the header needs {need})", line=1
                )
                for c in missing
            ]
        index = {c: header.index(c) for c in columns}
        rows, line = [], 2
        for values in reader:
            if any(v.strip() for v in values):
                padded = values + [""] * (len(header) - len(values))
                rows.append((line, {c: padded[i].strip() for c, i in index.items()}))
            line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        return [], [FeedbackProblem("file", "encoding", f"not UTF-8 text: {exc}")]
    except csv.Error as exc:
        return [], [FeedbackProblem("file", "csv", f"not CSV: {exc}")]
    if not rows:
        return [], [FeedbackProblem("file", "empty", "no rows under the header", line=1)]
    return rows, []


def read_bacs_returns(data: bytes) -> FeedbackFile:
    """Returned BACS credits (ARUCS as CSV): every row a ``return`` in GBP."""
    fmt = "bacs-returns"
    rows, problems = _csv_rows(data, BACS_COLUMNS)
    notices = []
    for line, row in rows:
        found: list[FeedbackProblem | None] = []
        if message := sort_code_message(row["sort_code"]):
            found.append(FeedbackProblem("sort_code", "sort_code", message, line=line))
        if message := bacs_account_message(row["account_number"]):
            found.append(FeedbackProblem("account_number", "account_number", message, line=line))
        amount, bad = _amount(row["amount_minor"], "amount_minor", line=line)
        found += [bad, _reference_problem(row["reference"], "reference", line=line)]
        code = row["reason_code"].upper()
        if code not in BACS_RETURN_REASONS:
            known = ", ".join(BACS_RETURN_REASONS)
            message = f"{row['reason_code'][:10]!r} is not an ARUCS reason code ({known})"
            found.append(FeedbackProblem("reason_code", "reason_code", message, line=line))
        real = [p for p in found if p]
        problems += real
        if real or amount is None:
            continue
        notices.append(
            ReturnNotice(
                kind="return",
                reference=row["reference"],
                amount_minor=amount,
                currency="GBP",
                reason_code=code,
                reason=BACS_RETURN_REASONS[code],
                line=line,
                raw={
                    "sort_code": sort_code(row["sort_code"]),
                    "account_number": row["account_number"],
                },
            )
        )
    return _result(fmt, notices, problems)


def read_confirmations(data: bytes) -> FeedbackFile:
    """A payer's confirmation feed: each row ``paid``, ``failed`` or ``cancelled``."""
    fmt = "confirmations"
    rows, problems = _csv_rows(data, CONFIRMATION_COLUMNS)
    notices = []
    for line, row in rows:
        found: list[FeedbackProblem | None] = [
            _reference_problem(row["reference"], "reference", line=line),
            _reference_problem(row["payment_number"], "payment_number", line=line),
        ]
        day, bad_day = _iso_date(row["payment_date"], "payment_date", line=line)
        amount, bad_amount = _amount(row["amount_minor"], "amount_minor", line=line)
        found += [bad_day, bad_amount]
        currency = row["currency"]
        if currency not in CURRENCY_EXPONENTS:
            message = f"an ISO 4217 currency code in capitals ({currency[:10]!r} given)"
            found.append(FeedbackProblem("currency", "currency", message, line=line))
        status = row["status"].lower()
        if status not in CONFIRMATION_STATUSES:
            message = f"one of {'|'.join(CONFIRMATION_STATUSES)} ({row['status'][:20]!r} given)"
            found.append(FeedbackProblem("status", "status", message, line=line))
        real = [p for p in found if p]
        problems += real
        if real:
            continue
        notices.append(
            ReturnNotice(
                kind=status,
                reference=row["reference"],
                amount_minor=amount,
                currency=currency,
                reason_code="",
                reason="",
                payment_date=day,
                line=line,
                raw={"payment_number": row["payment_number"]},
            )
        )
    return _result(fmt, notices, problems)


# --- NACHA ----------------------------------------------------------------------------------


def _nacha_pairs(data: bytes) -> Iterator[tuple[int, int, str]]:
    """Each 799/798 addenda's line, its entry's line and the entry, in ``nacha.returns``'s
    order (an addenda counts once an entry has been seen)."""
    entry, entry_line = "", 0
    for number, rec in enumerate(split_records(data), start=1):
        if rec[:1] == "6":
            entry, entry_line = rec, number
        elif rec[:3] in ("799", "798") and entry:
            yield number, entry_line, entry


def _corrected(code: str, data: str) -> dict[str, str]:
    """The corrected bank details of a notification of change, by name."""
    parts = {
        name: data[start:end].strip()
        for name, start, end in _CORRECTED_LAYOUT.get(code, ())
        if data[start:end].strip()
    }
    tx = parts.get("transaction_code")
    if tx in _ACCOUNT_TYPE_OF_CODE:
        parts["account_type"] = _ACCOUNT_TYPE_OF_CODE[tx]
    if not parts and data.strip():
        parts["corrected_data"] = data.strip()
    return parts


def _nacha_notice(
    row: Mapping[str, Any], line: int, entry_line: int, entry: str
) -> tuple[ReturnNotice | None, list[FeedbackProblem]]:
    problems = []
    change = row["kind"] == "change"
    table = NACHA_CHANGE_REASONS if change else NACHA_RETURN_REASONS
    code = str(row["code"])
    if code not in table:
        what = (
            "change (C-) code of an addenda 98" if change else "return (R-) code of an addenda 99"
        )
        message = f"{code!r} is not a NACHA {what}"
        problems.append(FeedbackProblem("reason_code", "reason_code", message, line=line))
    if len(entry) < 79:
        message = f"the entry is {len(entry)} characters; NACHA records are 94"
        problems.append(FeedbackProblem("entry", "record_length", message, line=entry_line))
    amount_text = entry[29:39]
    if not _DIGITS.fullmatch(amount_text):
        message = f"the amount (positions 30-39) is not 10 digits ({amount_text!r})"
        problems.append(FeedbackProblem("amount", "amount", message, line=entry_line))
    reference = entry[39:54].strip() or str(row["original_trace"])
    bad = _reference_problem(reference, "individual_id", line=entry_line)
    if bad:
        problems.append(bad)
    if problems:
        return None, problems
    raw = {k: v for k, v in row.items() if k not in ("kind", "code")}
    raw["entry_line"] = entry_line
    amount = int(amount_text)
    return (
        ReturnNotice(
            kind="notification_of_change" if change else "return",
            reference=reference,
            amount_minor=None if change and amount == 0 else amount,
            currency="USD",
            reason_code=code,
            reason=table[code],
            corrected=_corrected(code, str(row.get("corrected_data", ""))) if change else {},
            line=line,
            raw=raw,
        ),
        [],
    )


def read_nacha_returns(data: bytes) -> FeedbackFile:
    """The returns (99) and notifications of change (98) of a NACHA return file, each on the
    line of its addenda; the reference is the returned entry's individual identification
    number (or, when blank, the original trace number)."""
    fmt = "nacha"
    rows = nacha.returns(data)
    pairs = list(_nacha_pairs(data))
    if not rows:
        message = "no return (addenda 99) or notification of change (addenda 98) entries"
        return _result(fmt, [], [FeedbackProblem("file", "no_returns", message, line=1)])
    notices, problems = [], []
    for row, (line, entry_line, entry) in zip(rows, pairs, strict=True):
        notice, found = _nacha_notice(row, line, entry_line, entry)
        problems += found
        if notice:
            notices.append(notice)
    return _result(fmt, notices, problems)


# --- pain.002 -------------------------------------------------------------------------------


class _Xml:
    """Namespaced lookups in one pain.002 message, and readable xpaths for what is found."""

    def __init__(self, root: etree._Element, namespace: str) -> None:
        self.ns = {"p": namespace}
        self.paths = Paths(root)

    def one(self, node: etree._Element, path: str) -> etree._Element | None:
        steps = "/".join(f"p:{step}" for step in path.split("/"))
        return node.find(steps, self.ns)

    def all(self, node: etree._Element, name: str) -> list[etree._Element]:
        return list(node.findall(f"p:{name}", self.ns))

    def text(self, node: etree._Element, path: str) -> str:
        found = self.one(node, path)
        return (found.text or "").strip() if found is not None else ""

    def where(self, node: etree._Element, path: str = "") -> str:
        base = self.paths.of(node)
        return f"{base}/{path}" if path else base


def _reason(xml: _Xml, node: etree._Element) -> tuple[str, str, list[str]]:
    """The first status reason's code, its words, and any additional information."""
    info = xml.one(node, "StsRsnInf")
    if info is None:
        return "", "", []
    code = xml.text(info, "Rsn/Cd") or xml.text(info, "Rsn/Prtry")
    extra = [(e.text or "").strip() for e in xml.all(info, "AddtlInf") if (e.text or "").strip()]
    words = ISO_STATUS_REASONS.get(code, f"ISO 20022 status reason {code}" if code else "")
    return code, words, extra


def _status_problem(
    xml: _Xml, node: etree._Element, name: str, status: str
) -> FeedbackProblem | None:
    if status in PAIN002_STATUS_KINDS:
        return None
    message = f"{status[:10]!r} is not a payment status ({', '.join(PAIN002_STATUS_KINDS)})"
    return FeedbackProblem(name, "status", message, xpath=xml.where(node, name))


def _tx_amount(
    xml: _Xml, tx: etree._Element
) -> tuple[int | None, str | None, list[FeedbackProblem]]:
    amount = xml.one(tx, "OrgnlTxRef/Amt/InstdAmt")
    if amount is None:
        return None, None, []
    where = xml.where(amount)
    currency = amount.get("Ccy", "")
    places = CURRENCY_EXPONENTS.get(currency)
    if places is None:
        message = f"Ccy {currency[:10]!r} is not an ISO 4217 currency"
        return None, None, [FeedbackProblem("InstdAmt", "currency", message, xpath=where)]
    text = (amount.text or "").strip()
    try:
        minor = Decimal(text).scaleb(places)
    except InvalidOperation:
        minor = Decimal(-1)
    if not minor.is_finite() or minor <= 0 or minor != minor.to_integral_value():
        message = f"a positive amount of at most {places} decimal places ({text[:30]!r} given)"
        return None, None, [FeedbackProblem("InstdAmt", "amount", message, xpath=where)]
    if minor > AMOUNT_MAX:
        message = f"at most {AMOUNT_MAX:,} minor units"
        return None, None, [FeedbackProblem("InstdAmt", "amount_bound", message, xpath=where)]
    return int(minor), currency, []


def _tx_date(xml: _Xml, tx: etree._Element) -> tuple[date | None, list[FeedbackProblem]]:
    node = xml.one(tx, "OrgnlTxRef/ReqdExctnDt")
    if node is None:
        return None, []
    inner = xml.one(node, "Dt")  # .10 wraps the date in a choice of Dt or DtTm
    if inner is None:
        inner = xml.one(node, "DtTm")
    source = inner if inner is not None else node
    text = (source.text or "").strip()[:10]
    day, bad = _iso_date(text, "ReqdExctnDt", xpath=xml.where(source))
    return day, [bad] if bad else []


def _tx_notice(
    xml: _Xml, tx: etree._Element, inherited: str, message_id: str, block_id: str
) -> tuple[ReturnNotice | None, list[FeedbackProblem]]:
    problems: list[FeedbackProblem] = []
    end_to_end = xml.text(tx, "OrgnlEndToEndId")
    instruction = xml.text(tx, "OrgnlInstrId")
    matched_by = "OrgnlEndToEndId"
    reference = end_to_end
    if not end_to_end or end_to_end == "NOTPROVIDED":
        reference, matched_by = instruction, "OrgnlInstrId"
    if not reference:
        message = "OrgnlEndToEndId (or OrgnlInstrId) is required to match the payment"
        problems.append(
            FeedbackProblem("OrgnlEndToEndId", "required", message, xpath=xml.where(tx))
        )
    else:
        bad = _reference_problem(reference, matched_by, xpath=xml.where(tx, matched_by))
        if bad:
            problems.append(bad)
    status = xml.text(tx, "TxSts") or inherited
    if not status:
        message = "no TxSts, and no payment information or group status to take it from"
        problems.append(FeedbackProblem("TxSts", "required", message, xpath=xml.where(tx)))
    elif bad_status := _status_problem(xml, tx, "TxSts", status):
        problems.append(bad_status)
    amount, currency, bad_amount = _tx_amount(xml, tx)
    day, bad_day = _tx_date(xml, tx)
    problems += bad_amount + bad_day
    if problems:
        return None, problems
    code, words, extra = _reason(xml, tx)
    raw: dict[str, Any] = {
        "status": status,
        "original_message_id": message_id,
        "original_payment_information_id": block_id,
        "original_instruction_id": instruction,
        "original_end_to_end_id": end_to_end,
    }
    if extra:
        raw["additional_information"] = extra
    return (
        ReturnNotice(
            kind=PAIN002_STATUS_KINDS[status],
            reference=reference,
            amount_minor=amount,
            currency=currency,
            reason_code=code,
            reason=words or STATUS_WORDS[status],
            payment_date=day,
            xpath=xml.where(tx),
            raw=raw,
        ),
        [],
    )


def _whole_notice(
    xml: _Xml,
    node: etree._Element,
    status_name: str,
    status: str,
    reference: str,
    raw: dict[str, Any],
) -> ReturnNotice:
    """A notice for a whole message or payment information block."""
    code, words, extra = _reason(xml, node)
    if extra:
        raw = {**raw, "additional_information": extra}
    return ReturnNotice(
        kind=PAIN002_STATUS_KINDS[status],
        reference=reference,
        amount_minor=None,
        currency=None,
        reason_code=code,
        reason=words or STATUS_WORDS[status],
        xpath=xml.where(node, status_name),
        raw={"status": status, **raw},
    )


def _block_notices(
    xml: _Xml, block: etree._Element, group_status: str, message_id: str
) -> tuple[list[ReturnNotice], list[FeedbackProblem]]:
    """One payment information block's notices: its transactions', or its own status's."""
    block_id = xml.text(block, "OrgnlPmtInfId")
    block_status = xml.text(block, "PmtInfSts")
    if block_status and (bad := _status_problem(xml, block, "PmtInfSts", block_status)):
        return [], [bad]
    notices: list[ReturnNotice] = []
    problems: list[FeedbackProblem] = []
    transactions = xml.all(block, "TxInfAndSts")
    for tx in transactions:
        notice, found = _tx_notice(xml, tx, block_status or group_status, message_id, block_id)
        problems += found
        if notice:
            notices.append(notice)
    if not transactions and block_status:
        where = xml.where(block, "OrgnlPmtInfId")
        if bad := _reference_problem(block_id, "OrgnlPmtInfId", xpath=where):
            return [], [bad]
        raw = {"original_message_id": message_id, "level": "payment_information"}
        notices.append(_whole_notice(xml, block, "PmtInfSts", block_status, block_id, raw))
    return notices, problems


def read_pain002(data: bytes) -> FeedbackFile:
    """A pain.002.001.03 or .10 status report: a notice per transaction status, one for a
    payment information block's status given without transactions, and one per message
    whose group status is RJCT (every transaction of it rejected; reference = its id)."""
    root = read_message(data)
    if not isinstance(root, etree._Element):
        return _result(None, [], [FeedbackProblem("file", root.code, root.message, line=root.line)])
    namespace = etree.QName(root).namespace or ""
    version = namespace[len(NAMESPACE_PREFIX) :] if namespace.startswith(NAMESPACE_PREFIX) else ""
    if version not in PAIN002_VERSIONS:
        message = f"namespace {namespace[:80]!r} is not {' or '.join(PAIN002_VERSIONS)}"
        return _result(
            None, [], [FeedbackProblem("Document", "namespace", message, xpath="/Document")]
        )
    xml = _Xml(root, namespace)
    report = xml.one(root, "CstmrPmtStsRpt")
    if report is None or etree.QName(root).localname != "Document":
        message = "a pain.002 Document holds one CstmrPmtStsRpt"
        return _result(
            version, [], [FeedbackProblem("CstmrPmtStsRpt", "required", message, xpath="/Document")]
        )
    problems: list[FeedbackProblem] = []
    notices: list[ReturnNotice] = []
    group = xml.one(report, "OrgnlGrpInfAndSts")
    message_id = xml.text(group, "OrgnlMsgId") if group is not None else ""
    if group is None or not message_id:
        message = "OrgnlGrpInfAndSts/OrgnlMsgId is required: which message this reports on"
        where = xml.where(report, "OrgnlGrpInfAndSts")
        return _result(
            version, [], [FeedbackProblem("OrgnlMsgId", "required", message, xpath=where)]
        )
    if bad := _reference_problem(message_id, "OrgnlMsgId", xpath=xml.where(group, "OrgnlMsgId")):
        problems.append(bad)
    group_status = xml.text(group, "GrpSts")
    if group_status and (bad := _status_problem(xml, group, "GrpSts", group_status)):
        problems.append(bad)
    for block in xml.all(report, "OrgnlPmtInfAndSts"):
        found_notices, found = _block_notices(xml, block, group_status, message_id)
        notices += found_notices
        problems += found
    if group_status == "RJCT" or (group_status and not notices and not problems):
        raw = {"level": "message", "original_message_type": xml.text(group, "OrgnlMsgNmId")}
        notices.insert(0, _whole_notice(xml, group, "GrpSts", group_status, message_id, raw))
    if not notices and not problems:
        message = "no group, payment information or transaction status to read"
        problems.append(FeedbackProblem("GrpSts", "no_status", message, xpath=xml.where(group)))
    return _result(version, notices, problems)


# --- the entry point ------------------------------------------------------------------------

_READERS = {
    "nacha": read_nacha_returns,
    "bacs-returns": read_bacs_returns,
    "pain.002": read_pain002,
    "confirmations": read_confirmations,
}


def sniff(data: bytes) -> str | None:
    """Which feedback format the bytes are, or None: NACHA by its file header, XML by its
    first character, the two CSVs by their header's columns.

    >>> sniff(b"reference,payment_date,payment_number,amount_minor,currency,status\\n")
    'confirmations'
    >>> sniff(b"<?xml version='1.0'?><Document/>"), sniff(b"hello")
    ('pain.002', None)
    """
    if nacha.sniff(data) or (data.startswith(b"101") and b"\n5" in data[:1000]):
        return "nacha"  # moov-io's samples trim the header's trailing spaces
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "pain.002"
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lower()
    columns = {c.strip() for c in first.split(",")}
    if set(BACS_COLUMNS) <= columns:
        return "bacs-returns"
    if set(CONFIRMATION_COLUMNS) <= columns:
        return "confirmations"
    return None


def read_feedback(data: bytes, *, kind: str | None = None) -> FeedbackFile:
    """Read one feedback file; ``kind`` is one of :data:`KINDS`, or None to sniff it."""
    if kind is not None and kind not in _READERS:
        message = f"unknown kind {kind[:30]!r}; one of {', '.join(KINDS)}"
        return FeedbackFile(None, (), (FeedbackProblem("--kind", "kind", message),))
    found = kind or sniff(data)
    if found is None:
        message = (
            "not a feedback file remit reads (a NACHA return file, BACS returned credits, "
            "pain.002, a confirmation feed)"
        )
        return FeedbackFile(None, (), (FeedbackProblem("file", "unknown_format", message),))
    return _READERS[found](data)
