"""The ledger benchmark, run small on SQLite: it posts through the public API, the books
balance, and every count it reports is the count in the store."""

from __future__ import annotations

import dataclasses
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
    # The rates are the counts over the measured steps, which lie inside the whole run.
    assert 0 < figures.post_calls_s <= figures.post_s < elapsed
    assert 0 < figures.raw_s < elapsed
    assert figures.postings_per_s == pytest.approx(2_000 / figures.post_s)
    assert figures.raw_rows_per_s == pytest.approx(2_000 / figures.raw_s)
    assert figures.postings_per_s > 2_000 / elapsed and figures.raw_rows_per_s > 2_000 / elapsed
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
    assert f"{figures.postings_per_s:,.0f} postings/s" in text
    assert f"{figures.raw_rows_per_s:,.0f} rows/s" in text
    path = bench_ledger.write_json(figures, tmp_path / "out")
    assert path.name == "ledger-sqlite.json" and '"api_to_raw"' in path.read_text()


def verdicts(bench_ledger, figures) -> tuple[str, str]:
    """The verdicts the report prints for posting speed and for the trial balance."""
    lines = bench_ledger.report(figures).splitlines()
    posting = next(line for line in lines if "postings/s" in line)
    balance = next(line for line in lines if line.strip().startswith("trial balance over"))
    return posting.split()[-1], balance.split()[-1]


@pytest.mark.parametrize(
    ("rate_share", "tb_share", "expected"),
    [(2.0, 0.5, ("PASS", "PASS")), (0.5, 0.5, ("MISS", "PASS")), (2.0, 2.0, ("PASS", "MISS"))],
)
def test_the_report_passes_a_target_met_and_misses_one_missed(
    bench_ledger, tmp_path, rate_share, tb_share, expected
):
    """The verdict follows the figure against its target, nothing else."""
    measured = bench_ledger.run("sqlite", bench_ledger.Size(200, 20, 1, 50), workdir=tmp_path)
    target = bench_ledger.TARGET_POSTINGS_PER_S["sqlite"]
    figures = dataclasses.replace(
        measured,
        post_s=measured.postings / (target * rate_share),
        trial_balance_s=bench_ledger.TARGET_TRIAL_BALANCE_S * tb_share,
    )
    assert verdicts(bench_ledger, figures) == expected
    assert (figures.as_json()["postings_target"], figures.as_json()["trial_balance_target"]) == (
        expected
    )


def test_a_small_payment_run_benchmark_pays_every_payee_once(tmp_path, monkeypatch):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    bench_runs = importlib.import_module("bench.payments_runs")
    monkeypatch.setattr(bench_runs, "OUT_DIR", tmp_path)
    figures = bench_runs.run("sqlite", "nacha", 300, naive_sample=20)
    assert figures.counts["run_payments"] == figures.counts["run_items"] == 300
    assert figures.counts["remittance_rows"] == 300 and figures.counts["file_bytes"] > 0
    assert set(figures.steps) >= {"prepare_s", "approve_s", "release_s"}
    assert figures.naive_s > 0 and figures.naive_extrapolated_s > figures.naive_s
    assert "target <= 20 s" in bench_runs.report(figures)
