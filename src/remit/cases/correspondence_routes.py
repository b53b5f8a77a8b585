"""Pages for correspondence with a party: log a call, issue a letter, send an e-mail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from remit.access.model import Permission
from remit.cases import correspondence
from remit.cases.letters import TEMPLATES
from remit.errors import Problem, ValidationFailed
from remit.parties.page import party_page_response
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors

P = Permission
router = APIRouter(prefix="/b/{book}")
Send = Annotated[Ctx, Depends(Need(P.CORRESPONDENCE_SEND))]
Read = Annotated[Ctx, Depends(Need(P.CORRESPONDENCE_READ))]


def _party_page(
    ctx: Ctx, party_id: Id, errors: dict[str, list[str]], values: dict[str, Any]
) -> HTMLResponse:
    return party_page_response(ctx, party_id, errors, 422, letter_form=values)


def _case_id(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationFailed([Problem("case_id", "a case number", "case_id")]) from None


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (a dependency: it awaits, the routes stay plain)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


Fields = Annotated[dict[str, str], Depends(_form)]


@router.post("/parties/{party_id}/calls", response_class=HTMLResponse)
def log_call(ctx: Send, party_id: Id, form: Fields) -> Response:
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, form.get(forms.FIELD, ""), "call")
            correspondence.log_call(
                conn,
                ctx.actor,
                ctx.book_id,
                party_id,
                form.get("direction", ""),
                form.get("call_subject", ""),
                form.get("notes", ""),
                _case_id(form.get("case_id", "")),
            )
            target = f"/b/{ctx.code}/parties/{party_id}#correspondence"
            forms.spend(conn, ctx, form.get(forms.FIELD, ""), "call", target)
    except ValidationFailed as exc:
        errors = field_errors(exc)
        if "subject" in errors:
            errors["call_subject"] = errors.pop("subject")
        return _party_page(ctx, party_id, errors, {"kind": "call", **form})
    return RedirectResponse(f"/b/{ctx.code}/parties/{party_id}#correspondence", status_code=303)


@router.post("/parties/{party_id}/letters", response_class=HTMLResponse)
def send_item(ctx: Send, party_id: Id, form: Fields) -> Response:
    """Issue a letter (PDF) or send an e-mail from a template, in English or Spanish."""
    template, channel = form.get("template", ""), form.get("channel", "letter")
    once, kind = form.get(forms.FIELD, ""), "email" if channel == "email" else "letter"

    def spend(conn: Connection, item_id: int) -> str:  # in the transaction that keeps the item
        return forms.spend(conn, ctx, once, kind, f"/b/{ctx.code}/correspondence/{item_id}")

    spec = TEMPLATES.get(template)
    context = {
        f.name: form[f.name] for f in (spec.fields if spec else ()) if form.get(f.name, "").strip()
    }
    try:
        case_id = _case_id(form.get("case_id", ""))
        if kind == "email":
            with ctx.db.read() as conn:  # a second submit sends nothing
                forms.replay_if_spent(conn, ctx, once, kind)
            item_id = correspondence.send_email(
                ctx.db,
                ctx.actor,
                ctx.book_id,
                party_id,
                template,
                form.get("locale", "en"),
                context,
                ctx.web.mailer(),
                case_id,
                form.get("to", "").strip() or None,
                on_kept=spend,
            )
        else:
            with ctx.db.write() as conn:
                forms.replay_if_spent(conn, ctx, once, kind)
                item_id = correspondence.issue_letter(
                    conn,
                    ctx.actor,
                    ctx.book_id,
                    party_id,
                    template,
                    form.get("locale", "en"),
                    context,
                    case_id,
                )
                spend(conn, item_id)
    except ValidationFailed as exc:
        return _party_page(ctx, party_id, field_errors(exc), {"kind": "letter", **form})
    return RedirectResponse(f"/b/{ctx.code}/correspondence/{item_id}", status_code=303)


@router.get("/correspondence/{item_id}", response_class=HTMLResponse)
def item_page(ctx: Read, item_id: Id) -> HTMLResponse:
    with ctx.db.read() as conn:
        item = correspondence.get_item(conn, ctx.actor, ctx.book_id, item_id)
    return ctx.page("cases/correspondence.html", nav="queue", item=item)
