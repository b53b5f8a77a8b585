"""Small points of the officer's month (issue 9): the records in no run are listed oldest
first (the service, ``remit care unmatched`` and the page); the provider page shows its rate
card (service, band, rate as money, the date it holds from); a real supplementary run's
self-bill carries its suffixed invoice number (``<book>-SB-<provider ref>-<run id>-S<n>``) on
the document and on the ledger's open item."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import and_, select
from typer.testing import CliRunner

from remit.access.model import Actor, Role
from remit.access.service import actor_for, add_user
from remit.care import imports, payables, rates, runs, selfbill
from remit.care import service as care
from remit.cli import app
from remit.ledger import service as ledger
from remit.ledger.store import open_items
from remit.parties import service as parties
from remit.testkit.web import sign_in
from remit.web.app import create_app

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
# Not in check-in order in the file, nor in reference order: the list orders by check-in.
SHUFFLED = (
    HEADER + "R-B,C2,P2,K4,HC,app,2026-11-05T10:00:00,2026-11-05T10:30:00\n"
    "R-C,C2,P2,K4,HC,app,2026-11-03T16:00:00,2026-11-03T16:30:00\n"
    "R-A,C2,P2,K4,HC,app,2026-11-04T07:00:00,2026-11-04T07:30:00\n"
    "R-D,C2,P2,K4,HC,app,2026-11-03T08:15:00,2026-11-03T08:45:00\n"
)
OLDEST_FIRST = ["R-D", "R-C", "R-A", "R-B"]


# ---------------------------------------------------------------- records in no run


def test_the_records_in_no_run_are_listed_oldest_first(db, book, council, monkeypatch):
    clerk = council["clerk"]
    with db.write() as conn:
        imports.import_actual(conn, clerk, book, "late.csv", SHUFFLED.encode())
    with db.read() as conn:
        total, rows = runs.unmatched_records(conn, clerk, book)
        _, first_two = runs.unmatched_records(conn, clerk, book, limit=2)
    assert total == 4 and [r["ref"] for r in rows] == OLDEST_FIRST
    assert [r["ref"] for r in first_two] == OLDEST_FIRST[:2]  # the oldest, not any two
    # The command lists them in the same order.
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    with db.write() as conn:
        add_user(
            conn, Actor.system("t"), "carla", "a long enough password", grants=[(book, Role.CLERK)]
        )
    done = CliRunner().invoke(app, ["care", "unmatched", "--book", "test", "--as", "carla"])
    assert done.exit_code == 0, done.output
    assert "4 record(s) in no run" in done.output
    found = [m.group(0) for m in re.finditer(r"R-[ABCD]", done.output)]
    assert found == OLDEST_FIRST


DEMO = "riverside"


@pytest.fixture
def demo_provider(demo_db):
    """The demo book, its provider and first client, and a signed-in clerk's client."""
    with demo_db.write() as conn:
        book_id = ledger.book_id_for(conn, DEMO)
        clerk = actor_for(conn, f"demo-clerk@{DEMO}")
        provider = actor_for(conn, f"demo-provider@{DEMO}").party_in(book_id)
        client = min(parties.party_ids_with_role(conn, book_id, "client"))
        refs = {
            "provider": parties.get_party(conn, clerk, book_id, provider)["ref"],
            "client": parties.get_party(conn, clerk, book_id, client)["ref"],
        }
    with TestClient(create_app(demo_db)) as web:
        sign_in(web, f"demo-clerk@{DEMO}")
        yield web, {"book_id": book_id, "clerk": clerk, "provider_id": provider, **refs}


def test_the_unmatched_page_lists_the_oldest_first(demo_db, demo_provider):
    web, demo = demo_provider
    # Records of June 2022, before any of the demo's: the first rows of the page.
    records = (
        ("UM-B", "2022-06-08T10:00:00", "2022-06-08T10:30:00"),
        ("UM-C", "2022-06-06T16:00:00", "2022-06-06T16:30:00"),
        ("UM-A", "2022-06-07T07:00:00", "2022-06-07T07:30:00"),
        ("UM-D", "2022-06-06T08:00:00", "2022-06-06T08:30:00"),
    )
    who = f"{demo['client']},{demo['provider']},K1,UM,app"
    body = HEADER + "".join(f"{ref},{who},{start},{end}\n" for ref, start, end in records)
    with demo_db.write() as conn:
        imports.import_actual(conn, demo["clerk"], demo["book_id"], "late.csv", body.encode())
    page = web.get(f"/b/{DEMO}/care/unmatched", params={"provider": demo["provider"]})
    assert page.status_code == 200
    shown = re.findall(r"<tr><td>([^<]+)</td>", page.text)
    assert shown[:4] == ["UM-D", "UM-C", "UM-A", "UM-B"], shown[:6]
    assert "6 Jun 2022" in page.text and "not reconciled yet" in page.text
    every = web.get(f"/b/{DEMO}/care/unmatched")
    assert re.findall(r"<tr><td>([^<]+)</td>", every.text)[:4] == shown[:4]


# ---------------------------------------------------------------- the rate card


def test_the_provider_page_shows_its_rate_card(demo_db, demo_provider):
    web, demo = demo_provider
    with demo_db.write() as conn:
        rates.add_rates(
            conn,
            demo["clerk"],
            demo["book_id"],
            [
                rates.NewRate(demo["provider_id"], "RC", date(2023, 4, 1), "19.50", "GBP"),
                rates.NewRate(demo["provider_id"], "RC", date(2024, 4, 1), "1021.25", "GBP"),
                rates.NewRate(
                    demo["provider_id"], "RC", date(2023, 4, 1), "26", "GBP", "bank_holiday"
                ),
            ],
        )
    page = web.get(f"/b/{DEMO}/parties/{demo['provider_id']}")
    assert page.status_code == 200
    card = re.search(r"<caption>Rate card.*?</table>", page.text, re.S)
    assert card is not None
    rows = [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", card.group(0), re.S)
        if "<td>" in row
    ]
    assert ["RC", "standard", "1 Apr 2023", "£19.50 an hour"] in rows
    assert ["RC", "standard", "1 Apr 2024", "£1,021.25 an hour"] in rows
    assert ["RC", "bank holiday", "1 Apr 2023", "£26.00 an hour"] in rows


def test_a_rate_with_more_decimals_than_the_currency_is_shown_as_it_is_paid(demo_db, demo_provider):
    web, demo = demo_provider
    with demo_db.write() as conn:
        rates.add_rates(
            conn,
            demo["clerk"],
            demo["book_id"],
            [rates.NewRate(demo["provider_id"], "RD", date(2023, 4, 1), "19.505", "GBP")],
        )
    page = web.get(f"/b/{DEMO}/parties/{demo['provider_id']}")
    assert "£19.51" not in page.text and "19.505" in page.text


# ---------------------------------------------------------------- a supplementary self-bill


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


def test_a_supplementary_runs_self_bill_carries_its_suffixed_number(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    week = HEADER + "R6,C2,P2,K4,HC,phone,2026-11-02T10:10:00,2026-11-02T10:55:00\n"
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", week.encode())
        (first,) = runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY, [council["p2"]])
        payables.post_payable(conn, manager, book, first.run_id)
    # Alan's second Monday record comes late: a second carer for the same 45 minutes,
    # kept, reconciled into a supplementary run of the posted week.
    late = HEADER + "R7,C2,P2,K5,HC,app,2026-11-04T10:00:00,2026-11-04T10:45:00\n"
    with db.write() as conn:
        imports.import_actual(conn, clerk, book, "late.csv", late.encode())
        (extra,) = runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY, [council["p2"]])
    assert extra.sequence == 1 and extra.run_id != first.run_id
    number = f"test-SB-P2-{extra.run_id}-S1"
    with db.read() as conn:
        draft = selfbill.self_bill(conn, clerk, book, extra.run_id)
        original = selfbill.self_bill(conn, clerk, book, first.run_id)
    assert draft.number == number and original.number == f"test-SB-P2-{first.run_id}"
    assert number in selfbill.selfbill_html(draft) and "DRAFT" in selfbill.selfbill_html(draft)
    assert number in _pdf_text(selfbill.selfbill_pdf(draft))
    # Decided (accepting the unplanned visit needs a second person) and posted: the posted
    # document and the provider's open item carry the same number.
    from remit.care import decisions  # noqa: PLC0415

    with db.read() as conn:
        (row,) = [
            r
            for r in conn.execute(
                select(runs.visit_outcomes).where(runs.visit_outcomes.c.run_id == extra.run_id)
            )
            if r.exception
        ]
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, row.id, "accept_actual", "a second visit")
        if done["awaiting_approval"]:
            decisions.approve(conn, manager, book, done["decision_id"], accept=True)
        entry = payables.post_payable(conn, manager, book, extra.run_id)
        posted = selfbill.self_bill(conn, manager, book, extra.run_id)
        refs = conn.execute(
            select(open_items.c.doc_ref).where(
                and_(open_items.c.book_id == book, open_items.c.party_id == council["p2"])
            )
        ).scalars()
        doc_refs = sorted(refs)
    assert entry is not None and not posted.draft and posted.number == number
    pdf = _pdf_text(selfbill.selfbill_pdf(posted))
    assert number in pdf and "DRAFT" not in pdf
    assert doc_refs == sorted([f"test-SB-P2-{first.run_id}", number])
