"""The month's child care payments, vectorised (Polars): the same rules and the same rows as
``remit.childcare.calculate`` (the plain reading, held equal to this one on random data by
tests/test_childcare_engine.py), for the book's months of 100,000 child-months.

Exact arithmetic in integers: hours are kept in hundredths (a schedule has at most two
decimals; a quarter hour is 25), a row's units are a fraction ``units_num / units_den``
(hourly: hundredths of hours over 100; daily: days over 1; weekly: days over the weekdays of
the schedule; monthly: days over the days the schedule certifies in the whole month), the
factors are fractions with small denominators, and every rounding is half-up on integers.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import polars as pl

from remit.childcare.calculate import UNKNOWN_CERTIFICATE, Inputs, fiscal_year_start
from remit.childcare.model import Basis, PaymentRow, Policy

_REASONS = (
    "file_incomplete",
    "no_ceiling",
    "outside_certificate",
    "parent_signature_before_last_day_of_care",
    "parent_signature_missing",
    "provider_signature_before_last_day_of_care",
    "provider_signature_missing",
)


def _half(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """num / den rounded half-up, for non-negative integers."""
    return (num * 2 + den) // (den * 2)


def frames_of(inputs: Inputs) -> dict[str, pl.DataFrame]:
    """The inputs as the engine's frames (one pass over the values: not the engine's time;
    the book reads its tables straight into these)."""
    certs = pl.DataFrame(
        [
            (
                v.certificate_id,
                v.version_from,
                v.child_id,
                v.family_id,
                v.provider_id,
                v.child_birth_date,
                v.start_date,
                v.end_date,
                *[int(h * 100) for h in v.schedule],
                v.rate_category.value,
                v.time_basis.value,
                int(v.evening_weekend_share * 10_000),
                v.exceptional_needs,
                v.severely_disabled,
                v.provider_rate_minor,
            )
            for v in inputs.certificates
        ],
        schema={
            "cert": pl.Utf8,
            "version_from": pl.Date,
            "child": pl.Utf8,
            "family": pl.Utf8,
            "provider": pl.Utf8,
            "born": pl.Date,
            "start": pl.Date,
            "end": pl.Date,
            **{f"h{n}": pl.Int64 for n in range(7)},
            "category": pl.Utf8,
            "time_basis": pl.Utf8,
            "ew": pl.Int64,
            "exceptional": pl.Boolean,
            "severe": pl.Boolean,
            "provider_rate": pl.Int64,
        },
        orient="row",
    )
    attendance = pl.DataFrame(
        [
            (
                a.certificate_id,
                a.day,
                a.minutes,
                a.absence.value,
                a.parent_signed,
                a.provider_signed,
                a.received,
            )
            for a in inputs.attendance
        ],
        schema={
            "cert": pl.Utf8,
            "day": pl.Date,
            "minutes": pl.Int64,
            "absence": pl.Utf8,
            "parent_signed": pl.Date,
            "provider_signed": pl.Date,
            "received": pl.Date,
        },
        orient="row",
    )
    ceilings = pl.DataFrame(
        [
            (
                c.effective_from,
                c.county,
                c.facility.value,
                c.age_band.value,
                c.rate_category.value,
                c.time_basis.value,
                c.amount_minor,
            )
            for c in inputs.ceilings
        ],
        schema={
            "effective_from": pl.Date,
            "county": pl.Utf8,
            "facility": pl.Utf8,
            "age_band": pl.Utf8,
            "category": pl.Utf8,
            "time_basis": pl.Utf8,
            "amount": pl.Int64,
        },
        orient="row",
    )
    if inputs.providers is None:
        providers = None
    else:
        providers = pl.DataFrame(
            [
                (
                    p.provider_id,
                    p.provider_type.value if p.provider_type else None,
                    p.county,
                    p.file_complete,
                    p.closure_policy,
                )
                for p in inputs.providers.values()
            ],
            schema={
                "provider": pl.Utf8,
                "ptype": pl.Utf8,
                "county": pl.Utf8,
                "file_complete": pl.Boolean,
                "closure_policy": pl.Boolean,
            },
            orient="row",
        )
    families = pl.DataFrame(
        [
            (
                f.family_id,
                f.family_size,
                f.monthly_income_minor,
                f.family_fee_minor,
                f.fee_collected_by,
            )
            for f in (inputs.families or {}).values()
        ],
        schema={
            "family": pl.Utf8,
            "size": pl.Int64,
            "income": pl.Int64,
            "fee": pl.Int64,
            "collected_by": pl.Utf8,
        },
        orient="row",
    )
    out = {"certs": certs, "attendance": attendance, "ceilings": ceilings, "families": families}
    if providers is not None:
        out["providers"] = providers
    return out


def calculate_frame(inputs: Inputs) -> list[PaymentRow]:
    """Every row of payments.csv for the month, as ``calculate.calculate`` gives them."""
    return rows_of(payments_frame(frames_of(inputs), inputs.month, inputs.policy), inputs.month)


def payments_frame(f: dict[str, pl.DataFrame], first: date, policy: Policy) -> pl.DataFrame:
    """The engine: the month's payment rows as one frame (``ROW_SCHEMA``), from the frames
    of ``frames_of`` (a ``providers`` frame only when there is a providers file)."""
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    certs = f["certs"].sort(["cert", "version_from"])
    known = certs.select("cert").unique()
    att = f["attendance"]
    in_month = att.filter(pl.col("day").is_between(first, last))
    claimed = in_month.select("cert").unique()
    unknown = claimed.join(known, on="cert", how="anti").sort("cert")["cert"].to_list()
    days_in_month = (last - first).days + 1
    month_weekdays = [
        sum(1 for n in range(days_in_month) if (first + timedelta(days=n)).weekday() == w)
        for w in range(7)
    ]

    # The versions of claimed certificates that hold in the month, as spans.
    spans = (
        certs.join(claimed, on="cert", how="semi")
        .sort(["cert", "version_from"])
        .with_columns(
            (pl.col("version_from").shift(-1).over("cert") - pl.duration(days=1)).alias("until")
        )
        .with_columns(
            pl.max_horizontal(pl.col("version_from"), pl.lit(first)).alias("span_start"),
            pl.min_horizontal(pl.col("until").fill_null(last), pl.lit(last)).alias("span_end"),
        )
        .filter(pl.col("span_start") <= pl.col("span_end"))
        .with_row_index("span")
    )
    # Providers: without the file every file complete, no county, no type, no closures.
    if "providers" in f:
        spans = spans.join(f["providers"], on="provider", how="left").with_columns(
            pl.col("file_complete").fill_null(value=False),
            pl.col("closure_policy").fill_null(value=False),
        )
    else:
        spans = spans.with_columns(
            pl.lit(None, pl.Utf8).alias("ptype"),
            pl.lit(None, pl.Utf8).alias("county"),
            pl.lit(value=True).alias("file_complete"),
            pl.lit(value=False).alias("closure_policy"),
        )
    age = (
        pl.lit(first.year)
        - pl.col("born").dt.year()
        - (
            (pl.col("born").dt.month() > first.month)
            | ((pl.col("born").dt.month() == first.month) & (pl.col("born").dt.day() > first.day))
        ).cast(pl.Int32)
    )
    spans = spans.with_columns(
        pl.when(age < 2)
        .then(pl.lit("under_2"))
        .when(age <= 5)
        .then(pl.lit("2_to_5"))
        .otherwise(pl.lit("6_plus"))
        .alias("age_band"),
        pl.when(pl.col("ptype") == "center")
        .then(pl.lit("center"))
        .when(pl.col("ptype").is_in(["fcch", "exempt"]))
        .then(pl.lit("fcch"))
        .otherwise(pl.lit(None))
        .alias("facility"),
        pl.sum_horizontal([(pl.col(f"h{w}") > 0).cast(pl.Int64) for w in range(7)]).alias(
            "per_week"
        ),
        pl.sum_horizontal(
            [(pl.col(f"h{w}") > 0).cast(pl.Int64) * month_weekdays[w] for w in range(7)]
        ).alias("month_days"),
    )

    # The ceiling in force on the first of the month.
    ceilings = (
        f["ceilings"]
        .filter(pl.col("effective_from") <= first)
        .sort("effective_from")
        .group_by(["county", "facility", "age_band", "category", "time_basis"])
        .last()
    )
    share = Fraction(policy.exempt_share)
    spans = spans.join(
        ceilings, on=["county", "facility", "age_band", "category", "time_basis"], how="left"
    ).with_columns(
        pl.when(pl.col("ptype") == "exempt")
        .then(_half(pl.col("amount") * share.numerator, share.denominator))
        .otherwise(pl.col("amount"))
        .alias("ceiling")
    )
    # Factors as fractions over 160 (8 x 20: 9/8, 5/4 and 6/5, 3/2 all land on it).
    licensed = pl.col("ptype").is_in(["center", "fcch"]).fill_null(value=False)
    ew = (
        pl.when(licensed & (pl.col("category") != "hourly") & (pl.col("ew") >= 5_000))
        .then(pl.lit(200))
        .when(licensed & (pl.col("category") != "hourly") & (pl.col("ew") >= 1_000))
        .then(pl.lit(180))
        .otherwise(pl.lit(160))
    )
    sn = pl.when(pl.col("severe")).then(240).when(pl.col("exceptional")).then(192).otherwise(160)
    spans = spans.with_columns((ew * sn).alias("factor_num"))  # over 160 * 160
    spans = spans.with_columns(
        pl.min_horizontal(
            _half(pl.col("ceiling") * pl.col("factor_num"), 25_600), pl.col("provider_rate")
        ).alias("rate")
    )

    # The days of each span, with the record of each.
    per_day = in_month.group_by(["cert", "day"]).agg(
        pl.col("minutes").sum(),
        (pl.col("absence") == "excused").any().alias("excused"),
        (pl.col("absence") == "closure").any().alias("closure"),
    )
    closures = _paid_closures(policy, certs, att, f.get("providers"), last)
    days = (
        spans.select(
            "span",
            "cert",
            "provider",
            "start",
            "end",
            *[f"h{w}" for w in range(7)],
            pl.date_ranges("span_start", "span_end").alias("day"),
        )
        .explode("day")
        .with_columns(pl.col("day").dt.weekday().alias("wd"))  # 1 = Monday
        .with_columns(
            pl.coalesce(
                [pl.when(pl.col("wd") == w + 1).then(pl.col(f"h{w}")) for w in range(7)]
            ).alias("hours")
        )
        .with_columns(
            (
                pl.col("day").is_between(pl.col("start"), pl.col("end")) & (pl.col("hours") > 0)
            ).alias("certified")
        )
        .join(per_day, on=["cert", "day"], how="left")
        .join(closures, on=["provider", "day"], how="left")
        .with_columns(
            pl.col("minutes").fill_null(0),
            pl.col("excused").fill_null(value=False),
            pl.col("closure").fill_null(value=False),
            pl.col("paid_closure").fill_null(value=False),
        )
        .with_columns(
            ((pl.col("minutes") * 2 + 15) // 30 * 25).alias("attended_h100"),  # quarter hours
        )
        .with_columns(
            (pl.col("certified") & (pl.col("minutes") > 0)).alias("att_day"),
        )
        .with_columns(
            (
                pl.col("certified")
                & ~pl.col("att_day")
                & (pl.col("excused") | (pl.col("closure") & pl.col("paid_closure")))
            ).alias("absent_paid"),
        )
    )
    by_span = days.group_by("span").agg(
        pl.col("certified").sum().cast(pl.Int64).alias("cert_days"),
        pl.col("hours").filter(pl.col("certified")).sum().alias("cert_h100"),
        pl.col("attended_h100").sum().alias("att_h100"),
        (pl.col("att_day") | pl.col("absent_paid")).sum().cast(pl.Int64).alias("paid_days"),
        (
            pl.min_horizontal("attended_h100", "hours").filter(pl.col("att_day")).sum()
            + pl.col("hours").filter(pl.col("absent_paid")).sum()
        ).alias("capped_h100"),
        pl.col("day").filter(pl.col("certified")).max().alias("last_care"),
    )
    spans = spans.join(by_span, on="span", how="left").with_columns(
        pl.col("cert_days").fill_null(0),
        pl.col("cert_h100").fill_null(0),
        pl.col("att_h100").fill_null(0),
        pl.col("paid_days").fill_null(0),
        pl.col("capped_h100").fill_null(0),
    )
    capped = policy.basis is Basis.ATTENDANCE_CAPPED
    count = pl.col("paid_days") if capped else pl.col("cert_days")
    spans = spans.with_columns(
        pl.when(pl.col("category") == "hourly")
        .then(pl.col("capped_h100") if capped else pl.col("cert_h100"))
        .otherwise(count)
        .alias("units_num"),
        pl.when(pl.col("category") == "hourly")
        .then(pl.lit(100))
        .when(pl.col("category") == "daily")
        .then(pl.lit(1))
        .when(pl.col("category") == "weekly")
        .then(pl.col("per_week"))
        .otherwise(pl.col("month_days"))
        .alias("units_den"),
    ).with_columns(  # a schedule of no hours certifies nothing: 0 units, never 0 / 0
        pl.when(pl.col("units_den") == 0).then(1).otherwise(pl.col("units_den")).alias("units_den")
    )

    # The child-month's reasons.
    signed = in_month.group_by("cert").agg(
        pl.col("parent_signed").first(),
        pl.col("provider_signed").first(),
        pl.col("received").first(),
    )
    outside = (
        in_month.select("cert", "day")
        .unique()
        .sort("day")
        .join_asof(
            certs.select("cert", "version_from", "start", "end").sort("version_from"),
            left_on="day",
            right_on="version_from",
            by="cert",
            strategy="backward",
            check_sortedness=False,  # sorted above; with by= Polars cannot tell
        )
        .group_by("cert")
        .agg(
            (
                pl.col("version_from").is_null()
                | ~pl.col("day").is_between(pl.col("start"), pl.col("end"))
            )
            .any()
            .alias("outside")
        )
    )
    months = (
        spans.group_by("cert")
        .agg(
            (~pl.col("file_complete")).any().alias("file_incomplete"),
            pl.col("ceiling").is_null().any().alias("no_ceiling"),
            pl.col("last_care").max(),
            pl.col("family").sort_by("span_start").first(),
        )
        .join(signed, on="cert")
        .join(outside, on="cert", how="left")
    )
    months = (
        months.with_columns(
            pl.col("outside").fill_null(value=False).alias("outside_certificate"),
            pl.col("parent_signed").is_null().alias("parent_signature_missing"),
            pl.col("provider_signed").is_null().alias("provider_signature_missing"),
            (pl.col("parent_signed") < pl.col("last_care"))
            .fill_null(value=False)
            .alias("parent_signature_before_last_day_of_care"),
            (pl.col("provider_signed") < pl.col("last_care"))
            .fill_null(value=False)
            .alias("provider_signature_before_last_day_of_care"),
        )
        .with_columns(
            pl.concat_list(
                [pl.when(pl.col(r)).then(pl.lit(r)).otherwise(pl.lit(None)) for r in _REASONS]
            )
            .list.drop_nulls()
            .alias("reasons")
        )
        .with_columns((pl.col("reasons").list.len() == 0).alias("payable"))
    )
    spans = spans.join(
        months.select("cert", "reasons", "payable", "received"), on="cert", how="left"
    ).with_columns(
        pl.when(pl.col("payable") & pl.col("ceiling").is_not_null())
        .then(_half(pl.col("units_num") * pl.col("rate"), pl.col("units_den")))
        .otherwise(0)
        .alias("gross"),
    )
    spans = _fees(spans, f["families"])
    # Claimed certificates of which no version holds in the month: one incomplete row each,
    # every day outside the certificate.
    lone = (
        certs.join(claimed, on="cert", how="semi")
        .join(spans.select("cert").unique(), on="cert", how="anti")
        .group_by("cert", maintain_order=True)
        .first()
        .select("cert", "child", "provider", "family")
        .join(signed, on="cert")
        .join(
            per_day.group_by("cert").agg(
                ((pl.col("minutes") * 2 + 15) // 30 * 25).sum().alias("att_h100")
            ),
            on="cert",
            how="left",
        )
        .with_columns(
            pl.concat_list(
                [
                    pl.lit("outside_certificate"),
                    pl.when(pl.col("parent_signed").is_null()).then(
                        pl.lit("parent_signature_missing")
                    ),
                    pl.when(pl.col("provider_signed").is_null()).then(
                        pl.lit("provider_signature_missing")
                    ),
                ]
            )
            .list.drop_nulls()
            .alias("reasons")
        )
    )
    return _final(spans, months, f["families"], policy, first, unknown, lone)


def _paid_closures(
    policy: Policy,
    certs: pl.DataFrame,
    att: pl.DataFrame,
    providers: pl.DataFrame | None,
    last: date,
) -> pl.DataFrame:
    """(provider, day) of the closure dates paid: each provider's first
    ``closure_days_per_year`` distinct closure dates of the fiscal year."""
    empty = pl.DataFrame(schema={"provider": pl.Utf8, "day": pl.Date, "paid_closure": pl.Boolean})
    if providers is None:
        return empty
    start = fiscal_year_start(last)
    found = (
        att.filter((pl.col("absence") == "closure") & pl.col("day").is_between(start, last))
        .select("cert", "day")
        .sort("day")
        .join_asof(
            certs.select("cert", "version_from", "provider").sort("version_from"),
            left_on="day",
            right_on="version_from",
            by="cert",
            strategy="backward",
            check_sortedness=False,  # sorted above; with by= Polars cannot tell
        )
        .join(
            certs.group_by("cert").agg(pl.col("provider").first().alias("first_provider")),
            on="cert",
            how="inner",
        )
        .select(pl.coalesce("provider", "first_provider").alias("provider"), "day")
        .unique()
        .join(
            providers.filter(
                pl.col("closure_policy") & pl.col("ptype").is_in(["center", "fcch"])
            ).select("provider"),
            on="provider",
            how="semi",
        )
        .sort(["provider", "day"])
        .with_columns(pl.int_range(pl.len()).over("provider").alias("nth"))
        .filter(pl.col("nth") < policy.closure_days_per_year)
        .select("provider", "day", pl.lit(value=True).alias("paid_closure"))
    )
    return found if found.height else empty


def _fees(spans: pl.DataFrame, families: pl.DataFrame) -> pl.DataFrame:
    """A fee the provider collects, deducted once per family from its payable child-months,
    largest gross first (then certificate id), each version row from the last back."""
    fees = families.filter(pl.col("collected_by") == "provider").select("family", "fee")
    month_gross = (
        spans.filter(pl.col("payable"))
        .group_by("cert")
        .agg(
            pl.col("gross").sum().alias("month_gross"),
            pl.col("family").sort_by("span_start").first(),  # the first version's in the month
        )
        .join(fees, on="family", how="inner")
        .sort(["family", "month_gross", "cert"], descending=[False, True, False])
        .with_columns(
            (pl.col("month_gross").cum_sum().over("family") - pl.col("month_gross")).alias("before")
        )
        .with_columns(
            pl.min_horizontal(
                pl.max_horizontal(pl.col("fee") - pl.col("before"), pl.lit(0)), "month_gross"
            ).alias("month_fee")
        )
        .select("cert", "month_fee")
    )
    return (
        spans.join(month_gross, on="cert", how="left")
        .with_columns(pl.col("month_fee").fill_null(0))
        .sort(["cert", "span_start"], descending=[False, True])
        .with_columns((pl.col("gross").cum_sum().over("cert") - pl.col("gross")).alias("after"))
        .with_columns(
            pl.min_horizontal(
                pl.max_horizontal(pl.col("month_fee") - pl.col("after"), pl.lit(0)), "gross"
            ).alias("fee_taken")
        )
        .sort(["cert", "span_start"])
    )


def _evidence(months: pl.DataFrame, families: pl.DataFrame, smi: dict[int, int]) -> pl.DataFrame:
    if not smi:
        return months.select("cert").with_columns(
            pl.lit("not_checked").alias("fee_check"), pl.lit("not_checked").alias("elig_check")
        )
    sizes = pl.DataFrame(
        {"size": list(smi), "smi": list(smi.values())}, schema={"size": pl.Int64, "smi": pl.Int64}
    )
    found = months.select("cert", "family").join(families, on="family", how="left")
    found = found.join(sizes, on="size", how="left")
    checked = pl.col("smi").is_not_null()
    return found.select(
        "cert",
        pl.when(~checked)
        .then(pl.lit("not_checked"))
        .when((pl.col("income") * 4 < pl.col("smi") * 3) & (pl.col("fee") > 0))
        .then(pl.lit("should_be_zero"))
        .when(pl.col("fee") * 100 > pl.col("income"))
        .then(pl.lit("above_1pct_of_income"))
        .otherwise(pl.lit("ok"))
        .alias("fee_check"),
        pl.when(~checked)
        .then(pl.lit("not_checked"))
        .when(pl.col("income") * 20 > pl.col("smi") * 17)
        .then(pl.lit("income_above_85pct_smi"))
        .otherwise(pl.lit("ok"))
        .alias("elig_check"),
    )


ROW_SCHEMA = {
    "cert": pl.Utf8, "version_from": pl.Date, "child": pl.Utf8, "provider": pl.Utf8,
    "status": pl.Utf8, "reasons": pl.List(pl.Utf8), "basis": pl.Utf8, "units_e4": pl.Int64,
    "ceiling": pl.Int64, "factor_e4": pl.Int64, "rate": pl.Int64, "gross": pl.Int64,
    "fee": pl.Int64, "net": pl.Int64, "due_by": pl.Date, "fee_check": pl.Utf8,
    "elig_check": pl.Utf8, "rate_check": pl.Utf8, "cert_h100": pl.Int64, "att_h100": pl.Int64,
}  # fmt: skip


def _final(
    spans: pl.DataFrame,
    months: pl.DataFrame,
    families: pl.DataFrame,
    policy: Policy,
    first: date,
    unknown: Sequence[str],
    lone: pl.DataFrame,
) -> pl.DataFrame:
    """The rows in ``ROW_SCHEMA``: incomplete ones at 0; unknown certificates with their id,
    status and reason only; in certificate and version order."""
    evidence = _evidence(months, families, policy.smi)
    alone = lone.join(
        _evidence(lone.select("cert", "family"), families, policy.smi), on="cert", how="left"
    ).select(
        "cert",
        pl.lit(first).alias("version_from"),
        "child",
        "provider",
        pl.lit("incomplete").alias("status"),
        "reasons",
        pl.lit(policy.basis.value).alias("basis"),
        pl.lit(0).alias("units_e4"),
        pl.lit(0).alias("rate"),
        pl.lit(0).alias("gross"),
        pl.lit(0).alias("fee"),
        pl.lit(0).alias("net"),
        "fee_check",
        "elig_check",
        pl.lit("").alias("rate_check"),
        pl.lit(0).alias("cert_h100"),
        pl.col("att_h100").fill_null(0),
    )
    payable = pl.col("payable")
    has_ceiling = pl.col("ceiling").is_not_null()
    gross = pl.when(payable).then(pl.col("gross")).otherwise(0)
    fee = pl.when(payable).then(pl.col("fee_taken")).otherwise(0)
    rows = spans.join(evidence, on="cert", how="left").select(
        "cert",
        pl.col("span_start").alias("version_from"),
        "child",
        "provider",
        pl.when(payable).then(pl.lit("payable")).otherwise(pl.lit("incomplete")).alias("status"),
        pl.col("reasons").list.sort(),
        pl.lit(policy.basis.value).alias("basis"),
        pl.when(payable & has_ceiling)
        .then((pl.col("units_num") * 20_000 + pl.col("units_den")) // (pl.col("units_den") * 2))
        .otherwise(0)
        .alias("units_e4"),
        "ceiling",
        pl.when(has_ceiling)
        .then((pl.col("factor_num") * 20_000 + 25_600) // 51_200)
        .alias("factor_e4"),
        pl.when(payable & has_ceiling).then(pl.col("rate")).otherwise(0).alias("rate"),
        gross.alias("gross"),
        fee.alias("fee"),
        (gross - fee).alias("net"),
        pl.when(payable)
        .then(pl.col("received") + pl.duration(days=policy.days_to_pay))
        .alias("due_by"),
        "fee_check",
        "elig_check",
        pl.when(has_ceiling)
        .then(
            pl.concat_str(
                [
                    "county", "facility", "age_band", "category", "time_basis",
                    pl.col("effective_from").dt.to_string("%Y-%m-%d"),
                ],
                separator="/",
            )
        )
        .otherwise(pl.lit(""))
        .alias("rate_check"),
        "cert_h100",
        "att_h100",
    )  # fmt: skip
    lost = pl.DataFrame(
        {"cert": list(unknown), "status": ["incomplete"] * len(unknown),
         "reasons": [[UNKNOWN_CERTIFICATE]] * len(unknown)},
        schema={"cert": pl.Utf8, "status": pl.Utf8, "reasons": pl.List(pl.Utf8)},
    )  # fmt: skip
    schema: dict[str, Any] = ROW_SCHEMA
    both = pl.concat(
        [
            rows.cast(schema),  # type: ignore[arg-type]
            alone.cast({k: v for k, v in schema.items() if k in alone.columns}),
            lost,
        ],
        how="diagonal_relaxed",
    )
    return both.select(list(ROW_SCHEMA)).sort(["cert", "version_from"], nulls_last=False)


def _h100(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def rows_of(frame: pl.DataFrame, month: date | None = None) -> list[PaymentRow]:
    """The engine's frame as payments.csv's rows (for the writer and the tests)."""
    out = []
    for r in frame.iter_rows(named=True):
        label = f"{(month or r['version_from'] or date.min):%Y-%m}"
        if r["basis"] is None:  # an unknown certificate
            out.append(
                PaymentRow(r["cert"], None, "", "", label, "incomplete", (UNKNOWN_CERTIFICATE,),
                           "", Decimal(0), None, None, 0, 0, 0, 0, None, "", "", "", "")
            )  # fmt: skip
            continue
        out.append(
            PaymentRow(
                certificate_id=r["cert"],
                version_from=r["version_from"],
                child_id=r["child"],
                provider_id=r["provider"],
                month=label,
                status=r["status"],
                reasons=tuple(r["reasons"]),
                basis=r["basis"],
                units=Decimal(int(r["units_e4"])).scaleb(-4),
                ceiling_minor=r["ceiling"],
                factor=None if r["factor_e4"] is None else Decimal(r["factor_e4"]).scaleb(-4),
                rate_applied_minor=r["rate"],
                gross_minor=r["gross"],
                family_fee_minor=r["fee"],
                net_minor=r["net"],
                due_by=r["due_by"],
                fee_check=r["fee_check"],
                eligibility_check=r["elig_check"],
                rate_check=r["rate_check"],
                hours_check=f"{_h100(r['cert_h100'])};{_h100(r['att_h100'])}",
            )
        )
    return out


def _e4(column: str) -> pl.Expr:
    value = pl.col(column)
    return pl.concat_str(
        [(value // 10_000).cast(pl.Utf8), pl.lit("."), (value % 10_000).cast(pl.Utf8).str.zfill(4)]
    )


def e4_text(column: str) -> pl.Expr:
    """A column of ten-thousandths as decimal text with four places (units, factors), as
    payments.csv writes it."""
    return _e4(column)


def hours_check_text() -> pl.Expr:
    """The hours test's evidence, certified;attended hours with two places each."""
    hundredths = [
        pl.concat_str(
            [
                (pl.col(c) // 100).cast(pl.Utf8),
                pl.lit("."),
                (pl.col(c) % 100).cast(pl.Utf8).str.zfill(2),
            ]
        )
        for c in ("cert_h100", "att_h100")
    ]
    return pl.concat_str(hundredths, separator=";")


def payments_csv_frame(frame: pl.DataFrame, month: date) -> str:
    """payments.csv from the engine's frame, as ``exchange.payments_csv(rows_of(frame))``
    writes it (a test holds the two equal), without a Python object per row."""
    known = pl.col("basis").is_not_null()
    text = frame.select(
        pl.col("cert").alias("certificate_id"),
        pl.col("version_from").dt.to_string("%Y-%m-%d"),
        pl.col("child").alias("child_id"),
        pl.col("provider").alias("provider_id"),
        pl.when(known).then(pl.lit(f"{month:%Y-%m}")).alias("month"),
        "status",
        pl.col("reasons").list.join(";"),
        "basis",
        pl.when(known).then(_e4("units_e4")).alias("units"),
        pl.col("ceiling").cast(pl.Utf8).alias("ceiling_minor"),
        pl.when(pl.col("factor_e4").is_not_null()).then(_e4("factor_e4")).alias("factor"),
        *(
            pl.col(c).cast(pl.Utf8).alias(name)
            for c, name in (
                ("rate", "rate_applied_minor"),
                ("gross", "gross_minor"),
                ("fee", "family_fee_minor"),
                ("net", "net_minor"),
            )
        ),
        pl.col("due_by").dt.to_string("%Y-%m-%d"),
        "fee_check",
        pl.col("elig_check").alias("eligibility_check"),
        "rate_check",
        pl.when(known).then(hours_check_text()).alias("hours_check"),
    ).with_columns(pl.all().replace("", None))
    return text.write_csv(line_terminator="\n", quote_style="necessary", null_value="")


def summary_frame(frame: pl.DataFrame) -> dict[str, object]:
    """summary.json's content from the engine's frame, as ``exchange.summary`` gives it."""
    months = frame.group_by(["cert", "provider"]).agg(
        pl.col("status").last(), pl.col("net").filter(pl.col("status") == "payable").sum()
    )
    providers = {}
    for provider, payable, incomplete, net in (
        months.filter(pl.col("provider").is_not_null() & (pl.col("provider") != ""))
        .group_by("provider")
        .agg(
            (pl.col("status") == "payable").sum().alias("payable"),
            (pl.col("status") == "incomplete").sum().alias("incomplete"),
            pl.col("net").sum().alias("net_minor"),
        )
        .sort("provider")
        .select("provider", "payable", "incomplete", "net_minor")
        .iter_rows()
    ):
        providers[provider] = {
            "payable": int(payable),
            "incomplete": int(incomplete),
            "net_minor": int(net or 0),
        }
    by_cert = (  # a child-month once, over all providers (an unknown certificate has none)
        frame.filter(pl.col("provider").is_not_null() & (pl.col("provider") != ""))
        .group_by("cert")
        .agg(pl.col("status").last())
    )
    totals = {
        "payable": int((by_cert["status"] == "payable").sum()),
        "incomplete": int((by_cert["status"] == "incomplete").sum()),
        "net_minor": int(months["net"].fill_null(0).sum()),
    }
    return {"providers": providers, "totals": totals}
