"""The care pages: import with errors shown in place, reconcile as a job, decide the
exceptions, post the self-bill, and the provider's own visits in its portal."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from remit.access.service import actor_for
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.config import vault
from remit.jobs.worker import Worker
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

BOOK = "riverside"
MONDAY = date(2023, 1, 2)  # before any demo package: only this test's visits


@pytest.fixture
def web(demo_db):
    with demo_db.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        provider = actor_for(conn, f"demo-provider@{BOOK}").party_in(book_id)
        client = parties.get_party(
            conn,
            clerk,
            book_id,
            next(iter(sorted(parties.party_ids_with_role(conn, book_id, "client")))),
        )
        care.create_package(
            conn,
            clerk,
            book_id,
            NewPackage(
                "PAGE-1",
                client["id"],
                provider,
                "PG",
                date(2023, 1, 1),
                None,
                (Slot(0, 9 * 60, 30), Slot(0, 13 * 60, 30)),
                ((date(2023, 1, 1), "20.00", "GBP"),),
            ),
        )
        care.generate_planned(conn, clerk, book_id, MONDAY, MONDAY)
        provider_ref = parties.get_party(conn, clerk, book_id, provider)["ref"]
    with TestClient(create_app(demo_db)) as client_:
        yield client_, demo_db, {"client": client["ref"], "provider": provider_ref}


def actual(refs, *rows: str) -> bytes:
    head = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
    return (head + "".join(r.format(**refs) + "\n" for r in rows)).encode()


def test_an_import_with_errors_shows_each_line_in_place_and_imports_nothing(web):
    client, _, refs = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    bad = actual(
        refs,
        "PG-R1,{client},{provider},K1,PG,phone,2023-01-02T09:02:00,soon",
        "PG-R2,{client},NOPE,K1,PG,phone,2023-01-02T13:00:00,2023-01-02T13:30:00",
    )
    answer = client.post(
        f"/b/{BOOK}/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual"},
        files={"file": ("ecm.csv", bad, "text/csv")},
    )
    assert answer.status_code == 422 and "Nothing was saved" in answer.text
    assert (
        "line 2, check_out" in answer.text
        and "line 3, provider_id: no provider NOPE" in answer.text
    )
    partial = client.post(
        f"/b/{BOOK}/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual", "valid_only": "true"},
        files={"file": ("ecm.csv", bad, "text/csv")},
        follow_redirects=True,
    )
    assert "imported 0 row(s)" in partial.text and "2 rejected" in partial.text
    link = re.search(r'href="(/b/riverside/documents/\d+)">error file', partial.text)
    assert link, "the error file is offered for download"
    errors = client.get(link.group(1))
    assert errors.status_code == 200 and "no provider NOPE" in errors.text
    assert "Tolerance policy" in partial.text


def test_reconcile_decide_post_and_the_portal(web):
    client, database, refs = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    good = actual(
        refs, "PG-R1,{client},{provider},K1,PG,phone,2023-01-02T09:02:00,2023-01-02T09:20:00"
    )  # 18 of 30: short by 12, an exception
    done = client.post(
        f"/b/{BOOK}/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual"},
        files={"file": ("ecm.csv", good, "text/csv")},
        follow_redirects=True,
    )
    assert "imported 1 row(s) of ecm.csv" in done.text
    job = client.post(
        f"/b/{BOOK}/care/reconcile",
        data={"once": new_token(), "csrf_token": csrf, "from": "2023-01-02", "to": "2023-01-02"},
        follow_redirects=False,
    )
    assert job.status_code == 303 and "/jobs/" in job.headers["location"]
    assert Worker(database, vault(), "pages").run_until_empty() >= 1
    result = client.get(job.headers["location"])
    assert 'data-status="succeeded"' in result.text
    run_id = int(re.search(r'"run_id": (\d+)', result.text).group(1))

    page = client.get(f"/b/{BOOK}/care/runs/{run_id}")
    assert page.status_code == 200 and "short_exception" in page.text
    case_id = int(re.search(r"/cases/(\d+)\">case #", page.text).group(1))
    # The officer asks the provider; the provider answers in its portal, with a file.
    case_page = client.get(f"/b/{BOOK}/cases/{case_id}")
    version = re.search(r'name="version" value="(\d+)"', case_page.text).group(1)
    asked = client.post(
        f"/b/{BOOK}/cases/{case_id}/transition",
        data={"csrf_token": csrf, "action": "ask_provider", "version": version},
        follow_redirects=True,
    )
    assert "awaiting_provider" in asked.text or "Awaiting provider" in asked.text
    agency = TestClient(client.app)
    agency_token = sign_in(agency, f"demo-provider@{BOOK}")
    query = agency.get(f"/portal/{BOOK}/queries/{case_id}")
    assert query.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', query.text).group(1)
    answered = agency.post(
        f"/portal/{BOOK}/queries/{case_id}/transition",
        data={
            "csrf_token": agency_token,
            "action": "respond",
            "version": version,
            "reason": "the carer stayed 30 minutes; her phone died",
        },
        follow_redirects=True,
    )
    assert answered.status_code == 200
    attached = agency.post(
        f"/portal/{BOOK}/queries/{case_id}/attach",
        data={"once": new_token(), "csrf_token": agency_token},
        files={"file": ("rota.csv", b"carer,start\nK1,09:02\n", "text/csv")},
        follow_redirects=True,
    )
    assert attached.status_code == 200
    staff_view = client.get(f"/b/{BOOK}/cases/{case_id}")
    assert "her phone died" in staff_view.text and "rota.csv" in staff_view.text
    outcome_ids = [int(x) for x in re.findall(r"/care/outcomes/(\d+)/decide", page.text)]
    assert len(outcome_ids) == 2  # the short visit and the missed 13:00 visit
    refused = client.post(
        f"/b/{BOOK}/care/outcomes/{outcome_ids[0]}/decide",
        data={"csrf_token": csrf, "decision": "set_minutes", "minutes": "", "reason": ""},
    )
    assert refused.status_code == 422
    assert f'id="o{outcome_ids[0]}-reason-error"' in refused.text
    assert f"Reason (exception {outcome_ids[0]})" in refused.text  # in words
    assert f"o{outcome_ids[0]}-reason</a>" not in refused.text
    kept = client.post(
        f"/b/{BOOK}/care/outcomes/{outcome_ids[0]}/decide",
        data={"csrf_token": csrf, "decision": "set_minutes", "minutes": "", "reason": "typed"},
    )
    assert kept.status_code == 422 and 'value="typed"' in kept.text
    assert '<option value="set_minutes" selected>' in kept.text
    stale = client.post(
        f"/b/{BOOK}/care/outcomes/{outcome_ids[0]}/decide",
        data={"csrf_token": csrf, "decision": "reject", "reason": "x", "version": "7"},
    )
    assert stale.status_code == 409 and "decided by someone else" in stale.text
    for outcome_id in outcome_ids:
        decided = client.post(
            f"/b/{BOOK}/care/outcomes/{outcome_id}/decide",
            data={"csrf_token": csrf, "decision": "accept_planned", "reason": "agreed by phone"},
            follow_redirects=True,
        )
        assert decided.status_code == 200
    assert "<strong>resolved</strong>" in decided.text
    # The clerk who decided cannot post the self-bill; a manager does.
    refused_post = client.post(f"/b/{BOOK}/care/runs/{run_id}/post", data={"csrf_token": csrf})
    assert refused_post.status_code == 403 and "another person posts it" in refused_post.text
    manager = TestClient(client.app)
    manager_token = sign_in(manager, f"demo-manager@{BOOK}")
    posted = manager.post(
        f"/b/{BOOK}/care/runs/{run_id}/post",
        data={"csrf_token": manager_token},
        follow_redirects=True,
    )
    assert "<strong>posted</strong>" in posted.text and "entry " in posted.text
    csv_head = b"Invoice number,Run,Provider ref,Line,"
    for fmt, magic in (("pdf", b"%PDF"), ("xlsx", b"PK"), ("csv", csv_head)):
        download = client.get(f"/b/{BOOK}/care/runs/{run_id}/selfbill.{fmt}")
        assert download.status_code == 200 and download.content.startswith(magic)

    provider = TestClient(client.app)
    token = sign_in(provider, f"demo-provider@{BOOK}")
    mine = provider.get(f"/portal/{BOOK}/visits")
    assert mine.status_code == 200 and f"/visits/runs/{run_id}/selfbill.pdf" in mine.text
    assert provider.get(f"/portal/{BOOK}/visits/runs/{run_id}/selfbill.csv").status_code == 200
    other = TestClient(client.app)
    sign_in(other, f"demo-provider2@{BOOK}")
    assert (
        other.get(f"/portal/{BOOK}/visits/runs/{run_id}/selfbill.csv").status_code == 404
    )  # as if it did not exist
    upload = provider.post(
        f"/portal/{BOOK}/visits",
        data={"once": new_token(), "csrf_token": token},
        files={
            "file": (
                "mine.csv",
                actual(
                    refs,
                    "PG-R9,{client},{provider},K2,PG,app,2023-01-09T09:00:00,2023-01-09T09:30:00",
                ),
                "text/csv",
            )
        },
        follow_redirects=True,
    )
    assert "received 1 visit record(s)" in upload.text


def test_the_reports_page_shows_charts_and_tables_and_exports_them(web):
    client, database, refs = web
    csrf = sign_in(client, f"demo-manager@{BOOK}")
    good = actual(
        refs, "PG-R1,{client},{provider},K1,PG,phone,2023-01-02T09:02:00,2023-01-02T09:31:00"
    )
    client.post(
        f"/b/{BOOK}/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual"},
        files={"file": ("ecm.csv", good, "text/csv")},
    )
    client.post(
        f"/b/{BOOK}/care/reconcile",
        data={"once": new_token(), "csrf_token": csrf, "from": "2023-01-02", "to": "2023-01-08"},
    )
    Worker(database, vault(), "pages").run_until_empty()
    page = client.get(f"/b/{BOOK}/care/reports?from=2023-01-02&to=2023-01-08")
    assert page.status_code == 200 and "<svg" in page.text
    assert "Hours commissioned" in page.text and ">1h 00m<" in page.text  # 2 x 30 minutes
    book = client.get(f"/b/{BOOK}/care/reports.xlsx?from=2023-01-02&to=2023-01-08")
    assert book.status_code == 200 and book.content.startswith(b"PK")
    table = client.get(
        f"/b/{BOOK}/care/reports.care-delivery-by-provider.csv?from=2023-01-02&to=2023-01-08"
    )
    assert table.status_code == 200 and refs["provider"] in table.text
    bad = client.get(f"/b/{BOOK}/care/reports?from=2023-13-01&to=2023-01-08")
    assert bad.status_code == 422 and "The report was not run." in bad.text
    assert "Nothing was saved" not in bad.text  # a report saves nothing; it was refused


def test_the_page_reconciles_one_provider_and_lists_records_in_no_run(web):
    client, database, refs = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    late = actual(
        refs, "PG-L1,{client},{provider},K1,PG,app,2023-01-02T09:01:00,2023-01-02T09:31:00"
    )
    client.post(
        f"/b/{BOOK}/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual"},
        files={"file": ("late.csv", late, "text/csv")},
    )
    home = client.get(f"/b/{BOOK}/care")
    assert "record(s) belong to no run yet" in home.text
    listed = client.get(f"/b/{BOOK}/care/unmatched?provider={refs['provider']}")
    assert (
        listed.status_code == 200 and "PG-L1" in listed.text and "not reconciled yet" in listed.text
    )
    wrong = client.get(f"/b/{BOOK}/care/unmatched?provider=NOPE")
    assert wrong.status_code == 422 and "no provider" in wrong.text
    refused = client.post(
        f"/b/{BOOK}/care/reconcile",
        data={
            "once": new_token(),
            "csrf_token": csrf,
            "from": "2023-01-02",
            "to": "2023-01-02",
            "providers": "NOPE",
        },
    )
    assert refused.status_code == 422 and "no provider &#39;NOPE&#39;" in refused.text
    assert 'value="NOPE"' in refused.text  # what was typed is kept
    job = client.post(
        f"/b/{BOOK}/care/reconcile",
        data={
            "once": new_token(),
            "csrf_token": csrf,
            "from": "2023-01-02",
            "to": "2023-01-02",
            "providers": refs["provider"],
        },
        follow_redirects=False,
    )
    assert job.status_code == 303
    Worker(database, vault(), "pages").run_until_empty()
    result = client.get(job.headers["location"])
    assert 'data-status="succeeded"' in result.text and result.text.count('"run_id"') == 1
    listed = client.get(f"/b/{BOOK}/care/unmatched?provider={refs['provider']}")
    assert "PG-L1" not in listed.text and "Every record is in a run" in listed.text
