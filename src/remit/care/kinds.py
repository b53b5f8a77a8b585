"""Background jobs of care monitoring (registered by the composition root,
``remit.composition``): reconciling a period, and settling unanswered arbitration.

>>> [str(p) for p in reconcile_problems({"from": "2026-11-02", "to": "soon"})]
['params.to: a date like 2026-11-08 [date]']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from remit.access.model import Permission
from remit.care import decisions, runs
from remit.care.reports import money_text
from remit.errors import Problem
from remit.jobs.model import JobContext, JobKind, no_params, unknown_params
from remit.text import ID_MAX, text_problem


def reconcile_problems(params: Mapping[str, Any]) -> list[Problem]:
    problems = unknown_params(params, ("from", "to", "providers"))
    for key in ("from", "to"):
        try:
            date.fromisoformat(str(params.get(key, "")))
        except ValueError:
            problems.append(Problem(f"params.{key}", "a date like 2026-11-08", "date"))
    chosen = params.get("providers", [])
    if not isinstance(chosen, list) or not all(
        isinstance(ref, str) and text_problem(ref, "providers", max_chars=ID_MAX) is None
        for ref in chosen
    ):
        problems.append(Problem("params.providers", "a list of provider references", "providers"))
    return problems


def reconcile_summary(found: Sequence[Any]) -> str:
    """What a reconciliation made, in words: runs, exceptions and the amount per currency.

    >>> from types import SimpleNamespace as Run
    >>> reconcile_summary([Run(exceptions=2, amount_minor=536622, currency="GBP"),
    ...                    Run(exceptions=0, amount_minor=1000, currency="GBP")])
    '2 run(s), 2 exception(s), £5,376.22 to pay'
    """
    totals: dict[str, int] = {}
    for s in found:
        if s.currency:
            totals[s.currency] = totals.get(s.currency, 0) + int(s.amount_minor)
    amounts = " and ".join(money_text(v, c) for c, v in sorted(totals.items()))
    exceptions = sum(s.exceptions for s in found)
    return f"{len(found)} run(s), {exceptions:,} exception(s)" + (
        f", {amounts} to pay" if amounts else ""
    )


def _reconcile(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    first, last = date.fromisoformat(params["from"]), date.fromisoformat(params["to"])
    ctx.progress(0, 2, f"reconciling {first} to {last}")
    refs = list(params.get("providers", []))
    with ctx.database.write() as conn:
        chosen = runs.provider_ids_for(conn, ctx.actor, ctx.book_id, refs) if refs else None
        found = runs.reconcile_period(conn, ctx.actor, ctx.book_id, first, last, chosen)
    ctx.progress(2, 2, reconcile_summary(found))
    return {
        "runs": [
            {
                "run_id": s.run_id,
                "provider_party_id": s.provider_party_id,
                "outcomes": s.outcomes,
                "exceptions": s.exceptions,
                "paid_minutes": s.paid_minutes,
                "amount_minor": s.amount_minor,
                "currency": s.currency,
                "amount": money_text(s.amount_minor, s.currency),
                "case_id": s.case_id,
                "sequence": s.sequence,
                "replaced": s.replaced,
            }
            for s in found
        ]
    }


def _settle(ctx: JobContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx.progress(0, 1, "settling unanswered arbitration")
    with ctx.database.write() as conn:
        settled = decisions.settle_unanswered(conn, ctx.actor, ctx.book_id)
    ctx.progress(1, 1, f"settled {len(settled)} run(s)")
    return {"settled_runs": settled}


KINDS = (
    JobKind(
        "care.reconcile",
        "Reconcile care visits of a period",
        Permission.CARE_RUN,
        reconcile_problems,
        _reconcile,
    ),
    JobKind(
        "care.settle",
        "Settle arbitration the providers did not answer",
        Permission.CASE_ESCALATE,
        no_params,
        _settle,
    ),
)
