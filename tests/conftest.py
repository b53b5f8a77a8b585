"""Fixtures: a real SQLite file and a real PostgreSQL server, both migrated.

The ``db`` fixture runs a test once on each store. PostgreSQL is started by the test setup
(as the ``postgres`` user when we are root) unless ``REMIT_TEST_PG_URL`` names a server.
Under CI (``CI`` set) PostgreSQL tests never skip: a server that will not start fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from remit import composition
from remit.access.model import Actor, Role
from remit.db import Database, make_engine, migrate
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType
from remit.testkit.postgres import ClusterUnavailable, TempCluster

IN_CI = bool(os.environ.get("CI"))
composition.register_all()  # as every interface does before it serves
TEMPLATE = "remit_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster | None]:
    if os.environ.get("REMIT_TEST_PG_URL"):
        yield None
        return
    try:
        cluster = TempCluster().start()
    except ClusterUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL must run in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        engine = make_engine(cluster.create_database(TEMPLATE))
        migrate(engine)
        engine.dispose()
        yield cluster
    finally:
        cluster.stop()


def _pg_database(cluster: TempCluster | None) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    if cluster is not None:
        return cluster.create_database(name, template=TEMPLATE)
    base = os.environ["REMIT_TEST_PG_URL"]
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.rsplit("/", 1)[0] + f"/{name}"
    migrate(make_engine(url))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated store: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "remit.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(_pg_database(request.getfixturevalue("pg_cluster")))
    yield database
    database.dispose()


@pytest.fixture
def system() -> Actor:
    return Actor.system("test-setup")


@pytest.fixture
def book(db: Database, system: Actor) -> int:
    """A book with a small chart of accounts: bank, provider payables (control), care expense,
    client receivables (control), contributions income, equity."""
    return make_book(db, system)


def make_book(db: Database, system: Actor, code: str = "test") -> int:
    """The ``book`` fixture's book, under any code (a test that needs two of them)."""
    with db.write() as conn:
        book_id = ledger.create_book(conn, system, code, "Test council", "GBP", "Europe/London")
        ledger.open_accounts(
            conn,
            system,
            book_id,
            [
                AccountSpec("1000", "Bank", AccountType.ASSET),
                AccountSpec("1100", "Client receivables", AccountType.ASSET, True, "client"),
                AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
                AccountSpec("3000", "Reserves", AccountType.EQUITY),
                AccountSpec("4000", "Client contributions", AccountType.INCOME),
                AccountSpec("5000", "Care expense", AccountType.EXPENSE),
                AccountSpec("1200", "Euro account", AccountType.ASSET, currency="EUR"),
            ],
        )
    return book_id


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small demo organisation in a SQLite file (seed 7), made once per test worker."""
    from remit.testkit.web import seed_demo  # noqa: PLC0415

    path = tmp_path_factory.mktemp("demo") / "remit.db"
    return path, seed_demo(path)


@pytest.fixture
def demo_db(
    demo_template: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """A private copy of the demo book, with its key in the environment."""
    path, key = demo_template
    copy = tmp_path / "remit.db"
    shutil.copy(path, copy)
    monkeypatch.setenv("REMIT_SECRET_KEY", key)
    database = Database(f"sqlite:///{copy}")
    yield database
    database.dispose()


@pytest.fixture
def council(db: Database, book: int, system: Actor) -> dict[str, Any]:
    """The council's week of home care in the ``book`` (see ``make_council``)."""
    return make_council(db, book, system)


def make_council(db: Database, book: int, system: Actor) -> dict[str, Any]:
    """A council's week of home care: clients C1 (Ada) and C2 (Alan), providers P1
    (Sunrise) and P2 (Oakfield); Ada's package has a visit at 09:00 every day and a two-carer
    visit at 13:00 on weekdays, at 18.50 an hour until 2 November 2026 and 19.00 from then;
    Alan's has 45 minutes at 10:00 on Mondays at 21.10."""
    from remit.care import service as care  # noqa: PLC0415
    from remit.care.service import NewPackage, Slot  # noqa: PLC0415
    from remit.parties.model import PartyKind, PartyRole  # noqa: PLC0415
    from remit.parties.service import NewParty, create_parties  # noqa: PLC0415

    with db.write() as conn:
        c1, c2, p1, p2 = create_parties(
            conn,
            system,
            book,
            [
                NewParty("C1", "Ada Lovelace", PartyKind.PERSON, (PartyRole.CLIENT,)),
                NewParty("C2", "Alan Turing", PartyKind.PERSON, (PartyRole.CLIENT,)),
                NewParty("P1", "Sunrise Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
                NewParty("P2", "Oakfield Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
            ],
        )
    clerk = Actor("carla", roles={book: frozenset({Role.CLERK})})
    manager = Actor("mona", roles={book: frozenset({Role.MANAGER})})
    with db.write() as conn:
        # Ada: 09:00 for 30 minutes every day; 13:00 with two carers on weekdays.
        care.create_package(
            conn,
            clerk,
            book,
            NewPackage(
                "PKG-ADA",
                c1,
                p1,
                "HC",
                date(2026, 10, 1),
                None,
                tuple(Slot(d, 9 * 60, 30) for d in range(7))
                + tuple(Slot(d, 13 * 60, 30, carers=2) for d in range(5)),
                ((date(2026, 4, 1), "18.50", "GBP"), (date(2026, 11, 2), "19.00", "GBP")),
            ),
        )
        # Alan: 10:00 for 45 minutes on Mondays, from Oakfield.
        care.create_package(
            conn,
            clerk,
            book,
            NewPackage(
                "PKG-ALAN",
                c2,
                p2,
                "HC",
                date(2026, 10, 1),
                None,
                (Slot(0, 10 * 60, 45),),
                ((date(2026, 4, 1), "21.10", "GBP"),),
            ),
        )
    return {"clerk": clerk, "manager": manager, "p1": p1, "p2": p2, "c1": c1}


@pytest.fixture
def council_books() -> Any:
    """A maker of fresh council books, ``make(db, code) -> (book_id, council)``, for a test
    that needs a book per example."""

    def make(db: Database, code: str) -> tuple[int, dict[str, Any]]:
        book_id = make_book(db, Actor.system("test-setup"), code)
        return book_id, make_council(db, book_id, Actor.system("test-setup"))

    return make
