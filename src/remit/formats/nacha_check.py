"""Checking NACHA (ACH) files written by anyone: ``check(data) -> CheckReport``.

Hand-written (no maintained Python library checks NACHA files). Each record is 94 characters:
1 file header, 5 batch header, 6 entry, 7 addenda, 8 batch control, 9 file control, and
records of 94 ``9`` pad the file to a multiple of 10 records. Totals count type-6 entries
only: an offset entry is a type-6 record like any other, which the bank's controls count.
ADV batches (SEC ``ADV``) carry 12-digit amounts and 20-digit control totals.

>>> report = check(b"101 bad")
>>> report.valid, report.errors[0].code
(False, 'record_length')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from remit.formats.findings import CheckReport, Finding

FORMAT = "nacha"
RECORD = 94
FILL = "9" * RECORD
CREDIT_LAST_DIGITS = frozenset("1234")
KNOWN_CODES = frozenset(
    [f"{a}{b}" for a in "2345" for b in "12346789"] + ["55", "56"] + [f"8{b}" for b in "12345678"]
)
ADV_CREDITS = frozenset({"81", "83", "85", "87"})
NEXT_TYPES = {
    "1": "5",
    "5": "67",
    "6": "678",
    "7": "678",
    "8": "59",
}


def aba_valid(routing: str) -> bool:
    """Whether nine digits carry a correct ABA check digit (weights 3, 7, 1).

    >>> aba_valid("231380104"), aba_valid("231380105"), aba_valid("12345")
    (True, False, False)
    """
    if len(routing) != 9 or not routing.isdigit():
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


def split_records(data: bytes) -> list[str]:
    """The file's physical records: lines, or 94-character slices of an unbroken file.

    >>> split_records(b"1" * 188)[1] == "1" * 94
    True
    >>> split_records(b"a\\r\\nb\\n\\n")
    ['a', 'b']
    """
    text = data.decode("latin-1")
    if "\n" not in text and len(text) > RECORD and len(text) % RECORD == 0:
        return [text[i : i + RECORD] for i in range(0, len(text), RECORD)]
    lines = text.split("\n")
    while lines and not lines[-1].strip("\r"):
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass
class _Batch:
    line: int
    adv: bool
    sec: str
    service_class: str
    entries: int = 0
    addenda: int = 0
    hash: int = 0
    debit: int = 0
    credit: int = 0


@dataclass
class _State:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    batch: _Batch | None = None
    batches: int = 0
    entries: int = 0
    addenda: int = 0
    hash: int = 0
    debit: int = 0
    credit: int = 0
    adv_file: bool = False
    # the last entry: its line, addenda indicator, declared CTX count, addenda seen
    entry: tuple[int, str, int | None] | None = None
    entry_addenda: int = 0
    file_control: str | None = None
    file_control_line: int = 0

    def error(self, code: str, message: str, line: int | None = None) -> None:
        self.errors.append(Finding(code, message, line=line))


def _number(state: _State, text: str, code: str, what: str, line: int) -> int:
    if text.isdigit():
        return int(text)
    state.error(code, f"line {line}: {what} {text!r} is not numeric", line)
    return 0


def _file_header(state: _State, rec: str, n: int) -> None:
    destination = rec[3:13].strip()
    if not aba_valid(destination):
        state.error(
            "immediate_destination",
            f"line {n}: immediate destination {destination!r} is not a routing number"
            " with a valid ABA check digit",
            n,
        )


def _batch_header(state: _State, rec: str, n: int) -> None:
    sec = rec[50:53]
    state.batch = _Batch(n, sec == "ADV", sec, rec[1:4])
    state.adv_file = state.adv_file or sec == "ADV"
    state.batches += 1


def _close_entry(state: _State) -> None:
    if state.entry is None:
        return
    line, indicator, declared = state.entry
    seen = state.entry_addenda
    if indicator == "0" and seen:
        state.error(
            "addenda_indicator", f"line {line}: addenda indicator 0 but {seen} addenda follow", line
        )
    elif indicator == "1" and not seen:
        state.error(
            "addenda_indicator", f"line {line}: addenda indicator 1 but no addenda follows", line
        )
    elif indicator not in "01" or not indicator:
        state.error("addenda_indicator", f"line {line}: addenda indicator {indicator!r}", line)
    if declared is not None and declared != seen:
        state.error(
            "addenda_count",
            f"line {line}: the entry declares {declared} addenda (positions 55-58), {seen} follow",
            line,
        )
    state.entry = None
    state.entry_addenda = 0


def _entry(state: _State, rec: str, n: int) -> None:
    batch = state.batch
    if batch is None:
        return
    code = rec[1:3]
    if code not in KNOWN_CODES:
        state.error("transaction_code", f"line {n}: unknown transaction code {code!r}", n)
    routing = rec[3:12]
    if not aba_valid(routing):
        state.error(
            "check_digit",
            f"line {n}: RDFI routing {routing!r} (positions 4-12) fails the ABA check digit",
            n,
        )
    amount_field = rec[27:39] if batch.adv else rec[29:39]
    amount = _number(state, amount_field, "amount", "amount", n)
    if (code in ADV_CREDITS) if batch.adv else (code[1:] in CREDIT_LAST_DIGITS):
        batch.credit += amount
    else:
        batch.debit += amount
    batch.hash += int(rec[3:11]) if rec[3:11].isdigit() else 0
    batch.entries += 1
    declared = None
    if batch.sec == "CTX":
        declared = _number(state, rec[54:58], "addenda_count", "CTX addenda count", n)
    state.entry = (n, rec[78], declared)


def _addenda(state: _State, rec: str, n: int) -> None:
    if state.batch is not None:
        state.batch.addenda += 1
    state.entry_addenda += 1


def _compare(state: _State, code: str, what: str, stated: str, actual: int, n: int) -> None:
    if not stated.strip().isdigit():
        state.error(code, f"line {n}: {what} {stated!r} is not numeric", n)
    elif int(stated) != actual:
        state.error(code, f"line {n}: {what} says {int(stated)}, the records give {actual}", n)


def _batch_control(state: _State, rec: str, n: int) -> None:
    batch = state.batch
    if batch is None:
        return
    _compare(
        state,
        "entry_count",
        "batch entry/addenda count",
        rec[4:10],
        batch.entries + batch.addenda,
        n,
    )
    _compare(state, "entry_hash", "batch entry hash", rec[10:20], batch.hash % 10**10, n)
    debit, credit = (rec[20:40], rec[40:60]) if batch.adv else (rec[20:32], rec[32:44])
    _compare(state, "debit_total", "batch total debit", debit, batch.debit, n)
    _compare(state, "credit_total", "batch total credit", credit, batch.credit, n)
    if rec[1:4] != batch.service_class:
        state.error(
            "service_class",
            f"line {n}: batch control service class {rec[1:4]!r} differs from the header's"
            f" {batch.service_class!r} (line {batch.line})",
            n,
        )
    state.entries += batch.entries
    state.addenda += batch.addenda
    state.hash += batch.hash
    state.debit += batch.debit
    state.credit += batch.credit
    state.batch = None


def _file_control(state: _State, rec: str, n: int) -> None:
    state.file_control = rec
    state.file_control_line = n


HANDLERS: dict[str, Callable[[_State, str, int], None]] = {
    "1": _file_header,
    "5": _batch_header,
    "6": _entry,
    "7": _addenda,
    "8": _batch_control,
    "9": _file_control,
}


def _record_order(state: _State, previous: str, kind: str, n: int) -> bool:
    allowed = NEXT_TYPES.get(previous, "")
    if previous == "" and kind != "1":
        state.error("file_header", f"line {n}: the file does not start with a file header", n)
        return False
    if previous and kind not in allowed:
        state.error(
            "record_order", f"line {n}: a type-{kind} record cannot follow a type-{previous}", n
        )
        return False
    return True


def _walk(state: _State, records: list[str]) -> int:
    """Read every record up to the file control; return how many records precede padding."""
    previous = ""
    for n, physical in enumerate(records, start=1):
        rec = physical
        if len(rec) != RECORD:
            state.error("record_length", f"line {n} has {len(rec)} characters, not 94", n)
            rec = rec[:RECORD].ljust(RECORD)  # read on, so that later findings still show
        if previous == "9":
            if rec != FILL:
                state.error("record_order", f"line {n}: a record follows the file control", n)
            continue
        kind = rec[0]
        handler = HANDLERS.get(kind)
        if handler is None:
            state.error("record_type", f"line {n}: unknown record type {kind!r}", n)
            continue
        if kind in "6589":
            _close_entry(state)
        if not _record_order(state, previous, kind, n):
            previous = kind
            continue
        if kind in "59" and state.batch is not None:
            state.error(
                "batch_control",
                f"line {state.batch.line}: the batch has no batch control",
                state.batch.line,
            )
            state.batch = None
        handler(state, rec, n)
        previous = kind
    _close_entry(state)
    return len(records)


def _file_totals(state: _State, records: int) -> None:
    rec, n = state.file_control, state.file_control_line
    if rec is None:
        state.error("file_control", "the file has no file control record (type 9)")
        return
    _compare(state, "batch_count", "file batch count", rec[1:7], state.batches, n)
    _compare(state, "block_count", "file block count", rec[7:13], -(-records // 10), n)
    _compare(
        state,
        "entry_count",
        "file entry/addenda count",
        rec[13:21],
        state.entries + state.addenda,
        n,
    )
    _compare(state, "entry_hash", "file entry hash", rec[21:31], state.hash % 10**10, n)
    debit, credit = (rec[31:51], rec[51:71]) if state.adv_file else (rec[31:43], rec[43:55])
    _compare(state, "debit_total", "file total debit", debit, state.debit, n)
    _compare(state, "credit_total", "file total credit", credit, state.credit, n)


def check(data: bytes) -> CheckReport:
    """Every error and warning of a NACHA file, and its totals; never raises."""
    state = _State()
    records = split_records(data)
    if not records:
        state.error("file_header", "the file is empty")
    count = _walk(state, records)
    if records and state.file_control is not None:
        _file_totals(state, count)
        if count % 10:
            state.warnings.append(
                Finding("blocking", f"{count} records: not padded with 9s to a multiple of 10")
            )
    elif records:
        _file_totals(state, count)
    return CheckReport(
        FORMAT,
        errors=tuple(state.errors),
        warnings=tuple(state.warnings),
        entries=state.entries,
        credit_minor=state.credit,
        debit_minor=state.debit,
    )
