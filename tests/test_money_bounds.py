"""Amounts the ledger can hold, on every path an entry takes, on SQLite and PostgreSQL.

A posting carries at most 10^15 minor units either way and an entry's debits add up to at
most 10^15; an account's debits and its credits (so its day totals and every balance) stay
within BIGINT. Beyond that, each path answers with a problem naming the line and field, and
writes nothing: never a traceback, a wrapped number or a float in the store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from remit.access import tokens
from remit.access.model import Actor, Role
from remit.cli import app as cli_app
from remit.db import Database, is_postgres
from remit.documents import service as documents
from remit.errors import ValidationFailed
from remit.jobs import service as jobs
from remit.jobs.model import JobStatus
from remit.jobs.worker import Worker
from remit.ledger import rules
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.ledger.store import account_daily_totals, postings
from remit.money import BALANCE_LIMIT_MINOR, MAX_AMOUNT_MINOR
from remit.secrets import Vault
from remit.testkit import person
from remit.testkit.web import api_token
from remit.web.app import create_app

LIMIT = MAX_AMOUNT_MINOR
DAY = date(2026, 3, 2)
HEADER = "entry,date,description,account,party,currency,debit,credit\n"

Lines = list[tuple[str, int]]
Env = tuple[Path, pytest.MonkeyPatch]  # a folder and the environment, for the CLI

# (what, postings as (account, minor units), the check that refuses it or None)
CASES: list[tuple[str, Lines, str | None]] = [
    ("at the posting bound", [("5000", LIMIT), ("1000", -LIMIT)], None),
    ("one over the posting bound", [("5000", LIMIT + 1), ("1000", -LIMIT - 1)], "amount_bound"),
    (
        "debits at the entry bound",
        [("5000", LIMIT // 2), ("3000", LIMIT // 2), ("1000", -LIMIT)],
        None,
    ),
    (
        "debits one over the entry bound",
        [
            ("5000", LIMIT // 2 + 1),
            ("3000", LIMIT // 2),
            ("1000", -LIMIT // 2),
            ("1000", -LIMIT // 2),
            ("4000", -1),
        ],
        "entry_bound",
    ),
]


def major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def csv_file(lines: Lines, ref: str = "A") -> bytes:
    sides = [(major(a), "") if a > 0 else ("", major(-a)) for _, a in lines]
    rows = [
        f"{ref},{DAY},Bounds,{account},,GBP,{debit},{credit}"
        for (account, _), (debit, credit) in zip(lines, sides, strict=True)
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


def json_file(lines: Lines, key: str = "A") -> bytes:
    entry = {
        "idempotency_key": key,
        "date": DAY.isoformat(),
        "description": "Bounds",
        "postings": [{"account": c, "currency": "GBP", "amount_minor": a} for c, a in lines],
    }
    return json.dumps({"entries": [entry]}).encode()


def by_service(db: Database, book: int, clerk: Actor, lines: Lines, env: Env) -> list[str]:
    draft = EntryDraft(DAY, "Bounds", "A", tuple(PostingDraft(c, a, "GBP") for c, a in lines))
    with db.write() as conn:
        ledger.post(conn, clerk, book, draft)
    return []


def by_csv_file(db: Database, book: int, clerk: Actor, lines: Lines, env: Env) -> list[str]:
    with db.write() as conn:
        ledger.post_entry_file(conn, clerk, book, "bounds.csv", csv_file(lines))
    return []


def by_json_file(db: Database, book: int, clerk: Actor, lines: Lines, env: Env) -> list[str]:
    with db.write() as conn:
        ledger.post_entry_file(conn, clerk, book, "bounds.json", json_file(lines))
    return []


def run_job(db: Database, book: int, name: str, data: bytes) -> Any:
    """Store ``data`` as a file and post it with the entry-file job; the finished job."""
    system = Actor.system("test")
    with db.write() as conn:
        file_id = documents.store_file(conn, book, name, data)
        job_id = jobs.enqueue(conn, system, book, "ledger.post_file", {"file_id": file_id})
    assert Worker(db, Vault(Fernet.generate_key()), "w-bounds").run_once()
    with db.read() as conn:
        return jobs.load(conn, job_id)


def by_job(db: Database, book: int, clerk: Actor, lines: Lines, env: Env) -> list[str]:
    done = run_job(db, book, "bounds.csv", csv_file(lines))
    if done.status is JobStatus.SUCCEEDED:
        return []
    assert done.status is JobStatus.FAILED
    return done.error.splitlines()


def by_cli(db: Database, book: int, clerk: Actor, lines: Lines, env: Env) -> list[str]:
    """``remit ledger post FILE`` on the same store; the problems it prints."""
    folder, monkeypatch = env
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("REMIT_USER", raising=False)
    path = folder / "bounds.csv"
    path.write_bytes(csv_file(lines))
    result = CliRunner().invoke(cli_app, ["ledger", "post", str(path), "--book", "test"])
    if result.exit_code == 0:
        return []
    assert result.exit_code == 2, result.output
    return result.output.splitlines()


PATHS: dict[str, Callable[[Database, int, Actor, Lines, Env], list[str]]] = {
    "service": by_service,
    "csv file": by_csv_file,
    "json file": by_json_file,
    "job": by_job,
    "cli": by_cli,
}


def stored_postings(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(postings)).scalar_one())


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("what", "lines", "refusal"), CASES, ids=[c[0] for c in CASES])
def test_every_entry_path_posts_up_to_the_bounds_and_refuses_past_them(
    db, book, path, what, lines, refusal, tmp_path, monkeypatch
):
    clerk = person("carla", book, Role.CLERK)
    try:
        reported = PATHS[path](db, book, clerk, lines, (tmp_path, monkeypatch))
    except ValidationFailed as refused:
        reported = [str(p) for p in refused.problems]
    if refusal is None:
        assert reported == []
        with db.read() as conn:
            [bank] = ledger.balances(conn, clerk, book, account="1000")
        assert bank.balance_minor == -LIMIT
        return
    assert any(f"[{refusal}]" in line for line in reported), reported
    assert stored_postings(db) == 0  # nothing was written


def test_a_23_digit_amount_in_an_entry_file_names_its_line_and_field(db, book):
    clerk = person("carla", book, Role.CLERK)
    data = (HEADER + "A,2026-03-02,Huge,5000,,GBP,50000000000000000.00,\n").encode()
    data += b"A,2026-03-02,Huge,1000,,GBP,,12345678901234567890123\n"
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post_entry_file(conn, clerk, book, "huge.csv", data)
    assert [str(p) for p in refused.value.problems] == [
        "huge.csv: line 2: debit: at most 1,000,000,000,000,000 minor units either way "
        "[amount_bound]",
        "huge.csv: line 3: credit: at most 1,000,000,000,000,000 minor units either way "
        "[amount_bound]",
    ]
    failed = run_job(db, book, "huge.csv", data)
    assert failed.status is JobStatus.FAILED
    assert "line 3: credit: at most 1,000,000,000,000,000 minor units" in failed.error
    assert stored_postings(db) == 0


def test_a_400_digit_amount_in_a_json_entry_file_is_a_problem_not_a_traceback(db, book):
    clerk = person("carla", book, Role.CLERK)
    huge = int("9" * 400)
    data = json_file([("5000", huge), ("1000", -huge)])
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post_entry_file(conn, clerk, book, "huge.json", data)
    assert [(p.field, p.check) for p in refused.value.problems] == [
        ("entries[0].postings[0].amount_minor", "amount_bound"),
        ("entries[0].postings[1].amount_minor", "amount_bound"),
    ]
    long_text = json.dumps(
        {"entries": [{"idempotency_key": "B", "date": "2026-03-02", "postings": [
            {"account": "5000", "currency": "GBP", "amount": "9" * 400}]}]}
    ).encode()  # fmt: skip
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post_entry_file(conn, clerk, book, "long.json", long_text)
    assert [(p.field, p.check) for p in refused.value.problems] == [
        ("entries[0].postings[0].amount", "amount_bound")
    ]


@pytest.mark.parametrize(
    ("line", "field", "check"),
    [
        ("A,2026-03-02,Rent,5000,,GBP,1.00,,", "entry", None),
        ("A,2026-03-02,Re\x0bnt,5000,,GBP,1.00,,", "description", "control_character"),
        ("A,2026-03-02," + "d" * 501 + ",5000,,GBP,1.00,,", "description", "length"),
        ("A" * 65 + ",2026-03-02,Rent,5000,,GBP,1.00,,", "entry", "length"),
        ("A,2026-03-02,Rent,5000,,GBP,1.00,," + "m" * 201, "memo", "length"),
        ("A,1899-12-31,Rent,5000,,GBP,1.00,,", "date", "date_range"),
        ("A,2101-01-01,Rent,5000,,GBP,1.00,,", "date", "date_range"),
    ],
)
def test_entry_file_texts_and_dates_are_bounded_with_line_and_field(db, book, line, field, check):
    clerk = person("carla", book, Role.CLERK)
    data = (HEADER.replace("credit\n", "credit,memo\n") + line + "\n").encode()
    data += b"A,2026-03-02,Rent,1000,,GBP,,1.00,\n"
    try:
        with db.write() as conn:
            ledger.post_entry_file(conn, clerk, book, "rent.csv", data)
        found: list[tuple[Any, ...]] = []
    except ValidationFailed as refused:
        found = [(p.line, p.field, p.check) for p in refused.problems]
    assert found == ([] if check is None else [(2, field, check)])


@pytest.mark.parametrize(
    ("name", "data"), [("empty.csv", HEADER.encode()), ("empty.json", b'{"entries": []}')]
)
def test_a_file_without_entries_says_there_is_nothing_to_import(db, book, name, data):
    with pytest.raises(ValidationFailed, match="nothing to import"), db.write() as conn:
        ledger.post_entry_file(conn, person("carla", book, Role.CLERK), book, name, data)


# ---------------------------------------------------------------- property: at and over


near_bounds = st.one_of(
    st.integers(-2 * LIMIT, 2 * LIMIT),
    st.integers(LIMIT - 3, LIMIT + 3),
    st.integers(-LIMIT - 3, -LIMIT + 3),
    st.integers(LIMIT // 2 - 3, LIMIT // 2 + 3),
).filter(bool)


def test_the_rules_refuse_exactly_the_postings_and_entries_past_the_bounds():
    @settings(max_examples=300, deadline=None)
    @given(debits=st.lists(near_bounds, min_size=1, max_size=4))
    def check(debits):
        lines = [PostingDraft("5000", d, "GBP") for d in debits]
        lines.append(PostingDraft("1000", -sum(debits), "GBP"))
        checks = [p.check for p in rules.entry_problems(EntryDraft(DAY, "x", "k", tuple(lines)))]
        amounts = [p.amount_minor for p in lines]
        assert ("amount_bound" in checks) == any(abs(a) > LIMIT for a in amounts)
        assert ("entry_bound" in checks) == (sum(a for a in amounts if a > 0) > LIMIT)
        assert set(checks) <= {"amount_bound", "entry_bound", "zero_amount"}
        assert ("zero_amount" in checks) == (sum(debits) == 0)

    check()


def test_posting_at_and_over_the_bounds_on_the_store(db, book):
    clerk = person("carla", book, Role.CLERK)
    keys = iter(range(10**6))

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(amount=near_bounds)
    def check(amount):
        key = f"p{next(keys)}"
        draft = EntryDraft(
            DAY,
            "x",
            key,
            (PostingDraft("5000", amount, "GBP"), PostingDraft("1000", -amount, "GBP")),
        )
        try:
            with db.write() as conn:
                ledger.post(conn, clerk, book, draft)
            refused = []
        except ValidationFailed as error:
            refused = [p.check for p in error.problems]
        over = ["amount_bound", "amount_bound", "entry_bound"]
        assert refused == (over if abs(amount) > LIMIT else [])

    check()
    with db.read() as conn:
        assert ledger.trial_balance(conn, clerk, book).is_balanced()
        assert ledger.integrity_problems(conn) == []


# ---------------------------------------------------------------- a balance at its limit


def fill(db: Database, actor: Actor, book: int, debit: str, credit: str, total: int) -> None:
    """Post ``total`` from ``credit`` to ``debit`` in entries at the bound, on two days."""
    sizes = [LIMIT] * (total // LIMIT) + ([total % LIMIT] if total % LIMIT else [])
    drafts = [
        EntryDraft(
            date(2026, 3, 2 + n % 2),
            "fill",
            f"fill-{debit}-{n}",
            (PostingDraft(debit, size, "GBP"), PostingDraft(credit, -size, "GBP")),
        )
        for n, size in enumerate(sizes)
    ]
    with db.write() as conn:
        ledger.post_entries(conn, actor, book, drafts)


def one_more(debit: str, credit: str, key: str) -> EntryDraft:
    return EntryDraft(
        date(2026, 3, 4),
        "one more",
        key,
        (PostingDraft(debit, 1, "GBP"), PostingDraft(credit, -1, "GBP")),
    )


def test_a_balance_pushed_to_its_limit_stays_exact_and_refuses_one_more(db, book, system):
    fill(db, system, book, "5000", "1000", BALANCE_LIMIT_MINOR)
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post(conn, system, book, one_more("5000", "1000", "over"))
    assert [(p.check, p.message.split(" would")[0]) for p in refused.value.problems] == [
        ("balance_bound", "account 1000"),
        ("balance_bound", "account 5000"),
    ]
    with db.write() as conn:  # the other way, each account's turnover has room
        ledger.post(conn, system, book, one_more("1000", "5000", "back"))
    with db.read() as conn:
        found = {b.account_code: b.balance_minor for b in ledger.balances(conn, system, book)}
        tb = ledger.trial_balance(conn, system, book)
        problems = ledger.integrity_problems(conn)
        if not is_postgres(conn):
            kinds = conn.execute(
                text(
                    "SELECT DISTINCT typeof(debit_minor), typeof(credit_minor) "
                    "FROM account_daily_totals"
                )
            ).all()
            assert kinds == [("integer", "integer")]
        day_max = conn.execute(select(func.max(account_daily_totals.c.debit_minor))).scalar_one()
    assert found == {"1000": -BALANCE_LIMIT_MINOR + 1, "5000": BALANCE_LIMIT_MINOR - 1}
    assert tb.is_balanced() and tb.totals() == {
        "GBP": (BALANCE_LIMIT_MINOR - 1, BALANCE_LIMIT_MINOR - 1)
    }
    assert problems == []
    assert 0 < int(day_max) <= BALANCE_LIMIT_MINOR


def test_the_api_answers_a_balance_at_the_limit(demo_db):
    system = Actor.system("test")
    with demo_db.write() as conn:
        book = ledger.book_id_for(conn, "riverside")
        ledger.open_accounts(
            conn,
            system,
            book,
            [
                AccountSpec("7000", "Limit expense", AccountType.EXPENSE),
                AccountSpec("3900", "Limit reserve", AccountType.EQUITY),
            ],
        )
    fill(demo_db, system, book, "7000", "3900", BALANCE_LIMIT_MINOR)
    client = TestClient(create_app(demo_db))
    token = api_token(demo_db, list(tokens.SCOPES), "limits")
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.get("/api/v1/books/riverside/accounts", headers=headers)
    assert answer.status_code == 200, answer.text
    text_body = answer.text
    assert str(BALANCE_LIMIT_MINOR) in text_body and str(-BALANCE_LIMIT_MINOR) in text_body
    over = {
        "entry_date": "2026-03-04",
        "description": "one more",
        "postings": [
            {"account": "7000", "amount_minor": 1, "currency": "GBP"},
            {"account": "3900", "amount_minor": -1, "currency": "GBP"},
        ],
    }
    refused = client.post(
        "/api/v1/books/riverside/entries",
        json=over,
        headers={**headers, "Idempotency-Key": "one-more"},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {e["check"] for e in refused.json()["errors"]} == {"balance_bound"}


def test_a_400_digit_json_integer_to_the_api_is_a_problem(demo_db):
    client = TestClient(create_app(demo_db))
    token = api_token(demo_db, list(tokens.SCOPES), "huge")
    huge = "9" * 400
    body = (
        '{"entry_date": "2026-03-04", "description": "huge", "postings": ['
        f'{{"account": "5000", "amount_minor": {huge}, "currency": "GBP"}},'
        f'{{"account": "1000", "amount_minor": -{huge}, "currency": "GBP"}}]}}'
    )
    answer = client.post(
        "/api/v1/books/riverside/entries",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": "huge",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == [
        "postings.0.amount_minor",
        "postings.1.amount_minor",
    ]


@pytest.mark.parametrize(("what", "lines", "refusal"), CASES, ids=[c[0] for c in CASES])
def test_the_api_posts_up_to_the_bounds_and_refuses_past_them(demo_db, what, lines, refusal):
    client = TestClient(create_app(demo_db))
    token = api_token(demo_db, list(tokens.SCOPES), "bounds")
    before = stored_postings(demo_db)
    body = {
        "entry_date": DAY.isoformat(),
        "description": what,
        "postings": [{"account": c, "amount_minor": a, "currency": "GBP"} for c, a in lines],
    }
    answer = client.post(
        "/api/v1/books/riverside/entries",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "bounds"},
    )
    if refusal is None:
        assert answer.status_code == 201, answer.text
        assert stored_postings(demo_db) == before + len(lines)
        return
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    # The request model refuses a posting past the bound; the rules, an entry's debits.
    expected = {"amount_bound": "less_than_equal", "entry_bound": "entry_bound"}[refusal]
    assert expected in {e["check"] for e in answer.json()["errors"]}
    assert stored_postings(demo_db) == before


@pytest.mark.parametrize("file_id", [2**31, int("9" * 400)], ids=["2^31", "400 digits"])
def test_the_entry_file_job_refuses_an_id_past_the_column(db, book, file_id):
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        jobs.enqueue(conn, Actor.system("test"), book, "ledger.post_file", {"file_id": file_id})
    assert [(p.field, p.check) for p in refused.value.problems] == [
        ("params.file_id", "positive_id")
    ]


def test_two_writers_near_the_limit_on_postgresql_cannot_overshoot_together(db, book, system):
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    fill(db, system, book, "5000", "1000", BALANCE_LIMIT_MINOR - LIMIT)
    outcome: list[object] = []

    def second_writer() -> None:  # one more unit, on another day: no day row is shared
        try:
            with db.write() as conn:
                ledger.post(conn, system, book, one_more("5000", "1000", "second"))
            outcome.append("posted")
        except ValidationFailed as refused:
            outcome.extend(p.check for p in refused.problems)

    with db.write() as conn:
        last = EntryDraft(
            date(2026, 3, 5),
            "to the limit",
            "first",
            (PostingDraft("5000", LIMIT, "GBP"), PostingDraft("1000", -LIMIT, "GBP")),
        )
        ledger.post(conn, system, book, last)
        other = threading.Thread(target=second_writer)
        other.start()
        other.join(timeout=1)
        assert other.is_alive()  # waiting for the first writer's lock, not checking yet
    other.join(timeout=30)
    assert outcome == ["balance_bound", "balance_bound"]
    with db.read() as conn:
        [debits] = [b for b in ledger.balances(conn, system, book) if b.account_code == "5000"]
    assert debits.balance_minor == BALANCE_LIMIT_MINOR


def test_an_entry_file_with_an_unknown_party_says_its_other_problems_too(db, book, system):
    """Every problem at once: an unknown party, an unknown account and an imbalance in one
    file are reported together, not one kind per attempt."""
    content = (
        b"entry,date,description,account,party,currency,debit,credit\n"
        b"E1,2026-10-31,Care,9999,,GBP,12.50,\n"
        b"E1,2026-10-31,Care,1000,NOSUCH,GBP,,12.49\n"
    )
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        ledger.post_entry_file(conn, system, book, "three.csv", content)
    checks = {p.check for p in refused.value.problems}
    assert {"unknown_party", "unknown_account", "unbalanced"} <= checks, refused.value
