"""Pages of care monitoring: plan, import, reconcile (a job with progress), the runs, their
exceptions and decisions, the payable, holds and adjustments; the provider's portal page."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from remit.access.model import Permission
from remit.calendar import locale_of
from remit.care import decisions, imports, payables, reports, runs, selfbill, worklist
from remit.care import packages as care_packages
from remit.care import service as care
from remit.db import MAX_ID
from remit.documents import service as documents
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.jobs import service as jobs
from remit.money import UnknownCurrency, parse_money
from remit.parties import service as parties
from remit.web import forms
from remit.web.api import IDEMPOTENT, PROBLEMS, ApiCtx, ApiNeed, idempotent
from remit.web.deps import (
    Ctx,
    Id,
    Need,
    NeedPortal,
    field_errors,
    notice_redirect,
    signed_notice,
)
from remit.web.downloads import download

router = APIRouter(prefix="/b/{book}/care")
portal = APIRouter(prefix="/portal/{book}/visits")
Read = Annotated[Ctx, Depends(Need(Permission.CARE_READ))]
Import = Annotated[Ctx, Depends(Need(Permission.CARE_IMPORT))]
Run = Annotated[Ctx, Depends(Need(Permission.CARE_RUN))]
Decide = Annotated[Ctx, Depends(Need(Permission.CARE_DECIDE))]
Policy_ = Annotated[Ctx, Depends(Need(Permission.CARE_POLICY))]
Portal = Annotated[Ctx, Depends(NeedPortal(Permission.PORTAL_PROVIDER))]
DECISIONS = (
    ("accept_actual", "Accept actual"),
    ("accept_planned", "Accept planned"),
    ("set_minutes", "Set minutes"),
    ("hold", "Hold until a package exists"),
    ("reject", "Reject"),
)


def _names(conn: Any, ctx: Ctx, party_ids: set[int]) -> dict[int, str]:
    return {
        pid: name for pid, (_ref, name) in parties.party_names(conn, ctx.book_id, party_ids).items()
    }


def _home(
    ctx: Ctx,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = payables.runs_of(conn, ctx.actor, ctx.book_id)[:200]
        policies = care.policy_versions(conn, ctx.actor, ctx.book_id)
        names = _names(
            conn,
            ctx,
            {r["provider_party_id"] for r in found}
            | {v["provider_party_id"] for v in policies if v["provider_party_id"]},
        )
        unmatched, _rows = runs.unmatched_records(conn, ctx.actor, ctx.book_id, limit=0)
        held = payables.held_providers(conn, ctx.actor, ctx.book_id)
        recent = care.recent_imports(conn, ctx.actor, ctx.book_id)
        for row in recent:  # the error file of rows an import turned away
            row["error_files"] = (
                documents.list_documents(conn, ctx.actor, ctx.book_id, "care_import", row["id"])
                if row["rejected"]
                else []
            )
    return ctx.page(
        "care/home.html",
        status,
        nav="care",
        runs=found,
        names=names,
        imports=recent,
        errors=errors or {},
        values=values or {},
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
        policies=policies,
        unmatched=unmatched,
        held=held,
    )


@router.get("", response_class=HTMLResponse)
def care_home(ctx: Read, notice: str = "", sig: str = "") -> HTMLResponse:
    return _home(ctx, notice=signed_notice(ctx, notice, sig))


def _dates(first: str, last: str) -> tuple[date, date]:
    problems = []
    found = []
    for name, text in (("from", first), ("to", last)):
        try:
            found.append(date.fromisoformat(text))
        except ValueError:
            problems.append(Problem(name, "a date like 2026-11-02", "date"))
    if problems:
        raise ValidationFailed(problems)
    return found[0], found[1]


@router.post("/plan", response_class=HTMLResponse)
def care_plan(
    ctx: Import,
    first: Annotated[str, Form(alias="from")] = "",
    last: Annotated[str, Form(alias="to")] = "",
    once: forms.Once = "",
) -> Response:
    try:
        start, end = _dates(first, last)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.plan")
            report = care.plan_period(conn, ctx.actor, ctx.book_id, start, end)
            answer = notice_redirect(ctx, f"/b/{ctx.code}/care", report.text())
            forms.spend(conn, ctx, once, "care.plan", answer.headers["location"])
    except ValidationFailed as exc:
        return _home(ctx, field_errors(exc), {"from": first, "to": last}, status=422)
    return answer


@router.post("/import", response_class=HTMLResponse)
def care_import(
    ctx: Import,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form()] = "actual",
    valid_only: Annotated[bool, Form()] = False,
    once: forms.Once = "",
) -> Response:
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    name = file.filename or "upload.csv"
    try:
        if kind not in ("packages", "planned", "actual"):
            raise ValidationFailed(
                [Problem("kind", "care packages, planned visits or actual records", "kind")]
            )
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                [Problem("file", f"at most {MAX_UPLOAD_BYTES // 2**20} MB", "size")]
            )
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.import")
            if kind == "packages":
                made = care_packages.import_packages(conn, ctx.actor, ctx.book_id, name, content)
                notice = f"commissioned {len(made)} care package(s) from {name}"
            else:
                reader = imports.import_planned if kind == "planned" else imports.import_actual
                result = reader(conn, ctx.actor, ctx.book_id, name, content, valid_only)
                notice = _import_notice(name, result)
            answer = notice_redirect(ctx, f"/b/{ctx.code}/care", notice)
            forms.spend(conn, ctx, once, "care.import", answer.headers["location"])
    except ValidationFailed as exc:
        return _home(ctx, _import_errors(exc), {"kind": kind, "valid_only": valid_only}, status=422)
    return answer


def _import_notice(name: str, result: imports.ImportResult) -> str:
    return (
        f"{name} was imported before: nothing new"
        if result.replayed
        else f"imported {result.rows} row(s) of {name}"
        + (f"; {result.kept_text()}" if result.kept_text() else "")
        + (f"; {result.rejected} rejected (download below)" if result.rejected else "")
    )


def _import_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    """A file's problems all go with the file field, each naming its line and column."""
    out: dict[str, list[str]] = {}
    for p in exc.problems:
        key = "file" if p.line is not None or p.field not in ("kind",) else p.field
        where = f"line {p.line}, {p.field}: " if p.line is not None else ""
        out.setdefault(key, []).append(where + p.message)
    return out


@router.post("/reconcile", response_class=HTMLResponse)
def care_reconcile(
    ctx: Run,
    first: Annotated[str, Form(alias="from")] = "",
    last: Annotated[str, Form(alias="to")] = "",
    providers: Annotated[str, Form(max_length=4000)] = "",
    once: forms.Once = "",
) -> Response:
    """Reconcile in the background: the job's page shows the progress and the result.
    ``providers``: references separated by commas or spaces; none is every provider."""
    refs = list(dict.fromkeys(providers.replace(",", " ").split()))
    values = {"reconcile_from": first, "reconcile_to": last, "providers": providers}
    try:
        _dates(first, last)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.reconcile")
            if refs:  # named in words now, not as a failed job later
                runs.provider_ids_for(conn, ctx.actor, ctx.book_id, refs)
            job_id = jobs.enqueue(
                conn,
                ctx.actor,
                ctx.book_id,
                "care.reconcile",
                {"from": first, "to": last, **({"providers": refs} if refs else {})},
            )
            target = forms.spend(conn, ctx, once, "care.reconcile", f"/b/{ctx.code}/jobs/{job_id}")
    except ValidationFailed as exc:
        errors = field_errors(exc)
        for name, key in (("from", "reconcile_from"), ("to", "reconcile_to")):
            if name in errors:
                errors[key] = errors.pop(name)
        if "provider" in errors:
            errors["providers"] = errors.pop("provider")
        return _home(ctx, errors, values, status=422)
    return RedirectResponse(target, status_code=303)


@router.get("/unmatched", response_class=HTMLResponse)
def care_unmatched(ctx: Read, provider: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """Records that belong to no run yet, oldest first: what a supplementary run would take."""
    with ctx.db.read() as conn:
        chosen = None
        problem = ""
        if provider.strip():
            try:
                chosen = runs.provider_ids_for(conn, ctx.actor, ctx.book_id, [provider.strip()])
            except ValidationFailed as exc:
                problem = exc.problems[0].message
                chosen = [-1]
        total, rows = runs.unmatched_records(conn, ctx.actor, ctx.book_id, chosen)
    return ctx.page(
        "care/unmatched.html",
        422 if problem else 200,
        nav="care",
        total=total,
        rows=rows,
        provider=provider,
        problem=problem,
    )


FIELD_WORDS = {"decision": "Decision", "minutes": "Minutes", "reason": "Reason"}
FIELD_WORDS |= {"outcomes": "Exceptions"}


def _run_page(
    ctx: Ctx,
    run_id: int,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
    stale: list[dict[str, Any]] | None = None,
) -> HTMLResponse:
    """The run as a worklist: its exceptions filtered, sorted and paged as the query string
    says (``rule``, ``state``, ``client``, ``carer``, ``sort``, ``page``; ``lines``: the
    page of the visit lines)."""
    chosen = worklist.Filters.of(ctx.request.query_params)
    lines_text = ctx.request.query_params.get("lines", "1")
    line_page = int(lines_text) if lines_text.isdigit() and len(lines_text) < 7 else 1
    with ctx.db.read() as conn:
        run, held = payables.run_with_hold(conn, ctx.actor, ctx.book_id, run_id)
        seen = worklist.run_page(conn, ctx.actor, ctx.book_id, run_id, chosen, line_page)
        adjustments = payables.adjustments_of(conn, ctx.actor, ctx.book_id, run_id)
    sums, matching, exceptions, lines = seen.totals, seen.matching, seen.exceptions, seen.lines
    line_count = sums["lines"]
    # The decisions awaiting a second person, of this page's rows (read with the rows).
    pending = {int(e["id"]): e["waiting"] for e in exceptions if e["waiting"] is not None}
    return ctx.page(
        "care/run.html",
        status,
        nav="care",
        run=run,
        provider={"id": run.provider_party_id, "name": seen.provider_name},
        exceptions=exceptions,
        exception_count=sums["exceptions"],
        matching=matching,
        chosen=chosen,
        pages=-(-matching // worklist.PAGE_ROWS),
        rules=worklist.RULE_WORDS,
        lines=lines,
        line_count=line_count,
        line_page=line_page,
        line_pages=-(-line_count // worklist.LINE_ROWS),
        line_rows=worklist.LINE_ROWS,
        query=urlencode(chosen.query()),
        total=sums["amount_minor"]
        + sum(a["amount_minor"] for a in adjustments if a["status"] == "approved"),
        held=held,
        adjustments=adjustments,
        decisions=DECISIONS,
        errors=errors or {},
        summary=_worded(errors or {}),
        values=values or {},
        pending=pending,
        stale=stale or [],
        currency=sums["currency"] or "",
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(ctx: Read, run_id: Id) -> HTMLResponse:
    return _run_page(ctx, run_id)


SELFBILL_MEDIA = {
    "csv": "text/csv",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _selfbill(ctx: Ctx, run_id: int, fmt: str, portal: bool = False) -> Response:
    if fmt not in SELFBILL_MEDIA:
        raise ValidationFailed([Problem("format", "csv, xlsx or pdf", "format")])
    with ctx.db.read() as conn:
        bill = selfbill.self_bill(conn, ctx.actor, ctx.book_id, run_id, portal=portal)
    render = {
        "csv": selfbill.selfbill_csv,
        "xlsx": selfbill.selfbill_xlsx,
        "pdf": selfbill.selfbill_pdf,
    }[fmt]
    return download(render(bill), SELFBILL_MEDIA[fmt], bill.filename(fmt))


@router.get("/runs/{run_id}/selfbill.{fmt}")
def run_selfbill(ctx: Read, run_id: Id, fmt: str) -> Response:
    return _selfbill(ctx, run_id, fmt)


def _worded(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The error summary's lines in words: "Minutes (exception 12)", not ``o12-minutes``."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        outcome, _, name = key.partition("-")
        label = FIELD_WORDS.get(name, name.replace("_", " ").capitalize())
        where = "the exceptions ticked" if outcome == "bulk" else f"exception {outcome[1:]}"
        out.setdefault(f"{label} ({where})", []).extend(messages)
    return out


@router.post("/outcomes/{outcome_id}/decide", response_class=HTMLResponse)
def outcome_decide(
    ctx: Decide,
    outcome_id: Id,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=8000)] = "",
    minutes: Annotated[str, Form(max_length=20)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """One decision, on the version of the exception the officer saw (a stale one is a 409
    saying what stands now)."""
    with ctx.db.read() as conn:
        run_id = decisions.outcome_run_id(conn, ctx.actor, ctx.book_id, outcome_id)
    chosen = int(minutes) if minutes.strip().isdigit() and len(minutes) < 6 else None
    seen = int(version) if version.strip().isdigit() else None
    typed = {"decision": decision, "reason": reason, "minutes": minutes}
    try:
        if minutes.strip() and chosen is None:
            raise ValidationFailed([Problem("minutes", "a whole number of minutes", "minutes")])
        with ctx.db.write() as conn:
            decisions.decide(
                conn, ctx.actor, ctx.book_id, outcome_id, decision, reason, chosen, seen
            )
    except ValidationFailed as exc:
        errors = {f"o{outcome_id}-{k}": v for k, v in field_errors(exc).items()}
        values = {f"o{outcome_id}-{k}": v for k, v in typed.items()}
        return _run_page(ctx, run_id, errors, 422, values)
    return _back_to_run(ctx, run_id)


def _back_to_run(ctx: Ctx, run_id: int) -> Response:
    """To the worklist as the officer left it (its filters, sort and page)."""
    query = f"?{ctx.request.url.query}" if ctx.request.url.query else ""
    return RedirectResponse(f"/b/{ctx.code}/care/runs/{run_id}{query}#exceptions", status_code=303)


@router.post("/runs/{run_id}/decide", response_class=HTMLResponse)
def run_decide_many(
    ctx: Decide,
    run_id: Id,
    pick: Annotated[list[str] | None, Form(max_length=40)] = None,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=8000)] = "",
    minutes: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """One decision and one reason on the exceptions ticked (``pick``: ``id:version``), all
    or nothing; a stale row refuses the whole with 409, listing every stale row."""
    versions = {
        int(i): int(v)
        for i, _, v in (p.partition(":") for p in pick or [])
        if i.isdigit() and v.isdigit() and len(i) < 12 and len(v) < 12
    }
    chosen = int(minutes) if minutes.strip().isdigit() and len(minutes) < 6 else None
    typed = {"bulk-decision": decision, "bulk-reason": reason, "bulk-minutes": minutes}
    typed |= {f"pick-{i}": "on" for i in versions}
    try:
        if minutes.strip() and chosen is None:
            raise ValidationFailed([Problem("minutes", "a whole number of minutes", "minutes")])
        with ctx.db.write() as conn:
            decisions.decide_many(
                conn, ctx.actor, ctx.book_id, run_id, versions, decision, reason, chosen
            )
    except ValidationFailed as exc:
        errors = {f"bulk-{k}": v for k, v in field_errors(exc).items()}
        return _run_page(ctx, run_id, errors, 422, typed)
    except decisions.StaleDecision as exc:
        return _run_page(ctx, run_id, {"bulk-outcomes": [str(exc)]}, 409, typed, exc.current)
    return _back_to_run(ctx, run_id)


@router.post("/decisions/{decision_id}/approve")
def decision_approve(
    ctx: Annotated[Ctx, Depends(Need(Permission.CARE_APPROVE))],
    decision_id: Id,
    accept: Annotated[bool, Form()] = False,
) -> Response:
    """A second person's approval or refusal of a decision waiting for one."""
    with ctx.db.write() as conn:
        done = decisions.approve(conn, ctx.actor, ctx.book_id, decision_id, accept)
    return RedirectResponse(f"/b/{ctx.code}/care/runs/{done['run_id']}#exceptions", status_code=303)


@router.post("/runs/{run_id}/post")
def run_post(ctx: Run, run_id: Id) -> Response:  # the service also needs ledger.post
    with ctx.db.write() as conn:
        payables.post_payable(conn, ctx.actor, ctx.book_id, run_id)
    return RedirectResponse(f"/b/{ctx.code}/care/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/adjustments", response_class=HTMLResponse)
def run_adjust(
    ctx: Decide,
    run_id: Id,
    amount: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> Response:
    target = f"/b/{ctx.code}/care/runs/{run_id}#adjustments"
    try:
        minor = adjustment_minor(amount, str(ctx.book["base_currency"]) if ctx.book else "GBP")
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.adjustment")
            payables.request_adjustment(conn, ctx.actor, ctx.book_id, run_id, minor, reason)
            forms.spend(conn, ctx, once, "care.adjustment", target)
    except ValidationFailed as exc:
        typed = {"amount": amount[:40], "reason": reason[:200]}
        return _run_page(ctx, run_id, field_errors(exc), 422, values=typed)
    return RedirectResponse(target, status_code=303)


ADJUSTMENT_LIMIT_MINOR = 10**13  # as payables.request_adjustment bounds it


def adjustment_minor(text: str, currency: str) -> int:
    """An adjustment typed in major units (``12.50``, ``-3``, ``£1,200``) as minor units;
    empty, zero, more decimals than the currency has, or beyond the bound are refused.

    >>> adjustment_minor("12.50", "GBP"), adjustment_minor("-3", "GBP"), adjustment_minor(
    ...     "$1,200", "USD")
    (1250, -300, 120000)
    >>> adjustment_minor("1250p", "GBP")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    remit.errors.ValidationFailed: amount: a sum like 12.50, minus to pay less (not zero)
    """
    problem = ValidationFailed(
        [Problem("amount", "a sum like 12.50, minus to pay less (not zero)", "amount")]
    )
    try:
        minor = parse_money(text.strip(), currency, locale_of(currency)).amount_minor
    except (ValidationFailed, UnknownCurrency):
        raise problem from None
    if minor == 0 or abs(minor) >= ADJUSTMENT_LIMIT_MINOR:
        raise problem
    return minor


@router.post("/adjustments/{adjustment_id}/decide")
def adjustment_decide(
    ctx: Policy_, adjustment_id: Id, approve: Annotated[bool, Form()] = False
) -> Response:
    with ctx.db.write() as conn:
        payables.decide_adjustment(conn, ctx.actor, ctx.book_id, adjustment_id, approve)
        run_id = payables.adjustment_run_id(conn, ctx.actor, ctx.book_id, adjustment_id)
    return RedirectResponse(f"/b/{ctx.code}/care/runs/{run_id}#adjustments", status_code=303)


@router.post("/providers/{party_id}/hold", response_class=HTMLResponse)
def provider_hold(
    ctx: Policy_,
    party_id: Id,
    reason: Annotated[str, Form()] = "",
    lift: Annotated[bool, Form()] = False,
    run_id: Annotated[int, Form(ge=1, le=MAX_ID)] = 0,
    once: forms.Once = "",
) -> Response:
    target = f"/b/{ctx.code}/care/runs/{run_id}" if run_id else f"/b/{ctx.code}/care"
    try:
        with ctx.db.write() as conn:
            if lift:
                payables.lift_hold(conn, ctx.actor, ctx.book_id, party_id)
            else:  # a hold is made once, however often the form is sent
                forms.replay_if_spent(conn, ctx, once, "care.hold")
                payables.hold(conn, ctx.actor, ctx.book_id, party_id, reason)
                forms.spend(conn, ctx, once, "care.hold", target)
    except forms.Replayed as replay:
        return forms.already_done(replay.target)
    return RedirectResponse(target, status_code=303)


# ---------------------------------------------------------------- reports


def _report_period(first: str, last: str) -> tuple[date, date]:
    """The period asked for, or the last four full weeks."""
    if first or last:
        return _dates(first, last)
    today = date.today()  # noqa: DTZ011 - a default for a form, the user can change it
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=28), monday - timedelta(days=1)


def _reports(
    conn: Any, ctx: Ctx, start: date, end: date, frame: Any = None
) -> list[reports.Report]:
    """Every table of the page, from one read of the period's outcomes."""
    if frame is None:
        frame = reports.delivery_frame(conn, ctx.actor, ctx.book_id, start, end)
    return [
        reports.delivery(conn, ctx.actor, ctx.book_id, start, end, by, frame=frame)
        for by in ("provider", "week", "client")
    ] + [
        reports.exceptions(conn, ctx.actor, ctx.book_id, start, end, frame=frame),
        reports.punctuality(conn, ctx.actor, ctx.book_id, start, end),
    ]


@router.get("/reports", response_class=HTMLResponse)
def care_reports(
    ctx: Read,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> HTMLResponse:
    try:
        start, end = _report_period(first, last)
        with ctx.db.read() as conn:
            frame = reports.delivery_frame(conn, ctx.actor, ctx.book_id, start, end)
            tables = _reports(conn, ctx, start, end, frame)
            charts = reports.delivery_charts(conn, ctx.actor, ctx.book_id, start, end, frame=frame)
    except ValidationFailed as exc:
        return ctx.page(
            "care/reports.html",
            422,
            nav="reports",
            tables=[],
            charts=[],
            first=first,
            last=last,
            errors=field_errors(exc),
        )
    return ctx.page(
        "care/reports.html",
        nav="reports",
        tables=tables,
        charts=charts[:40],
        chart_count=len(charts),
        first=start.isoformat(),
        last=end.isoformat(),
        errors={},
    )


@router.get("/reports.{fmt}")
def care_reports_file(
    ctx: Read,
    fmt: str,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    """Every report table of the period: one XLSX workbook, or the CSV of one table."""
    start, end = _report_period(first, last)
    with ctx.db.read() as conn:
        tables = _reports(conn, ctx, start, end)
    if fmt == "xlsx":
        return download(
            reports.report_xlsx(*tables), SELFBILL_MEDIA["xlsx"], f"care-reports-{start}-{end}.xlsx"
        )
    found = next((t for t in tables if f"{t.name}" == fmt.removesuffix(".csv")), None)
    if found is None or not fmt.endswith(".csv"):
        raise ValidationFailed([Problem("format", "xlsx, or <report name>.csv", "format")])
    return download(reports.report_csv(found), "text/csv", found.filename("csv"))


# ---------------------------------------------------------------- the provider's portal


@portal.get("", response_class=HTMLResponse)
def portal_visits(ctx: Portal, notice: str = "", sig: str = "") -> HTMLResponse:
    return _portal_page(ctx, {}, signed_notice(ctx, notice, sig))


def _portal_page(
    ctx: Ctx, errors: dict[str, list[str]], notice: str = "", status: int = 200
) -> HTMLResponse:
    party_id = ctx.actor.party_in(ctx.book_id)
    with ctx.db.read() as conn:
        found = payables.portal_runs(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "care/portal.html",
        status,
        nav="visits",
        runs=found,
        errors=errors,
        notice=notice,
        party_id=party_id,
        max_upload=MAX_UPLOAD_BYTES,
    )


@portal.post("", response_class=HTMLResponse)
def portal_upload(
    ctx: Portal,
    file: Annotated[UploadFile, File()],
    valid_only: Annotated[bool, Form()] = False,
    once: forms.Once = "",
) -> Response:
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    name = file.filename or "visits.csv"
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                [Problem("file", f"at most {MAX_UPLOAD_BYTES // 2**20} MB", "size")]
            )
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.portal_visits")
            result = imports.import_actual(
                conn,
                ctx.actor,
                ctx.book_id,
                name,
                content,
                valid_only,
                provider_party_id=ctx.actor.party_in(ctx.book_id),
            )
            answer = notice_redirect(
                ctx, f"/portal/{ctx.code}/visits", _portal_notice(name, result)
            )
            forms.spend(conn, ctx, once, "care.portal_visits", answer.headers["location"])
    except ValidationFailed as exc:
        return _portal_page(ctx, _import_errors(exc), status=422)
    return answer


def _portal_notice(name: str, result: imports.ImportResult) -> str:
    return (
        f"{name} was sent before: nothing new"
        if result.replayed
        else f"received {result.rows} visit record(s)"
        + (f"; {result.kept_text()}" if result.kept_text() else "")
        + (
            f"; {result.rejected} rejected: the error file is in your documents"
            if result.rejected
            else ""
        )
    )


@portal.get("/runs/{run_id}/selfbill.{fmt}")
def portal_selfbill(ctx: Portal, run_id: Id, fmt: str) -> Response:
    """The provider's own self-bill (another provider's run answers 404, as a missing one)."""
    return _selfbill(ctx, run_id, fmt, portal=True)


# ---------------------------------------------------------------- API


api = APIRouter(prefix="/api/v1/books/{book}/care", tags=["care"], responses=PROBLEMS)
ApiImport = Annotated[ApiCtx, Depends(ApiNeed(Permission.CARE_IMPORT))]
ApiRead = Annotated[ApiCtx, Depends(ApiNeed(Permission.CARE_READ))]


class ActualRecordIn(BaseModel):
    """One carer's check-in and check-out (the columns of actual.csv)."""

    model_config = ConfigDict(extra="allow")
    record_id: str = Field(max_length=64)
    client_id: str = Field(max_length=64)
    provider_id: str = Field(max_length=64)
    carer_id: str = Field(max_length=64)
    service_code: str = Field(max_length=32)
    method: str | None = Field(default=None, description="app, phone or manual")
    check_in: str = Field(description="local date-time, e.g. 2026-11-02T09:05:00")
    check_out: str = Field(description="local date-time, e.g. 2026-11-02T09:35:00")
    latitude: str | None = None
    longitude: str | None = None


class ActualRecordsIn(BaseModel):
    records: list[ActualRecordIn] = Field(min_length=1, max_length=50_000)
    valid_only: bool = Field(
        default=False,
        description="import the valid records and return the rejected ones with their problems",
    )


class ImportOut(BaseModel):
    import_id: int | None
    imported: int
    rejected: int
    replayed: bool
    rejected_csv: str = Field(description="the rejected records with their problems, CSV")


class RunOut(BaseModel):
    id: int
    provider_party_id: int
    period_start: date
    period_end: date
    status: str
    outcomes: int
    exceptions: int
    decided: int
    amount_minor: int = Field(description="the final amounts so far, in minor units")
    case_id: int | None
    entry_id: int | None


@api.post(
    "/actual-records",
    response_model=ImportOut,
    status_code=201,
    summary="Import actual visit records (all or nothing, or the valid ones)",
    operation_id="importActualRecords",
    openapi_extra=IDEMPOTENT,
)
def api_actual_records(ctx: ApiImport, body: ActualRecordsIn) -> Response:
    def effect(conn: Any) -> tuple[int, Any]:
        records = [r.model_dump(exclude_none=True) for r in body.records]
        result = imports.import_actual(
            conn, ctx.actor, ctx.book_id, "api", records, body.valid_only, keep_rejected=False
        )
        return 201, {
            "import_id": result.import_id,
            "imported": result.rows,
            "rejected": result.rejected,
            "replayed": result.replayed,
            "rejected_csv": result.rejected_csv.decode("utf-8"),
        }

    return idempotent(ctx, body.model_dump(), effect)


@api.get(
    "/runs",
    response_model=list[RunOut],
    summary="Reconciliation runs, newest first",
    operation_id="listCareRuns",
)
def api_runs(ctx: ApiRead) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return payables.runs_of(conn, ctx.actor, ctx.book_id)[:500]
