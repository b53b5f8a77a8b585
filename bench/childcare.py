"""A month of child care subsidy payments at size (issue 11, "Speed": 100,000 child-months
calculated in <= 2 s by the engine): ``child_months`` certificates of 2,000 providers of
every type, a tenth with a second version starting in the month, about nine attendance
days each, both bases; calculated by ``remit.childcare.engine.calculate_frame`` (Polars)
and by ``remit.childcare.calculate.calculate``, the plain per-row reading of the same
rules, which the tests hold equal to the engine on random months.

``python -m bench childcare [--child-months N] [--reference-sample N]`` prints the median of
three runs of the engine, the reference on a sample extrapolated to N, and their ratio. The
inputs are built as values (not timed) for the engine; then written as the exchange files
and calculated by ``remit childcare calculate`` in a new process, timed from start to exit
(target <= 10 s).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from bench.timing import median_s
from remit.childcare.calculate import Inputs, calculate
from remit.childcare.engine import frames_of, payments_frame, rows_of
from remit.childcare.model import (
    Absence,
    AgeBand,
    Attendance,
    Basis,
    Ceiling,
    CertificateVersion,
    Facility,
    Family,
    Policy,
    Provider,
    ProviderType,
    RateCategory,
    TimeBasis,
)
from remit.testkit.childcare import files_of

TARGET_S = 2.0
CSV_TARGET_S = 10.0
MONTH = date(2026, 10, 1)


def book(child_months: int, seed: int = 11) -> Inputs:
    rng = random.Random(seed)
    providers = {
        f"P{n:05d}": Provider(f"P{n:05d}", rng.choice(list(ProviderType)), "Kern",
                              file_complete=rng.random() < 0.95, closure_policy=rng.random() < 0.5)
        for n in range(2_000)
    }  # fmt: skip
    ceilings = [
        Ceiling(date(2022, 1, 1), "Kern", f, b, c, t, rng.randint(1_000, 200_000))
        for f in Facility for b in AgeBand for c in RateCategory for t in TimeBasis
    ]  # fmt: skip
    families = {
        f"F{n:06d}": Family(f"F{n:06d}", rng.randint(2, 6), rng.randint(150_000, 900_000),
                            rng.choice((0, 0, 3_000, 8_000)), rng.choice(("provider", "agency")))
        for n in range(child_months // 2 + 1)
    }  # fmt: skip
    family_ids, provider_ids = list(families), list(providers)
    schedules = [
        tuple(Decimal(h) for h in s)
        for s in ((8, 8, 8, 8, 8, 0, 0), (4, 4, 4, 4, 4, 0, 0), (6, 0, 6, 0, 6, 0, 0),
                  (3, 3, 3, 3, 3, 0, 0), ("7.5", "7.5", "7.5", "7.5", "7.5", 4, 0))
    ]  # fmt: skip
    certs, attendance = [], []
    for n in range(child_months):
        cert, start = f"C{n:06d}", date(2026, 7, 1)
        base = CertificateVersion(
            cert, start, f"K{n:06d}", rng.choice(family_ids), rng.choice(provider_ids),
            date(2026, 1, 1) - timedelta(days=rng.randint(0, 4_000)), start, date(2027, 6, 30),
            rng.choice(schedules), rng.choice(list(RateCategory)), rng.choice(list(TimeBasis)),
            Decimal(rng.choice(("0", "0.2", "0.6"))), rng.random() < 0.1, rng.random() < 0.03,
            rng.randint(1_000, 250_000),
        )  # fmt: skip
        certs.append(base)
        if rng.random() < 0.1:
            certs.append(replace(base, version_from=MONTH + timedelta(days=rng.randint(5, 25)),
                                 schedule=rng.choice(schedules)))  # fmt: skip
        signed = date(2026, 10, 31) if rng.random() < 0.97 else None
        for _ in range(9):
            day = MONTH + timedelta(days=rng.randint(0, 30))
            kind = rng.choice([Absence.NONE] * 8 + [Absence.EXCUSED, Absence.CLOSURE])
            minutes = rng.randint(120, 560) if kind is Absence.NONE else 0
            attendance.append(Attendance(cert, day, minutes, kind, signed, date(2026, 10, 31),
                                         date(2026, 11, 3)))  # fmt: skip
    policy = Policy(smi={s: 700_000 + 50_000 * s for s in range(1, 9)})
    return Inputs(MONTH, certs, attendance, ceilings, providers, families, policy)


def main(argv: Sequence[str]) -> int:
    top = argparse.ArgumentParser(prog="python -m bench childcare", description=__doc__)
    top.add_argument("--child-months", type=int, default=100_000)
    top.add_argument("--reference-sample", type=int, default=5_000)
    args = top.parse_args(list(argv))
    for basis in Basis:
        inputs = replace(book(args.child_months), policy=replace(book(1).policy, basis=basis))
        frames = frames_of(inputs)
        engine_s = median_s(
            lambda frames=frames, inputs=inputs: payments_frame(
                frames, inputs.month, inputs.policy
            ),
            3,
        )
        started = time.perf_counter()
        rows = rows_of(payments_frame(frames_of(inputs), inputs.month, inputs.policy))
        around_s = time.perf_counter() - started - engine_s
        sample = book(args.reference_sample)
        sample = replace(sample, policy=replace(sample.policy, basis=basis))
        started = time.perf_counter()
        calculate(sample)
        per_row = (time.perf_counter() - started) / args.reference_sample
        reference_s = per_row * args.child_months
        verdict = "PASS" if engine_s <= TARGET_S else "FAIL"
        print(
            f"child care month, {basis.value}: {args.child_months:,} child-months, "
            f"{len(rows):,} rows\n"
            f"  engine (Polars, frames in and out)  {engine_s:6.2f} s  "
            f"(target <= {TARGET_S:.0f} s: {verdict})\n"
            f"  values to frames and rows back      {around_s:6.2f} s  (not the engine)\n"
            f"  reference (per row)                 {reference_s:6.2f} s  extrapolated from "
            f"{args.reference_sample:,} ({reference_s / engine_s:.1f}x the engine)"
        )
    print(from_csv(args.child_months))
    return 0


def from_csv(child_months: int) -> str:
    """``remit childcare calculate`` on the month's files, in a new process, timed whole."""
    inputs = book(child_months)
    with tempfile.TemporaryDirectory(prefix="remit-bench-childcare-") as folder:
        names = {"certs": "certs.csv", "attendance": "attendance.csv", "ceilings": "ceilings.csv",
                 "providers": "providers.csv", "families": "families.csv"}  # fmt: skip
        for key, content in files_of(inputs).items():
            with open(f"{folder}/{names[key]}", "wb") as out:
                out.write(content)
        command = [
            sys.executable, "-m", "remit.cli", "childcare", "calculate",
            "--certificates", f"{folder}/certs.csv", "--attendance", f"{folder}/attendance.csv",
            "--ceilings", f"{folder}/ceilings.csv", "--providers", f"{folder}/providers.csv",
            "--families", f"{folder}/families.csv", "--month", f"{MONTH:%Y-%m}", "--out", folder,
        ]  # fmt: skip
        times = []
        for _ in range(3):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                return f"  from CSV: the command failed: {done.stdout}{done.stderr}"
        median = sorted(times)[1]
        verdict = "PASS" if median <= CSV_TARGET_S else "FAIL"
        runs = ", ".join(f"{t:.2f}" for t in times)
        return (
            f"child care month from CSV, a new process: {child_months:,} child-months, "
            f"{len(inputs.attendance):,} attendance rows\n"
            f"  remit childcare calculate  {median:6.2f} s  (runs {runs}; "
            f"target <= {CSV_TARGET_S:.0f} s: {verdict})"
        )
