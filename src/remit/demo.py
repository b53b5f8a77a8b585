"""The demo organisation: a UK council and a Californian payment agency, made up but lifelike.

Deterministic by seed: the same seed and scale give the same parties, amounts and dates.
Later capabilities add their data here. Everything goes through the services, as a user's
work would (bank details through a request and a second person's approval).

Scales: small (~50 providers, 500 clients: ``make run``), medium, large (2,000 providers,
100,000 clients: benchmarks).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection

from remit import demo_cases
from remit.access.model import Actor, Role
from remit.access.service import add_user
from remit.care import demo as demo_care
from remit.childcare import demo as demo_childcare
from remit.db import Database
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.ledger.rules import month_bounds
from remit.parties.model import BankDetails, BankScheme, IdentifierScheme, PartyKind, PartyRole
from remit.parties.service import (
    Contact,
    NewParty,
    approve_bank_change,
    create_parties,
    request_bank_change,
)
from remit.payments import demo as demo_payments
from remit.secrets import Vault


@dataclass(frozen=True, slots=True)
class Scale:
    providers: int
    clients: int
    customers: int
    carriers: int
    months: int
    cases: int


SCALES = {
    "small": Scale(providers=50, clients=500, customers=60, carriers=6, months=3, cases=80),
    "medium": Scale(
        providers=400, clients=10_000, customers=1_000, carriers=40, months=3, cases=2_000
    ),
    "large": Scale(
        providers=2_000, clients=100_000, customers=5_000, carriers=100, months=3, cases=20_000
    ),
}
CARE_RUNS_POSTED = 3  # providers whose month the demo finishes; the others wait for a user
PAY_AHEAD_DAYS = 21  # the demo's pay run pays what falls due in the next three weeks
FIRST_MONTH = date(2026, 8, 1)  # fixed, so that a seed always gives the same book
DEMO_PASSWORD = "remit-demo-only"  # noqa: S105 - printed for the demo; never use outside it
DEMO_USERS = (
    ("demo-admin", Role.ADMIN),
    ("demo-manager", Role.MANAGER),
    ("demo-approver", Role.APPROVER),
    ("demo-clerk", Role.CLERK),
    ("demo-clerk2", Role.CLERK),
    ("demo-auditor", Role.AUDITOR),
)
# Portal users, bound to the first and second provider and the first client of each book.
PORTAL_USERS = (
    ("demo-provider", Role.PROVIDER, "provider", 0),
    ("demo-provider2", Role.PROVIDER, "provider", 1),
    ("demo-client", Role.CLIENT, "client", 0),
)
STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Park Avenue",
    "Main Street",
    "Oak Drive",
    "Market Square",
)
BATCH = 20_000
PROVIDER_REF = "P{:05d}"  # the n-th provider, from 1
CLIENT_REF = "C{:06d}"
CARE_BOOK = "riverside"  # the council commissions home care; the agency pays child care

FIRST = (
    "Amara",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Isla",
    "Jonah",
    "Kofi",
    "Lucia",
    "Maya",
    "Nikhil",
    "Olivia",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
)
LAST = (
    "Adams",
    "Begum",
    "Costa",
    "Davies",
    "Evans",
    "Fernandez",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lopez",
    "Morgan",
    "Nguyen",
    "Okafor",
    "Patel",
    "Reyes",
    "Smith",
)
PLACE = (
    "Riverside",
    "Oakfield",
    "Meadow",
    "Harbour",
    "Hillcrest",
    "Willow",
    "Beacon",
    "Northgate",
    "Sunrise",
    "Kingsway",
    "Elmstead",
    "Brookside",
)
CARE = ("Home Care", "Care Services", "Homecare", "Support Ltd", "Care at Home", "Community Care")
CHILD = ("Child Care Center", "Family Child Care", "Early Learning", "Little Steps", "Kids Club")
FIRM = ("Supplies Ltd", "Facilities plc", "Print & Post", "Catering Co", "Transport Ltd")
CARRIERS = ("Telecom", "Networks", "Mobile", "Fibre", "Voice")

COUNCIL_CHART = (
    AccountSpec("1000", "Bank current account", AccountType.ASSET),
    AccountSpec("1010", "Bank - direct debit collections", AccountType.ASSET),
    AccountSpec("1100", "Client contributions receivable", AccountType.ASSET, True, "client"),
    AccountSpec("1200", "Trade receivables", AccountType.ASSET, True, "customer"),
    AccountSpec("1300", "Overpayments receivable", AccountType.ASSET, True, "provider"),
    AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
    AccountSpec("2050", "Payments in transit", AccountType.LIABILITY),
    AccountSpec("2100", "Carrier payables", AccountType.LIABILITY, True, "carrier"),
    AccountSpec("2200", "Unapplied cash", AccountType.LIABILITY),
    AccountSpec("3000", "General fund reserves", AccountType.EQUITY),
    AccountSpec("4000", "Client contributions", AccountType.INCOME),
    AccountSpec("4100", "Fees and charges", AccountType.INCOME),
    AccountSpec("5000", "Home care", AccountType.EXPENSE),
    AccountSpec("5100", "Residential care", AccountType.EXPENSE),
    AccountSpec("5200", "Telecommunications", AccountType.EXPENSE),
    AccountSpec("5300", "Child care subsidies", AccountType.EXPENSE),
    AccountSpec("5900", "Bad debts", AccountType.EXPENSE),
)


def routing_number(rng: random.Random) -> str:
    """A routing number with a valid Federal Reserve prefix and ABA check digit."""
    body = f"{rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)):02d}{rng.randrange(10**6):06d}"
    weights = (3, 7, 1, 3, 7, 1, 3, 7)
    check = (10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10
    return body + str(check)


@dataclass(slots=True)
class Org:
    """One demo book: its currency, names and the parties it was given."""

    code: str
    name: str
    currency: str
    timezone: str
    calendar: str
    provider_words: tuple[str, ...]
    share_percent: int  # of the scale's sizes, so that the second book is smaller


def seed(
    database: Database,
    vault: Vault,
    scale_name: str = "small",
    seed_value: int = 42,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Create the demo books; returns how many entries each got."""
    scale = SCALES[scale_name]
    tick = progress or (lambda _label, _done, _total: None)
    orgs = (
        Org("riverside", "Riverside Council (demo)", "GBP", "Europe/London", "GB-ENG", CARE, 100),
        Org(
            "valley-app",
            "Valley Child Care Payments (demo)",
            "USD",
            "America/Los_Angeles",
            "US-CA",
            CHILD,
            20,
        ),
    )
    system = Actor.system("demo")
    counts = {}
    for org in orgs:
        rng = random.Random(f"{seed_value}:{org.code}")
        paid: set[int] = set()
        with database.write() as conn:
            book_id = ledger.create_book(
                conn, system, org.code, org.name, org.currency, org.timezone, org.calendar
            )
            ledger.open_accounts(conn, system, book_id, COUNCIL_CHART)
            if org.code in BOOK_DETAILS:
                address, vat = BOOK_DETAILS[org.code]
                ledger.set_book_details(conn, system, book_id, address=address, vat_number=vat)
            ids = _parties(conn, system, book_id, org, scale, rng)
            _users(conn, system, book_id, org.code, ids)
            _bank_details(conn, vault, book_id, org, ids["provider"], rng)
        counts[org.code] = _activity(database, book_id, org, scale, ids, rng, tick)
        mix = demo_cases.MIXES["council" if org.code == CARE_BOOK else "agency"]
        demo_cases.seed_cases(
            database, book_id, org.code, _sized(scale.cases, org), ids, rng, tick, mix
        )
        if org.code == CARE_BOOK:  # the newest month of the ledger's activity
            first, last = _month(scale.months - 1)
            demo_care.seed_care(
                database,
                book_id,
                org.code,
                demo_care.CareParties(
                    _with_refs(ids["provider"], PROVIDER_REF), _with_refs(ids["client"], CLIENT_REF)
                ),
                first,
                last,
                seed_value,
                tick,
            )
            paid = demo_care.finish_runs(database, book_id, org.code, CARE_RUNS_POSTED)
            tick(f"{org.code}: care self-bills posted", len(paid), len(paid))
        else:  # the agency: families, children and certificates
            refs = [PROVIDER_REF.format(n + 1) for n in range(len(ids["provider"]))]
            demo_childcare.seed_childcare(database, book_id, refs, seed_value, tick)
        with database.read() as conn:
            pay_date = ledger.book_today(conn, book_id) + timedelta(days=PAY_AHEAD_DAYS)
        demo_payments.seed_payments(
            database,
            vault,
            book_id,
            org.code,
            org.currency,
            pay_date,
            release=org.code == CARE_BOOK,
            # the finished care months, and the demo provider's own bills (its portal
            # then shows a payment and its remittance advice)
            party_ids=paid | {ids["provider"][0]} if org.code == CARE_BOOK else None,
        )
        tick(f"{org.code}: payment run", 1, 1)
    return counts


def _month(index: int) -> tuple[date, date]:
    """The first and last day of the demo's ``index``-th month (0: ``FIRST_MONTH``)."""
    first = date(
        FIRST_MONTH.year + (FIRST_MONTH.month + index - 1) // 12,
        (FIRST_MONTH.month + index - 1) % 12 + 1,
        1,
    )
    return first, month_bounds(first.year, first.month)[1]


# The demo books' own details for their documents (fictional addresses; VAT numbers made
# with HMRC's check digits by demo_vat_number, not registered to anyone).
BOOK_DETAILS: dict[str, tuple[str, str]] = {
    "riverside": (
        "Riverside Council\nAdult Social Care Finance\nTown Hall, 1 River Street\n"
        "Riverside RV1 1AA",
        "115356727",
    ),
    "valley-app": ("Valley Child Care Payments\n100 Orchard Avenue\nFresno, CA 93721", ""),
}


def demo_vat_number(n: int) -> str:
    """A 9-digit number that passes HMRC's 9755 check (weights 8..2, + 55, mod 97): made up
    from ``n`` with no random draw, so the rest of the demo's data stays the same."""
    base = f"{(1_234_567 + n * 7_919) % 9_000_000 + 1_000_000:07d}"
    total = sum(int(d) * w for d, w in zip(base, range(8, 1, -1), strict=True))
    return f"{base}{(-(total + 55)) % 97:02d}"


def _with_refs(party_ids: list[int], pattern: str) -> list[tuple[int, str]]:
    return [(pid, pattern.format(n)) for n, pid in enumerate(party_ids, start=1)]


def _sized(count: int, org: Org) -> int:
    return max(2, count * org.share_percent // 100)


def _parties(
    conn: Connection, system: Actor, book_id: int, org: Org, scale: Scale, rng: random.Random
) -> dict[str, list[int]]:
    specs: dict[str, list[NewParty]] = {"provider": [], "client": [], "customer": [], "carrier": []}
    for n in range(_sized(scale.providers, org)):
        ident = (
            {
                IdentifierScheme.US_EIN: f"{rng.choice((10, 20, 27, 33, 46, 94))}-"
                f"{rng.randrange(10**7):07d}"
            }
            if org.currency == "USD"
            else {IdentifierScheme.UK_COMPANY: f"{rng.randrange(10**8):08d}"}
        )
        if org.currency == "GBP" and n % 3 == 0:  # a third of the council's providers
            ident = {**ident, IdentifierScheme.UK_VAT: demo_vat_number(n)}
        name = f"{rng.choice(PLACE)} {rng.choice(org.provider_words)}"
        specs["provider"].append(
            NewParty(
                PROVIDER_REF.format(n + 1),
                name,
                PartyKind.ORGANISATION,
                (PartyRole.PROVIDER,),
                ident,
                (
                    Contact(
                        "Accounts",
                        f"accounts@p{n + 1:05d}.example.org",
                        "",
                        _address(rng, org),
                        "finance",
                    ),
                ),
            )
        )
    for n in range(_sized(scale.clients, org)):
        specs["client"].append(
            NewParty(
                CLIENT_REF.format(n + 1),
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                PartyKind.PERSON,
                (PartyRole.CLIENT,),
                contacts=(Contact("Home", "", "", _address(rng, org), "home"),),
            )
        )
    for n in range(_sized(scale.customers, org)):
        specs["customer"].append(
            NewParty(
                f"K{n + 1:05d}",
                f"{rng.choice(PLACE)} {rng.choice(FIRM)}",
                PartyKind.ORGANISATION,
                (PartyRole.CUSTOMER,),
            )
        )
    for n in range(_sized(scale.carriers, org)):
        specs["carrier"].append(
            NewParty(
                f"T{n + 1:04d}",
                f"{rng.choice(PLACE)} {rng.choice(CARRIERS)}",
                PartyKind.ORGANISATION,
                (PartyRole.CARRIER, PartyRole.VENDOR),
            )
        )
    return {role: create_parties(conn, system, book_id, items) for role, items in specs.items()}


def _address(rng: random.Random, org: Org) -> str:
    town, street = rng.choice(PLACE), rng.choice(STREETS)
    if org.currency == "USD":
        return f"{rng.randrange(100, 9999)} {street}, {town}, CA 9{rng.randrange(5000, 6199)}"
    return (
        f"{rng.randrange(1, 200)} {street}, {town}, "
        f"RV{rng.randrange(1, 20)} {rng.randrange(1, 9)}AB"
    )


def _users(
    conn: Connection, system: Actor, book_id: int, code: str, ids: dict[str, list[int]]
) -> None:
    for name, role in DEMO_USERS:
        add_user(
            conn,
            system,
            f"{name}@{code}",
            DEMO_PASSWORD,
            name.replace("-", " ").title(),
            grants=[(book_id, role)],
        )
    for name, role, party_role, index in PORTAL_USERS:
        add_user(
            conn,
            system,
            f"{name}@{code}",
            DEMO_PASSWORD,
            name.replace("-", " ").title(),
            grants=[(book_id, role)],
            party_id=ids[party_role][index],
        )


def _bank_details(
    conn: Connection,
    vault: Vault,
    book_id: int,
    org: Org,
    provider_ids: list[int],
    rng: random.Random,
) -> None:
    clerk = Actor(f"demo-clerk@{org.code}", roles={book_id: frozenset({Role.CLERK})})
    approver = Actor(f"demo-approver@{org.code}", roles={book_id: frozenset({Role.APPROVER})})
    for party_id in provider_ids:
        if org.currency == "USD":
            details = BankDetails(
                BankScheme.US_ABA,
                {
                    "routing_number": routing_number(rng),
                    "account_number": f"{rng.randrange(10**9):09d}",
                    "account_type": "checking",
                },
            )
        else:
            details = BankDetails(
                BankScheme.UK_SORT_CODE,
                {
                    "sort_code": f"{rng.randrange(10**6):06d}",
                    "account_number": f"{rng.randrange(10**8):08d}",
                },
            )
        change = request_bank_change(
            conn,
            clerk,
            vault,
            book_id,
            party_id,
            details,
            "provider onboarding form, verified by call-back",
        )
        approve_bank_change(conn, approver, book_id, change, "call-back confirmed")


def _activity(
    database: Database,
    book_id: int,
    org: Org,
    scale: Scale,
    ids: dict[str, list[int]],
    rng: random.Random,
    tick: Callable[[str, int, int], None],
) -> int:
    cur = org.currency
    opening = 2_500_000_00 * org.share_percent // 100 * max(1, scale.providers // 50)
    drafts = [
        EntryDraft(
            FIRST_MONTH,
            "Opening balance",
            "opening",
            (PostingDraft("1000", opening, cur), PostingDraft("3000", -opening, cur)),
        )
    ]
    # The budgets the providers' bills fall on: a council's care teams, a California
    # agency's contracts (general APP, CalWORKs stages 2 and 3); a run may pay one.
    centres = (
        ("CAPP", "C2AP", "C3AP") if cur == "USD" else ("OP-HOMECARE", "LD-SUPPORT", "MH-COMMUNITY")
    )
    for m in range(scale.months):
        first, last = _month(m)
        label = f"{first:%b %Y}"
        for pid in ids["provider"]:
            amount = rng.randrange(150_000, 4_500_000)
            drafts.append(
                _pair(
                    f"care-{pid}-{first:%Y%m}",
                    last,
                    f"Care delivered {label}",
                    "5000",
                    "2000",
                    amount,
                    cur,
                    pid,
                    cost_centre=centres[pid % len(centres)],
                )
            )
            if m < scale.months - 1:  # paid on the 10th of the next month
                drafts.append(
                    _pair(
                        f"pay-{pid}-{first:%Y%m}",
                        last + timedelta(days=10),
                        f"Payment run, care {label}",
                        "2000",
                        "1000",
                        amount,
                        cur,
                        pid,
                        debit_party=True,
                    )
                )
        drafts += _collections(
            ids["client"], "1100", "4000", "contrib", first, last, label, cur, rng, (2_000, 45_000)
        )
        drafts += _collections(
            ids["customer"], "1200", "4100", "inv", first, last, label, cur, rng, (5_000, 900_000)
        )
        for pid in ids["carrier"]:
            amount = rng.randrange(20_000, 600_000)
            drafts.append(
                _pair(
                    f"bill-{pid}-{first:%Y%m}",
                    first + timedelta(days=14),
                    f"Telecom bill {label}",
                    "5200",
                    "2100",
                    amount,
                    cur,
                    pid,
                )
            )
    total, done = len(drafts), 0
    for start in range(0, total, BATCH):
        chunk = drafts[start : start + BATCH]
        with database.write() as conn:
            ledger.post_entries(conn, Actor.system("demo"), book_id, chunk)
        done += len(chunk)
        tick(f"{org.code}: entries", done, total)
    manager = Actor(f"demo-manager@{org.code}", roles={book_id: frozenset({Role.MANAGER})})
    with database.write() as conn:
        # The demo's payments and receipts were posted without naming what they settle:
        # match them to the bills and invoices they paid, oldest first.
        open_items.match_open_items(
            conn, Actor.system("demo"), book_id, ("2000", "2100", "1100", "1200"), key_prefix="demo"
        )
        for m in range(scale.months - 1):  # every month but the newest is closed
            month = FIRST_MONTH.month + m - 1
            ledger.close_period(
                conn, manager, book_id, FIRST_MONTH.year + month // 12, month % 12 + 1
            )
    return total


def _collections(
    party_ids: list[int],
    receivable: str,
    income: str,
    prefix: str,
    first: date,
    last: date,
    label: str,
    cur: str,
    rng: random.Random,
    bounds: tuple[int, int],
) -> list[EntryDraft]:
    out = []
    for pid in party_ids:
        if rng.random() < 0.35:  # not every client is charged every month
            continue
        amount = rng.randrange(*bounds)
        out.append(
            _pair(
                f"{prefix}-{pid}-{first:%Y%m}",
                first + timedelta(days=3),
                f"Invoice {label}",
                receivable,
                income,
                amount,
                cur,
                pid,
            )
        )
        paid = rng.random()
        if paid < 0.8:  # most pay in full, some in part, some not at all
            part = amount if paid < 0.65 else amount // 2
            out.append(
                _pair(
                    f"rcpt-{prefix}-{pid}-{first:%Y%m}",
                    min(last, first + timedelta(days=rng.randrange(5, 27))),
                    f"Receipt {label}",
                    "1010",
                    receivable,
                    part,
                    cur,
                    pid,
                    credit_party=True,
                )
            )
    return out


def _pair(
    key: str,
    day: date,
    text: str,
    debit: str,
    credit: str,
    amount: int,
    cur: str,
    party: int,
    debit_party: bool = False,
    credit_party: bool = False,
    cost_centre: str = "",
) -> EntryDraft:
    """A two-line entry; the party goes on whichever side is the control account (and the
    cost centre, if any, on the credit's item)."""
    debit_is_control = debit_party or debit in ("1100", "1200")
    credit_is_control = credit_party or credit in ("2000", "2100")
    return EntryDraft(
        day,
        text,
        key,
        (
            PostingDraft(debit, amount, cur, party if debit_is_control else None),
            PostingDraft(
                credit,
                -amount,
                cur,
                party if credit_is_control else None,
                cost_centre=cost_centre if credit_is_control else "",
            ),
        ),
    )
