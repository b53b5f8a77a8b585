"""The demo agency's child care (issue 11, point 8, the part built so far): families with
their parents as the book's clients, their children, and certificates with the agency's
providers, imported from the exchange files as a coordinator would; one certificate
changed from the middle of November, and notices of action in English and Spanish.

Attendance, provider files and the calculation in the book are not seeded yet (they are
not built yet)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date

from remit.access.model import Actor
from remit.childcare import service as childcare
from remit.db import Database

FIRST = ("Ana", "Luis", "Maria", "Jose", "Grace", "Tom", "Priya", "Kim", "Rosa", "Sam", "Lena")
LAST = ("Lopez", "Garcia", "Nguyen", "Smith", "Hernandez", "Patel", "Kim", "Martinez", "Brown")
CHILD_FIRST = ("Lucia", "Mateo", "Sofia", "Noah", "Emma", "Liam", "Mia", "Diego", "Ava", "Leo")
STREETS = ("Orchard Avenue", "Blackstone Avenue", "Shields Avenue", "Olive Avenue", "Palm Drive")
START, END = date(2026, 8, 1), date(2027, 7, 31)
CHANGE_FROM = date(2026, 11, 16)
FAMILY_HEADER = (
    "family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,name,"
    "language,fee_exempt,address\n"
)
CERT_HEADER = (
    "certificate_id,version_from,child_id,family_id,provider_id,child_birth_date,start_date,"
    "end_date,schedule,rate_category,time_basis,evening_weekend_share,exceptional_needs,"
    "severely_disabled,provider_rate,child_name\n"
)
FULL = "mon=9;tue=9;wed=9;thu=9;fri=9"
PART = ("mon=5;tue=5;wed=5;thu=5;fri=5", "mon=4;wed=4;fri=4", "tue=6;thu=6;sat=6")
# (rate category, time basis, provider's rate in cents): a centre by the month, a home
# by the day or the week, a carer by the hour.
RATES = (
    ("monthly", "full", (135000, 162000)),
    ("monthly", "part", (98000, 121000)),
    ("daily", "full", (6200, 7800)),
    ("weekly", "part", (21000, 26500)),
    ("hourly", "part", (1450, 1900)),
)


def seed_childcare(
    database: Database,
    book_id: int,
    provider_refs: Sequence[str],
    seed_value: int,
    tick: Callable[[str, int, int], None],
) -> dict[str, int]:
    """Families, children and certificates of the demo agency; returns the counts."""
    rng = random.Random(f"{seed_value}:childcare")  # noqa: S311 - demo data, not secrets
    system = Actor.system("demo")
    families, certs = [FAMILY_HEADER], [CERT_HEADER]
    count = max(12, 4 * len(provider_refs))
    child_no = 0
    for n in range(1, count + 1):
        size = rng.randint(2, 5)
        income = rng.randrange(180_000, 720_000, 100)
        exempt = n % 3 == 0 or income < 260_000
        fee = 0 if exempt else income // 100  # at most 1% of the monthly income
        by = "agency" if n % 5 == 0 else "provider"
        language = "es" if n % 3 == 1 else "en"
        parent = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        street = f"{rng.randrange(100, 9999)} {rng.choice(STREETS)}"
        address = f"{street}\nFresno, CA 937{rng.randrange(10, 99)}"
        families.append(
            f"F{n:04d},{size},{income},{fee},{by},{parent},{language},"
            f'{"yes" if exempt else "no"},"{address}"\n'
        )
        for _child in range(1 if size < 4 else 2):
            child_no += 1
            born = date(rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28))
            category, basis, (low, high) = rng.choice(RATES)
            schedule = FULL if basis == "full" else rng.choice(PART)
            share = "0" if rng.random() < 0.8 else rng.choice(("0.25", "0.5"))
            needs = "yes" if rng.random() < 0.1 else "no"
            rate = rng.randrange(low, high, 50)
            name = f"{rng.choice(CHILD_FIRST)} {parent.split()[1]}"
            certs.append(
                f"CC{child_no:05d},{START},K{child_no:05d},F{n:04d},"
                f"{provider_refs[child_no % len(provider_refs)]},{born},{START},{END},"
                f"{schedule},{category},{basis},{share},{needs},no,"
                f"{rate // 100}.{rate % 100:02d},{name}\n"
            )
    with database.write() as conn:
        done = childcare.import_files(
            conn,
            system,
            book_id,
            families="".join(families).encode(),
            certificates="".join(certs).encode(),
        )
        rows, _total = childcare.list_certificates(
            conn, system, book_id, on=START, search="CC0000", limit=4
        )
        changed = rows[0]["id"]
        childcare.change_certificate(
            conn,
            system,
            book_id,
            changed,
            CHANGE_FROM,
            {"schedule": "mon=6;tue=6;wed=6;thu=6", "time_basis": "part"},
            "the parent's working hours were cut",
        )
        notices = 0
        for row in rows[:3]:
            childcare.issue_notice(conn, system, book_id, row["id"], START)
            notices += 1
        childcare.issue_notice(conn, system, book_id, changed, CHANGE_FROM)
        notices += 1
    tick("valley-app: child care certificates", done.versions_created, done.versions_created)
    return {
        "families": done.families_created,
        "children": done.children_created,
        "certificates": done.certificates_created,
        "notices": notices,
    }
