"""A book's own address and VAT number for its documents (issue 9, point 8): set by an
admin, checked, audited; shown and set from the command line."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from remit.access.model import Actor, Role
from remit.audit import audit_events
from remit.errors import Forbidden, ValidationFailed
from remit.ledger import service as ledger


def test_an_admin_sets_and_clears_the_details_and_each_change_is_audited(db, book, system):
    with db.write() as conn:
        found = ledger.set_book_details(
            conn,
            system,
            book,
            address=" Town Hall \r\n\n1 River Street ",
            vat_number="gb980 7806 84",
        )
        assert (found["address"], found["vat_number"]) == ("Town Hall\n1 River Street", "980780684")
        again = ledger.set_book_details(conn, system, book, vat_number="980780684")
        assert again["address"] == "Town Hall\n1 River Street"  # None keeps the address
        cleared = ledger.set_book_details(conn, system, book, address="", vat_number="")
        assert (cleared["address"], cleared["vat_number"]) == (None, None)
        events = conn.execute(
            select(audit_events.c.action).where(audit_events.c.action == "book.details")
        ).all()
    assert len(events) == 2  # the unchanged VAT number wrote nothing


@pytest.mark.parametrize(
    ("address", "vat", "field", "check"),
    [
        (None, "GB123456789", "vat_number", "uk_vat_checksum"),
        (None, "GB12345", "vat_number", "uk_vat_format"),
        ("Town Hall\x07", None, "address", "control_character"),
        ("x" * 501, None, "address", "length"),
        ("\n".join("line" for _ in range(9)), None, "address", "length"),
    ],
)
def test_bad_details_are_refused_by_field_and_nothing_changes(
    db, book, system, address, vat, field, check
):
    with db.write() as conn:
        with pytest.raises(ValidationFailed) as refused:
            ledger.set_book_details(conn, system, book, address=address, vat_number=vat)
        assert [(p.field, p.check) for p in refused.value.problems] == [(field, check)]
        found = ledger.get_book(conn, book)
    assert (found["address"], found["vat_number"]) == (None, None)


def test_only_an_admin_of_the_book_may_set_them(db, book):
    clerk = Actor("clerk", roles={book: frozenset({Role.CLERK})})
    with pytest.raises(Forbidden), db.write() as conn:
        ledger.set_book_details(conn, clerk, book, address="Somewhere")
