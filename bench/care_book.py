"""The care book benchmark: a month of the large demo's home care, imported, reconciled and
persisted in the book, on SQLite and on PostgreSQL. Target: <= 60 s for the three steps.

Usage (until it is registered in ``python -m bench``)::

    .venv/bin/python -m bench.care_book [--db sqlite|postgresql|both] [--scale large]

or from Python: ``figures = run("sqlite")``, ``print(report(figures))``,
``write_json(figures)`` (to ``bench/out/care_book-<db>.json``).

Setup, not measured: a migrated store (a SQLite file, or a database in a throwaway durable
PostgreSQL cluster), the book ``riverside`` with the scale's providers and clients
(``create_parties``) and the demo's care packages (``remit.care.demo``: one client in
ten, so 10,000 packages at the large scale); the month's ``actual.csv`` is written by the
demo's generator once the month is planned. Measured, each a transaction of its own:

1. ``plan_s``: ``service.generate_planned`` for the month (October 2026);
2. ``import_s``: ``imports.import_actual`` of the month's ``actual.csv`` (every check of
   the exchange format and of the book, then the insert);
3. ``reconcile_s``: ``runs.reconcile_period`` for the month: the engine, the outcomes of
   every provider's run stored, an arbitration case opened per provider with exceptions.

Then late records (issue 9), target <= 5 s: one record in a hundred (every 100th line of
``actual.csv``) is held back from step 2. After step 3, every run is marked posted in one
UPDATE (setup, not measured: deciding and posting 400 runs is not what is timed, and a
posted run is kept, as a decided one is). Measured:

4. ``late_import_s``: ``imports.import_actual`` of the late 1%;
5. ``late_reconcile_s``: ``runs.reconcile_period`` of the month again: the runs are kept and
   the late records go to supplementary runs of the period.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select, update

from bench.ledger import open_store
from remit import demo
from remit.access.model import Actor
from remit.care import demo as demo_care
from remit.care import imports, runs
from remit.care import service as care
from remit.care.model import RunStatus
from remit.care.store import care_runs, visit_outcomes
from remit.db import Database
from remit.ledger import service as ledger
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties

OUT_DIR = Path(__file__).parent / "out"
TARGET_S = 60.0
LATE_TARGET_S = 5.0
LATE_EVERY = 100  # one record in a hundred arrives late
DEFAULT_SCALE = "large"
DEFAULT_SEED = 42
FIRST = date(2026, 10, 1)  # the large demo's care month
LAST = date(2026, 10, 31)
CODE = "riverside"


@dataclass(frozen=True, slots=True)
class Figures:
    db: str
    scale: str
    seed: int
    providers: int
    clients: int
    packages: int
    setup_parties_s: float
    setup_packages_s: float
    setup_csv_s: float
    csv_bytes: int
    plan_s: float
    planned: int
    import_s: float
    records: int
    reconcile_s: float
    runs: int
    cases: int
    outcomes: int
    stored_outcomes: int
    late_records: int
    late_import_s: float
    late_reconcile_s: float
    supplementary_runs: int
    late_outcomes: int

    @property
    def late_s(self) -> float:
        return self.late_import_s + self.late_reconcile_s

    @property
    def total_s(self) -> float:
        return self.plan_s + self.import_s + self.reconcile_s

    @property
    def passed(self) -> bool:
        return self.total_s <= TARGET_S and self.late_s <= LATE_TARGET_S

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "total_s": round(self.total_s, 3),
            "target_s": TARGET_S,
            "late_s": round(self.late_s, 3),
            "late_target_s": LATE_TARGET_S,
            "verdict": verdict(self.passed),
        }


def run(
    db_kind: str,
    scale: str = DEFAULT_SCALE,
    seed: int = DEFAULT_SEED,
    workdir: Path | None = None,
    say: bool = False,
) -> Figures:
    """The whole benchmark on a fresh store of the given kind ("sqlite" or "postgresql")."""
    with open_store(db_kind, workdir, "care_book") as database:
        return bench(database, db_kind, scale, seed, say)


def _people(database: Database, scale: str) -> tuple[int, demo_care.CareParties]:
    size = demo.SCALES[scale]
    system = Actor.system("bench")
    providers = [
        NewParty(
            demo.PROVIDER_REF.format(n),
            f"Provider {n} Home Care",
            PartyKind.ORGANISATION,
            (PartyRole.PROVIDER,),
        )
        for n in range(1, size.providers + 1)
    ]
    clients = [
        NewParty(demo.CLIENT_REF.format(n), f"Client {n}", PartyKind.PERSON, (PartyRole.CLIENT,))
        for n in range(1, size.clients + 1)
    ]
    with database.write() as conn:
        book_id = ledger.create_book(
            conn, system, CODE, "Riverside Council (bench)", "GBP", "Europe/London", "GB-ENG"
        )
        provider_ids = create_parties(conn, system, book_id, providers)
        client_ids = create_parties(conn, system, book_id, clients)
    return book_id, demo_care.CareParties(
        list(zip(provider_ids, (p.ref for p in providers), strict=True)),
        list(zip(client_ids, (c.ref for c in clients), strict=True)),
    )


def bench(database: Database, db_kind: str, scale: str, seed: int, say: bool) -> Figures:
    def note(text: str) -> None:
        if say:
            print(f"  {text}", flush=True)

    t0 = time.perf_counter()
    book_id, people = _people(database, scale)
    parties_s = time.perf_counter() - t0
    note(
        f"setup: {len(people.providers):,} providers and {len(people.clients):,} clients "
        f"in {parties_s:.1f} s"
    )
    clerk, _ = demo_care.staff(book_id, CODE)
    rng = random.Random(f"{seed}:{CODE}:care")  # as the demo's
    t0 = time.perf_counter()
    news = demo_care.plan_packages(
        people, demo_care.choose_agencies(people.providers, rng), FIRST, LAST, rng
    )
    done = demo_care.commission(database, clerk, book_id, news, people, lambda _n: None)
    packages_s = time.perf_counter() - t0
    note(f"setup: {len(news):,} care packages in {packages_s:.1f} s")

    t0 = time.perf_counter()
    with database.write() as conn:
        planned = care.generate_planned(conn, clerk, book_id, FIRST, LAST)
    plan_s = time.perf_counter() - t0
    note(f"generate_planned: {planned:,} visits in {plan_s:.2f} s")

    t0 = time.perf_counter()
    content = demo_care.actual_csv(database, book_id, done, FIRST, LAST, seed)
    csv_s = time.perf_counter() - t0
    note(f"setup: actual.csv of {len(content) / 1e6:.0f} MB in {csv_s:.1f} s")

    on_time, late = split_late(content)
    t0 = time.perf_counter()
    with database.write() as conn:
        result = imports.import_actual(conn, clerk, book_id, "ecm-2026-10.csv", on_time)
    import_s = time.perf_counter() - t0
    note(f"import_actual: {result.rows:,} records in {import_s:.2f} s")

    t0 = time.perf_counter()
    with database.write() as conn:
        summaries = runs.reconcile_period(conn, clerk, book_id, FIRST, LAST)
    reconcile_s = time.perf_counter() - t0
    note(f"reconcile_period: {len(summaries):,} runs in {reconcile_s:.2f} s")
    with database.read() as conn:
        stored = int(conn.execute(select(func.count()).select_from(visit_outcomes)).scalar_one())

    with database.write() as conn:  # setup: the month's runs are kept, as if posted
        conn.execute(update(care_runs).values(status=RunStatus.POSTED.value))
    t0 = time.perf_counter()
    with database.write() as conn:
        late_result = imports.import_actual(conn, clerk, book_id, "ecm-2026-10-late.csv", late)
    late_import_s = time.perf_counter() - t0
    note(f"import_actual (late): {late_result.rows:,} records in {late_import_s:.2f} s")
    note(unmatched_count(database, clerk, book_id))
    t0 = time.perf_counter()
    with database.write() as conn:
        extra = runs.reconcile_period(conn, clerk, book_id, FIRST, LAST)
    late_reconcile_s = time.perf_counter() - t0
    note(f"reconcile_period (late): {len(extra):,} supplementary runs in {late_reconcile_s:.2f} s")
    return Figures(
        db=db_kind,
        scale=scale,
        seed=seed,
        providers=len(people.providers),
        clients=len(people.clients),
        packages=len(news),
        setup_parties_s=parties_s,
        setup_packages_s=packages_s,
        setup_csv_s=csv_s,
        csv_bytes=len(content),
        plan_s=plan_s,
        planned=planned,
        import_s=import_s,
        records=result.rows,
        reconcile_s=reconcile_s,
        runs=len(summaries),
        cases=sum(s.case_id is not None for s in summaries),
        outcomes=sum(s.outcomes for s in summaries),
        stored_outcomes=stored,
        late_records=late_result.rows,
        late_import_s=late_import_s,
        late_reconcile_s=late_reconcile_s,
        supplementary_runs=len(extra),
        late_outcomes=sum(x.outcomes for x in extra),
    )


def unmatched_count(database: Database, clerk: Actor, book_id: int) -> str:
    """The care page's count of records in no run, timed (a figure, not a target)."""
    t0 = time.perf_counter()
    with database.read() as conn:
        waiting, _rows = runs.unmatched_records(conn, clerk, book_id, limit=0)
    return f"unmatched count: {waiting:,} records in no run in {time.perf_counter() - t0:.2f} s"


def split_late(content: bytes, every: int = LATE_EVERY) -> tuple[bytes, bytes]:
    r"""The CSV without every ``every``-th data line, and those lines under the same header.

    >>> split_late(b"h\na\nb\nc\nd\n", 2)
    (b'h\na\nc\n', b'h\nb\nd\n')
    """
    header, *lines = content.splitlines(keepends=True)
    late = lines[every - 1 :: every]
    kept = [line for n, line in enumerate(lines, 1) if n % every]
    return header + b"".join(kept), header + b"".join(late)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def report(f: Figures) -> str:
    """One run's steps, each timed, and the total against the target."""
    lines = [
        f"care book benchmark on {f.db}: the {f.scale} demo's month, {f.packages:,} packages "
        f"of {f.clients:,} clients from {f.providers:,} providers, seed {f.seed}",
        f"  setup (not measured): parties {f.setup_parties_s:.1f} s, packages "
        f"{f.setup_packages_s:.1f} s, actual.csv ({f.csv_bytes / 1e6:.0f} MB) "
        f"{f.setup_csv_s:.1f} s",
        f"  {'step':<58} {'seconds':>8}",
        f"  {f'generate_planned: {f.planned:,} planned visits':<58} {f.plan_s:>8.2f}",
        f"  {f'import_actual: {f.records:,} actual records from CSV':<58} {f.import_s:>8.2f}",
        f"  {f'reconcile_period: {f.runs:,} runs, {f.outcomes:,} outcomes, {f.cases:,} cases':<58}"
        f" {f.reconcile_s:>8.2f}",
        f"  {'total':<58} {f.total_s:>8.2f}   target <= {TARGET_S:.0f} s  "
        f"{verdict(f.total_s <= TARGET_S)}",
        f"  check: {f.stored_outcomes:,} outcomes stored "
        f"({'as reported' if f.stored_outcomes == f.outcomes else 'NOT as reported'})",
        "  late records, the month's runs kept (posted in setup, not measured):",
        f"  {f'import_actual: {f.late_records:,} late records':<58} {f.late_import_s:>8.2f}",
        f"  {f'reconcile_period: {f.supplementary_runs:,} supplementary runs':<58}"
        f" {f.late_reconcile_s:>8.2f}   ({f.late_outcomes:,} outcomes)",
        f"  {'total (late)':<58} {f.late_s:>8.2f}   target <= {LATE_TARGET_S:.0f} s  "
        f"{verdict(f.late_s <= LATE_TARGET_S)}",
    ]
    return "\n".join(lines)


def write_json(f: Figures, out_dir: Path = OUT_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"care_book-{f.db}.json"
    path.write_text(json.dumps(f.as_json(), indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    top = argparse.ArgumentParser(
        prog="python -m bench.care_book",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    top.add_argument("--scale", choices=tuple(demo.SCALES), default=DEFAULT_SCALE)
    top.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = top.parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    passed = True
    for kind in kinds:
        figures = run(kind, args.scale, args.seed, say=True)
        print(report(figures))
        print(f"  figures written to {write_json(figures)}\n", flush=True)
        passed = passed and figures.passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
