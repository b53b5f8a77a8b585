"""Every page form that posts either carries a one-time token (``{{ once_token() }}``, so a
double submit creates one thing) or is on the allow-list below: a state change that a
second submit cannot repeat, guarded by a version or by the state it moves from. A new
form that creates something and has no token fails here."""

from __future__ import annotations

import re
from pathlib import Path

import remit

ROOT = Path(remit.__file__).parent
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
POST = re.compile(r'method="post"', re.I)
ACTION = re.compile(r'action="([^"]*)"')

# (template, action): the forms that need no token, each with why.
STATE_CHANGES: dict[tuple[str, str], str] = {
    ("web/templates/login.html", "/login"): "signing in makes a session, not a record",
    **{
        (
            "payments/templates/payments/run.html",
            f"/b/{{{{ code }}}}/payments/runs/{{{{ run.id }}}}/{step}",
        ): ("checked against the run's version and state: the second finds it moved")
        for step in ("approve", "release", "cancel", "sent")
    },
    ("payments/templates/payments/run.html", "/b/{{ code }}/payments/runs/{{ run.id }}/settle"): (
        "settles only payments still in transit: the second finds none"
    ),
    ("payments/templates/payments/payment.html", "/b/{{ code }}/payment/{{ p.id }}/return"): (
        "a returned payment told again is the same return"
    ),
    ("web/templates/layout.html", "/logout"): "signing out twice is signed out",
    ("web/templates/account.html", "/account/password"): "the same password set twice",
    ("access/templates/access/tokens.html", "/b/{{ code }}/admin/tokens/{{ t.id }}/revoke"): (
        "a revoked token stays revoked"
    ),
    ("access/templates/access/users.html", "/b/{{ code }}/admin/users/{{ u.id }}/unlock"): (
        "an unlocked user stays unlocked"
    ),
    ("events/templates/events/webhooks.html", "/b/{{ code }}/admin/webhooks/{{ s.id }}/active"): (
        "pause or resume sets a value"
    ),
    ("events/templates/events/webhooks.html", "/b/{{ code }}/admin/webhooks/{{ s.id }}/rotate"): (
        "a new secret replaces the old; the page shows the one now in force"
    ),
    (
        "events/templates/events/attempts.html",
        "/b/{{ ctx.code }}/admin/webhooks/deliveries/{{ delivery_id }}/redeliver",
    ): "only a failed delivery is sent again: the second finds it pending",
    ("jobs/templates/jobs/_progress.html", "/b/{{ code }}/jobs/{{ job.id }}/cancel"): (
        "only a queued job is cancelled"
    ),
    ("cases/templates/cases/list.html", "/b/{{ code }}/cases/assign"): "sets the owner",
    ("cases/templates/cases/case.html", "/b/{{ code }}/cases/{{ case.id }}/assign"): (
        "sets the owner"
    ),
    ("cases/templates/cases/case.html", "/b/{{ code }}/cases/{{ case.id }}/take"): (
        "checked against the case's version"
    ),
    ("cases/templates/cases/case.html", "/b/{{ code }}/cases/{{ case.id }}/transition"): (
        "checked against the case's version"
    ),
    ("web/templates/portal/query.html", "/portal/{{ code }}/queries/{{ case.id }}/transition"): (
        "checked against the case's version"
    ),
    (
        "parties/templates/parties/bank_changes.html",
        "/b/{{ code }}/bank-changes/{{ c.id }}/approve",
    ): ("only a pending change is approved"),
    (
        "parties/templates/parties/bank_changes.html",
        "/b/{{ code }}/bank-changes/{{ c.id }}/reject",
    ): ("only a pending change is rejected"),
    ("parties/templates/parties/party.html", "/b/{{ code }}/parties/{{ party.id }}/bank-details"): (
        "shows the details in full (the look is recorded), makes nothing"
    ),
    ("care/templates/care/visit.html", "/b/{{ code }}/care/visits/{{ visit.id }}/status"): (
        "sets the visit's status"
    ),
    ("care/templates/care/run.html", "/b/{{ code }}/care/runs/{{ run.id }}/post"): (
        "a posted run is not posted again"
    ),
    (
        "care/templates/care/run.html",
        "/b/{{ code }}/care/runs/{{ run.id }}/decide{% if query %}?{{ query }}{% endif %}",
    ): "decisions are checked against each outcome's version",
    (
        "care/templates/care/run.html",
        "/b/{{ code }}/care/outcomes/{{ e.id }}/decide{% if query %}?{{ query }}{% endif %}",
    ): "checked against the outcome's version",
    ("care/templates/care/run.html", "/b/{{ code }}/care/decisions/{{ w.id }}/approve"): (
        "only a decision waiting for approval is approved or refused"
    ),
    ("care/templates/care/run.html", "/b/{{ code }}/care/adjustments/{{ a.id }}/decide"): (
        "only a pending adjustment is decided"
    ),
}


def post_forms() -> list[tuple[str, str, bool]]:
    """(template, action, carries a token) of every form that posts."""
    found = []
    for path in sorted(ROOT.glob("**/templates/**/*.html")):
        name = path.relative_to(ROOT).as_posix()
        for attrs, body in FORM.findall(path.read_text(encoding="utf-8")):
            if POST.search(attrs):
                action = ACTION.search(attrs)
                found.append((name, action.group(1) if action else "", "once_token()" in body))
    return found


def test_every_posting_form_carries_a_token_or_is_a_listed_state_change():
    forms = post_forms()
    assert len(forms) > 40  # the walk finds the templates
    bare = {(name, action) for name, action, tokened in forms if not tokened}
    unlisted = sorted(bare - set(STATE_CHANGES))
    assert not unlisted, f"forms that post with no one-time token and are not listed: {unlisted}"


def test_the_allow_list_names_only_forms_that_exist_without_a_token():
    bare = {(name, action) for name, action, tokened in post_forms() if not tokened}
    assert sorted(set(STATE_CHANGES) - bare) == []  # a form that gained its token leaves the list
