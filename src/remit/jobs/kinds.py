"""The built-in kinds of job (registered by the composition root, ``remit.composition``).

- ``audit.verify``: recompute the audit chain and check the ledger's integrity.
- ``cases.escalate``: apply the escalation rule to overdue cases (the worker queues it once
  per book and day).
- ``ledger.post_file``: post an uploaded entry file (a document or a stored file), all or
  nothing; a file with errors fails the job with every problem listed.

>>> [str(p) for p in post_file_problems({"document_id": 0, "file_id": 2})]
['params: give document_id or file_id, not both [one_of]', 'params.document_id: a whole \
number from 1 to 2,147,483,647 [positive_id]']
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from remit import audit
from remit.access.model import Permission
from remit.cases import service as cases
from remit.db import MAX_ID, is_postgres
from remit.documents import service as documents
from remit.errors import Problem, ValidationFailed
from remit.jobs.model import JobContext, JobKind, no_params, unknown_params
from remit.ledger import service as ledger

VERIFY_EVERY = 2000  # events between two progress reports


# ---------------------------------------------------------------- audit.verify


@contextmanager
def _snapshot(ctx: JobContext) -> Any:
    """A read transaction that sees one moment of the chain while workers append to it."""
    with ctx.database.engine.connect() as plain:
        conn = (
            plain.execution_options(isolation_level="REPEATABLE READ")
            if is_postgres(plain)
            else plain
        )
        with conn.begin():
            yield conn


def _audit_verify(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx.progress(0, 0, "verifying the audit chain")
    with _snapshot(ctx) as conn:
        report = audit.verify(
            conn,
            lambda done, total: ctx.progress(
                done, total, f"verified {done:,} of {total:,} audit events"
            ),
            VERIFY_EVERY,
        )
        ctx.progress(report.events, report.events + 1, "checking the ledger")
        ledger_problems = ledger.integrity_problems(conn)
    faults = [str(f) for f in report.faults]
    ctx.progress(
        report.events + 1,
        report.events + 1,
        f"{report.events:,} events: {len(faults)} chain fault(s), "
        f"{len(ledger_problems)} ledger problem(s)",
    )
    return {
        "ok": not faults and not ledger_problems,
        "events": report.events,
        "chain_faults": faults,
        "ledger_problems": ledger_problems,
    }


# ---------------------------------------------------------------- cases.escalate


def _cases_escalate(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx.progress(0, 1, "escalating overdue cases")
    with ctx.database.write() as conn:
        escalated = cases.escalate_overdue(conn, ctx.actor, ctx.book_id)
    ctx.progress(1, 1, f"escalated {len(escalated)} case(s)")
    return {"escalated": escalated}


# ---------------------------------------------------------------- ledger.post_file

POST_FILE_PARAMS = ("document_id", "file_id")
POST_FILE_NAME = "name"  # optional: the uploaded file's name, shown in results and errors
ENTRY_FILE_SUFFIX = {"text/csv": ".csv", "text/plain": ".txt", "application/json": ".json"}


def post_file_problems(params: Mapping[str, Any]) -> list[Problem]:
    """Exactly one of ``document_id`` and ``file_id``, a positive whole number."""
    problems = unknown_params(params, (*POST_FILE_PARAMS, POST_FILE_NAME))
    name = params.get(POST_FILE_NAME, "")
    if not isinstance(name, str) or len(name) > 255:
        problems.append(
            Problem(
                f"params.{POST_FILE_NAME}", "a file name of at most 255 characters", "file_name"
            )
        )
    given = [key for key in POST_FILE_PARAMS if key in params]
    if len(given) != 1:
        problems.append(
            Problem(
                "params", "give document_id or file_id" + (", not both" if given else ""), "one_of"
            )
        )
    for key in given:
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
            problems.append(
                Problem(f"params.{key}", f"a whole number from 1 to {MAX_ID:,}", "positive_id")
            )
    return problems


def _entry_file(
    conn: Connection, ctx: JobContext, params: Mapping[str, Any]
) -> tuple[str, bytes, str]:
    """(name, content, media type) of the file to post."""
    if "document_id" in params:
        found = documents.download(conn, ctx.actor, ctx.book_id, int(params["document_id"]))
        return found.filename, found.content, found.media_type
    found = documents.stored_file(conn, ctx.actor, ctx.book_id, int(params["file_id"]))
    suffix = ENTRY_FILE_SUFFIX.get(found.media_type, "")
    name = str(params.get(POST_FILE_NAME) or found.filename + suffix)
    return name, found.content, found.media_type


def _ledger_post_file(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx.progress(0, 3, "reading the file")
    with ctx.database.read() as conn:
        name, data, media_type = _entry_file(conn, ctx, params)
    if media_type not in ENTRY_FILE_SUFFIX:
        raise ValidationFailed(
            [
                Problem(
                    "file",
                    f"{name} is {media_type}, not an entry file (CSV or JSON text)",
                    "entry_file_type",
                    source=name,
                )
            ]
        )
    ctx.progress(1, 3, f"checking and posting {name}")
    with ctx.database.write() as conn:
        results = ledger.post_entry_file(conn, ctx.actor, ctx.book_id, name, data)
    posted = [r.entry_id for r in results if not r.replayed]
    ctx.progress(3, 3, f"posted {len(posted)} entries, {len(results) - len(posted)} replayed")
    return {
        "file": name,
        "entries": len(results),
        "posted": len(posted),
        "replayed": len(results) - len(posted),
        "entry_ids": [r.entry_id for r in results][:1000],
    }


BUILTIN_KINDS = (
    JobKind(
        "audit.verify",
        "Verify the audit chain and the ledger",
        Permission.AUDIT_READ,
        no_params,
        _audit_verify,
    ),
    JobKind(
        "cases.escalate",
        "Escalate overdue cases",
        Permission.CASE_ESCALATE,
        no_params,
        _cases_escalate,
    ),
    JobKind(
        "ledger.post_file",
        "Post an entry file",
        Permission.LEDGER_POST,
        post_file_problems,
        _ledger_post_file,
    ),
)
