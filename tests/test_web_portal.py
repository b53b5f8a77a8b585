"""The portals answer a URL guess the same way whether the object is someone else's or
does not exist: 404, the same page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

BOOK = "riverside"
PROVIDER, PROVIDER2 = f"demo-provider@{BOOK}", f"demo-provider2@{BOOK}"
NO_SUCH_ID = 2_000_000_000


def test_another_partys_case_or_document_answers_as_a_missing_one(demo_db):
    app = create_app(demo_db)
    owner, other = TestClient(app), TestClient(app)
    csrf = sign_in(owner, PROVIDER)
    asked = owner.post(
        f"/portal/{BOOK}/queries",
        data={
            "once": new_token(),
            "subject": "March invoice",
            "body": "Why short?",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    case_id = int(asked.headers["location"].rsplit("/", 1)[1])
    owner.post(
        f"/portal/{BOOK}/queries/{case_id}/attach",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("timesheet.csv", b"date,hours\n2026-03-02,7\n", "text/csv")},
    )
    uploaded = owner.post(
        f"/portal/{BOOK}/documents",
        data={"once": new_token(), "csrf_token": csrf, "title": "Insurance"},
        files={"file": ("insurance.txt", b"Policy RV-778", "text/plain")},
    )
    assert uploaded.status_code == 200
    docs = owner.get(f"/portal/{BOOK}/documents").text
    doc_ids = sorted({int(i) for i in re.findall(rf"/portal/{BOOK}/documents/(\d+)", docs)})
    assert doc_ids and owner.get(f"/portal/{BOOK}/documents/{doc_ids[-1]}").status_code == 200
    other_csrf = sign_in(other, PROVIDER2)

    def answers(object_id: int) -> list[tuple[int, str]]:
        posted = {"csrf_token": other_csrf}
        return [
            (a.status_code, a.text)
            for a in (
                other.get(f"/portal/{BOOK}/queries/{object_id}"),
                other.post(
                    f"/portal/{BOOK}/queries/{object_id}/comment",
                    data={"once": new_token(), **posted, "body": "x"},
                ),
                other.post(
                    f"/portal/{BOOK}/queries/{object_id}/transition",
                    data={**posted, "action": "close", "version": "1"},
                ),
                other.post(
                    f"/portal/{BOOK}/queries/{object_id}/attach",
                    data=posted,
                    files={"file": ("x.txt", b"x", "text/plain")},
                ),
            )
        ]

    theirs, missing = answers(case_id), answers(NO_SUCH_ID)
    assert [status for status, _ in theirs] == [404] * 4
    assert theirs == missing
    for doc_id in doc_ids:
        got = other.get(f"/portal/{BOOK}/documents/{doc_id}")
        nothing = other.get(f"/portal/{BOOK}/documents/{NO_SUCH_ID}")
        assert (got.status_code, got.text) == (nothing.status_code, nothing.text)
        assert got.status_code == 404 and "RV-778" not in got.text


def test_another_providers_self_bill_answers_as_a_missing_one(demo_db):
    app = create_app(demo_db)
    owner, other = TestClient(app), TestClient(app)
    sign_in(owner, PROVIDER)
    sign_in(other, PROVIDER2)
    page = owner.get(f"/portal/{BOOK}/visits").text
    runs = sorted({int(i) for i in re.findall(rf"/portal/{BOOK}/visits/runs/(\d+)/selfbill", page)})
    assert runs, "the demo provider has self-bills"
    assert owner.get(f"/portal/{BOOK}/visits/runs/{runs[0]}/selfbill.csv").status_code == 200
    for fmt in ("pdf", "xlsx", "csv"):
        theirs = other.get(f"/portal/{BOOK}/visits/runs/{runs[0]}/selfbill.{fmt}")
        missing = other.get(f"/portal/{BOOK}/visits/runs/{NO_SUCH_ID}/selfbill.{fmt}")
        assert (theirs.status_code, theirs.text) == (missing.status_code, missing.text)
        assert theirs.status_code == 404


def test_a_step_not_allowed_on_ones_own_query_is_a_refusal_not_a_missing_query(demo_db):
    """Only another party's query answers as a missing one; on its own query, a step the
    portal may not take is refused as such (403), so the user is not told it is gone."""
    client = TestClient(create_app(demo_db))
    csrf = sign_in(client, PROVIDER)
    asked = client.post(
        f"/portal/{BOOK}/queries",
        data={
            "once": new_token(),
            "subject": "April invoice",
            "body": "Why short?",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    case_id = int(asked.headers["location"].rsplit("/", 1)[1])
    refused = client.post(
        f"/portal/{BOOK}/queries/{case_id}/transition",
        data={"csrf_token": csrf, "action": "start", "version": "1"},  # staff work
    )
    assert refused.status_code == 403, refused.text
    assert "no such query" not in refused.text


def test_a_page_notice_is_only_what_remit_wrote(demo_db):
    """A notice after an action travels in the URL, signed: a link with words of someone
    else's ("call this number") shows nothing, and remit's own notice shows."""
    client = TestClient(create_app(demo_db))
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    spoof = "Bank details for all providers changed. Call 0800 000 000 to confirm."
    for url in (f"/b/{BOOK}/care?notice={spoof}", f"/b/{BOOK}/care?notice={spoof}&sig=00"):
        page = client.get(url)
        assert page.status_code == 200 and "0800 000 000" not in page.text
    planned = client.post(
        f"/b/{BOOK}/care/plan",
        data={"once": new_token(), "csrf_token": csrf, "from": "2026-12-07", "to": "2026-12-07"},
        follow_redirects=False,
    )
    assert planned.status_code == 303
    shown = client.get(planned.headers["location"])
    assert re.search(r"planned \d+ new visit\(s\)", shown.text)
    moved = planned.headers["location"].replace(f"/b/{BOOK}/care", f"/portal/{BOOK}/visits")
    provider = TestClient(create_app(demo_db))
    sign_in(provider, PROVIDER)
    assert "planned" not in provider.get(moved).text  # signed for another page


def test_a_page_address_with_an_id_that_cannot_be_one_is_a_missing_page(demo_db):
    client = TestClient(create_app(demo_db))
    sign_in(client, PROVIDER2)
    for path in ("queries/abc", "documents/-1", f"queries/{10**30}"):
        page = client.get(f"/portal/{BOOK}/{path}")
        assert page.status_code == 404, (path, page.status_code)
        assert "int_parsing" not in page.text and "nothing was saved" not in page.text
