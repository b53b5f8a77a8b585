"""Reports of care delivery over a period: commissioned against delivered minutes (by
provider, client or week), punctuality, missed visits and exception rates, a chart of hours
per provider, and each report table as CSV or XLSX.

The figures are the outcomes of the reconciliation runs. A carer place (``verified``,
``over``, ``short``, ``invalid`` or ``missed``) is commissioned its planned minutes and
delivered its delivered minutes (a missed place 0, an invalid record's negative time 0);
duplicates and unplanned records hold no place. Paid minutes and amounts are the final ones,
after arbitration, of every outcome. A visit counts in the week (Monday to Sunday) of its
planned start, a record matched to no visit in that of its check-in.

>>> percent(12, 17), percent(0, 0)
(Decimal('70.6'), None)
>>> hours_text(555), hours_text(30)
('9h 15m', '0h 30m')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql import Subquery

from remit.access.model import Actor, Permission, require
from remit.care.model import VisitStatus, checked_period
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import actual_records, care_runs, planned_visits, visit_outcomes
from remit.errors import Problem, ValidationFailed
from remit.money import CURRENCY_EXPONENTS, Money, format_money
from remit.parties.service import party_names
from remit.reports.charts import side_by_side_bars
from remit.reports.tables import Column, Kind, table_csv, workbook_bytes, write_sheet

_S = VisitStatus
DELIVERING = (_S.VERIFIED.value, _S.OVER.value, _S.SHORT.value, _S.INVALID.value)
PLACES = (*DELIVERING, _S.MISSED.value)
MAX_REPORT_DAYS = 366
MEASURES = (
    "places",
    "planned_minutes",
    "delivered_minutes",
    "paid_minutes",
    "amount_minor",
    "missed",
    "exceptions",
    "undecided",
    "unplanned",
    "duplicates",
)
# Punctuality buckets: check-in minus planned start, in seconds, both ends inclusive.
BUCKETS = (
    ("early", None, -901),
    ("on_time", -900, 900),
    ("late_15_30", 901, 1800),
    ("late_30_60", 1801, 3600),
    ("late_over_60", 3601, None),
)


class Grouping(StrEnum):
    PROVIDER = "provider"
    CLIENT = "client"
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class Report:
    """A report table: its rows are dicts (more keys than columns: ids for links)."""

    name: str  # for the file and the XLSX sheet: "care-delivery-by-provider"
    title: str
    first: date
    last: date
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]

    def filename(self, extension: str) -> str:
        return f"{self.name}-{self.first.isoformat()}-{self.last.isoformat()}.{extension}"

    @property
    def totals(self) -> tuple[dict[str, Any], ...]:
        """A totals row per currency (one without amounts): each count, hours and amount
        summed, each percentage of the sums; the first column says "Total"."""
        return totals_rows(self.columns, self.rows)

    def with_totals(self) -> tuple[dict[str, Any], ...]:
        return (*self.rows, *self.totals)


def totals_rows(
    columns: Sequence[Column], rows: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any], ...]:
    """The totals of ``rows``, one per currency.

    >>> cols = (Column("who", "Who", Kind.TEXT), Column("places", "Visits"),
    ...         Column("missed", "Missed"), Column("missed_percent", "%", Kind.DECIMAL))
    >>> totals_rows(cols, [{"who": "a", "places": 3, "missed": 1}, {"who": "b", "places": 1,
    ...                     "missed": 1}])
    ({'who': 'Total', 'places': 4, 'missed': 2, 'missed_percent': Decimal('50.0')},)
    """
    if not rows:
        return ()
    has_currency = any(c.key == "currency" for c in columns)
    currencies = sorted({r.get("currency") or "" for r in rows}) if has_currency else [""]
    found = []
    for currency in currencies:
        mine = [r for r in rows if not has_currency or (r.get("currency") or "") == currency]
        total: dict[str, Any] = {columns[0].key: "Total"}
        for c in columns[1:]:
            if c.kind in SUMMED:
                total[c.key] = sum(int(r.get(c.key) or 0) for r in mine)
        for key, (part, whole) in _PERCENTS.items():
            if any(c.key == key for c in columns):
                total[key] = percent(total[part], total[whole])
        if has_currency:
            total["currency"] = currency or None
        found.append(total)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ProviderChart:
    provider_party_id: int
    provider_ref: str
    provider_name: str
    svg: str  # inline SVG markup, no script and no style attribute


_C, _K = Column, Kind
_AMOUNT = (
    _C("paid_minutes", "Hours paid", _K.HOURS),
    _C("amount_minor", "Amount paid", _K.MONEY),
    _C("currency", "Currency", _K.LABEL),
)
_DELIVERY = (
    _C("places", "Carer visits"),
    _C("planned_minutes", "Hours commissioned", _K.HOURS),
    _C("delivered_minutes", "Hours delivered", _K.HOURS),
    _C("delivered_percent", "Delivered (%)", _K.DECIMAL),
    *_AMOUNT,
)
# A totals row recomputes each percentage from its summed parts.
_PERCENTS = {
    "delivered_percent": ("delivered_minutes", "planned_minutes"),
    "missed_percent": ("missed", "places"),
    "exception_percent": ("exceptions", "places"),
    "on_time_percent": ("on_time", "matched"),
}
SUMMED = (_K.INT, _K.HOURS, _K.MONEY)
_KEYS = {
    Grouping.PROVIDER: (
        _C("provider_ref", "Provider ref", _K.TEXT),
        _C("provider_name", "Provider", _K.TEXT),
    ),
    Grouping.CLIENT: (
        _C("client_ref", "Client ref", _K.TEXT),
        _C("client_name", "Client", _K.TEXT),
    ),
    Grouping.WEEK: (_C("week_start", "Week commencing (Monday)", _K.DATE),),
}


def percent(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in per cent, to one decimal, half up; None of nothing."""
    if whole <= 0:
        return None
    tenths = (2000 * part + whole) // (2 * whole)
    return Decimal(tenths).scaleb(-1)


def hours_text(minutes: int) -> str:
    return f"{minutes // 60}h {minutes % 60:02d}m"


def locale_for(currency: str) -> str:
    """The locale amounts are written in: US English for dollars, British otherwise."""
    return "en_US" if currency == "USD" else "en_GB"


def money_text(amount_minor: int, currency: str, locale: str = "") -> str:
    """The amount with its currency; empty without a currency.

    >>> money_text(1583, "GBP"), money_text(-1000, "USD"), money_text(0, "")
    ('£15.83', '-$10.00', '')
    """
    if currency not in CURRENCY_EXPONENTS:
        return ""
    return format_money(Money(int(amount_minor), currency), locale or locale_for(currency))


def _checked_period(first: date, last: date) -> None:
    checked_period(first, last, MAX_REPORT_DAYS)


def _seconds(first: date, last: date) -> tuple[int, int]:
    return (first - EPOCH).days * DAY_SECONDS, ((last - EPOCH).days + 1) * DAY_SECONDS


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _outcomes(book_id: int, first: date, last: date, provider: int | None) -> Subquery:
    """The outcomes of the book's runs whose visit (or unmatched record) is in the period."""
    o, v, a, r = visit_outcomes.c, planned_visits.c, actual_records.c, care_runs.c
    moment = func.coalesce(v.start_s, a.check_in_s)
    start_s, end_s = _seconds(first, last)
    query = (
        select(
            r.provider_party_id.label("provider_id"),
            func.coalesce(v.client_party_id, a.client_party_id).label("client_id"),
            moment.label("moment_s"),
            o.status,
            o.planned_minutes,
            o.delivered_minutes,
            o.final_minutes,
            o.final_amount_minor,
            o.currency,
            o.exception,
            o.decision,
        )
        .select_from(
            visit_outcomes.join(care_runs, r.id == o.run_id)
            .outerjoin(planned_visits, v.id == o.planned_visit_id)
            .outerjoin(actual_records, a.id == o.actual_record_id)
        )
        .where(
            and_(
                r.book_id == book_id,
                r.period_start <= last,
                r.period_end >= first,
                moment >= start_s,
                moment < end_s,
                ~_superseded_hold(o),
            )
        )
    )
    if provider is not None:
        query = query.where(r.provider_party_id == provider)
    return query.subquery()


HOLD = "hold"  # decisions.Decision.HOLD: a record held until a package exists


def _superseded_hold(o: Any) -> Any:
    """A held outcome whose record a later run has since matched: the record is counted
    where it now stands, not twice (its held outcome pays nothing either way)."""
    later = visit_outcomes.alias("later")
    return and_(
        func.coalesce(o.decision, "") == HOLD,
        exists().where(
            and_(
                later.c.actual_record_id == o.actual_record_id,
                later.c.id != o.id,
                or_(later.c.decision.is_(None), later.c.decision != HOLD),
            )
        ),
    )


def _count(condition: Any, value: Any = 1) -> Any:
    return cast(func.sum(case((condition, value), else_=0)), BigInteger)


def delivery_frame(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    provider_party_id: int | None = None,
) -> pl.DataFrame:
    """The period's outcomes summed by provider, client, week and currency: what
    ``delivery``, ``exceptions`` and ``delivery_charts`` read. Read it once and pass it as
    their ``frame`` when a page shows all of them (the same period and provider)."""
    require(actor, book_id, Permission.CARE_READ)
    _checked_period(first, last)
    return _delivery_frame(conn, book_id, first, last, provider_party_id)


def _delivery_frame(
    conn: Connection, book_id: int, first: date, last: date, provider: int | None
) -> pl.DataFrame:
    """Sums per provider, client, week and currency, added up by the database."""
    s = _outcomes(book_id, first, last, provider).c
    # Constants as literals, not parameters: PostgreSQL must see the same expression in
    # GROUP BY. Day 0 (1970-01-01) was a Thursday, so (day + 3) % 7 is 0 on a Monday.
    day = s.moment_s // literal_column(str(DAY_SECONDS), BigInteger)
    week = day - (day + literal_column("3")) % literal_column("7")
    place = s.status.in_(PLACES)
    rows = conn.execute(
        select(
            s.provider_id,
            s.client_id,
            week.label("week_day"),
            s.currency,
            _count(place),
            _count(place, s.planned_minutes),
            _count(and_(s.status.in_(DELIVERING), s.delivered_minutes > 0), s.delivered_minutes),
            cast(func.sum(s.final_minutes), BigInteger),
            cast(func.sum(s.final_amount_minor), BigInteger),
            _count(s.status == _S.MISSED.value),
            _count(s.exception.is_(True)),
            _count(and_(s.exception.is_(True), s.decision.is_(None))),
            _count(s.status == _S.UNPLANNED.value),
            _count(s.status == _S.DUPLICATE.value),
        ).group_by(s.provider_id, s.client_id, week, s.currency)
    ).all()
    frame = pl.DataFrame(
        [tuple(r) for r in rows],
        orient="row",
        schema={
            "provider_id": pl.Int64,
            "client_id": pl.Int64,
            "week_day": pl.Int64,
            "currency": pl.String,
            **dict.fromkeys(MEASURES, pl.Int64),
        },
    )
    # A missed place of a provider with no rate carries no currency: give it the provider's.
    known = (
        frame.filter(pl.col("currency") != "")
        .group_by("provider_id")
        .agg(pl.col("currency").max().alias("known"))
    )
    return (
        frame.join(known, on="provider_id", how="left")
        .with_columns(
            currency=pl.coalesce(
                pl.when(pl.col("currency") != "").then(pl.col("currency")),
                pl.col("known"),
                pl.lit(""),
            )
        )
        .drop("known")
    )


def _rollup(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    return frame.group_by(*keys, "currency").agg(pl.col(m).sum() for m in MEASURES)


def _with_amount(row: dict[str, Any]) -> dict[str, Any]:
    row["amount"] = money_text(row["amount_minor"], row["currency"])
    return row


def delivery(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    by: Grouping | str = Grouping.PROVIDER,
    provider_party_id: int | None = None,
    frame: pl.DataFrame | None = None,
) -> Report:
    """Commissioned against delivered minutes, paid minutes and amounts, by provider, client
    or week (every week of the period, with nothing delivered or not); one row per
    currency of each."""
    require(actor, book_id, Permission.CARE_READ)
    _checked_period(first, last)
    try:
        grouping = Grouping(by)
    except ValueError:
        raise ValidationFailed([Problem("by", "provider, client or week", "grouping")]) from None
    if frame is None:
        frame = _delivery_frame(conn, book_id, first, last, provider_party_id)
    key = {
        Grouping.PROVIDER: "provider_id",
        Grouping.CLIENT: "client_id",
        Grouping.WEEK: "week_day",
    }[grouping]
    totals = _rollup(frame, [key])
    if grouping is Grouping.WEEK:
        totals = _all_weeks(totals, first, last)
    names = (
        party_names(conn, book_id, totals.get_column(key).to_list())
        if grouping is not Grouping.WEEK
        else {}
    )
    rows = []
    for row in totals.to_dicts():
        row["delivered_percent"] = percent(row["delivered_minutes"], row["planned_minutes"])
        if grouping is Grouping.WEEK:
            row["week_start"] = EPOCH + timedelta(days=row["week_day"])
        else:
            prefix = grouping.value
            row[f"{prefix}_ref"], row[f"{prefix}_name"] = names.get(row[key], ("", ""))
        rows.append(_with_amount(row))
    order = {
        Grouping.PROVIDER: ("provider_name", "currency"),
        Grouping.CLIENT: ("client_ref", "currency"),
        Grouping.WEEK: ("week_start", "currency"),
    }[grouping]
    rows.sort(key=lambda r: tuple(r[k] for k in order))
    return Report(
        f"care-delivery-by-{grouping.value}",
        f"Commissioned and delivered care by {grouping.value}",
        first,
        last,
        (*_KEYS[grouping], *_DELIVERY),
        tuple(rows),
    )


def _all_weeks(totals: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    """Every week of the period, in the one currency when there is one."""
    monday = (_monday(first) - EPOCH).days
    weeks = pl.DataFrame(
        {"week_day": list(range(monday, (last - EPOCH).days + 1, 7))}, schema={"week_day": pl.Int64}
    )
    currencies = totals.get_column("currency").unique().to_list()
    if len(currencies) > 1:
        return totals
    return (
        weeks.join(totals.drop("currency"), on="week_day", how="left")
        .with_columns(pl.col(m).fill_null(0) for m in MEASURES)
        .with_columns(currency=pl.lit(currencies[0] if currencies else ""))
    )


def exceptions(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    provider_party_id: int | None = None,
    frame: pl.DataFrame | None = None,
) -> Report:
    """Missed places and exceptions per provider: exceptions (every outcome that failed a
    rule, unplanned records too) over carer places."""
    require(actor, book_id, Permission.CARE_READ)
    _checked_period(first, last)
    if frame is None:
        frame = _delivery_frame(conn, book_id, first, last, provider_party_id)
    totals = frame.group_by("provider_id").agg(pl.col(m).sum() for m in MEASURES)
    names = party_names(conn, book_id, totals.get_column("provider_id").to_list())
    rows = []
    for row in totals.to_dicts():
        row["provider_ref"], row["provider_name"] = names.get(row["provider_id"], ("", ""))
        row["missed_percent"] = percent(row["missed"], row["places"])
        row["exception_percent"] = percent(row["exceptions"], row["places"])
        rows.append(row)
    rows.sort(key=lambda r: r["provider_name"])
    return Report(
        "care-exceptions-by-provider",
        "Missed visits and exceptions by provider",
        first,
        last,
        (
            *_KEYS[Grouping.PROVIDER],
            _C("places", "Carer visits"),
            _C("missed", "Missed visits"),
            _C("missed_percent", "Missed (%)", _K.DECIMAL),
            _C("exceptions", "Exceptions"),
            _C("exception_percent", "Exception rate (%)", _K.DECIMAL),
            _C("undecided", "Exceptions awaiting a decision"),
            _C("unplanned", "Unplanned records"),
            _C("duplicates", "Duplicate records"),
        ),
        tuple(rows),
    )


def punctuality(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    provider_party_id: int | None = None,
) -> Report:
    """Check-in against planned start of each carer place held by a record, per provider:
    early (more than 15 minutes), on time (within 15 minutes either side), 15 to 30, 30 to
    60 and over 60 minutes late (each band up to and including its upper end)."""
    require(actor, book_id, Permission.CARE_READ)
    _checked_period(first, last)
    o, v, a, r = visit_outcomes.c, planned_visits.c, actual_records.c, care_runs.c
    start_s, end_s = _seconds(first, last)
    lateness = a.check_in_s - v.start_s
    query = (
        select(
            r.provider_party_id,
            cast(func.count(), BigInteger),
            *(_count(_between(lateness, low, high)) for _, low, high in BUCKETS),
        )
        .select_from(
            visit_outcomes.join(care_runs, r.id == o.run_id)
            .join(planned_visits, v.id == o.planned_visit_id)
            .join(actual_records, a.id == o.actual_record_id)
        )
        .where(
            and_(
                r.book_id == book_id,
                r.period_start <= last,
                r.period_end >= first,
                o.status.in_(DELIVERING),
                v.start_s >= start_s,
                v.start_s < end_s,
            )
        )
        .group_by(r.provider_party_id)
    )
    if provider_party_id is not None:
        query = query.where(r.provider_party_id == provider_party_id)
    keys = ("provider_id", "matched", *(name for name, _, _ in BUCKETS))
    found: list[dict[str, Any]] = [
        dict(zip(keys, (int(x) for x in row), strict=True)) for row in conn.execute(query)
    ]
    names = party_names(conn, book_id, (row["provider_id"] for row in found))
    for row in found:
        row["provider_ref"], row["provider_name"] = names.get(row["provider_id"], ("", ""))
        row["on_time_percent"] = percent(row["on_time"], row["matched"])
    found.sort(key=lambda row: row["provider_name"])
    return Report(
        "care-punctuality-by-provider",
        "Punctuality of check-ins by provider",
        first,
        last,
        (
            *_KEYS[Grouping.PROVIDER],
            _C("matched", "Visits with a record"),
            _C("early", "Early (over 15 minutes)"),
            _C("on_time", "On time (within 15 minutes)"),
            _C("late_15_30", "Late 15-30 minutes"),
            _C("late_30_60", "Late 30-60 minutes"),
            _C("late_over_60", "Late over 60 minutes"),
            _C("on_time_percent", "On time (%)", _K.DECIMAL),
        ),
        tuple(found),
    )


def _between(value: Any, low: int | None, high: int | None) -> Any:
    if low is None:
        return value <= high
    if high is None:
        return value >= low
    return and_(value >= low, value <= high)


# ---------------------------------------------------------------- charts


def hours_chart(title: str, weeks: Sequence[tuple[date, int, int]]) -> str:
    """Commissioned (planned) and delivered hours, two bars per week (minutes in, hours
    shown).

    >>> svg = hours_chart("Sunrise", [(date(2026, 11, 2), 510, 197)])
    >>> svg.count("<rect"), "w/c 2026-11-02" in svg, "8h 30m" in svg
    (2, True, True)
    """
    return side_by_side_bars(
        [(f"w/c {monday.isoformat()}", planned, delivered) for monday, planned, delivered in weeks],
        hours_text,
        title,
        ("planned", "delivered"),
    )


def delivery_charts(
    conn: Connection,
    actor: Actor,
    book_id: int,
    first: date,
    last: date,
    provider_party_id: int | None = None,
    frame: pl.DataFrame | None = None,
) -> list[ProviderChart]:
    """A chart per provider of commissioned against delivered hours, every week of the
    period, in the order of the providers' names."""
    require(actor, book_id, Permission.CARE_READ)
    _checked_period(first, last)
    if frame is None:
        frame = _delivery_frame(conn, book_id, first, last, provider_party_id)
    per_week = frame.group_by("provider_id", "week_day").agg(
        pl.col("planned_minutes").sum(), pl.col("delivered_minutes").sum()
    )
    providers = sorted(set(per_week.get_column("provider_id").to_list()))
    names = party_names(conn, book_id, providers)
    mondays = range((_monday(first) - EPOCH).days, (last - EPOCH).days + 1, 7)
    charts = []
    for pid in providers:
        mine = {
            w: (p, d) for _, w, p, d in per_week.filter(pl.col("provider_id") == pid).iter_rows()
        }
        ref, name = names.get(pid, ("", ""))
        weeks = [(EPOCH + timedelta(days=w), *mine.get(w, (0, 0))) for w in mondays]
        charts.append(
            ProviderChart(
                pid,
                ref,
                name,
                hours_chart(f"{name}: commissioned and delivered hours by week", weeks),
            )
        )
    charts.sort(key=lambda c: c.provider_name)
    return charts


# ---------------------------------------------------------------- CSV and XLSX


def report_csv(report: Report) -> bytes:
    """The report's rows, then its totals rows."""
    return table_csv(report.columns, report.with_totals())


def report_xlsx(*reports: Report) -> bytes:
    """One sheet per report (named after it), headings in the first row, frozen."""
    from openpyxl import Workbook  # noqa: PLC0415 - heavy import, only when exporting

    book = Workbook()
    book.remove(book.active)
    for report in reports:
        sheet = book.create_sheet(report.name[:31])
        write_sheet(sheet, report.columns, report.with_totals())
        sheet.freeze_panes = "A2"
    return workbook_bytes(book)
