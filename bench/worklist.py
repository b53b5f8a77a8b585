"""The worklist benchmark: 50-row pages of a care run of 2,000 exceptions, under 8 clients.

Target (issue 9): a 50-row page of the worklist of a 2,000-exception run answers in
<= 200 ms at the 95th percentile with 8 clients on one server process.

What is measured:

1. the book: the demo organisation at the chosen scale (the cached book of ``bench/web.py``,
   ``bench/webbook.py``), and in the council's book one more run, not measured: the demo
   provider's package for a client of the book with a visit every half hour from 06:00 to
   21:30 for nine weeks of 2023 (before any demo package), none visited, so 2,016 missed
   visits, every one an exception;
2. the server: a real ``remit serve --no-worker`` child process on a free loopback port;
3. the load: 8 signed-in sessions ask for pages of that run's worklist at once, with no
   pause: a random page of the 41, unfiltered or filtered to the undecided exceptions,
   sorted by date or by carer, with the run's totals and a page of its visit lines (the run
   page as a coordinator opens it). Every answer must be a 200 holding 50 rows.

Usage: ``.venv/bin/python -m bench worklist [--scale large] [--seconds 30] [--db sqlite]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from bench.web import BOOK, DEFAULT_SEED, OUT_DIR, percentile, served, sign_in_all
from bench.webbook import postgres_book, sqlite_book
from remit import demo
from remit.access.service import actor_for
from remit.care import runs
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.db import Database
from remit.ledger import service as ledger
from remit.parties import service as parties

TARGET_P95_MS = 200.0
CLIENTS = 8
SECONDS = 30
FIRST, LAST = date(2023, 1, 2), date(2023, 3, 5)  # 63 days, the longest period
SLOTS = tuple(Slot(d, m, 20) for d in range(7) for m in range(360, 1320, 30))  # 32 a day
ROW = re.compile(r'<tr id="row-\d+"')


@dataclass(frozen=True, slots=True)
class Figures:
    db: str
    scale: str
    exceptions: int
    clients: int
    seconds: float
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms_per_page: float

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.p95_ms <= TARGET_P95_MS


def long_run(url: str) -> tuple[int, int]:
    """The run of 2,016 missed visits in the council's book; (run id, exceptions)."""
    database = Database(url)
    try:
        with database.write() as conn:
            book_id = ledger.book_id_for(conn, BOOK)
            clerk = actor_for(conn, f"demo-clerk@{BOOK}")
            provider = actor_for(conn, f"demo-provider@{BOOK}").party_in(book_id)
            assert provider is not None, "the demo provider user is bound to a provider"
            client = min(parties.party_ids_with_role(conn, book_id, "client"))
            package = NewPackage(
                "BENCH-WL", client, provider, "WL", FIRST, LAST, SLOTS, ((FIRST, "20.00", "GBP"),)
            )
            care.create_package(conn, clerk, book_id, package)
            care.generate_planned(conn, clerk, book_id, FIRST, LAST)
            (run,) = runs.reconcile_period(conn, clerk, book_id, FIRST, LAST, [provider])
    finally:
        database.dispose()
    return run.run_id, run.exceptions


def pages(run_id: int, exceptions: int, rng: random.Random) -> str:
    """A worklist page as a coordinator asks for it."""
    last = -(-exceptions // 50)
    query = {"page": str(rng.randint(1, last - 1)), "sort": rng.choice(("date", "carer"))}
    if rng.random() < 0.5:
        query["state"] = "undecided"
    query["lines"] = str(rng.randint(1, 20))
    return f"/b/{BOOK}/care/runs/{run_id}?" + "&".join(f"{k}={v}" for k, v in query.items())


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(db: str, scale: str, seconds: int, seed: int = DEFAULT_SEED) -> Figures:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    book_of = sqlite_book if db == "sqlite" else postgres_book
    with book_of(OUT_DIR, scale, seed) as book:
        run_id, exceptions = long_run(book.url)
        with served(book, OUT_DIR / f"worklist-{db}-server.log") as (port, pid):
            browsers = sign_in_all(port, CLIENTS)
            samples: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()

            def client(n: int, rounds: int | None, deadline: float) -> None:
                rng = random.Random(f"{seed}:{n}")
                done = 0
                while (rounds is None or done < rounds) and time.perf_counter() < deadline:
                    path = pages(run_id, exceptions, rng)
                    status, body, ms = browsers[n].request("GET", path)
                    rows = len(ROW.findall(body))
                    with lock:
                        if status != 200 or rows != 50:
                            failures.append(f"{path}: {status}, {rows} rows")
                        elif rounds is None:
                            samples.append(ms)
                    done += 1

            def together(rounds: int | None, for_s: float) -> float:
                deadline = time.perf_counter() + for_s
                threads = [
                    threading.Thread(target=client, args=(n, rounds, deadline))
                    for n in range(CLIENTS)
                ]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                return time.perf_counter() - started

            together(2, 60)  # warm-up, not measured
            before = cpu_s(pid)
            wall = together(None, seconds)
            server = cpu_s(pid) - before
            for browser in browsers:
                browser.close()
    ordered = sorted(samples)
    return Figures(
        db=db,
        scale=scale,
        exceptions=exceptions,
        clients=CLIENTS,
        seconds=round(wall, 1),
        requests=len(samples),
        failures=len(failures),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99),
        max_ms=ordered[-1] if ordered else 0.0,
        server_cpu_ms_per_page=1000 * server / max(len(samples), 1),
    )


def report(f: Figures) -> str:
    verdict = "PASS" if f.passed else "FAIL"
    return "\n".join(
        [
            f"worklist benchmark on {f.db}, the {f.scale} demo: a run of {f.exceptions:,} "
            f"exceptions, {f.clients} clients for {f.seconds} s",
            f"  {f.requests:,} pages, {f.failures} failed; p50 {f.p50_ms:.1f} ms, "
            f"p95 {f.p95_ms:.1f} ms, p99 {f.p99_ms:.1f} ms, max {f.max_ms:.1f} ms; "
            f"server CPU {f.server_cpu_ms_per_page:.1f} ms a page",
            f"  p95 <= {TARGET_P95_MS:.0f} ms  {verdict}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m bench worklist", description=__doc__)
    top.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    top.add_argument("--scale", choices=tuple(demo.SCALES), default="large")
    top.add_argument("--seconds", type=int, default=SECONDS)
    args = top.parse_args(argv)
    figures = run(args.db, args.scale, args.seconds)
    path = OUT_DIR / f"worklist-{args.db}.json"
    path.write_text(json.dumps(asdict(figures), indent=2) + "\n", encoding="utf-8")
    print(report(figures))
    print(f"  figures written to {path}")
    return 1 if figures.failures else 0
