"""The worked example of docs/formats/childcare.md as a book (an agency of four providers
and two families, October 2026), for the tests of child care in a book."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from remit.access.model import Actor, Role
from remit.childcare import compliance
from remit.childcare import demo as cc_demo
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.db import Database
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.testkit import person

DOC = Path(__file__).resolve().parents[3] / "docs" / "formats" / "childcare.md"
BLOCK = re.compile(r"<!-- (file|output) (\S+) -->\n```\w*\n(.*?)```\n", re.S)
PROVIDERS = ("P-SUN", "P-ROSA", "P-ABUELA", "P-NEW")


def example(kind: str) -> dict[str, str]:
    """The document's input files (``file``) or the command's output (``output``)."""
    return {name: text for k, name, text in BLOCK.findall(DOC.read_text()) if k == kind}


def book_attendance() -> str:
    """The example's attendance.csv less C9's rows: the book refuses a record of a
    certificate it does not hold (the offline command makes it a row of its own)."""
    return "".join(
        line
        for line in example("file")["attendance.csv"].splitlines(keepends=True)
        if not line.startswith("C9,")
    )


def clerk(book_id: int) -> Actor:
    return person("cc-clerk", book_id, Role.CLERK)


def worked_example_book(db: Database, system: Actor, documents: bool = True) -> int:
    """A book holding the worked example: its chart, providers (with ``documents``, the
    offline file's ``file_complete`` flags as records of their files), ceilings, policy,
    families, certificates and October's records. Returns the book's id."""
    files = example("file")
    with db.write() as conn:
        book_id = ledger.create_book(conn, system, "la", "LA agency", "USD", "America/Los_Angeles")
        ledger.open_accounts(
            conn,
            system,
            book_id,
            [
                AccountSpec("1000", "Bank", AccountType.ASSET),
                AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
                AccountSpec("2050", "Payments in transit", AccountType.LIABILITY),
                AccountSpec("1300", "Overpayments receivable", AccountType.ASSET, True, "provider"),
                AccountSpec("5300", "Child care subsidies", AccountType.EXPENSE),
            ],
        )
        parties.create_parties(
            conn,
            system,
            book_id,
            [
                *(
                    parties.NewParty(ref, ref, PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
                    for ref in PROVIDERS
                ),
                *(
                    parties.NewParty(ref, f"Family {ref}", PartyKind.PERSON, (PartyRole.CLIENT,))
                    for ref in ("F1", "F2")
                ),
            ],
        )
        actor = clerk(book_id)
        providers = files["providers.csv"].encode()
        cc_month.import_providers(conn, actor, book_id, providers)
        if documents:
            compliance.import_documents(conn, actor, book_id, cc_demo.documents_for(providers))
        cc_month.import_ceilings(conn, actor, book_id, files["ceilings.csv"].encode())
        cc_month.set_policy(conn, actor, book_id, date(2026, 7, 1), files["policy.toml"].encode())
        childcare.import_files(
            conn,
            actor,
            book_id,
            families=files["families.csv"].encode(),
            certificates=files["certs.csv"].encode(),
        )
        cc_month.import_attendance(conn, actor, book_id, book_attendance().encode())
    return book_id
