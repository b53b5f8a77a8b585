"""One-time form tokens: every form that creates something carries a token; a second submit
of the same token (a double click, a reload) creates nothing and shows what the first did;
a form without its token is refused in words and saves nothing."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit.access.service import actor_for
from remit.access.store import api_tokens, users
from remit.care.model import POLICY_MEANINGS, Policy
from remit.care.store import (
    actual_records,
    care_absences,
    care_adjustments,
    care_policies,
    care_runs,
    planned_visits,
)
from remit.cases.store import case_events, cases, correspondence
from remit.documents.store import documents
from remit.events.store import webhook_subscriptions
from remit.jobs.store import jobs
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.store import bank_changes
from remit.testkit.web import sign_in
from remit.web import forms
from remit.web.app import create_app
from remit.web.store import form_submissions

BOOK = "riverside"
TOKEN = re.compile(r'<input type="hidden" name="once" value="([^"]+)">')


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        csrf = sign_in(client, f"demo-clerk@{BOOK}")
        yield client, demo_db, csrf, samples(demo_db)


def samples(database) -> dict[str, Any]:
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        r = care_runs.c
        run_id = conn.execute(
            select(r.id).where(r.book_id == book_id, r.status != "posted").order_by(r.id)
        ).scalar()
        case_id = conn.execute(
            select(cases.c.id).where(cases.c.book_id == book_id).order_by(cases.c.id)
        ).scalar()
        provider = actor_for(conn, f"demo-provider@{BOOK}").party_in(book_id)
        assert provider is not None
        client = min(parties.party_ids_with_role(conn, book_id, "client"))
        refs = parties.party_names(conn, book_id, [provider, client])
    return {
        "run": int(run_id),
        "case": int(case_id),
        "party": 1,
        "provider_ref": refs[provider][0],
        "client_ref": refs[client][0],
    }


def count(database, table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# (name, page with the form, the form's action, its fields, its file, the table it adds to)
FORMS: list[tuple[str, str, str, dict[str, str], Any, Any]] = [
    (
        "care adjustment",
        "/b/{b}/care/runs/{run}",
        "/b/{b}/care/runs/{run}/adjustments",
        {"amount_minor": "250", "amount": "2.50", "reason": "mileage agreed by phone"},
        None,
        care_adjustments,
    ),
    (
        "new case",
        "/b/{b}/cases/new",
        "/b/{b}/cases",
        {"case_type": "helpdesk", "title": "Remittance missing", "priority": "2"},
        None,
        cases,
    ),
    (
        "case comment",
        "/b/{b}/cases/{case}",
        "/b/{b}/cases/{case}/comment",
        {"body": "Called the agency back."},
        None,
        case_events,
    ),
    (
        "case attachment",
        "/b/{b}/cases/{case}",
        "/b/{b}/cases/{case}/attach",
        {},
        {"file": ("rota.txt", b"rota for the week\n", "text/plain")},
        documents,
    ),
    (
        "bank change request",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/bank-change",
        {
            "scheme": "uk_sort_code",
            "sort_code": "200000",
            "account_number": "55779911",
            "reason": "the provider's letter of 3 November",
        },
        None,
        bank_changes,
    ),
    (
        "party document",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/documents",
        {"title": "Contract"},
        {"file": ("contract.txt", b"terms of the contract\n", "text/plain")},
        documents,
    ),
    (
        "logged call",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/calls",
        {"direction": "in", "call_subject": "Asked about the remittance"},
        None,
        correspondence,
    ),
]


def url(template: str, ids: dict[str, int]) -> str:
    return template.format(b=BOOK, **ids)


@pytest.mark.parametrize(
    ("name", "page", "action", "fields", "files", "table"), FORMS, ids=[f[0] for f in FORMS]
)
def test_a_second_submit_of_a_form_creates_nothing_and_shows_the_first(
    web, name, page, action, fields, files, table
):
    client, database, csrf, ids = web
    form_page = client.get(url(page, ids))
    assert form_page.status_code == 200
    action_url = url(action, ids)
    form_html = form_page.text[form_page.text.index(f'action="{action_url}"') :]
    token = TOKEN.search(form_html[: form_html.index("</form>")])
    assert token, f"the {name} form carries no one-time token"
    before = count(database, table)
    data = {"csrf_token": csrf, **fields, forms.FIELD: token.group(1)}
    first = client.post(action_url, data=data, files=files, follow_redirects=False)
    assert first.status_code == 303, first.text[:2000]
    assert count(database, table) == before + 1
    second = client.post(action_url, data=data, files=files, follow_redirects=False)
    assert second.status_code == 303
    assert second.headers["location"].startswith(first.headers["location"].split("#")[0])
    assert "already=1" in second.headers["location"]
    assert count(database, table) == before + 1  # one object, however often it is sent
    shown = client.get(second.headers["location"])
    assert "Already done." in shown.text


@pytest.mark.parametrize(
    ("name", "page", "action", "fields", "files", "table"), FORMS, ids=[f[0] for f in FORMS]
)
def test_a_form_without_its_token_is_refused_in_words_and_saves_nothing(
    web, name, page, action, fields, files, table
):
    client, database, csrf, ids = web
    before = (count(database, table), count(database, form_submissions))
    answer = client.post(
        url(action, ids), data={"csrf_token": csrf, **fields}, files=files, follow_redirects=False
    )
    assert answer.status_code == 422
    assert "one-time token: reload the page and send it again" in answer.text
    assert (count(database, table), count(database, form_submissions)) == before


def test_another_users_token_is_refused(web, demo_db):
    client, database, csrf, ids = web
    data = {"csrf_token": csrf, "body": "mine", forms.FIELD: forms.new_token()}
    assert (
        client.post(url("/b/{b}/cases/{case}/comment", ids), data=data, follow_redirects=False)
    ).status_code == 303
    with TestClient(create_app(database)) as other:
        other_csrf = sign_in(other, f"demo-clerk2@{BOOK}")
        answer = other.post(
            url("/b/{b}/cases/{case}/comment", ids),
            data={**data, "csrf_token": other_csrf, "body": "theirs"},
            follow_redirects=False,
        )
    assert answer.status_code == 422 and "belongs to another form" in answer.text


# The forms of other users' pages: (name, who signs in, page with the form, the form's
# action, its fields, its file, the table it adds to). ``{pcase}`` is a query the provider
# raised first; the refs are the demo provider's and a client's.
PASSWORD = "a long enough password"
ACTUAL = (
    "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
    "TOK-1,{client_ref},{provider_ref},K1,PC,phone,2023-01-02T09:00:00,2023-01-02T09:30:00\n"
)
MORE_FORMS: list[tuple[str, str, str, str, dict[str, str], Any, Any]] = [
    (
        "care import",
        "demo-clerk",
        "/b/{b}/care",
        "/b/{b}/care/import",
        {"kind": "actual"},
        {"file": ("ecm.csv", ACTUAL, "text/csv")},
        actual_records,
    ),
    (
        "care plan",
        "demo-clerk",
        "/b/{b}/care",
        "/b/{b}/care/plan",
        {"from": "2027-06-07", "to": "2027-06-13"},
        None,
        planned_visits,
    ),
    (
        "care reconcile",
        "demo-clerk",
        "/b/{b}/care",
        "/b/{b}/care/reconcile",
        {"from": "2023-01-02", "to": "2023-01-08"},
        None,
        jobs,
    ),
    (
        "care policy",
        "demo-manager",
        "/b/{b}/care/policy",
        "/b/{b}/care/policy",
        {
            "from": "2027-04-01",
            "note": "the new framework",
            **{name: str(getattr(Policy(), name)) for name in POLICY_MEANINGS},
        },
        None,
        care_policies,
    ),
    (
        "hospital stays",
        "demo-clerk",
        "/b/{b}/care/absences",
        "/b/{b}/care/absences",
        {},
        {
            "file": (
                "stays.csv",
                "client_ref,first_day,last_day,reason\n{client_ref},2023-01-02,,fall\n",
                "text/csv",
            )
        },
        care_absences,
    ),
    (
        "portal visits",
        "demo-provider",
        "/portal/{b}/visits",
        "/portal/{b}/visits",
        {},
        {"file": ("visits.csv", ACTUAL, "text/csv")},
        actual_records,
    ),
    (
        "user",
        "demo-admin",
        "/b/{b}/admin/users",
        "/b/{b}/admin/users",
        {"username": "new-clerk", "role": "clerk", "password": PASSWORD},
        None,
        users,
    ),
    (
        "api token",
        "demo-admin",
        "/b/{b}/admin/tokens",
        "/b/{b}/admin/tokens",
        {"name": "the nightly export", "scope": "ledger:read"},
        None,
        api_tokens,
    ),
    (
        "webhook",
        "demo-admin",
        "/b/{b}/admin/webhooks",
        "/b/{b}/admin/webhooks",
        {"url": "https://example.org/hook", "event_type": "*"},
        None,
        webhook_subscriptions,
    ),
    (
        "job",
        "demo-manager",
        "/b/{b}/jobs",
        "/b/{b}/jobs",
        {"kind": "cases.escalate"},
        None,
        jobs,
    ),
    (
        "entry file job",
        "demo-clerk",
        "/b/{b}/jobs",
        "/b/{b}/jobs/post-file",
        {},
        {"file": ("entries.csv", "entry,date,account,debit,credit\n", "text/csv")},
        jobs,
    ),
    (
        "letter",
        "demo-clerk",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/letters",
        {
            "template": "general",
            "channel": "letter",
            "locale": "en",
            "subject": "Your remittance",
            "body": "Paid on Friday.",
        },
        None,
        correspondence,
    ),
    (
        "portal query",
        "demo-provider",
        "/portal/{b}/queries",
        "/portal/{b}/queries",
        {"subject": "Visit of 2 January", "body": "Was it paid?"},
        None,
        cases,
    ),
    (
        "portal comment",
        "demo-provider",
        "/portal/{b}/queries/{pcase}",
        "/portal/{b}/queries/{pcase}/comment",
        {"body": "The carer's rota is attached."},
        None,
        case_events,
    ),
    (
        "portal attachment",
        "demo-provider",
        "/portal/{b}/queries/{pcase}",
        "/portal/{b}/queries/{pcase}/attach",
        {},
        {"file": ("rota.txt", "rota for the week\n", "text/plain")},
        documents,
    ),
    (
        "portal document",
        "demo-provider",
        "/portal/{b}/documents",
        "/portal/{b}/documents",
        {"title": "Insurance"},
        {"file": ("insurance.txt", "cover to March\n", "text/plain")},
        documents,
    ),
]


def provider_query(client: TestClient, csrf: str) -> int:
    """A query the signed-in provider raised, for its comment and attachment forms."""
    raised = client.post(
        f"/portal/{BOOK}/queries",
        data={
            "csrf_token": csrf,
            "subject": "A query",
            "body": "Text",
            forms.FIELD: forms.new_token(),
        },
        follow_redirects=False,
    )
    assert raised.status_code == 303, raised.text[:2000]
    return int(raised.headers["location"].rsplit("/", 1)[1])


def posted_files(files: Any, ids: dict[str, Any]) -> Any:
    if files is None:
        return None
    return {k: (n, text.format(**ids).encode(), mime) for k, (n, text, mime) in files.items()}


def signed_in(demo_db: Any, client: Any, user: str, page: str) -> tuple[dict[str, Any], str]:
    """The sample ids for the form's URLs (a provider's own query made when the page needs
    one) and the CSRF token of ``user`` signed in."""
    ids = samples(demo_db)
    csrf = sign_in(client, f"{user}@{BOOK}")
    if "{pcase}" in page:
        ids["pcase"] = provider_query(client, csrf)
    return ids, csrf


@pytest.mark.parametrize(
    ("name", "user", "page", "action", "fields", "files", "table"),
    MORE_FORMS,
    ids=[f[0] for f in MORE_FORMS],
)
def test_a_second_submit_of_any_create_form_creates_nothing_more(
    demo_db, name, user, page, action, fields, files, table
):
    with TestClient(create_app(demo_db)) as client:
        ids, csrf = signed_in(demo_db, client, user, page)
        form_page = client.get(url(page, ids))
        assert form_page.status_code == 200, form_page.text[:2000]
        action_url = url(action, ids)
        form_html = form_page.text[form_page.text.index(f'action="{action_url}"') :]
        token = TOKEN.search(form_html[: form_html.index("</form>")])
        assert token, f"the {name} form carries no one-time token"
        before = count(demo_db, table)
        data = {"csrf_token": csrf, **fields, forms.FIELD: token.group(1)}
        sent = posted_files(files, ids)
        first = client.post(action_url, data=data, files=sent, follow_redirects=False)
        assert first.status_code in (200, 303), first.text[:3000]
        made = count(demo_db, table)
        assert made > before, f"the first {name} form made nothing"
        second = client.post(
            action_url, data=data, files=posted_files(files, ids), follow_redirects=False
        )
        assert second.status_code == 303, second.text[:2000]
        assert "already=1" in second.headers["location"]
        if first.status_code == 303:
            assert second.headers["location"].startswith(first.headers["location"].split("#")[0])
        assert count(demo_db, table) == made  # nothing more, however often it is sent
        shown = client.get(second.headers["location"])
        assert shown.status_code == 200 and "Already done." in shown.text


@pytest.mark.parametrize(
    ("name", "user", "page", "action", "fields", "files", "table"),
    MORE_FORMS,
    ids=[f[0] for f in MORE_FORMS],
)
def test_any_create_form_without_its_token_is_refused_and_saves_nothing(
    demo_db, name, user, page, action, fields, files, table
):
    with TestClient(create_app(demo_db)) as client:
        ids, csrf = signed_in(demo_db, client, user, page)
        before = (count(demo_db, table), count(demo_db, form_submissions))
        answer = client.post(
            url(action, ids),
            data={"csrf_token": csrf, **fields},
            files=posted_files(files, ids),
            follow_redirects=False,
        )
    assert answer.status_code == 422, answer.text[:2000]
    assert "one-time token: reload the page and send it again" in answer.text
    assert (count(demo_db, table), count(demo_db, form_submissions)) == before


class Inbox:
    """An SMTP handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def test_a_second_submit_of_an_email_sends_and_keeps_nothing_more(demo_db, monkeypatch):
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        monkeypatch.setenv("REMIT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("REMIT_SMTP_PORT", str(port))
        monkeypatch.setenv("REMIT_SMTP_FROM", "payments@riverside.example")
        ids = samples(demo_db)
        with TestClient(create_app(demo_db)) as client:
            csrf = sign_in(client, f"demo-clerk@{BOOK}")
            action = url("/b/{b}/parties/{party}/letters", ids)
            data = {
                "csrf_token": csrf,
                "template": "general",
                "channel": "email",
                "locale": "en",
                "to": "accounts@provider.example",
                "subject": "Your remittance",
                "body": "Paid on Friday.",
                forms.FIELD: forms.new_token(),
            }
            before = count(demo_db, correspondence)
            first = client.post(action, data=data, follow_redirects=False)
            assert first.status_code == 303, first.text[:2000]
            second = client.post(action, data=data, follow_redirects=False)
            unsent = client.post(action, data={**data, forms.FIELD: ""}, follow_redirects=False)
    finally:
        server.stop()
    assert second.status_code == 303
    assert second.headers["location"] == first.headers["location"] + "?already=1"
    assert unsent.status_code == 422 and "one-time token" in unsent.text
    assert count(demo_db, correspondence) == before + 1
    assert len(inbox.messages) == 1  # one e-mail, however often the form is sent


@pytest.mark.parametrize(
    ("action", "fields", "says"),
    [
        (
            "/b/{b}/admin/tokens",
            {"name": "the nightly export", "scope": "ledger:read"},
            "(the nightly export) was made when the form was first sent",
        ),
        (
            "/b/{b}/admin/webhooks",
            {"url": "https://example.org/hook", "event_type": "*"},
            "(https://example.org/hook) was made when the form was first sent",
        ),
    ],
    ids=["api token", "webhook"],
)
def test_a_secret_shown_once_and_sent_twice_says_what_to_do(demo_db, action, fields, says):
    """A double click shows the second answer: the secret of the first is not shown again,
    and the page says which one was made and how to get a secret that was missed."""
    with TestClient(create_app(demo_db)) as client:
        csrf = sign_in(client, f"demo-admin@{BOOK}")
        data = {"csrf_token": csrf, **fields, forms.FIELD: forms.new_token()}
        first = client.post(url(action, {}), data=data, follow_redirects=False)
        assert first.status_code == 200 and "it will not be shown again" in first.text
        again = client.post(url(action, {}), data=data, follow_redirects=True)
    assert again.status_code == 200 and "Already done." in again.text
    assert says in again.text
    assert "it will not be shown again" not in again.text  # no secret on the second answer
