"""Ledger pages (trial balance, reports) and the ledger API (accounts, journal entries)."""

from __future__ import annotations

import functools
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from remit.access.model import Permission
from remit.calendar import BOOK_LOCALES, book_locale, local_date
from remit.cases import service as cases
from remit.db import MAX_ID
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.ledger.model import AccountType, EntryDraft, PostingDraft, TrialBalance
from remit.money import Money
from remit.reports.charts import side_by_side_bars
from remit.reports.tables import Column, Kind, table_csv
from remit.web import forms
from remit.web.api import (
    IDEMPOTENT,
    MAX_LIMIT,
    PROBLEMS,
    ApiCtx,
    ApiNeed,
    Currency,
    MinorUnits,
    MoneyOut,
    Page,
    decode_cursor,
    encode_cursor,
    idempotent,
)
from remit.web.deps import Ctx, EntryId, Need, field_errors, notice_redirect, signed_notice
from remit.web.downloads import download
from remit.web.templating import money_text

P = Permission
router = APIRouter(prefix="/b/{book}")
api = APIRouter(prefix="/api/v1/books/{book}", tags=["ledger"], responses=PROBLEMS)
Read = Annotated[Ctx, Depends(Need(P.LEDGER_READ))]
Cases = Annotated[Ctx, Depends(Need(P.CASE_READ))]


def parse_day(text: str | None, name: str = "as_of") -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            [
                Problem(
                    name, f"{text!r} is not a date; use YYYY-MM-DD, for example 2026-09-30", "date"
                )
            ]
        ) from None


def _label(minor: int, currency: str) -> str:
    return money_text(minor, currency) or "0"


def _charts(tb: TrialBalance) -> dict[str, str]:
    """One SVG per currency: debit and credit balances by account type."""
    out = {}
    for currency in sorted(tb.totals()):
        rows = [r for r in tb.rows if r.currency == currency]
        groups = [
            (
                t.value.title(),
                sum(r.debit_minor for r in rows if r.account_type is t),
                sum(r.credit_minor for r in rows if r.account_type is t),
            )
            for t in AccountType
        ]
        out[currency] = side_by_side_bars(
            groups,
            functools.partial(_label, currency=currency),
            f"Balances by account type, {currency}",
        )
    return out


@router.get("/ledger", response_class=HTMLResponse)
def trial_balance_page(ctx: Read, as_of: str | None = None) -> HTMLResponse:
    when = parse_day(as_of)
    with ctx.db.read() as conn:
        tb = ledger.trial_balance(conn, ctx.actor, ctx.book_id, when)
        periods = ledger.list_periods(conn, ctx.book_id)
    return ctx.page(
        "ledger/trial_balance.html",
        nav="reports",
        tb=tb,
        as_of=as_of or "",
        charts=_charts(tb),
        periods=periods,
    )


TRIAL_BALANCE_COLUMNS = (
    Column("account", "account", Kind.TEXT),
    Column("name", "name", Kind.TEXT),
    Column("type", "type", Kind.LABEL),
    Column("currency", "currency", Kind.LABEL),
    Column("debit", "debit", Kind.DECIMAL),
    Column("credit", "credit", Kind.DECIMAL),
)


@router.get("/ledger/trial-balance.csv")
def trial_balance_csv(ctx: Read, as_of: str | None = None) -> Response:
    when = parse_day(as_of)
    with ctx.db.read() as conn:
        tb = ledger.trial_balance(conn, ctx.actor, ctx.book_id, when)
    rows = (
        {
            "account": r.account_code,
            "name": r.account_name,
            "type": r.account_type.value,
            "currency": r.currency,
            "debit": Money(r.debit_minor, r.currency).to_decimal(),
            "credit": Money(r.credit_minor, r.currency).to_decimal(),
        }
        for r in tb.rows
    )
    name = f"trial-balance-{ctx.code}" + (f"-{as_of}" if as_of else "") + ".csv"
    return download(table_csv(TRIAL_BALANCE_COLUMNS, rows), "text/csv", name)


@router.get("/reports", response_class=HTMLResponse)
def reports(ctx: Cases) -> HTMLResponse:
    today = ctx.today()
    with ctx.db.read() as conn:
        rows = cases.queue_report(conn, ctx.actor, ctx.book_id, today)
    chart = side_by_side_bars(
        [(r["label"], r["open"], r["overdue"]) for r in rows],
        str,
        "Open and overdue cases by type",
        ("open", "overdue"),
    )
    return ctx.page("ledger/reports.html", nav="reports", rows=rows, chart=chart, today=today)


# ---------------------------------------------------------------- API


class AccountOut(BaseModel):
    code: str
    name: str
    type: AccountType
    is_control: bool
    party_role: str | None
    balances: list[MoneyOut]


class AccountList(BaseModel):
    items: list[AccountOut]


class PostingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(min_length=1, max_length=32)
    amount_minor: MinorUnits = Field(description="Signed: debit positive, credit negative")
    currency: Currency
    party_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    memo: str = Field(default="", max_length=200)


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_date: date
    description: str = Field(min_length=1, max_length=500)
    postings: list[PostingIn] = Field(min_length=2, max_length=1000)
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description=(
            "The entry's own key, unique in the book; defaults to the Idempotency-Key header"
        ),
    )


class PostingOut(BaseModel):
    account: str
    amount: MoneyOut
    party_id: int | None
    memo: str


class EntryOut(BaseModel):
    id: int
    entry_date: date
    description: str
    idempotency_key: str
    source_type: str
    reverses_entry_id: int | None
    created_by: str
    postings: list[PostingOut]


class EntryPage(Page):
    items: list[EntryOut]


ApiRead = Annotated[ApiCtx, Depends(ApiNeed(P.LEDGER_READ))]
ApiPost = Annotated[ApiCtx, Depends(ApiNeed(P.LEDGER_POST))]


@api.get(
    "/accounts",
    response_model=AccountList,
    summary="The chart with balances",
    operation_id="listAccounts",
)
def api_accounts(ctx: ApiRead, as_of: date | None = None) -> dict[str, Any]:
    with ctx.db.read() as conn:
        tb = ledger.trial_balance(conn, ctx.actor, ctx.book_id, as_of)
        chart = ledger.list_accounts(conn, ctx.book_id)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for r in tb.rows:
        by_code.setdefault(r.account_code, []).append(
            MoneyOut.of(r.balance_minor, r.currency).model_dump()
        )
    return {
        "items": [
            {
                "code": a.code,
                "name": a.name,
                "type": a.type,
                "is_control": a.is_control,
                "party_role": a.party_role,
                "balances": by_code.get(a.code, []),
            }
            for a in chart
        ]
    }


def _entry_out(conn: Connection, ctx: ApiCtx, entry_id: int) -> dict[str, Any]:
    e = ledger.get_entry(conn, ctx.book_id, entry_id)
    return EntryOut(
        id=e.id,
        entry_date=e.entry_date,
        description=e.description,
        idempotency_key=e.idempotency_key,
        source_type=e.source_type,
        reverses_entry_id=e.reverses_entry_id,
        created_by=e.created_by,
        postings=[
            PostingOut(
                account=p.account_code,
                amount=MoneyOut.of(p.amount_minor, p.currency),
                party_id=p.party_id,
                memo=p.memo,
            )
            for p in e.postings
        ],
    ).model_dump(mode="json")


@api.get(
    "/entries",
    response_model=EntryPage,
    summary="Journal entries, newest first",
    operation_id="listEntries",
)
def api_entries(
    ctx: ApiRead, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50, cursor: str | None = None
) -> dict[str, Any]:
    before = decode_cursor(cursor).get("before")
    if before is not None and not isinstance(before, int):
        raise ValidationFailed([Problem("cursor", "not a cursor of this list", "cursor")])
    with ctx.db.read() as conn:
        ids = ledger.entry_ids(conn, ctx.actor, ctx.book_id, before, limit)
        items = [_entry_out(conn, ctx, i) for i in ids]
    return {
        "items": items,
        "next_cursor": encode_cursor({"before": ids[-1]}) if len(ids) == limit else None,
    }


@api.get(
    "/entries/{entry_id}",
    response_model=EntryOut,
    summary="One journal entry",
    operation_id="getEntry",
)
def api_entry(ctx: ApiRead, entry_id: EntryId) -> dict[str, Any]:
    with ctx.db.read() as conn:
        ledger.require_read(ctx.actor, ctx.book_id)
        return _entry_out(conn, ctx, entry_id)


@api.post(
    "/entries",
    response_model=EntryOut,
    status_code=201,
    summary="Post a balanced journal entry",
    operation_id="postEntry",
    openapi_extra=IDEMPOTENT,
)
def api_post_entry(ctx: ApiPost, body: EntryIn) -> Response:
    def effect(conn: Connection) -> tuple[int, Any]:
        draft = EntryDraft(
            body.entry_date,
            body.description,
            body.idempotency_key or f"api:{ctx.idempotency_key}",
            tuple(
                PostingDraft(p.account, p.amount_minor, p.currency, p.party_id, p.memo)
                for p in body.postings
            ),
            source_type="api",
            source_id=ctx.principal,
        )
        result = ledger.post(conn, ctx.actor, ctx.book_id, draft)
        return 201, _entry_out(conn, ctx, result.entry_id)

    return idempotent(ctx, body.model_dump(mode="json"), effect)


# ---------------------------------------------------------------- the book's details page

BOOK_PAGE = "/admin/book"
Manage = Annotated[Ctx, Depends(Need(P.ACCOUNTS_MANAGE))]
BookAdmin = Annotated[Ctx, Depends(Need(P.BOOK_ADMIN))]


def _book_page(
    ctx: Ctx,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    assert ctx.book is not None
    book = ctx.book
    shown = {
        "locale": book_locale(book),
        "address": str(book.get("address") or ""),
        "vat_number": str(book.get("vat_number") or ""),
    }
    return ctx.page(
        "ledger/book.html",
        status,
        nav="admin",
        locales=[
            (code, f"{name} ({code.replace('_', '-')})") for code, name in BOOK_LOCALES.items()
        ],
        sample=local_date(date(2026, 12, 25), book_locale(book)),
        errors=errors or {},
        values={**shown, **(values or {})},
        notice=notice,
    )


@router.get(BOOK_PAGE, response_class=HTMLResponse)
def book_page(ctx: Read, notice: str = "", sig: str = "") -> HTMLResponse:
    """The book's own details: the locale of its dates, its address and VAT number."""
    return _book_page(ctx, notice=signed_notice(ctx, notice, sig))


@router.post(f"{BOOK_PAGE}/locale", response_class=HTMLResponse)
def book_locale_set(
    ctx: Manage, locale: Annotated[str, Form()] = "", once: forms.Once = ""
) -> Response:
    """A manager sets the locale the book's pages, documents and e-mails write dates in;
    an unknown one is a message on the form, and nothing is written."""
    locale = locale[:64]
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "ledger.book_locale")
            found = ledger.set_book_locale(conn, ctx.actor, ctx.book_id, locale)
            chosen = BOOK_LOCALES[str(found["locale"])]
            target = _notice_target(ctx, f"dates are now written in {chosen}")
            forms.spend(conn, ctx, once, "ledger.book_locale", target)
    except forms.Replayed as replay:
        return forms.already_done(replay.target)
    except ValidationFailed as exc:
        return _book_page(ctx, field_errors(exc), {"locale": locale}, status=422)
    return RedirectResponse(target, status_code=303)


@router.post(f"{BOOK_PAGE}/details", response_class=HTMLResponse)
def book_details_set(
    ctx: BookAdmin,
    address: Annotated[str | None, Form()] = None,
    vat_number: Annotated[str | None, Form()] = None,
    once: forms.Once = "",
) -> Response:
    """An admin sets the address and VAT number the book's documents show."""
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "ledger.book_details")
            ledger.set_book_details(
                conn, ctx.actor, ctx.book_id, address=address, vat_number=vat_number
            )
            target = _notice_target(ctx, "the book's details are saved")
            forms.spend(conn, ctx, once, "ledger.book_details", target)
    except forms.Replayed as replay:
        return forms.already_done(replay.target)
    except ValidationFailed as exc:
        typed = {"address": address or "", "vat_number": vat_number or ""}
        return _book_page(ctx, field_errors(exc), typed, status=422)
    return RedirectResponse(target, status_code=303)


def _notice_target(ctx: Ctx, notice: str) -> str:
    """The book page's URL with a signed notice (what a second submit is sent back to)."""
    return str(notice_redirect(ctx, f"/b/{ctx.code}{BOOK_PAGE}", notice).headers["location"])
