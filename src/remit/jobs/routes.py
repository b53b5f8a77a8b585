"""Pages of background jobs: the list, starting a job, and its live progress.

The detail page polls a small fragment (htmx, once a second) while the job is queued or
running; the fragment of a finished job carries no trigger, so the polling stops by itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from remit.access.model import Permission, require
from remit.db import MAX_ID
from remit.documents import service as documents
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Problem, ValidationFailed
from remit.jobs import service as jobs
from remit.jobs.model import JobKind, job_kind, job_kinds
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors

router = APIRouter(prefix="/b/{book}/jobs")
Read = Annotated[Ctx, Depends(Need(Permission.JOBS_READ))]
Run = Annotated[Ctx, Depends(Need(Permission.JOBS_RUN))]
PAGE = 50
# Kinds whose parameters the start form cannot ask for; they start from their own form.
FILE_KINDS = ("ledger.post_file",)


def _startable(ctx: Ctx) -> list[JobKind]:
    """The kinds this user may start here (jobs.run and the kind's own permission)."""
    if not ctx.can(Permission.JOBS_RUN):
        return []
    return [k for k in job_kinds() if ctx.can(k.permission)]


def _list(
    ctx: Ctx,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    before: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = jobs.list_jobs(conn, ctx.actor, ctx.book_id, PAGE, before)
    kinds = _startable(ctx)
    return ctx.page(
        "jobs/list.html",
        status,
        nav="admin",
        jobs=found,
        kinds=[k for k in kinds if k.code not in FILE_KINDS],
        can_post_file=any(k.code == "ledger.post_file" for k in kinds),
        labels={k.code: k.label for k in job_kinds()},
        next_before=found[-1].id if len(found) == PAGE else None,
        errors=errors or {},
        values=values or {},
        max_upload=MAX_UPLOAD_BYTES,
    )


@router.get("", response_class=HTMLResponse)
def job_list(
    ctx: Read, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    return _list(ctx, before=before)


@router.post("", response_class=HTMLResponse)
def job_start(ctx: Run, kind: Annotated[str, Form()] = "", once: forms.Once = "") -> Response:
    """Start a kind that takes no parameters from the page."""
    known = job_kind(kind)
    try:
        if known is None or kind in FILE_KINDS:
            raise ValidationFailed(
                [Problem("kind", "choose a kind of job from the list", "unknown_kind")]
            )
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "job")
            job_id = jobs.enqueue(conn, ctx.actor, ctx.book_id, kind, {})
            target = forms.spend(conn, ctx, once, "job", f"/b/{ctx.code}/jobs/{job_id}")
    except ValidationFailed as exc:
        return _list(ctx, field_errors(exc), {"kind": kind}, status=422)
    return RedirectResponse(target, status_code=303)


@router.post("/post-file", response_class=HTMLResponse)
def job_post_file(ctx: Run, file: Annotated[UploadFile, File()], once: forms.Once = "") -> Response:
    """Upload an entry file (CSV or JSON) and queue ``ledger.post_file`` for it."""
    content = file.file.read(MAX_UPLOAD_BYTES + 1)  # enough to refuse a bigger file
    name = file.filename or ""
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "job.post_file")
            require(ctx.actor, ctx.book_id, Permission.LEDGER_POST)
            require(ctx.actor, ctx.book_id, Permission.DOCUMENT_UPLOAD)
            file_id = documents.store_file(conn, ctx.book_id, name, content)
            job_id = jobs.enqueue(
                conn,
                ctx.actor,
                ctx.book_id,
                "ledger.post_file",
                {"file_id": file_id, "name": name[:255]},
            )
            target = forms.spend(conn, ctx, once, "job.post_file", f"/b/{ctx.code}/jobs/{job_id}")
    except ValidationFailed as exc:
        return _list(ctx, field_errors(exc), status=422)
    return RedirectResponse(target, status_code=303)


@router.get("/{job_id}", response_class=HTMLResponse)
def job_page(ctx: Read, job_id: Id) -> HTMLResponse:
    with ctx.db.read() as conn:
        job = jobs.get_job(conn, ctx.actor, ctx.book_id, job_id)
    kind = job_kind(job.kind)
    return ctx.page("jobs/job.html", nav="admin", job=job, label=kind.label if kind else job.kind)


@router.get("/{job_id}/progress", response_class=HTMLResponse)
def job_progress(ctx: Read, job_id: Id) -> HTMLResponse:
    """The progress fragment the job page polls."""
    with ctx.db.read() as conn:
        job = jobs.get_job(conn, ctx.actor, ctx.book_id, job_id)
    return ctx.page("jobs/_progress.html", job=job)


@router.post("/{job_id}/cancel")
def job_cancel(ctx: Run, job_id: Id) -> Response:
    with ctx.db.write() as conn:
        jobs.cancel(conn, ctx.actor, ctx.book_id, job_id)
    return RedirectResponse(f"/b/{ctx.code}/jobs/{job_id}", status_code=303)
