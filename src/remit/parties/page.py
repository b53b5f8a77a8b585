"""A party's page, composed from the services of the packages it shows: the party and its
bank-detail changes, its balances and postings, documents, cases and correspondence, and
for a client or provider its care (packages, planned visits, rate card, holds, runs: read
through ``care.views``, a service, like the others).

Its own module, not a routes module, so that the pages whose forms sit on it (the party's
own routes, and correspondence's calls, letters and e-mails) return it on a refused form
without one routes module importing another.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from remit.access.model import Permission
from remit.care import views as care_views
from remit.cases import correspondence
from remit.cases import service as cases
from remit.cases.letters import TEMPLATES
from remit.documents import service as documents
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.payments import search as payment_search
from remit.web.deps import Ctx, Id

P = Permission


def party_page_response(
    ctx: Ctx,
    party_id: Id,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The party page, with a form's errors and values when it comes back refused."""
    actor, book_id = ctx.actor, ctx.book_id
    with ctx.db.read() as conn:
        party = parties.get_party(conn, actor, book_id, party_id)
        balances = lines = []
        if ctx.can(P.LEDGER_READ):
            balances = ledger.party_balances_by_account(conn, actor, book_id, party_id)
            lines = ledger.party_activity(conn, actor, book_id, party_id, limit=25)
        docs = (
            documents.list_documents(conn, actor, book_id, "party", party_id)
            if ctx.can(P.DOCUMENT_READ)
            else []
        )
        party_cases = (
            cases.list_cases(
                conn, actor, book_id, cases.CaseFilter(open_only=False, party_id=party_id), limit=20
            )
            if ctx.can(P.CASE_READ)
            else []
        )
        pending = parties.pending_bank_changes(conn, actor, book_id, party_id)
        letters = _correspondence(conn, ctx, party_id)
        care = _care(conn, ctx, party)
        paid = (
            payment_search.search_payments(conn, actor, book_id, party_id=party_id, limit=20)
            if ctx.can(P.PAYMENT_READ) and "provider" in party["roles"]
            else []
        )
    return ctx.page(
        "parties/party.html",
        status,
        nav=(party["roles"] or ["provider"])[0],
        party=party,
        balances=balances,
        lines=lines,
        docs=docs,
        cases=party_cases,
        pending=pending,
        letters=letters,
        care=care,
        payments=paid,
        errors=errors or {},
        templates=TEMPLATES,
        **extra,
    )


def _correspondence(conn: Any, ctx: Ctx, party_id: Id) -> list[dict[str, Any]]:
    if not ctx.can(P.CORRESPONDENCE_READ):
        return []
    return correspondence.list_for_party(conn, ctx.actor, ctx.book_id, party_id, limit=20)


def _care(conn: Any, ctx: Ctx, party: dict[str, Any]) -> dict[str, Any]:
    """The party's care, by its roles: a client's packages and visits, a provider's packages,
    rate card, holds and runs (nothing for a user who may not read care)."""
    if not ctx.can(P.CARE_READ):
        return {}
    roles, party_id = party["roles"] or [], int(party["id"])
    out: dict[str, Any] = {}
    if "client" in roles:
        out["client"] = care_views.client_care(conn, ctx.actor, ctx.book_id, party_id)
    if "provider" in roles:
        out["provider"] = care_views.provider_care(conn, ctx.actor, ctx.book_id, party_id)
    return out
