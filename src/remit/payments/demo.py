"""Demo payments: each demo book's own bank account, and a payment run with four eyes.

The council's run pays the providers whose October care self-bills are posted: the
demo clerk prepares it, the demo approver (a second person) approves it and the demo
manager releases it, so the BACS file can be downloaded and the run settled by a user. The
agency's run is prepared and waits for its approver, to be approved in the browser.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from remit.access.model import Actor, Role
from remit.db import Database
from remit.errors import Conflict
from remit.payments import house, runs
from remit.payments.model import NewHouseAccount
from remit.secrets import Vault

# Demo originator details (not a real bank's): a BACS service user and a NACHA company.
ORIGINATORS: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "GBP": (
        "bacs18",
        {
            "bacs": {
                "service_user_number": "123456",
                "sort_code": "40-00-01",
                "account_number": "12345678",
                "name": "RIVERSIDE COUNCIL",
            }
        },
    ),
    "USD": (
        "nacha",
        {
            "nacha": {
                "immediate_destination": "011000015",
                "immediate_origin": "1234567890",
                "destination_name": "FEDERAL RESERVE BANK",
                "origin_name": "VALLEY CHILD CARE",
                "company_name": "VALLEY APP",
                "company_id": "1234567890",
                "odfi_routing": "021000021",
                "sec_code": "CCD",
                "addenda": True,
                "entry_description": "PROVIDERS",
            }
        },
    ),
}


def _people(book_id: int, code: str) -> dict[str, Actor]:
    return {
        name: Actor(f"demo-{name}@{code}", roles={book_id: frozenset({role})})
        for name, role in (
            ("clerk", Role.CLERK),
            ("approver", Role.APPROVER),
            ("manager", Role.MANAGER),
        )
    }


def seed_payments(
    database: Database,
    vault: Vault,
    book_id: int,
    code: str,
    currency: str,
    pay_date: date,
    *,
    release: bool,
    party_ids: set[int] | None = None,
) -> dict[str, int]:
    """The book's bank account, then a run on ``pay_date`` (of ``party_ids`` only, when
    given): prepared by the clerk and approved by the approver; released by the manager
    when ``release``. What the run leaves open is there for a user's own run."""
    people = _people(book_id, code)
    scheme, originators = ORIGINATORS[currency]
    spec = NewHouseAccount(
        f"OPS-{currency}",
        f"Operating account ({currency})",
        "1000",
        currency,
        (scheme,),
        originators,
    )
    with database.write() as conn:
        house.add_house_account(conn, people["manager"], book_id, spec)
    with database.write() as conn:
        try:
            prepared = runs.prepare_run(
                conn,
                people["clerk"],
                book_id,
                pay_date,
                party_ids=party_ids,
                note="demo: the providers' pay run",
            )
        except Conflict:  # nothing due: a small demo may have no open bills
            return {"runs": 0}
    run = prepared.run
    if not release:
        return {"runs": 1, "payments": run.payment_count}
    with database.write() as conn:
        run = runs.approve_run(conn, people["approver"], book_id, run.id, version=run.version)
        if run.needs_second:  # above the approver's limit: the manager approves too
            run = runs.approve_run(conn, people["manager"], book_id, run.id, version=run.version)
    with database.write() as conn:
        runs.release_run(conn, people["manager"], vault, book_id, run.id, version=run.version)
    return {"runs": 1, "payments": run.payment_count}
