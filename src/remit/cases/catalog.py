"""The case types of remit's work queue.

Each belongs to the package that does its work (``package``). Until a package exists in the
code, its case types are declared here so that every queue, SLA and report can use them;
when the package is built its type moves there and registers itself the same way.

States and transitions follow the lifecycles in ``../shared/reference/domain-rules.md``
(arbitration, carrier disputes, receipts, promises to pay, returns, invoice audit).
"""

from __future__ import annotations

from remit.access.model import Permission
from remit.cases.model import CaseType, Transition, register_case_type

T = Transition
WORKING = ("open", "in_progress", "waiting")

HELPDESK = register_case_type(
    CaseType(
        code="helpdesk",
        label="Query",
        package="cases",
        states=("open", "in_progress", "waiting", "resolved", "cancelled"),
        initial="open",
        closed=("resolved", "cancelled"),
        transitions=(
            T("start", "Start work", ("open", "waiting"), "in_progress"),
            T("wait", "Wait for the party", ("open", "in_progress"), "waiting"),
            T("resolve", "Resolve", WORKING, "resolved", needs_reason=True),
            T("reopen", "Reopen", ("resolved",), "in_progress", needs_reason=True),
            T("cancel", "Cancel", WORKING, "cancelled", needs_reason=True),
        ),
        team="helpdesk",
        sla_business_days=5,
        escalate_after_business_days=2,
        portal_raisable=True,
        portal_shared=True,
    )
)

ARBITRATION = register_case_type(
    CaseType(
        code="arbitration",
        label="Visit arbitration",
        package="care",
        states=("open", "awaiting_provider", "responded", "decided", "settled_by_default"),
        initial="open",
        closed=("decided", "settled_by_default"),
        transitions=(
            T("ask_provider", "Ask the provider", ("open", "responded"), "awaiting_provider"),
            T(
                "respond",
                "Provider responds",
                ("awaiting_provider",),
                "responded",
                needs_reason=True,
                permission=Permission.PORTAL_PROVIDER,
            ),
            T(
                "decide",
                "Decide",
                ("open", "awaiting_provider", "responded"),
                "decided",
                needs_reason=True,
            ),
            T(
                "settle_default",
                "Settle by the policy's default",
                ("awaiting_provider",),
                "settled_by_default",
                needs_reason=True,
                permission=Permission.CASE_ESCALATE,
            ),
        ),
        team="monitoring",
        sla_business_days=10,
        escalate_after_business_days=5,
        portal_shared=True,
    )
)

DISPUTE = register_case_type(
    CaseType(
        code="dispute",
        label="Bill dispute",
        package="vendorbills",
        states=("open", "filed", "acknowledged", "escalated", "credited", "rejected", "withdrawn"),
        initial="open",
        closed=("credited", "rejected", "withdrawn"),
        transitions=(
            T("file", "File with the carrier", ("open",), "filed"),
            T("acknowledge", "Carrier acknowledged", ("filed",), "acknowledged"),
            T("escalate", "Escalate with the carrier", ("filed", "acknowledged"), "escalated"),
            T(
                "credit",
                "Credit granted",
                ("filed", "acknowledged", "escalated"),
                "credited",
                needs_reason=True,
            ),
            T(
                "reject",
                "Carrier rejected",
                ("filed", "acknowledged", "escalated"),
                "rejected",
                needs_reason=True,
            ),
            T(
                "withdraw",
                "Withdraw",
                ("open", "filed", "acknowledged", "escalated"),
                "withdrawn",
                needs_reason=True,
            ),
        ),
        team="telecom",
        sla_business_days=30,
        escalate_after_business_days=10,
    )
)

UNAPPLIED_CASH = register_case_type(
    CaseType(
        code="unapplied_cash",
        label="Unapplied cash",
        package="receivables",
        states=("open", "investigating", "applied", "refunded", "written_off"),
        initial="open",
        closed=("applied", "refunded", "written_off"),
        transitions=(
            T("investigate", "Investigate", ("open",), "investigating"),
            T(
                "apply",
                "Applied to open items",
                ("open", "investigating"),
                "applied",
                needs_reason=True,
            ),
            T("refund", "Refunded", ("open", "investigating"), "refunded", needs_reason=True),
            T(
                "write_off",
                "Written off",
                ("investigating",),
                "written_off",
                needs_reason=True,
                permission=Permission.CASE_ESCALATE,
            ),
        ),
        team="cash",
        sla_business_days=3,
        escalate_after_business_days=2,
    )
)

BROKEN_PROMISE = register_case_type(
    CaseType(
        code="broken_promise",
        label="Broken promise to pay",
        package="collections",
        states=("open", "contacted", "new_promise", "referred", "closed"),
        initial="open",
        closed=("new_promise", "referred", "closed"),
        transitions=(
            T("contact", "Contacted the debtor", ("open",), "contacted"),
            T(
                "new_promise",
                "New promise taken",
                ("open", "contacted"),
                "new_promise",
                needs_reason=True,
            ),
            T(
                "refer",
                "Refer for recovery",
                ("open", "contacted"),
                "referred",
                needs_reason=True,
                permission=Permission.CASE_ESCALATE,
            ),
            T("close", "Close", ("open", "contacted"), "closed", needs_reason=True),
        ),
        team="collections",
        sla_business_days=2,
        escalate_after_business_days=3,
    )
)

COMPLIANCE_GAP = register_case_type(
    CaseType(
        code="compliance_gap",
        label="Compliance gap",
        package="parties",
        states=("open", "requested", "received", "resolved", "waived"),
        initial="open",
        closed=("resolved", "waived"),
        transitions=(
            T("request", "Request the document", ("open",), "requested"),
            T("receive", "Document received", ("open", "requested"), "received"),
            T("resolve", "Resolve", ("received",), "resolved", needs_reason=True),
            T(
                "waive",
                "Waive",
                ("open", "requested", "received"),
                "waived",
                needs_reason=True,
                permission=Permission.CASE_ESCALATE,
            ),
        ),
        team="compliance",
        sla_business_days=10,
        escalate_after_business_days=5,
        portal_shared=True,
    )
)

PAYMENT_RETURN = register_case_type(
    CaseType(
        code="payment_return",
        label="Returned payment",
        package="payments",
        states=("open", "investigating", "details_requested", "reissued", "cancelled"),
        initial="open",
        closed=("reissued", "cancelled"),
        transitions=(
            T("investigate", "Investigate", ("open",), "investigating"),
            T(
                "request_details",
                "Ask for new bank details",
                ("open", "investigating"),
                "details_requested",
            ),
            T(
                "reissue",
                "Reissued",
                ("investigating", "details_requested"),
                "reissued",
                needs_reason=True,
            ),
            T(
                "cancel",
                "Cancel the payment",
                ("open", "investigating", "details_requested"),
                "cancelled",
                needs_reason=True,
            ),
        ),
        team="payments",
        sla_business_days=3,
        escalate_after_business_days=1,
        portal_shared=True,
    )
)

INVOICE_ALERT = register_case_type(
    CaseType(
        code="invoice_alert",
        label="Invoice alert",
        package="vendorbills",
        states=("open", "reviewing", "accepted", "disputed", "dismissed"),
        initial="open",
        closed=("accepted", "disputed", "dismissed"),
        transitions=(
            T("review", "Review", ("open",), "reviewing"),
            T("accept", "Accept the charge", ("open", "reviewing"), "accepted", needs_reason=True),
            T(
                "dispute",
                "Dispute the charge",
                ("open", "reviewing"),
                "disputed",
                needs_reason=True,
            ),
            T(
                "dismiss",
                "Dismiss the alert",
                ("open", "reviewing"),
                "dismissed",
                needs_reason=True,
            ),
        ),
        team="telecom",
        sla_business_days=5,
        escalate_after_business_days=3,
    )
)

TEAMS = ("helpdesk", "monitoring", "telecom", "cash", "collections", "compliance", "payments")
