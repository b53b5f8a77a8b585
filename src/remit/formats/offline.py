r"""The inputs of ``remit payments file``, the offline command: payables.csv, originator.toml
and the pay date, checked per scheme, and the remittance CSV it writes beside the bank file.

Every problem is found at once, each with its physical line (the header is line 1) and its
column or key by name; the command then writes nothing. Rows of one payee in one currency
and bank account become one :class:`FilePayment` whose ``lines`` list each payable.

>>> nacha = scheme("nacha")
>>> rows = (b"payable_id,payee_id,payee_name,amount_minor,currency,reference,"
...         b"routing_number,account_number,account_type\n"
...         b"SB1,V7,Sunrise Care,12500,USD,SB-1,011000015,12345678,checking\n"
...         b"SB2,V7,Sunrise Care,500,USD,SB-2,011000015,12345678,checking\n")
>>> [(p.payment_id, p.amount_minor, len(p.lines)) for p in read_payables(rows, nacha)]
[('PAY-000001', 13000, 2)]
>>> read_payables(rows.replace(b"12500,USD", b"-5,EUR"), nacha)  # doctest: +ELLIPSIS
Traceback (most recent call last):
remit.errors.ValidationFailed: payables.csv: line 2: amount_minor: a positive whole number ...
>>> value_date(date(2026, 11, 26), nacha)  # Thanksgiving: the Friday
datetime.date(2026, 11, 27)
"""

from __future__ import annotations

import csv
import gc
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.us import rtn

from remit.calendar import BusinessCalendar
from remit.errors import Problem, ValidationFailed
from remit.formats.payfile import FilePayment, RemittanceLine
from remit.formats.registry import Scheme, scheme  # noqa: F401 - the doctests name formats
from remit.money import MAX_AMOUNT_MINOR
from remit.text import ID_MAX, NAME_MAX, date_problem, is_clean_line, text_problem

PAYABLES = "payables.csv"
ORIGINATOR = "originator.toml"
COMMON_COLUMNS = ("payable_id", "payee_id", "payee_name", "amount_minor", "currency", "reference")
OPTIONAL_COLUMNS = frozenset({"bic"})
REMITTANCE_COLUMNS = (
    "payment_id",
    "payee_id",
    "payable_id",
    "reference",
    "amount_minor",
    "currency",
)
REFERENCE_MAX = 140  # SEPA's unstructured remittance; the writers cut to their own fields
_DIGITS = re.compile(r"[0-9]+")
_SORT_CODE = re.compile(r"([0-9]{2})-?([0-9]{2})-?([0-9]{2})")
_NACHA_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,17}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TOML_LINE = re.compile(r"line (\d+)")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=")
_TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")

Check = Callable[[str], str | None]


# --- single values -----------------------------------------------------------------------


def routing_message(value: str) -> str | None:
    """What is wrong with a US ABA routing number, or None.

    >>> routing_message("011000015") is None, routing_message("011000016")
    (True, 'the ABA check digit does not match (9 digits, weights 3-7-1)')
    """
    if not (len(value) == 9 and _DIGITS.fullmatch(value)):
        return "a routing number is 9 digits"
    return (
        None
        if rtn.is_valid(value)
        else "the ABA check digit does not match (9 digits, weights 3-7-1)"
    )


def sort_code_message(value: str) -> str | None:
    """What is wrong with a UK sort code (``123456`` or ``12-34-56``), or None.

    >>> sort_code_message("20-00-00") is None, sort_code_message("2000001")
    (True, 'a sort code is 6 digits: 123456 or 12-34-56')
    """
    return None if _SORT_CODE.fullmatch(value) else "a sort code is 6 digits: 123456 or 12-34-56"


def sort_code(value: str) -> str:
    """A valid sort code as its 6 digits.

    >>> sort_code("20-00-00")
    '200000'
    """
    return value.replace("-", "")


def bacs_account_message(value: str) -> str | None:
    """What is wrong with a BACS account number, or None.

    >>> bacs_account_message("55779911") is None, bacs_account_message("5577991")
    (True, 'a BACS account number is exactly 8 digits')
    """
    ok = len(value) == 8 and _DIGITS.fullmatch(value)
    return None if ok else "a BACS account number is exactly 8 digits"


def nacha_account_message(value: str) -> str | None:
    """What is wrong with a NACHA account number, or None.

    >>> nacha_account_message("12-34")
    'a NACHA account number is 1 to 17 letters or digits'
    """
    ok = _NACHA_ACCOUNT.fullmatch(value)
    return None if ok else "a NACHA account number is 1 to 17 letters or digits"


def account_type_message(value: str) -> str | None:
    """What is wrong with a NACHA account type, or None.

    >>> account_type_message("savings") is None, account_type_message("loan")
    (True, 'checking or savings')
    """
    return None if value in ("checking", "savings") else "checking or savings"


def iban_message(value: str) -> str | None:
    """What is wrong with an IBAN (check digits, length, the country's own checks), or None.

    >>> iban_message("DE89370400440532013000") is None
    True
    >>> iban_message("NL50BANK1234567890")
    'not a valid IBAN: Invalid checksum digits'
    """
    try:
        IBAN(value)
    except SchwiftyException as exc:
        return f"not a valid IBAN: {exc}"
    return None


def bic_message(value: str) -> str | None:
    """What is wrong with a BIC, or None.

    >>> bic_message("COBADEFFXXX") is None, bic_message("COBA")
    (True, "not a valid BIC: Invalid length '4'")
    """
    try:
        BIC(value)
    except SchwiftyException as exc:
        return f"not a valid BIC: {exc}"
    return None


def compact(value: str) -> str:
    """An IBAN or BIC without spaces, in capitals.

    >>> compact("de89 3704 0044 0532 0130 00")
    'DE89370400440532013000'
    """
    return value.replace(" ", "").upper()


# --- payables.csv ------------------------------------------------------------------------

# Per scheme: each bank column's check, and how a valid value is written into FilePayment.bank.
_BANK_CHECKS: dict[str, dict[str, tuple[Check, Callable[[str], str]]]] = {
    "nacha": {
        "routing_number": (routing_message, str),
        "account_number": (nacha_account_message, str),
        "account_type": (lambda v: account_type_message(v.lower()), str.lower),
    },
    "bacs": {
        "sort_code": (sort_code_message, sort_code),
        "account_number": (bacs_account_message, str),
    },
    "sepa": {
        "iban": (lambda v: iban_message(compact(v)), compact),
        "bic": (lambda v: bic_message(compact(v)) if v else None, compact),
    },
}


def columns_of(fmt: Scheme) -> tuple[str, ...]:
    """The columns payables.csv must name for ``fmt`` (``bic`` may be left out).

    >>> columns_of(scheme("bacs18"))[-2:]
    ('sort_code', 'account_number')
    """
    return COMMON_COLUMNS + fmt.bank_columns


def _records(
    content: bytes, wanted: Sequence[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header (lower case) and each record's ``wanted`` columns (stripped; empty when
    the record is short) with the physical line the record starts on."""
    reader = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    where = [(c, header.index(c)) for c in wanted if c in header]
    width = len(header)
    records, line = [], 2
    for values in reader:
        if values:
            padded = values + [""] * (width - len(values))
            records.append((line, {c: padded[i].strip() for c, i in where}))
        line = reader.line_num + 1
    return header, records


def _problem(field: str, message: str, check: str, line: int) -> Problem:
    return Problem(field, message, check, line, PAYABLES)


def _amount(value: str, line: int) -> tuple[int | None, Problem | None]:
    if not _DIGITS.fullmatch(value) or int(value) == 0:
        message = f"a positive whole number of minor units ({value!r} given)"
        return None, _problem("amount_minor", message, "amount", line)
    amount = int(value)
    if amount > MAX_AMOUNT_MINOR:
        message = f"at most {MAX_AMOUNT_MINOR:,} minor units"
        return None, _problem("amount_minor", message, "amount_bound", line)
    return amount, None


_TEXT_BOUNDS = (
    ("payable_id", ID_MAX),
    ("payee_id", ID_MAX),
    ("payee_name", NAME_MAX),
    ("reference", REFERENCE_MAX),
)


def _text_problems(row: Mapping[str, str], line: int) -> Iterable[Problem]:
    values = [(row[column], column, limit) for column, limit in _TEXT_BOUNDS]
    if all(0 < len(v) <= limit for v, _, limit in values) and is_clean_line(
        "".join(v for v, _, _ in values)
    ):
        return ()  # the common case, said at once
    found = (
        text_problem(v, column, max_chars=limit, line=line, required=True, source=PAYABLES)
        for v, column, limit in values
    )
    return [p for p in found if p]


def _row_problems(
    fmt: Scheme, row: Mapping[str, str], line: int, checked: dict[tuple[str, str], str | None]
) -> list[Problem]:
    """Every problem of one record (bank values are checked once per distinct value)."""
    problems = list(_text_problems(row, line))
    _, bad_amount = _amount(row["amount_minor"], line)
    if bad_amount:
        problems.append(bad_amount)
    if row["currency"] != fmt.currency:
        message = f"{fmt.format} files pay in {fmt.currency} only ({row['currency']!r} given)"
        problems.append(_problem("currency", message, "currency", line))
    for column, (check, _) in _BANK_CHECKS[fmt.originator_table].items():
        value = row.get(column, "")
        key = (column, value)
        if key not in checked:
            checked[key] = (
                "is required" if not value and column not in OPTIONAL_COLUMNS else check(value)
            )
        if checked[key]:
            problems.append(_problem(column, str(checked[key]), column, line))
    return problems


def _bank(fmt: Scheme, row: Mapping[str, str]) -> dict[str, str]:
    return {
        column: write(row.get(column, ""))
        for column, (_, write) in _BANK_CHECKS[fmt.originator_table].items()
        if row.get(column, "")
    }


@contextmanager
def _no_collection_pauses() -> Iterator[None]:
    """Hold the cycle collector while a file's rows become objects: they form no cycles,
    and its passes over 100,000 new rows took a third of the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_payables(content: bytes, fmt: Scheme) -> list[FilePayment]:
    """The payments of payables.csv for ``fmt``, one per payee, currency and bank account
    (in the order each first appears), or ValidationFailed with every problem."""
    with _no_collection_pauses():
        return _read_payables(content, fmt)


def _read_payables(content: bytes, fmt: Scheme) -> list[FilePayment]:
    try:
        header, records = _records(content, columns_of(fmt))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationFailed(
            [Problem("file", f"not UTF-8 CSV: {exc}", "encoding", source=PAYABLES)]
        ) from None
    required = [c for c in columns_of(fmt) if c not in OPTIONAL_COLUMNS]
    missing = [c for c in required if c not in header]
    if missing:
        need = ", ".join(columns_of(fmt))
        raise ValidationFailed(
            [
                _problem(c, f"missing column ({fmt.format} needs: {need})", "missing_column", 1)
                for c in missing
            ]
        )
    if not records:
        raise ValidationFailed(
            [_problem("file", "no rows under the header: nothing to pay", "empty", 1)]
        )
    problems: list[Problem] = []
    checked: dict[tuple[str, str], str | None] = {}
    seen: dict[str, int] = {}
    for line, row in records:
        problems.extend(_row_problems(fmt, row, line, checked))
        first = seen.setdefault(row["payable_id"], line)
        if first != line and row["payable_id"]:
            message = f"{row['payable_id']!r} is already on line {first}: a payable is paid once"
            problems.append(_problem("payable_id", message, "duplicate", line))
    if problems:
        raise ValidationFailed(problems)
    return _group(fmt, records)


def _group(fmt: Scheme, records: Sequence[tuple[int, Mapping[str, str]]]) -> list[FilePayment]:
    """One payment per payee, currency and bank account; ValidationFailed if one payment's
    total is over what the file's amount field holds."""
    groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, str]]]] = {}
    banks: dict[tuple[str, ...], dict[str, str]] = {}  # the payee's account, as written
    for line, row in records:
        raw = tuple(row.get(column, "") for column in fmt.bank_columns)
        bank = banks.get(raw)
        if bank is None:
            bank = banks[raw] = _bank(fmt, row)
        key = (row["payee_id"], row["currency"], *(f"{k}={v}" for k, v in bank.items()))
        groups.setdefault(key, []).append((line, row))
    payments, problems = [], []
    for number, rows in enumerate(groups.values(), start=1):
        first = rows[0][1]
        bank = banks[tuple(first.get(column, "") for column in fmt.bank_columns)]
        payment = _payment(f"PAY-{number:06d}", rows, bank)
        if payment.amount_minor > fmt.payment_max_minor:
            message = (
                f"the payment to {payment.payee_id!r} totals {payment.amount_minor:,} minor units; "
                f"a {fmt.format} entry holds at most {fmt.payment_max_minor:,}"
            )
            problems.append(_problem("amount_minor", message, "payment_total", rows[-1][0]))
        payments.append(payment)
    if problems:
        raise ValidationFailed(problems)
    return payments


def _payment(
    payment_id: str, rows: Sequence[tuple[int, Mapping[str, str]]], bank: Mapping[str, str]
) -> FilePayment:
    """The payment of one payee's rows: its reference is the payable's own when it pays one,
    else the payment id (the remittance lists each payable)."""
    first = rows[0][1]
    lines = tuple(
        RemittanceLine(r["payable_id"], r["reference"], int(r["amount_minor"])) for _, r in rows
    )
    return FilePayment(
        payment_id=payment_id,
        payee_id=first["payee_id"],
        payee_name=first["payee_name"],
        amount_minor=sum(item.amount_minor for item in lines),
        currency=first["currency"],
        reference=lines[0].reference if len(lines) == 1 else payment_id,
        bank=bank,
        lines=lines,
    )


# --- originator.toml ---------------------------------------------------------------------


def _text(limit: int) -> Check:
    def check(value: str) -> str | None:
        problem = text_problem(value, "", max_chars=limit, required=True)
        return problem.message if problem else None

    return check


def _choice(*allowed: str) -> Check:
    return lambda value: None if value in allowed else f"one of {', '.join(allowed)}"


def _six_digits(value: str) -> str | None:
    ok = len(value) == 6 and _DIGITS.fullmatch(value)
    return None if ok else "a service user number is 6 digits"


# Per table: each key, whether it must be given, and its check (booleans are checked apart).
_ORIGINATOR_KEYS: dict[str, dict[str, tuple[bool, Check]]] = {
    "nacha": {
        "immediate_destination": (True, routing_message),
        "immediate_origin": (True, _text(10)),
        "destination_name": (True, _text(23)),
        "origin_name": (True, _text(23)),
        "company_name": (True, _text(16)),
        "company_id": (True, _text(10)),
        "odfi_routing": (True, routing_message),
        "sec_code": (True, _choice("PPD", "CCD", "CTX")),
        "entry_description": (True, _text(10)),
    },
    "bacs": {
        "service_user_number": (True, _six_digits),
        "sort_code": (True, sort_code_message),
        "account_number": (True, bacs_account_message),
        "name": (True, _text(18)),
    },
    "sepa": {
        "name": (True, _text(70)),
        "iban": (True, lambda v: iban_message(compact(v))),
        "bic": (False, lambda v: bic_message(compact(v))),
        "initiating_party_id": (False, _text(35)),
    },
}
_ORIGINATOR_FLAGS = {"nacha": ("addenda",), "bacs": (), "sepa": ()}
_ORIGINATOR_CLEAN: dict[str, Callable[[str], str]] = {
    "bacs.sort_code": sort_code,
    "sepa.iban": compact,
    "sepa.bic": compact,
}


def _key_lines(text: str) -> dict[str, int]:
    """The line each ``table.key`` (and each ``[table]``) is written on."""
    where: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(raw)
        if header:
            table = header.group(1)
            where.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            where.setdefault(f"{table}.{key.group(1)}" if table else key.group(1), number)
    return where


def _table_problems(name: str, table: Mapping[str, Any], lines: Mapping[str, int]) -> list[Problem]:
    keys, flags = _ORIGINATOR_KEYS[name], _ORIGINATOR_FLAGS[name]
    problems = []

    def add(key: str, message: str, check: str) -> None:
        field = f"{name}.{key}"
        problems.append(
            Problem(field, message, check, lines.get(field, lines.get(name)), ORIGINATOR)
        )

    for key in table:
        if key not in keys and key not in flags:
            add(
                key,
                f"unknown key (the [{name}] table takes: {', '.join((*keys, *flags))})",
                "unknown_key",
            )
    for key, (required, check) in keys.items():
        if key not in table:
            if required:
                add(key, "is required", "required")
            continue
        value = table[key]
        message = check(value) if isinstance(value, str) else "must be a quoted string"
        if message:
            add(key, message, key)
    for flag in flags:
        if flag in table and not isinstance(table[flag], bool):
            add(flag, "true or false", "boolean")
    return problems


def originator_problems(table_name: str, table: Mapping[str, Any]) -> list[Problem]:
    """Every problem of one originator table (``nacha``, ``bacs`` or ``sepa``) given as a
    mapping rather than read from originator.toml (a house bank account's details), each
    named ``table.key``; no line, as there is no file.

    >>> [p.field for p in originator_problems("bacs", {"service_user_number": "12345"})]
    ['bacs.service_user_number', 'bacs.sort_code', 'bacs.account_number', 'bacs.name']
    """
    if table_name not in _ORIGINATOR_KEYS:
        known = ", ".join(_ORIGINATOR_KEYS)
        return [Problem(table_name, f"no such originator table (one of {known})", "table")]
    return [Problem(p.field, p.message, p.check) for p in _table_problems(table_name, table, {})]


def read_originator(content: bytes, fmt: Scheme) -> dict[str, Any]:
    """The ``fmt`` table of originator.toml, checked and cleaned (sort codes as 6 digits,
    IBAN and BIC compact; ``addenda`` false when not given), or ValidationFailed."""
    try:
        text = content.decode("utf-8-sig")
        document = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ValidationFailed(
            [Problem("file", "not UTF-8 text", "encoding", source=ORIGINATOR)]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = int(found.group(1)) if found else None
        raise ValidationFailed(
            [Problem("file", f"not TOML: {exc}", "toml", line, ORIGINATOR)]
        ) from None
    name = fmt.originator_table
    table = document.get(name)
    if not isinstance(table, dict):
        message = f"a [{name}] table is required for {fmt.format} files"
        raise ValidationFailed([Problem(name, message, "missing_table", None, ORIGINATOR)])
    problems = _table_problems(name, table, _key_lines(text))
    if problems:
        raise ValidationFailed(problems)
    cleaned = {
        k: _ORIGINATOR_CLEAN.get(f"{name}.{k}", str)(v) if isinstance(v, str) else v
        for k, v in table.items()
    }
    for flag in _ORIGINATOR_FLAGS[name]:
        cleaned.setdefault(flag, False)
    return cleaned


# --- the pay date and the remittance -----------------------------------------------------


def parse_date(value: str, field: str = "--date") -> date:
    """A YYYY-MM-DD date between 1900 and 2100, or ValidationFailed.

    >>> parse_date("2026-02-30")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    remit.errors.ValidationFailed: --date: not a date in the calendar ...
    """
    if not _ISO_DATE.fullmatch(value):
        raise ValidationFailed([Problem(field, f"a date YYYY-MM-DD ({value!r} given)", "date")])
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            [Problem(field, f"not a date in the calendar ({value!r} given)", "date")]
        ) from None
    problem = date_problem(day, field)
    if problem:
        raise ValidationFailed([problem])
    return day


def value_date(day: date, fmt: Scheme) -> date:
    """``day``, or the next banking day of the scheme's calendar when it is not one."""
    return BusinessCalendar(fmt.calendar).add_business_days(day, 0)


def remittance_csv(payments: Iterable[FilePayment]) -> str:
    """The remittance CSV: one row per payable, under the payment that pays it.

    >>> p = FilePayment("PAY-000001", "V7", "Sunrise", 700, "GBP", "PAY-000001", {},
    ...                 (RemittanceLine("SB1", "SB-1", 500), RemittanceLine("SB2", "SB-2", 200)))
    >>> print(remittance_csv([p]), end="")
    payment_id,payee_id,payable_id,reference,amount_minor,currency
    PAY-000001,V7,SB1,SB-1,500,GBP
    PAY-000001,V7,SB2,SB-2,200,GBP
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REMITTANCE_COLUMNS)
    writer.writerows(
        (p.payment_id, p.payee_id, item.payable_id, item.reference, item.amount_minor, p.currency)
        for p in payments
        for item in p.lines
    )
    return out.getvalue()


def prepare(
    payables: bytes, originator: bytes, pay_date: str, fmt: Scheme
) -> tuple[list[FilePayment], dict[str, Any], date]:
    """The payments, the originator table and the value date of one offline file, or one
    ValidationFailed with the problems of all three inputs together."""
    problems: list[Problem] = []
    payments: list[FilePayment] = []
    table: dict[str, Any] = {}
    day = date.min
    try:
        payments = read_payables(payables, fmt)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        table = read_originator(originator, fmt)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    try:
        day = value_date(parse_date(pay_date), fmt)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    if problems:
        raise ValidationFailed(problems)
    return payments, table, day
