"""Background jobs of payments (registered by the composition root, ``remit.composition``):
e-mailing a released run's remittance advice to each payee.

>>> [str(p) for p in remittance_problems({"run_id": "7", "x": 1})]
['params.x: unknown parameter (this kind takes: run_id) [unknown_param]', 'params.run_id: a run number like 12 [run_id]']
"""  # noqa: E501 - a list of problems is one line

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remit.access.model import Permission
from remit.cases import mail
from remit.errors import Problem
from remit.jobs.model import JobContext, JobKind, unknown_params
from remit.payments import remittance_mail


def remittance_problems(params: Mapping[str, Any]) -> list[Problem]:
    problems = unknown_params(params, ("run_id",))
    run_id = params.get("run_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id < 1:
        problems.append(Problem("params.run_id", "a run number like 12", "run_id"))
    return problems


def _mail_remittances(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """The mailer is read from the environment when the job runs (REMIT_SMTP_*): with none,
    the first advice fails with the message ``send_email`` gives and nothing is sent."""
    mailing = remittance_mail.mail_run_advice(
        ctx.database,
        ctx.actor,
        ctx.book_id,
        int(params["run_id"]),
        mail.mailer_from_env(),
        ctx.progress,
    )
    return mailing.as_dict()


KINDS = (
    JobKind(
        remittance_mail.REMITTANCE_JOB,
        "E-mail a payment run's remittance advice to the payees",
        Permission.CORRESPONDENCE_SEND,
        remittance_problems,
        _mail_remittances,
    ),
)
