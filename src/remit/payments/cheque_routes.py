"""Downloads of a released run's cheques: the cheque register (PDF) and the positive-pay file
(CSV) for the bank, for those who release payments (``remit.payments.cheques``).

The lead includes ``router`` in ``remit.web.app`` and links both from the run's page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from remit.access.model import Permission
from remit.payments import cheques
from remit.web.deps import Ctx, Id, Need
from remit.web.downloads import download

router = APIRouter(prefix="/b/{book}")
Release = Annotated[Ctx, Depends(Need(Permission.PAYMENT_RELEASE))]


@router.get("/payments/runs/{pay_run_id}/cheques.pdf")
def cheque_register_pdf(ctx: Release, pay_run_id: Id) -> Response:
    """The run's cheques by number, with a total per currency, to print and sign."""
    with ctx.db.read() as conn:
        found = cheques.cheque_register(conn, ctx.actor, ctx.book_id, pay_run_id)
    return download(cheques.register_pdf(found), "application/pdf", f"cheques-run{pay_run_id}.pdf")


@router.get("/payments/runs/{pay_run_id}/cheques.csv")
def positive_pay(ctx: Release, pay_run_id: Id) -> Response:
    """The positive-pay file (docs/formats/payments.md); its read of the account is audited."""
    with ctx.db.write() as conn:
        data = cheques.positive_pay_csv(conn, ctx.actor, ctx.book_id, pay_run_id)
    return download(data, "text/csv", f"positive-pay-run{pay_run_id}.csv")
