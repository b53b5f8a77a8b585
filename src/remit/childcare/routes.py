"""Pages of child care: the certificates with the version in force on a day, the import of
families and certificates, a certificate's versions with a change from a date and its
notices of action, and a family's page."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.childcare import service as childcare
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors, notice_redirect, signed_notice

router = APIRouter(prefix="/b/{book}/childcare")
Read = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_READ))]
Edit = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_EDIT))]
PAGE = 100
FIELD_WORDS = {
    "start_date": "first day",
    "end_date": "last day",
    "schedule": "hours",
    "rate_category": "rate category",
    "time_basis": "full or part time",
    "evening_weekend_share": "evening and weekend share",
    "exceptional_needs": "exceptional needs",
    "severely_disabled": "severely disabled",
    "provider_rate_minor": "provider's rate",
}


def _problem_lines(exc: ValidationFailed) -> list[str]:
    out = []
    for p in exc.problems[:100]:
        where = ", ".join(x for x in (p.source, f"line {p.line}" if p.line else "", p.field) if x)
        out.append(f"{where}: {p.message}")
    if len(exc.problems) > 100:
        out.append(f"... and {len(exc.problems) - 100:,} more")
    return out


def _day(text: str, fallback: date) -> date:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else fallback
    except ValueError:
        return fallback


def _home(
    ctx: Ctx,
    q: str = "",
    on: str = "",
    offset: int = 0,
    errors: list[str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        today = ledger.book_today(conn, ctx.book_id)
        day = _day(on, today)
        rows, total = childcare.list_certificates(
            conn, ctx.actor, ctx.book_id, on=day, search=q, limit=PAGE, offset=offset
        )
    return ctx.page(
        "childcare/home.html",
        status,
        nav="childcare",
        rows=rows,
        total=total,
        q=q,
        on=day,
        offset=offset,
        page=PAGE,
        errors=errors or [],
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("", response_class=HTMLResponse)
def home(
    ctx: Read,
    q: Annotated[str, Query(max_length=64)] = "",
    on: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    notice: str = "",
    sig: str = "",
) -> HTMLResponse:
    return _home(ctx, q, on, offset, notice=signed_notice(ctx, notice, sig))


@router.post("/import", response_class=HTMLResponse)
def import_files(
    ctx: Edit,
    families: Annotated[UploadFile | None, File()] = None,
    certificates: Annotated[UploadFile | None, File()] = None,
    once: forms.Once = "",
) -> Response:
    """Families and certificates from the exchange files, all or nothing."""
    given = {}
    for name, upload in (("families", families), ("certificates", certificates)):
        if upload is not None and upload.filename:
            given[name] = (upload.filename, upload.file.read(MAX_UPLOAD_BYTES + 1))
    try:
        if any(len(content) > MAX_UPLOAD_BYTES for _n, content in given.values()):
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.import")
            summary = childcare.import_files(
                conn,
                ctx.actor,
                ctx.book_id,
                families=given["families"][1] if "families" in given else None,
                certificates=given["certificates"][1] if "certificates" in given else None,
                families_name=given.get("families", ("families.csv",))[0],
                certificates_name=given.get("certificates", ("certs.csv",))[0],
            )
            said = (
                f"{summary.families_created} new and {summary.families_updated} changed "
                f"families, {summary.children_created} new children, "
                f"{summary.certificates_created} new certificates, {summary.versions_created} "
                f"new versions ({summary.families_unchanged + summary.versions_unchanged} "
                "rows were in the book already)"
            )
            answer = notice_redirect(ctx, f"/b/{ctx.code}/childcare", said)
            forms.spend(conn, ctx, once, "childcare.import", answer.headers["location"])
    except ValidationFailed as exc:
        return _home(ctx, errors=_problem_lines(exc), status=422)
    return answer


def _certificate_page(
    ctx: Ctx,
    certificate_id: int,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        detail = childcare.certificate(conn, ctx.actor, ctx.book_id, certificate_id)
        today = ledger.book_today(conn, ctx.book_id)
    versions = detail["versions"]
    current = next((v for v in reversed(versions) if v["version_from"] <= today), versions[0])
    return ctx.page(
        "childcare/certificate.html",
        status,
        nav="childcare",
        c=detail,
        current=current,
        today=today,
        words=FIELD_WORDS,
        errors=errors or {},
        values=values or _change_defaults(current),
        notice=notice,
    )


def _change_defaults(v: dict[str, Any]) -> dict[str, str]:
    rate = v["provider_rate"].amount_minor
    return {
        "version_from": "",
        "start_date": v["start_date"].isoformat(),
        "end_date": v["end_date"].isoformat(),
        "schedule": v["schedule"],
        "rate_category": v["rate_category"],
        "time_basis": v["time_basis"],
        "evening_weekend_share": v["evening_weekend_share"],
        "exceptional_needs": "yes" if v["exceptional_needs"] else "no",
        "severely_disabled": "yes" if v["severely_disabled"] else "no",
        "provider_rate": f"{rate // 100}.{rate % 100:02d}",
        "reason": "",
    }


@router.get("/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate_page(
    ctx: Read, certificate_id: Id, notice: str = "", sig: str = ""
) -> HTMLResponse:
    return _certificate_page(ctx, certificate_id, notice=signed_notice(ctx, notice, sig))


@router.post("/certificates/{certificate_id}/versions", response_class=HTMLResponse)
def change(
    ctx: Edit,
    certificate_id: Id,
    version_from: Annotated[str, Form(max_length=10)] = "",
    start_date: Annotated[str, Form(max_length=10)] = "",
    end_date: Annotated[str, Form(max_length=10)] = "",
    schedule: Annotated[str, Form(max_length=120)] = "",
    rate_category: Annotated[str, Form(max_length=10)] = "",
    time_basis: Annotated[str, Form(max_length=10)] = "",
    evening_weekend_share: Annotated[str, Form(max_length=10)] = "",
    exceptional_needs: Annotated[str, Form(max_length=3)] = "",
    severely_disabled: Annotated[str, Form(max_length=3)] = "",
    provider_rate: Annotated[str, Form(max_length=14)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
    once: forms.Once = "",
) -> Response:
    """A new version from a date: the fields as the form gives them, the rest kept."""
    typed = {
        "version_from": version_from,
        "start_date": start_date,
        "end_date": end_date,
        "schedule": schedule,
        "rate_category": rate_category,
        "time_basis": time_basis,
        "evening_weekend_share": evening_weekend_share,
        "exceptional_needs": exceptional_needs,
        "severely_disabled": severely_disabled,
        "provider_rate": provider_rate,
        "reason": reason,
    }
    try:
        try:
            first = date.fromisoformat(version_from.strip())
        except ValueError:
            problem = Problem("version_from", "a date like 2027-01-01", "date")
            raise ValidationFailed([problem]) from None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.change")
            changes = {k: typed[k] for k in childcare.CHANGEABLE if typed[k].strip()}
            childcare.change_certificate(
                conn, ctx.actor, ctx.book_id, certificate_id, first, changes, reason
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/certificates/{certificate_id}",
                f"a new version from {first.isoformat()} is saved: issue its notice of action",
            )
            forms.spend(conn, ctx, once, "childcare.change", answer.headers["location"])
    except ValidationFailed as exc:
        return _certificate_page(ctx, certificate_id, field_errors(exc), typed, status=422)
    return answer


@router.post("/certificates/{certificate_id}/notices", response_class=HTMLResponse)
def notice(
    ctx: Edit,
    certificate_id: Id,
    version_from: Annotated[str, Form(max_length=10)] = "",
    language: Annotated[str, Form(max_length=2)] = "",
    once: forms.Once = "",
) -> Response:
    """The notice of action of one version, written to the family and kept as a PDF."""
    try:
        try:
            first = date.fromisoformat(version_from.strip())
        except ValueError:
            problem = Problem("version_from", "a date like 2027-01-01", "date")
            raise ValidationFailed([problem]) from None
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.notice")
            letter_id = childcare.issue_notice(
                conn, ctx.actor, ctx.book_id, certificate_id, first, language or None
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/certificates/{certificate_id}",
                f"notice of action {letter_id} for the version from {first.isoformat()} issued",
            )
            forms.spend(conn, ctx, once, "childcare.notice", answer.headers["location"])
    except ValidationFailed as exc:
        errors = {"notice": [f"{p.field}: {p.message}" for p in exc.problems]}
        return _certificate_page(ctx, certificate_id, errors, status=422)
    return answer


@router.get("/families/{family_id}", response_class=HTMLResponse)
def family_page(ctx: Read, family_id: Id) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = childcare.family(conn, ctx.actor, ctx.book_id, family_id)
    return ctx.page("childcare/family.html", nav="childcare", f=found)
