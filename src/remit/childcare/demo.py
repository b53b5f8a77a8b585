"""The demo agency's child care (issue 11, point 8): its providers (centres, family child
care homes, licence-exempt carers; one file not complete), Fresno County's ceilings, the
policy, families with their parents as the book's clients, their children and
certificates, imported from the exchange files as a coordinator would; one certificate
changed from the middle of November, notices of action in English and Spanish; and
November's attendance records with the mistakes providers make (a parent's signature
missing, a provider signing before the month ended, a record not sent), calculated and
the payable child-months posted for payment.

Each provider's file is seeded as its records (documents.csv): complete for all but the
last provider (its signed rate statement never came back, so its November is held), one
centre's licence expiring in January (a reminder), a grandparent carer who needs no
TrustLine registration, and a carer who was provisional in November and cleared within
its 30 days."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection

from remit.access.model import Actor
from remit.childcare import compliance as cc_compliance
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.db import Database
from remit.parties import service as parties

FIRST = ("Ana", "Luis", "Maria", "Jose", "Grace", "Tom", "Priya", "Kim", "Rosa", "Sam", "Lena")
LAST = ("Lopez", "Garcia", "Nguyen", "Smith", "Hernandez", "Patel", "Kim", "Martinez", "Brown")
CHILD_FIRST = ("Lucia", "Mateo", "Sofia", "Noah", "Emma", "Liam", "Mia", "Diego", "Ava", "Leo")
STREETS = ("Orchard Avenue", "Blackstone Avenue", "Shields Avenue", "Olive Avenue", "Palm Drive")
START, END = date(2026, 8, 1), date(2027, 7, 31)
CHANGE_FROM = date(2026, 11, 16)
NOVEMBER = date(2026, 11, 1)
THANKSGIVING = date(2026, 11, 26)
TYPES = ("center", "fcch", "exempt")
GRANDPARENT, PROVISIONAL = 2, 5  # which providers (by their order): both licence-exempt
DOCUMENT_HEADER = "provider_id,kind,status,valid_from,expires_on,reference,unsubsidised_rate\n"
# Fresno County's ceilings from July 2026 (demo figures in the shape of the state's table).
CEILING_ROWS = {
    ("center", "monthly", "full"): (2100_00, 1650_00, 1200_00),
    ("center", "monthly", "part"): (1500_00, 1150_00, 850_00),
    ("center", "daily", "full"): (105_00, 82_00, 60_00),
    ("fcch", "daily", "full"): (78_00, 72_00, 64_00),
    ("fcch", "weekly", "part"): (290_00, 260_00, 230_00),
    ("fcch", "hourly", "part"): (19_50, 17_25, 15_50),
    ("center", "weekly", "part"): (330_00, 280_00, 240_00),
    ("center", "hourly", "part"): (22_00, 19_00, 17_00),
    ("fcch", "monthly", "full"): (1500_00, 1350_00, 1150_00),
    ("fcch", "monthly", "part"): (1100_00, 990_00, 850_00),
}
SMI = {2: 678_000, 3: 837_500, 4: 997_000, 5: 1_156_500, 6: 1_316_000}  # as POLICY, cents
POLICY = b"""basis = "certified_maximum"
exempt_share = "0.70"
closure_days_per_year = 10
days_to_pay = 21
[smi]
"2" = "6780.00"
"3" = "8375.00"
"4" = "9970.00"
"5" = "11565.00"
"6" = "13160.00"
"""
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
        # No fee below 75% of the state median income for the family's size (and for the
        # families exempt by their circumstances); else 1% of the income. Two families'
        # fees are the mistakes an audit looks for (charged though below 75% SMI).
        exempt = n % 3 == 0 or income * 4 < SMI[size] * 3
        fee = 0 if exempt else income // 100
        if n in (4, 10) and exempt:
            exempt, fee = False, income // 100
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
        _seed_providers(conn, system, book_id, provider_refs)
        cc_month.set_policy(
            conn, system, book_id, date(2026, 7, 1), POLICY, "the state's 2026-27 figures"
        )
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
    attendance = _november(certs[1:], rng)
    with database.write() as conn:
        cc_month.import_attendance(conn, system, book_id, attendance.encode(), "november.csv")
        month = cc_month.calculate_month(conn, system, book_id, NOVEMBER)
        posted = cc_month.post_month(conn, system, book_id, NOVEMBER)
    tick("valley-app: November calculated and posted", posted.posted, month.payable)
    return {
        "families": done.families_created,
        "children": done.children_created,
        "certificates": done.certificates_created,
        "notices": notices,
        "payable": month.payable,
        "incomplete": month.incomplete,
        "posted": posted.posted,
    }


def _seed_providers(
    conn: Connection, system: Actor, book_id: int, provider_refs: Sequence[str]
) -> None:
    """The providers, their files (one provisional in November) and the ceilings."""
    providers, ceilings = _agency_files(provider_refs)
    cc_month.import_providers(conn, system, book_id, providers)
    cc_compliance.import_documents(conn, system, book_id, _provider_files(provider_refs))
    for ref in [r for n, r in enumerate(provider_refs) if n == PROVISIONAL]:
        party = parties.party_ids_for(conn, book_id, [ref])[ref]
        cc_compliance.make_provisional(conn, system, book_id, party, NOVEMBER, today=NOVEMBER)
        cleared = f"{DOCUMENT_HEADER}{ref},trustline,cleared,2026-11-24,,TL-{ref},\n"
        cc_compliance.import_documents(conn, system, book_id, cleared.encode())
    cc_month.import_ceilings(conn, system, book_id, ceilings)


def _agency_files(provider_refs: Sequence[str]) -> tuple[bytes, bytes]:
    """providers.csv (types in turn; the third provider a grandparent carer) and
    ceilings.csv of the demo agency."""
    providers = ["provider_id,provider_type,county,relationship\n"]
    for n, ref in enumerate(provider_refs):
        kind = TYPES[n % 3]
        relation = ("grandparent" if n == GRANDPARENT else "other") if kind == "exempt" else ""
        providers.append(f"{ref},{kind},Fresno,{relation}\n")
    ceilings = ["effective_from,county,facility,age_band,rate_category,time_basis,amount\n"]
    for (facility, category, basis), amounts in CEILING_ROWS.items():
        for band, amount in zip(("under_2", "2_to_5", "6_plus"), amounts, strict=True):
            ceilings.append(
                f"2026-07-01,Fresno,{facility},{band},{category},{basis},"
                f"{amount // 100}.{amount % 100:02d}\n"
            )
    return "".join(providers).encode(), "".join(ceilings).encode()


def file_rows(ref: str, kind: str, closure: bool, skip: Sequence[str] = ()) -> list[str]:
    """documents.csv lines of a complete file of a provider of ``kind`` (center, fcch or
    exempt: a licence-exempt carer's with its TrustLine clearance) from July 2026, less the
    kinds in ``skip``; with a closure policy when ``closure``."""
    lines = [f"{ref},w9,received,2026-07-01,,,"]
    if kind == "exempt":
        lines += [
            f"{ref},health_safety,received,2026-07-01,,,",
            f"{ref},trustline,cleared,2026-05-10,,TL-{ref},",
        ]
    else:
        lines += [
            f"{ref},rate_sheet,received,2026-07-01,,,1450.00",
            f"{ref},rate_statement,received,2026-07-01,,,",
            f"{ref},licence,active,2024-07-01,2027-06-30,LIC-{ref},",
        ]
        if closure:
            lines.append(f"{ref},closure_policy,received,2026-07-01,,,")
    return [x + "\n" for x in lines if x.split(",")[1] not in skip]


def documents_for(providers_csv: bytes) -> bytes:
    """documents.csv for the providers of an offline providers.csv: a complete file for
    each with ``file_complete`` yes (a closure policy where ``closure_policy`` is yes), no
    record for the others: how the offline file's flags read in a book (tests, bench)."""
    out = [DOCUMENT_HEADER]
    for row in csv.DictReader(io.StringIO(providers_csv.decode("utf-8-sig"))):
        if row["file_complete"].strip().lower() == "yes":
            out += file_rows(
                row["provider_id"],
                row["provider_type"].strip().lower(),
                row["closure_policy"].strip().lower() == "yes",
            )
    return "".join(out).encode()


def _provider_files(provider_refs: Sequence[str]) -> bytes:
    out = [DOCUMENT_HEADER]
    for n, ref in enumerate(provider_refs):
        kind = TYPES[n % 3]
        if n == PROVISIONAL:  # applied; provisional in November; cleared on the 24th
            out += file_rows(ref, kind, False, skip=("trustline",))
            out.append(f"{ref},trustline,applied,2026-10-28,,,\n")
            continue
        last = n == len(provider_refs) - 1
        rows = file_rows(
            ref,
            kind,
            kind == "center",
            skip=("rate_statement",) if last else ("trustline",) if n == GRANDPARENT else (),
        )
        if n == 0:  # its licence runs out in January: a reminder
            rows = [x.replace("2027-06-30", "2027-01-15") for x in rows]
        out += rows
    return "".join(out).encode()


def _november(cert_lines: Sequence[str], rng: random.Random) -> str:
    """November's records of the certificates (their certs.csv lines), with mistakes: every
    twelfth child's record is not sent, two lack the parent's signature, one provider signed
    before the month ended; a few excused absences, and centres closed on Thanksgiving."""
    out = ["certificate_id,date,time_in,time_out,absence,parent_signed,provider_signed,received\n"]
    for n, line in enumerate(cert_lines):
        cert, _vf, _child, _fam, provider, *_rest = line.split(",")
        schedule = line.split(",")[8]
        if n % 12 == 11:
            continue  # not sent: the month has no row for this child
        hours = dict(part.split("=") for part in schedule.split(";"))
        parent = "" if n in (3, 17) else "2026-11-30"
        signed_by_provider = "2026-11-20" if n == 7 else "2026-11-30"
        received = "2026-12-02" if n % 5 else "2026-12-03"
        closing = n % 3 == 0
        day = NOVEMBER
        while day.month == 11:
            wanted = hours.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()])
            if wanted:
                if day == THANKSGIVING and closing:
                    times, absence = ",", "closure"
                elif rng.random() < 0.04:
                    times, absence = ",", "excused"
                else:
                    start = 7 * 60 + 30 + rng.randrange(0, 60, 5)
                    length = int(Decimal(wanted) * 60) - rng.randrange(0, 40, 5)
                    end = start + max(length, 30)
                    times = f"{start // 60:02d}:{start % 60:02d},{end // 60:02d}:{end % 60:02d}"
                    absence = ""
                out.append(
                    f"{cert},{day},{times},{absence},{parent},{signed_by_provider},{received}\n"
                )
            day = date.fromordinal(day.toordinal() + 1)
        del provider
    return "".join(out)
