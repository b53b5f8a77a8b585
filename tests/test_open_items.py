"""Open items and settlements: every control-account posting is an item, and a party's open
items sum to its control balance at any date (on SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import insert, select, text
from tests.conftest import make_book

from remit.access.model import Actor
from remit.db import Database, migrate
from remit.errors import Conflict, ValidationFailed
from remit.ledger import items, posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, OpenItem, PostingDraft
from remit.ledger.store import journal_entries, open_items, postings
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties

D0 = date(2026, 1, 5)
PAYABLES, RECEIVABLES = "2000", "1100"


def _parties(db: Database, system: Actor, book: int) -> tuple[list[int], list[int]]:
    with db.write() as conn:
        ids = create_parties(
            conn,
            system,
            book,
            [
                NewParty(f"P{n}", f"Provider {n}", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))
                for n in range(3)
            ]
            + [
                NewParty(f"C{n}", f"Client {n}", PartyKind.PERSON, (PartyRole.CLIENT,))
                for n in range(2)
            ],
        )
    return list(ids[:3]), list(ids[3:])


def _bill(day: date, key: str, provider: int, amount: int, **item: object) -> EntryDraft:
    """A self-bill: care expense, owed to the provider on 2000."""
    return EntryDraft(
        day,
        "self-bill",
        key,
        (
            PostingDraft("5000", amount, "GBP"),
            PostingDraft(PAYABLES, -amount, "GBP", provider, **item),  # type: ignore[arg-type]
        ),
    )


def _payment(day: date, key: str, provider: int, amount: int, settles=()) -> EntryDraft:
    return EntryDraft(
        day,
        "payment",
        key,
        (
            PostingDraft(PAYABLES, amount, "GBP", provider, settles=tuple(settles)),
            PostingDraft("1000", -amount, "GBP"),
        ),
    )


def _post(db: Database, actor: Actor, book: int, draft: EntryDraft) -> int:
    with db.write() as conn:
        return ledger.post(conn, actor, book, draft).entry_id


def _item_of(db: Database, system: Actor, book: int, entry_id: int) -> OpenItem:
    with db.read() as conn:
        found = [
            i
            for i in items.open_items(conn, system, book, include_settled=True)
            if i.entry_id == entry_id
        ]
    assert len(found) == 1
    return found[0]


# ---------------------------------------------------------------- the random book


class _RandomBook:
    """Random postings, reversals, settlements and reversed settlements in one book."""

    def __init__(self, db: Database, system: Actor, book: int, seed: int) -> None:
        self.db, self.system, self.book = db, system, book
        self.providers, self.clients = _parties(db, system, book)
        self.rng = random.Random(seed)
        self.entries: list[tuple[int, date]] = []
        self.reversed: set[int] = set()
        self.settled: list[int] = []
        self.counts = {"settled": 0, "refused": 0}

    def day(self) -> date:
        return D0 + timedelta(days=self.rng.randrange(60))

    def run(self, steps: int) -> None:
        ops = ["bill", "bill", "invoice", "pay", "manual", "reverse", "settle", "undo"]
        for n in range(steps):
            op = self.rng.choice(ops)
            try:
                with self.db.write() as conn:
                    getattr(self, op)(conn, f"k{n}")
            except ValidationFailed:
                self.counts["refused"] += 1  # a date before an item's last settlement...

    def _posted(self, conn, draft: EntryDraft) -> None:
        entry_id = ledger.post(conn, self.system, self.book, draft).entry_id
        self.entries.append((entry_id, draft.entry_date))

    def bill(self, conn, key: str) -> None:
        when, amount = self.day(), self.rng.randrange(1, 50_000)
        due = when + timedelta(days=self.rng.randrange(30))
        self._posted(conn, _bill(when, key, self.rng.choice(self.providers), amount, due_date=due))

    def invoice(self, conn, key: str) -> None:
        when, amount = self.day(), self.rng.randrange(1, 50_000)
        client = self.rng.choice(self.clients)
        self._posted(
            conn,
            EntryDraft(
                when,
                "contribution",
                key,
                (
                    PostingDraft(RECEIVABLES, amount, "GBP", client),
                    PostingDraft("4000", -amount, "GBP"),
                ),
            ),
        )

    def manual(self, conn, key: str) -> None:
        """A credit note typed in by hand: no document, no due date."""
        when, amount = self.day(), self.rng.randrange(1, 50_000)
        provider = self.rng.choice(self.providers)
        self._posted(
            conn,
            EntryDraft(
                when,
                "credit",
                key,
                (
                    PostingDraft(PAYABLES, amount, "GBP", provider),
                    PostingDraft("5000", -amount, "GBP"),
                ),
            ),
        )

    def pay(self, conn, key: str) -> None:
        provider, when = self.rng.choice(self.providers), self.day()
        owed = [
            i
            for i in items.open_items(
                conn, self.system, self.book, account=PAYABLES, party_id=provider
            )
            if i.open_minor < 0 and i.item_date <= when
        ]
        chosen = self.rng.sample(owed, min(len(owed), self.rng.randrange(3)))
        amount = max(1, -sum(i.open_minor for i in chosen) + self.rng.randrange(-500, 500))
        self._posted(conn, _payment(when, key, provider, amount, [i.id for i in chosen]))

    def reverse(self, conn, key: str) -> None:
        if not self.entries:
            return
        entry_id, when = self.rng.choice(self.entries)
        if entry_id not in self.reversed:
            self.reversed.add(entry_id)
            on = when + timedelta(days=self.rng.randrange(-3, 10))
            ledger.reverse(conn, self.system, self.book, entry_id, key, on)

    def settle(self, conn, key: str) -> None:
        everything = items.open_items(conn, self.system, self.book)
        debit = [i for i in everything if i.open_minor > 0]
        if not debit:
            return
        a = self.rng.choice(debit)
        credit = [
            i
            for i in everything
            if i.open_minor < 0 and (i.account_code, i.party_id) == (a.account_code, a.party_id)
        ]
        if not credit:
            return
        b = self.rng.choice(credit)
        moved = self.rng.randrange(1, min(a.open_minor, -b.open_minor) + 1)
        when = max(a.item_date, b.item_date) + timedelta(days=self.rng.randrange(5))
        self.settled.append(
            items.settle(
                conn,
                self.system,
                self.book,
                [(a.id, -moved), (b.id, moved)],
                settled_on=when,
                idempotency_key=key,
            )
        )
        self.counts["settled"] += 1

    def undo(self, conn, key: str) -> None:
        if self.settled:
            target = self.settled.pop(self.rng.randrange(len(self.settled)))
            items.reverse_settlement(
                conn,
                self.system,
                self.book,
                target,
                on=D0 + timedelta(days=70),
                idempotency_key=key,
            )


def test_open_items_sum_to_the_control_balance_at_every_date(db, book, system):
    random_book = _RandomBook(db, system, book, seed=10)
    random_book.run(120)
    assert random_book.counts["settled"] >= 4
    providers, clients = random_book.providers, random_book.clients
    with db.read() as conn:
        kinds = conn.execute(
            text(
                "SELECT SUM(CASE WHEN idempotency_key LIKE 'posting:%' THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN reverses_settlement_id IS NOT NULL THEN 1 ELSE 0 END)"
                " FROM settlements"
            )
        ).one()
        assert kinds[0] >= 5 and kinds[1] >= 2, kinds  # payments, reversals; undone ones
        assert ledger.integrity_problems(conn) == []
        for as_of in [D0 + timedelta(days=d) for d in (-1, 0, 7, 20, 33, 59, 80)] + [None]:
            for account, ids in ((PAYABLES, providers), (RECEIVABLES, clients)):
                balances = ledger.party_balances(conn, system, book, account, as_of=as_of)
                for party in ids:
                    total = items.party_open_total(conn, book, account, party, as_of=as_of)
                    assert total.get("GBP", 0) == balances.get((party, "GBP"), 0), (as_of, party)
            for item in items.open_items(conn, system, book, as_of=as_of, include_settled=True):
                low, high = sorted((0, item.amount_minor))
                assert low <= item.open_minor <= high, item


# ---------------------------------------------------------------- settling


@pytest.fixture
def two_bills(db, book, system):
    providers, _ = _parties(db, system, book)
    p1, p2 = providers[:2]
    first = _post(db, system, book, _bill(D0, "b1", p1, 10_000, doc_ref="INV-1"))
    second = _post(db, system, book, _bill(D0 + timedelta(days=3), "b2", p1, 5_000))
    other = _post(db, system, book, _bill(D0, "b3", p2, 7_000))
    credit = _post(
        db,
        system,
        book,
        EntryDraft(
            D0 + timedelta(days=5),
            "credit",
            "c1",
            (PostingDraft(PAYABLES, 4_000, "GBP", p1), PostingDraft("5000", -4_000, "GBP")),
        ),
    )
    return {
        "p1": p1,
        "first": _item_of(db, system, book, first),
        "second": _item_of(db, system, book, second),
        "other": _item_of(db, system, book, other),
        "credit": _item_of(db, system, book, credit),
    }


def _checks(refused: ValidationFailed) -> set[str]:
    return {p.check for p in refused.problems}


def test_settle_refuses_what_cannot_be(db, book, system, two_bills):
    first, credit, other = two_bills["first"], two_bills["credit"], two_bills["other"]
    later = D0 + timedelta(days=9)
    cases = {
        "other_item": [(other.id, 4_000), (credit.id, -4_000)],
        "same_sign": [(first.id, -4_000), (two_bills["second"].id, 4_000)],
        "over_allocation": [(first.id, 5_000), (credit.id, -5_000)],
        "unbalanced": [(first.id, 3_000), (credit.id, -4_000)],
        "unknown_item": [(first.id, 4_000), (999_999, -4_000)],
    }
    for check, allocations in cases.items():
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            items.settle(
                conn, system, book, allocations, settled_on=later, idempotency_key=f"x-{check}"
            )
        assert check in _checks(refused.value), (check, refused.value.problems)
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        items.settle(
            conn,
            system,
            book,
            [(first.id, 4_000), (credit.id, -4_000)],
            settled_on=D0 + timedelta(days=4),
            idempotency_key="early",
        )
    assert _checks(refused.value) == {"before_item_date"}
    with db.read() as conn:  # nothing was written by any of them
        assert conn.execute(text("SELECT COUNT(*) FROM settlements")).scalar_one() == 0

    with db.write() as conn:
        made = items.settle(
            conn,
            system,
            book,
            [(first.id, 4_000), (credit.id, -4_000)],
            settled_on=later,
            idempotency_key="ok",
            memo="credit note",
        )
    with db.write() as conn:  # the same again: the same settlement, nothing moves twice
        assert (
            items.settle(
                conn,
                system,
                book,
                [(first.id, 4_000), (credit.id, -4_000)],
                settled_on=later,
                idempotency_key="ok",
                memo="credit note",
            )
            == made
        )
    with pytest.raises(Conflict), db.write() as conn:
        items.settle(
            conn,
            system,
            book,
            [(first.id, 3_000), (credit.id, -3_000)],
            settled_on=later,
            idempotency_key="ok",
        )
    assert _item_of(db, system, book, first.entry_id).open_minor == -6_000
    assert _item_of(db, system, book, credit.entry_id).open_minor == 0
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        items.settle(
            conn,
            system,
            book,
            [(first.id, 1), (credit.id, -1)],
            settled_on=later,
            idempotency_key="again",
        )
    assert "over_allocation" in _checks(refused.value)

    # Reversed: the items are open again, as of the reversal's date and not before.
    with db.write() as conn:
        undone = items.reverse_settlement(
            conn, system, book, made, on=later + timedelta(days=1), idempotency_key="undo"
        )
    with pytest.raises(Conflict), db.write() as conn:
        items.reverse_settlement(
            conn, system, book, made, on=later + timedelta(days=2), idempotency_key="undo-2"
        )
    with pytest.raises(Conflict), db.write() as conn:
        items.reverse_settlement(
            conn, system, book, undone, on=later + timedelta(days=2), idempotency_key="undo-3"
        )
    assert _item_of(db, system, book, first.entry_id).open_minor == -10_000
    with db.read() as conn:
        at_later = items.party_open_total(conn, book, PAYABLES, two_bills["p1"], as_of=later)
        assert at_later == {"GBP": -11_000}
        found = {i.id: i.open_minor for i in items.open_items(conn, system, book, as_of=later)}
        assert first.id in found and found[first.id] == -6_000 and credit.id not in found


def test_the_database_refuses_changes_to_settlements_and_items(db, book, system, two_bills):
    first, credit = two_bills["first"], two_bills["credit"]
    with db.write() as conn:
        items.settle(
            conn,
            system,
            book,
            [(first.id, 4_000), (credit.id, -4_000)],
            settled_on=D0 + timedelta(days=9),
            idempotency_key="ok",
        )
    for statement in (
        "UPDATE settlements SET memo = 'x'",
        "DELETE FROM item_allocations",
        "DELETE FROM open_items",
        "UPDATE open_items SET amount_minor = 1",
        f"UPDATE open_items SET open_minor = 1 WHERE id = {first.id}",  # the CHECK: wrong sign
    ):
        with pytest.raises(Exception), db.write() as conn:  # noqa: B017, PT011
            conn.execute(text(statement))


def test_a_payment_settles_the_items_it_names_in_order(db, book, system, two_bills):
    first, second, p1 = two_bills["first"], two_bills["second"], two_bills["p1"]
    paid = _post(
        db,
        system,
        book,
        _payment(D0 + timedelta(days=10), "pay", p1, 12_000, [second.id, first.id]),
    )
    assert _item_of(db, system, book, second.entry_id).open_minor == 0
    assert _item_of(db, system, book, first.entry_id).open_minor == -3_000
    assert _item_of(db, system, book, paid).open_minor == 0
    # Replayed: the same entry, no second settlement.
    again = _post(
        db,
        system,
        book,
        _payment(D0 + timedelta(days=10), "pay", p1, 12_000, [second.id, first.id]),
    )
    assert again == paid
    assert _item_of(db, system, book, first.entry_id).open_minor == -3_000

    refusals = {
        "settled": [second.id],
        "other_item": [two_bills["other"].id],
        "same_sign": [two_bills["credit"].id],
        "before_item_date": [first.id],
    }
    for check, settles in refusals.items():
        when = D0 - timedelta(days=1) if check == "before_item_date" else D0 + timedelta(days=20)
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            ledger.post(conn, system, book, _payment(when, f"p-{check}", p1, 100, settles))
        assert check in _checks(refused.value), (check, refused.value.problems)
        assert "posting 1" in refused.value.problems[0].source
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post(
            conn,
            system,
            book,
            EntryDraft(
                D0,
                "x",
                "bad-field",
                (PostingDraft("5000", 5, "GBP", doc_ref="INV"), PostingDraft("1000", -5, "GBP")),
            ),
        )
    assert _checks(refused.value) == {"item_fields_not_allowed"}


def test_reversing_an_unsettled_entry_leaves_nothing_open(db, book, system, two_bills):
    first, second, p1 = two_bills["first"], two_bills["second"], two_bills["p1"]
    with db.write() as conn:
        back = ledger.reverse(conn, system, book, first.entry_id, "wrong provider").entry_id
    assert _item_of(db, system, book, first.entry_id).open_minor == 0
    assert _item_of(db, system, book, back).open_minor == 0
    # Reversing a part-paid bill settles what is left; the payment's part stays open.
    _post(db, system, book, _payment(D0 + timedelta(days=4), "part", p1, 2_000, [second.id]))
    with db.write() as conn:
        back = ledger.reverse(
            conn, system, book, second.entry_id, "duplicate", D0 + timedelta(days=6)
        ).entry_id
    assert _item_of(db, system, book, second.entry_id).open_minor == 0
    assert _item_of(db, system, book, back).open_minor == 2_000
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == []


def test_reversing_a_payment_reopens_the_bills_it_paid(db, book, system, two_bills):
    first, second, p1 = two_bills["first"], two_bills["second"], two_bills["p1"]
    paid = _post(
        db,
        system,
        book,
        _payment(D0 + timedelta(days=10), "pay", p1, 12_000, [second.id, first.id]),
    )
    with db.write() as conn:
        back = ledger.reverse(conn, system, book, paid, "bounced").entry_id
    assert _item_of(db, system, book, first.entry_id).open_minor == -10_000
    assert _item_of(db, system, book, second.entry_id).open_minor == -5_000
    assert _item_of(db, system, book, paid).open_minor == 0
    assert _item_of(db, system, book, back).open_minor == 0
    with db.read() as conn:
        assert ledger.integrity_problems(conn) == []
        before = items.party_open_total(conn, book, PAYABLES, p1, as_of=D0 + timedelta(days=9))
        assert before == {"GBP": -11_000}


def test_an_item_carries_its_due_date_and_document(db, book, system, two_bills):
    first, second = two_bills["first"], two_bills["second"]
    assert first.doc_ref == "INV-1" and first.due_date == D0
    assert second.doc_ref == "b2"  # no source: the idempotency key
    due = _post(db, system, book, _bill(D0, "due", two_bills["p1"], 1, due_date=date(2026, 2, 1)))
    assert _item_of(db, system, book, due).due_date == date(2026, 2, 1)


def test_items_frame_has_the_columns_a_payment_engine_reads(db, book, system, two_bills):
    with db.read() as conn:
        frame = items.items_frame(conn, book, [PAYABLES], due_by=D0 + timedelta(days=4))
        empty = items.items_frame(conn, book, [RECEIVABLES], due_by=D0)
    assert frame.schema == pl.Schema(
        {
            "item_id": pl.Int64,
            "party_id": pl.Int64,
            "account_code": pl.Utf8,
            "currency": pl.Utf8,
            "open_minor": pl.Int64,
            "due_date": pl.Date,
            "item_date": pl.Date,
            "doc_ref": pl.Utf8,
            "cost_centre": pl.Utf8,
            "source_type": pl.Utf8,
        }
    )
    assert empty.schema == frame.schema and empty.height == 0
    # Due by the 4th: both bills of the 5th January... and not the credit of the 10th.
    assert sorted(frame["item_id"].to_list()) == sorted(
        [two_bills["first"].id, two_bills["second"].id, two_bills["other"].id]
    )
    assert frame.filter(pl.col("item_id") == two_bills["first"].id)["open_minor"][0] == -10_000
    assert frame["due_date"].min() == D0


# ---------------------------------------------------------------- the migration


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def at_0006(request: pytest.FixtureRequest, tmp_path: Path):
    """A store migrated only to 0006: before open items."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        if cluster is None:
            pytest.skip("needs the test cluster to make an empty database")
        url = cluster.create_database(f"m_{uuid.uuid4().hex[:12]}")
    database = Database(url)
    migrate(database.engine, "0006")
    yield database
    database.dispose()


def _raw_entry(conn, book: int, entry_id: int, day: date, lines: list[tuple]) -> None:
    """An entry written as remit wrote them before open items (no service: 0006 has no
    open_items table)."""
    row = {
        "id": entry_id,
        "book_id": book,
        "entry_date": day,
        "line_count": len(lines),
        "description": "old",
        "idempotency_key": f"old-{entry_id}",
        "fingerprint": "f" * 64,
        "source_type": "" if entry_id % 2 else "care_run",
        "source_id": str(entry_id),
        "reverses_entry_id": None,
        "created_by": "old",
        "created_at": "2026-01-01T00:00:00Z",
    }
    rows = [
        {
            "entry_id": entry_id,
            "line_no": n,
            "entry_lines": len(lines),
            "account_id": account,
            "party_id": party,
            "currency": "GBP",
            "amount_minor": amount,
            "entry_date": day,
            "memo": "",
        }
        for n, (account, party, amount) in enumerate(lines, start=1)
    ]
    if conn.dialect.name == "postgresql":
        conn.execute(insert(journal_entries), [row])
        conn.execute(insert(postings), rows)
    else:
        conn.execute(insert(postings), rows)
        conn.execute(insert(journal_entries), [row])


def test_the_migration_gives_existing_balances_their_items(at_0006, system):
    db = at_0006
    book = make_book(db, system)
    providers, _ = _parties(db, system, book)
    with db.read() as conn:
        chart = {
            r.code: r.id
            for r in conn.execute(
                text("SELECT code, id FROM accounts WHERE book_id = :b"), {"b": book}
            )
        }
    rng = random.Random(8)
    with db.write() as conn:
        for entry_id in range(1, 41):
            amount = rng.randrange(1, 9_000) * rng.choice((1, -1, -1))
            _raw_entry(
                conn,
                book,
                entry_id,
                D0 + timedelta(days=rng.randrange(40)),
                [(chart[PAYABLES], rng.choice(providers), amount), (chart["5000"], None, -amount)],
            )
        if conn.dialect.name == "postgresql":  # as remit numbers them there
            conn.execute(text("SELECT setval('journal_entry_id_seq', 40)"))
    migrate(db.engine)
    with db.read() as conn:
        count = conn.execute(select(open_items.c.id)).all()
        assert len(count) == 40
        for as_of in (None, D0 + timedelta(days=10), D0 + timedelta(days=25)):
            balances = ledger.party_balances(conn, system, book, PAYABLES, as_of=as_of)
            for party in providers:
                total = items.party_open_total(conn, book, PAYABLES, party, as_of=as_of)
                assert total.get("GBP", 0) == balances.get((party, "GBP"), 0)
            # Opposite signs were settled: per party, what is open is of one sign.
            open_now = items.open_items(conn, system, book, as_of=as_of)
            for party in providers:
                signs = {i.open_minor > 0 for i in open_now if i.party_id == party}
                assert len(signs) <= 1
        refs = {i.doc_ref for i in items.open_items(conn, system, book, include_settled=True)}
        assert "care_run:2" in refs and "old-1" in refs
    # Posting still works after it, and new ids follow the migrated ones.
    new = _post(db, system, book, _bill(D0, "after", providers[0], 100))
    assert _item_of(db, system, book, new).id == 41


# ---------------------------------------------------------------- care self-bills


def test_a_posted_self_bill_is_an_item_due_on_the_runs_due_date(db, book, council):
    from tests.test_care_book import _reconciled_week  # noqa: PLC0415

    from remit.care import payables  # noqa: PLC0415
    from remit.care.selfbill import self_bill  # noqa: PLC0415

    manager = council["manager"]
    alan = _reconciled_week(db, book, council)[council["p2"]]  # no exceptions: resolved
    with db.write() as conn:
        entry_id = payables.post_payable(conn, manager, book, alan.run_id)
        bill = self_bill(conn, manager, book, alan.run_id)
    [item] = [i for i in _items(db, manager, book) if i.entry_id == entry_id]
    assert (item.due_date, item.doc_ref) == (bill.due_on, bill.number)
    assert item.due_date > item.item_date and item.open_minor == -bill.total_minor


def _items(db: Database, actor: Actor, book: int) -> list[OpenItem]:
    with db.read() as conn:
        return items.open_items(conn, actor, book, include_settled=True)


def test_fingerprints_of_entries_without_item_fields_are_as_before():
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415

    from remit.ledger.rules import fingerprint  # noqa: PLC0415

    draft = _bill(D0, "k", 7, 250)
    before = [
        D0.isoformat(),
        "self-bill",
        "",
        "",
        [["5000", None, "GBP", 250, ""], ["2000", 7, "GBP", -250, ""]],
    ]
    expected = hashlib.sha256(json.dumps(before, separators=(",", ":")).encode()).hexdigest()
    assert fingerprint(draft) == expected
    assert fingerprint(_bill(D0, "k", 7, 250, doc_ref="INV-9")) != expected
    assert fingerprint(_bill(D0, "k", 7, 250, due_date=D0)) != expected


def test_an_items_cost_centre_reaches_the_frame_and_its_reversal(db, book, system):
    providers, _ = _parties(db, system, book)
    bill = _post(db, system, book, _bill(D0, "cc1", providers[0], 5_000, cost_centre="LD-SUPPORT"))
    with db.read() as conn:
        frame = items.items_frame(conn, book, [PAYABLES], due_by=D0)
    assert frame.select("cost_centre", "source_type").rows() == [("LD-SUPPORT", "")]
    with db.write() as conn:
        undone = posting.reverse(conn, system, book, bill, "posted twice").entry_id
    with db.read() as conn:
        centre = conn.execute(
            text("SELECT cost_centre FROM open_items WHERE entry_id = :e"), {"e": undone}
        ).scalar_one()
    assert centre == "LD-SUPPORT"
