"""The web benchmark: list and queue pages of a large book, under concurrent signed-in users.

Target (issue 3): at the large demo scale, list and queue pages answer in <= 200 ms at the
95th percentile with 8 concurrent clients.

What is measured:

1. the book: the demo organisation seeded at the chosen scale through ``remit.demo.seed``
   (large: 2,000 providers, 100,000 clients and 20,000 cases in the council's book), kept
   under ``bench/out/`` by scale and seed and reused (see ``bench/webbook.py``). ``seed_s``
   is the seeding time when this run seeded;
2. the server: a real ``remit serve --no-worker`` child process on a free loopback port;
3. the load: ``clients`` sessions (each signed in through the sign-in form) walk the list and
   queue pages at once, with no pause between requests (see ``bench/webload.py``), for
   ``seconds`` or until ``requests`` answers, after one unmeasured warm-up round each.
   Latency is from sending a request to its last byte, per page: count, p50, p95, p99, max.
   A page passes when its p95 is at most 200 ms; the run passes when every page and all
   requests together do and no answer failed (every answer is checked for its content).

Eight clients that never pause keep the server busy all the time, so latency here is mostly
queueing behind the other clients' requests: it moves with the machine's other load. The
server's CPU time per answer (from ``/proc``) is printed beside it; it is the steadier figure
to compare two versions of the code by.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.webbook import Book, postgres_book, sqlite_book
from bench.webload import Browser, Budget, Sample, Visitor, walk
from remit import demo
from remit.testkit.postgres import free_port

OUT_DIR = Path(__file__).parent / "out"
DEFAULT_SCALE = "large"
DEFAULT_SEED = 42
DEFAULT_CLIENTS = 8
DEFAULT_SECONDS = 60
TARGET_P95_MS = 200.0
BOOK = "riverside"  # the council's book: the one the scale's sizes are for
USERS = ("demo-clerk", "demo-clerk2", "demo-manager")  # the people who work cases
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Options:
    scale: str = DEFAULT_SCALE
    seed: int = DEFAULT_SEED
    clients: int = DEFAULT_CLIENTS
    seconds: float | None = DEFAULT_SECONDS
    requests: int | None = None
    db: str = "sqlite"
    out_dir: Path = OUT_DIR  # the cached books, the server's log


@dataclass(frozen=True, slots=True)
class PageFigures:
    page: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    failures: int

    @property
    def passed(self) -> bool:
        return self.count > 0 and self.failures == 0 and self.p95_ms <= TARGET_P95_MS


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run measured; written as JSON."""

    db: str
    scale: str
    seed: int
    clients: int
    wall_s: float
    pages: list[PageFigures]
    overall: PageFigures
    failures: list[str]
    seed_s: float | None
    prepare_s: float
    server_cpu_s: float
    client_cpu_s: float
    machine: dict[str, str] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        return self.overall.count / self.wall_s

    @property
    def server_cpu_ms_per_request(self) -> float:
        """The server's CPU time per answer: steadier than latency on a busy machine."""
        return self.server_cpu_s * 1000 / max(1, self.overall.count)

    @property
    def passed(self) -> bool:
        return not self.failures and self.overall.passed and all(p.passed for p in self.pages)

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "requests_per_s": round(self.requests_per_s, 1),
            "server_cpu_ms_per_request": round(self.server_cpu_ms_per_request, 2),
            "target_p95_ms": TARGET_P95_MS,
            "target": verdict(self.passed),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


# ---------------------------------------------------------------- the server


def remit_command() -> str:
    """The ``remit`` script beside this interpreter (the virtualenv's)."""
    beside = Path(sys.executable).parent / "remit"
    return str(beside) if beside.exists() else "remit"


def answers(port: int) -> bool:
    try:
        status, _, _ = Browser(port).request("GET", "/health")
    except OSError:
        return False
    return status == 200


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user and system) used so far by a process (Linux), or by this one."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(book: Book, log_path: Path) -> Iterator[tuple[int, int]]:
    """``remit serve --no-worker`` on a free port of the loopback; yields (port, pid)."""
    port = free_port()
    env = {**os.environ, "REMIT_DATABASE_URL": book.url, "REMIT_SECRET_KEY": book.key}
    env.pop("REMIT_KEY_FILE", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [remit_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"remit serve did not start; see {log_path}")
                time.sleep(0.2)
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------- the load


def sign_in_all(port: int, clients: int) -> list[Browser]:
    browsers = []
    for n in range(clients):
        browser = Browser(port)
        browser.sign_in(f"{USERS[n % len(USERS)]}@{BOOK}", demo.DEMO_PASSWORD)
        browsers.append(browser)
    return browsers


def in_threads(visitors: Sequence[Visitor], rounds: int | None, seed: int) -> float:
    """Every visitor walks in its own thread; returns the wall-clock seconds."""

    def one(n: int, visitor: Visitor) -> None:
        try:
            walk(visitor, BOOK, random.Random(f"{seed}:{n}"), rounds)
        except Exception as exc:  # noqa: BLE001 - a broken client is a failure to report
            visitor.samples.append(Sample("(client)", 0.0, f"{type(exc).__name__}: {exc}"))

    threads = [
        threading.Thread(target=one, args=(n, v), name=f"bench-client-{n}")
        for n, v in enumerate(visitors)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Load:
    samples: list[Sample]  # of the measured requests
    failures: list[str]  # the warm-up's too
    wall_s: float
    server_cpu_s: float  # used by the server process while measured
    client_cpu_s: float  # used by this process (the clients) while measured
    load_before: str  # the machine's load averages as the measuring began


def load(port: int, pid: int, options: Options) -> Load:
    browsers = sign_in_all(port, options.clients)
    try:
        need_rows = options.scale == "large"
        warm = [Visitor(b, None, need_rows) for b in browsers]
        in_threads(warm, 1, options.seed + 1)
        before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        deadline = time.perf_counter() + options.seconds if options.seconds else None
        budget = Budget(deadline=deadline, requests=options.requests)
        visitors = [Visitor(b, budget, need_rows) for b in browsers]
        server, client = cpu_s(pid), cpu_s()
        wall_s = in_threads(visitors, None, options.seed)
        server, client = cpu_s(pid) - server, cpu_s() - client
    finally:
        for browser in browsers:
            browser.close()
    samples = [s for v in visitors for s in v.samples]
    failures = [f"warm-up {s.page}: {s.problem}" for v in warm for s in v.samples if s.problem]
    failures += [f"{s.page}: {s.problem}" for s in samples if s.problem]
    return Load(samples, failures, wall_s, server, client, before)


def run(options: Options) -> Figures:
    """Prepare the book, serve it, load it; the figures of the run."""
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    book_of = sqlite_book if options.db == "sqlite" else postgres_book
    with (
        book_of(out, options.scale, options.seed) as book,
        served(book, out / f"web-{options.db}-server.log") as (port, pid),
    ):
        done = load(port, pid, options)
    samples = done.samples
    pages = sorted({s.page for s in samples}, key=[s.page for s in samples].index)
    return Figures(
        options.db,
        options.scale,
        options.seed,
        options.clients,
        done.wall_s,
        [figures_of(p, [s for s in samples if s.page == p]) for p in pages],
        figures_of("all pages", samples),
        done.failures,
        book.seed_s,
        book.prepare_s,
        round(done.server_cpu_s, 2),
        round(done.client_cpu_s, 2),
        machine(done.load_before),
    )


# ---------------------------------------------------------------- the figures


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of them at or below it.

    >>> percentile([10.0, 20.0, 30.0, 40.0], 0.5), percentile([10.0, 20.0, 30.0, 40.0], 0.95)
    (20.0, 40.0)
    """
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def figures_of(page: str, samples: Sequence[Sample]) -> PageFigures:
    ms = sorted(s.ms for s in samples if not s.problem)
    return PageFigures(
        page,
        len(samples),
        round(percentile(ms, 0.50), 1),
        round(percentile(ms, 0.95), 1),
        round(percentile(ms, 0.99), 1),
        round(ms[-1] if ms else math.nan, 1),
        sum(1 for s in samples if s.problem),
    )


def machine(load_before: str) -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(terse=True),
        "load_average_before": load_before,
    }


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def report(f: Figures) -> str:
    """A table of one run's figures, the target beside them."""
    seeded = (
        f"seeded in {f.seed_s:,.0f} s this run" if f.seed_s is not None else "cached book reused"
    )
    lines = [
        f"web benchmark on {f.db}: {f.scale} demo (seed {f.seed}; {seeded}; book copied "
        f"or restored and migrated in {f.prepare_s:.1f} s), {f.clients} clients, "
        f"{f.wall_s:.1f} s",
        f"  {'page':<30} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8}  target",
    ]
    for p in [*f.pages, f.overall]:
        if p is f.overall:
            lines.append("  " + "-" * 80)
        failed = f"  {p.failures} failed" if p.failures else ""
        lines.append(
            f"  {p.page:<30} {p.count:>6} {p.p50_ms:>8.1f} {p.p95_ms:>8.1f} "
            f"{p.p99_ms:>8.1f} {p.max_ms:>8.1f}  p95 <= {TARGET_P95_MS:.0f} ms "
            f"{verdict(p.passed)}{failed}"
        )
    lines.append(
        f"  {f.requests_per_s:,.1f} requests/s; {len(f.failures)} failed answers; "
        f"target {verdict(f.passed)}"
    )
    lines.append(
        f"  server CPU {f.server_cpu_ms_per_request:.1f} ms per request; the clients "
        f"used {f.client_cpu_s:.1f} CPU s of {f.wall_s:.1f} s; load average before "
        f"{f.machine.get('load_average_before', '?')} ({f.machine.get('cpus')} CPUs)"
    )
    lines += [f"  failure: {text}" for text in f.failures[:10]]
    return "\n".join(lines)


def write_json(figures: Figures, out_dir: Path = OUT_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"web-{figures.db}-{figures.scale}.json"
    path.write_text(json.dumps(figures.as_json(), indent=2) + "\n")
    return path
