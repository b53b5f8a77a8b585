"""The areas of work that later releases build (payments, receivables, collections).

Their pages say plainly what is not built yet and what the book already has, rather than
pretending: a payment coordinator should never mistake an empty page for an empty queue.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from remit.access.model import Permission
from remit.errors import NotFound
from remit.ledger import service as ledger
from remit.web.deps import Ctx, Need

router = APIRouter(prefix="/b/{book}")
Read = Annotated[Ctx, Depends(Need(Permission.LEDGER_READ))]
AREAS = {
    "payments": (
        "Payments",
        "payables, payment runs approved by a second person, bank files "
        "(NACHA, BACS, SEPA), remittance advice, returns",
        ("2000", "2100"),
    ),
    "receivables": (
        "Receivables",
        "invoices and statements, bank, card and direct-debit "
        "receipts, cash application to open items",
        ("1100", "1200", "2200"),
    ),
    "collections": (
        "Collections",
        "aging, dunning, promises to pay, payment plans, direct "
        "debits, deferred payments, write-offs, referral for recovery",
        ("1100", "1200"),
    ),
}


@router.get("/work/{area}", response_class=HTMLResponse)
def area_page(ctx: Read, area: str) -> HTMLResponse:
    if area not in AREAS:
        raise NotFound(f"no area {area!r}")
    title, scope, codes = AREAS[area]
    with ctx.db.read() as conn:
        tb = ledger.trial_balance(conn, ctx.actor, ctx.book_id)
    rows = [r for r in tb.rows if r.account_code in codes]
    return ctx.page("work.html", nav=area, title=title, scope=scope, rows=rows)
