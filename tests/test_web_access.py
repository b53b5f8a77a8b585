"""Every page and endpoint, for every role: the permission matrix, walked for real.

Each route declares what it needs (``Need(permission)``, ``NeedPortal()``, ``SignedIn()``
or ``ApiNeed(permission)``); this test reads that declaration back from the app, works out
from ``access.model.PERMISSIONS`` which roles may pass, and then calls the route as each
role with a real session (or API token). A role that may not pass must get 403 (or the
sign-in page when signed out) and see none of the data; a role that may pass must never.
A route that declares nothing fails the test unless it is one of the public ones.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from remit.access import tokens
from remit.access.model import PERMISSIONS, STAFF_ROLES, Actor, Kind, Permission, Role
from remit.access.service import actor_for
from remit.access.store import users
from remit.care import payables
from remit.care import runs as care_runs
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.care.store import planned_visits, visit_outcomes
from remit.cases import correspondence
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.cases.store import cases as case_table
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.config import vault
from remit.db import Database
from remit.documents import service as documents
from remit.events import service as webhooks
from remit.jobs import service as jobs
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme
from remit.testkit.web import sign_in
from remit.web.api import ApiNeed
from remit.web.app import create_app
from remit.web.deps import Need, NeedPortal, SignedIn

BOOK = "riverside"
ROLES = ("admin", "manager", "approver", "clerk", "auditor", "provider", "client")
PUBLIC = {
    ("/login", "GET"),
    ("/login", "POST"),
    ("/health", "GET"),
    ("/api/v1/openapi.json", "GET"),
    ("/api/docs", "GET"),
}
TXT = ("walk.txt", b"a file from the route walk\n", "text/plain")


@dataclass(frozen=True)
class R:
    """One route as the app serves it: its full path, methods and FastAPI route."""

    path: str
    methods: frozenset[str]
    route: APIRoute

    @property
    def dependant(self) -> Any:
        return self.route.dependant


def flat_routes(app) -> list[R]:
    """Every API route of the app, with the prefixes of the routers that include it."""
    return [
        R(c.path, frozenset(c.methods or ()), c.original_route)
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute)
    ]


def url_of(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def needs_of(route: R) -> list[Any]:
    found, stack = [], list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, (Need, NeedPortal, SignedIn, ApiNeed)):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def staff_may(role: str, permission: Permission) -> bool:
    return Role(role) in STAFF_ROLES and Role(role) in PERMISSIONS[permission]


@pytest.fixture(scope="module")
def world(demo_template, tmp_path_factory):
    """The demo book with one of everything a route can name, and a client per role."""
    path, key = demo_template
    copy = tmp_path_factory.mktemp("walk") / "remit.db"
    shutil.copy(path, copy)
    mp = pytest.MonkeyPatch()
    mp.setenv("REMIT_SECRET_KEY", key)
    database = Database(f"sqlite:///{copy}")
    app = create_app(database)
    ids = _samples(database)
    clients, csrf = {}, {}
    for role in (*ROLES, "anonymous", "other-book"):
        client = TestClient(app)
        if role == "other-book":
            csrf[role] = sign_in(client, "demo-admin@valley-app")
        elif role != "anonymous":
            csrf[role] = sign_in(client, f"demo-{role}@{BOOK}")
        clients[role] = client
    yield {"app": app, "db": database, "ids": ids, "clients": clients, "csrf": csrf}
    for client in clients.values():
        client.close()
    database.dispose()
    mp.undo()


def _samples(database) -> dict[str, Any]:
    """Objects for every path parameter; the case and document belong to demo-provider."""
    with database.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        provider = actor_for(conn, f"demo-provider@{BOOK}")
        admin = actor_for(conn, f"demo-admin@{BOOK}")
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        party_id = provider.party_in(book_id)
        case_id = conn.execute(
            select(case_table.c.id).where(
                case_table.c.party_id == party_id, case_table.c.opened_by == provider.username
            )
        ).scalar_one()
        doc_id = documents.attach(
            conn,
            clerk,
            book_id,
            "party",
            party_id,
            "terms.txt",
            b"terms of payment\n",
            portal_visible=True,
        )
        other_party = parties.party_id_for(conn, book_id, "P00002")
        change_id = parties.request_bank_change(
            conn,
            clerk,
            vault(),
            book_id,
            other_party,
            BankDetails(
                BankScheme.UK_SORT_CODE, {"sort_code": "200000", "account_number": "55779911"}
            ),
            "walk",
        )
        token = tokens.issue_token(conn, admin, book_id, "walk", ["cases:read"])
        user_id = conn.execute(
            select(users.c.id).where(users.c.username == f"demo-clerk2@{BOOK}")
        ).scalar_one()
        party = parties.get_party(conn, admin, book_id, party_id)
        arbitration = cases.open_case(
            conn, clerk, book_id, NewCase("arbitration", "Missed visit", party_id=party_id)
        )
        cases.transition(conn, clerk, book_id, arbitration, "ask_provider")
        item_id = correspondence.log_call(
            conn, clerk, book_id, party_id, "in", "Asked about October", "walk"
        )
        subscription_id, _ = webhooks.create_subscription(
            conn, admin, vault(), book_id, "https://93.184.215.14/hook", ["case.*"]
        )
        cases.open_case(conn, clerk, book_id, NewCase("helpdesk", "makes a delivery"))
        delivery_id = webhooks.list_deliveries(conn, admin, book_id, subscription_id)[0]["id"]
        title = cases.get_case(conn, admin, book_id, case_id)["title"]
        job_id = jobs.enqueue(conn, admin, book_id, "audit.verify", {})
        run_id, outcome_id, adjustment_id = _care_samples(conn, clerk, book_id, party_id)
        visit_id = conn.execute(
            select(planned_visits.c.id).where(planned_visits.c.service_code == "WALK")
        ).scalar_one()
        certificate_id, family_id = _childcare_samples(conn, clerk, book_id, party_id)
    return {
        "book": BOOK,
        "case_id": case_id,
        "party_id": party_id,
        "document_id": doc_id,
        "change_id": change_id,
        "token_id": token.id,
        "user_id": user_id,
        "area": "payments",
        "entry_id": 1,
        "markers": (party["name"], title),
        "book_id": book_id,
        "arbitration_id": arbitration,
        "item_id": item_id,
        "subscription_id": subscription_id,
        "delivery_id": delivery_id,
        "job_id": job_id,
        "run_id": run_id,
        "outcome_id": outcome_id,
        "adjustment_id": adjustment_id,
        "visit_id": visit_id,
        "certificate_id": certificate_id,
        "certificate_ref": "WALK-C",
        "month": "2026-01",
        "family_id": family_id,
        "decision_id": 1,  # a decision id: the route's roles are checked before the id
        "pay_run_id": 1,  # the demo's released payment run, its first payment and file
        "payment_id": 1,
        "file_id": 1,
        "fmt": "csv",
    }


def _childcare_samples(conn, clerk, book_id: int, provider_id: int) -> tuple[int, int]:
    """A family of one child with a certificate of the demo provider."""
    provider_ref = parties.get_party(conn, clerk, book_id, provider_id)["ref"]
    childcare.import_files(
        conn,
        clerk,
        book_id,
        families=b"family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,"
        b'name,address\nWALK-F,2,100000,0,agency,Walk Parent,"1 Walk Lane\nLeeds"\n',
        certificates=(
            "certificate_id,version_from,child_id,family_id,provider_id,child_birth_date,"
            "start_date,end_date,schedule,rate_category,time_basis,evening_weekend_share,"
            "exceptional_needs,severely_disabled,provider_rate\n"
            f"WALK-C,2026-01-01,WALK-K,WALK-F,{provider_ref},2022-02-02,2026-01-01,2026-12-31,"
            "mon=8,daily,full,0,no,no,60.00\n"
        ).encode(),
    )
    cc_month.import_providers(
        conn,
        clerk,
        book_id,
        f"provider_id,provider_type,county\n{provider_ref},exempt,Leeds\n".encode(),
    )
    rows, _ = childcare.list_certificates(
        conn, clerk, book_id, on=date(2026, 6, 1), search="WALK-C"
    )
    return rows[0]["id"], rows[0]["family_id"]


def _care_samples(conn, clerk, book_id: int, provider_id: int) -> tuple[int, int, int]:
    """A care run of the demo provider with an exception (a missed visit) and an
    adjustment asked for by the clerk."""
    client_id = next(iter(parties.party_ids_with_role(conn, book_id, "client")))
    monday = date(2023, 1, 2)  # before the demo's own care packages
    care.create_package(
        conn,
        clerk,
        book_id,
        NewPackage(
            "WALK-1",
            client_id,
            provider_id,
            "WALK",
            monday,
            None,
            (Slot(0, 9 * 60, 30),),
            ((monday, "20.00", "GBP"),),
        ),
    )
    care.generate_planned(conn, clerk, book_id, monday, monday)
    [summary] = care_runs.reconcile_period(conn, clerk, book_id, monday, monday, [provider_id])
    outcome_id = conn.execute(
        select(visit_outcomes.c.id).where(visit_outcomes.c.run_id == summary.run_id)
    ).scalar_one()
    adjustment_id = payables.request_adjustment(conn, clerk, book_id, summary.run_id, 100, "walk")
    return summary.run_id, outcome_id, adjustment_id


def form_for(path: str, role: str, ids: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """A sensible form for each POST, so that the service's own checks run too."""
    samples: dict[str, dict[str, Any]] = {
        "/b/{book}/cases/assign": {"case_id": [ids["case_id"]], "owner": "-"},
        "/b/{book}/cases": {"case_type": "helpdesk", "title": f"walk {role}"},
        "/b/{book}/cases/{case_id}/transition": {"action": "start", "version": 1},
        "/b/{book}/cases/{case_id}/comment": {"body": f"walk {role}"},
        "/b/{book}/cases/{case_id}/assign": {"owner": "-"},
        "/b/{book}/cases/{case_id}/link": {"object_type": "entry", "object_id": role},
        "/b/{book}/parties/{party_id}/bank-change": {
            "scheme": "uk_sort_code",
            "sort_code": "200001",
            "account_number": "12345678",
            "reason": "walk",
        },
        "/b/{book}/bank-changes/{change_id}/approve": {"note": "walk"},
        "/b/{book}/childcare/certificates/{certificate_id}/versions": {
            "version_from": f"2026-0{3 + len(role) % 6}-{10 + len(role)}",
            "provider_rate": f"6{len(role)}.00",
            "reason": f"walk {role}",
        },
        "/b/{book}/childcare/months/{month}/adjustments": {
            "certificate_ref": "WALK-C",
            "amount": "1.00",
            "reason": f"walk {role}",
        },
        "/b/{book}/childcare/months/{month}/consents": {"provider": "-", "given_on": "2026-01-02"},
        "/b/{book}/childcare/providers/{party_id}/documents": {
            "kind": "w9",
            "status": "received",
            "valid_from": f"2026-{1 + len(role) % 12:02d}-{1 + len(role)}",
        },
        "/b/{book}/childcare/providers/{party_id}/provisional": {"start": "2026-01-02"},
        "/b/{book}/childcare/certificates/{certificate_id}/notices": {
            "version_from": "2026-01-01",
            "language": "es",
        },
        "/b/{book}/bank-changes/{change_id}/reject": {"note": "walk"},
        "/b/{book}/admin/users": {
            "username": f"walk-{role}",
            "role": "clerk",
            "password": "a long enough password",
        },
        "/b/{book}/admin/tokens": {"name": "walk", "scope": ["cases:read"]},
        "/portal/{book}/queries": {"subject": "walk", "body": "walk"},
        "/b/{book}/parties/{party_id}/calls": {"direction": "out", "call_subject": "walk"},
        "/b/{book}/admin/webhooks": {"url": "https://example.org/hook", "event_type": ["*"]},
        "/b/{book}/admin/webhooks/{subscription_id}/active": {"active": "true"},
        "/b/{book}/parties/{party_id}/letters": {
            "template": "general",
            "channel": "letter",
            "locale": "es",
            "subject": "walk",
            "body": "Carta de prueba",
        },
        "/portal/{book}/queries/{case_id}/comment": {"body": "walk"},
        "/b/{book}/care/plan": {"from": "2026-01-12", "to": "2026-01-12"},
        "/b/{book}/care/import": {"kind": "actual"},
        "/b/{book}/care/reconcile": {"from": "2026-01-12", "to": "2026-01-12"},
        "/b/{book}/care/outcomes/{outcome_id}/decide": {"decision": "reject", "reason": "walk"},
        "/b/{book}/care/runs/{run_id}/adjustments": {"amount": "1.00", "reason": "walk"},
        "/b/{book}/care/adjustments/{adjustment_id}/decide": {"approve": "true"},
        "/b/{book}/care/providers/{party_id}/hold": {"reason": "walk"},
        "/b/{book}/care/visits/{visit_id}/status": {"status": "frustrated", "reason": "walk"},
        "/b/{book}/care/policy": {"from": "2023-01-02", "tolerance_minutes": "5"},
        "/b/{book}/payments/runs": {"pay_date": "2026-12-31", "note": "walk"},
        "/b/{book}/payments/runs/{pay_run_id}/approve": {"version": 1},
        "/b/{book}/payments/runs/{pay_run_id}/release": {"version": 1},
        "/b/{book}/payments/runs/{pay_run_id}/cancel": {"version": 1, "reason": "walk"},
        "/b/{book}/payments/runs/{pay_run_id}/sent": {"version": 1},
        "/b/{book}/payments/runs/{pay_run_id}/settle": {"settled_on": "2026-12-31"},
        "/b/{book}/payment/{payment_id}/return": {"code": "R01", "returned_on": "2026-12-31"},
        # audit.verify also needs audit.read; a clerk's pick of a file kind is refused (422).
        "/b/{book}/jobs": {
            "kind": "audit.verify" if role in ("admin", "manager") else "ledger.post_file"
        },
        # The arbitration case awaits the provider, whose answer is its one portal step.
        "/portal/{book}/queries/{case_id}/transition": {
            "action": "respond",
            "version": 2,
            "reason": "the carer was ill",
        },
    }
    files = (
        {"file": TXT}
        if path.endswith(
            ("/attach", "/documents", "/post-file", "/import", "/visits", "/absences", "/consents")
        )
        else None
    )
    return samples.get(path, {}), files


def expected(route: R, role: str) -> bool:
    """May this role pass the route's declared need (and own the sample objects)?"""
    [need] = needs_of(route)
    if role == "anonymous":
        return False
    if isinstance(need, SignedIn):
        return True
    if role == "other-book":
        return False
    if isinstance(need, NeedPortal):
        # The sample case and document are demo-provider's: the client's portal must not
        # reach them by editing the URL.
        if "{case_id}" in route.path or "{document_id}" in route.path:
            return role == "provider"
        kinds = (
            ("provider", "client")
            if need.permission is None
            else (need.permission.value.split(".")[1],)
        )  # portal.provider: "provider"
        return role in kinds
    permission = need.permission
    if route.path.endswith("/cases/{case_id}/transition"):
        permission = Permission.CASE_WORK  # "start" needs it (the case type says so)
    return staff_may(role, permission)


def refused_with(route: R, role: str) -> int:
    """403, but a portal answers another party's case or document as a missing one."""
    [need] = needs_of(route)
    object_page = "{case_id}" in route.path or "{document_id}" in route.path
    portal_user = role in ("provider", "client")
    return 404 if isinstance(need, NeedPortal) and object_page and portal_user else 403


def page_routes(app) -> list[tuple[R, str]]:
    out = []
    for route in flat_routes(app):
        if route.path.startswith("/api/"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            if (route.path, method) in PUBLIC:
                continue
            out.append((route, method))
    return out


def test_every_route_declares_exactly_one_need(world):
    missing = []
    routes = flat_routes(world["app"])
    assert len(routes) > 40
    for route in routes:
        for method in route.methods - {"HEAD"}:
            if (route.path, method) not in PUBLIC and len(needs_of(route)) != 1:
                missing.append(f"{method} {route.path}: {needs_of(route)}")
    assert missing == []


def test_every_page_for_every_role_follows_the_matrix(world):
    ids, wrong = world["ids"], []
    routes = page_routes(world["app"])
    assert len(routes) > 40
    for route, method in routes:
        if route.path == "/logout":
            continue  # signs the session out; tested on its own
        url = url_of(route.path, ids)
        if route.path.endswith("/queries/{case_id}/transition"):
            url = url_of(route.path, {**ids, "case_id": ids["arbitration_id"]})
        for role, client in world["clients"].items():
            if method == "GET":
                answer = client.get(url, follow_redirects=False)
            else:
                data, files = form_for(route.path, role, ids)
                data["csrf_token"] = world["csrf"].get(role, "")
                answer = client.post(url, data=data, files=files, follow_redirects=False)
            allowed = expected(route, role)
            to_login = answer.status_code == 303 and answer.headers["location"].startswith("/login")
            refused = answer.status_code in (401, 403) or to_login
            if allowed and refused:
                wrong.append(f"{role} refused {method} {url}: {answer.status_code}")
            elif not allowed:
                if role == "anonymous" and not to_login:
                    wrong.append(f"anonymous not sent to sign in at {method} {url}")
                elif role != "anonymous" and answer.status_code != refused_with(route, role):
                    wrong.append(f"{role} not refused {method} {url}: {answer.status_code}")
                leaked = [m for m in ids["markers"] if m in answer.text]
                if leaked:
                    wrong.append(f"{role} saw {leaked} at {method} {url}")
    assert wrong == []


def test_a_post_without_the_session_csrf_token_is_refused(world):
    client, ids = world["clients"]["clerk"], world["ids"]
    answer = client.post(
        f"/b/{BOOK}/cases/{ids['case_id']}/comment",
        data={"body": "no token"},
        follow_redirects=False,
    )
    assert answer.status_code == 403 and "CSRF" in answer.text
    answer = client.post(
        f"/b/{BOOK}/cases/{ids['case_id']}/comment",
        data={"body": "forged", "csrf_token": world["csrf"]["manager"]},
    )
    assert answer.status_code == 403


def api_routes(app) -> list[tuple[R, str]]:
    return [
        (r, m)
        for r in flat_routes(app)
        if r.path.startswith("/api/v1/books/")
        for m in sorted(r.methods - {"HEAD"})
    ]


@pytest.fixture(scope="module")
def api_tokens(world):
    """A full-scope token for one user of each staff role, one of the other book, and a
    read-only one."""
    database, made = world["db"], {}
    with database.write() as conn:
        book_id = world["ids"]["book_id"]
        admin = actor_for(conn, f"demo-admin@{BOOK}")
        for role in ("admin", "manager", "approver", "clerk", "auditor"):
            owner = actor_for(conn, f"demo-{role}@{BOOK}")
            made[role] = tokens.issue_token(
                conn, admin, book_id, role, list(tokens.SCOPES), user_id=owner.user_id
            ).token
        made["cases-read-only"] = tokens.issue_token(
            conn, admin, book_id, "ro", ["cases:read"]
        ).token
        other = ledger.book_id_for(conn, "valley-app")
        made["other-book"] = tokens.issue_token(
            conn, actor_for(conn, "demo-admin@valley-app"), other, "x", list(tokens.SCOPES)
        ).token
    return made


def test_every_api_endpoint_for_every_token_follows_the_matrix(world, api_tokens):
    client, ids, wrong = world["clients"]["anonymous"], world["ids"], []
    routes = api_routes(world["app"])
    assert len(routes) >= 10
    for route, method in routes:
        [need] = needs_of(route)
        url = url_of(route.path, ids)
        for name, token in (*api_tokens.items(), ("none", "")):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if method == "POST":
                headers["Idempotency-Key"] = f"walk-{name}-{url}"
                answer = client.post(url, json={}, headers=headers)
            else:
                answer = client.get(url, headers=headers)
            if name in {"none", "other-book"}:
                allowed = False
            elif name == "cases-read-only":
                allowed = need.permission in tokens.SCOPES["cases:read"] and staff_may(
                    "admin", need.permission
                )
            else:
                allowed = staff_may(name, need.permission)
            refused = answer.status_code in (401, 403)
            if allowed == refused:
                wrong.append(
                    f"{name}: {method} {url} -> {answer.status_code} "
                    f"(expected {'allowed' if allowed else 'refused'})"
                )
            if refused:
                assert answer.headers["content-type"].startswith("application/problem+json")
                leaked = [m for m in ids["markers"] if m in answer.text]
                assert not leaked
    assert wrong == []


WRITES = frozenset(p for p in Permission if p.kind is Kind.WRITE)
# What each role may change, written out: a grant added to PERMISSIONS must be added here.
EXPECTED_WRITES: dict[Role, set[str]] = {
    Role.ADMIN: {
        "ledger.post",
        "accounts.manage",
        "party.edit",
        "users.manage",
        "book.admin",
        "case.work",
        "case.assign",
        "case.take",
        "document.upload",
        "correspondence.send",
        "jobs.run",
        "api_tokens.manage",
        "webhooks.manage",
        "care.import",
        "childcare.edit",
    },
    Role.MANAGER: {
        "ledger.post",
        "ledger.reverse",
        "accounts.manage",
        "period.close",
        "period.reopen",
        "party.edit",
        "party.bank.request",
        "party.bank.approve",
        "case.work",
        "case.assign",
        "case.escalate",
        "case.take",
        "document.upload",
        "correspondence.send",
        "jobs.run",
        "care.import",
        "care.run",
        "care.decide",
        "care.policy",
        "care.approve",
        "childcare.edit",
        "payment.prepare",
        "payment.approve",
        "payment.release",
    },
    Role.APPROVER: {"party.bank.approve", "care.approve", "payment.approve", "payment.release"},
    Role.CLERK: {
        "ledger.post",
        "party.edit",
        "party.bank.request",
        "case.work",
        "case.take",
        "document.upload",
        "correspondence.send",
        "jobs.run",
        "care.import",
        "care.run",
        "care.decide",
        "childcare.edit",
        "payment.prepare",
    },
    Role.AUDITOR: set(),
    Role.PROVIDER: {"portal.provider"},
    Role.CLIENT: {"portal.client"},
}


def writes_of(role: Role) -> set[str]:
    return {p.value for p in WRITES if role in PERMISSIONS[p]}


def test_every_permission_declares_whether_it_reads_or_writes():
    assert {p.kind for p in Permission} == {Kind.READ, Kind.WRITE}
    reads = {p.value for p in Permission if p.kind is Kind.READ}
    # Reading names: a permission that only shows things says so in its name.
    assert all(r.endswith((".read", ".view")) for r in reads), reads
    assert {"ledger.reverse", "period.reopen", "care.decide", "book.admin"} <= {
        p.value for p in WRITES
    }


def test_auditors_hold_no_write_permission():
    auditor = Actor("a", roles={1: frozenset({Role.AUDITOR})})
    assert not [p.value for p in WRITES if auditor.can(1, p)]
    assert [p for p in Permission if p.kind is Kind.READ and not auditor.can(1, p)] == [
        Permission.BANK_DETAILS_VIEW  # full bank details are for approvers only
    ]


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_may_change_exactly_what_it_is_meant_to(role):
    assert writes_of(role) == EXPECTED_WRITES[role]


def test_the_matrix_has_separate_portals():
    provider = Actor("p", roles={1: frozenset({Role.PROVIDER})}, parties={1: 5})
    assert [p for p in Permission if provider.can(1, p)] == [Permission.PORTAL_PROVIDER]
