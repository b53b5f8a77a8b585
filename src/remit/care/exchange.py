"""remit's CSV exchange format for care monitoring (docs/formats/care.md): read and check.

Each reader returns the rows as the engine's frame and every problem found, each with its
file, line and field; it never stops at the first. Extra columns are allowed; a missing
required column is a problem of line 1. Line numbers count the header as line 1 and assume
one record per line (quoted line breaks inside a field are not supported).

>>> seconds_of(pl.Series(["2026-11-02T09:00", "2026-11-02 09:00:30", "2026-11-02T09:00+01:00"]))
[1793610000, 1793610030, None]
>>> millionths_of(pl.Series(["18.5", "18.123456", "1.1234567", "-3"]))
[18500000, 18123456, None, None]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from remit.care.model import (
    BANDS,
    MAX_CARERS,
    MAX_PLANNED_MINUTES,
    MAX_RATE,
    METHODS,
    PLANNED_STATUSES,
    Policy,
)
from remit.errors import Problem, ValidationFailed
from remit.money import UnknownCurrency, exponent
from remit.text import (
    DATE_MAX,
    DATE_MIN,
    FREE_TEXT_MAX,
    ID_MAX,
    SINGLE_LINE_REFUSED_PATTERN,
    date_problem,
    text_problem,
)

PLANNED_COLUMNS = ("visit_id", "client_id", "provider_id", "service_code", "start", "end")
ACTUAL_COLUMNS = (
    "record_id",
    "client_id",
    "provider_id",
    "carer_id",
    "service_code",
    "method",
    "check_in",
    "check_out",
)
RATE_COLUMNS = ("provider_id", "service_code", "rate_per_hour", "currency", "effective_from")
DATE_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$"
LOCAL_TIME = "a local date-time like 2026-11-02T09:00:00 (no time zone)"
# The six elements of electronic visit verification, and the columns that carry them.
EVV_ELEMENTS = (
    ("service", ("service_code",)),
    ("client", ("client_id",)),
    ("date and begin time", ("check_in",)),
    ("end time", ("check_out",)),
    ("carer", ("carer_id",)),
    ("provider", ("provider_id",)),
)


@dataclass
class Checked:
    """A file's rows (``line`` holds each one's line number) and its problems."""

    name: str
    rows: pl.DataFrame
    problems: list[Problem] = field(default_factory=list)
    columns: tuple[str, ...] = ()  # the file's own columns, and "line"

    def valid_rows(self) -> pl.DataFrame:
        bad = {p.line for p in self.problems if p.line is not None}
        return self.rows.filter(~pl.col("line").is_in(list(bad)))


def seconds_of(texts: pl.Series) -> list[int | None]:
    return texts.to_frame("t").select(_seconds(pl.col("t"))).to_series().to_list()


def millionths_of(texts: pl.Series) -> list[int | None]:
    return texts.to_frame("t").select(_millionths(pl.col("t"))).to_series().to_list()


def _seconds(text: pl.Expr) -> pl.Expr:
    """Local ISO 8601 text to whole seconds since the epoch (fractions dropped); else null."""
    clean = text.str.strip_chars()
    full = (
        pl.when(clean.str.len_chars() == 16)
        .then(clean + ":00")
        .otherwise(clean.str.slice(0, 19))
        .str.replace(" ", "T", literal=True)
    )
    moment = full.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
    return pl.when(clean.str.contains(DATE_TIME)).then(moment.dt.epoch("s")).otherwise(None)


def _millionths(text: pl.Expr) -> pl.Expr:
    """A non-negative decimal string with at most six decimals to integer millionths."""
    clean = text.str.strip_chars()
    whole = clean.str.extract(r"^(\d{1,9})(?:\.\d{1,6})?$", 1).cast(pl.Int64, strict=False)
    frac = clean.str.extract(r"^\d{1,9}\.(\d{1,6})$", 1).fill_null("").str.pad_end(6, "0")
    return whole * 1_000_000 + frac.cast(pl.Int64, strict=False)


Source = Path | str | bytes  # a path, or the file's content
# How long each column's values may be; a column not named here (the file's own extra
# columns too) holds at most FREE_TEXT_MAX characters. No value holds a control character
# or a line break (one record per line).
TEXT_LIMITS = {
    **dict.fromkeys(("visit_id", "record_id", "client_id", "provider_id", "carer_id"), ID_MAX),
    "service_code": 32,
    "method": 16,
    "currency": 3,
    "latitude": 24,
    "longitude": 24,
}
EPOCH_DAY = date(1970, 1, 1)
DAY_S = 86_400
_FIRST_DAY = (DATE_MIN - EPOCH_DAY).days
_LAST_DAY = (DATE_MAX - EPOCH_DAY).days


def column_name_problems(columns: list[str], name: str, line: int | None = 1) -> list[Problem]:
    """A problem for each column name remit cannot carry: ``line`` (every row's own line
    number), and the names the table library would read as a pattern (``*``, ``^...$``).

    >>> [p.field for p in column_name_problems(["record_id", "line", "^a$", "*"], "a.csv")]
    ['line', '^a$', '*']
    """
    return [
        Problem(
            c,
            'not a usable column name ("line" is kept for line numbers; "*" and names from ^ to $'
            " read as patterns)",
            "column_name",
            line,
            name,
        )
        for c in columns
        if c in {"line", "*"} or (c.startswith("^") and c.endswith("$"))
    ]


def text_problems(rows: pl.DataFrame, name: str) -> list[Problem]:
    """A problem for each value too long for its column or holding a control character.

    The table is searched a column at a time; only the values found are told apart, with
    their line, by the kernel's ``text_problem``.

    >>> rows = pl.DataFrame({"line": [2, 3], "carer_id": ["K1", "K\x0b2"]})
    >>> [(p.line, p.field, p.check) for p in text_problems(rows, "a.csv")]
    [(3, 'carer_id', 'control_character')]
    """
    problems: list[Problem] = []
    for column in (c for c, t in rows.schema.items() if t == pl.String):
        limit = TEXT_LIMITS.get(column, FREE_TEXT_MAX)
        value = pl.col(column)
        found = rows.filter(
            (value.str.len_chars() > limit) | value.str.contains(SINGLE_LINE_REFUSED_PATTERN)
        ).select("line", column)
        for line, text in found.iter_rows():
            problem = text_problem(text, column, max_chars=limit, line=line, source=name)
            problems += [problem] if problem is not None else []
    return problems


def _out_of_range(
    checked: Checked, column: str, days: pl.Expr, rows: pl.DataFrame | None = None
) -> None:
    """A problem for each date (days since 1970-01-01) outside DATE_MIN to DATE_MAX."""
    frame = checked.rows if rows is None else rows
    found = frame.filter(days.is_not_null() & ~days.is_between(_FIRST_DAY, _LAST_DAY))
    for line, day in found.select("line", days.alias("day")).iter_rows():
        when = EPOCH_DAY + timedelta(days=day)
        problem = date_problem(when, column, line=line, source=checked.name)
        checked.problems += [problem] if problem is not None else []


def _read(path: Source, name: str, required: tuple[str, ...]) -> Checked:
    try:
        rows = pl.read_csv(
            path, infer_schema=False, raise_if_empty=False, truncate_ragged_lines=False
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise ValidationFailed(
            [Problem("file", f"not a readable CSV file: {exc}".split("\n")[0], "csv", source=name)]
        ) from None
    rows = rows.rename({c: c.strip().lower() for c in rows.columns})
    unusable = column_name_problems(rows.columns, name)
    if unusable:
        raise ValidationFailed(unusable)
    missing = [c for c in required if c not in rows.columns]
    if missing:
        raise ValidationFailed(
            [
                Problem(
                    c,
                    f"missing column (the header must name: {', '.join(required)})",
                    "missing_column",
                    1,
                    name,
                )
                for c in missing
            ]
        )
    if rows.height == 0:
        raise ValidationFailed(
            [Problem("file", "no rows under the header: nothing to import", "empty", source=name)]
        )
    rows = (
        rows.with_columns(pl.col(pl.String).str.strip_chars())
        .with_row_index("line", offset=2)
        .with_columns(pl.col("line").cast(pl.Int64))
    )
    return Checked(name, rows, text_problems(rows, name), columns=tuple(rows.columns))


Check = tuple[str, str, pl.Expr, str | pl.Expr]  # column, code, failing rows, message


def collect(checked: Checked, checks: list[Check], rows: pl.DataFrame | None = None) -> None:
    """Append a problem for each row (of ``rows``, default the file's) where a check's
    condition holds; vectorised."""
    frame = checked.rows if rows is None else rows
    for column, code, bad, message in checks:
        text = pl.lit(message) if isinstance(message, str) else message
        # The message is worked out over the whole file (it may name another row), then
        # kept for the rows that fail.
        hits = frame.select("line", msg=text, bad=bad).filter(pl.col("bad")).drop("bad")
        checked.problems += [
            Problem(column, msg, code, line, checked.name) for line, msg in hits.iter_rows()
        ]


def _required(columns: tuple[str, ...]) -> list[Check]:
    return [(c, "required", pl.col(c).is_null(), "required") for c in columns]


def _repeats(column: str, what: str) -> tuple[str, str, pl.Expr, pl.Expr]:
    first = pl.col("line").min().over(column)
    return (
        column,
        "duplicate",
        pl.col(column).is_not_null() & (pl.col("line") > first),
        pl.format(f"{what} {{}} repeats line {{}}", pl.col(column), first),
    )


def read_planned(path: Source, name: str = "planned.csv") -> Checked:
    """Planned visits: ``visit_id,client_id,provider_id,service_code,start,end[,carers]
    [,status,reason]``."""
    checked = _read(path, name, PLANNED_COLUMNS)
    rows = checked.rows
    if "carers" not in rows.columns:
        rows = rows.with_columns(carers=pl.lit(None, dtype=pl.String))
    rows = rows.with_columns(
        status_code=_optional(rows, "status", "planned").str.to_lowercase(),
        status_reason=_optional(rows, "reason", ""),
    )
    rows = rows.with_columns(
        start_s=_seconds(pl.col("start")),
        end_s=_seconds(pl.col("end")),
        carers_n=pl.col("carers").fill_null("1").cast(pl.Int64, strict=False),
    )
    checked.rows = rows
    minutes = (pl.col("end_s") - pl.col("start_s")) // 60
    collect(
        checked,
        [
            *_required(PLANNED_COLUMNS),
            (
                "start",
                "date_time",
                pl.col("start").is_not_null() & pl.col("start_s").is_null(),
                LOCAL_TIME,
            ),
            (
                "end",
                "date_time",
                pl.col("end").is_not_null() & pl.col("end_s").is_null(),
                LOCAL_TIME,
            ),
            ("end", "end_after_start", minutes < 1, "the end must be after the start"),
            (
                "end",
                "planned_length",
                minutes > MAX_PLANNED_MINUTES,
                f"a planned visit lasts at most {MAX_PLANNED_MINUTES} minutes",
            ),
            (
                "carers",
                "carers",
                pl.col("carers_n").is_null() | ~pl.col("carers_n").is_between(1, MAX_CARERS),
                f"a whole number of carers from 1 to {MAX_CARERS}",
            ),
            _repeats("visit_id", "visit"),
            (
                "status",
                "visit_status",
                ~pl.col("status_code").is_in(PLANNED_STATUSES),
                f"one of {', '.join(PLANNED_STATUSES)} (empty means planned)",
            ),
        ],
    )
    for column in ("start", "end"):
        _out_of_range(checked, column, pl.col(f"{column}_s") // DAY_S)
    return checked


def _optional(rows: pl.DataFrame, column: str, default: str) -> pl.Expr:
    """An optional column's values, ``default`` where it is absent or empty."""
    if column not in rows.columns:
        return pl.lit(default, dtype=pl.String)
    return pl.col(column).fill_null(default)


def read_actual(path: Source, name: str = "actual.csv") -> Checked:
    """Actual records; each must carry the six EVV elements (see ``EVV_ELEMENTS``)."""
    return _check_actual(_read(path, name, ()), name)


def read_actual_records(records: list[dict[str, Any]], name: str = "records") -> Checked:
    """Actual records as JSON objects (the API); a record's "line" is its position in the
    list, from 1. Values are read as text, as from a CSV file.

    >>> sorted(p.field for p in read_actual_records([{"record_id": "R1"}]).problems)[:3]
    ['carer_id', 'check_in', 'check_out']
    """
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValidationFailed([Problem("records", "a list of objects", "records", source=name)])
    columns = sorted({str(k).strip().lower() for r in records for k in r})
    unusable = column_name_problems(columns, name, line=None)  # a key of the records
    if unusable:
        raise ValidationFailed(unusable)
    rows = pl.DataFrame(
        [
            {c: None if r.get(c) is None else str(r.get(c)).strip() or None for c in columns}
            for r in [{str(k).strip().lower(): v for k, v in x.items()} for x in records]
        ],
        schema=dict.fromkeys(columns, pl.String),
    )
    rows = rows.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64))
    problems = text_problems(rows, name)
    for c in ACTUAL_COLUMNS:  # an absent key is a missing value of that record
        if c not in rows.columns and c != "method":
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    if "method" not in rows.columns and not {"latitude", "longitude"} <= set(rows.columns):
        rows = rows.with_columns(method=pl.lit(None, dtype=pl.String))
    return _check_actual(Checked(name, rows, problems, columns=tuple(rows.columns)), name)


def _check_actual(checked: Checked, name: str) -> Checked:
    rows = checked.rows
    absent = [c for c in ACTUAL_COLUMNS if c not in rows.columns]
    if "method" in absent and {"latitude", "longitude"} <= set(rows.columns):
        absent.remove("method")  # the location stands in for the method
    if absent:
        raise ValidationFailed(
            [
                Problem(
                    c,
                    f"missing column (the header must name: {', '.join(ACTUAL_COLUMNS)})",
                    "missing_column",
                    1,
                    name,
                )
                for c in absent
            ]
        )
    for c in ("method", "latitude", "longitude"):
        if c not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    rows = rows.with_columns(
        check_in_s=_seconds(pl.col("check_in")),
        check_out_s=_seconds(pl.col("check_out")),
        method=pl.col("method").str.to_lowercase(),
        lat=pl.col("latitude").cast(pl.Float64, strict=False),
        lon=pl.col("longitude").cast(pl.Float64, strict=False),
    )
    checked.rows = rows
    located = pl.col("lat").is_not_null() & pl.col("lon").is_not_null()
    evv = [
        (cols[0], "evv_element", pl.col(cols[0]).is_null(), f"missing the EVV element '{element}'")
        for element, cols in EVV_ELEMENTS
    ]
    # Coordinates are only checked for being coordinates: they are not money or time.
    collect(
        checked,
        [
            ("record_id", "required", pl.col("record_id").is_null(), "required"),
            *evv,
            (
                "method",
                "evv_element",
                pl.col("method").is_null() & ~located,
                "missing the EVV element 'location or method' (method, or latitude and longitude)",
            ),
            (
                "method",
                "method",
                pl.col("method").is_not_null() & ~pl.col("method").is_in(METHODS),
                f"one of {', '.join(METHODS)}",
            ),
            (
                "check_in",
                "date_time",
                pl.col("check_in").is_not_null() & pl.col("check_in_s").is_null(),
                LOCAL_TIME,
            ),
            (
                "check_out",
                "date_time",
                pl.col("check_out").is_not_null() & pl.col("check_out_s").is_null(),
                LOCAL_TIME,
            ),
            (
                "latitude",
                "location",
                (pl.col("latitude").is_not_null() | pl.col("longitude").is_not_null())
                & ~(
                    located
                    & pl.col("lat").is_between(-90, 90)
                    & pl.col("lon").is_between(-180, 180)
                ),
                "latitude -90 to 90 and longitude -180 to 180, both or neither",
            ),
            _repeats("record_id", "record"),
        ],
    )
    for column in ("check_in", "check_out"):
        _out_of_range(checked, column, pl.col(f"{column}_s") // DAY_S)
    checked.rows = rows.drop("lat", "lon")
    return checked


def read_rates(path: Source, name: str = "rates.csv") -> Checked:
    """Hourly rates: ``provider_id,service_code,rate_per_hour,currency,effective_from[,band]``."""
    checked = _read(path, name, RATE_COLUMNS)
    rows = checked.rows.with_columns(
        band_code=_optional(checked.rows, "band", "standard").str.to_lowercase(),
    )
    rows = rows.with_columns(
        rate_millionths=_millionths(pl.col("rate_per_hour")),
        effective_day=pl.col("effective_from")
        .str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        .cast(pl.Int64),
        currency=pl.col("currency").str.to_uppercase(),
    )
    known = set()
    for code in rows.get_column("currency").drop_nulls().unique().to_list():
        try:
            exponent(code)
            known.add(code)
        except UnknownCurrency:
            pass
    checked.rows = rows
    key = ("provider_id", "service_code", "effective_from", "band_code")
    first_of_key = pl.col("line").min().over(key)
    currencies = pl.col("currency").n_unique().over("provider_id")
    collect(
        checked,
        [
            *_required(RATE_COLUMNS),
            (
                "rate_per_hour",
                "rate",
                pl.col("rate_per_hour").is_not_null()
                & (
                    pl.col("rate_millionths").is_null()
                    | (pl.col("rate_millionths") >= MAX_RATE * 1_000_000)
                ),
                f"a decimal number of at most six decimals, below {MAX_RATE:,}",
            ),
            (
                "currency",
                "currency",
                pl.col("currency").is_not_null() & ~pl.col("currency").is_in(sorted(known)),
                "an ISO 4217 currency code",
            ),
            (
                "effective_from",
                "date",
                pl.col("effective_from").is_not_null() & pl.col("effective_day").is_null(),
                "a date like 2026-04-01",
            ),
            (
                "effective_from",
                "duplicate",
                pl.col("line") > first_of_key,
                pl.format(
                    "this provider, service and band already have a rate from this date (line {})",
                    first_of_key,
                ),
            ),
            (
                "currency",
                "one_currency",
                currencies > 1,
                "a provider is paid in one currency; its rates name more than one",
            ),
            (
                "band",
                "band",
                ~pl.col("band_code").is_in(BANDS),
                f"one of {', '.join(BANDS)} (empty means standard)",
            ),
        ],
    )
    _out_of_range(checked, "effective_from", pl.col("effective_day"))
    return checked


ABSENCE_COLUMNS = ("client_ref", "first_day", "reason")


def read_absences(path: Source, name: str = "absences.csv") -> Checked:
    """Hospital stays: ``client_ref,first_day,last_day,reason`` (``last_day`` empty: not yet
    back); ``first_day_n`` and ``last_day_n`` are days since 1970-01-01."""
    checked = _read(path, name, ABSENCE_COLUMNS)
    rows = checked.rows
    if "last_day" not in rows.columns:
        rows = rows.with_columns(last_day=pl.lit(None, dtype=pl.String))
    day = "%Y-%m-%d"
    rows = rows.with_columns(
        first_day_n=pl.col("first_day").str.strptime(pl.Date, day, strict=False).cast(pl.Int64),
        last_day_n=pl.col("last_day").str.strptime(pl.Date, day, strict=False).cast(pl.Int64),
    )
    checked.rows = rows
    collect(
        checked,
        [
            *_required(ABSENCE_COLUMNS),
            (
                "first_day",
                "date",
                pl.col("first_day").is_not_null() & pl.col("first_day_n").is_null(),
                "a date like 2026-11-02",
            ),
            (
                "last_day",
                "date",
                pl.col("last_day").is_not_null() & pl.col("last_day_n").is_null(),
                "a date like 2026-11-09, or empty while the client is not yet back",
            ),
            (
                "last_day",
                "stay",
                pl.col("last_day_n") < pl.col("first_day_n"),
                "the last day is before the first day",
            ),
            (
                "reason",
                "too_long",
                pl.col("reason").str.len_chars() > 200,
                "at most 200 characters",
            ),
        ],
    )
    for column in ("first_day", "last_day"):
        _out_of_range(checked, column, pl.col(f"{column}_n"))
    return checked


def rejected_csv(checked: Checked) -> bytes:
    """The rejected rows as they came, with their ``line`` and ``problems``, for correction."""
    by_line: dict[int, list[str]] = {}
    for p in checked.problems:
        if p.line is not None:
            by_line.setdefault(p.line, []).append(f"{p.field}: {p.message}")
    reasons = pl.DataFrame(
        {"line": list(by_line), "problems": ["; ".join(v) for v in by_line.values()]},
        schema={"line": pl.Int64, "problems": pl.String},
    )
    original = [c for c in checked.columns if c != "line"]
    rows = checked.rows.select(*original, "line").join(reasons, on="line").sort("line")
    return rows.write_csv().encode("utf-8")


def read_policy(path: Path | str | None, name: str = "policy.toml") -> Policy:
    """The policy's parameters from TOML (top level, or a ``[policy]`` table)."""
    if path is None:
        return Policy()
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed(
            [Problem("file", f"not a readable TOML file: {exc}", "toml", source=name)]
        ) from None
    if isinstance(values.get("policy"), dict) and len(values) == 1:
        values = values["policy"]
    values = {k: v for k, v in values.items() if k != "bank_holidays"}
    return Policy.from_mapping(values, source=name)


def read_bank_holidays(path: Path | str | None, name: str = "policy.toml") -> list[int]:
    """The ``bank_holidays`` of a policy file (a list of dates, for the time bands), as days
    since 1970-01-01; none without the key.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write('bank_holidays = [2026-12-25, "2026-12-28"]')
    >>> read_bank_holidays(f.name); os.unlink(f.name)
    [20812, 20815]
    """
    if path is None:
        return []
    values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(values.get("policy"), dict) and len(values) == 1:
        values = values["policy"]
    days = values.get("bank_holidays", [])
    problem = Problem(
        "bank_holidays", "a list of dates like 2026-12-25", "bank_holidays", source=name
    )
    if not isinstance(days, list):
        raise ValidationFailed([problem])
    out = []
    for day in days:
        try:
            parsed = day if isinstance(day, date) else date.fromisoformat(str(day))
        except ValueError:
            raise ValidationFailed([problem]) from None
        out.append((parsed - date(1970, 1, 1)).days)
    return out


def planned_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """The engine's planned frame from checked rows."""
    return rows.select(
        "visit_id",
        "client_id",
        "provider_id",
        "service_code",
        "start_s",
        "end_s",
        carers="carers_n",
        status="status_code",
        reason="status_reason",
    )


def actual_frame(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        "record_id",
        "client_id",
        "provider_id",
        "carer_id",
        "service_code",
        "check_in_s",
        "check_out_s",
    )


def rate_frame(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        "provider_id",
        "service_code",
        "effective_day",
        "rate_millionths",
        "currency",
        band="band_code",
    )
