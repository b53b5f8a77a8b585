"""Admin pages of webhooks: subscriptions, their secrets (shown once), the delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from remit.access.model import Permission
from remit.db import MAX_ID
from remit.errors import ValidationFailed
from remit.events import service as webhooks
from remit.web import forms
from remit.web.deps import Ctx, Id, Need, field_errors

router = APIRouter(prefix="/b/{book}/admin/webhooks")
Manage = Annotated[Ctx, Depends(Need(Permission.WEBHOOKS_MANAGE))]


def _list(
    ctx: Ctx,
    errors: dict[str, list[str]],
    values: dict[str, Any],
    secret: tuple[int, str] | None = None,
    status: int = 200,
    made: int | None = None,
) -> HTMLResponse:
    with ctx.db.read() as conn:
        found = webhooks.list_subscriptions(conn, ctx.actor, ctx.book_id)
    return ctx.page(
        "events/webhooks.html",
        status,
        nav="admin",
        subscriptions=found,
        errors=errors,
        values=values,
        secret=secret,
        event_types=webhooks.EVENT_TYPES,
        made=made,
    )


@router.get("", response_class=HTMLResponse)
def webhook_list(
    ctx: Manage, made: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    """The subscriptions; ``made``: the one a form sent twice made (its secret was shown
    once)."""
    return _list(ctx, {}, {}, made=made)


@router.post("", response_class=HTMLResponse)
def webhook_create(
    ctx: Manage,
    url: Annotated[str, Form()] = "",
    event_type: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form()] = "",
    once: forms.Once = "",
) -> HTMLResponse:
    """Subscribe a receiver and show its secret this once; a second submit of the form
    goes to the list, the secret not shown again."""
    values = {"url": url, "event_type": event_type or [], "description": description}
    receiver = webhooks.receiver_problems(url)  # the look-up, before the write lock
    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "webhook")
            made = webhooks.create_subscription(
                conn,
                ctx.actor,
                ctx.web.vault(),
                ctx.book_id,
                url,
                event_type or [],
                description,
                receiver=receiver,
            )
            target = f"/b/{ctx.code}/admin/webhooks?made={made[0]}"
            forms.spend(conn, ctx, once, "webhook", target)
    except ValidationFailed as exc:
        return _list(ctx, field_errors(exc), values, status=422)
    return _list(ctx, {}, {}, secret=made)


@router.post("/{subscription_id}/active")
def webhook_active(
    ctx: Manage, subscription_id: Id, active: Annotated[bool, Form()] = False
) -> Response:
    with ctx.db.write() as conn:
        webhooks.set_active(conn, ctx.actor, ctx.book_id, subscription_id, active)
    return RedirectResponse(f"/b/{ctx.code}/admin/webhooks", status_code=303)


@router.post("/{subscription_id}/rotate", response_class=HTMLResponse)
def webhook_rotate(ctx: Manage, subscription_id: Id) -> HTMLResponse:
    with ctx.db.write() as conn:
        secret = webhooks.rotate_secret(
            conn, ctx.actor, ctx.web.vault(), ctx.book_id, subscription_id
        )
    return _list(ctx, {}, {}, secret=(subscription_id, secret))


@router.get("/{subscription_id}", response_class=HTMLResponse)
def webhook_log(
    ctx: Manage, subscription_id: Id, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
) -> HTMLResponse:
    with ctx.db.read() as conn:
        subscription = webhooks.get_subscription(conn, ctx.actor, ctx.book_id, subscription_id)
        deliveries = webhooks.list_deliveries(
            conn, ctx.actor, ctx.book_id, subscription_id, 50, before
        )
    return ctx.page(
        "events/deliveries.html", nav="admin", subscription=subscription, deliveries=deliveries
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery_page(ctx: Manage, delivery_id: Id) -> HTMLResponse:
    with ctx.db.read() as conn:
        attempts = webhooks.delivery_attempts(conn, ctx.actor, ctx.book_id, delivery_id)
    return ctx.page("events/attempts.html", nav="admin", delivery_id=delivery_id, attempts=attempts)


@router.post("/deliveries/{delivery_id}/redeliver")
def delivery_redeliver(ctx: Manage, delivery_id: Id) -> Response:
    with ctx.db.write() as conn:
        webhooks.redeliver(conn, ctx.actor, ctx.book_id, delivery_id)
    return RedirectResponse(
        f"/b/{ctx.code}/admin/webhooks/deliveries/{delivery_id}", status_code=303
    )
