"""Each demo book's queue holds only its own kind of work: the UK council's care and its
providers' queries (no ACH return, no W-9), the Californian agency's payments work."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit import demo_cases
from remit.cases.store import cases
from remit.ledger import service as ledger
from remit.testkit.web import sign_in
from remit.web.app import create_app

US_ONLY = ("ACH", "W-9", "copayment")


def kinds_and_titles(database, code: str) -> tuple[dict[str, int], list[str]]:
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, code)
        c = cases.c
        kinds = {
            kind: int(n)
            for kind, n in conn.execute(
                select(c.case_type, func.count()).where(c.book_id == book_id).group_by(c.case_type)
            )
        }
        titles = list(conn.execute(select(c.title).where(c.book_id == book_id)).scalars())
    return kinds, titles


def test_the_councils_queue_holds_care_and_provider_queries_only(demo_db):
    kinds, titles = kinds_and_titles(demo_db, "riverside")
    assert set(kinds) <= {"arbitration", "helpdesk", "compliance_gap"}
    assert kinds["arbitration"] > 0 and kinds["helpdesk"] > 0
    assert not [t for t in titles if any(word in t for word in US_ONLY)]
    with TestClient(create_app(demo_db)) as client:
        sign_in(client, "demo-clerk@riverside")
        queue = client.get("/b/riverside/queue").text
        every = client.get("/b/riverside/cases").text
    assert not [word for word in US_ONLY if word in queue or word in every]


def test_the_agencys_queue_has_its_own_work_and_no_made_up_arbitration(demo_db):
    kinds, titles = kinds_and_titles(demo_db, "valley-app")
    assert "arbitration" not in kinds  # it has no care month: no visit to arbitrate
    assert "helpdesk" in kinds and set(kinds) <= {kind for kind, *_ in demo_cases.AGENCY}
    assert not [t for t in titles if "BACS" in t]
