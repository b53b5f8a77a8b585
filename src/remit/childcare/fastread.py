"""The exchange files read straight into the engine's frames (Polars), for months of a
million attendance rows: each column checked as a whole against what ``exchange`` accepts.

The contract: a frame only when the file is one ``exchange`` reads without a problem, and
then exactly the frame ``engine.frames_of`` makes of what ``exchange`` reads (a test holds
the two equal on random files). When anything is wrong or merely unusual (a problem, a
character outside printable ASCII in an id, a share written as ``5E-1``) it gives None and
the caller reads the file with ``exchange``, which names every problem with its physical
line and column. So this path never has to say where a problem is.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from remit.childcare import exchange
from remit.childcare.model import WEEKDAYS
from remit.money import MAX_AMOUNT_MINOR
from remit.text import DATE_MAX, DATE_MIN

_ID = r"^[ -~]{1,64}$"  # printable ASCII, after the strip: always a clean line
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DOLLARS = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
_WHOLE = r"^[0-9]{1,15}$"
_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_SHARE = r"^(0(\.[0-9]{1,8})?|1(\.0{1,8})?)$"
_DAY_HOURS = r"^(mon|tue|wed|thu|fri|sat|sun)=([0-9]{1,2}(?:\.[0-9]{1,2})?)$"


class _Unusual(Exception):
    """The file is not one this path vouches for: read it with ``exchange``."""


def _table(content: bytes, columns: Sequence[str]) -> pl.DataFrame:
    """The file's ``columns`` as stripped text (blank rows dropped), or _Unusual."""
    try:
        text = content.decode("utf-8-sig")
        raw = pl.read_csv(
            text.encode(),
            infer_schema=False,
            truncate_ragged_lines=True,
        )
    except Exception as exc:
        raise _Unusual from exc
    names = [c.strip().lower() for c in raw.columns]
    if len(set(names)) != len(names) or any(c not in names for c in columns):
        raise _Unusual
    frame = raw.rename(dict(zip(raw.columns, names, strict=True))).with_columns(
        pl.all().fill_null("").str.strip_chars()
    )
    if frame.height > exchange.MAX_ROWS:
        raise _Unusual
    kept = frame.filter(pl.any_horizontal(pl.all() != ""))
    return kept.select(list(columns))


def _check(frame: pl.DataFrame, *conditions: pl.Expr) -> None:
    # A null (a date that is not one) fails: all() would skip it.
    if (
        frame.height
        and not frame.select(pl.all_horizontal(conditions).fill_null(False).all()).item()
    ):
        raise _Unusual


def _minor(column: str) -> pl.Expr:
    """Dollars (checked against ``_DOLLARS``) as whole cents."""
    whole = pl.col(column).str.split(".").list.get(0).cast(pl.Int64)
    cents = (
        pl.col(column)
        .str.split(".")
        .list.get(1, null_on_oob=True)
        .fill_null("")
        .str.pad_end(2, "0")
    )
    return whole * 100 + pl.when(cents == "00").then(0).otherwise(cents.cast(pl.Int64))


def _date(column: str) -> pl.Expr:
    return pl.col(column).str.to_date("%Y-%m-%d", strict=False)


def _flag(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase() == "yes"


def _is_flag(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().is_in(["yes", "no"])


def _is_date(column: str, blank: bool = False) -> pl.Expr:
    ok = pl.col(column).str.contains(_DATE) & _date(column).is_between(DATE_MIN, DATE_MAX)
    return (ok | (pl.col(column) == "")) if blank else ok


def _no_duplicates(frame: pl.DataFrame, keys: Sequence[str]) -> None:
    if frame.select(pl.struct(list(keys)).is_duplicated().any()).item():
        raise _Unusual


def ceilings(content: bytes) -> pl.DataFrame | None:
    try:
        t = _table(content, exchange.CEILINGS)
        _check(
            t,
            _is_date("effective_from"),
            pl.col("county").str.contains(_ID),
            pl.col("facility").str.to_lowercase().is_in(["center", "fcch"]),
            pl.col("age_band").str.to_lowercase().is_in(["under_2", "2_to_5", "6_plus"]),
            pl.col("rate_category")
            .str.to_lowercase()
            .is_in(["hourly", "daily", "weekly", "monthly"]),
            pl.col("time_basis").str.to_lowercase().is_in(["full", "part"]),
            pl.col("amount").str.contains(_DOLLARS),
        )
        out = t.select(
            _date("effective_from").alias("effective_from"),
            pl.col("county"),
            pl.col("facility").str.to_lowercase(),
            pl.col("age_band").str.to_lowercase(),
            pl.col("rate_category").str.to_lowercase().alias("category"),
            pl.col("time_basis").str.to_lowercase(),
            _minor("amount").alias("amount"),
        )
        _check(out, pl.col("amount") <= MAX_AMOUNT_MINOR)
        _no_duplicates(
            out, ["effective_from", "county", "facility", "age_band", "category", "time_basis"]
        )
        return out
    except _Unusual:
        return None


def providers(content: bytes) -> pl.DataFrame | None:
    try:
        t = _table(content, exchange.PROVIDERS)
        _check(
            t,
            pl.col("provider_id").str.contains(_ID),
            pl.col("provider_type").str.to_lowercase().is_in(["center", "fcch", "exempt"]),
            pl.col("county").str.contains(_ID),
            _is_flag("file_complete"),
            _is_flag("closure_policy"),
        )
        _no_duplicates(t, ["provider_id"])
        return t.select(
            pl.col("provider_id").alias("provider"),
            pl.col("provider_type").str.to_lowercase().alias("ptype"),
            "county",
            _flag("file_complete").alias("file_complete"),
            _flag("closure_policy").alias("closure_policy"),
        )
    except _Unusual:
        return None


def families(content: bytes) -> pl.DataFrame | None:
    try:
        t = _table(content, exchange.FAMILIES)
        _check(
            t,
            pl.col("family_id").str.contains(_ID),
            *(
                pl.col(c).str.contains(_WHOLE)
                for c in ("family_size", "monthly_income_minor", "family_fee_minor")
            ),
            pl.col("fee_collected_by").str.to_lowercase().is_in(["provider", "agency"]),
        )
        _no_duplicates(t, ["family_id"])
        out = t.select(
            pl.col("family_id").alias("family"),
            pl.col("family_size").cast(pl.Int64).alias("size"),
            pl.col("monthly_income_minor").cast(pl.Int64).alias("income"),
            pl.col("family_fee_minor").cast(pl.Int64).alias("fee"),
            pl.col("fee_collected_by").str.to_lowercase().alias("collected_by"),
        )
        _check(
            out,
            pl.col("size") >= 1,
            *(pl.col(c) <= MAX_AMOUNT_MINOR for c in ("size", "income", "fee")),
        )
        return out
    except _Unusual:
        return None


def _hours(t: pl.DataFrame) -> pl.DataFrame:
    """``schedule`` as h0..h6, hundredths of hours, or _Unusual."""
    parts = (
        t.select(pl.int_range(pl.len()).alias("row"), pl.col("schedule").str.to_lowercase())
        .with_columns(pl.col("schedule").str.replace_all(" ", "").str.split(";"))
        .explode("schedule")
        .filter(pl.col("schedule") != "")
    )
    _check(parts, pl.col("schedule").str.contains(_DAY_HOURS))
    parts = parts.with_columns(
        pl.col("schedule").str.extract(_DAY_HOURS, 1).alias("day"),
        pl.col("schedule").str.extract(_DAY_HOURS, 2).alias("hours"),
    )
    parts = parts.with_columns(_minor("hours").alias("h100"))
    _check(parts, pl.col("h100") <= 2400)
    _no_duplicates(parts, ["row", "day"])
    if parts.select("row").n_unique() != t.height:
        raise _Unusual  # a schedule with no day at all
    wide = parts.pivot(on="day", index="row", values="h100")
    for day in WEEKDAYS:
        if day not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Int64).alias(day))
    return wide.sort("row").select(
        [pl.col(day).fill_null(0).cast(pl.Int64).alias(f"h{n}") for n, day in enumerate(WEEKDAYS)]
    )


def certificates(content: bytes) -> pl.DataFrame | None:
    try:
        t = _table(content, exchange.CERTIFICATES)
        _check(
            t,
            *(
                pl.col(c).str.contains(_ID)
                for c in ("certificate_id", "child_id", "family_id", "provider_id")
            ),
            *(_is_date(c) for c in ("version_from", "child_birth_date", "start_date", "end_date")),
            pl.col("rate_category")
            .str.to_lowercase()
            .is_in(["hourly", "daily", "weekly", "monthly"]),
            pl.col("time_basis").str.to_lowercase().is_in(["full", "part"]),
            pl.col("evening_weekend_share").str.contains(_SHARE),
            _is_flag("exceptional_needs"),
            _is_flag("severely_disabled"),
            pl.col("provider_rate").str.contains(_DOLLARS),
        )
        hours = _hours(t)
        share = pl.col("evening_weekend_share")
        ew = share.str.split(".").list.get(0).cast(pl.Int64) * 10_000 + (
            share.str.split(".")
            .list.get(1, null_on_oob=True)
            .fill_null("")
            .str.pad_end(8, "0")
            .str.slice(0, 4)
            .cast(pl.Int64)
        )
        out = pl.concat(
            [
                t.select(
                    pl.col("certificate_id").alias("cert"),
                    _date("version_from").alias("version_from"),
                    pl.col("child_id").alias("child"),
                    pl.col("family_id").alias("family"),
                    pl.col("provider_id").alias("provider"),
                    _date("child_birth_date").alias("born"),
                    _date("start_date").alias("start"),
                    _date("end_date").alias("end"),
                ),
                hours,
                t.select(
                    pl.col("rate_category").str.to_lowercase().alias("category"),
                    pl.col("time_basis").str.to_lowercase(),
                    ew.alias("ew"),
                    _flag("exceptional_needs").alias("exceptional"),
                    _flag("severely_disabled").alias("severe"),
                    _minor("provider_rate").alias("provider_rate"),
                ),
            ],
            how="horizontal",
        )
        _check(out, pl.col("end") >= pl.col("start"), pl.col("provider_rate") <= MAX_AMOUNT_MINOR)
        _no_duplicates(out, ["cert", "version_from"])
        return out
    except _Unusual:
        return None


def attendance(content: bytes) -> pl.DataFrame | None:
    try:
        t = _table(content, exchange.ATTENDANCE)
        absence = pl.col("absence").str.to_lowercase()
        timed = absence == ""
        _check(
            t,
            pl.col("certificate_id").str.contains(_ID),
            _is_date("date"),
            absence.is_in(["", "excused", "closure"]),
            *(_is_date(c, blank=True) for c in ("parent_signed", "provider_signed", "received")),
            pl.when(timed)
            .then(pl.col("time_in").str.contains(_TIME) & pl.col("time_out").str.contains(_TIME))
            .otherwise((pl.col("time_in") == "") & (pl.col("time_out") == "")),
        )

        def minutes(column: str) -> pl.Expr:
            parts = pl.col(column).str.split(":")
            return parts.list.get(0).cast(pl.Int64) * 60 + parts.list.get(1).cast(pl.Int64)

        out = t.select(
            pl.col("certificate_id").alias("cert"),
            _date("date").alias("day"),
            pl.when(timed)
            .then(minutes("time_out") - minutes("time_in"))
            .otherwise(0)
            .alias("minutes"),
            absence.alias("absence"),
            *(
                pl.when(pl.col(c) == "").then(None).otherwise(_date(c)).alias(c)
                for c in ("parent_signed", "provider_signed", "received")
            ),
        )
        _check(out, pl.when(pl.col("absence") == "").then(pl.col("minutes") > 0).otherwise(True))
        dates = out.group_by(["cert", pl.col("day").dt.strftime("%Y-%m")]).agg(
            *(pl.col(c).n_unique() for c in ("parent_signed", "provider_signed", "received"))
        )
        _check(dates, *(pl.col(c) == 1 for c in ("parent_signed", "provider_signed", "received")))
        return out
    except _Unusual:
        return None
