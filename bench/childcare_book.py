"""A month of child care in a book (issue 11, "Speed": the whole month imported, checked,
calculated and posted in <= 30 s on SQLite and on PostgreSQL).

``python -m bench childcare-book [--child-months N] [--db sqlite|postgresql|both]``: a book
with N certificates (one child each, default 100,000, the engine target's size; the large
demo's agency has ~2,400) of N/50 providers of every type, their families, Fresno-like
ceilings, imported through the services (not timed). Timed, each its own transaction:
the month's attendance.csv (nine days per child, one record in forty signed early by the
provider) imported and checked (`childcare.month.import_attendance`), the month
calculated from the book (`calculate_month`) and the payable child-months posted, one
entry and open item each (`post_month`). Prints each step and the total beside the target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from remit import composition
from remit.access.model import Actor
from remit.childcare import compliance as cc_compliance
from remit.childcare import demo as cc_demo
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.db import Database
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole

DEFAULT_CHILD_MONTHS = 100_000
TARGET_S = 30.0
NOVEMBER = date(2026, 11, 1)
TYPES = ("center", "fcch", "exempt")


def _files(n: int, providers: int) -> dict[str, bytes]:
    prov = "provider_id,provider_type,county,file_complete,closure_policy\n" + "".join(
        f"P{i},{TYPES[i % 3]},Fresno,yes,{'yes' if i % 3 == 0 else 'no'}\n"
        for i in range(providers)
    )
    ceilings = (
        "effective_from,county,facility,age_band,rate_category,time_basis,amount\n"
        + "".join(
            f"2026-07-01,Fresno,{facility},{band},{category},{basis},{amount}.00\n"
            for facility in ("center", "fcch")
            for band in ("under_2", "2_to_5", "6_plus")
            for category in ("hourly", "daily", "weekly", "monthly")
            for basis, amount in (("full", 900), ("part", 700))
        )
    )
    families = "family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,name\n"
    families += "".join(
        f"F{i},3,400000,{0 if i % 3 else 4000},provider,Parent {i}\n" for i in range(n)
    )
    certs = (
        "certificate_id,version_from,child_id,family_id,provider_id,child_birth_date,start_date,"
        "end_date,schedule,rate_category,time_basis,evening_weekend_share,exceptional_needs,"
        "severely_disabled,provider_rate\n"
    ) + "".join(
        f"C{i},2026-08-01,K{i},F{i},P{i % providers},20{16 + i % 9}-0{1 + i % 9}-1{i % 9},"
        f"2026-08-01,2027-07-31,mon=8;tue=8;wed=8;thu=8;fri=8,"
        f"{('daily', 'monthly', 'hourly')[i % 3]},full,{('0', '0.25')[i % 2]},no,no,"
        f"{(60, 1400, 15)[i % 3]}.00\n"
        for i in range(n)
    )
    rows = ["certificate_id,date,time_in,time_out,absence,parent_signed,provider_signed,received\n"]
    for i in range(n):
        early = "2026-11-20" if i % 40 == 0 else "2026-11-30"
        for k in range(9):
            day = date(2026, 11, 2) + timedelta(days=k + (k // 5) * 2)
            rows.append(f"C{i},{day},08:00,16:{k % 6}0,,2026-11-30,{early},2026-12-02\n")
    return {
        "providers": prov.encode(),
        "ceilings": ceilings.encode(),
        "families": families.encode(),
        "certs": certs.encode(),
        "attendance": "".join(rows).encode(),
    }


def _setup(db: Database, n: int) -> tuple[int, bytes]:
    system = Actor.system("bench")
    providers = max(3, n // 50)
    files = _files(n, providers)
    with db.write() as conn:
        book = ledger.create_book(
            conn, system, "bench", "Bench agency", "USD", "America/Los_Angeles"
        )
        ledger.open_accounts(
            conn,
            system,
            book,
            [
                AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
                AccountSpec("5300", "Child care subsidies", AccountType.EXPENSE),
            ],
        )
        parties.create_parties(
            conn,
            system,
            book,
            [
                parties.NewParty(
                    f"P{i}", f"Provider {i}", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
                )
                for i in range(providers)
            ],
        )
        cc_month.import_providers(conn, system, book, files["providers"])
        cc_compliance.import_documents(
            conn, system, book, cc_demo.documents_for(files["providers"])
        )
        cc_month.import_ceilings(conn, system, book, files["ceilings"])
        childcare.import_files(
            conn, system, book, families=files["families"], certificates=files["certs"]
        )
    return book, files["attendance"]


def run_one(db: Database, n: int, store: str) -> dict[str, float]:
    db.migrate()
    started = time.perf_counter()
    book, attendance = _setup(db, n)
    setup_s = time.perf_counter() - started
    system = Actor.system("bench")
    times: dict[str, float] = {}
    started = time.perf_counter()
    with db.write() as conn:
        cc_month.import_attendance(conn, system, book, attendance, "november.csv")
    times["import and check"] = time.perf_counter() - started
    started = time.perf_counter()
    with db.write() as conn:
        found = cc_month.calculate_month(conn, system, book, NOVEMBER)
    times["calculate"] = time.perf_counter() - started
    started = time.perf_counter()
    with db.write() as conn:
        posted = cc_month.post_month(conn, system, book, NOVEMBER)
    times["post"] = time.perf_counter() - started
    total = sum(times.values())
    verdict = "PASS" if total <= TARGET_S else "FAIL"
    print(
        f"child care month in a book, {store}: {n:,} child-months "
        f"(setup {setup_s:.1f} s, not timed)"
    )
    for step, seconds in times.items():
        print(f"  {step:<18} {seconds:6.2f} s")
    print(f"  total              {total:6.2f} s  (target <= {TARGET_S:.0f} s: {verdict})")
    print(
        f"  {found.payable:,} payable and {found.incomplete:,} incomplete rows; "
        f"{posted.posted:,} posted; attendance.csv {len(attendance):,} bytes"
    )
    return {**times, "total": total}


def main(argv: Sequence[str]) -> int:
    top = argparse.ArgumentParser(prog="python -m bench childcare-book", description=__doc__)
    top.add_argument("--child-months", type=int, default=DEFAULT_CHILD_MONTHS)
    top.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = top.parse_args(list(argv))
    composition.register_all()
    stores = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for store in stores:
        if store == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
                run_one(db, args.child_months, store)
                db.dispose()
        else:
            from remit.testkit.postgres import TempCluster  # noqa: PLC0415

            with TempCluster(durable=True) as cluster:
                db = Database(cluster.create_database("childcare_book"))
                run_one(db, args.child_months, store)
                db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
