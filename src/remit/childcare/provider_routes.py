"""Pages of the provider file (issue 11, point 1): the compliance page (the share of
complete files, what is missing, what expires soon, reminders as cases), and a provider's
file with its required documents, their records, a record entered with its scanned copy,
and a licence-exempt carer made provisional."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.childcare import compliance
from remit.childcare.providerfile import (
    LABELS,
    PROVISIONAL_DAYS,
    REMIND_DAYS,
    DocumentKind,
    statuses,
)
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.money import parse_money
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors, notice_redirect, signed_notice
from remit.web.downloads import download

router = APIRouter(prefix="/b/{book}/childcare/providers")
Read = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_READ))]
Edit = Annotated[Ctx, Depends(Need(Permission.CHILDCARE_EDIT))]
KINDS = [(k.value, LABELS[k], statuses(k)) for k in DocumentKind]


@router.get("", response_class=HTMLResponse)
def compliance_page(ctx: Read, notice: str = "", sig: str = "") -> HTMLResponse:
    with ctx.db.read() as conn:
        found = compliance.compliance(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "childcare/compliance.html",
        nav="childcare",
        c=found,
        labels=LABELS,
        remind_days=REMIND_DAYS,
        notice=signed_notice(ctx, notice, sig),
    )


@router.get("/compliance.csv")
def compliance_download(ctx: Read) -> Response:
    with ctx.db.read() as conn:
        found = compliance.compliance(conn, ctx.actor, ctx.book_id)
    return download(
        compliance.compliance_csv(found), "text/csv", f"provider-files-{found.today}.csv"
    )


@router.post("/reminders", response_class=HTMLResponse)
def reminders(ctx: Edit, once: forms.Once = "") -> Response:
    """A case for each document expiring within REMIND_DAYS, once per record."""
    with ctx.db.write() as conn:
        forms.replay_if_spent(conn, ctx, once, "childcare.reminders")
        opened = compliance.send_reminders(conn, ctx.actor, ctx.book_id)
        answer = notice_redirect(
            ctx,
            f"/b/{ctx.code}/childcare/providers",
            f"{opened} reminder case(s) opened in the work queue"
            if opened
            else "no new reminder: every expiring document has its case already",
        )
        forms.spend(conn, ctx, once, "childcare.reminders", answer.headers["location"])
    return answer


def _file_page(
    ctx: Ctx,
    party_id: int,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    code: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = compliance.provider_file(conn, ctx.actor, ctx.book_id, party_id)
        currency = str(ledger.get_book(conn, ctx.book_id)["base_currency"])
    return ctx.page(
        "childcare/provider.html",
        code,
        nav="childcare",
        f=found,
        labels=LABELS,
        kinds=KINDS,
        currency=currency,
        provisional_days=PROVISIONAL_DAYS,
        errors=errors or {},
        values=values or {},
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("/{party_id}", response_class=HTMLResponse)
def provider_page(ctx: Read, party_id: Id, notice: str = "", sig: str = "") -> HTMLResponse:
    return _file_page(ctx, party_id, notice=signed_notice(ctx, notice, sig))


def _date(field: str, text: str, required: bool) -> date | None:
    if not text.strip():
        if required:
            raise ValidationFailed([Problem(field, "a date like 2026-11-03", "required")])
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed([Problem(field, "a date like 2026-11-03", "date")]) from None


@router.post("/{party_id}/documents", response_class=HTMLResponse)
def record(
    ctx: Edit,
    party_id: Id,
    kind: Annotated[str, Form(max_length=16)] = "",
    status: Annotated[str, Form(max_length=12)] = "",
    valid_from: Annotated[str, Form(max_length=10)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
    unsubsidised_rate: Annotated[str, Form(max_length=20)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    once: forms.Once = "",
) -> Response:
    """One record of the file (a renewal, a suspension, a clearance), with its copy."""
    typed: dict[str, Any] = {
        "kind": kind,
        "status": status,
        "valid_from": valid_from,
        "expires_on": expires_on,
        "reference": reference,
        "unsubsidised_rate": unsubsidised_rate,
    }
    content = file.file.read(MAX_UPLOAD_BYTES + 1) if file is not None and file.filename else b""
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.provider_document")
            currency = str(ledger.get_book(conn, ctx.book_id)["base_currency"])
            rate = None
            if unsubsidised_rate.strip():
                try:
                    rate = parse_money(unsubsidised_rate, currency).amount_minor
                except ValueError:
                    problem = Problem("unsubsidised_rate", "an amount like 1250.00", "amount")
                    raise ValidationFailed([problem]) from None
            compliance.record_document(
                conn,
                ctx.actor,
                ctx.book_id,
                party_id,
                compliance.NewRecord(
                    kind,
                    status,
                    _date("valid_from", valid_from, True),
                    _date("expires_on", expires_on, False),
                    reference,
                    rate,
                    file.filename or "" if file is not None else "",
                    content,
                ),
            )
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/providers/{party_id}",
                f"{LABELS.get(DocumentKind(kind), kind)} recorded ({status} from {valid_from})",
            )
            forms.spend(conn, ctx, once, "childcare.provider_document", answer.headers["location"])
    except ValidationFailed as exc:
        return _file_page(ctx, party_id, errors=field_errors(exc), values=typed, code=422)
    return answer


@router.post("/{party_id}/provisional", response_class=HTMLResponse)
def provisional(
    ctx: Edit,
    party_id: Id,
    start: Annotated[str, Form(max_length=10)] = "",
    once: forms.Once = "",
) -> Response:
    """Make a licence-exempt carer provisional from a day (at most 30 days, once)."""
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "childcare.provisional")
            first = _date("start", start, True)
            assert first is not None
            last = compliance.make_provisional(conn, ctx.actor, ctx.book_id, party_id, first)
            answer = notice_redirect(
                ctx,
                f"/b/{ctx.code}/childcare/providers/{party_id}",
                f"provisional from {first.isoformat()} to {last.isoformat()}: paid once "
                "TrustLine clears within those days",
            )
            forms.spend(conn, ctx, once, "childcare.provisional", answer.headers["location"])
    except ValidationFailed as exc:
        return _file_page(
            ctx, party_id, errors=field_errors(exc), values={"start": start}, code=422
        )
    return answer
