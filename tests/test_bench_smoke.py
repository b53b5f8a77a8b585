"""The ledger benchmark, run small on SQLite: it posts through the public API, the books
balance, and every count it reports is the count in the store."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_ledger() -> ModuleType:
    # `bench` sits beside `src`, not inside the installed package.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("bench.ledger")


def test_a_small_ledger_benchmark_posts_everything_and_balances(bench_ledger, tmp_path):
    size = bench_ledger.Size(postings=2_000, parties=200, seed=7, batch=100)
    started = time.perf_counter()
    figures = bench_ledger.run("sqlite", size, workdir=tmp_path)
    elapsed = time.perf_counter() - started

    assert figures.stored_postings == 2_000
    assert figures.stored_entries == figures.entries
    assert 2_000 / 10 <= figures.entries <= 2_000 / 2
    assert figures.party_balances == figures.expected_party_balances == 200
    assert figures.trial_balance_balanced
    assert figures.trial_balance_control_minor == figures.control_total_minor
    assert figures.postings_per_s > 0 and figures.raw_rows_per_s > 0
    assert elapsed < 5


def test_the_drafts_are_balanced_and_the_same_for_the_same_seed(bench_ledger):
    first = bench_ledger.make_drafts(500, [1, 2, 3], seed=3)
    again = bench_ledger.make_drafts(500, [1, 2, 3], seed=3)
    assert first == again
    assert sum(len(d.postings) for d in first) == 500
    assert all(2 <= len(d.postings) <= 10 for d in first)
    assert all(sum(p.amount_minor for p in d.postings) == 0 for d in first)
    assert all(p.amount_minor != 0 for d in first for p in d.postings)


def test_the_report_names_the_targets(bench_ledger, tmp_path):
    figures = bench_ledger.run("sqlite", bench_ledger.Size(200, 20, 1, 50), workdir=tmp_path)
    text = bench_ledger.report(figures)
    assert "postings/s" in text and ("PASS" in text or "MISS" in text)
    path = bench_ledger.write_json(figures, tmp_path / "out")
    assert path.name == "ledger-sqlite.json" and '"api_to_raw"' in path.read_text()
