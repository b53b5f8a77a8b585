"""Admin pages of a book: users and their roles, sign-in lockouts, API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from remit.access import tokens
from remit.access.model import STAFF_ROLES, Permission, Role
from remit.access.service import USERNAME, add_user, password_problems, users_in_book
from remit.access.sessions import unlock
from remit.db import MAX_ID
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.parties.service import party_id_for
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors

P = Permission
router = APIRouter(prefix="/b/{book}/admin")
Staff = Annotated[Ctx, Depends(Need(P.JOBS_READ))]
Users = Annotated[Ctx, Depends(Need(P.USERS_MANAGE))]
Tokens = Annotated[Ctx, Depends(Need(P.API_TOKENS_MANAGE))]


@router.get("", response_class=HTMLResponse)
def admin_home(ctx: Staff) -> HTMLResponse:
    return ctx.page("access/admin.html", nav="admin")


@router.get("/users", response_class=HTMLResponse)
def users_page(ctx: Users) -> HTMLResponse:
    return _users(ctx, {}, {})


def _users(
    ctx: Ctx, values: dict[str, Any], errors: dict[str, list[str]], status: int = 200
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = users_in_book(conn, ctx.book_id)
    return ctx.page(
        "access/users.html",
        status,
        nav="admin",
        users=found,
        values=values,
        errors=errors,
        roles=[r.value for r in Role],
    )


@router.post("/users", response_class=HTMLResponse)
def users_add(
    ctx: Users,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    party_ref: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    values = {
        "username": username,
        "display_name": display_name,
        "email": email,
        "role": role,
        "party_ref": party_ref,
    }
    name = username.strip().lower()
    chosen = Role(role) if role in {r.value for r in Role} else None
    # Every problem of the form at once, before anything is written.
    problems = [] if chosen else [Problem("role", "choose a role", "required")]
    portal = chosen in (Role.PROVIDER, Role.CLIENT)
    if portal and not party_ref.strip():
        problems.append(
            Problem("party_ref", "a portal user needs the reference of its party", "required")
        )
    if not USERNAME.match(name):
        problems.append(
            Problem("username", "2 to 100 lower-case letters, digits, . _ @ -", "username_format")
        )
    problems += password_problems(password)
    try:
        if problems:
            raise ValidationFailed(problems)
        assert chosen is not None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "access.user")
            party = party_id_for(conn, ctx.book_id, party_ref.strip()) if portal else None
            add_user(
                conn, ctx.actor, name, password, display_name, email, [(ctx.book_id, chosen)], party
            )
            target = f"/b/{ctx.code}/admin/users?added={name}"
            forms.spend(conn, ctx, once, "access.user", target)
    except ValidationFailed as exc:
        return _users(ctx, values, field_errors(exc), 422)
    except NotFound as exc:
        return _users(ctx, values, {"party_ref": [str(exc)]}, 422)
    except Conflict as exc:
        return _users(ctx, values, {"username": [str(exc)]}, 409)
    return RedirectResponse(target, status_code=303)


@router.post("/users/{user_id}/unlock")
def users_unlock(ctx: Users, user_id: Id) -> Response:
    with ctx.db.write() as conn:
        unlock(conn, ctx.actor, ctx.book_id, user_id)
    return RedirectResponse(f"/b/{ctx.code}/admin/users?unlocked={user_id}", status_code=303)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(
    ctx: Tokens, made: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    """The tokens; ``made``: the one a form sent twice made (its text was shown once)."""
    return _tokens(ctx, {}, None, made=made)


def _tokens(
    ctx: Ctx,
    errors: dict[str, list[str]],
    issued: tokens.IssuedToken | None,
    status: int = 200,
    made: int | None = None,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = tokens.list_tokens(conn, ctx.actor, ctx.book_id)
        staff = [
            u
            for u in users_in_book(conn, ctx.book_id)
            if set(u["roles"]) & {r.value for r in STAFF_ROLES}
        ]
    return ctx.page(
        "access/tokens.html",
        status,
        nav="admin",
        tokens=found,
        errors=errors,
        issued=issued,
        scopes=list(tokens.SCOPES),
        staff=staff,
        made=made,
    )


@router.post("/tokens", response_class=HTMLResponse)
def tokens_issue(
    ctx: Tokens,
    name: Annotated[str, Form()] = "",
    scope: Annotated[list[str] | None, Form()] = None,
    expires_in_days: Annotated[int, Form()] = 90,
    user_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    once: forms.Once = "",
) -> HTMLResponse:
    """Make an API token and show its text this once; a second submit of the form goes to
    the list, the text not shown again."""
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "access.token")
            issued = tokens.issue_token(
                conn, ctx.actor, ctx.book_id, name, scope or [], expires_in_days, user_id
            )
            target = f"/b/{ctx.code}/admin/tokens?made={issued.id}"
            forms.spend(conn, ctx, once, "access.token", target)
    except ValidationFailed as exc:
        return _tokens(ctx, field_errors(exc), None, 422)
    return _tokens(ctx, {}, issued)


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(ctx: Tokens, token_id: Id) -> Response:
    with ctx.db.write() as conn:
        tokens.revoke_token(conn, ctx.actor, ctx.book_id, token_id)
    return RedirectResponse(f"/b/{ctx.code}/admin/tokens", status_code=303)
