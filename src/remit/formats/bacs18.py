"""BACS Standard 18: write a single-day file of credits or collections, check any file, parse it.

A file is the labels VOL1, HDR1, HDR2, UHL1, then 100-character data records, then EOF1,
EOF2, UTL1. Labels are written 80 characters long (100 and 106 are accepted on reading).
Every payment is one data record; the contra records move the total to or from the
originator's own account: a debit ``17`` totalling the credits (``99``), a credit ``99``
totalling the collections (``01`` ``17`` ``18`` ``19``). A contra is told apart from a
payment by ``CONTRA`` in the reference field (65-82) with the originator's own sort code and
account as the destination. The layout is described in ``docs/formats/payments-bacs18.md``.

>>> from datetime import date, datetime
>>> stamp = FileStamp(datetime(2026, 3, 2, 9, 0), date(2026, 3, 4), serial="000042")
>>> me = {"service_user_number": "123456", "sort_code": "400000",
...       "account_number": "11112222", "name": "Riverside Care Trust"}
>>> pay = FilePayment("P1", "V7", "Sunrise Café Ltd", 12_500, "GBP", "SB-RIV-V7-3",
...                   {"sort_code": "200000", "account_number": "55779911"})
>>> data = write([pay], me, stamp)
>>> data.splitlines()[4].decode()[64:100]
'SB-RIV-V7-3       SUNRISE CAFE LTD  '
>>> report = check(data)
>>> report.valid, report.entries, report.credit_minor
(True, 1, 12500)
>>> [(p.payee_name, p.amount_minor) for p in parse(data)]
[('SUNRISE CAFE LTD', 12500)]
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from remit.formats.findings import CheckReport, Finding
from remit.formats.payfile import FilePayment, FileStamp

FORMAT = "bacs18"
CURRENCY = "GBP"
CALENDAR = "GB-ENG"
ORIGINATOR_TABLE = "bacs"

CREDIT_CODE = "99"
CONTRA_DEBIT_CODE = "17"
DEBIT_CODES = frozenset({"01", "17", "18", "19"})
INSTRUCTION_CODES = frozenset({"0N", "0C", "0S"})
KNOWN_CODES = DEBIT_CODES | INSTRUCTION_CODES | {CREDIT_CODE}

LABEL_LENGTH = 80
LABEL_LENGTHS = frozenset({80, 100, 106})
RECORD_LENGTHS = frozenset({100, 106})
LABEL_ORDER_HEAD = ("VOL1", "HDR1", "HDR2", "UHL1")
LABEL_ORDER_TAIL = ("EOF1", "EOF2", "UTL1")
LABELS = frozenset(LABEL_ORDER_HEAD + LABEL_ORDER_TAIL)
NAME_WIDTH = 18
AMOUNT_DIGITS = 11
TOTAL_DIGITS = 13
COUNT_DIGITS = 7
CONTRA = "CONTRA"
ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.&/- ")
_SPECIAL = {"ß": "SS", "Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE", "œ": "OE", "Ł": "L"}
_ASCII_TABLE = str.maketrans(
    {chr(c): (chr(c) if chr(c) in ALLOWED else " ") for c in range(128) if chr(c) not in ALLOWED}
)


def bacs_text(value: str, width: int = NAME_WIDTH) -> str:
    """Upper case in the BACS character set, accents transliterated, padded or cut to ``width``.

    >>> bacs_text("Zoë O'Brien & Co.")
    'ZOE O BRIEN & CO. '
    >>> bacs_text("Straße", 6)
    'STRASS'
    """
    text = value.upper()
    if not text.isascii():
        text = "".join(_SPECIAL.get(ch, ch) for ch in text)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        text = "".join(ch if ch in ALLOWED else " " for ch in text.upper())
    return text.translate(_ASCII_TABLE)[:width].ljust(width)


def julian(day: date) -> str:
    """The Standard 18 date: a space, the year's last two digits and the day of the year.

    >>> julian(date(2026, 3, 4))
    ' 26063'
    """
    return f" {day:%y}{day.timetuple().tm_yday:03d}"


def read_julian(value: str) -> date | None:
    """The date of a ` yyddd` field, or None when it is not one.

    >>> read_julian(" 26063")
    datetime.date(2026, 3, 4)
    >>> read_julian(" 26400") is None
    True
    """
    if len(value) != 6 or value[0] != " " or not value[1:].isdigit():
        return None
    year, day_of_year = 2000 + int(value[1:3]), int(value[3:])
    if not 1 <= day_of_year <= date(year, 12, 31).timetuple().tm_yday:
        return None
    return date(year, 1, 1) + timedelta(days=day_of_year - 1)


# -- writing ---------------------------------------------------------------------------------


def _digits(value: str, width: int, what: str) -> str:
    if len(value) != width or not value.isdigit():
        raise ValueError(f"{what} must be {width} digits, not {value!r}")
    return value


def _record(
    sort_code: str,
    account: str,
    code: str,
    origin: str,
    amount: int,
    user_name: str,
    reference: str,
    dest_name: str,
) -> str:
    return f"{sort_code}{account}0{code}{origin}    {amount:011d}{user_name}{reference}{dest_name}"


def _payment_record(p: FilePayment, origin: str, user_name: str) -> str:
    if p.currency != CURRENCY:
        raise ValueError(f"payment {p.payment_id}: BACS pays {CURRENCY}, not {p.currency}")
    if p.transaction_code not in KNOWN_CODES:
        raise ValueError(f"payment {p.payment_id}: unknown transaction code {p.transaction_code!r}")
    amount = 0 if p.transaction_code in INSTRUCTION_CODES else p.amount_minor
    if p.transaction_code not in INSTRUCTION_CODES and not 0 < amount < 10**AMOUNT_DIGITS:
        raise ValueError(f"payment {p.payment_id}: amount {amount} does not fit 11 digits")
    return _record(
        _digits(p.bank.get("sort_code", ""), 6, "sort_code"),
        _digits(p.bank.get("account_number", ""), 8, "account_number"),
        p.transaction_code,
        origin,
        amount,
        user_name,
        bacs_text(p.reference),
        bacs_text(p.payee_name),
    )


def _labels_head(sun: str, stamp: FileStamp) -> list[str]:
    serial = _digits(stamp.serial, 6, "serial")
    created = julian(stamp.created.date())
    return [
        f"VOL1{serial} {'':26}{'':4}{sun}{'':32}1",
        _hdr("HDR1", sun, serial, created),
        "HDR2F0200000100" + " " * 35 + "00" + " " * 28,
        f"UHL1{julian(stamp.value_date)}999999    000000001 DAILY  001".ljust(LABEL_LENGTH),
    ]


def _hdr(label: str, sun: str, serial: str, created: str) -> str:
    ident = f"A{sun}S  {sun}".ljust(17)
    return f"{label}{ident}{serial}00010001{'':6}{created}{created} 000000{'':20}"


def _utl1(debit: int, credit: int, debits: int, credits: int) -> str:
    if max(debit, credit) >= 10**TOTAL_DIGITS or max(debits, credits) >= 10**COUNT_DIGITS:
        raise ValueError("file totals do not fit UTL1: split the run into several files")
    return f"UTL1{debit:013d}{credit:013d}{debits:07d}{credits:07d}".ljust(LABEL_LENGTH)


def _moved(p: FilePayment) -> int:
    return 0 if p.transaction_code in INSTRUCTION_CODES else p.amount_minor


def utl1_totals(moved: Sequence[tuple[str, int]]) -> tuple[int, int, int, int]:
    """UTL1's debit total, credit total, debit count, credit count over (code, pence) records.

    Contras are included: in a balanced file the debit and credit totals are equal.

    >>> utl1_totals([("99", 100), ("99", 250), ("17", 350), ("0N", 0)])
    (350, 350, 1, 2)
    """
    debit = sum(amount for code, amount in moved if code in DEBIT_CODES)
    credit = sum(amount for code, amount in moved if code == CREDIT_CODE)
    debits = sum(1 for code, _ in moved if code in DEBIT_CODES)
    credits = sum(1 for code, _ in moved if code == CREDIT_CODE)
    return debit, credit, debits, credits


def write(
    payments: Sequence[FilePayment], originator: Mapping[str, Any], stamp: FileStamp
) -> bytes:
    """A single-day Standard 18 file: the payments, their contras, labels; ASCII, LF ends."""
    if not payments:
        raise ValueError("a BACS file needs at least one payment")
    sun = _digits(str(originator["service_user_number"]), 6, "service_user_number")
    own_sort = _digits(str(originator["sort_code"]), 6, "sort_code")
    own_account = _digits(str(originator["account_number"]), 8, "account_number")
    name = bacs_text(str(originator["name"]))
    origin = own_sort + own_account
    records = [_payment_record(p, origin, name) for p in payments]
    moved = [(p.transaction_code, _moved(p)) for p in payments]
    credit = sum(amount for code, amount in moved if code == CREDIT_CODE)
    debit = sum(amount for code, amount in moved if code in DEBIT_CODES)
    narrative, contra_ref = bacs_text(f"BACS {stamp.serial}"), bacs_text(CONTRA)
    for total, code in ((credit, CONTRA_DEBIT_CODE), (debit, CREDIT_CODE)):
        if total >= 10**AMOUNT_DIGITS:
            raise ValueError("a contra total does not fit 11 digits: split the file")
        if total:
            moved.append((code, total))
            records.append(
                _record(own_sort, own_account, code, origin, total, narrative, contra_ref, name)
            )
    created = julian(stamp.created.date())
    tail = [
        _hdr("EOF1", sun, stamp.serial, created),
        "EOF2F0200000100" + " " * 35 + "00" + " " * 28,
        _utl1(*utl1_totals(moved)),
    ]
    lines = _labels_head(sun, stamp) + records + tail
    return ("\n".join(lines) + "\n").encode("ascii")


# -- reading ---------------------------------------------------------------------------------


def sniff(data: bytes) -> bool:
    """Whether the bytes look like a Standard 18 file (they start with a VOL1 label).

    >>> sniff(b"VOL1000001"), sniff(b"101 091000019")
    (True, False)
    """
    return data[:4] == b"VOL1"


def _lines(data: bytes) -> list[str]:
    text = data.decode("latin-1")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def is_contra(record: str) -> bool:
    """A contra names CONTRA at 65-82 and pays into the originator's own account.

    >>> own = "40000011112222"
    >>> is_contra(own + "017" + own + "    00000012500BACS 000042       CONTRA" + " " * 30)
    True
    """
    return record[64:82].strip() == CONTRA and record[0:14] == record[17:31]


class _Checker:
    """Collects the findings of one file's check; one method per concern."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.labels: dict[str, tuple[int, str]] = {}
        self.records: list[tuple[int, str]] = []

    def error(self, code: str, message: str, line: int | None = None) -> None:
        self.errors.append(Finding(code, message, line=line))

    def sort_lines(self) -> None:
        order: list[str] = []
        for number, line in enumerate(self.lines, start=1):
            bad = next((ch for ch in line if ch not in ALLOWED), None)
            if bad is not None:
                self.error(
                    "character_set",
                    f"line {number} has {bad!r} at column {line.index(bad) + 1}; BACS allows"
                    " upper case A-Z, 0-9, . & / - and space",
                    number,
                )
            name = line[:4]
            if name in LABELS:
                order.append(name)
                if name in self.labels:
                    self.error("label_order", f"line {number}: a second {name} label", number)
                else:
                    self.labels[name] = (number, line)
                if len(line) not in LABEL_LENGTHS:
                    self.error(
                        "label_length",
                        f"line {number}: {name} has {len(line)} characters, not 80",
                        number,
                    )
            elif len(line) not in RECORD_LENGTHS:
                self.error(
                    "record_length",
                    f"line {number} has {len(line)} characters; a data record has 100 or 106",
                    number,
                )
            else:
                self.records.append((number, line))
        self.check_order(order)

    def check_order(self, order: list[str]) -> None:
        expected = LABEL_ORDER_HEAD + LABEL_ORDER_TAIL
        for name in expected:
            if name not in self.labels:
                self.error("label_missing", f"the file has no {name} label")
        present = [name for name in order if name in expected]
        if present != [name for name in expected if name in self.labels]:
            self.error(
                "label_order",
                f"labels come as {' '.join(present)}; the order is {' '.join(expected)}",
            )
        first = self.labels.get("UHL1", (0, ""))[0]
        last = self.labels.get("EOF1", (len(self.lines) + 1, ""))[0]
        for number, _ in self.records:
            if not first < number < last:
                self.error(
                    "label_order", f"line {number}: a data record outside UHL1 .. EOF1", number
                )

    def check_record(self, number: int, record: str) -> tuple[str, int] | None:
        fields_ok = True
        for where, (start, end) in (("destination", (0, 6)), ("originating", (17, 23))):
            if not record[start:end].isdigit():
                self.error("sort_code", f"line {number}: {where} sort code is not 6 digits", number)
                fields_ok = False
        for where, (start, end) in (("destination", (6, 14)), ("originating", (23, 31))):
            if not record[start:end].isdigit():
                self.error(
                    "account_number", f"line {number}: {where} account is not 8 digits", number
                )
                fields_ok = False
        if not record[14].isdigit():
            self.error("numeric", f"line {number}: account type (15) is not a digit", number)
        code = record[15:17]
        if code not in KNOWN_CODES:
            self.error(
                "transaction_code", f"line {number}: unknown transaction code {code!r}", number
            )
            fields_ok = False
        raw = record[35:46]
        if not raw.isdigit():
            self.error("numeric", f"line {number}: amount (36-46) is not 11 digits", number)
            return None
        amount = int(raw)
        if code in INSTRUCTION_CODES and amount:
            self.error("amount", f"line {number}: an instruction {code} carries no amount", number)
        elif code not in INSTRUCTION_CODES and amount <= 0:
            self.error("amount", f"line {number}: the amount is zero", number)
        if len(record) == 106 and read_julian(record[100:106]) is None:
            self.error("processing_date", f"line {number}: 101-106 is not a ` yyddd` date", number)
        return (code, amount) if fields_ok else None

    def check_labels(self) -> None:
        vol, hdr, eof, uhl = (
            self.labels.get(n, (0, ""))[1] for n in ("VOL1", "HDR1", "EOF1", "UHL1")
        )
        if vol and hdr and vol[4:10] != hdr[21:27]:
            self.error(
                "serial",
                f"HDR1 file set {hdr[21:27]!r} is not the VOL1 serial {vol[4:10]!r}",
                self.labels["HDR1"][0],
            )
        if hdr and eof and hdr[4:54] != eof[4:54]:
            self.error("eof1_header", "EOF1 does not repeat HDR1", self.labels["EOF1"][0])
        if uhl and read_julian(uhl[4:10]) is None:
            self.error(
                "processing_date",
                f"UHL1 processing day {uhl[4:10]!r} is not a ` yyddd` date",
                self.labels["UHL1"][0],
            )

    def check_utl1(self, moved: list[tuple[str, int]]) -> None:
        if "UTL1" not in self.labels:
            return
        number, utl = self.labels["UTL1"]
        fields = (utl[4:17], utl[17:30], utl[30:37], utl[37:44])
        if not all(f.isdigit() for f in fields):
            self.error("numeric", "UTL1 totals and counts (5-44) are not all digits", number)
            return
        debit, credit, debits, credits = (int(f) for f in fields)
        want = utl1_totals(moved)
        if (debit, credit) != want[:2]:
            self.error(
                "utl1_totals",
                f"UTL1 says debits {debit} credits {credit}; the records add up to"
                f" debits {want[0]} credits {want[1]}",
                number,
            )
        if (debits, credits) != want[2:]:
            self.error(
                "utl1_counts",
                f"UTL1 counts {debits} debits {credits} credits; the records are"
                f" {want[2]} debits {want[3]} credits",
                number,
            )


def check(data: bytes) -> CheckReport:
    """Check a Standard 18 file written by anyone; every problem is a finding, never an error."""
    return _check(data)


def _check(data: bytes) -> CheckReport:
    lines = _lines(data)
    if not lines:
        return CheckReport(FORMAT, errors=(Finding("label_missing", "the file is empty"),))
    checker = _Checker(lines)
    checker.sort_lines()
    checker.check_labels()
    moved: list[tuple[str, int]] = []
    credit = debit = entries = contra_credit = contra_debit = 0
    for number, record in checker.records:
        found = checker.check_record(number, record)
        if found is None:
            continue
        moved.append(found)
        code, amount = found
        if is_contra(record):
            contra_debit += amount if code in DEBIT_CODES else 0
            contra_credit += amount if code == CREDIT_CODE else 0
            continue
        if record[64:82].strip() == CONTRA:
            checker.warnings.append(
                Finding(
                    "contra_account",
                    f"line {number} says CONTRA but is not the originator's own account",
                    line=number,
                )
            )
        entries += 1
        credit += amount if code == CREDIT_CODE else 0
        debit += amount if code in DEBIT_CODES else 0
    if contra_debit != credit:
        checker.error(
            "contra_total", f"debit contras total {contra_debit}; the credits total {credit}"
        )
    if contra_credit != debit:
        checker.error(
            "contra_total", f"credit contras total {contra_credit}; the debits total {debit}"
        )
    checker.check_utl1(moved)
    uhl = checker.labels.get("UHL1", (0, ""))[1]
    day = read_julian(uhl[4:10]) if uhl else None
    return CheckReport(
        FORMAT,
        errors=tuple(checker.errors),
        warnings=tuple(checker.warnings),
        entries=entries,
        credit_minor=credit,
        debit_minor=debit,
        details={
            "serial": checker.labels.get("VOL1", (0, "    "))[1][4:10],
            "processing_day": day.isoformat() if day else None,
        },
    )


def parse(data: bytes) -> list[FilePayment]:
    """The payments of a valid file (contras left out); ValueError naming the first error."""
    report = check(data)
    if not report.valid:
        first = report.errors[0]
        raise ValueError(f"not a valid Standard 18 file: {first.message}")
    payments = []
    for number, line in enumerate(_lines(data), start=1):
        if line[:4] in LABELS or is_contra(line):
            continue
        payments.append(
            FilePayment(
                payment_id=f"line-{number}",
                payee_id="",
                payee_name=line[82:100].rstrip(),
                amount_minor=int(line[35:46]),
                currency=CURRENCY,
                reference=line[64:82].rstrip(),
                bank={"sort_code": line[0:6], "account_number": line[6:14]},
                transaction_code=line[15:17],
            )
        )
    return payments
