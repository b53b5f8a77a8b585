"""Pages of the work queue (My queue, all cases, a case) and the cases API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from remit.access.model import Permission, Role
from remit.access.service import users_in_book
from remit.cases import service as cases
from remit.cases.catalog import TEAMS
from remit.cases.model import CASE_TYPES, NewCase, Priority
from remit.db import MAX_ID
from remit.errors import Problem, ValidationFailed
from remit.parties.service import pending_bank_changes
from remit.web import forms
from remit.web.api import (
    IDEMPOTENT,
    MAX_LIMIT,
    PROBLEMS,
    ApiCtx,
    ApiNeed,
    Page,
    decode_cursor,
    encode_cursor,
    idempotent,
)
from remit.web.deps import Ctx, Id, Need, field_errors

P = Permission
router = APIRouter(prefix="/b/{book}")
api = APIRouter(prefix="/api/v1/books/{book}/cases", tags=["cases"], responses=PROBLEMS)
Read = Annotated[Ctx, Depends(Need(P.CASE_READ))]
Work = Annotated[Ctx, Depends(Need(P.CASE_WORK))]
Assign = Annotated[Ctx, Depends(Need(P.CASE_ASSIGN))]
Take = Annotated[Ctx, Depends(Need(P.CASE_TAKE))]
PAGE = 50


def _workers(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return users_in_book(conn, ctx.book_id, (Role.ADMIN, Role.MANAGER, Role.CLERK))


def _after(cursor: str | None) -> tuple[date, int] | None:
    if not cursor:
        return None
    day, _, case_id = cursor.partition("~")
    try:
        return date.fromisoformat(day), int(case_id)
    except ValueError:
        raise ValidationFailed(
            [Problem("after", "not a page marker of this list", "cursor")]
        ) from None


def _next(rows: list[Any], limit: int) -> str | None:
    """The cursor of the next page: rows were read one past the page, so a next page is
    offered only when there is one (show ``rows[:limit]``)."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return f"{last.due_date.isoformat()}~{last.id}"


# ---------------------------------------------------------------- pages


@router.get("/queue", response_class=HTMLResponse)
def my_queue(ctx: Read, after: str | None = None) -> HTMLResponse:
    today = ctx.today()
    with ctx.db.read() as conn:
        rows = cases.my_queue(conn, ctx.actor, ctx.book_id, _after(after), PAGE + 1)
        counts = cases.queue_counts(conn, ctx.actor, ctx.book_id, today)
        unowned = cases.unowned_by_type(conn, ctx.actor, ctx.book_id)
        replies = cases.replies(conn, ctx.actor, ctx.book_id)
        sections = cases.queue_sections(conn, ctx.actor, ctx.book_id)
        approvals = []
        if ctx.can(P.BANK_CHANGE_APPROVE):
            approvals = [
                a
                for a in pending_bank_changes(conn, ctx.actor, ctx.book_id)
                if a["requested_by"] != ctx.actor.username
            ]
    next_page = _next(rows, PAGE)
    return ctx.page(
        "cases/queue.html",
        nav="queue",
        rows=rows[:PAGE],
        counts=counts,
        today=today,
        unowned=unowned,
        replies=replies,
        sections=sections,
        approvals=approvals,
        next_page=next_page,
        types=CASE_TYPES,
    )


@router.get("/cases", response_class=HTMLResponse)
def case_list(
    ctx: Read,
    case_type: str = "",
    state: str = "",
    owner: str = "",
    team: str = "",
    overdue: bool = False,
    closed: bool = False,
    q: str = "",
    after: str | None = None,
) -> HTMLResponse:
    today = ctx.today()
    filters = cases.CaseFilter(
        open_only=not closed,
        case_type=case_type or None,
        state=state or None,
        owner=owner or None,
        team=team or None,
        overdue_on=today if overdue else None,
        search=q,
    )
    with ctx.db.read() as conn:
        rows = cases.list_cases(conn, ctx.actor, ctx.book_id, filters, _after(after), PAGE + 1)
    query = {
        "case_type": case_type,
        "state": state,
        "owner": owner,
        "team": team,
        "overdue": "1" if overdue else "",
        "closed": "1" if closed else "",
        "q": q,
    }
    next_page = _next(rows, PAGE)
    return ctx.page(
        "cases/list.html",
        nav="queue",
        rows=rows[:PAGE],
        today=today,
        filters=query,
        types=CASE_TYPES,
        teams=TEAMS,
        workers=_workers(ctx),
        next_page=next_page,
        errors={},
    )


@router.post("/cases/assign")
def bulk_assign(
    ctx: Assign,
    case_id: Annotated[list[int] | None, Form()] = None,
    owner: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    with ctx.db.write() as conn:
        count = cases.assign(
            conn,
            ctx.actor,
            ctx.book_id,
            case_id or [],
            owner if owner not in ("", "-") else None,
            team or None,
        )
    target = back if back.startswith(f"/b/{ctx.code}/") else f"/b/{ctx.code}/cases"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}assigned={count}", status_code=303)


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_form(ctx: Work, party_id: int | None = None) -> HTMLResponse:
    return _new_form(
        ctx, {"party_id": party_id or "", "case_type": "helpdesk", "priority": "2"}, {}
    )


def _new_form(
    ctx: Ctx, values: dict[str, Any], errors: dict[str, list[str]], status: int = 200
) -> HTMLResponse:
    return ctx.page(
        "cases/new.html",
        status,
        nav="queue",
        values=values,
        errors=errors,
        types=CASE_TYPES,
        workers=_workers(ctx),
        priorities=list(Priority),
    )


@router.post("/cases", response_class=HTMLResponse)
def new_case_submit(
    ctx: Work,
    case_type: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    priority: Annotated[int, Form()] = 2,
    party_id: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    values = {
        "case_type": case_type,
        "title": title,
        "description": description,
        "priority": priority,
        "party_id": party_id,
        "owner": owner,
    }
    party_text = party_id.strip()
    party = int(party_text) if party_text.isdigit() and len(party_text) < 10 else None
    # Every problem of the form at once: the party number's with the case's own.
    problems = (
        [Problem("party_id", "a party number", "party_id")]
        if (party_text and party is None)
        else []
    )
    new = NewCase(case_type, title, description, _priority(priority), party, owner or None)
    try:
        problems += cases.case_problems(new)
        if problems:
            raise ValidationFailed(problems)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "case.new")
            case_id = cases.open_case(conn, ctx.actor, ctx.book_id, new)
            target = forms.spend(conn, ctx, once, "case.new", f"/b/{ctx.code}/cases/{case_id}")
    except ValidationFailed as exc:
        return _new_form(ctx, values, field_errors(exc), 422)
    return RedirectResponse(target, status_code=303)


def _priority(value: int) -> Priority:
    """The priority, or the bare number (which ``case_problems`` then reports)."""
    try:
        return Priority(value)
    except ValueError:
        return value  # type: ignore[return-value]


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(ctx: Read, case_id: Id) -> HTMLResponse:
    return _case_page(ctx, case_id, {})


def _case_page(
    ctx: Ctx, case_id: Id, errors: dict[str, list[str]], status: int = 200
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = cases.get_case(conn, ctx.actor, ctx.book_id, case_id)
    return ctx.page(
        "cases/case.html",
        status,
        nav="queue",
        case=found,
        errors=errors,
        workers=_workers(ctx),
        today=ctx.today(),
        teams=TEAMS,
    )


def _back(ctx: Ctx, case_id: Id) -> RedirectResponse:
    return RedirectResponse(f"/b/{ctx.code}/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/transition", response_class=HTMLResponse)
def case_transition(
    ctx: Read,
    case_id: Id,
    action: Annotated[str, Form()],
    version: Annotated[int, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    # The permission of each transition is in the case type; the service checks it.
    try:
        with ctx.db.write() as conn:
            cases.transition(conn, ctx.actor, ctx.book_id, case_id, action, reason, version)
    except ValidationFailed as exc:
        return _case_page(ctx, case_id, field_errors(exc), 422)
    return _back(ctx, case_id)


@router.post("/cases/{case_id}/comment", response_class=HTMLResponse)
def case_comment(
    ctx: Work,
    case_id: Id,
    body: Annotated[str, Form()] = "",
    portal_visible: Annotated[bool, Form()] = False,
    once: forms.Once = "",
) -> Response:
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "case.comment")
            cases.comment(conn, ctx.actor, ctx.book_id, case_id, body, portal_visible)
            forms.spend(conn, ctx, once, "case.comment", f"/b/{ctx.code}/cases/{case_id}")
    except ValidationFailed as exc:
        return _case_page(ctx, case_id, field_errors(exc), 422)
    return _back(ctx, case_id)


@router.post("/cases/{case_id}/attach", response_class=HTMLResponse)
def case_attach(
    ctx: Work,
    case_id: Id,
    file: Annotated[UploadFile, File()],
    portal_visible: Annotated[bool, Form()] = False,
    once: forms.Once = "",
) -> Response:
    content = file.file.read()
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "case.attach")
            cases.attach(
                conn, ctx.actor, ctx.book_id, case_id, file.filename or "", content, portal_visible
            )
            forms.spend(conn, ctx, once, "case.attach", f"/b/{ctx.code}/cases/{case_id}")
    except ValidationFailed as exc:
        return _case_page(ctx, case_id, field_errors(exc), 422)
    return _back(ctx, case_id)


@router.post("/cases/{case_id}/assign", response_class=HTMLResponse)
def case_assign(
    ctx: Assign,
    case_id: Id,
    owner: Annotated[str, Form()] = "",
    team: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        with ctx.db.write() as conn:
            cases.assign(
                conn,
                ctx.actor,
                ctx.book_id,
                [case_id],
                owner if owner not in ("", "-") else None,
                team or None,
                note,
            )
    except ValidationFailed as exc:
        return _case_page(ctx, case_id, field_errors(exc), 422)
    return _back(ctx, case_id)


@router.post("/cases/{case_id}/take", response_class=HTMLResponse)
def case_take(ctx: Take, case_id: Id, version: Annotated[int | None, Form()] = None) -> Response:
    with ctx.db.write() as conn:
        cases.take(conn, ctx.actor, ctx.book_id, case_id, version)
    return _back(ctx, case_id)


@router.post("/cases/{case_id}/link", response_class=HTMLResponse)
def case_link(
    ctx: Work,
    case_id: Id,
    object_type: Annotated[str, Form()] = "",
    object_id: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
) -> Response:
    try:
        with ctx.db.write() as conn:
            cases.link(conn, ctx.actor, ctx.book_id, case_id, object_type, object_id, label)
    except ValidationFailed as exc:
        return _case_page(ctx, case_id, field_errors(exc), 422)
    return _back(ctx, case_id)


# ---------------------------------------------------------------- API


class CaseOut(BaseModel):
    id: int
    case_type: str
    state: str
    is_open: bool
    title: str
    priority: int = Field(ge=1, le=4)
    owner: str | None
    team: str
    party_id: int | None
    opened_on: date
    due_date: date
    escalation_level: int
    version: int


class CasePage(Page):
    items: list[CaseOut]


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_type: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=cases.MAX_BODY)
    priority: int = Field(default=2, ge=1, le=4)
    party_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    owner: str | None = Field(default=None, max_length=100)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(min_length=1, max_length=32)
    reason: str = Field(default="", max_length=cases.MAX_BODY)
    expected_version: int | None = Field(default=None, ge=1, le=MAX_ID)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=cases.MAX_BODY)
    portal_visible: bool = False


def _out(row: Any) -> dict[str, Any]:
    keys = CaseOut.model_fields
    data: dict[str, Any] = row if isinstance(row, dict) else {k: getattr(row, k) for k in keys}
    values: dict[str, Any] = {k: data[k] for k in keys}
    values["priority"] = int(values["priority"])
    return CaseOut.model_validate(values).model_dump(mode="json")


ApiRead = Annotated[ApiCtx, Depends(ApiNeed(P.CASE_READ))]
ApiWork = Annotated[ApiCtx, Depends(ApiNeed(P.CASE_WORK))]


@api.get("", response_model=CasePage, summary="List cases by due date", operation_id="listCases")
def api_list(
    ctx: ApiRead,
    open_only: bool = True,
    case_type: str | None = None,
    owner: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor).get("after")
    key = None
    if after is not None:
        try:
            key = (date.fromisoformat(str(after[0])), int(after[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            raise ValidationFailed(
                [Problem("cursor", "not a cursor of this list", "cursor")]
            ) from None
    filters = cases.CaseFilter(open_only=open_only, case_type=case_type, owner=owner)
    with ctx.db.read() as conn:
        rows = cases.list_cases(conn, ctx.actor, ctx.book_id, filters, key, limit)
    nxt = (
        encode_cursor({"after": [rows[-1].due_date.isoformat(), rows[-1].id]})
        if len(rows) == limit
        else None
    )
    return {"items": [_out(r) for r in rows], "next_cursor": nxt}


@api.get("/{case_id}", response_model=CaseOut, summary="One case", operation_id="getCase")
def api_get(ctx: ApiRead, case_id: Id) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return _out(cases.get_case(conn, ctx.actor, ctx.book_id, case_id))


@api.post(
    "",
    response_model=CaseOut,
    status_code=201,
    summary="Open a case",
    operation_id="openCase",
    openapi_extra=IDEMPOTENT,
)
def api_open(ctx: ApiWork, body: CaseIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        new = NewCase(
            body.case_type,
            body.title,
            body.description,
            Priority(body.priority),
            body.party_id,
            body.owner,
        )
        case_id = cases.open_case(conn, ctx.actor, ctx.book_id, new)
        return 201, _out(cases.get_case(conn, ctx.actor, ctx.book_id, case_id))

    return idempotent(ctx, body.model_dump(), effect)


@api.post(
    "/{case_id}/transitions",
    response_model=CaseOut,
    summary="Move a case",
    operation_id="moveCase",
    openapi_extra=IDEMPOTENT,
)
def api_transition(ctx: ApiRead, case_id: Id, body: TransitionIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        cases.transition(
            conn, ctx.actor, ctx.book_id, case_id, body.action, body.reason, body.expected_version
        )
        return 200, _out(cases.get_case(conn, ctx.actor, ctx.book_id, case_id))

    return idempotent(ctx, body.model_dump(), effect)


@api.post(
    "/{case_id}/comments",
    response_model=CaseOut,
    status_code=201,
    summary="Comment on a case",
    operation_id="commentOnCase",
    openapi_extra=IDEMPOTENT,
)
def api_comment(ctx: ApiWork, case_id: Id, body: CommentIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        cases.comment(conn, ctx.actor, ctx.book_id, case_id, body.body, body.portal_visible)
        return 201, _out(cases.get_case(conn, ctx.actor, ctx.book_id, case_id))

    return idempotent(ctx, body.model_dump(), effect)
