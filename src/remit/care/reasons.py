"""The sentence beside each outcome, one template per rule, shared by the engine (which
builds it column-wise) and by the plain reference implementation (row by row).

>>> reason_text(Rule.SHORT_BANDED, 30, 22, 15, Policy(), 1, 1)
'delivered 22 of 30 planned minutes: paid 15 (nearest 15-minute band)'
>>> pieces(Rule.NO_RECORD_FOR_PLACE)
(('no record for carer place ', 'place'), (' of ', 'carers'))
"""

from __future__ import annotations

from string import Formatter

from remit.care.model import Policy, Rule

TEMPLATES: dict[Rule, str] = {
    Rule.WITHIN_TOLERANCE: "delivered {delivered} of {planned} planned minutes, within "
    "{tolerance} of the plan: paid as planned",
    Rule.OVER_EXCEPTION: "delivered {delivered} of {planned} planned minutes, more than {over} "
    "over the plan: paid as planned, to review",
    Rule.SHORT_BANDED: "delivered {delivered} of {planned} planned minutes: paid {paid} "
    "(nearest {rounding}-minute band)",
    Rule.SHORT_EXCEPTION: "delivered {delivered} of {planned} planned minutes, short by "
    "{shortfall} (more than {short_limit}): paid {paid} "
    "(nearest {rounding}-minute band), to review",
    Rule.CHECK_OUT_BEFORE_CHECK_IN: "check-out is before check-in: not paid",
    Rule.OVER_MAX_VISIT: "delivered {delivered} minutes, more than a visit can last "
    "({max_visit}): not paid",
    Rule.NO_RECORD_FOR_PLACE: "no record for carer place {place} of {carers}",
    Rule.NO_PLANNED_VISIT_IN_WINDOW: "no planned visit of this client and provider within "
    "{window} minutes of check-in: not paid",
    Rule.CARER_ALREADY_PLACED: "this carer already has a place on the visit: not paid again",
    Rule.PLACES_FILLED: "all {carers} carer places of the visit are filled: not paid",
    Rule.CANCELLED_WITH_NOTICE: "visit cancelled with notice{because}: not paid",
    Rule.CANCELLED_SHORT_NOTICE: "visit cancelled at short notice{because}: paid {share}% of "
    "{planned} planned minutes",
    Rule.FRUSTRATED_VISIT: "the carer came but could not give the care{because}: paid "
    "{share}% of {planned} planned minutes",
    Rule.CLIENT_IN_HOSPITAL: "the client was in hospital{because}: visit suspended, not paid",
    Rule.RECORD_AT_CANCELLED_VISIT: "a record of care at a visit cancelled with "
    "notice{because}: not paid, to review",
    Rule.RECORD_IN_HOSPITAL: "a record of care while the client was in hospital{because}: "
    "not paid, to review",
    # Written by the book's reconciliation (care/runs.py), which names the other run.
    Rule.VISIT_DECIDED_IN_OTHER_RUN: "the visit is already decided in another run: a late "
    "record, paid nothing until decided",
}
FIELDS = (
    "planned",
    "delivered",
    "paid",
    "shortfall",
    "tolerance",
    "over",
    "rounding",
    "short_limit",
    "max_visit",
    "window",
    "carers",
    "place",
    "share",
    "because",
    "late_by",
    "early_by",
    "minimum",
)
# Notes added after the rule's sentence, in this order, when they apply.
MINIMUM_NOTE = "; paid the minimum charge of {minimum} minutes"
LATE_NOTE = "; arrived {late_by} minutes late, to review"
EARLY_NOTE = "; left {early_by} minutes early, to review"


def pieces(rule: Rule | str) -> tuple[tuple[str, str | None], ...]:
    """The template (of a rule, or a note) as (literal text, field name or None) pairs, for
    building it column-wise."""
    text = TEMPLATES[rule] if isinstance(rule, Rule) else rule
    return tuple((literal, name) for literal, name, _spec, _conv in Formatter().parse(text))


def because(reason: str) -> str:
    """A visit's status reason as the sentence carries it.

    >>> because("family visiting"), because("")
    (' (family visiting)', '')
    """
    return f" ({reason})" if reason else ""


def reason_text(
    rule: Rule,
    planned: int,
    delivered: int,
    paid: int,
    policy: Policy,
    carers: int,
    place: int,
    share: int = 0,
    status_reason: str = "",
) -> str:
    return TEMPLATES[rule].format(
        share=share,
        because=because(status_reason),
        planned=planned,
        delivered=delivered,
        paid=paid,
        shortfall=planned - delivered,
        tolerance=policy.tolerance_minutes,
        over=policy.over_exception_minutes,
        rounding=policy.rounding_minutes,
        short_limit=policy.short_exception_minutes,
        max_visit=policy.max_visit_minutes,
        window=policy.match_window_minutes,
        carers=carers,
        place=place,
    )
