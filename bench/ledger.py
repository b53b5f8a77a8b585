"""The ledger benchmark: post a million postings through the public API, then read it back.

What is measured, on SQLite and on PostgreSQL (a durable throwaway server):

1. ``parties_s``: creating the control account's sub-ledger with ``create_parties`` (setup);
2. ``build_s``: building the ``EntryDraft`` objects (the caller's work, not the ledger's);
3. ``post_s``: the write transactions, each one ``post_entries`` call of ``batch`` entries
   and its commit (PostgreSQL checks the balance of every entry at commit, so the commit is
   part of posting). ``postings_per_s`` is measured over these only;
4. ``raw_s``: the ceiling, the same rows inserted into a plain table with the columns of
   ``postings`` but no trigger, index or foreign key, by the fastest plain method of the
   database (SQLite: one ``executemany`` of ISO-text dates in one transaction; PostgreSQL:
   binary ``COPY``, measured 2x faster than text ``COPY`` from Python);
5. ``balances_s``: every party's balance on the control account (``party_balances``);
6. ``trial_balance_s``: the trial balance of the whole book (``trial_balance``).

Entries have 2 to 10 lines, drawn from ``random.Random(seed)``, so a run is repeatable.
Lines on the control account take the parties in turn, so every party gets postings once
there are more control lines than parties.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from remit.access.model import Actor
from remit.db import Database, is_postgres
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType, EntryDraft, PostingDraft
from remit.ledger.store import accounts, journal_entries, postings
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties
from remit.testkit.postgres import TempCluster

OUT_DIR = Path(__file__).parent / "out"
DEFAULT_POSTINGS = 1_000_000
DEFAULT_PARTIES = 100_000
DEFAULT_SEED = 42
DEFAULT_BATCH = 20_000
MIN_POSTINGS = 2
ACTOR = Actor.system("bench")
CURRENCY = "GBP"
CONTROL = "1100"
CHART = (
    AccountSpec("1000", "Bank", AccountType.ASSET),
    AccountSpec(CONTROL, "Client receivables", AccountType.ASSET, True, PartyRole.CLIENT.value),
    AccountSpec("3000", "Reserves", AccountType.EQUITY),
    AccountSpec("4000", "Client contributions", AccountType.INCOME),
    AccountSpec("5000", "Care expense", AccountType.EXPENSE),
)
# Three lines in seven go to the control account, the rest to the ordinary accounts.
LINE_ACCOUNTS = (CONTROL, CONTROL, CONTROL, "1000", "3000", "4000", "5000")
TARGET_POSTINGS_PER_S = {"sqlite": 100_000, "postgresql": 50_000}
TARGET_TRIAL_BALANCE_S = 1.0
FIRST_DAY = date(2025, 1, 1)
RAW_TABLE = "bench_raw_postings"


@dataclass(frozen=True, slots=True)
class Size:
    postings: int = DEFAULT_POSTINGS
    parties: int = DEFAULT_PARTIES
    seed: int = DEFAULT_SEED
    batch: int = DEFAULT_BATCH


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run measured (seconds, counts and rates); written as JSON."""

    db: str
    postings: int
    entries: int
    parties: int
    batch: int
    seed: int
    parties_s: float
    build_s: float
    post_s: float
    post_calls_s: float
    raw_s: float
    balances_s: float
    trial_balance_s: float
    stored_postings: int
    stored_entries: int
    party_balances: int
    expected_party_balances: int
    control_total_minor: int
    trial_balance_balanced: bool
    trial_balance_control_minor: int

    @property
    def postings_per_s(self) -> float:
        return self.postings / self.post_s

    @property
    def raw_rows_per_s(self) -> float:
        return self.postings / self.raw_s

    @property
    def api_to_raw(self) -> float:
        return self.postings_per_s / self.raw_rows_per_s

    @property
    def posting_target(self) -> int:
        return TARGET_POSTINGS_PER_S[self.db]

    @property
    def posting_pass(self) -> bool:
        return self.postings_per_s >= self.posting_target

    @property
    def trial_balance_pass(self) -> bool:
        return self.trial_balance_s <= TARGET_TRIAL_BALANCE_S

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "postings_per_s": round(self.postings_per_s),
            "raw_rows_per_s": round(self.raw_rows_per_s),
            "api_to_raw": round(self.api_to_raw, 3),
            "target_postings_per_s": self.posting_target,
            "postings_target": verdict(self.posting_pass),
            "target_trial_balance_s": TARGET_TRIAL_BALANCE_S,
            "trial_balance_target": verdict(self.trial_balance_pass),
        }


# ---------------------------------------------------------------- the data


def new_parties(count: int) -> list[NewParty]:
    kinds = (PartyKind.ORGANISATION, PartyKind.PERSON)
    return [
        NewParty(f"C{n:07d}", f"Client {n}", kinds[n % 2], (PartyRole.CLIENT,))
        for n in range(1, count + 1)
    ]


def entry_size(rng: random.Random, remaining: int) -> int:
    """2 to 10 lines, never leaving a single posting over for the last entry."""
    size = min(rng.randint(2, 10), remaining)
    if remaining - size == 1:
        size = size - 1 if size > 2 else size + 1
    return size


def make_drafts(count: int, party_ids: Sequence[int], seed: int) -> list[EntryDraft]:
    """Balanced entries holding exactly ``count`` postings, the same for the same seed."""
    rng = random.Random(seed)
    choices = LINE_ACCOUNTS if party_ids else tuple(a for a in LINE_ACCOUNTS if a != CONTROL)
    drafts: list[EntryDraft] = []
    remaining, turn = count, 0
    while remaining:
        size = entry_size(rng, remaining)
        remaining -= size
        credits = rng.randint(1, size - 1)
        debits = [rng.randint(100, 1_000_000) for _ in range(size - credits)]
        total = sum(debits)
        cuts = sorted(rng.sample(range(1, total), credits - 1))
        amounts = debits + [a - b for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        lines = []
        for amount in amounts:
            account = rng.choice(choices)
            party = None
            if account == CONTROL:
                party, turn = party_ids[turn % len(party_ids)], turn + 1
            lines.append(PostingDraft(account, amount, CURRENCY, party))
        n = len(drafts)
        drafts.append(
            EntryDraft(
                FIRST_DAY + timedelta(days=rng.randrange(365)),
                f"bench entry {n}",
                f"bench-{seed}-{n}",
                tuple(lines),
                source_type="bench",
            )
        )
    return drafts


def expected_party_balances(drafts: Sequence[EntryDraft]) -> int:
    return len({p.party_id for d in drafts for p in d.postings if p.party_id is not None})


# ---------------------------------------------------------------- the stores


@contextmanager
def open_store(kind: str, workdir: Path | None = None, name: str = "ledger") -> Iterator[Database]:
    """A freshly migrated SQLite file (in ``workdir`` or a temp dir) or PostgreSQL database
    (in a durable throwaway server), named after the benchmark; every benchmark's store."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"remit-bench-{name}-", dir=workdir))
        database = Database(f"sqlite:///{folder / f'{name}.db'}")
        try:
            database.migrate()
            yield database
        finally:
            database.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    with TempCluster(durable=True) as cluster:
        database = Database(cluster.create_database(f"bench_{name}"))
        try:
            database.migrate()
            yield database
        finally:
            database.dispose()


# ---------------------------------------------------------------- the benchmark


def run(kind: str, size: Size, workdir: Path | None = None) -> Figures:
    """Run the whole benchmark on a fresh store of the given kind."""
    with open_store(kind, workdir) as database:
        return bench(database, kind, size)


def bench(database: Database, kind: str, size: Size) -> Figures:
    with database.write() as conn:
        book_id = ledger.create_book(conn, ACTOR, "bench", "Benchmark book", CURRENCY)
        ledger.open_accounts(conn, ACTOR, book_id, CHART)
    started = time.perf_counter()
    with database.write() as conn:
        party_ids = create_parties(conn, ACTOR, book_id, new_parties(size.parties))
    parties_s = time.perf_counter() - started

    started = time.perf_counter()
    drafts = make_drafts(size.postings, party_ids, size.seed)
    build_s = time.perf_counter() - started

    post_s, calls_s = post_all(database, book_id, drafts, size.batch)
    raw_s = raw_insert(database, book_id, drafts)

    with database.read() as conn:
        started = time.perf_counter()
        by_party = ledger.party_balances(conn, ACTOR, book_id, CONTROL)
        balances_s = time.perf_counter() - started
        started = time.perf_counter()
        trial = ledger.trial_balance(conn, ACTOR, book_id)
        trial_balance_s = time.perf_counter() - started
        # The store holds this one book only, so every row is the benchmark's.
        stored_postings = conn.execute(select(func.count()).select_from(postings)).scalar_one()
        stored_entries = conn.execute(
            select(func.count()).select_from(journal_entries)
        ).scalar_one()
    return Figures(
        db=kind,
        postings=size.postings,
        entries=len(drafts),
        parties=size.parties,
        batch=size.batch,
        seed=size.seed,
        parties_s=parties_s,
        build_s=build_s,
        post_s=post_s,
        post_calls_s=calls_s,
        raw_s=raw_s,
        balances_s=balances_s,
        trial_balance_s=trial_balance_s,
        stored_postings=int(stored_postings),
        stored_entries=int(stored_entries),
        party_balances=len(by_party),
        expected_party_balances=expected_party_balances(drafts),
        control_total_minor=sum(by_party.values()),
        trial_balance_balanced=trial.is_balanced(),
        trial_balance_control_minor=sum(
            r.balance_minor for r in trial.rows if r.account_code == CONTROL
        ),
    )


def post_all(
    database: Database, book_id: int, drafts: Sequence[EntryDraft], batch: int
) -> tuple[float, float]:
    """Post the drafts in batches, one transaction each; (transactions_s, calls_only_s)."""
    post_s = calls_s = 0.0
    for start in range(0, len(drafts), batch):
        chunk = drafts[start : start + batch]
        began = time.perf_counter()
        with database.write() as conn:
            called = time.perf_counter()
            ledger.post_entries(conn, ACTOR, book_id, chunk)
            calls_s += time.perf_counter() - called
        post_s += time.perf_counter() - began
    return post_s, calls_s


def raw_columns(conn: Connection) -> list[tuple[str, str]]:
    """``postings``' columns and their types in this dialect; ``id`` (if any) left out."""
    return [
        (c.name, c.type.compile(dialect=conn.dialect)) for c in postings.columns if c.name != "id"
    ]


def pg_type_name(sql_type: str) -> str:
    """The name psycopg knows a column type by, for a binary COPY: ``VARCHAR(3)`` -> varchar."""
    base = sql_type.partition("(")[0].strip().lower()
    return {"bigint": "int8", "integer": "int4", "smallint": "int2"}.get(base, base)


def raw_rows(
    conn: Connection, book_id: int, drafts: Sequence[EntryDraft], names: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The rows ``post_entries`` writes to ``postings``, for the raw insert.

    SQLite keeps a date as ISO text; handing it the text (not a ``date`` for its Python
    adapter to convert) is the fastest plain way, and stores the same value.
    """
    ids = {
        r.code: int(r.id)
        for r in conn.execute(
            select(accounts.c.code, accounts.c.id).where(accounts.c.book_id == book_id)
        )
    }
    as_text = not is_postgres(conn)
    rows = []
    for entry_id, d in enumerate(drafts, start=1):
        day = d.entry_date.isoformat() if as_text else d.entry_date
        for line_no, p in enumerate(d.postings, start=1):
            values = {
                "entry_id": entry_id,
                "line_no": line_no,
                "entry_lines": len(d.postings),
                "book_id": book_id,
                "account_id": ids[p.account],
                "party_id": p.party_id,
                "currency": p.currency,
                "amount_minor": p.amount_minor,
                "entry_date": day,
                "memo": p.memo,
            }
            rows.append(tuple(values[name] for name in names))
    return rows


def raw_insert(database: Database, book_id: int, drafts: Sequence[EntryDraft]) -> float:
    """Seconds to insert the same rows into a plain table (the database's ceiling).

    The table has the columns of ``postings`` and nothing else: no key, index, constraint,
    foreign key or trigger.
    """
    with database.write() as conn:
        columns = raw_columns(conn)
        names = [name for name, _ in columns]
        conn.exec_driver_sql(
            f"CREATE TABLE {RAW_TABLE} ({', '.join(f'{n} {t}' for n, t in columns)})"
        )
        rows = raw_rows(conn, book_id, drafts, names)
    listed = ", ".join(names)
    began = time.perf_counter()
    with database.write() as conn:
        driver = conn.connection.driver_connection
        if is_postgres(conn):
            with (
                driver.cursor() as cursor,
                cursor.copy(  # type: ignore[union-attr]
                    f"COPY {RAW_TABLE} ({listed}) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types([pg_type_name(t) for _, t in columns])
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in names)
            driver.executemany(  # type: ignore[union-attr]
                f"INSERT INTO {RAW_TABLE} ({listed}) VALUES ({marks})", rows
            )
    raw_s = time.perf_counter() - began
    with database.write() as conn:
        conn.exec_driver_sql(f"DROP TABLE {RAW_TABLE}")
    return raw_s


# ---------------------------------------------------------------- the report


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(f: Figures) -> str:
    """A table of one run's figures, targets beside them."""
    rows = [
        (f"create {f.parties:,} parties (setup, create_parties)", f.parties_s, "", ""),
        (f"build {f.entries:,} drafts (caller's work)", f.build_s, "", ""),
        (
            f"post {f.postings:,} postings (post_entries + commit)",
            f.post_s,
            f"{f.postings_per_s:,.0f} postings/s",
            f">= {f.posting_target:,}/s  {verdict(f.posting_pass)}",
        ),
        ("  of which inside post_entries", f.post_calls_s, "", ""),
        (
            f"raw insert, {raw_method(f.db)} (ceiling)",
            f.raw_s,
            f"{f.raw_rows_per_s:,.0f} rows/s",
            f"api/raw {f.api_to_raw:.2f}",
        ),
        (f"balances of {f.party_balances:,} parties on {CONTROL}", f.balances_s, "", ""),
        (
            f"trial balance over {f.stored_postings:,} postings",
            f.trial_balance_s,
            "",
            f"<= {TARGET_TRIAL_BALANCE_S:g} s  {verdict(f.trial_balance_pass)}",
        ),
    ]
    lines = [
        f"ledger benchmark on {f.db}: {f.postings:,} postings in {f.entries:,} entries, "
        f"{f.parties:,} parties, {f.batch:,} entries per call, seed {f.seed}",
        f"  {'step':<52} {'seconds':>8}  {'rate':<22} target",
    ]
    lines += [
        f"  {name:<52} {secs:>8.3f}  {rate:<22} {target}".rstrip()
        for name, secs, rate, target in rows
    ]
    lines.append(
        f"  check: trial balance {'is' if f.trial_balance_balanced else 'is NOT'}"
        f" balanced; stored {f.stored_postings:,} postings, {f.stored_entries:,} "
        f"entries; {f.party_balances:,} party balances "
        f"(expected {f.expected_party_balances:,})"
    )
    return "\n".join(lines)


def raw_method(kind: str) -> str:
    return "binary COPY" if kind == "postgresql" else "executemany"


def summary(results: Sequence[Figures]) -> str:
    head = (
        f"{'db':<11} {'postings/s':>11} {'raw rows/s':>11} {'api/raw':>7} {'target':>8} "
        f"{'':4} {'balances s':>10} {'TB s':>6} {'TB<=1s':>6}"
    )
    lines = ["summary", head]
    lines += [
        f"{f.db:<11} {f.postings_per_s:>11,.0f} {f.raw_rows_per_s:>11,.0f} "
        f"{f.api_to_raw:>7.2f} {f.posting_target:>8,} {verdict(f.posting_pass):4} "
        f"{f.balances_s:>10.3f} {f.trial_balance_s:>6.3f} "
        f"{verdict(f.trial_balance_pass):>6}"
        for f in results
    ]
    return "\n".join(lines)


def write_json(figures: Figures, out_dir: Path = OUT_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"ledger-{figures.db}.json"
    path.write_text(json.dumps(figures.as_json(), indent=2) + "\n")
    return path
