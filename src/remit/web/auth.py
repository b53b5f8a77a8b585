"""Sign in, sign out, change password, and the landing page after sign-in.

The sign-in form is protected from cross-site posting by a double-submit token (a random
value in a SameSite cookie and in the form), since there is no session yet to hold one.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from remit.access.sessions import (
    LoginRefused,
    Session,
    change_password,
    login,
    logout,
)
from remit.db import Database
from remit.errors import ValidationFailed
from remit.ledger import service as ledger
from remit.web.deps import SESSION_COOKIE, Ctx, SignedIn, field_errors, render, state

LOGIN_CSRF_COOKIE = "remit_login_csrf"
router = APIRouter()
SignedInCtx = Annotated[Ctx, Depends(SignedIn())]


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no host, no //evil.example)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="lax",
        secure=state(request).cookie_secure,
        path="/",
    )


def _login_page(
    request: Request, status: int = 200, message: str = "", username: str = "", next_path: str = "/"
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    page = render(
        request,
        "login.html",
        status,
        csrf=token,
        message=message,
        username=username,
        next_path=next_path,
    )
    page.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=state(request).cookie_secure,
        path="/login",
    )
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, next_path=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(request, 400, "The sign-in form expired; please try again.", username)
    ip = client_address(request)
    web = state(request)
    refused: LoginRefused | None = None
    with web.db.write() as conn:
        try:
            session = login(conn, username, password, ip, request.headers.get("user-agent", ""))
        except LoginRefused as exc:  # caught inside: the failed attempt is committed
            refused = exc
    if refused is not None:
        return _login_page(
            request, 429 if refused.throttled else 401, str(refused), username, _safe_next(next)
        )
    target = _safe_next(next)
    if target == "/":
        target = landing(web.db, session)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def client_address(request: Request) -> str:
    """The client's address: the connection's peer (the server replaces it with the
    ``X-Forwarded-For`` client only for a proxy named in ``REMIT_TRUSTED_PROXIES``)."""
    return request.client.host if request.client else ""


def landing(db: Database, session: Session) -> str:
    """Where a user starts: the first book's queue, or its portal."""
    actor = session.actor
    with db.read() as conn:
        codes = {int(b["id"]): str(b["code"]) for b in ledger.list_books(conn)}
    for book_id in sorted(actor.roles):
        if actor.is_staff_in(book_id):
            return f"/b/{codes[book_id]}/queue"
        if actor.party_in(book_id) is not None:
            return f"/portal/{codes[book_id]}"
    return "/account"


@router.get("/", response_class=HTMLResponse)
def home(ctx: SignedInCtx) -> Response:
    return RedirectResponse(landing(ctx.db, ctx.session), status_code=303)


@router.post("/logout")
def logout_submit(ctx: SignedInCtx) -> Response:
    with ctx.db.write() as conn:
        logout(conn, ctx.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account(ctx: SignedInCtx) -> HTMLResponse:
    return ctx.page("account.html", errors={}, done=False)


@router.post("/account/password", response_class=HTMLResponse)
def password_submit(
    ctx: SignedInCtx,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    repeat_password: Annotated[str, Form()] = "",
) -> Response:
    request = ctx.request
    refused: ValidationFailed | LoginRefused | None = None
    with ctx.db.write() as conn:
        try:
            fresh = change_password(
                conn,
                ctx.session,
                current_password,
                new_password,
                repeat_password,
                client_address(request),
                request.headers.get("user-agent", ""),
            )
        except (ValidationFailed, LoginRefused) as exc:  # inside: a failure is committed
            refused = exc
    if isinstance(refused, LoginRefused):  # nothing to correct: the name or address is paused
        said = str(refused)
        paused = f"The password was not changed. {said[:1].upper()}{said[1:]} (signing in too)."
        return ctx.page("account.html", 429, errors={}, done=False, paused=paused)
    if refused is not None:
        return ctx.page("account.html", 422, errors=field_errors(refused), done=False)
    response = RedirectResponse("/account?changed=1", status_code=303)
    set_session_cookie(ctx.request, response, fresh)
    return response


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
