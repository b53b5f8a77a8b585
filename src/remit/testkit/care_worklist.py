"""A long care run in the demo book, for the worklist's page and browser tests: five
visits a day for three weeks of February 2023 (before any demo package) for the demo
provider, nearly all missed (over 100 exceptions), one short visit by carer K1."""

from __future__ import annotations

from datetime import date

from remit.access.service import actor_for
from remit.care import imports, runs, worklist
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.db import Database
from remit.ledger import service as ledger
from remit.parties import service as parties

FIRST, LAST = date(2023, 2, 6), date(2023, 2, 26)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"


def seed_long_run(database: Database, book: str = "riverside") -> tuple[int, int, int]:
    """Plan, record and reconcile the three weeks; returns (run id, exceptions, lines)."""
    with database.write() as conn:
        book_id = ledger.book_id_for(conn, book)
        clerk = actor_for(conn, f"demo-clerk@{book}")
        provider = actor_for(conn, f"demo-provider@{book}").party_in(book_id)
        assert provider is not None, "the demo provider user is bound to a provider"
        client = min(parties.party_ids_with_role(conn, book_id, "client"))
        client_ref = parties.get_party(conn, clerk, book_id, client)["ref"]
        provider_ref = parties.get_party(conn, clerk, book_id, provider)["ref"]
        slots = tuple(Slot(d, h * 60, 30) for d in range(7) for h in (7, 10, 13, 16, 19))
        care.create_package(
            conn,
            clerk,
            book_id,
            NewPackage(
                "WL-1", client, provider, "WL", FIRST, LAST, slots, ((FIRST, "20.00", "GBP"),)
            ),
        )
        care.generate_planned(conn, clerk, book_id, FIRST, LAST)
        record = f"WL-R1,{client_ref},{provider_ref},K1,WL,phone,"
        record += "2023-02-06T07:02:00,2023-02-06T07:10:00\n"
        imports.import_actual(conn, clerk, book_id, "wl.csv", (HEADER + record).encode())
        (run,) = runs.reconcile_period(conn, clerk, book_id, FIRST, LAST, [provider])
        total, _ = worklist.exceptions(conn, clerk, book_id, run.run_id, worklist.Filters())
        line_count, _ = worklist.lines(conn, clerk, book_id, run.run_id)
    return run.run_id, total, line_count
