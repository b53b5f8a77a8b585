"""The care monitoring benchmark: the engine, the offline command, and a per-row baseline.

``python -m bench care [--planned N] [--repeat K]`` builds N planned visits (default
1,000,000: 8,929 clients, 4 visits a day for 28 days, one in ten for two carers, with 500
providers) and about as many actual records with the noise of real monitoring data (early
and late check-ins, short and long calls, 3% missed, 2% duplicates, 1% unplanned, 0.5%
broken), then measures:

1. ``engine_s``: ``remit.care.engine.reconcile`` on the frames (median of K runs);
2. ``offline_s``: ``remit care reconcile`` on the same data as CSV files, end to end in a
   fresh process (Python start, reading, checking, reconciling, writing outcomes and summary);
3. ``reference_s``: the plain per-row Python reading of the same policy
   (``remit.testkit.care_reference``) on the same rows, once; the outcomes must be equal.

Targets on the project's 2-core machine: engine <= 3 s, offline <= 10 s.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from remit.care.engine import reconcile
from remit.care.model import Policy
from remit.testkit.care_reference import reconcile_rows

OUT_DIR = Path(__file__).parent / "out"
DEFAULT_PLANNED = 1_000_000
DAYS = 28
SLOTS = ((7 * 60, 30), (12 * 60, 45), (17 * 60, 15), (21 * 60, 30))  # start minute, length
PROVIDERS = 500
BASE_S = 1_793_577_600  # 2026-11-02 00:00, local time as seconds
TARGET_ENGINE_S = 3.0
TARGET_OFFLINE_S = 10.0


@dataclass
class Figures:
    planned: int
    actual: int
    outcomes: int
    engine_runs_s: list[float]
    engine_s: float
    offline_s: float
    reference_s: float | None
    ratio: float | None
    engine_ok: bool
    offline_ok: bool


def noise(expr: pl.Expr, seed: int, modulo: int) -> pl.Expr:
    """A repeatable pseudo-random whole number in [0, modulo) from a column (a hash)."""
    return (expr.hash(seed) % modulo).cast(pl.Int64)


def make_data(planned_count: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    i = pl.int_range(planned_count, dtype=pl.Int64)
    per_client = DAYS * len(SLOTS)
    slot = i % len(SLOTS)
    start_min = pl.lit(pl.Series([s for s, _ in SLOTS])).gather(slot)
    length = pl.lit(pl.Series([m for _, m in SLOTS])).gather(slot)
    planned = pl.select(
        visit_id=pl.format("V{}", i),
        client_id=pl.format("C{}", i // per_client),
        provider_id=pl.format("P{}", (i // per_client) % PROVIDERS),
        service_code=pl.lit("HC"),
        start_s=BASE_S + (i // len(SLOTS)) % DAYS * 86_400 + start_min * 60,
        carers=pl.when(noise(i, 1, 10) == 0).then(2).otherwise(1).cast(pl.Int64),
        length=length,
    )
    planned = planned.with_columns(end_s=pl.col("start_s") + pl.col("length") * 60)
    # One record per carer place, then the noise.
    places = planned.with_columns(place=pl.int_ranges(0, pl.col("carers"))).explode("place")
    k = pl.int_range(pl.len(), dtype=pl.Int64)
    rec = places.with_columns(
        carer_id=pl.format(
            "K{}-{}", pl.col("provider_id"), noise(pl.col("visit_id"), 2, 40) + pl.col("place") * 40
        ),
        check_in_s=pl.col("start_s") + (noise(k, 3, 31) - 15) * 60 + noise(k, 4, 60),
        delivered_s=(pl.col("length") + noise(k, 5, 25) - 16) * 60 + noise(k, 6, 60),
        roll=noise(k, 7, 1000),
    )
    rec = rec.with_columns(check_out_s=pl.col("check_in_s") + pl.col("delivered_s"))
    kept = rec.filter(pl.col("roll") >= 30)  # 3% missed
    dupes = rec.filter(pl.col("roll").is_between(30, 49)).with_columns(  # 2% twice
        check_in_s=pl.col("check_in_s") + 60
    )
    unplanned = rec.filter(pl.col("roll").is_between(50, 59)).with_columns(  # 1% at odd hours
        check_in_s=pl.col("check_in_s") + 3 * 3600 + 1800,
        check_out_s=pl.col("check_out_s") + 3 * 3600 + 1800,
    )
    broken = rec.filter(pl.col("roll").is_between(60, 64)).with_columns(  # 0.5% broken
        check_out_s=pl.col("check_in_s") - 120
    )
    actual = (
        pl.concat([kept.filter(~pl.col("roll").is_between(60, 64)), dupes, unplanned, broken])
        .with_row_index("r")
        .select(
            record_id=pl.format("R{}", pl.col("r")),
            client_id="client_id",
            provider_id="provider_id",
            carer_id="carer_id",
            service_code="service_code",
            check_in_s="check_in_s",
            check_out_s="check_out_s",
        )
    )
    actual = actual.sample(fraction=1.0, shuffle=True, seed=8)  # files are not sorted
    rates = pl.DataFrame(
        {
            "provider_id": [f"P{p}" for p in range(PROVIDERS)] * 2,
            "service_code": ["HC"] * (2 * PROVIDERS),
            "effective_day": [BASE_S // 86_400 - 200] * PROVIDERS
            + [BASE_S // 86_400 + 14] * PROVIDERS,
            "rate_millionths": [18_000_000 + p * 10_000 for p in range(PROVIDERS)]
            + [19_000_000 + p * 10_000 for p in range(PROVIDERS)],
            "currency": ["GBP"] * (2 * PROVIDERS),
        }
    )
    return planned.drop("length"), actual, rates


def _text(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")


def write_files(
    folder: Path, planned: pl.DataFrame, actual: pl.DataFrame, rates: pl.DataFrame
) -> None:
    planned.select(
        "visit_id",
        "client_id",
        "provider_id",
        "service_code",
        start=_text(pl.col("start_s")),
        end=_text(pl.col("end_s")),
        carers="carers",
    ).write_csv(folder / "planned.csv")
    actual.select(
        "record_id",
        "client_id",
        "provider_id",
        "carer_id",
        "service_code",
        method=pl.lit("phone"),
        check_in=_text(pl.col("check_in_s")),
        check_out=_text(pl.col("check_out_s")),
    ).write_csv(folder / "actual.csv")
    rates.select(
        "provider_id",
        "service_code",
        rate_per_hour=(pl.col("rate_millionths") // 1_000_000).cast(pl.String)
        + "."
        + (pl.col("rate_millionths") % 1_000_000).cast(pl.String).str.pad_start(6, "0"),
        currency="currency",
        effective_from=pl.from_epoch(pl.col("effective_day"), time_unit="d").dt.strftime(
            "%Y-%m-%d"
        ),
    ).write_csv(folder / "rates.csv")


def run(planned_count: int, repeat: int, reference: bool) -> Figures:
    started = time.perf_counter()
    planned, actual, rates = make_data(planned_count)
    print(
        f"  built {planned.height:,} planned visits and {actual.height:,} actual records in "
        f"{time.perf_counter() - started:.1f} s (setup, not measured)"
    )
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = reconcile(planned, actual, rates, Policy())
        runs.append(time.perf_counter() - t0)
    engine_s = statistics.median(runs)
    folder = Path(tempfile.mkdtemp(prefix="remit-care-bench-"))
    try:
        write_files(folder, planned, actual, rates)
        remit = Path(sys.executable).parent / "remit"
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                str(remit),
                "care",
                "reconcile",
                "--planned",
                str(folder / "planned.csv"),
                "--actual",
                str(folder / "actual.csv"),
                "--rates",
                str(folder / "rates.csv"),
                "--out",
                str(folder / "out"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        offline_s = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"remit care reconcile failed:\n{done.stdout}\n{done.stderr}")
        offline_rows = pl.read_csv(folder / "out" / "outcomes.csv").height
        assert offline_rows == out.height, (offline_rows, out.height)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    reference_s = None
    if reference:
        rows = (planned.to_dicts(), actual.to_dicts(), rates.to_dicts())
        t0 = time.perf_counter()
        expected = reconcile_rows(*rows, Policy())
        reference_s = time.perf_counter() - t0
        assert expected == out.to_dicts(), "the engine and the per-row reading disagree"
    return Figures(
        planned.height,
        actual.height,
        out.height,
        runs,
        engine_s,
        offline_s,
        reference_s,
        reference_s / engine_s if reference_s else None,
        engine_s <= TARGET_ENGINE_S,
        offline_s <= TARGET_OFFLINE_S,
    )


def report(f: Figures) -> str:
    verdict = {True: "PASS", False: "FAIL"}
    lines = [
        f"care benchmark: {f.planned:,} planned visits, {f.actual:,} actual records, "
        f"{f.outcomes:,} outcomes",
        f"  engine (median of {len(f.engine_runs_s)}: "
        f"{', '.join(f'{s:.2f}' for s in f.engine_runs_s)})   {f.engine_s:8.2f} s   "
        f"target <= {TARGET_ENGINE_S:.0f} s  {verdict[f.engine_ok]}",
        f"  offline command from CSV, new process   {f.offline_s:8.2f} s   "
        f"target <= {TARGET_OFFLINE_S:.0f} s  {verdict[f.offline_ok]}",
    ]
    if f.reference_s is not None:
        lines.append(
            f"  per-row Python reference (same outcomes) {f.reference_s:6.2f} s   "
            f"engine is {f.ratio:.1f}x faster"
        )
    return "\n".join(lines)


def write_json(f: Figures) -> Path:
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / "care.json"
    path.write_text(json.dumps(asdict(f), indent=2) + "\n", encoding="utf-8")
    return path
