"""The reconciliation engine: planned visits against actual records, vectorised with Polars.

Pure: frames in, a frame out, no I/O. The inputs are the frames ``remit.care.exchange``
reads (or the service builds from the store); times are whole seconds since the epoch in
local time, rates integer millionths of a major unit per hour. The policy's numbers are
columns, so that each provider may have its own (a contract's override).

The steps, each one vectorised:

1. **match**: each actual takes the planned visit of the same client and provider whose start
   is nearest its check-in, within the window; ties go to the earlier planned visit (two
   as-of joins, backward and forward, and the nearer of the two; visits with the same client,
   provider and start count once, the first in the file).
2. **place**: a visit's records in order of check-in; the first record of each distinct carer
   takes the next carer place while places are left; every other record is a duplicate.
3. **decide**: each placed record against the plan and the policy; each place without a
   record is missed; each record without a visit is unplanned.
4. **price**: paid minutes (at least the minimum charge when more than 0) / 60 x the rate of
   the visit's time band in force on the planned start's date (the standard rate when its
   band has none), half-up to the minor unit, in exact integer arithmetic.

A planned visit may carry a ``status`` (cancelled with or without notice, frustrated, in
hospital) and its ``reason``; a rate may carry a ``band``. Frames without them read as
planned visits and standard rates, so the offline files of before read the same.

>>> import polars as pl
>>> planned = pl.DataFrame({"visit_id": ["V1"], "client_id": ["C1"], "provider_id": ["P1"],
...     "service_code": ["HC"], "start_s": [32_400], "end_s": [34_200], "carers": [1]})
>>> actual = pl.DataFrame({"record_id": ["R1"], "client_id": ["C1"], "provider_id": ["P1"],
...     "carer_id": ["K1"], "service_code": ["HC"], "check_in_s": [32_700],
...     "check_out_s": [34_020]})
>>> rates = pl.DataFrame({"provider_id": ["P1"], "service_code": ["HC"], "effective_day": [0],
...     "rate_millionths": [18_500_000], "currency": ["GBP"]})
>>> out = reconcile(planned, actual, rates, Policy())
>>> out.select("status", "delivered_minutes", "paid_minutes", "amount_minor").row(0)
('short', 22, 15, 463)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import polars as pl

from remit.care.model import (
    ENGINE_COLUMNS,
    OUTCOME_COLUMNS,
    Policy,
    Rule,
    VisitStatus,
    amount_minor,
)
from remit.care.reasons import EARLY_NOTE, FIELDS, LATE_NOTE, MINIMUM_NOTE, pieces
from remit.money import exponent

DAY_SECONDS = 86_400
I64 = pl.Int64
POLICY_COLUMNS = {
    "match_window_minutes": "window",
    "max_visit_minutes": "max_visit",
    "tolerance_minutes": "tolerance",
    "over_exception_minutes": "over",
    "rounding_minutes": "rounding",
    "short_exception_minutes": "short_limit",
    "late_minutes": "late",
    "early_minutes": "early",
    "late_exception": "late_exc",
    "early_exception": "early_exc",
    "short_notice_paid_percent": "short_share",
    "frustrated_paid_percent": "frustrated_share",
    "minimum_charge_minutes": "minimum",
    "evening_from_minute": "evening_from",
    "evening_to_minute": "evening_to",
}
STATUS_OF = {
    Rule.CHECK_OUT_BEFORE_CHECK_IN: VisitStatus.INVALID,
    Rule.OVER_MAX_VISIT: VisitStatus.INVALID,
    Rule.OVER_EXCEPTION: VisitStatus.OVER,
    Rule.WITHIN_TOLERANCE: VisitStatus.VERIFIED,
    Rule.SHORT_EXCEPTION: VisitStatus.SHORT,
    Rule.SHORT_BANDED: VisitStatus.SHORT,
    Rule.NO_RECORD_FOR_PLACE: VisitStatus.MISSED,
    Rule.CANCELLED_WITH_NOTICE: VisitStatus.CANCELLED,
    Rule.CANCELLED_SHORT_NOTICE: VisitStatus.SHORT_NOTICE,
    Rule.FRUSTRATED_VISIT: VisitStatus.FRUSTRATED,
    Rule.CLIENT_IN_HOSPITAL: VisitStatus.HOSPITAL,
    Rule.RECORD_AT_CANCELLED_VISIT: VisitStatus.CANCELLED,
    Rule.RECORD_IN_HOSPITAL: VisitStatus.HOSPITAL,
}
# A place of a visit that is not planned, by the visit's status (with or without a record).
PLACE_RULE = {
    "cancelled_notice": (Rule.CANCELLED_WITH_NOTICE, Rule.RECORD_AT_CANCELLED_VISIT),
    "hospital": (Rule.CLIENT_IN_HOSPITAL, Rule.RECORD_IN_HOSPITAL),
    "cancelled_short_notice": (Rule.CANCELLED_SHORT_NOTICE, Rule.CANCELLED_SHORT_NOTICE),
    "frustrated": (Rule.FRUSTRATED_VISIT, Rule.FRUSTRATED_VISIT),
}
SHARED = (Rule.CANCELLED_SHORT_NOTICE.value, Rule.FRUSTRATED_VISIT.value)
NOTES = (("raised", MINIMUM_NOTE), ("late_note", LATE_NOTE), ("early_note", EARLY_NOTE))


def reconcile(
    planned: pl.DataFrame,
    actual: pl.DataFrame,
    rates: pl.DataFrame,
    policy: Policy,
    overrides: Mapping[str, Policy] | None = None,
    holidays: Collection[int] = (),
) -> pl.DataFrame:
    """Every carer place and every left-over record with its outcome (``ENGINE_COLUMNS``).

    ``holidays`` are the bank holidays (days since 1970-01-01) of the time bands.

    ``amount_minor`` is null where minutes are paid but no rate is in force (the caller
    reports those); rows come in the order of the planned file, each visit's places then its
    duplicates, then the unplanned records in the order of the actual file.
    """
    pol = _policies(planned, actual, policy, overrides or {})
    money = _provider_currency(rates)
    plan = (
        planned.with_row_index("vidx")
        .with_columns(
            pl.col("carers").cast(I64),
            planned_minutes=(pl.col("end_s") - pl.col("start_s")) // 60,
            vstatus=pl.col("status").fill_null("planned")
            if "status" in planned.columns
            else pl.lit("planned"),
            vreason=pl.col("reason").fill_null("") if "reason" in planned.columns else pl.lit(""),
        )
        .join(pol, on="provider_id", how="left")
        .with_columns(
            share=pl.when(pl.col("vstatus") == "cancelled_short_notice")
            .then(pl.col("short_share"))
            .when(pl.col("vstatus") == "frustrated")
            .then(pl.col("frustrated_share"))
            .otherwise(0)
        )
    )
    plan = _priced(plan, rates, holidays).join(money, on="provider_id", how="left")
    act = actual.with_row_index("aidx").with_columns(
        delivered_minutes=(pl.col("check_out_s") - pl.col("check_in_s")) // 60
    )
    act = act.join(pol.select("provider_id", "window"), on="provider_id", how="left")
    act = act.join(_match(plan, act), on="aidx", how="left")

    matched = _placed(act.filter(pl.col("vidx").is_not_null()), plan)
    unplanned = act.filter(pl.col("vidx").is_null())
    frames = [
        _decided(matched.filter(pl.col("placed"))),
        _duplicates(matched.filter(~pl.col("placed"))),
        _missed(plan, matched),
        _unplanned(unplanned, pol, money),
    ]
    keep = (
        [c for c in ENGINE_COLUMNS if c != "reason"]
        + [c for c in FIELDS if c not in OUTCOME_COLUMNS]
        + [flag for flag, _ in NOTES]
        + ["k1", "k2", "k3"]
    )
    out = pl.concat([f.select(keep) for f in frames], how="vertical_relaxed")
    # Each rule's sentence is built only for the rows it decided.
    out = (
        pl.concat(
            [
                part.with_columns(reason=_reason(Rule(part.get_column("rule")[0])))
                for part in out.partition_by("rule")
                if part.height
            ],
            how="vertical_relaxed",
        )
        if out.height
        else out.with_columns(reason=pl.lit("", dtype=pl.String))
    )
    # The notes after the sentence, only where one applies (most runs have none).
    notes = [
        pl.when(flag).then(_sentence(note)).otherwise(pl.lit(""))
        for flag, note in NOTES
        if out.get_column(flag).any()
    ]
    out = out.with_columns(reason=pl.concat_str(["reason", *notes])) if notes else out
    return (
        out.sort("k1", "k2", "k3")
        .select(ENGINE_COLUMNS)
        .with_columns(pl.col("currency").fill_null(""))
    )


def _policies(
    planned: pl.DataFrame, actual: pl.DataFrame, policy: Policy, overrides: Mapping[str, Policy]
) -> pl.DataFrame:
    """One row per provider with its policy's numbers (the override, else the default)."""
    providers = pl.concat([planned.select("provider_id"), actual.select("provider_id")]).unique()
    columns = {
        short: pl.lit(getattr(policy, name), dtype=I64) for name, short in POLICY_COLUMNS.items()
    }
    pol = providers.with_columns(**columns)
    if overrides:
        special = pl.DataFrame(
            [
                {
                    "provider_id": pid,
                    **{short: getattr(p, name) for name, short in POLICY_COLUMNS.items()},
                }
                for pid, p in overrides.items()
            ],
            schema={"provider_id": pl.String, **dict.fromkeys(POLICY_COLUMNS.values(), I64)},
        )
        pol = (
            pol.join(special, on="provider_id", how="left", suffix="_o")
            .with_columns([pl.coalesce(f"{c}_o", c).alias(c) for c in POLICY_COLUMNS.values()])
            .select("provider_id", *POLICY_COLUMNS.values())
        )
    return pol


def _provider_currency(rates: pl.DataFrame) -> pl.DataFrame:
    """Each provider's currency (the exchange reader refuses a provider with two)."""
    return rates.group_by("provider_id").agg(pl.col("currency").first())


def _priced(plan: pl.DataFrame, rates: pl.DataFrame, holidays: Collection[int]) -> pl.DataFrame:
    """The rate in force on each visit's planned start date (null when none is): its time
    band's, else the standard one (rates without a ``band`` column are all standard)."""
    keyed = plan.with_columns(visit_day=(pl.col("start_s") // DAY_SECONDS).cast(I64))
    banded = "band" in rates.columns and bool(rates.filter(pl.col("band") != "standard").height)
    table = rates.select(
        "provider_id",
        "service_code",
        pl.col("effective_day").cast(I64),
        pl.col("rate_millionths").cast(I64),
        band=pl.col("band") if "band" in rates.columns else pl.lit("standard"),
    ).sort("effective_day")
    if not banded:
        return _as_of(keyed, table.filter(pl.col("band") == "standard").drop("band"), ()).sort(
            "vidx"
        )
    standard = _as_of(keyed.with_columns(band=pl.lit("standard")), table)
    own = _as_of(keyed.with_columns(band=_band(holidays)), table).sort("vidx")
    return own.with_columns(
        pl.coalesce("rate_millionths", standard.sort("vidx").get_column("rate_millionths"))
    )


def _as_of(
    keyed: pl.DataFrame, table: pl.DataFrame, by: tuple[str, ...] = ("band",)
) -> pl.DataFrame:
    return keyed.sort("visit_day").join_asof(
        table,
        left_on="visit_day",
        right_on="effective_day",
        by=["provider_id", "service_code", *by],
        strategy="backward",
        check_sortedness=False,
    )


def band_of(start_s: int, evening_from: int, evening_to: int, holidays: Collection[int]) -> str:
    """The time band of one planned start, as ``_band`` has it for a frame (for a decision
    priced one visit at a time).

    >>> band_of(0, 1200, 420, ())  # Thursday 1970-01-01 00:00: the evening, across midnight
    'evening'
    >>> band_of(2 * 86_400 + 36_000, 1200, 420, ()), band_of(36_000, 1200, 420, (0,))
    ('weekend', 'bank_holiday')
    >>> band_of(36_000, 1200, 420, ())
    'standard'
    """
    day, minute = start_s // DAY_SECONDS, (start_s % DAY_SECONDS) // 60
    if evening_from > evening_to:
        evening = minute >= evening_from or minute < evening_to
    else:
        evening = evening_from <= minute < evening_to
    if day in holidays:
        return "bank_holiday"
    if (day + 3) % 7 >= 5:
        return "weekend"
    return "evening" if evening else "standard"


def _band(holidays: Collection[int]) -> pl.Expr:
    """The time band of a visit's planned start: a bank holiday, else a weekend (Saturday or
    Sunday), else the evening (from ``evening_from`` to ``evening_to``, minutes of the day,
    across midnight when from > to), else standard. 1970-01-01 was a Thursday."""
    day = pl.col("start_s") // DAY_SECONDS
    minute = (pl.col("start_s") % DAY_SECONDS) // 60
    start, end = pl.col("evening_from"), pl.col("evening_to")
    evening = (
        pl.when(start > end)
        .then((minute >= start) | (minute < end))
        .otherwise((minute >= start) & (minute < end))
    )
    return (
        pl.when(day.is_in(list(holidays)))
        .then(pl.lit("bank_holiday"))
        .when((day + 3) % 7 >= 5)
        .then(pl.lit("weekend"))
        .when(evening)
        .then(pl.lit("evening"))
        .otherwise(pl.lit("standard"))
    )


def _match(plan: pl.DataFrame, act: pl.DataFrame) -> pl.DataFrame:
    """(aidx, vidx): each actual's planned visit, or none.

    Client and provider become one integer pair code, and the as-of joins run on one
    integer key, ``pair * 2**40 + seconds``: a window (at most 100,000 minutes) never
    reaches from one pair's block into the next, and one key sorts faster than groups.
    """
    pairs = plan.select("client_id", "provider_id").unique().with_row_index("pair")
    targets = (
        plan.sort("vidx")
        .unique(["client_id", "provider_id", "start_s"], keep="first", maintain_order=True)
        .join(pairs, on=["client_id", "provider_id"])
        .select(key=_key("pair", "start_s"), m_vidx="vidx")
        .with_columns(m_key=pl.col("key"))
        .sort("key")
    )
    probes = (
        act.select("aidx", "client_id", "provider_id", "check_in_s", "window")
        .join(pairs, on=["client_id", "provider_id"])  # no pair: no visit, unplanned
        .with_columns(key=_key("pair", "check_in_s"))
        .sort("key")
    )
    back = probes.join_asof(targets, on="key", strategy="backward", check_sortedness=False)
    ahead = probes.select("key").join_asof(
        targets, on="key", strategy="forward", check_sortedness=False
    )
    both = back.select(
        "aidx",
        "key",
        "window",
        b_key="m_key",
        b_vidx="m_vidx",
        f_key=ahead["m_key"],
        f_vidx=ahead["m_vidx"],
    )
    window_s = pl.col("window") * 60
    # Gaps in key space: a visit of another pair is 2**40 seconds away, never in the window.
    b_gap = pl.col("key") - pl.col("b_key")
    f_gap = pl.col("f_key") - pl.col("key")
    b_ok = pl.col("b_vidx").is_not_null() & (b_gap <= window_s)
    f_ok = pl.col("f_vidx").is_not_null() & (f_gap <= window_s)
    chosen = (
        pl.when(b_ok & (~f_ok | (b_gap <= f_gap)))
        .then(pl.col("b_vidx"))
        .when(f_ok)
        .then(pl.col("f_vidx"))
        .otherwise(None)
    )
    return both.select("aidx", vidx=chosen)


def _key(pair: str, seconds: str) -> pl.Expr:
    """A sortable key of a pair's moment; seconds are offset so that they are non-negative
    for any date from 1970 minus 17,000 years on (2**39 seconds)."""
    return pl.col(pair).cast(I64) * (1 << 40) + pl.col(seconds) + (1 << 39)


def _placed(matched: pl.DataFrame, plan: pl.DataFrame) -> pl.DataFrame:
    """Matched records with their visit, carer place (``place``) and whether they hold one.

    In order of visit and check-in, a record is its carer's first on the visit when the
    (visit, carer) pair is seen for the first time (a hash, not a sort of the carers' ids);
    the first records take places 1..N in that order. Running counts replace windows over a
    million small groups.
    """
    visit = plan.select(
        "vidx",
        "visit_id",
        p_client="client_id",
        p_provider="provider_id",
        carers="carers",
        planned_minutes="planned_minutes",
        rate="rate_millionths",
        currency="currency",
        vstatus="vstatus",
        vreason="vreason",
        share="share",
        p_start="start_s",
        p_end="end_s",
        **{c: c for c in POLICY_COLUMNS.values() if c != "window"},
    )
    rows = matched.join(visit, on="vidx", how="left").sort("vidx", "check_in_s", "aidx")
    first = pl.struct("vidx", "carer_id").is_first_distinct()
    count = first.cast(I64).cum_sum()
    new_visit = (pl.col("vidx") != pl.col("vidx").shift(1)).fill_null(True)
    rows = rows.with_columns(first=first, count=count)
    rows = rows.with_columns(
        place=pl.col("count")
        - pl.when(new_visit)
        .then(pl.col("count") - pl.col("first").cast(I64))
        .otherwise(None)
        .forward_fill()
    )
    rows = rows.with_columns(placed=pl.col("first") & (pl.col("place") <= pl.col("carers")))
    # A later record of a carer: did the carer's first record take a place?
    held = rows.filter(pl.col("placed")).select("vidx", "carer_id", carer_placed=pl.lit(True))
    later = rows.filter(~pl.col("first")).join(held, on=["vidx", "carer_id"], how="left")
    return pl.concat(
        [
            rows.filter(pl.col("first")).with_columns(carer_placed=pl.col("placed")),
            later.with_columns(pl.col("carer_placed").fill_null(False)),
        ],
        how="vertical_relaxed",
    )


def _reason(rule: Rule) -> pl.Expr:
    return _sentence(rule)


def _sentence(template: Rule | str) -> pl.Expr:
    parts: list[pl.Expr] = []
    for literal, name in pieces(template):
        if literal:
            parts.append(pl.lit(literal))
        if name is not None:
            assert name in FIELDS, name
            parts.append(pl.col(name).cast(pl.String))
    return pl.concat_str(parts)


def _exp(frame: pl.DataFrame) -> pl.DataFrame:
    """``unit``: minor units in a major unit of each row's currency (10 ** exponent)."""
    units = {c: 10 ** exponent(c) for c in frame.get_column("currency").drop_nulls().unique()}
    return frame.with_columns(
        unit=pl.col("currency").replace_strict(units, default=1, return_dtype=I64)
    )


def _decided(rows: pl.DataFrame) -> pl.DataFrame:
    d, p = pl.col("delivered_minutes"), pl.col("planned_minutes")
    within = d >= p - pl.col("tolerance")
    banded = ((2 * d + pl.col("rounding")) // (2 * pl.col("rounding"))) * pl.col("rounding")
    vs = pl.col("vstatus")
    rule = (
        pl.when(vs == "cancelled_notice")
        .then(pl.lit(Rule.RECORD_AT_CANCELLED_VISIT.value))
        .when(vs == "hospital")
        .then(pl.lit(Rule.RECORD_IN_HOSPITAL.value))
        .when(vs == "cancelled_short_notice")
        .then(pl.lit(Rule.CANCELLED_SHORT_NOTICE.value))
        .when(vs == "frustrated")
        .then(pl.lit(Rule.FRUSTRATED_VISIT.value))
        .when(pl.col("check_out_s") < pl.col("check_in_s"))
        .then(pl.lit(Rule.CHECK_OUT_BEFORE_CHECK_IN.value))
        .when(d > pl.col("max_visit"))
        .then(pl.lit(Rule.OVER_MAX_VISIT.value))
        .when(within & (d > p + pl.col("over")))
        .then(pl.lit(Rule.OVER_EXCEPTION.value))
        .when(within)
        .then(pl.lit(Rule.WITHIN_TOLERANCE.value))
        .when(p - d > pl.col("short_limit"))
        .then(pl.lit(Rule.SHORT_EXCEPTION.value))
        .otherwise(pl.lit(Rule.SHORT_BANDED.value))
    )
    exceptional = (
        Rule.CHECK_OUT_BEFORE_CHECK_IN.value,
        Rule.OVER_MAX_VISIT.value,
        Rule.OVER_EXCEPTION.value,
        Rule.SHORT_EXCEPTION.value,
        Rule.RECORD_AT_CANCELLED_VISIT.value,
        Rule.RECORD_IN_HOSPITAL.value,
    )
    timed = (
        Rule.WITHIN_TOLERANCE.value,
        Rule.OVER_EXCEPTION.value,
        Rule.SHORT_BANDED.value,
        Rule.SHORT_EXCEPTION.value,
    )
    rows = rows.with_columns(rule=rule)
    is_timed = pl.col("rule").is_in(timed)
    late = is_timed & (pl.col("check_in_s") > pl.col("p_start") + pl.col("late") * 60)
    early = is_timed & (pl.col("check_out_s") < pl.col("p_end") - pl.col("early") * 60)
    rows = rows.with_columns(
        status=_status(),
        paid_minutes=pl.when(
            pl.col("rule").is_in([Rule.OVER_EXCEPTION.value, Rule.WITHIN_TOLERANCE.value])
        )
        .then(p)
        .when(pl.col("rule").is_in([Rule.SHORT_EXCEPTION.value, Rule.SHORT_BANDED.value]))
        .then(pl.min_horizontal(banded, p))
        .when(pl.col("rule").is_in(SHARED))
        .then(p * pl.col("share") // 100)
        .otherwise(0),
        flags=pl.when(early & late)
        .then(pl.lit("early_leaving,late_arrival"))
        .when(early)
        .then(pl.lit("early_leaving"))
        .when(late)
        .then(pl.lit("late_arrival"))
        .otherwise(pl.lit("")),
        late_note=late & (pl.col("late_exc") == 1),
        early_note=early & (pl.col("early_exc") == 1),
        late_by=(pl.col("check_in_s") - pl.col("p_start")) // 60,
        early_by=(pl.col("p_end") - pl.col("check_out_s")) // 60,
    )
    rows = rows.with_columns(
        exception=pl.col("rule").is_in(exceptional) | pl.col("late_note") | pl.col("early_note")
    )
    return _finish(_paid(rows), visit=True).with_columns(
        k1=pl.col("vidx").cast(I64), k2=pl.col("place"), k3=pl.col("aidx").cast(I64)
    )


def _status() -> pl.Expr:
    return pl.col("rule").replace_strict({r.value: s.value for r, s in STATUS_OF.items()})


def _paid(rows: pl.DataFrame) -> pl.DataFrame:
    """Paid minutes raised to the minimum charge (``raised``), and their amount."""
    paid = pl.col("paid_minutes")
    rows = rows.with_columns(raised=(paid > 0) & (paid < pl.col("minimum")))
    rows = rows.with_columns(paid_minutes=pl.when("raised").then(pl.col("minimum")).otherwise(paid))
    return _exp(rows).with_columns(
        amount_minor=pl.when(pl.col("paid_minutes") == 0)
        .then(0)
        .otherwise(amount_minor(pl.col("paid_minutes"), pl.col("rate"), pl.col("unit")))
    )


DEFAULTS = {
    "share": pl.lit(0, dtype=I64),
    "vreason": pl.lit(""),
    "late_by": pl.lit(0, dtype=I64),
    "early_by": pl.lit(0, dtype=I64),
    "flags": pl.lit(""),
    "raised": pl.lit(False),
    "late_note": pl.lit(False),
    "early_note": pl.lit(False),
}


def _finish(rows: pl.DataFrame, visit: bool) -> pl.DataFrame:
    """The outcome columns shared by every kind of row, and the fields of the reasons."""
    extra = {"provider_id": pl.col("p_provider"), "client_id": pl.col("p_client")} if visit else {}
    rows = rows.with_columns(**{k: v for k, v in DEFAULTS.items() if k not in rows.columns})
    return rows.with_columns(
        because=pl.when(pl.col("vreason") != "")
        .then(pl.concat_str(pl.lit(" ("), pl.col("vreason"), pl.lit(")")))
        .otherwise(pl.lit("")),
        shortfall=pl.col("planned_minutes") - pl.col("delivered_minutes"),
        paid=pl.col("paid_minutes"),
        planned=pl.col("planned_minutes"),
        delivered=pl.col("delivered_minutes"),
        **extra,
    )


def _duplicates(rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.with_columns(
        status=pl.lit(VisitStatus.DUPLICATE.value),
        rule=pl.when(pl.col("carer_placed"))
        .then(pl.lit(Rule.CARER_ALREADY_PLACED.value))
        .otherwise(pl.lit(Rule.PLACES_FILLED.value)),
        paid_minutes=pl.lit(0, dtype=I64),
        amount_minor=pl.lit(0, dtype=I64),
        exception=pl.lit(False),
    )
    return _finish(rows, visit=True).with_columns(
        k1=pl.col("vidx").cast(I64),
        k2=pl.lit(1 << 40, dtype=I64) + pl.col("check_in_s"),
        k3=pl.col("aidx").cast(I64),
    )


def _missed(plan: pl.DataFrame, matched: pl.DataFrame) -> pl.DataFrame:
    held = matched.filter(pl.col("placed")).group_by("vidx").agg(held=pl.len().cast(I64))
    places = (
        plan.join(held, on="vidx", how="left")
        .with_columns(pl.col("held").fill_null(0))
        .filter(pl.col("carers") > pl.col("held"))
        .with_columns(place=pl.int_ranges(pl.col("held") + 1, pl.col("carers") + 1))
        .explode("place")
    )
    rule = pl.lit(Rule.NO_RECORD_FOR_PLACE.value)
    for status, (without, _with) in PLACE_RULE.items():
        rule = pl.when(pl.col("vstatus") == status).then(pl.lit(without.value)).otherwise(rule)
    rows = places.with_columns(
        record_id=pl.lit(""),
        carer_id=pl.lit(""),
        rule=rule,
        delivered_minutes=pl.lit(0, dtype=I64),
        p_provider=pl.col("provider_id"),
        p_client=pl.col("client_id"),
        rate="rate_millionths",
    ).with_columns(
        status=_status(),
        paid_minutes=pl.when(pl.col("rule").is_in(SHARED))
        .then(pl.col("planned_minutes") * pl.col("share") // 100)
        .otherwise(0),
        exception=pl.col("rule") == Rule.NO_RECORD_FOR_PLACE.value,
    )
    return _finish(_paid(rows), visit=True).with_columns(
        k1=pl.col("vidx").cast(I64), k2=pl.col("place"), k3=pl.lit(0, dtype=I64)
    )


def _unplanned(rows: pl.DataFrame, pol: pl.DataFrame, money: pl.DataFrame) -> pl.DataFrame:
    rows = (
        rows.drop("window")
        .join(pol, on="provider_id", how="left")
        .join(money, on="provider_id", how="left")
        .with_columns(
            visit_id=pl.lit(""),
            status=pl.lit(VisitStatus.UNPLANNED.value),
            rule=pl.lit(Rule.NO_PLANNED_VISIT_IN_WINDOW.value),
            planned_minutes=pl.lit(0, dtype=I64),
            paid_minutes=pl.lit(0, dtype=I64),
            amount_minor=pl.lit(0, dtype=I64),
            exception=pl.lit(True),
            carers=pl.lit(0, dtype=I64),
            place=pl.lit(0, dtype=I64),
        )
    )
    return _finish(rows, visit=False).with_columns(
        k1=pl.lit(1 << 40, dtype=I64), k2=pl.lit(0, dtype=I64), k3=pl.col("aidx").cast(I64)
    )
