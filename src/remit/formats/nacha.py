"""NACHA (ACH) credit files: ``write``, ``parse``, ``sniff``; ``check`` is in ``nacha_check``.

Hand-written: no maintained Python library writes NACHA files. One batch of credits (codes
22 checking, 32 savings), unbalanced (no offset entry), SEC ``PPD`` or ``CCD`` (``PPD+``/
``CCD+`` with one type-05 addenda when the originator's ``addenda`` is true) or ``CTX``
(addenda carrying ``RMR`` segments of the remittance lines). Records are 94 characters, lines
end ``\\n``, and records of 94 ``9`` pad the file to a multiple of 10. Layout and examples:
``docs/formats/payments-nacha.md``.

>>> from datetime import date, datetime
>>> stamp = FileStamp(datetime(2026, 5, 8, 15, 5), date(2026, 5, 11))
>>> pay = FilePayment("P1", "V7", "Zoë Née-Smith", 12_500, "USD", "SB-7",
...     {"routing_number": "231380104", "account_number": "123456789",
...      "account_type": "checking"})
>>> data = write([pay], ORIGINATOR_EXAMPLE, stamp)
>>> data.decode().splitlines()[2]
'622231380104123456789        0000012500SB-7           ZOE NEE-SMITH           0121042880000001'
>>> check(data).valid, parse(data)[0].amount_minor
(True, 12500)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from remit.formats.nacha_check import FILL, RECORD, aba_valid, check, split_records
from remit.formats.payfile import FilePayment, FileStamp, RemittanceLine

__all__ = ["check", "parse", "returns", "sniff", "write"]

FORMAT = "nacha"
CURRENCY = "USD"
CALENDAR = "XFED"
ORIGINATOR_TABLE = "nacha"
MAX_ENTRIES = 9_999_999
MAX_AMOUNT_MINOR = 10**10 - 1
MAX_CTX_ADDENDA = 9_999
CREDIT_CODES = {"checking": "22", "savings": "32"}
ACCOUNT_TYPES = {code: kind for kind, code in CREDIT_CODES.items()}
SEC_CODES = ("PPD", "CCD", "CTX")
ORIGINATOR_EXAMPLE: Mapping[str, Any] = {
    "immediate_destination": "231380104",
    "immediate_origin": "121042882",
    "destination_name": "Federal Reserve Bank",
    "origin_name": "My Bank Name",
    "company_name": "Acme Care",
    "company_id": "1210428820",
    "odfi_routing": "121042882",
    "sec_code": "PPD",
    "addenda": False,
    "entry_description": "PAYMENT",
}


# ASCII control characters and the characters NACHA reserves (* \ ~) become spaces.
_ASCII_KEPT = dict.fromkeys((*range(32), 127, ord("*"), ord("\\"), ord("~")), " ")


def ascii_upper(text: str, width: int) -> str:
    """Text in NACHA's upper-case ASCII, accents transliterated, cut and padded to ``width``.

    >>> ascii_upper("Crème brûlée*Ltd\\\\", 12)
    'CREME BRULEE'
    >>> ascii_upper("ab", 4)
    'AB  '
    """
    plain = (
        text
        if text.isascii()  # most names: no accent to take apart (five times faster)
        else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    )
    return plain.translate(_ASCII_KEPT).upper()[:width].ljust(width)


def sniff(data: bytes) -> bool:
    """Whether bytes look like a NACHA file: a type-1 record of about 94 characters first.

    >>> sniff(b"101 231380104" + b" " * 81 + b"\\n"), sniff(b"<?xml")
    (True, False)
    """
    first = data[:200].split(b"\n", 1)[0].rstrip(b"\r")
    return (first.startswith(b"101") and 80 <= len(first) <= 100) or (
        first.startswith(b"101") and len(data) % RECORD == 0
    )


def _routing10(value: str) -> str:
    digits = str(value).strip()
    return digits.rjust(10)[:10]


def _file_header(originator: Mapping[str, Any], stamp: FileStamp) -> str:
    created = stamp.created
    return (
        f"101{_routing10(originator['immediate_destination'])}"
        f"{_routing10(originator['immediate_origin'])}"
        f"{created:%y%m%d%H%M}{stamp.file_id_modifier[:1].upper()}094101"
        f"{ascii_upper(originator['destination_name'], 23)}"
        f"{ascii_upper(originator['origin_name'], 23)}{'':8}"
    )


def _sec(originator: Mapping[str, Any]) -> str:
    sec = str(originator["sec_code"]).upper()
    if sec not in SEC_CODES:
        raise ValueError(f"sec_code {sec!r} is not one of {', '.join(SEC_CODES)}")
    return sec


def _batch_header(originator: Mapping[str, Any], stamp: FileStamp, sec: str) -> str:
    return (
        f"5220{ascii_upper(originator['company_name'], 16)}{'':20}"
        f"{str(originator['company_id'])[:10].ljust(10)}{sec}"
        f"{ascii_upper(originator['entry_description'], 10)}{'':6}"
        f"{stamp.value_date:%y%m%d}{'':3}1{str(originator['odfi_routing'])[:8]}0000001"
    )


def _validate(payment: FilePayment) -> tuple[str, str]:
    if payment.currency != CURRENCY:
        raise ValueError(f"payment {payment.payment_id}: currency {payment.currency}, not USD")
    if not 0 < payment.amount_minor <= MAX_AMOUNT_MINOR:
        raise ValueError(
            f"payment {payment.payment_id}: amount {payment.amount_minor} out of range"
        )
    routing = payment.bank["routing_number"]
    if not aba_valid(routing):
        raise ValueError(f"payment {payment.payment_id}: routing number {routing!r} is not valid")
    code = CREDIT_CODES.get(payment.bank.get("account_type", "checking"))
    if code is None:
        raise ValueError(f"payment {payment.payment_id}: account type must be checking|savings")
    return routing, code


def remittance_text(payment: FilePayment) -> str:
    """The payment information of a CCD+/PPD+ addenda: its lines' references (or its own).

    >>> p = FilePayment("P", "V", "N", 5, "USD", "R", {}, (RemittanceLine("a", "SB-1", 2),
    ...     RemittanceLine("b", "SB-2", 3)))
    >>> remittance_text(p)
    'SB-1 SB-2'
    """
    refs = [line.reference for line in payment.lines] or [payment.reference]
    return " ".join(refs)


def rmr_segments(payment: FilePayment) -> str:
    """The 820-like CTX remittance: one ``RMR*IV*reference**amount\\`` segment per line.

    >>> p = FilePayment("P", "V", "N", 1250, "USD", "R", {}, (RemittanceLine("a", "SB-1", 1250),))
    >>> rmr_segments(p)
    'RMR*IV*SB-1**12.50\\\\'
    """
    lines = payment.lines or (
        RemittanceLine(payment.payment_id, payment.reference, payment.amount_minor),
    )
    return "".join(
        f"RMR*IV*{ascii_upper(line.reference, 30).strip()}**"
        f"{line.amount_minor // 100}.{line.amount_minor % 100:02d}\\"
        for line in lines
    )


def _addenda(payment: FilePayment, sec: str, with_addenda: bool) -> list[str]:
    if sec == "CTX":
        text = rmr_segments(payment)
        chunks = [text[i : i + 80] for i in range(0, len(text), 80)]
        if len(chunks) > MAX_CTX_ADDENDA:
            raise ValueError(f"payment {payment.payment_id}: remittance needs over 9,999 addenda")
        return chunks
    if with_addenda:
        return [ascii_upper(remittance_text(payment), 80)]
    return []


def _entries(
    payments: Sequence[FilePayment], odfi: str, sec: str, with_addenda: bool
) -> Iterator[tuple[str, int, int, int]]:
    """Each payment's records, its hash part, amount and record count."""
    for seq, payment in enumerate(payments, start=1):
        routing, code = _validate(payment)
        trace = f"{odfi}{seq:07d}"
        addenda = _addenda(payment, sec, with_addenda)
        ident = ascii_upper(payment.reference, 15)
        account = str(payment.bank["account_number"])[:17].ljust(17)
        if sec == "CTX":
            middle = f"{ident}{len(addenda):04d}{ascii_upper(payment.payee_name, 16)}    "
        else:
            middle = f"{ident}{ascii_upper(payment.payee_name, 22)}  "
        lines = [
            f"6{code}{routing}{account}{payment.amount_minor:010d}{middle}"
            f"{1 if addenda else 0}{trace}"
        ]
        lines += [
            f"705{chunk.ljust(80)}{n:04d}{seq:07d}" for n, chunk in enumerate(addenda, start=1)
        ]
        yield "\n".join(lines), int(routing[:8]), payment.amount_minor, len(lines)


def write(
    payments: Sequence[FilePayment], originator: Mapping[str, Any], stamp: FileStamp
) -> bytes:
    """One NACHA file of credits, one batch, blocked to 10 with 9-filled records."""
    if not payments:
        raise ValueError("a NACHA file needs at least one payment")
    if len(payments) > MAX_ENTRIES:
        raise ValueError(f"{len(payments)} payments: a batch holds at most {MAX_ENTRIES:,}")
    sec = _sec(originator)
    with_addenda = bool(originator.get("addenda")) and sec != "CTX"
    odfi = str(originator["odfi_routing"])[:8]
    parts = list(_entries(payments, odfi, sec, with_addenda))
    body = [part[0] for part in parts]
    entry_hash = sum(part[1] for part in parts) % 10**10
    credit = sum(part[2] for part in parts)
    records = sum(part[3] for part in parts)
    company_id = str(originator["company_id"])[:10].ljust(10)
    batch_control = (
        f"8220{records:06d}{entry_hash:010d}{0:012d}{credit:012d}{company_id}{'':25}{odfi}0000001"
    )
    total = records + 4
    blocks = -(-total // 10)
    file_control = f"9{1:06d}{blocks:06d}{records:08d}{entry_hash:010d}{0:012d}{credit:012d}{'':39}"
    lines = [
        _file_header(originator, stamp),
        _batch_header(originator, stamp, sec),
        *body,
        batch_control,
        file_control,
    ] + [FILL] * (blocks * 10 - total)
    return ("\n".join(lines) + "\n").encode("ascii")


def _rmr_lines(text: str) -> tuple[RemittanceLine, ...]:
    found = []
    for segment in text.split("\\"):
        fields = segment.strip().split("*")
        if fields[0] == "RMR" and len(fields) >= 5:
            units, _, cents = fields[4].partition(".")
            amount = int(units or "0") * 100 + int((cents + "00")[:2])
            found.append(RemittanceLine(fields[2], fields[2], amount))
    return tuple(found)


def parse(data: bytes) -> list[FilePayment]:
    """The credits of a NACHA file (as ``write`` makes them) back as payments."""
    records = split_records(data)
    payments: list[FilePayment] = []
    sec = ""
    pending: list[tuple[str, list[str]]] = []
    for rec in records:
        kind = rec[:1]
        if kind == "5":
            sec = rec[50:53]
        elif kind == "6":
            pending.append((rec, []))
        elif kind == "7" and pending:
            pending[-1][1].append(rec[3:83])
    for rec, addenda in pending:
        name = rec[58:74] if sec == "CTX" else rec[54:76]
        joined = "".join(addenda) if sec == "CTX" else " ".join(a.strip() for a in addenda)
        lines = (
            _rmr_lines(joined)
            if sec == "CTX"
            else tuple(RemittanceLine(ref, ref, 0) for ref in joined.split())
        )
        payments.append(
            FilePayment(
                payment_id=rec[79:94],
                payee_id="",
                payee_name=name.strip(),
                amount_minor=int(rec[29:39]),
                currency=CURRENCY,
                reference=rec[39:54].strip(),
                bank={
                    "routing_number": rec[3:12],
                    "account_number": rec[12:29].strip(),
                    "account_type": ACCOUNT_TYPES.get(rec[1:3], rec[1:3]),
                },
                lines=lines,
            )
        )
    return payments


def _return_row(entry: str, addenda: str) -> dict[str, Any]:
    kind = "return" if addenda[1:3] == "99" else "change"
    row: dict[str, Any] = {
        "kind": kind,
        "code": addenda[3:6],
        "original_trace": addenda[6:21].strip(),
        "original_rdfi": addenda[27:35].strip(),
        "transaction_code": entry[1:3],
        "routing_number": entry[3:12],
        "account_number": entry[12:29].strip(),
        "amount_minor": int(entry[29:39]) if entry[29:39].isdigit() else 0,
        "trace": addenda[79:94].strip(),
    }
    if kind == "change":
        row["corrected_data"] = addenda[35:64].strip()
    else:
        row["information"] = addenda[35:79].strip()
    return row


def returns(data: bytes) -> list[dict[str, Any]]:
    """The returns (addenda 99, R-codes) and notifications of change (98, C-codes) of a file.

    >>> entry = "621" + "091400606" + "1".ljust(17) + "0000012500" + " " * 40 + "1" + "0" * 15
    >>> addenda = "799R01091400600000001      09100001" + " " * 44 + "091000017611242"
    >>> row = returns((entry + "\\n" + addenda + "\\n").encode())[0]
    >>> row["kind"], row["code"], row["original_trace"], row["amount_minor"]
    ('return', 'R01', '091400600000001', 12500)
    """
    found: list[dict[str, Any]] = []
    entry = ""
    for rec in split_records(data):
        if rec[:1] == "6":
            entry = rec
        elif rec[:3] in ("799", "798") and entry:
            found.append(_return_row(entry, rec))
    return found
