"""The web app. For now a read-only preview: books and their trial balances.

Sign-in, roles on every page and the work queues arrive with the next issue; until then the
pages act as the installation itself (read-only) and the server listens on 127.0.0.1.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from remit import __version__
from remit.access.model import Actor
from remit.db import Database, database_url
from remit.errors import NotFound
from remit.ledger import service as ledger
from remit.ledger.model import AccountType, TrialBalance
from remit.money import Money
from remit.parties.service import count_parties
from remit.web.charts import side_by_side_bars

HERE = Path(__file__).parent
NAVIGATION = ("My queue", "Providers", "Clients", "Customers", "Payments", "Receivables",
              "Collections", "Reports", "Admin")


def reader() -> Actor:
    # The next issue replaces this with the signed-in user and checks roles on every route.
    return Actor.system("web-preview")


ActorDep = Annotated[Actor, Depends(reader)]


def money_text(minor: int, currency: str) -> str:
    """An amount for a table cell: grouped, with the currency's decimals, blank for zero."""
    return "" if minor == 0 else f"{Money(minor, currency).to_decimal():,}"


@dataclass(frozen=True, slots=True)
class BookSummary:
    book: dict[str, Any]
    parties: dict[str, int]
    accounts: int
    closed_periods: list[str]


def _summary(conn: Any, actor: Actor, book: dict[str, Any]) -> BookSummary:
    periods = ledger.list_periods(conn, book["id"])
    return BookSummary(book, count_parties(conn, actor, book["id"]),
                       len(ledger.list_accounts(conn, book["id"])),
                       [f"{p.start_date:%Y-%m}" for p in periods if p.status.value == "closed"])


def _label(minor: int, currency: str) -> str:
    return money_text(minor, currency) or "0"


def _chart(tb: TrialBalance) -> dict[str, str]:
    """One SVG per currency: debit and credit balances by account type."""
    charts = {}
    for currency in sorted(tb.totals()):
        rows = [r for r in tb.rows if r.currency == currency]
        groups = [(t.value.title(), sum(r.debit_minor for r in rows if r.account_type is t),
                   sum(r.credit_minor for r in rows if r.account_type is t))
                  for t in AccountType]
        charts[currency] = side_by_side_bars(groups, functools.partial(_label, currency=currency),
                                             f"Balances by account type, {currency}")
    return charts


def create_app(database: Database | None = None) -> FastAPI:
    """The FastAPI application; the store defaults to REMIT_DATABASE_URL or var/remit.db."""
    db = database or Database(database_url())
    app = FastAPI(title="remit", version=__version__, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(navigation=NAVIGATION, money=money_text, version=__version__)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return page(request, "error.html", 404, title="Not found", message=str(exc))

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, actor: ActorDep) -> HTMLResponse:
        with db.read() as conn:
            summaries = [_summary(conn, actor, b) for b in ledger.list_books(conn)]
        return page(request, "index.html", summaries=summaries)

    @app.get("/books/{code}", response_class=HTMLResponse)
    def book_page(request: Request, code: str, actor: ActorDep,
                  as_of: Annotated[str | None, Query()] = None) -> HTMLResponse:
        when = _as_of(as_of)
        if isinstance(when, str):
            return page(request, "error.html", 422, title="Bad date", message=when)
        with db.read() as conn:
            book_id = ledger.book_id_for(conn, code)
            summary = _summary(conn, actor, ledger.get_book(conn, book_id))
            tb = ledger.trial_balance(conn, actor, book_id, when)
        return page(request, "book.html", summary=summary, tb=tb, as_of=as_of or "",
                    charts=_chart(tb))

    @app.get("/books/{code}/trial-balance.csv")
    def trial_balance_csv(code: str, actor: ActorDep,
                          as_of: Annotated[str | None, Query()] = None) -> Response:
        when = _as_of(as_of)
        if isinstance(when, str):
            return Response(when + "\n", status_code=422, media_type="text/plain")
        with db.read() as conn:
            tb = ledger.trial_balance(conn, actor, ledger.book_id_for(conn, code), when)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["account", "name", "type", "currency", "debit", "credit"])
        for r in tb.rows:
            writer.writerow([r.account_code, r.account_name, r.account_type.value, r.currency,
                             Money(r.debit_minor, r.currency).to_decimal(),
                             Money(r.credit_minor, r.currency).to_decimal()])
        name = f"trial-balance-{code}" + (f"-{as_of}" if as_of else "") + ".csv"
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app


def _as_of(text: str | None) -> date | str | None:
    """The date, None when absent, or the message to show when it is not a date."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return f"as_of={text!r} is not a date; use YYYY-MM-DD, for example 2026-09-30."
