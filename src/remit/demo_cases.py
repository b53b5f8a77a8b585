"""The demo organisation's work queue: cases of every type in every state, deterministic.

Cases are opened through the cases service by the demo clerk, in the weeks before the day
the demo is seeded (most in the last few days, as in a live queue), so that a few are overdue
and a few of those beyond escalation; some are moved along their states, some closed, and the
first provider's portal user has raised a query. The same seed gives the same cases, dated
relative to the seeding day.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import Connection

from remit.access.model import Actor, Role
from remit.cases import service as cases
from remit.cases.model import CASE_TYPES, NewCase, Priority
from remit.db import Database
from remit.ledger import service as ledger

MEAN_AGE_DAYS = 5  # cases' ages since opening are exponential, like a queue's
MAX_AGE_DAYS = 40
BATCH = 1_000
# (case type, party role, weight, titles): each book's queue holds only its own kind of work.
Mix = tuple[tuple[str, str, int, tuple[str, ...]], ...]
# The UK council: providers' queries (its care arbitration comes from reconciling the care
# month, in ``care/demo.py``, linked to its runs; none is made up here).
COUNCIL: Mix = (
    (
        "helpdesk",
        "provider",
        20,
        (
            "Remittance for {m} not received",
            "Query on rate change",
            "Payment lower than the self-bill",
            "Self-bill for {m} missing a visit",
        ),
    ),
    (
        "compliance_gap",
        "provider",
        4,
        ("Insurance certificate expired", "CQC registration certificate out of date"),
    ),
)
# The Californian payment agency: its providers, clients and carriers.
AGENCY: Mix = (
    (
        "helpdesk",
        "provider",
        20,
        ("Remittance for {m} not received", "Query on rate change", "Payment lower than invoice"),
    ),
    ("payment_return", "provider", 8, ("ACH return R03 on {d}", "ACH return R01 on {d}")),
    (
        "compliance_gap",
        "provider",
        8,
        ("Insurance certificate expired", "W-9 missing for new provider"),
    ),
    (
        "unapplied_cash",
        "client",
        12,
        ("Receipt with no reference on {d}", "Overpayment of copayment"),
    ),
    ("broken_promise", "client", 12, ("Promise to pay on {d} not kept", "Instalment missed")),
    ("dispute", "carrier", 5, ("Charge for disconnected line", "Late fee disputed")),
    ("invoice_alert", "carrier", 5, ("Bill up 32% on last month", "New recurring charge")),
)
MIXES = {"council": COUNCIL, "agency": AGENCY}
OWNERS = ("demo-clerk", "demo-clerk2", "demo-manager", None)


def seed_cases(
    database: Database,
    book_id: int,
    code: str,
    count: int,
    ids: dict[str, list[int]],
    rng: random.Random,
    tick: Callable[[str, int, int], None],
    mix: Mix = AGENCY,
) -> int:
    """Open ``count`` cases of the book's own kinds of work (``mix``)."""
    clerk = Actor(f"demo-clerk@{code}", roles={book_id: frozenset({Role.CLERK})})
    weights = [w for _, _, w, _ in mix]
    done = 0
    with database.read() as conn:
        today = ledger.book_today(conn, book_id)
    while done < count:
        with database.write() as conn:
            for _ in range(min(BATCH, count - done)):
                kind, role, _, titles = rng.choices(mix, weights)[0]
                party_ids = ids.get(role) or ids["provider"]
                age = min(int(rng.expovariate(1 / MEAN_AGE_DAYS)), MAX_AGE_DAYS)
                opened = today - timedelta(days=age)
                owner = rng.choice(OWNERS)
                title = rng.choice(titles).format(d=opened - timedelta(days=3), m=f"{opened:%B}")
                new = NewCase(
                    kind,
                    title,
                    "Opened by the demo generator.",
                    rng.choices(list(Priority), (1, 6, 2, 1))[0],
                    rng.choice(party_ids),
                    f"{owner}@{code}" if owner else None,
                )
                case_id = cases.open_case(conn, clerk, book_id, new, today=opened)
                _progress(conn, clerk, book_id, case_id, kind, rng)
                done += 1
        tick(f"{code}: cases", done, count)
    _portal_query(database, book_id, code, ids)
    return done


def _progress(
    conn: Connection, clerk: Actor, book_id: int, case_id: int, kind: str, rng: random.Random
) -> None:
    """Move a case along its type's first transitions: some start, some finish."""
    case_type = CASE_TYPES[kind]
    state = case_type.initial
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        choices = [t for t in case_type.allowed_from(state) if clerk.can(book_id, t.permission)]
        if not choices:
            return
        move = choices[0] if rng.random() < 0.7 else rng.choice(choices)
        state = cases.transition(
            conn, clerk, book_id, case_id, move.name, "demo: " + move.label.lower()
        )
        if case_type.is_closed(state):
            return


def _portal_query(database: Database, book_id: int, code: str, ids: dict[str, list[int]]) -> None:
    provider = Actor(
        f"demo-provider@{code}",
        roles={book_id: frozenset({Role.PROVIDER})},
        parties={book_id: ids["provider"][0]},
    )
    with database.write() as conn:
        cases.portal_raise_query(
            conn,
            provider,
            book_id,
            "October remittance",
            "We have not received the remittance advice for October. Could you send it again?",
            today=date(2026, 11, 18),
        )
