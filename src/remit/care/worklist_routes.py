"""The provider's portal page of one of its runs: each exception with the council's reason,
and a form to answer it (text, and a file if any); the officer sees the answers on the
run's worklist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from remit.access.model import Permission
from remit.care import worklist
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.web import forms
from remit.web.deps import Ctx, Id, NeedPortal, field_errors, notice_redirect, signed_notice

portal = APIRouter(prefix="/portal/{book}/visits")
Portal = Annotated[Ctx, Depends(NeedPortal(Permission.PORTAL_PROVIDER))]
FIELD_WORDS = {"body": "Your answer", "file": "File"}


def _page(
    ctx: Ctx,
    run_id: int,
    page: int = 1,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        run, total, rows = worklist.portal_exceptions(conn, ctx.actor, ctx.book_id, run_id, page)
    return ctx.page(
        "care/portal_run.html",
        status,
        nav="visits",
        run=run,
        total=total,
        exceptions=rows,
        page=page,
        pages=-(-total // worklist.PAGE_ROWS),
        errors=errors or {},
        summary={
            f"{FIELD_WORDS.get(k.partition('-')[2], k)} (exception {k.partition('-')[0][1:]})": v
            for k, v in (errors or {}).items()
        },
        values=values or {},
        notice=notice,
        max_upload=MAX_UPLOAD_BYTES,
    )


@portal.get("/runs/{run_id}", response_class=HTMLResponse)
def portal_run(ctx: Portal, run_id: Id, page: int = 1, notice: str = "", sig: str = "") -> Response:
    """One of the provider's own runs (another's answers 404, as a missing one)."""
    return _page(ctx, run_id, max(min(page, 10**6), 1), notice=signed_notice(ctx, notice, sig))


@portal.post("/outcomes/{outcome_id}/answer", response_class=HTMLResponse)
def portal_answer(
    ctx: Portal,
    outcome_id: Id,
    run_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    body: Annotated[str, Form(max_length=8000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    once: forms.Once = "",
) -> Response:
    """The provider's answer to one exception; the typed text is kept when it is refused,
    and the same form sent twice answers once."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1) if file is not None else b""
    name = (file.filename or "answer") if file is not None and content else ""
    try:
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                [Problem("file", f"at most {MAX_UPLOAD_BYTES // 2**20} MB", "size")]
            )
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.answer")
            done = worklist.answer(conn, ctx.actor, ctx.book_id, outcome_id, body, name, content)
            path = f"/portal/{ctx.code}/visits/runs/{done['run_id']}"
            answer = notice_redirect(ctx, path, f"your answer to exception {outcome_id} was sent")
            forms.spend(conn, ctx, once, "care.answer", answer.headers["location"])
    except ValidationFailed as exc:
        errors = {f"o{outcome_id}-{k}": v for k, v in field_errors(exc).items()}
        values = {f"o{outcome_id}-body": body}
        return _page(ctx, run_id, 1, errors, values, status=422)
    return answer
