"""What every page and endpoint depends on: the signed-in session, the book, the permission.

A route declares what it needs with one dependency, and the route-walk test reads it back:

- ``Need(Permission.X)`` for staff pages of a book (``/b/{book}/...``): a live session, a
  role in that book that grants X, and for POST a valid CSRF token;
- ``NeedPortal()`` for portal pages (``/portal/{book}/...``): a provider or client user
  bound to a party of that book;
- ``SignedIn()`` for pages of the user's own account (any signed-in user).

A missing session sends a browser to the sign-in page; a missing permission is a 403 page
that shows no data.

The database is synchronous: a dependency or route that touches it is a plain ``def`` (run
in a thread by FastAPI), and one that must ``await`` (the CSRF check reads the form) does
its database work with ``run_in_threadpool``, so that a slow transaction (SQLite waits up
to 30 s for its write lock) never blocks the event loop, and other requests go on. A read
never waits for the write lock itself: refreshing the session's idle timer is skipped when
the lock is held (``Database.write_if_free``), and the next request tries again.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from remit.access.model import Actor, Permission
from remit.access.sessions import Session, resume, touch
from remit.db import MAX_ID, Database
from remit.errors import Forbidden, ValidationFailed
from remit.ledger import service as ledger
from remit.secrets import Vault

SESSION_COOKIE = "remit_session"
# Ids in URLs are bounded here, so that a made-up number is a 422, never a database error.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No live session: a browser goes to the sign-in page."""


@dataclass
class WebState:
    """What the app holds for its whole life (``app.state.web``)."""

    db: Database
    templates: Jinja2Templates
    vault: Callable[[], Vault]
    cookie_secure: bool = False
    mailer: Callable[[], Any] = field(default=lambda: None)


def state(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


@dataclass
class Ctx:
    """One request's context: who, in which book, with which CSRF token."""

    request: Request
    web: WebState
    session: Session
    book: dict[str, Any] | None = None

    @property
    def actor(self) -> Actor:
        return self.session.actor

    @property
    def db(self) -> Database:
        return self.web.db

    @property
    def book_id(self) -> int:
        assert self.book is not None
        return int(self.book["id"])

    @property
    def code(self) -> str:
        """The book's code, as in its URLs."""
        assert self.book is not None
        return str(self.book["code"])

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    def books(self) -> list[dict[str, Any]]:
        """The books this user has a role in (for the book switcher)."""
        with self.db.read() as conn:
            return [b for b in ledger.list_books(conn) if self.actor.roles_in(int(b["id"]))]

    def is_portal(self) -> bool:
        return self.book is not None and not self.actor.is_staff_in(self.book_id)

    def can(self, permission: Permission) -> bool:
        return self.book is not None and self.actor.can(self.book_id, permission)

    def today(self) -> date:
        """Today in the book's time zone (from the book this request already read)."""
        assert self.book is not None
        return ledger.today_in(str(self.book["timezone"]))

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a page with the layout's context (user, books, book, CSRF token)."""
        return render(self.request, name, status, ctx=self, **context)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return state(request).templates.TemplateResponse(request, name, context, status_code=status)


def field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    """Problems by field, for showing each next to its input (all at once)."""
    out: dict[str, list[str]] = {}
    for p in exc.problems:
        where = f"line {p.line}: " if p.line is not None else ""
        out.setdefault(p.field, []).append(where + p.message)
    return out


def _session(request: Request) -> Session:
    """The live session of the request's cookie (database work: run it in a thread)."""
    web = state(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    with web.db.read() as conn:
        session = resume(conn, token)
    if session is None:
        raise LoginRequired
    if session.stale:  # best effort: skipped while another transaction writes (see TOUCH_EVERY)
        web.db.write_if_free(lambda conn: touch(conn, session))
    return session


async def _check_csrf(request: Request, session: Session) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise Forbidden(
            "the form has expired or did not come from remit (CSRF check); "
            "reload the page and try again"
        )


def _book(web: WebState, code: str) -> dict[str, Any]:
    with web.db.read() as conn:
        return ledger.get_book(conn, ledger.book_id_for(conn, code))


class Need:
    """A staff page or endpoint of a book that needs ``permission``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"Need({self.permission.value})"

    async def __call__(self, request: Request, book: str) -> Ctx:
        session, found = await run_in_threadpool(self._allowed, request, book)
        await _check_csrf(request, session)
        return Ctx(request, state(request), session, found)

    def _allowed(self, request: Request, book: str) -> tuple[Session, dict[str, Any]]:
        session = _session(request)
        found = _book(state(request), book)
        book_id = int(found["id"])
        actor = session.actor
        if not actor.is_staff_in(book_id):
            raise Forbidden(f"{actor.username} has no staff role in book {book}")
        if not actor.can(book_id, self.permission):
            raise Forbidden(f"{actor.username} may not {self.permission.value} in this book")
        return session, found


class NeedPortal:
    """A portal page: a provider or client user bound to a party of the book (with
    ``permission``, only the one kind: ``NeedPortal(Permission.PORTAL_PROVIDER)``)."""

    def __init__(self, permission: Permission | None = None) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"NeedPortal({self.permission or ''})"

    async def __call__(self, request: Request, book: str) -> Ctx:
        session, found = await run_in_threadpool(self._allowed, request, book)
        await _check_csrf(request, session)
        return Ctx(request, state(request), session, found)

    def _allowed(self, request: Request, book: str) -> tuple[Session, dict[str, Any]]:
        session = _session(request)
        found = _book(state(request), book)
        book_id = int(found["id"])
        actor = session.actor
        kinds = (
            (self.permission,)
            if self.permission
            else (Permission.PORTAL_PROVIDER, Permission.PORTAL_CLIENT)
        )
        portal = any(actor.can(book_id, kind) for kind in kinds)
        if not portal or actor.party_in(book_id) is None:
            raise Forbidden(f"{actor.username} has no portal access to book {book}")
        return session, found


class SignedIn:
    """Any signed-in user (their own account pages)."""

    def __repr__(self) -> str:
        return "SignedIn()"

    async def __call__(self, request: Request) -> Ctx:
        session = await run_in_threadpool(_session, request)
        await _check_csrf(request, session)
        return Ctx(request, state(request), session)


# ---------------------------------------------------------------- notices after a redirect

MAX_NOTICE = 300


def _notice_signature(ctx: Ctx, path: str, notice: str) -> str:
    return ctx.web.vault().fingerprint({"notice": notice, "path": path})[:32]


def notice_redirect(ctx: Ctx, path: str, notice: str) -> RedirectResponse:
    """See ``path`` (303) with a notice of what was just done. The notice travels in the
    URL, signed with the installation's key, so that a link made by someone else cannot
    show words of theirs as remit's (``signed_notice`` reads it back)."""
    notice = notice[:MAX_NOTICE]
    query = urlencode({"notice": notice, "sig": _notice_signature(ctx, path, notice)})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def signed_notice(ctx: Ctx, notice: str, sig: str) -> str:
    """The notice of this page's URL if remit signed it for this page, else nothing."""
    if not notice or len(notice) > MAX_NOTICE:
        return ""
    expected = _notice_signature(ctx, ctx.request.url.path, notice)
    return notice if hmac.compare_digest(sig.encode(), expected.encode()) else ""
