"""Child care in the provider portal (issue 11, point 3): the provider's certificates and
child-months, its file's missing items, a month's attendance record entered day by day,
or sent as CSV or XLSX. The provider is the signed-in user's party, never the URL's."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.childcare import month as cc_month
from remit.childcare import portal
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.web import forms
from remit.web.deps import Ctx, NeedPortal, notice_redirect, signed_notice

router = APIRouter(prefix="/portal/{book}/childcare")
Portal = Annotated[Ctx, Depends(NeedPortal(Permission.PORTAL_PROVIDER))]
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", max_length=7)]
CertificateRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$", max_length=64)]
ABSENCES = ("", "excused", "closure")


def _month_of(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def _lines(exc: ValidationFailed) -> list[str]:
    out = [
        (f"line {p.line}, {p.field}: " if p.line is not None else "") + p.message
        for p in exc.problems[:200]
    ]
    if len(exc.problems) > 200:
        out.append(f"... and {len(exc.problems) - 200:,} more")
    return out


def _home(ctx: Ctx, errors: list[str] | None = None, notice: str = "", code: int = 200) -> Response:
    with ctx.db.read() as conn:
        found = portal.overview(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "childcare/portal.html",
        code,
        nav="childcare",
        o=found,
        errors=errors or [],
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("", response_class=HTMLResponse)
def home(ctx: Portal, notice: str = "", sig: str = "") -> Response:
    return _home(ctx, notice=signed_notice(ctx, notice, sig))


def _said(got: cc_month.AttendanceSummary) -> str:
    if not got.records_new and not got.records_replaced:
        return f"sent before: the agency has these {got.records_unchanged} record(s) already"
    return (
        f"received {got.records_new + got.records_replaced} record(s), {got.days} day(s)"
        + (f"; {got.records_replaced} replaced an earlier one" if got.records_replaced else "")
        + (f"; {got.records_unchanged} as before" if got.records_unchanged else "")
    )


@router.post("/attendance", response_class=HTMLResponse)
def upload(ctx: Portal, file: Annotated[UploadFile, File()], once: forms.Once = "") -> Response:
    """The provider's attendance.csv or .xlsx: its own certificates only, all or nothing."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    name = file.filename or "attendance.csv"
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.portal_attendance")
            got = cc_month.import_attendance(
                conn,
                ctx.actor,
                ctx.book_id,
                content,
                name,
                provider_party_id=ctx.actor.party_in(ctx.book_id),
            )
            answer = notice_redirect(ctx, f"/portal/{ctx.code}/childcare", f"{name}: {_said(got)}")
            forms.spend(conn, ctx, once, "childcare.portal_attendance", answer.headers["location"])
    except ValidationFailed as exc:
        return _home(ctx, errors=_lines(exc), code=422)
    return answer


def _form(
    ctx: Ctx,
    certificate_ref: str,
    month: str,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    code: int = 200,
) -> Response:
    with ctx.db.read() as conn:
        found = portal.record_form(conn, ctx.actor, ctx.book_id, certificate_ref, _month_of(month))
    return ctx.page(
        "childcare/portal_record.html",
        code,
        nav="childcare",
        r=found,
        code_month=month,
        errors=errors or [],
        values=values or {},
        absences=ABSENCES,
    )


@router.get("/records/{certificate_ref}/{month}", response_class=HTMLResponse)
def record_form(ctx: Portal, certificate_ref: CertificateRef, month: Month) -> Response:
    return _form(ctx, certificate_ref, month)


@router.post("/records/{certificate_ref}/{month}", response_class=HTMLResponse)
async def record_send(
    ctx: Portal, request: Request, certificate_ref: CertificateRef, month: Month
) -> Response:
    """A month's record entered day by day (``in_YYYY-MM-DD``, ``out_...``, ``absence_...``)
    with the two signature dates; received today."""
    form = await request.form(max_fields=200, max_files=0)
    values = {k: str(v)[:64] for k, v in form.items() if isinstance(v, str)}
    first = _month_of(month)
    days = []
    named = {k.split("_", 1)[1] for k in values if k.startswith(("in_", "out_", "absence_"))}
    for text in sorted(named):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            continue
        absence = values.get(f"absence_{text}", "")
        days.append(
            portal.EnteredDay(
                day,
                values.get(f"in_{text}", "").strip(),
                values.get(f"out_{text}", "").strip(),
                absence if absence in ABSENCES else "bad",
            )
        )
    once = values.get("once", "")
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.portal_record")
            got = portal.send_record(
                conn,
                ctx.actor,
                ctx.book_id,
                certificate_ref,
                first,
                sorted(days, key=lambda d: d.day),
                values.get("parent_signed", "").strip(),
                values.get("provider_signed", "").strip(),
            )
            answer = notice_redirect(
                ctx,
                f"/portal/{ctx.code}/childcare",
                f"{certificate_ref}, {first:%B %Y}: {_said(got)}",
            )
            forms.spend(conn, ctx, once, "childcare.portal_record", answer.headers["location"])
    except ValidationFailed as exc:
        return _form(ctx, certificate_ref, month, _lines(exc), values, 422)
    return answer
