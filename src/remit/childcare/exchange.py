"""The child care exchange files (docs/formats/childcare.md): certs.csv, attendance.csv,
ceilings.csv, families.csv, providers.csv and policy.toml read into the calculation's
values, every problem named by file, physical line (the header is line 1) and column, and
nothing returned while any problem is left; payments.csv and summary.json written."""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from remit.childcare.model import (
    WEEKDAYS,
    Absence,
    AgeBand,
    Attendance,
    Basis,
    Ceiling,
    CertificateVersion,
    Facility,
    Family,
    PaymentRow,
    Policy,
    Provider,
    ProviderType,
    RateCategory,
    TimeBasis,
)
from remit.childcare.providerfile import (
    LABELS,
    RELATIONSHIPS,
    DocumentKind,
    good_status,
    statuses,
)
from remit.errors import Problem, ValidationFailed
from remit.money import MAX_AMOUNT_MINOR
from remit.text import DATE_MAX, DATE_MIN, is_clean_line

CEILINGS = (
    "effective_from",
    "county",
    "facility",
    "age_band",
    "rate_category",
    "time_basis",
    "amount",
)
PROVIDERS = ("provider_id", "provider_type", "county", "file_complete", "closure_policy")
FAMILIES = (
    "family_id",
    "family_size",
    "monthly_income_minor",
    "family_fee_minor",
    "fee_collected_by",
)
CERTIFICATES = (
    "certificate_id",
    "version_from",
    "child_id",
    "family_id",
    "provider_id",
    "child_birth_date",
    "start_date",
    "end_date",
    "schedule",
    "rate_category",
    "time_basis",
    "evening_weekend_share",
    "exceptional_needs",
    "severely_disabled",
    "provider_rate",
)
ATTENDANCE = (
    "certificate_id",
    "date",
    "time_in",
    "time_out",
    "absence",
    "parent_signed",
    "provider_signed",
    "received",
)
PAYMENTS = (
    "certificate_id",
    "version_from",
    "child_id",
    "provider_id",
    "month",
    "status",
    "reasons",
    "basis",
    "units",
    "ceiling_minor",
    "factor",
    "rate_applied_minor",
    "gross_minor",
    "family_fee_minor",
    "net_minor",
    "due_by",
    "fee_check",
    "eligibility_check",
    "rate_check",
    "hours_check",
)
ID_MAX = 64
CATEGORY_TEXT = "hourly, daily, weekly or monthly"
MAX_ROWS = 2_000_000
_DOLLARS = re.compile(r"\d{1,10}(\.\d{1,2})?", re.ASCII)
_WHOLE = re.compile(r"\d{1,15}", re.ASCII)
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)", re.ASCII)
_DAY_HOURS = re.compile(r"(mon|tue|wed|thu|fri|sat|sun)=(\d{1,2}(\.\d{1,2})?)", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
T = TypeVar("T")


class _Reader:
    """One file's records and problems: each value is read by a checker that names the line
    and column of what is wrong and gives None."""

    def __init__(
        self, name: str, content: bytes, columns: Sequence[str], optional: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.records: list[tuple[int, dict[str, str]]] = []
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.problems.append(
                Problem("file", f"not UTF-8 (byte {exc.start + 1})", "encoding", source=name)
            )
            return
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip().lower() for h in next(reader, [])]
        except csv.Error as exc:
            self.problems.append(Problem("file", f"cannot be read as CSV: {exc}", "csv", 1, name))
            return
        missing = [c for c in columns if c not in header]
        for column in missing:
            self.problems.append(
                Problem(column, f"the header has no {column!r} column", "missing_column", 1, name)
            )
        if missing:
            return
        where = [(c, header.index(c)) for c in (*columns, *optional) if c in header]
        self.absent = {c: "" for c in optional if c not in header}
        line = 2
        try:
            self._read(reader, header, where, line)
        except csv.Error as exc:  # a field over the csv module's limit, a stray NUL...
            self.problems.append(
                Problem("file", f"cannot be read as CSV: {exc}", "csv", reader.line_num, name)
            )

    def _read(
        self, reader: Any, header: list[str], where: list[tuple[str, int]], line: int
    ) -> None:
        for values in reader:
            if any(v.strip() for v in values):
                padded = values + [""] * (len(header) - len(values))
                found = {c: padded[i].strip() for c, i in where}
                self.records.append((line, found | self.absent if self.absent else found))
            if len(self.records) > MAX_ROWS:
                self.problems.append(
                    Problem(
                        "file", f"more than {MAX_ROWS:,} rows", "too_many_rows", line, self.name
                    )
                )
                return
            line = reader.line_num + 1

    def bad(self, line: int, column: str, message: str, check: str) -> None:
        self.problems.append(Problem(column, message, check, line, self.name))

    def value(
        self,
        line: int,
        row: Mapping[str, str],
        column: str,
        parse: Callable[[str], T | None],
        expected: str,
        *,
        blank: T | None = None,
        allow_blank: bool = False,
    ) -> T | None:
        text = row[column]
        if not text and allow_blank:
            return blank
        parsed = parse(text)
        if parsed is None:
            self.bad(line, column, f"{expected} ({text[:40]!r} given)", "value")
        return parsed


def _date(text: str) -> date | None:
    """A date YYYY-MM-DD from 1900 to 2100 (``remit.text``'s bounds), else None."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if DATE_MIN <= day <= DATE_MAX else None


def _dollars(text: str) -> int | None:
    if not _DOLLARS.fullmatch(text):
        return None
    minor = int(Decimal(text) * 100)
    return minor if minor <= MAX_AMOUNT_MINOR else None


def _whole(text: str) -> int | None:
    return int(text) if _WHOLE.fullmatch(text) and int(text) <= MAX_AMOUNT_MINOR else None


def _flag(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text.lower())


def _ident(text: str) -> str | None:
    return text if 0 < len(text) <= ID_MAX and is_clean_line(text) else None


def _choice(kind: type[T]) -> Callable[[str], T | None]:
    def parse(text: str) -> T | None:
        try:
            return kind(text.lower())  # type: ignore[call-arg]
        except ValueError:
            return None

    return parse


def _share(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value <= 1 and len(text) <= 10 else None


def schedule(text: str) -> tuple[Decimal, ...] | None:
    """Hours per weekday from ``mon=8;tue=8``: days not named are 0; None when malformed
    (a day twice, an unknown day, more than 24 hours).

    >>> [str(h) for h in schedule("mon=8;wed=4.5")]
    ['8', '0', '4.5', '0', '0', '0', '0']
    >>> schedule("mon=8;mon=2"), schedule("funday=3"), schedule("mon=25")
    (None, None, None)
    """
    hours = dict.fromkeys(WEEKDAYS, Decimal(0))
    seen: set[str] = set()
    for part in (p.strip() for p in text.lower().split(";") if p.strip()):
        found = _DAY_HOURS.fullmatch(part.replace(" ", ""))
        if found is None or found.group(1) in seen or Decimal(found.group(2)) > 24:
            return None
        seen.add(found.group(1))
        hours[found.group(1)] = Decimal(found.group(2))
    return tuple(hours[d] for d in WEEKDAYS) if seen else None


def _minutes(text: str) -> int | None:
    found = _TIME.fullmatch(text)
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def _raise(problems: Sequence[Problem]) -> None:
    if problems:
        raise ValidationFailed(list(problems))


def _rate_keys(r: _Reader, line: int, row: Mapping[str, str]) -> tuple[Any, Any]:
    """A row's rate category and time basis (ceilings and certificates have both)."""
    return (
        r.value(line, row, "rate_category", _choice(RateCategory), CATEGORY_TEXT),
        r.value(line, row, "time_basis", _choice(TimeBasis), "full or part"),
    )


def read_ceilings(content: bytes, name: str = "ceilings.csv") -> list[Ceiling]:
    return [ceiling for _line, ceiling in ceiling_records(content, name)]


def ceiling_records(content: bytes, name: str = "ceilings.csv") -> list[tuple[int, Ceiling]]:
    """The ceilings of a file with their lines."""
    r = _Reader(name, content, CEILINGS)
    out: list[tuple[int, Ceiling]] = []
    keys: dict[tuple[Any, ...], int] = {}
    for line, row in r.records:
        values = (
            r.value(line, row, "effective_from", _date, "a date YYYY-MM-DD"),
            r.value(line, row, "county", _ident, "a county name"),
            r.value(line, row, "facility", _choice(Facility), "center or fcch"),
            r.value(line, row, "age_band", _choice(AgeBand), "under_2, 2_to_5 or 6_plus"),
            *_rate_keys(r, line, row),
            r.value(line, row, "amount", _dollars, "dollars, e.g. 301.55"),
        )
        if any(v is None for v in values):
            continue
        key = values[:6]
        if key in keys:
            r.bad(line, "effective_from", f"the same ceiling as line {keys[key]}", "duplicate")
            continue
        keys[key] = line
        out.append((line, Ceiling(*values)))  # type: ignore[arg-type]
    _raise(r.problems)
    return out


def read_providers(content: bytes, name: str = "providers.csv") -> dict[str, Provider]:
    return {p.provider_id: p for _line, p in provider_records(content, name)}


def provider_records(content: bytes, name: str = "providers.csv") -> list[tuple[int, Provider]]:
    """The providers of a file with their lines."""
    r = _Reader(name, content, PROVIDERS)
    out: dict[str, Provider] = {}
    lines: dict[str, int] = {}
    for line, row in r.records:
        pid = r.value(line, row, "provider_id", _ident, "an id of up to 64 characters")
        kind = r.value(line, row, "provider_type", _choice(ProviderType), "center, fcch or exempt")
        county = r.value(line, row, "county", _ident, "a county name")
        complete = r.value(line, row, "file_complete", _flag, "yes or no")
        closure = r.value(line, row, "closure_policy", _flag, "yes or no")
        if None in (pid, kind, county, complete, closure):
            continue
        if pid in out:
            r.bad(line, "provider_id", f"provider {pid} is listed twice", "duplicate")
            continue
        out[str(pid)] = Provider(str(pid), kind, str(county), bool(complete), bool(closure))
        lines[str(pid)] = line
    _raise(r.problems)
    return [(lines[pid], provider) for pid, provider in out.items()]


@dataclass(frozen=True, slots=True)
class BookProvider:
    """A provider as a book's providers.csv gives it: the offline file's ``file_complete``
    and ``closure_policy`` are not read in a book (its provider file decides), so the
    import says so when a file carries them."""

    provider_id: str
    provider_type: ProviderType
    county: str
    relationship: str | None  # a licence-exempt carer's, when given
    flags_given: bool


BOOK_PROVIDERS = ("provider_id", "provider_type", "county")
BOOK_PROVIDER_OPTIONAL = ("relationship", "file_complete", "closure_policy")


def book_provider_records(
    content: bytes, name: str = "providers.csv"
) -> list[tuple[int, BookProvider]]:
    """The providers of a book's providers.csv with their lines."""
    r = _Reader(name, content, BOOK_PROVIDERS, BOOK_PROVIDER_OPTIONAL)
    out: dict[str, tuple[int, BookProvider]] = {}
    for line, row in r.records:
        pid = r.value(line, row, "provider_id", _ident, "an id of up to 64 characters")
        kind = r.value(line, row, "provider_type", _choice(ProviderType), "center, fcch or exempt")
        county = r.value(line, row, "county", _ident, "a county name")
        relation = r.value(
            line,
            row,
            "relationship",
            lambda t: t.lower() if t.lower() in RELATIONSHIPS else None,
            "grandparent, aunt, uncle or other",
            allow_blank=True,
        )
        if relation is not None and kind is not None and kind is not ProviderType.EXEMPT:
            r.bad(line, "relationship", "only a licence-exempt carer has one", "value")
            continue
        if pid is None or kind is None or county is None:
            continue
        if pid in out:
            r.bad(line, "provider_id", f"provider {pid} is listed twice", "duplicate")
            continue
        given = bool(row.get("file_complete") or row.get("closure_policy"))
        out[str(pid)] = (line, BookProvider(str(pid), kind, str(county), relation, given))
    _raise(r.problems)
    return list(out.values())


DOCUMENTS = ("provider_id", "kind", "status", "valid_from")
DOCUMENT_OPTIONAL = ("expires_on", "reference", "unsubsidised_rate")


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A line of a book's documents.csv: one record of a provider's file."""

    provider_id: str
    kind: DocumentKind
    status: str
    valid_from: date
    expires_on: date | None
    reference: str
    unsubsidised_rate_minor: int | None


def _status_of(kind: DocumentKind) -> Callable[[str], str | None]:
    return lambda t: t.lower() if t.lower() in statuses(kind) else None


def document_records(
    content: bytes, name: str = "documents.csv"
) -> list[tuple[int, DocumentRecord]]:
    """The provider-file records of a book's documents.csv with their lines: a licence and
    a cleared TrustLine registration carry their number (``reference``), a rate sheet the
    rate charged to unsubsidised families (dollars), and nothing expires before it holds."""
    r = _Reader(name, content, DOCUMENTS, DOCUMENT_OPTIONAL)
    out: list[tuple[int, DocumentRecord]] = []
    seen: dict[tuple[str, DocumentKind, date], int] = {}
    for line, row in r.records:
        pid = r.value(line, row, "provider_id", _ident, "an id of up to 64 characters")
        kind = r.value(
            line, row, "kind", _choice(DocumentKind), ", ".join(k.value for k in DocumentKind)
        )
        status = None
        if kind is not None:
            status = r.value(
                line,
                row,
                "status",
                _status_of(kind),
                " or ".join(statuses(kind)),
            )
        start = r.value(line, row, "valid_from", _date, "a date YYYY-MM-DD")
        ends = r.value(line, row, "expires_on", _date, "a date YYYY-MM-DD", allow_blank=True)
        reference = r.value(
            line, row, "reference", _ident, "up to 64 characters", blank="", allow_blank=True
        )
        rate = r.value(
            line, row, "unsubsidised_rate", _dollars, "dollars, e.g. 1250.00", allow_blank=True
        )
        if pid is None or kind is None or status is None or start is None or reference is None:
            continue
        if ends is not None and ends < start:
            r.bad(line, "expires_on", f"before valid_from {start.isoformat()}", "value")
            continue
        needs_number = kind is DocumentKind.LICENCE or (
            kind is DocumentKind.TRUSTLINE and status == good_status(kind)
        )
        if needs_number and not reference:
            r.bad(line, "reference", f"a {LABELS[kind]} record needs its number", "required")
            continue
        if kind is DocumentKind.RATE_SHEET and status == good_status(kind) and rate is None:
            r.bad(
                line,
                "unsubsidised_rate",
                "a rate sheet needs the rate charged to unsubsidised families",
                "required",
            )
            continue
        key = (str(pid), kind, start)
        if key in seen:
            r.bad(
                line,
                "valid_from",
                f"{pid}'s {LABELS[kind]} from {start.isoformat()} is also on line {seen[key]}",
                "duplicate",
            )
            continue
        seen[key] = line
        out.append(
            (line, DocumentRecord(str(pid), kind, str(status), start, ends, str(reference), rate))
        )
    _raise(r.problems)
    return out


def read_families(content: bytes, name: str = "families.csv") -> dict[str, Family]:
    return {f.family_id: f for _line, f, _row in family_records(content, name)}


def family_records(
    content: bytes, name: str = "families.csv", optional: Sequence[str] = ()
) -> list[tuple[int, Family, dict[str, str]]]:
    """The families of a file with their lines, and the raw text of its ``optional``
    columns ("" where the file has no such column), for a book's import to read."""
    r = _Reader(name, content, FAMILIES, optional)
    out: dict[str, Family] = {}
    lines: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in r.records:
        fid = r.value(line, row, "family_id", _ident, "an id of up to 64 characters")
        size = r.value(line, row, "family_size", _whole, "a whole number of people")
        income = r.value(line, row, "monthly_income_minor", _whole, "whole cents")
        fee = r.value(line, row, "family_fee_minor", _whole, "whole cents")
        by = r.value(
            line,
            row,
            "fee_collected_by",
            lambda t: t.lower() if t.lower() in ("provider", "agency") else None,
            "provider or agency",
        )
        if None in (fid, size, income, fee, by):
            continue
        if not size:
            r.bad(line, "family_size", "at least 1", "value")
            continue
        if fid in out:
            r.bad(line, "family_id", f"family {fid} is listed twice", "duplicate")
            continue
        out[str(fid)] = Family(str(fid), int(size), int(income), int(fee), str(by))  # type: ignore[arg-type]
        lines[str(fid)] = (line, row)
    _raise(r.problems)
    return [(lines[fid][0], family, lines[fid][1]) for fid, family in out.items()]


def read_certificates(content: bytes, name: str = "certs.csv") -> list[CertificateVersion]:
    return [version for _line, version, _row in certificate_records(content, name)]


def certificate_records(
    content: bytes, name: str = "certs.csv", optional: Sequence[str] = ()
) -> list[tuple[int, CertificateVersion, dict[str, str]]]:
    """The certificate versions of a file with their lines and raw rows (``optional``
    columns "" where absent), for a book's import to read."""
    r = _Reader(name, content, CERTIFICATES, optional)
    out: list[tuple[int, CertificateVersion, dict[str, str]]] = []
    seen: dict[tuple[str, date], int] = {}
    for line, row in r.records:
        v = (
            r.value(line, row, "certificate_id", _ident, "an id of up to 64 characters"),
            r.value(line, row, "version_from", _date, "a date YYYY-MM-DD"),
            r.value(line, row, "child_id", _ident, "an id of up to 64 characters"),
            r.value(line, row, "family_id", _ident, "an id of up to 64 characters"),
            r.value(line, row, "provider_id", _ident, "an id of up to 64 characters"),
            r.value(line, row, "child_birth_date", _date, "a date YYYY-MM-DD"),
            r.value(line, row, "start_date", _date, "a date YYYY-MM-DD"),
            r.value(line, row, "end_date", _date, "a date YYYY-MM-DD"),
            r.value(line, row, "schedule", schedule, "hours per weekday, e.g. mon=8;tue=8"),
            *_rate_keys(r, line, row),
            r.value(line, row, "evening_weekend_share", _share, "a share from 0 to 1"),
            r.value(line, row, "exceptional_needs", _flag, "yes or no"),
            r.value(line, row, "severely_disabled", _flag, "yes or no"),
            r.value(line, row, "provider_rate", _dollars, "dollars, e.g. 55.00"),
        )
        if any(x is None for x in v):
            continue
        start, end = v[6], v[7]
        if end < start:  # type: ignore[operator]
            r.bad(line, "end_date", f"before the start date {start}", "date_order")
            continue
        key = (str(v[0]), v[1])
        if key in seen:
            r.bad(line, "version_from", f"the same version as line {seen[key]}", "duplicate")
            continue
        seen[key] = line  # type: ignore[index]
        out.append((line, CertificateVersion(*v), row))  # type: ignore[arg-type]
    _raise(r.problems)
    return out


def read_attendance(content: bytes, name: str = "attendance.csv") -> list[Attendance]:
    """The days of the records; a time out not after its time in, or an absence with
    times, is a problem of the file. The signature and received dates of one
    certificate's month are the same on every row."""
    return [day for _line, day in attendance_records(content, name)]


def attendance_records(
    content: bytes, name: str = "attendance.csv"
) -> list[tuple[int, Attendance]]:
    """The days of the records with their lines (see `read_attendance`)."""
    r = _Reader(name, content, ATTENDANCE)
    out: list[tuple[int, Attendance]] = []
    dates: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    for line, row in r.records:
        cert = r.value(line, row, "certificate_id", _ident, "an id of up to 64 characters")
        day = r.value(line, row, "date", _date, "a date YYYY-MM-DD")
        absence = r.value(
            line,
            row,
            "absence",
            _choice(Absence),
            "blank, excused or closure",
            blank=Absence.NONE,
            allow_blank=True,
        )
        signed = tuple(
            r.value(line, row, c, _date, "a date YYYY-MM-DD or blank", allow_blank=True)
            for c in ("parent_signed", "provider_signed", "received")
        )
        bad_signed = any(
            row[c] and s is None
            for c, s in zip(("parent_signed", "provider_signed", "received"), signed, strict=True)
        )
        minutes = 0
        if absence is None:
            continue
        if absence is Absence.NONE:
            t_in = r.value(line, row, "time_in", _minutes, "a time HH:MM")
            t_out = r.value(line, row, "time_out", _minutes, "a time HH:MM")
            if t_in is not None and t_out is not None:
                if t_out <= t_in:
                    r.bad(line, "time_out", f"not after the time in {row['time_in']}", "time_order")
                    continue
                minutes = t_out - t_in
            else:
                continue
        elif row["time_in"] or row["time_out"]:
            r.bad(line, "time_in", f"an {absence.value} day has no times", "absence_with_times")
            continue
        if cert is None or day is None or bad_signed:
            continue
        key = (cert, f"{day:%Y-%m}")
        if key in dates and dates[key][1] != signed:
            first = dates[key][0]
            r.bad(
                line,
                "parent_signed",
                f"the signature and received dates differ from line {first}, of the same "
                "certificate and month",
                "dates_differ",
            )
            continue
        dates.setdefault(key, (line, signed))
        out.append((line, Attendance(cert, day, minutes, absence, *signed)))
    _raise(r.problems)
    return out


def read_policy(content: bytes | None, name: str = "policy.toml") -> Policy:
    """The policy; without a file, the defaults (``certified_maximum``, 0.70, 10, 21)."""
    if content is None:
        return Policy()
    try:
        table = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed([Problem("file", f"not TOML: {exc}", "toml", source=name)]) from None
    problems: list[Problem] = []
    known = {"basis", "exempt_share", "closure_days_per_year", "days_to_pay", "smi"}
    for key in sorted(set(table) - known):
        problems.append(Problem(key, "not a policy key", "unknown_key", source=name))
    basis = Basis.CERTIFIED_MAXIMUM
    if "basis" in table:
        try:
            basis = Basis(str(table["basis"]))
        except ValueError:
            message = "certified_maximum or attendance_capped_at_certified"
            problems.append(Problem("basis", message, "value", source=name))
    share = _share(str(table.get("exempt_share", "0.70")))
    if share is None:
        message = 'a share from 0 to 1, e.g. "0.70"'
        problems.append(Problem("exempt_share", message, "value", source=name))
    whole: dict[str, int] = {}
    for key, default, top in (("closure_days_per_year", 10, 366), ("days_to_pay", 21, 366)):
        value = table.get(key, default)
        if type(value) is not int or not 0 <= value <= top:
            problems.append(Problem(key, f"a whole number from 0 to {top}", "value", source=name))
            value = default
        whole[key] = value
    smi: dict[int, int] = {}
    raw = table.get("smi", {})
    if not isinstance(raw, dict):
        problems.append(Problem("smi", "a table of family size = dollars", "value", source=name))
        raw = {}
    for size, amount in raw.items():
        minor = _dollars(str(amount))
        if not str(size).isdigit() or not 0 < int(size) <= 30 or minor is None:
            message = 'family size 1-30 = dollars, e.g. "4" = "9000.00"'
            problems.append(Problem(f"smi.{size}", message, "value", source=name))
            continue
        smi[int(size)] = minor
    _raise(problems)
    return Policy(
        basis,
        share if share is not None else Decimal("0.70"),
        whole["closure_days_per_year"],
        whole["days_to_pay"],
        smi,
    )


def month_start(text: str) -> date:
    """``YYYY-MM`` as its first day; ValidationFailed naming ``--month`` otherwise."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        return _bad_month(text)
    return date(int(found.group(1)), int(found.group(2)), 1)


def _bad_month(text: str) -> date:
    raise ValidationFailed([Problem("--month", f"a month YYYY-MM ({text[:20]!r} given)", "month")])


def _dec(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _opt(value: object | None) -> str:
    return "" if value is None else str(value)


def payments_csv(rows: Iterable[PaymentRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAYMENTS)
    for r in rows:
        if r.basis == "":  # an unknown certificate: its id, status and reason only
            writer.writerow(
                [r.certificate_id, "", "", "", "", r.status, ";".join(r.reasons)]
                + [""] * (len(PAYMENTS) - 7)
            )
            continue
        writer.writerow(
            [
                r.certificate_id,
                _opt(r.version_from),
                r.child_id,
                r.provider_id,
                r.month,
                r.status,
                ";".join(r.reasons),
                r.basis,
                _dec(r.units),
                _opt(r.ceiling_minor),
                _dec(r.factor),
                r.rate_applied_minor,
                r.gross_minor,
                r.family_fee_minor,
                r.net_minor,
                _opt(r.due_by),
                r.fee_check,
                r.eligibility_check,
                r.rate_check,
                r.hours_check,
            ]
        )
    return out.getvalue()


def summary(rows: Sequence[PaymentRow]) -> dict[str, Any]:
    """Counts of child-months (payable, incomplete) and the payable net, per provider and
    over all providers (an unknown certificate has none: it is in payments.csv only); a
    child-month of several version rows counts once."""
    seen: dict[tuple[str, str], str] = {}
    net: dict[str, int] = {}
    for r in rows:
        seen[(r.certificate_id, r.provider_id)] = r.status
        if r.status == "payable":
            net[r.provider_id] = net.get(r.provider_id, 0) + r.net_minor
    providers: dict[str, dict[str, int]] = {}
    for (_cert, provider), status in sorted(seen.items()):
        if not provider:
            continue  # an unknown certificate has no provider
        counts = providers.setdefault(provider, {"payable": 0, "incomplete": 0, "net_minor": 0})
        counts[status] += 1
    for provider, counts in providers.items():
        counts["net_minor"] = net.get(provider, 0)
    # In all, a child-month counts once even when its versions name different providers.
    statuses = {cert: status for (cert, provider), status in seen.items() if provider}
    totals = {
        "payable": sum(1 for s in statuses.values() if s == "payable"),
        "incomplete": sum(1 for s in statuses.values() if s == "incomplete"),
        "net_minor": sum(net.values()),
    }
    return {"providers": providers, "totals": totals}


def summary_json(rows: Sequence[PaymentRow]) -> str:
    return json.dumps(summary(rows), indent=2, sort_keys=True) + "\n"
