"""The web benchmark, run small: it signs in, walks the real pages of a real server, checks
every answer for its content, and reports each page beside the target."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_web() -> ModuleType:
    # `bench` sits beside `src`, not inside the installed package.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("bench.web")


@pytest.mark.slow
def test_a_small_web_benchmark_walks_the_pages_without_a_failure(bench_web, tmp_path):
    options = bench_web.Options(
        scale="small", seed=7, clients=2, seconds=None, requests=40, out_dir=tmp_path
    )
    figures = bench_web.run(options)

    assert figures.failures == []
    assert figures.overall.count == 40
    assert figures.seed_s is not None  # a fresh folder: the book was seeded, then cached
    pages = {p.page for p in figures.pages}
    assert {
        "my queue",
        "cases, filtered",
        "case",
        "providers",
        "clients, search",
        "clients, search as you type",
        "party",
    } <= pages
    assert (tmp_path / "web-small-seed7.sqlite").exists()
    assert not (tmp_path / "web-small-seed7-run.sqlite").exists()  # the copy is removed
    text = bench_web.report(figures)
    assert "p95 <= 200 ms" in text and bench_web.verdict(figures.passed) in text
    path = bench_web.write_json(figures, tmp_path)
    assert (
        path.name == "web-sqlite-small.json" and '"server_cpu_ms_per_request"' in path.read_text()
    )


def test_percentiles_are_nearest_rank(bench_web):
    ordered = [float(n) for n in range(1, 101)]
    assert bench_web.percentile(ordered, 0.50) == 50.0
    assert bench_web.percentile(ordered, 0.95) == 95.0
    assert bench_web.percentile(ordered, 0.99) == 99.0
    assert bench_web.percentile([7.0], 0.95) == 7.0
