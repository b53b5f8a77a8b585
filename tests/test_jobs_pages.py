"""The jobs pages: start a job, follow its progress, see its result or its error."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from remit.config import vault
from remit.jobs.worker import Worker
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

BOOK = "riverside"
GOOD = (
    b"entry,date,description,account,party,currency,debit,credit\n"
    b"WEB-1,2026-10-31,Care,5000,,GBP,12.50,\n"
    b"WEB-1,2026-10-31,Care,2000,P00001,GBP,,12.50\n"
)
BAD = (
    b"entry,date,description,account,party,currency,debit,credit\n"
    b"WEB-2,2026-10-31,Care,9999,,GBP,12.50,\n"
    b"WEB-2,2026-10-31,Care,2000,P00001,GBP,,12.49\n"
)


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        yield client, demo_db


def _start(client, csrf, **data):
    return client.post(
        f"/b/{BOOK}/jobs",
        data={"once": new_token(), "csrf_token": csrf, **data},
        follow_redirects=False,
    )


def test_a_job_started_from_the_page_shows_live_progress_then_its_result(web):
    client, database = web
    csrf = sign_in(client, f"demo-manager@{BOOK}")
    started = _start(client, csrf, kind="audit.verify")
    assert started.status_code == 303
    url = started.headers["location"]
    job_id = int(url.rsplit("/", 1)[1])
    page = client.get(url)
    assert "Verify the audit chain" in page.text and "Waiting for a worker" in page.text
    # While the job is not finished the fragment asks to be polled again.
    fragment = client.get(f"{url}/progress")
    assert 'hx-trigger="every 1s"' in fragment.text and 'data-status="queued"' in fragment.text

    assert Worker(database, vault(), "page-test").run_until_empty() == 1
    done = client.get(f"{url}/progress")
    assert 'data-status="succeeded"' in done.text
    assert "hx-trigger" not in done.text  # polling stops by itself
    assert re.search(r'<progress value="(\d+)" max="\1"', done.text)  # full bar
    assert '"ok": true' in done.text
    listing = client.get(f"/b/{BOOK}/jobs")
    assert f'href="/b/{BOOK}/jobs/{job_id}"' in listing.text and "succeeded" in listing.text


def test_an_entry_file_is_posted_by_a_job_and_a_bad_one_fails_with_every_problem(web):
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    good = client.post(
        f"/b/{BOOK}/jobs/post-file",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("entries.csv", GOOD, "text/csv")},
        follow_redirects=False,
    )
    bad = client.post(
        f"/b/{BOOK}/jobs/post-file",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("broken.csv", BAD, "text/csv")},
        follow_redirects=False,
    )
    assert good.status_code == bad.status_code == 303
    assert Worker(database, vault(), "page-test").run_until_empty() == 2
    ok = client.get(good.headers["location"])
    assert 'data-status="succeeded"' in ok.text and '"posted": 1' in ok.text
    failed = client.get(bad.headers["location"])
    assert 'data-status="failed"' in failed.text and "The job failed" in failed.text
    assert "broken.csv" in failed.text and "entries.csv" in ok.text
    assert "9999" in failed.text and "line 2" in failed.text  # each problem with its line
    assert "unbalanced" in failed.text.lower()


def test_a_clerk_cannot_start_what_needs_another_permission_and_bad_files_are_refused(web):
    client, _ = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    listing = client.get(f"/b/{BOOK}/jobs")
    assert 'value="audit.verify"' not in listing.text  # not offered to a clerk
    assert _start(client, csrf, kind="audit.verify").status_code == 403
    unknown = _start(client, csrf, kind="nope.never")
    assert unknown.status_code == 422 and "choose a kind of job" in unknown.text
    exe = client.post(
        f"/b/{BOOK}/jobs/post-file",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("run.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/octet-stream")},
    )
    assert exe.status_code == 422 and "Nothing was saved" in exe.text
    big = client.post(
        f"/b/{BOOK}/jobs/post-file",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("big.csv", b"a," * (5 * 1024 * 1024 + 10), "text/csv")},
    )
    assert big.status_code == 422 and "MB" in big.text
    assert "No jobs yet" in client.get(f"/b/{BOOK}/jobs").text  # nothing was queued


def test_a_queued_job_can_be_cancelled_and_an_auditor_only_reads(web):
    client, _ = web
    csrf = sign_in(client, f"demo-manager@{BOOK}")
    url = _start(client, csrf, kind="cases.escalate").headers["location"]
    cancelled = client.post(f"{url}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text
    again = client.post(f"{url}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409
    auditor = TestClient(client.app)
    token = sign_in(auditor, f"demo-auditor@{BOOK}")
    assert 'data-status="cancelled"' in auditor.get(url).text
    assert "Start a job" not in auditor.get(f"/b/{BOOK}/jobs").text
    assert _start(auditor, token, kind="audit.verify").status_code == 403


def test_a_json_entry_file_is_posted_from_the_page_as_the_page_says(web):
    """The page offers "CSV or JSON": a .json file is taken, and one that cannot be read
    fails its job with a problem, not a Python error."""
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    entry = {
        "idempotency_key": "WEB-J1",
        "date": "2026-10-31",
        "description": "Care",
        "postings": [
            {"account": "5000", "currency": "GBP", "amount_minor": 1250},
            {"account": "2000", "party": "P00001", "currency": "GBP", "amount_minor": -1250},
        ],
    }
    sent = {
        "good.json": json.dumps({"entries": [entry]}).encode(),
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
    }
    started = {
        name: client.post(
            f"/b/{BOOK}/jobs/post-file",
            data={"once": new_token(), "csrf_token": csrf},
            files={"file": (name, content, "application/json")},
            follow_redirects=False,
        )
        for name, content in sent.items()
    }
    assert [a.status_code for a in started.values()] == [303, 303], started
    assert Worker(database, vault(), "page-test").run_until_empty() == 2
    ok = client.get(started["good.json"].headers["location"])
    assert 'data-status="succeeded"' in ok.text and '"posted": 1' in ok.text, ok.text
    deep = client.get(started["deep.json"].headers["location"])
    assert 'data-status="failed"' in deep.text and "not readable JSON" in deep.text
    assert "RecursionError" not in deep.text
