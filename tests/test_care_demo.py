"""The demo council's home care: a month of packages, visits and carers' records, reconciled,
with an arbitration case for each agency whose month has exceptions; the same seed gives
the same month."""

from __future__ import annotations

import importlib
import random
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from remit import demo
from remit.access.model import Actor
from remit.care import demo as care_demo
from remit.care.model import VisitStatus
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import (
    actual_records,
    care_package_rates,
    care_packages,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases.store import case_links, cases
from remit.ledger import service as ledger
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties

ROOT = Path(__file__).resolve().parents[1]
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))  # the newest month of the demo's ledger


def statuses(conn, book_id: int) -> dict[str, int]:
    o, r = visit_outcomes.c, care_runs.c
    rows = conn.execute(
        select(o.status, func.count())
        .join(care_runs, r.id == o.run_id)
        .where(r.book_id == book_id)
        .group_by(o.status)
    ).all()
    return {status: int(n) for status, n in rows}


def test_the_demo_council_has_a_month_of_home_care_reconciled(demo_db):
    with demo_db.read() as conn:
        book_id = ledger.book_id_for(conn, "riverside")
        packages = conn.execute(
            select(func.count())
            .select_from(care_packages)
            .where(care_packages.c.book_id == book_id)
        ).scalar_one()
        v = planned_visits.c
        first_s, last_s, visits, places = conn.execute(
            select(
                func.min(v.start_s), func.max(v.start_s), func.count(), func.sum(v.carers)
            ).where(v.book_id == book_id)
        ).one()
        records = conn.execute(
            select(func.count())
            .select_from(actual_records)
            .where(actual_records.c.book_id == book_id)
        ).scalar_one()
        rises = conn.execute(
            select(func.count())
            .select_from(care_package_rates)
            .where(care_package_rates.c.effective_from == date(2026, 10, 15))
        ).scalar_one()
        counts = statuses(conn, book_id)
        r = care_runs.c
        runs = conn.execute(
            select(r.id, r.case_id, r.period_start, r.period_end).where(r.book_id == book_id)
        ).all()
        arbitration = (
            conn.execute(
                select(cases.c.id)
                .join(case_links, case_links.c.case_id == cases.c.id)
                .where(
                    cases.c.book_id == book_id,
                    cases.c.case_type == "arbitration",
                    case_links.c.object_type == "care_run",
                )
            )
            .scalars()
            .all()
        )
        other_book = ledger.book_id_for(conn, "valley-app")
        elsewhere = conn.execute(
            select(func.count())
            .select_from(care_packages)
            .where(care_packages.c.book_id == other_book)
        ).scalar_one()
    first, last = OCTOBER
    assert 30 <= packages <= 100 and elsewhere == 0  # one client in ten; the council only
    assert first_s // DAY_SECONDS == (first - EPOCH).days
    assert last_s // DAY_SECONDS == (last - EPOCH).days
    assert 30 * packages <= visits <= 4 * 31 * packages and places > visits  # two-carer
    assert 0.9 * places <= records <= 1.05 * places
    assert rises > 0  # some agencies' rates rise on the 15th
    assert set(counts) == {s.value for s in VisitStatus}
    assert counts[VisitStatus.VERIFIED] > 0.7 * sum(counts.values())
    assert 0.02 * places <= counts[VisitStatus.MISSED] <= 0.08 * places
    assert all((run.period_start, run.period_end) == OCTOBER for run in runs)
    assert len(arbitration) == sum(run.case_id is not None for run in runs) >= 1


@pytest.fixture
def council(db):
    """A council book with the small demo's providers and clients, and nothing else."""
    system = Actor.system("test-setup")
    scale = demo.SCALES["small"]
    providers = [
        NewParty(
            demo.PROVIDER_REF.format(n),
            f"Agency {n}",
            PartyKind.ORGANISATION,
            (PartyRole.PROVIDER,),
        )
        for n in range(1, scale.providers + 1)
    ]
    clients = [
        NewParty(demo.CLIENT_REF.format(n), f"Client {n}", PartyKind.PERSON, (PartyRole.CLIENT,))
        for n in range(1, scale.clients + 1)
    ]
    with db.write() as conn:
        book_id = ledger.create_book(
            conn, system, "riverside", "Riverside", "GBP", "Europe/London", "GB-ENG"
        )
        provider_ids = create_parties(conn, system, book_id, providers)
        client_ids = create_parties(conn, system, book_id, clients)
    people = care_demo.CareParties(
        [(i, p.ref) for i, p in zip(provider_ids, providers, strict=True)],
        [(i, c.ref) for i, c in zip(client_ids, clients, strict=True)],
    )
    return book_id, people


def test_seeding_the_same_seed_twice_gives_the_same_month(db, council, tmp_path):
    from remit.db import Database  # noqa: PLC0415

    book_id, people = council
    first, last = OCTOBER
    counts = care_demo.seed_care(db, book_id, "riverside", people, first, last, 7, lambda *_: None)
    with db.read() as conn:
        once = statuses(conn, book_id)
    again = Database(f"sqlite:///{tmp_path / 'again.db'}")
    again.migrate()
    try:
        with again.write() as conn:
            system = Actor.system("test-setup")
            other = ledger.create_book(
                conn, system, "riverside", "Riverside", "GBP", "Europe/London", "GB-ENG"
            )
            ids = {
                role: create_parties(
                    conn,
                    system,
                    other,
                    [
                        NewParty(
                            ref,
                            f"{role} {ref}",
                            PartyKind.ORGANISATION if role == "provider" else PartyKind.PERSON,
                            (PartyRole(role),),
                        )
                        for _, ref in pairs
                    ],
                )
                for role, pairs in (("provider", people.providers), ("client", people.clients))
            }
        twin = care_demo.CareParties(
            list(zip(ids["provider"], (r for _, r in people.providers), strict=True)),
            list(zip(ids["client"], (r for _, r in people.clients), strict=True)),
        )
        assert (
            care_demo.seed_care(again, other, "riverside", twin, first, last, 7, lambda *_: None)
            == counts
        )
        with again.read() as conn:
            assert statuses(conn, other) == once
    finally:
        again.dispose()
    assert counts["records"] > counts["planned"] > 0 and counts["cases"] >= 1


def test_another_seed_gives_another_month():
    people = care_demo.CareParties(
        [(n, f"P{n}") for n in range(50)], [(n, f"C{n}") for n in range(1_000, 1_500)]
    )
    first, last = OCTOBER
    agencies = care_demo.choose_agencies(people.providers, random.Random(1))
    one = care_demo.plan_packages(people, agencies, first, last, random.Random(1))
    again = care_demo.plan_packages(people, agencies, first, last, random.Random(1))
    two = care_demo.plan_packages(people, agencies, first, last, random.Random(2))
    assert one == again and len(one) == 50
    assert [p.client_party_id for p in one] != [p.client_party_id for p in two]


def test_a_small_care_book_benchmark_stores_every_outcome(tmp_path):
    if str(ROOT) not in sys.path:  # `bench` sits beside `src`
        sys.path.insert(0, str(ROOT))
    bench = importlib.import_module("bench.care_book")
    figures = bench.run("sqlite", scale="small", seed=3, workdir=tmp_path)
    assert figures.planned > 0 and figures.records > 0 and figures.runs > 0
    assert figures.stored_outcomes == figures.outcomes >= figures.planned
    assert "PASS" in bench.report(figures)
    path = bench.write_json(figures, tmp_path / "out")
    assert path.name == "care_book-sqlite.json" and '"verdict": "PASS"' in path.read_text()
