"""The provider and client portals: a party's own statement, payments, queries and files.

Every page takes the party from the signed-in user's binding, never from the URL, so a user
who edits a URL can reach nothing of another party: a case or document that is not theirs
answers 404 with the same page as one that does not exist (``_yours``), so that a guessed
number does not tell whether it is someone else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from remit.access.model import Permission
from remit.cases import service as cases
from remit.documents import service as documents
from remit.errors import NotFound, ValidationFailed
from remit.ledger import service as ledger
from remit.ledger.model import StatementLine
from remit.money import Money
from remit.parties.service import get_party_public
from remit.payments import remittance
from remit.reports.tables import Column, Kind, table_csv
from remit.web import forms
from remit.web.deps import Ctx, Id, NeedPortal, field_errors
from remit.web.downloads import download, file_response

router = APIRouter(prefix="/portal/{book}")
Portal = Annotated[Ctx, Depends(NeedPortal())]
LINES = 100


@contextmanager
def _yours(kind: str) -> Iterator[None]:
    """Another party's case or document answers as a missing one (the services say so):
    404 with the same page, whatever the service's own words. A step the user may not take
    on its own case stays a refusal (403)."""
    try:
        yield
    except NotFound:
        raise NotFound(f"there is no such {kind} of yours") from None


def _party(ctx: Ctx) -> int:
    party_id = ctx.actor.party_in(ctx.book_id)
    assert party_id is not None  # NeedPortal checked it
    return party_id


def _statement(
    ctx: Ctx, limit: int = LINES
) -> tuple[dict[str, Any], list[Any], list[tuple[StatementLine, int]]]:
    party_id = _party(ctx)
    with ctx.db.read() as conn:
        party = get_party_public(conn, ctx.actor, ctx.book_id, party_id)
        balances = ledger.party_balances_by_account(
            conn, ctx.actor, ctx.book_id, party_id, portal=True
        )
        lines = ledger.party_activity(
            conn, ctx.actor, ctx.book_id, party_id, limit=limit, portal=True
        )
    running: dict[tuple[str, str], int] = {
        (b.account_code, b.currency): b.balance_minor for b in balances
    }
    with_balance = []
    for line in lines:  # newest first: the balance after each line, walking backwards
        key = (line.account_code, line.currency)
        with_balance.append((line, running.get(key, 0)))
        running[key] = running.get(key, 0) - line.amount_minor
    return party, balances, with_balance


@router.get("", response_class=HTMLResponse)
def home(ctx: Portal) -> HTMLResponse:
    party, balances, lines = _statement(ctx)
    return ctx.page("portal/home.html", nav="home", party=party, balances=balances, lines=lines)


STATEMENT_COLUMNS = (
    Column("date", "date", Kind.DATE),
    Column("entry", "entry", Kind.INT),
    Column("description", "description", Kind.TEXT),
    Column("account", "account", Kind.TEXT),
    Column("currency", "currency", Kind.LABEL),
    Column("amount", "amount", Kind.DECIMAL),
    Column("balance", "balance", Kind.DECIMAL),
)


@router.get("/statement.csv")
def statement_csv(ctx: Portal) -> Response:
    party, _, lines = _statement(ctx, limit=5000)
    rows = (
        {
            "date": line.entry_date,
            "entry": line.entry_id,
            "description": line.description,
            "account": line.account_name,
            "currency": line.currency,
            "amount": Money(line.amount_minor, line.currency).to_decimal(),
            "balance": Money(balance, line.currency).to_decimal(),
        }
        for line, balance in lines
    )
    return download(table_csv(STATEMENT_COLUMNS, rows), "text/csv", f"statement-{party['ref']}.csv")


@router.get("/remittances", response_class=HTMLResponse)
def remittances(ctx: Portal) -> HTMLResponse:
    party, _, lines = _statement(ctx, limit=500)
    # A payment to a provider reduces what is owed (a debit on its payable); a client's
    # payment reduces what it owes (a credit on its receivable).
    provider = "provider" in party["roles"]
    paid = [
        (line, b)
        for line, b in lines
        if (line.amount_minor > 0) == provider and line.account_code.startswith(("1", "2"))
    ]
    payments: list[Any] = []
    if provider and ctx.can(Permission.PORTAL_PROVIDER):
        with ctx.db.read() as conn:
            payments = remittance.portal_payments(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "portal/remittances.html",
        nav="remittances",
        party=party,
        lines=paid,
        provider=provider,
        payments=payments,
    )


@router.get("/remittances/{payment_id}.{fmt}")
def remittance_advice(ctx: Portal, payment_id: Id, fmt: str) -> Response:
    """One of the provider's own payments' remittance advice, PDF or CSV; another party's
    payment answers as a missing one."""
    if fmt not in ("pdf", "csv"):
        raise NotFound("no such file")
    with _yours("payment"), ctx.db.read() as conn:
        advice = remittance.advice(conn, ctx.actor, ctx.book_id, payment_id)
    name = f"remittance-{advice.payment.reference}.{fmt}"
    if fmt == "pdf":
        return download(remittance.advice_pdf(advice), "application/pdf", name)
    return download(remittance.advice_csv(advice), "text/csv", name)


@router.get("/queries", response_class=HTMLResponse)
def queries(ctx: Portal) -> HTMLResponse:
    with ctx.db.read() as conn:
        rows = cases.portal_cases(conn, ctx.actor, ctx.book_id)
    return ctx.page("portal/queries.html", nav="queries", rows=rows, errors={}, values={})


@router.post("/queries", response_class=HTMLResponse)
def query_submit(
    ctx: Portal,
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "portal.query")
            case_id = cases.portal_raise_query(conn, ctx.actor, ctx.book_id, subject, body)
            target = f"/portal/{ctx.code}/queries/{case_id}"
            forms.spend(conn, ctx, once, "portal.query", target)
    except ValidationFailed as exc:
        with ctx.db.read() as conn:
            rows = cases.portal_cases(conn, ctx.actor, ctx.book_id)
        errors = field_errors(exc)
        if "title" in errors:
            errors["subject"] = errors.pop("title")
        if "description" in errors:
            errors["body"] = errors.pop("description")
        return ctx.page(
            "portal/queries.html",
            422,
            nav="queries",
            rows=rows,
            errors=errors,
            values={"subject": subject, "body": body},
        )
    return RedirectResponse(target, status_code=303)


@router.get("/queries/{case_id}", response_class=HTMLResponse)
def query_page(ctx: Portal, case_id: Id) -> HTMLResponse:
    return _query(ctx, case_id, {})


def _query(ctx: Ctx, case_id: Id, errors: dict[str, list[str]], status: int = 200) -> HTMLResponse:
    with _yours("query"), ctx.db.read() as conn:
        found = cases.portal_case(conn, ctx.actor, ctx.book_id, case_id)
    return ctx.page("portal/query.html", status, nav="queries", case=found, errors=errors)


@router.post("/queries/{case_id}/comment", response_class=HTMLResponse)
def query_comment(
    ctx: Portal, case_id: Id, body: Annotated[str, Form()] = "", once: forms.Once = ""
) -> Response:
    target = f"/portal/{ctx.code}/queries/{case_id}"
    try:
        with _yours("query"), ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "portal.comment")
            cases.comment(conn, ctx.actor, ctx.book_id, case_id, body)
            forms.spend(conn, ctx, once, "portal.comment", target)
    except ValidationFailed as exc:
        return _query(ctx, case_id, field_errors(exc), 422)
    return RedirectResponse(target, status_code=303)


@router.post("/queries/{case_id}/transition", response_class=HTMLResponse)
def query_transition(
    ctx: Portal,
    case_id: Id,
    action: Annotated[str, Form()],
    version: Annotated[int, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with _yours("query"), ctx.db.write() as conn:
            cases.transition(conn, ctx.actor, ctx.book_id, case_id, action, reason, version)
    except ValidationFailed as exc:
        return _query(ctx, case_id, field_errors(exc), 422)
    return RedirectResponse(f"/portal/{ctx.code}/queries/{case_id}", status_code=303)


@router.post("/queries/{case_id}/attach", response_class=HTMLResponse)
def query_attach(
    ctx: Portal, case_id: Id, file: Annotated[UploadFile, File()], once: forms.Once = ""
) -> Response:
    content = file.file.read()
    target = f"/portal/{ctx.code}/queries/{case_id}"
    try:
        with _yours("query"), ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "portal.attach")
            cases.attach(conn, ctx.actor, ctx.book_id, case_id, file.filename or "", content)
            forms.spend(conn, ctx, once, "portal.attach", target)
    except ValidationFailed as exc:
        return _query(ctx, case_id, field_errors(exc), 422)
    return RedirectResponse(target, status_code=303)


@router.get("/documents", response_class=HTMLResponse)
def documents_page(ctx: Portal) -> HTMLResponse:
    return _documents(ctx, {})


def _documents(ctx: Ctx, errors: dict[str, list[str]], status: int = 200) -> HTMLResponse:
    with ctx.db.read() as conn:
        docs = documents.portal_documents(conn, ctx.actor, ctx.book_id)
    return ctx.page("portal/documents.html", status, nav="documents", docs=docs, errors=errors)


@router.post("/documents", response_class=HTMLResponse)
def documents_upload(
    ctx: Portal,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    content = file.file.read()
    target = f"/portal/{ctx.code}/documents?uploaded=1"
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "portal.document")
            documents.portal_upload(
                conn, ctx.actor, ctx.book_id, file.filename or "", content, title
            )
            forms.spend(conn, ctx, once, "portal.document", target)
    except ValidationFailed as exc:
        return _documents(ctx, field_errors(exc), 422)
    return RedirectResponse(target, status_code=303)


@router.get("/documents/{document_id}")
def document_download(ctx: Portal, document_id: Id) -> Response:
    allowed = {("party", _party(ctx))}
    with _yours("document"), ctx.db.read() as conn:
        kind, object_id = documents.document_owner(conn, ctx.book_id, document_id)
        if kind == "case":  # a file of one of its own shared cases, or 404
            cases.portal_case_row(conn, ctx.actor, ctx.book_id, object_id)
            allowed.add(("case", object_id))
        found = documents.portal_download(conn, ctx.actor, ctx.book_id, document_id, allowed)
    return file_response(found)
