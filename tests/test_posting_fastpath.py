"""The posting fast path (``_Batch.add``) refuses exactly what the descriptive checks
(``rules.entry_problems`` and the book's checks in ``_check_drafts``) describe.

A disagreement is a bug either way: the fast path refusing a good entry answers with a
RuntimeError, and the fast path passing a bad one would post it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from remit.errors import ValidationFailed
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.ledger.posting import _Batch, _check_drafts
from remit.ledger.store import periods
from remit.money import MAX_AMOUNT_MINOR
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties

LIMIT = MAX_AMOUNT_MINOR
ACCOUNTS = ("1000", "1100", "2000", "3000", "4000", "5000", "1200", "9999", "")
# Dates around the closed periods: January (a calendar month, closed by the service) and
# 10 to 20 June (a range the periods table holds, not a month).
DATES = (
    date(2025, 12, 31),
    date(2026, 1, 1),
    date(2026, 1, 31),
    date(2026, 2, 1),
    date(2026, 6, 1),
    date(2026, 6, 9),
    date(2026, 6, 10),
    date(2026, 6, 20),
    date(2026, 6, 21),
    date(1899, 12, 31),  # outside the dates remit takes
    date(2101, 1, 1),
)


@pytest.fixture
def setup(db, book, system):
    """The book's parties and closed periods; returns the party ids to draw from."""
    with db.write() as conn:
        client, provider = create_parties(
            conn,
            system,
            book,
            [
                NewParty("C1", "Ada", PartyKind.PERSON, (PartyRole.CLIENT,)),
                NewParty("P1", "Sunrise", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
            ],
        )
        ledger.close_period(conn, system, book, 2026, 1)
        conn.execute(
            insert(periods).values(
                book_id=book,
                start_date=date(2026, 6, 10),
                end_date=date(2026, 6, 20),
                status="closed",
                changed_at="2026-06-21T00:00:00Z",
                changed_by="test",
            )
        )
    return (None, client, provider, 424242)


# Descriptions and sources: mostly plain, sometimes too long or holding a control character,
# a line break or a lone surrogate (which a JSON body can bring).
TEXTS = st.sampled_from(
    ("random", "random", "random", "d" * 500, "d" * 501, "a\x00b", "a\nb", "a\ud800b", "\u202e")
)
SOURCES = st.sampled_from((("", ""), ("", ""), ("care_run", "7"), ("t" * 51, ""), ("", "\x0b")))
amounts = st.one_of(
    st.integers(-1000, 1000),
    st.sampled_from([0, LIMIT, -LIMIT, LIMIT + 1, -LIMIT - 1, LIMIT // 2 + 1]),
    st.integers(-2 * LIMIT, 2 * LIMIT),
    st.sampled_from([1.5, True]),  # not integer counts of minor units
)


@st.composite
def lines(draw, parties):
    """A posting: most of the time to an account and party that fit, else anything."""
    none, client, provider, _stranger = parties
    fitting = (
        ("1000", none, "GBP"),
        ("5000", none, "GBP"),
        ("4000", none, "EUR"),
        ("2000", provider, "GBP"),
        ("1100", client, "GBP"),
        ("1200", none, "EUR"),
    )
    if draw(st.integers(0, 9)) < 8:
        account, party, currency = draw(st.sampled_from(fitting))
    else:
        account = draw(st.sampled_from(ACCOUNTS))
        party = draw(st.sampled_from(parties))
        currency = draw(st.sampled_from(("GBP", "EUR", "XXX")))
    return PostingDraft(account, draw(amounts), currency, party)


@st.composite
def drafts(draw, parties):
    postings = draw(st.lists(lines(parties), max_size=5))
    sums: dict[str, int] = {}
    for p in postings:
        if type(p.amount_minor) is int:
            sums[p.currency] = sums.get(p.currency, 0) + p.amount_minor
    if draw(st.integers(0, 9)) < 8:  # balance it in each currency, most of the time
        home = {"GBP": ("1000", None), "EUR": ("1200", None), "XXX": ("1000", None)}
        postings += [
            PostingDraft(home[currency][0], -total, currency)
            for currency, total in sorted(sums.items())
            if total
        ]
    key = draw(st.sampled_from(("k1", "k1", "k1", "", "x" * 200, "x" * 201, "k\x0b1")))
    description = draw(TEXTS)
    if postings and draw(st.integers(0, 9)) == 0:  # a memo that may not fit
        postings[0] = replace(postings[0], memo=draw(st.sampled_from(("ok", "m" * 201, "a\nb"))))
    day = draw(st.sampled_from(DATES))
    return EntryDraft(day, description, key, tuple(postings), *draw(SOURCES))


def test_the_fast_path_refuses_what_the_rules_describe(db, book, setup):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(draft=drafts(setup))
    def check(draft):
        with db.read() as conn:
            fast_refuses = _Batch.build(conn, book, [draft], [1]).flagged
            try:
                _check_drafts(conn, book, [draft])
                described = []
            except ValidationFailed as refused:
                described = [p.check for p in refused.problems]
        assert fast_refuses == bool(described), (draft, described)

    check()


@pytest.mark.parametrize(
    ("day", "closed"),
    [
        (date(2026, 6, 9), False),
        (date(2026, 6, 10), True),
        (date(2026, 6, 20), True),
        (date(2026, 6, 21), False),
        (date(2026, 1, 15), True),
    ],
)
def test_the_fast_path_reads_periods_as_date_ranges(db, book, setup, day, closed):
    draft = EntryDraft(
        day, "rent", "k", (PostingDraft("5000", 10, "GBP"), PostingDraft("1000", -10, "GBP"))
    )
    with db.read() as conn:
        assert _Batch.build(conn, book, [draft], [1]).flagged is closed
