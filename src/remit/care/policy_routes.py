"""Pages of care policy and visits: the book's policy and each provider's override with
every number and its meaning, a new version from a date; a planned visit's page where a
coordinator records a cancellation, a frustrated visit or a hospital day; clients'
hospital stays uploaded as a file."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.care import imports, visits
from remit.care import service as care
from remit.care.model import PLANNED_STATUSES, POLICY_MEANINGS, Policy
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors, notice_redirect, signed_notice

router = APIRouter(prefix="/b/{book}/care")
Read = Annotated[Ctx, Depends(Need(Permission.CARE_READ))]
Import = Annotated[Ctx, Depends(Need(Permission.CARE_IMPORT))]
Decide = Annotated[Ctx, Depends(Need(Permission.CARE_DECIDE))]
PolicyCtx = Annotated[Ctx, Depends(Need(Permission.CARE_POLICY))]
NAMES = tuple(POLICY_MEANINGS)


def _policy_page(
    ctx: Ctx,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        today = ledger.book_today(conn, ctx.book_id)
        book_policy, overrides = care.policies_on(conn, ctx.book_id, today)
        versions = care.policy_versions(conn, ctx.actor, ctx.book_id)
        ids = set(overrides) | {v["provider_party_id"] for v in versions if v["provider_party_id"]}
        names = parties.party_names(conn, ctx.book_id, ids)
    current = book_policy.as_dict()
    return ctx.page(
        "care/policy.html",
        status,
        nav="care",
        meanings=POLICY_MEANINGS,
        book_policy=current,
        overrides=[(names.get(pid, (str(pid), "")), p.as_dict()) for pid, p in overrides.items()],
        versions=versions,
        names=names,
        errors=errors or {},
        values=values or {**{k: str(v) for k, v in current.items()}, "from": today.isoformat()},
        notice=notice,
    )


@router.get("/policy", response_class=HTMLResponse)
def policy_page(ctx: PolicyCtx, notice: str = "", sig: str = "") -> HTMLResponse:
    return _policy_page(ctx, notice=signed_notice(ctx, notice, sig))


@router.post("/policy", response_class=HTMLResponse)
async def policy_set(request: Request, ctx: PolicyCtx) -> Response:
    """A new version of the book's policy (or of a provider's override) from a date."""
    form = await request.form()
    typed = {k: str(form.get(k, ""))[:200] for k in (*NAMES, "from", "provider", "note")}
    once = str(form.get(forms.FIELD, ""))
    problems: list[Problem] = []
    numbers: dict[str, object] = {}
    for name in NAMES:
        text = typed[name].strip()
        if text.isdigit() and len(text) <= 6:
            numbers[name] = int(text)
        else:
            problems.append(Problem(name, "a whole number", "number"))
    try:
        first = date.fromisoformat(typed["from"].strip())
    except ValueError:
        problems.append(Problem("from", "a date like 2026-04-01", "date"))
    try:
        if problems:
            raise ValidationFailed(problems)
        policy = Policy.from_mapping(numbers)
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.policy")
            provider = None
            if typed["provider"].strip():
                found = parties.party_ids_for(conn, ctx.book_id, [typed["provider"].strip()])
                if not found:
                    raise ValidationFailed(
                        [Problem("provider", "no provider with this reference", "provider")]
                    )
                provider = next(iter(found.values()))
            care.set_policy(
                conn, ctx.actor, ctx.book_id, policy, first, provider, typed["note"].strip()
            )
            whose = f"provider {typed['provider'].strip()}'s" if provider else "the book's"
            answer = notice_redirect(
                ctx, f"/b/{ctx.code}/care/policy", f"{whose} policy from {first.isoformat()} saved"
            )
            forms.spend(conn, ctx, once, "care.policy", answer.headers["location"])
    except ValidationFailed as exc:
        errors = field_errors(exc)
        if "provider_party_id" in errors:
            errors["provider"] = errors.pop("provider_party_id")
        if "effective_from" in errors:
            errors["from"] = errors.pop("effective_from")
        return _policy_page(ctx, errors, typed, status=422)
    return answer


STATUS_CHOICES = tuple((s, visits.STATUS_WORDS[s]) for s in PLANNED_STATUSES)


def _visit_page(
    ctx: Ctx,
    visit_id: int,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = visits.get_visit(conn, ctx.actor, ctx.book_id, visit_id)
        names = parties.party_names(
            conn, ctx.book_id, [found["client_party_id"], found["provider_party_id"]]
        )
    return ctx.page(
        "care/visit.html",
        status,
        nav="care",
        visit=found,
        client=names.get(found["client_party_id"], ("", "")),
        provider=names.get(found["provider_party_id"], ("", "")),
        choices=STATUS_CHOICES,
        errors=errors or {},
        values=values or {"status": found["status"], "reason": found["status_reason"] or ""},
        notice=notice,
    )


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
def visit_page(ctx: Read, visit_id: Id, notice: str = "", sig: str = "") -> HTMLResponse:
    return _visit_page(ctx, visit_id, notice=signed_notice(ctx, notice, sig))


@router.post("/visits/{visit_id}/status", response_class=HTMLResponse)
def visit_status(
    ctx: Decide,
    visit_id: Id,
    status: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Record a cancellation (with or without notice), a frustrated visit or a hospital day."""
    try:
        with ctx.db.write() as conn:
            visits.set_visit_status(conn, ctx.actor, ctx.book_id, visit_id, status, reason)
    except ValidationFailed as exc:
        typed = {"status": status, "reason": reason}
        return _visit_page(ctx, visit_id, field_errors(exc), typed, status=422)
    words = visits.STATUS_WORDS.get(status, status)
    return notice_redirect(
        ctx,
        f"/b/{ctx.code}/care/visits/{visit_id}",
        f"visit recorded as {words}; reconcile its period again to pay it so",
    )


def _absences_page(
    ctx: Ctx, errors: list[str] | None = None, notice: str = "", status: int = 200
) -> HTMLResponse:
    with ctx.db.read() as conn:
        stays = visits.absences(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "care/absences.html",
        status,
        nav="care",
        stays=stays,
        errors=errors or [],
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("/absences", response_class=HTMLResponse)
def absences_page(ctx: Read, notice: str = "", sig: str = "") -> HTMLResponse:
    return _absences_page(ctx, notice=signed_notice(ctx, notice, sig))


@router.post("/absences", response_class=HTMLResponse)
def absences_upload(
    ctx: Import, file: Annotated[UploadFile, File()], once: forms.Once = ""
) -> Response:
    """Clients' hospital stays from a file, all or nothing."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed([Problem("file", "the file is too large", "too_large")])
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.absences")
            count = imports.import_absences(
                conn, ctx.actor, ctx.book_id, file.filename or "absences.csv", content
            )
            answer = notice_redirect(
                ctx, f"/b/{ctx.code}/care/absences", f"recorded {count} hospital stay(s)"
            )
            forms.spend(conn, ctx, once, "care.absences", answer.headers["location"])
    except ValidationFailed as exc:
        lines = [
            f"line {p.line}, {p.field}: {p.message}" if p.line else f"{p.field}: {p.message}"
            for p in exc.problems[:50]
        ]
        return _absences_page(ctx, lines, status=422)
    return answer
