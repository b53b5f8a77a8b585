"""Pages and API of payment runs: the runs, a preview with what it leaves out and why,
prepare, approve (never one's own), release, the bank files, sent, settled and returned
payments, a payment's remittance advice, and a payments search.

Every rule (four eyes, limits, versions, states) is the service's (``remit.payments.runs``);
these routes read the form, call it, and show what it said. Each state change carries the
run's version as the page showed it, so a second person acting on the same run at once gets
the run as it now stands, not a silent double action.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from remit.access.model import Permission
from remit.errors import Problem, ValidationFailed
from remit.formats import offline
from remit.parties import service as parties
from remit.payments import remittance, remittance_mail, runs, search
from remit.payments.model import AREA_LABELS, CHEQUE, PaymentRun, RunPayment, RunStatus
from remit.web import forms
from remit.web.api import IDEMPOTENT, MAX_LIMIT, PROBLEMS, ApiCtx, ApiNeed, MoneyOut, idempotent
from remit.web.deps import Ctx, Id, Need, field_errors
from remit.web.downloads import download

P = Permission
router = APIRouter(prefix="/b/{book}")
api = APIRouter(prefix="/api/v1/books/{book}/payments", tags=["payments"], responses=PROBLEMS)
Read = Annotated[Ctx, Depends(Need(P.PAYMENT_READ))]
Prepare = Annotated[Ctx, Depends(Need(P.PAYMENT_PREPARE))]
Approve = Annotated[Ctx, Depends(Need(P.PAYMENT_APPROVE))]
Release = Annotated[Ctx, Depends(Need(P.PAYMENT_RELEASE))]
PAGE = 100
METHODS = ("bacs18", "nacha", "pain.001", "cheque")
Version = Annotated[int, Form(ge=1, le=2**31)]


def _day(text: str, name: str) -> date:
    return offline.parse_date(text.strip(), name)


def _runs_page(
    ctx: Ctx,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    lead: str = "",
    **values: Any,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = runs.list_runs(conn, ctx.actor, ctx.book_id, limit=100)
        centres, areas = runs.filter_choices(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "payments/runs.html",
        status,
        nav="payments",
        runs=found,
        errors=errors or {},
        values=values,
        methods=METHODS,
        cost_centres=[(c, c) for c in centres],
        areas=[(a, AREA_LABELS.get(a, a)) for a in areas],
        lead=lead,
    )


def _filters(method: str, cost_centre: str, area: str) -> dict[str, Any]:
    """A page's run filters as the services take them (one value each, "" for every)."""
    if method and method not in METHODS:
        raise ValidationFailed([Problem("method", f"one of {', '.join(METHODS)}", "method")])
    filters = {
        "methods": {method} if method else None,
        "cost_centres": {cost_centre} if cost_centre else None,
        "areas": {area} if area else None,
    }
    problems = runs.filter_problems(filters["cost_centres"], filters["areas"])
    if problems:
        raise ValidationFailed(problems)
    return filters


@router.get("/payments", response_class=HTMLResponse)
def runs_page(ctx: Read) -> HTMLResponse:
    return _runs_page(ctx)


@router.get("/payments/preview", response_class=HTMLResponse)
def preview_page(
    ctx: Read, pay_date: str = "", method: str = "", cost_centre: str = "", area: str = ""
) -> HTMLResponse:
    """What a run on the pay date would pay, and each item it leaves out with the reason."""
    try:
        day = _day(pay_date, "pay_date")
        filters = _filters(method, cost_centre[:100], area[:100])
        with ctx.db.read() as conn:
            found, held = runs.preview(conn, ctx.actor, ctx.book_id, day, **filters)
            ids = found.excluded["party_id"].to_list() + found.payments["party_id"].to_list()
            names = parties.party_names(conn, ctx.book_id, ids)
    except ValidationFailed as exc:
        return _runs_page(
            ctx,
            field_errors(exc),
            422,
            "Nothing was previewed.",
            pay_date=pay_date[:20],
            method=method[:20],
            cost_centre=cost_centre[:40],
            area=area[:40],
        )
    return ctx.page(
        "payments/preview.html",
        nav="payments",
        pay_date=day,
        method=method,
        cost_centre=cost_centre,
        area=area,
        area_label=AREA_LABELS.get(area, area),
        totals=found.totals.to_dicts(),
        payments=found.payments.head(PAGE).to_dicts(),
        payment_count=found.payments.height,
        excluded=found.excluded.head(500).to_dicts(),
        excluded_count=found.excluded.height,
        reasons=found.excluded.group_by("reason").len().sort("reason").rows(),
        held=held,
        names=names,
        errors={},
    )


@router.post("/payments/runs", response_class=HTMLResponse)
def run_prepare(
    ctx: Prepare,
    pay_date: Annotated[str, Form(max_length=20)] = "",
    method: Annotated[str, Form(max_length=20)] = "",
    cost_centre: Annotated[str, Form(max_length=40)] = "",
    area: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    once: forms.Once = "",
) -> Response:
    try:
        day = _day(pay_date, "pay_date")
        filters = _filters(method, cost_centre, area)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "payments.prepare")
            done = runs.prepare_run(conn, ctx.actor, ctx.book_id, day, **filters, note=note)
            target = f"/b/{ctx.code}/payments/runs/{done.run.id}"
            forms.spend(conn, ctx, once, "payments.prepare", target)
    except ValidationFailed as exc:
        return _runs_page(
            ctx,
            field_errors(exc),
            422,
            pay_date=pay_date,
            method=method,
            cost_centre=cost_centre,
            area=area,
            note=note,
        )
    return RedirectResponse(target, status_code=303)


def _run_page(
    ctx: Ctx,
    run_id: int,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    offset: int = 0,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        run = runs.get_run(conn, ctx.actor, ctx.book_id, run_id)
        payments = runs.list_payments(
            conn, ctx.actor, ctx.book_id, run_id, offset=offset, limit=PAGE
        )
        totals = runs.run_totals(conn, ctx.actor, ctx.book_id, run_id)
        files = runs.list_files(conn, ctx.actor, ctx.book_id, run_id)
        names = parties.party_names(conn, ctx.book_id, [p.party_id for p in payments])
        limit = runs.limit_of(conn, ctx.actor, ctx.book_id) if ctx.can(P.PAYMENT_APPROVE) else 0
    return ctx.page(
        "payments/run.html",
        status,
        nav="payments",
        run=run,
        payments=payments,
        totals=totals,
        files=files,
        names=names,
        errors=errors or {},
        offset=offset,
        page_size=PAGE,
        actions=_actions(ctx, run),
        limit=limit,
        cheque_count=sum(t["payments"] for t in totals if t["method"] == CHEQUE),
    )


def _actions(ctx: Ctx, run: PaymentRun) -> set[str]:
    """What this person may do to the run now (the service checks again on the click)."""
    me, found = ctx.actor.username, set()
    if (
        run.status is RunStatus.PREPARED
        and ctx.can(P.PAYMENT_APPROVE)
        and me not in (run.prepared_by, run.approved_by)
    ):
        found.add("approve")
    if run.status is RunStatus.APPROVED and ctx.can(P.PAYMENT_RELEASE) and me != run.prepared_by:
        found.add("release")
    if run.status in (RunStatus.PREPARED, RunStatus.APPROVED) and ctx.can(P.PAYMENT_PREPARE):
        found.add("cancel")
    if run.status is RunStatus.RELEASED and ctx.can(P.PAYMENT_PREPARE):
        found.add("sent")
    if run.status in (RunStatus.RELEASED, RunStatus.SENT) and ctx.can(P.PAYMENT_PREPARE):
        found.add("settle")
    if ctx.can(P.PAYMENT_RELEASE):
        found.add("download")
    released = (RunStatus.RELEASED, RunStatus.SENT, RunStatus.SETTLED)
    if run.status in released and ctx.can(P.CORRESPONDENCE_SEND):
        found.add("remittances")
    return found


@router.get("/payments/runs/{pay_run_id}", response_class=HTMLResponse)
def run_page(
    ctx: Read, pay_run_id: Id, offset: Annotated[int, Query(ge=0, le=10**7)] = 0
) -> HTMLResponse:
    return _run_page(ctx, pay_run_id, offset=offset)


def _back(ctx: Ctx, run_id: int) -> RedirectResponse:
    return RedirectResponse(f"/b/{ctx.code}/payments/runs/{run_id}", status_code=303)


@router.post("/payments/runs/{pay_run_id}/approve")
def run_approve(ctx: Approve, pay_run_id: Id, version: Version) -> Response:
    with ctx.db.write() as conn:
        runs.approve_run(conn, ctx.actor, ctx.book_id, pay_run_id, version=version)
    return _back(ctx, pay_run_id)


@router.post("/payments/runs/{pay_run_id}/release")
def run_release(ctx: Release, pay_run_id: Id, version: Version) -> Response:
    with ctx.db.write() as conn:
        runs.release_run(conn, ctx.actor, ctx.web.vault(), ctx.book_id, pay_run_id, version=version)
    return _back(ctx, pay_run_id)


@router.post("/payments/runs/{pay_run_id}/cancel", response_class=HTMLResponse)
def run_cancel(
    ctx: Prepare,
    pay_run_id: Id,
    version: Version,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        with ctx.db.write() as conn:
            runs.cancel_run(
                conn, ctx.actor, ctx.book_id, pay_run_id, version=version, reason=reason
            )
    except ValidationFailed as exc:
        return _run_page(ctx, pay_run_id, field_errors(exc), 422)
    return _back(ctx, pay_run_id)


@router.post("/payments/runs/{pay_run_id}/sent")
def run_sent(ctx: Prepare, pay_run_id: Id, version: Version) -> Response:
    with ctx.db.write() as conn:
        runs.mark_sent(conn, ctx.actor, ctx.book_id, pay_run_id, version=version)
    return _back(ctx, pay_run_id)


@router.post("/payments/runs/{pay_run_id}/settle", response_class=HTMLResponse)
def run_settle(
    ctx: Prepare, pay_run_id: Id, settled_on: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    try:
        day = _day(settled_on, "settled_on")
        with ctx.db.write() as conn:
            runs.settle_payments(conn, ctx.actor, ctx.book_id, pay_run_id, settled_on=day)
    except ValidationFailed as exc:
        return _run_page(ctx, pay_run_id, field_errors(exc), 422)
    return _back(ctx, pay_run_id)


@router.post("/payments/runs/{pay_run_id}/remittances")
def run_remittances(
    ctx: Annotated[Ctx, Depends(Need(P.CORRESPONDENCE_SEND))], pay_run_id: Id, once: forms.Once = ""
) -> Response:
    """E-mail each payee its remittance advice, in the background (a job with progress)."""
    with ctx.db.write() as conn:
        forms.replay_if_spent(conn, ctx, once, "payments.remittances")
        job_id = remittance_mail.queue_remittances(conn, ctx.actor, ctx.book_id, pay_run_id)
        target = forms.spend(
            conn, ctx, once, "payments.remittances", f"/b/{ctx.code}/jobs/{job_id}"
        )
    return RedirectResponse(target, status_code=303)


@router.get("/payments/runs/{pay_run_id}/files/{file_id}")
def run_file(ctx: Release, pay_run_id: Id, file_id: Id) -> Response:
    """A released run's bank file: the same bytes as at release, every time."""
    with ctx.db.write() as conn:  # the download is audited
        found, data = runs.file_bytes(
            conn, ctx.actor, ctx.web.vault(), ctx.book_id, pay_run_id, file_id
        )
    media = "application/xml" if found.format.startswith("pain") else "text/plain"
    return download(data, media, found.filename)


@router.get("/payments/runs/{pay_run_id}/remittance.csv")
def run_remittance(ctx: Read, pay_run_id: Id) -> Response:
    """Every payment of the run and each item it pays (docs/formats/payments.md)."""
    with ctx.db.read() as conn:
        data = remittance.run_remittance_csv(conn, ctx.actor, ctx.book_id, pay_run_id)
    return download(data, "text/csv", f"remittance-run{pay_run_id}.csv")


# ---------------------------------------------------------------- payments


@router.get("/payments/search", response_class=HTMLResponse)
def payments_search(
    ctx: Read,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    errors: dict[str, list[str]] = {}
    found: list[search.FoundPayment] = []
    try:
        with ctx.db.read() as conn:
            found = search.search_payments(
                conn, ctx.actor, ctx.book_id, q=q, status=status or None, limit=200
            )
    except ValidationFailed as exc:
        errors = field_errors(exc)
    return ctx.page(
        "payments/search.html",
        422 if errors else 200,
        nav="payments",
        rows=found,
        q=q,
        chosen=status,
        errors=errors,
    )


def _payment_page(
    ctx: Ctx, payment_id: int, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HTMLResponse:
    with ctx.db.read() as conn:
        advice = remittance.advice(conn, ctx.actor, ctx.book_id, payment_id)
    return ctx.page(
        "payments/payment.html", status, nav="payments", advice=advice, errors=errors or {}
    )


@router.get("/payment/{payment_id}", response_class=HTMLResponse)
def payment_page(ctx: Read, payment_id: Id) -> HTMLResponse:
    return _payment_page(ctx, payment_id)


@router.post("/payment/{payment_id}/return", response_class=HTMLResponse)
def payment_return(
    ctx: Prepare,
    payment_id: Id,
    code: Annotated[str, Form(max_length=8)] = "",
    returned_on: Annotated[str, Form(max_length=20)] = "",
    detail: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        day = _day(returned_on, "returned_on")
        with ctx.db.write() as conn:
            runs.return_payment(
                conn, ctx.actor, ctx.book_id, payment_id, code=code, detail=detail, returned_on=day
            )
    except ValidationFailed as exc:
        return _payment_page(ctx, payment_id, field_errors(exc), 422)
    return RedirectResponse(f"/b/{ctx.code}/payment/{payment_id}", status_code=303)


@router.get("/payment/{payment_id}/advice.{fmt}")
def payment_advice(ctx: Read, payment_id: Id, fmt: str) -> Response:
    """The payment's remittance advice for the payee: PDF or CSV."""
    if fmt not in ("pdf", "csv"):
        raise ValidationFailed([Problem("fmt", "pdf or csv", "format")])
    with ctx.db.read() as conn:
        advice = remittance.advice(conn, ctx.actor, ctx.book_id, payment_id)
    name = f"remittance-{advice.payment.reference}.{fmt}"
    if fmt == "pdf":
        return download(remittance.advice_pdf(advice), "application/pdf", name)
    return download(remittance.advice_csv(advice), "text/csv", name)


# ---------------------------------------------------------------- API


class RunOut(BaseModel):
    id: int
    status: str
    version: int
    pay_date: date
    total: MoneyOut = Field(description="In the book's currency; other currencies are listed")
    other_currencies: list[str]
    payments: int
    items: int
    prepared_by: str
    approved_by: str | None
    second_approved_by: str | None
    released_by: str | None
    needs_second_approver: bool
    cost_centres: list[str] = Field(description="Prepared for these only; empty: every one")
    areas: list[str] = Field(description="Prepared for these areas only; empty: every one")


class PaymentOut(BaseModel):
    id: int
    run_id: int
    reference: str
    party_id: int
    method: str
    amount: MoneyOut
    status: str
    return_code: str


class RunList(BaseModel):
    items: list[RunOut]


class PaymentList(BaseModel):
    items: list[PaymentOut]


class PrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pay_date: date
    methods: list[str] = Field(default_factory=list, max_length=5)
    cost_centres: list[str] = Field(default_factory=list, max_length=50)
    areas: list[str] = Field(default_factory=list, max_length=50)
    note: str = Field(default="", max_length=500)


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31)


class CancelIn(VersionIn):
    reason: str = Field(min_length=1, max_length=500)


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settled_on: date
    payment_ids: list[int] | None = Field(default=None, max_length=10_000)


class ReturnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=8)
    returned_on: date
    detail: str = Field(default="", max_length=500)


def _run_out(run: PaymentRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status.value,
        "version": run.version,
        "pay_date": run.pay_date.isoformat(),
        "total": MoneyOut.of(run.total_minor, run.currency).model_dump(),
        "other_currencies": list(run.other_currencies),
        "payments": run.payment_count,
        "items": run.item_count,
        "prepared_by": run.prepared_by,
        "approved_by": run.approved_by,
        "second_approved_by": run.second_approved_by,
        "released_by": run.released_by,
        "needs_second_approver": run.needs_second,
        "cost_centres": list(run.cost_centres),
        "areas": list(run.areas),
    }


def _payment_out(p: RunPayment) -> dict[str, Any]:
    return {
        "id": p.id,
        "run_id": p.run_id,
        "reference": p.reference,
        "party_id": p.party_id,
        "method": p.method,
        "amount": MoneyOut.of(p.amount_minor, p.currency).model_dump(),
        "status": p.status.value,
        "return_code": p.return_code,
    }


ApiRead = Annotated[ApiCtx, Depends(ApiNeed(P.PAYMENT_READ))]
ApiPrepare = Annotated[ApiCtx, Depends(ApiNeed(P.PAYMENT_PREPARE))]
ApiApprove = Annotated[ApiCtx, Depends(ApiNeed(P.PAYMENT_APPROVE))]
ApiRelease = Annotated[ApiCtx, Depends(ApiNeed(P.PAYMENT_RELEASE))]


@api.get("/runs", response_model=RunList, summary="Payment runs, newest first",
         operation_id="listPaymentRuns")  # fmt: skip
def api_runs(
    ctx: ApiRead,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = runs.list_runs(
            conn, ctx.actor, ctx.book_id, status=status.value if status else None, limit=limit
        )
    return {"items": [_run_out(r) for r in found]}


@api.get("/runs/{pay_run_id}", response_model=RunOut, summary="One payment run",
         operation_id="getPaymentRun")  # fmt: skip
def api_run(ctx: ApiRead, pay_run_id: Id) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return _run_out(runs.get_run(conn, ctx.actor, ctx.book_id, pay_run_id))


@api.get("/runs/{pay_run_id}/payments", response_model=PaymentList,
         summary="A run's payments", operation_id="listRunPayments")  # fmt: skip
def api_run_payments(
    ctx: ApiRead,
    pay_run_id: Id,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    with ctx.db.read() as conn:
        found = runs.list_payments(
            conn, ctx.actor, ctx.book_id, pay_run_id, offset=offset, limit=limit
        )
    return {"items": [_payment_out(p) for p in found]}


@api.post("/runs", response_model=RunOut, status_code=201, summary="Prepare a payment run",
          operation_id="preparePaymentRun", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_prepare(ctx: ApiPrepare, body: PrepareIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        done = runs.prepare_run(
            conn,
            ctx.actor,
            ctx.book_id,
            body.pay_date,
            methods=set(body.methods) or None,
            cost_centres=set(body.cost_centres) or None,
            areas=set(body.areas) or None,
            note=body.note,
        )
        return 201, _run_out(done.run)

    return idempotent(ctx, body.model_dump(mode="json"), effect)


def _step(ctx: ApiCtx, body: BaseModel, act: Any) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        return 200, _run_out(act(conn))

    return idempotent(ctx, body.model_dump(mode="json"), effect)


@api.post("/runs/{pay_run_id}/approve", response_model=RunOut, summary="Approve a run",
          operation_id="approvePaymentRun", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_approve(ctx: ApiApprove, pay_run_id: Id, body: VersionIn) -> Response:
    return _step(
        ctx,
        body,
        lambda c: runs.approve_run(c, ctx.actor, ctx.book_id, pay_run_id, version=body.version),
    )


@api.post("/runs/{pay_run_id}/release", response_model=RunOut, summary="Release a run",
          operation_id="releasePaymentRun", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_release(ctx: ApiRelease, pay_run_id: Id, body: VersionIn) -> Response:
    vault = ctx.request.app.state.web.vault()
    return _step(
        ctx,
        body,
        lambda c: runs.release_run(
            c, ctx.actor, vault, ctx.book_id, pay_run_id, version=body.version
        ),
    )


@api.post("/runs/{pay_run_id}/cancel", response_model=RunOut, summary="Cancel a run",
          operation_id="cancelPaymentRun", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_cancel(ctx: ApiPrepare, pay_run_id: Id, body: CancelIn) -> Response:
    return _step(
        ctx,
        body,
        lambda c: runs.cancel_run(
            c, ctx.actor, ctx.book_id, pay_run_id, version=body.version, reason=body.reason
        ),
    )


@api.post("/runs/{pay_run_id}/settle", response_model=RunOut, summary="Record settlement",
          operation_id="settlePaymentRun", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_settle(ctx: ApiPrepare, pay_run_id: Id, body: SettleIn) -> Response:
    def act(conn: Any) -> PaymentRun:
        runs.settle_payments(
            conn,
            ctx.actor,
            ctx.book_id,
            pay_run_id,
            settled_on=body.settled_on,
            payment_ids=body.payment_ids,
        )
        return runs.get_run(conn, ctx.actor, ctx.book_id, pay_run_id)

    return _step(ctx, body, act)


@api.get("/{payment_id}", response_model=PaymentOut, summary="One payment",
         operation_id="getPayment")  # fmt: skip
def api_payment(ctx: ApiRead, payment_id: Id) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return _payment_out(runs.get_payment(conn, ctx.actor, ctx.book_id, payment_id))


@api.post("/{payment_id}/return", response_model=PaymentOut, summary="Record a return",
          operation_id="returnPayment", openapi_extra=IDEMPOTENT)  # fmt: skip
def api_return(ctx: ApiPrepare, payment_id: Id, body: ReturnIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        done = runs.return_payment(
            conn,
            ctx.actor,
            ctx.book_id,
            payment_id,
            code=body.code,
            detail=body.detail,
            returned_on=body.returned_on,
        )
        return 200, _payment_out(done)

    return idempotent(ctx, body.model_dump(mode="json"), effect)
