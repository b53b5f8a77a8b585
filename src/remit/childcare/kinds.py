"""Background jobs of child care (registered by the composition root,
``remit.composition``): every day, the reminders of provider-file documents nearing their
expiry (cases of the work queue, once per record), and the payment holds of the files
that became incomplete (a document expired) or complete again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remit.access.model import Permission
from remit.childcare import compliance
from remit.jobs.model import JobContext, JobKind, no_params


def _remind(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx.progress(0, 1, "looking for provider documents nearing their expiry")
    with ctx.database.write() as conn:
        opened = compliance.send_reminders(conn, ctx.actor, ctx.book_id)
        held, lifted = compliance.sync_holds(conn, ctx.actor, ctx.book_id)
    ctx.progress(1, 1, f"{opened} reminder case(s) opened; {held} provider(s) held, {lifted} freed")
    return {"reminders": opened, "held": held, "lifted": lifted}


KINDS = (
    JobKind(
        "childcare.remind",
        "Remind of provider documents nearing expiry; hold incomplete files' payments",
        Permission.CHILDCARE_EDIT,
        no_params,
        _remind,
    ),
)
