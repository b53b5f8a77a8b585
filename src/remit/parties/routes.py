"""Pages of parties (lists by role, a party's page, bank-detail changes, documents) and the
parties API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from remit.access.model import Permission
from remit.care import views as care_views
from remit.documents import service as documents
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.model import BANK_FIELD_SPECS, BankDetails, BankScheme, PartyKind, PartyRole
from remit.parties.page import party_page_response
from remit.web import forms
from remit.web.api import (
    IDEMPOTENT,
    MAX_LIMIT,
    PROBLEMS,
    ApiCtx,
    ApiNeed,
    MoneyOut,
    Page,
    decode_cursor,
    encode_cursor,
    idempotent,
)
from remit.web.deps import Ctx, Id, Need, field_errors
from remit.web.downloads import file_response

P = Permission
router = APIRouter(prefix="/b/{book}")
api = APIRouter(prefix="/api/v1/books/{book}/parties", tags=["parties"], responses=PROBLEMS)
Read = Annotated[Ctx, Depends(Need(P.PARTY_READ))]
PAGE = 50
ROLE_TITLES = {
    "provider": "Providers",
    "client": "Clients",
    "customer": "Customers",
    "carrier": "Carriers",
    "vendor": "Vendors",
}


def _after(after: str | None) -> tuple[str, int] | None:
    if not after:
        return None
    found = decode_cursor(after)
    try:
        return str(found["name"]), int(found["id"])
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed(
            [Problem("after", "not a page marker of this list", "cursor")]
        ) from None


@router.get("/parties", response_class=HTMLResponse)
def party_list(
    ctx: Read, role: str = "", q: str = "", after: str | None = None, fragment: bool = False
) -> HTMLResponse:
    if role and role not in ROLE_TITLES:
        raise ValidationFailed([Problem("role", f"one of {', '.join(ROLE_TITLES)}", "role")])
    with ctx.db.read() as conn:
        rows = parties.party_page(
            conn, ctx.actor, ctx.book_id, role or None, q, _after(after), PAGE + 1
        )  # one past the page: is there a next one?
        held = (
            care_views.held_providers(conn, ctx.actor, ctx.book_id)
            if ctx.can(P.CARE_READ)
            else set()
        )
    nxt = (
        encode_cursor({"name": rows[PAGE - 1]["name"], "id": rows[PAGE - 1]["id"]})
        if len(rows) > PAGE
        else None
    )
    rows = rows[:PAGE]
    name = "parties/_rows.html" if fragment else "parties/list.html"
    return ctx.page(
        name,
        nav=role or "provider",
        rows=rows,
        role=role,
        q=q,
        title=ROLE_TITLES.get(role, "Parties"),
        next_page=nxt,
        held=held,
    )


@router.get("/parties/{party_id}", response_class=HTMLResponse)
def party_page(ctx: Read, party_id: Id) -> HTMLResponse:
    return party_page_response(ctx, party_id)


# ---------------------------------------------------------------- bank details


Request_ = Annotated[Ctx, Depends(Need(P.BANK_CHANGE_REQUEST))]
Approve = Annotated[Ctx, Depends(Need(P.BANK_CHANGE_APPROVE))]
View = Annotated[Ctx, Depends(Need(P.BANK_DETAILS_VIEW))]


@router.post("/parties/{party_id}/bank-change", response_class=HTMLResponse)
def bank_change_submit(
    ctx: Request_,
    party_id: Id,
    scheme: Annotated[str, Form()] = "",
    sort_code: Annotated[str, Form()] = "",
    account_number: Annotated[str, Form()] = "",
    routing_number: Annotated[str, Form()] = "",
    account_type: Annotated[str, Form()] = "",
    iban: Annotated[str, Form()] = "",
    bic: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    given = {
        "sort_code": sort_code,
        "account_number": account_number,
        "routing_number": routing_number,
        "account_type": account_type,
        "iban": iban,
        "bic": bic,
    }
    try:
        details = _details(scheme, given)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "party.bank_change")
            parties.request_bank_change(
                conn, ctx.actor, ctx.web.vault(), ctx.book_id, party_id, details, reason
            )
            target = f"/b/{ctx.code}/parties/{party_id}?requested=1"
            forms.spend(conn, ctx, once, "party.bank_change", target)
    except ValidationFailed as exc:
        return party_page_response(
            ctx,
            party_id,
            field_errors(exc),
            422,
            scheme=scheme,
            bank_form={**given, "reason": reason},
        )
    return RedirectResponse(f"/b/{ctx.code}/parties/{party_id}?requested=1", status_code=303)


def _details(scheme: str, given: dict[str, str]) -> BankDetails:
    try:
        kind = BankScheme(scheme)
    except ValueError:
        raise ValidationFailed(
            [Problem("scheme", "choose the kind of bank account", "required")]
        ) from None
    spec = BANK_FIELD_SPECS[kind]
    return BankDetails(kind, {name: given.get(name, "") for name in spec.allowed})


@router.get("/bank-changes", response_class=HTMLResponse)
def bank_changes(ctx: Read) -> HTMLResponse:
    with ctx.db.read() as conn:
        pending = parties.pending_bank_changes(conn, ctx.actor, ctx.book_id)
    return ctx.page("parties/bank_changes.html", nav="queue", pending=pending, errors={})


@router.post("/bank-changes/{change_id}/approve")
def bank_change_approve(ctx: Approve, change_id: Id, note: Annotated[str, Form()] = "") -> Response:
    with ctx.db.write() as conn:
        parties.approve_bank_change(conn, ctx.actor, ctx.book_id, change_id, note)
    return RedirectResponse(f"/b/{ctx.code}/bank-changes?approved={change_id}", status_code=303)


@router.post("/bank-changes/{change_id}/reject", response_class=HTMLResponse)
def bank_change_reject(ctx: Approve, change_id: Id, note: Annotated[str, Form()] = "") -> Response:
    try:
        with ctx.db.write() as conn:
            parties.reject_bank_change(conn, ctx.actor, ctx.book_id, change_id, note)
    except ValidationFailed as exc:
        with ctx.db.read() as conn:
            pending = parties.pending_bank_changes(conn, ctx.actor, ctx.book_id)
        return ctx.page(
            "parties/bank_changes.html",
            422,
            nav="queue",
            pending=pending,
            errors=field_errors(exc),
            failed=change_id,
        )
    return RedirectResponse(f"/b/{ctx.code}/bank-changes?rejected={change_id}", status_code=303)


@router.post("/parties/{party_id}/bank-details", response_class=HTMLResponse)
def bank_details_reveal(ctx: View, party_id: Id) -> HTMLResponse:
    """Show the full active bank details to a role allowed to see them (audited)."""
    with ctx.db.write() as conn:
        found = parties.bank_details(conn, ctx.actor, ctx.web.vault(), ctx.book_id, party_id)
    shown = dict(found.normalised().fields) if isinstance(found, BankDetails) else None
    return party_page_response(ctx, party_id, revealed=shown)


# ---------------------------------------------------------------- documents


Upload = Annotated[Ctx, Depends(Need(P.DOCUMENT_UPLOAD))]
Docs = Annotated[Ctx, Depends(Need(P.DOCUMENT_READ))]


@router.post("/parties/{party_id}/documents", response_class=HTMLResponse)
def party_upload(
    ctx: Upload,
    party_id: Id,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form()] = "",
    portal_visible: Annotated[bool, Form()] = False,
    once: forms.Once = "",
) -> Response:
    content = file.file.read()
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "party.document")
            parties.get_party(conn, ctx.actor, ctx.book_id, party_id)
            documents.attach(
                conn,
                ctx.actor,
                ctx.book_id,
                "party",
                party_id,
                file.filename or "",
                content,
                title,
                "upload",
                portal_visible,
            )
            target = f"/b/{ctx.code}/parties/{party_id}#documents"
            forms.spend(conn, ctx, once, "party.document", target)
    except ValidationFailed as exc:
        return party_page_response(ctx, party_id, field_errors(exc), 422)
    return RedirectResponse(f"/b/{ctx.code}/parties/{party_id}#documents", status_code=303)


@router.get("/documents/{document_id}")
def document_download(ctx: Docs, document_id: Id) -> Response:
    with ctx.db.read() as conn:
        found = documents.download(conn, ctx.actor, ctx.book_id, document_id)
    return file_response(found)


# ---------------------------------------------------------------- API


class PartyOut(BaseModel):
    id: int
    ref: str
    name: str
    kind: str
    roles: list[str]


class PartyDetail(PartyOut):
    identifiers: dict[str, str]
    bank_account: str | None = Field(description="Masked: never the full details")
    balances: list[dict[str, Any]]


class PartyPage(Page):
    items: list[PartyOut]


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: PartyKind
    roles: list[PartyRole] = Field(min_length=1)


ApiRead = Annotated[ApiCtx, Depends(ApiNeed(P.PARTY_READ))]
ApiEdit = Annotated[ApiCtx, Depends(ApiNeed(P.PARTY_EDIT))]


@api.get("", response_model=PartyPage, summary="List parties by name", operation_id="listParties")
def api_list(
    ctx: ApiRead,
    role: PartyRole | None = None,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    with ctx.db.read() as conn:
        rows = parties.party_page(
            conn, ctx.actor, ctx.book_id, role.value if role else None, q, _after(cursor), limit
        )
    nxt = (
        encode_cursor({"name": rows[-1]["name"], "id": rows[-1]["id"]})
        if len(rows) == limit
        else None
    )
    return {"items": rows, "next_cursor": nxt}


@api.get(
    "/{party_id}",
    response_model=PartyDetail,
    summary="One party, with balances",
    operation_id="getParty",
)
def api_get(ctx: ApiRead, party_id: Id) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return _detail(conn, ctx, party_id)


def _detail(conn: Any, ctx: ApiCtx, party_id: Id) -> dict[str, Any]:
    party = parties.get_party(conn, ctx.actor, ctx.book_id, party_id)
    balances = []
    if ctx.actor.can(ctx.book_id, P.LEDGER_READ):
        balances = [
            {
                "account": b.account_code,
                "balance": MoneyOut.of(b.balance_minor, b.currency).model_dump(),
            }
            for b in ledger.party_balances_by_account(conn, ctx.actor, ctx.book_id, party_id)
        ]
    return {
        "id": party["id"],
        "ref": party["ref"],
        "name": party["name"],
        "kind": party["kind"],
        "roles": party["roles"],
        "identifiers": party["identifiers"],
        "bank_account": party["bank_account"],
        "balances": balances,
    }


@api.post(
    "",
    response_model=PartyDetail,
    status_code=201,
    summary="Create a party",
    operation_id="createParty",
    openapi_extra=IDEMPOTENT,
)
def api_create(ctx: ApiEdit, body: PartyIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        party_id = parties.create_party(
            conn,
            ctx.actor,
            ctx.book_id,
            parties.NewParty(body.ref, body.name, body.kind, tuple(body.roles)),
        )
        return 201, _detail(conn, ctx, party_id)

    return idempotent(ctx, body.model_dump(mode="json"), effect)
