"""Background jobs of child care (registered by the composition root,
``remit.composition``): the daily reminders of provider-file documents nearing their
expiry, opened as cases of the work queue once per record."""

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
    ctx.progress(1, 1, f"{opened} reminder case(s) opened")
    return {"reminders": opened}


KINDS = (
    JobKind(
        "childcare.remind",
        "Remind of provider documents nearing their expiry",
        Permission.CHILDCARE_EDIT,
        no_params,
        _remind,
    ),
)
