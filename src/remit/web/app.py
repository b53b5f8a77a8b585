"""The web app: staff pages by work, the provider and client portals, and the JSON API.

Every page and endpoint declares what it needs (``web.deps``): a sign-in, a role in the book
that grants a permission, a portal binding. Errors a user can cause become a clear page (or
an RFC 9457 problem under ``/api``) and write nothing.
"""

from __future__ import annotations

import gc
import os
from http import HTTPStatus
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from remit import __version__, composition, config
from remit.access import routes as access_routes
from remit.care import policy_routes as care_policy_routes
from remit.care import routes as care_routes
from remit.care import worklist_routes as care_worklist_routes
from remit.cases import correspondence_routes
from remit.cases import routes as case_routes
from remit.childcare import portal_routes as childcare_portal_routes
from remit.childcare import provider_routes as childcare_provider_routes
from remit.childcare import routes as childcare_routes
from remit.db import Database, database_url
from remit.errors import Conflict, Forbidden, NotFound, RemitError, ValidationFailed
from remit.events import routes as event_routes
from remit.jobs import routes as job_routes
from remit.ledger import routes as ledger_routes
from remit.parties import routes as party_routes
from remit.payments import cheque_routes
from remit.payments import routes as payment_routes
from remit.web import api, auth, forms, portal, work
from remit.web.deps import LoginRequired, WebState, render
from remit.web.templating import make_templates

HERE = Path(__file__).parent

# Content Security Policy: nothing inline, nothing from elsewhere, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(database: Database | None = None, cookie_secure: bool | None = None) -> FastAPI:
    """The application; the store defaults to REMIT_DATABASE_URL or var/remit.db."""
    composition.register_all()
    db = database or Database(database_url())
    secure = (
        os.environ.get("REMIT_COOKIE_SECURE", "") == "1" if cookie_secure is None else cookie_secure
    )
    app = FastAPI(
        title="remit",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        description=api.DESCRIPTION,
    )
    app.state.web = WebState(
        db=db, templates=make_templates(), vault=config.vault, cookie_secure=secure, mailer=_mailer
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _headers(app)
    _handlers(app)
    pages, apis = _routers()
    for router in pages:
        app.include_router(router, include_in_schema=False)  # HTML, not the API
    for router in apis:
        app.include_router(router)
    return app


GC_THRESHOLD = 50_000  # new containers between collections of the youngest generation


def create_served_app() -> FastAPI:
    """The application as ``remit serve`` runs it: made, then everything it holds for its
    whole life moved out of the garbage collector's sight (``gc.freeze``), so that a
    collection during a busy page walks only the page's own objects."""
    app = create_app()
    gc.collect()
    gc.freeze()
    # A page makes some 50,000 objects, nearly all freed by their counts; collecting every
    # 700 new containers walked the live objects of every page in flight, 8 at once.
    gc.set_threshold(GC_THRESHOLD, 20, 100)
    return app


def _mailer() -> object:
    from remit.cases.mail import mailer_from_env  # noqa: PLC0415 - only e-mail needs it

    return mailer_from_env(dict(os.environ))


def _routers() -> tuple[list[APIRouter], list[APIRouter]]:
    """The page routers and the API routers."""
    return (
        [
            auth.router,
            case_routes.router,
            party_routes.router,
            ledger_routes.router,
            access_routes.router,
            job_routes.router,
            event_routes.router,
            work.router,
            portal.router,
            correspondence_routes.router,
            care_routes.router,
            care_routes.portal,
            care_policy_routes.router,
            care_worklist_routes.portal,
            childcare_routes.router,
            childcare_provider_routes.router,
            childcare_portal_routes.router,
            payment_routes.router,
            cheque_routes.router,
            api.health,
        ],
        [
            case_routes.api,
            party_routes.api,
            ledger_routes.api,
            care_routes.api,
            payment_routes.api,
        ],
    )


def _headers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """The security headers on every answer (``Cache-Control`` not on static files).

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    streams every body through a memory channel, a few milliseconds on a 100 KB page.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name == "Cache-Control" and static:
                        continue
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page_or_problem(
    request: Request, status: int, title: str, detail: str, problems: tuple[object, ...] = ()
) -> Response:
    if _is_api(request):
        return api.problem(status, title, detail, problems)
    return render(request, "error.html", status, title=title, message=detail, problems=problems)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if _is_api(request):
            return api.problem(
                401, "Unauthorized", "send a valid API token as 'Authorization: Bearer rmt_...'"
            )
        return auth.login_redirect(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )

    @app.exception_handler(forms.Replayed)
    async def replayed(_request: Request, exc: forms.Replayed) -> Response:
        return forms.already_done(exc.target)  # the form was sent before: nothing made again

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _page_or_problem(request, 403, "Forbidden", str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _page_or_problem(request, 404, "Not found", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return _page_or_problem(request, 409, "Conflict", str(exc))

    @app.exception_handler(ValidationFailed)
    async def invalid(request: Request, exc: ValidationFailed) -> Response:
        return _page_or_problem(
            request,
            422,
            "Invalid input",
            f"{len(exc.problems)} problem(s); nothing was saved",
            exc.problems,
        )

    @app.exception_handler(RemitError)
    async def user_error(request: Request, exc: RemitError) -> Response:
        return _page_or_problem(request, 400, "Refused", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if not _is_api(request) and all(e["loc"][:1] == ("path",) for e in exc.errors()):
            # A page address with an id that cannot be one (``/queries/abc``) is a page
            # that does not exist, said as any missing page is, not a form's error list.
            return _page_or_problem(request, 404, "Not found", "there is no such page")
        problems = tuple(api.request_problems(exc))
        return _page_or_problem(
            request,
            422,
            "Invalid request",
            f"{len(problems)} problem(s); nothing was saved",
            problems,
        )

    # A safety net: a number too big for the store (routes bound their ids; a form or query
    # that slipped through must still answer "invalid", not "server error").
    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, _exc: Exception) -> Response:
        return _page_or_problem(
            request,
            422,
            "Invalid request",
            "a number or a value is out of the range the store accepts; nothing was saved",
        )

    # Under /api every other refusal is a problem too: a body FastAPI could not read (say,
    # ``[[[[...]]]]`` nested past Python's limit) or a method the route does not take.
    @app.exception_handler(StarletteHTTPException)
    async def http_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        if not _is_api(request):
            return await http_exception_handler(request, exc)
        title = HTTPStatus(exc.status_code).phrase
        answer = api.problem(exc.status_code, title, str(exc.detail), ())
        answer.headers.update(exc.headers or {})
        return answer

    @app.exception_handler(404)
    async def no_route(request: Request, _exc: Exception) -> Response:
        return _page_or_problem(request, 404, "Not found", f"nothing at {request.url.path}")
