"""``remit ledger ...`` and ``remit audit ...``: the ledger from the command line."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from remit import audit
from remit.calendar import book_locale
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    fail,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.ledger import service as ledger
from remit.ledger.model import TrialBalance
from remit.money import Money
from remit.reports.tables import Column, Kind, table_csv

ledger_app = typer.Typer(help="Post entries, read balances, close periods.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Check the audit trail and the ledger's integrity.", no_args_is_help=True
)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r} is not a date (YYYY-MM-DD)")


@ledger_app.command("trial-balance")
@user_errors
def trial_balance(
    book: str | None = BOOK_OPTION,
    as_of: str | None = typer.Option(None, help="Up to this date (YYYY-MM-DD)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    as_user: str | None = AS_OPTION,
) -> None:
    """Each account's balance in the debit or credit column, per currency, with totals."""
    if fmt not in ("table", "csv", "json"):
        fail("--format is table, csv or json")
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    with database.read() as conn:
        tb = ledger.trial_balance(conn, actor, book_id, _parse_date(as_of))
    {"table": _print_table, "csv": _print_csv, "json": _print_json}[fmt](tb)


def _print_table(tb: TrialBalance) -> None:
    title = f"Trial balance of {tb.book_code}" + (f" as of {tb.as_of}" if tb.as_of else "")
    table = Table(title=title)
    for name, justify in (
        ("Account", "left"),
        ("Name", "left"),
        ("Currency", "left"),
        ("Debit", "right"),
        ("Credit", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in tb.rows:
        table.add_row(
            row.account_code,
            row.account_name,
            row.currency,
            _amount(row.debit_minor, row.currency),
            _amount(row.credit_minor, row.currency),
        )
    for currency, (debit, credit) in sorted(tb.totals().items()):
        table.add_row(
            "",
            "[bold]Total[/]",
            currency,
            f"[bold]{_amount(debit, currency)}[/]",
            f"[bold]{_amount(credit, currency)}[/]",
        )
    console.print(table)
    console.print("[green]balanced[/]" if tb.is_balanced() else "[bold red]NOT BALANCED[/]")


def _amount(minor: int, currency: str) -> str:
    return "" if minor == 0 else f"{Money(minor, currency).to_decimal():,}"


CSV_COLUMNS = (
    Column("account", "account", Kind.TEXT),
    Column("name", "name", Kind.TEXT),
    Column("type", "type", Kind.LABEL),
    Column("currency", "currency", Kind.LABEL),
    Column("debit_minor", "debit_minor", Kind.INT),
    Column("credit_minor", "credit_minor", Kind.INT),
)


def _row_values(tb: TrialBalance) -> list[dict[str, object]]:
    """The rows of the trial balance as the CSV and JSON forms name them."""
    return [
        {
            "account": r.account_code,
            "name": r.account_name,
            "type": r.account_type.value,
            "currency": r.currency,
            "debit_minor": r.debit_minor,
            "credit_minor": r.credit_minor,
        }
        for r in tb.rows
    ]


def _print_csv(tb: TrialBalance) -> None:
    sys.stdout.write(table_csv(CSV_COLUMNS, _row_values(tb)).decode("utf-8"))


def _print_json(tb: TrialBalance) -> None:
    doc = {
        "book": tb.book_code,
        "as_of": tb.as_of.isoformat() if tb.as_of else None,
        "balanced": tb.is_balanced(),
        "rows": _row_values(tb),
        "totals": {c: {"debit_minor": d, "credit_minor": k} for c, (d, k) in tb.totals().items()},
    }
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@ledger_app.command("post")
@user_errors
def post_file(
    file: Path = typer.Argument(..., help="Entries as CSV or JSON (see docs)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Post the entries of a CSV or JSON file: all of them, or none if any is wrong."""
    if not file.is_file():
        fail(f"no such file: {file}")
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    with database.write() as conn:
        results = ledger.post_entry_file(conn, actor, book_id, file.name, file.read_bytes())
    fresh = sum(not r.replayed for r in results)
    console.print(
        f"posted {fresh} entr{'y' if fresh == 1 else 'ies'}; "
        f"{len(results) - fresh} already posted (replays, nothing posted twice)"
    )


@ledger_app.command("book-details")
@user_errors
def book_details(
    address: str | None = typer.Option(
        None, help='Postal address, lines separated by "\\n" or newlines ("" clears it).'
    ),
    vat_number: str | None = typer.Option(None, help='VAT registration number ("" clears it).'),
    locale: str | None = typer.Option(
        None, help="Locale of the book's dates (manager): en-GB, en-US, es-US or es-ES."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Show, or set (admin, audited), the book's address and VAT number for its documents,
    and (manager) the locale of its dates."""
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    with database.write() as conn:
        if locale is not None:
            found = ledger.set_book_locale(conn, actor, book_id, locale)
        if address is None and vat_number is None:
            ledger.require_read(actor, book_id)
            found = ledger.get_book(conn, book_id)
        else:
            lines = None if address is None else address.replace("\\n", "\n")
            found = ledger.set_book_details(
                conn, actor, book_id, address=lines, vat_number=vat_number
            )
    console.print(f"{found['name']} ({found['code']})")
    console.print("address: " + (found["address"] or "not set").replace("\n", ", "))
    console.print("VAT number: " + (found["vat_number"] or "not set"))
    console.print("locale of dates: " + book_locale(found).replace("_", "-"))


@ledger_app.command("close-period")
@user_errors
def close_period(
    month: str = typer.Argument(..., help="YYYY-MM"),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Close a month: it takes no more postings."""
    year, mon = _month(month)
    database = open_database()
    actor = resolve_actor(database, as_user)
    with database.write() as conn:
        ledger.close_period(conn, actor, resolve_book(database, book), year, mon)
    console.print(f"closed {month}")


@ledger_app.command("reopen-period")
@user_errors
def reopen_period(
    month: str = typer.Argument(..., help="YYYY-MM"),
    reason: str = typer.Option(..., help="Why it must reopen (audited)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Reopen a closed month (manager role, audited)."""
    year, mon = _month(month)
    database = open_database()
    actor = resolve_actor(database, as_user)
    with database.write() as conn:
        ledger.reopen_period(conn, actor, resolve_book(database, book), year, mon, reason)
    console.print(f"reopened {month}")


def _month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in text.split("-"))
        date(year, month, 1)
    except ValueError:
        fail(f"{text!r} is not a month (YYYY-MM)")
    return year, month


@audit_app.command("verify")
@user_errors
def verify() -> None:
    """Recompute the audit chain and check the ledger; exit 1 on any fault."""
    database = open_database()
    with database.read() as conn:
        report = audit.verify(conn)
        ledger_faults = ledger.integrity_problems(conn)
    for fault in report.faults:
        console.print(f"[bold red]audit[/] {fault}", highlight=False)
    for problem in ledger_faults:
        console.print(f"[bold red]ledger[/] {problem}", highlight=False)
    if report.ok and not ledger_faults:
        console.print(f"[green]ok[/]: {report.events} audit events chained; ledger balanced")
        return
    raise typer.Exit(1)
