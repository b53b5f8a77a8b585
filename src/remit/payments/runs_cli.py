"""``remit payments run prepare|list|show|approve|release|download|sent|settle|return|cancel``
and ``remit payments approval-limit``: payment runs from the command line, through
``remit.payments.runs`` (every rule - four eyes, limits, versions - lives there).

Each step that changes a run takes the run's version as the command reads it just before
(``show`` prints it), so a command never acts on a run someone else changed meanwhile
without saying so: ``--version`` may be given to insist on the run as last seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from remit.calendar import locale_of
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.config import vault as load_vault
from remit.errors import Problem, ValidationFailed
from remit.formats import offline
from remit.ledger import service as ledger_service
from remit.money import Money, format_money, parse_money
from remit.parties import service as parties_service
from remit.payments import runs
from remit.payments.model import PaymentRun

run_app = typer.Typer(
    help="Payment runs: prepare, approve (someone else), release, download, settle.",
    no_args_is_help=True,
)
RUN_ARGUMENT = typer.Argument(..., help="The run's number.", min=1)
VERSION_OPTION = typer.Option(
    None, "--version", help="Act only if the run is still at this version (see `show`)."
)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _locale(conn: Any, book_id: int) -> str:
    return locale_of(str(ledger_service.get_book(conn, book_id)["base_currency"]))


def _money(minor: int, currency: str, locale: str) -> str:
    return format_money(Money(minor, currency), locale)


def _summary(run: PaymentRun, locale: str) -> str:
    others = f" (+ {', '.join(run.other_currencies)})" if run.other_currencies else ""
    second = " - waits for a second approver" if run.needs_second else ""
    return (
        f"run {run.id} v{run.version}: {run.status.value}{second}, pay date "
        f"{run.pay_date.isoformat()}, {run.payment_count:,} payment(s) of {run.item_count:,} "
        f"item(s), {_money(run.total_minor, run.currency, locale)}{others}"
    )


def _version(conn: Any, actor: Any, book_id: int, run_id: int, given: int | None) -> int:
    return given if given is not None else runs.get_run(conn, actor, book_id, run_id).version


def _run_json(run: PaymentRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status.value,
        "version": run.version,
        "pay_date": run.pay_date.isoformat(),
        "currency": run.currency,
        "total_minor": run.total_minor,
        "other_currencies": list(run.other_currencies),
        "payments": run.payment_count,
        "items": run.item_count,
        "prepared_by": run.prepared_by,
        "approved_by": run.approved_by,
        "second_approved_by": run.second_approved_by,
        "released_by": run.released_by,
        "needs_second_approver": run.needs_second,
        "prepared_for": prepared_for(run),
    }


def prepared_for(run: PaymentRun) -> dict[str, list[str]]:
    """The filters a run was prepared with (an empty list: every one)."""
    return {
        "accounts": list(run.accounts),
        "methods": list(run.methods),
        "cost_centres": list(run.cost_centres),
        "areas": list(run.areas),
    }


@run_app.command("prepare")
@user_errors
def prepare_command(
    pay_date: str = typer.Option(..., "--pay-date", help="YYYY-MM-DD: items due by then."),
    account: list[str] = typer.Option(["2000"], "--account", help="Payables control account."),
    method: list[str] = typer.Option([], "--method", help="nacha | bacs18 | pain.001 ..."),
    provider: list[str] = typer.Option([], "--provider", help="Only these parties (refs)."),
    cost_centre: list[str] = typer.Option(
        [], "--cost-centre", help="Only items of these cost centres."
    ),
    area: list[str] = typer.Option(
        [], "--area", help="Only items from these areas of the book (care_run, ...)."
    ),
    note: str = typer.Option("", "--note", help="Why this run (up to 500 characters)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Prepare a run of the open payable items due by the pay date (four eyes follow)."""
    day = offline.parse_date(pay_date, "--pay-date")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        party_ids = (
            {parties_service.party_id_for(conn, book_id, ref) for ref in provider}
            if provider
            else None
        )
        done = runs.prepare_run(
            conn,
            actor,
            book_id,
            day,
            accounts_codes=account,
            methods=set(method) or None,
            party_ids=party_ids,
            cost_centres=set(cost_centre) or None,
            areas=set(area) or None,
            note=note,
        )
        locale = _locale(conn, book_id)
    _say(f"prepared {_summary(done.run, locale)}")
    if done.excluded.height:
        _say(f"{done.excluded.height:,} item(s) left out (see `remit payments preview`)")
    if done.held_elsewhere:
        _say(f"{done.held_elsewhere:,} item(s) are held by other runs")


@run_app.command("list")
@user_errors
def list_command(
    status: str | None = typer.Option(None, "--status", help="prepared | approved | released ..."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """The book's payment runs, newest first."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        found = runs.list_runs(conn, actor, book_id, status=status)
        locale = _locale(conn, book_id)
    if not found:
        _say("no payment runs")
    for run in found:
        _say(_summary(run, locale))


@run_app.command("show")
@user_errors
def show_command(
    run_id: int = RUN_ARGUMENT,
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A run: its state, totals by method and currency, files and first payments."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        run = runs.get_run(conn, actor, book_id, run_id)
        totals = runs.run_totals(conn, actor, book_id, run_id)
        files = runs.list_files(conn, actor, book_id, run_id)
        payments = runs.list_payments(conn, actor, book_id, run_id, limit=20)
        names = parties_service.party_names(conn, book_id, [p.party_id for p in payments])
        locale = _locale(conn, book_id)
    if as_json:
        shown = _run_json(run) | {
            "totals": totals,
            "files": [
                {
                    "id": f.id,
                    "filename": f.filename,
                    "format": f.format,
                    "value_date": f.value_date.isoformat(),
                    "payments": f.payment_count,
                    "total_minor": f.total_minor,
                    "sha256": f.sha256,
                }
                for f in files
            ],
        }
        print(json.dumps(shown, indent=2))
        return
    _say(_summary(run, locale))
    _say(f"  prepared by {run.prepared_by}; approved by {run.approved_by or '-'}")
    filters = [f"{k.replace('_', ' ')} {', '.join(v)}" for k, v in prepared_for(run).items() if v]
    _say(f"  prepared for: {'; '.join(filters)}")
    if run.second_approved_by:
        _say(f"  second approval by {run.second_approved_by}")
    if run.released_by:
        _say(f"  released by {run.released_by} at {run.released_at}")
    for t in totals:
        amount = _money(t["amount_minor"], t["currency"], locale)
        _say(f"  {t['method']} {t['currency']} {t['status']}: {t['payments']:,}, {amount}")
    for f in files:
        _say(f"  file {f.id} {f.filename}: value date {f.value_date.isoformat()}")
    for p in payments:
        ref, name = names.get(p.party_id, ("?", "?"))
        amount = _money(p.amount_minor, p.currency, locale)
        _say(f"  {p.reference} {ref} {name}: {amount} {p.method} {p.status.value}")
    if run.payment_count > len(payments):
        _say(f"  ... and {run.payment_count - len(payments):,} more")


def _step(
    run_id: int,
    version: int | None,
    book: str | None,
    as_user: str | None,
    act: Callable[..., PaymentRun],
    said: str,
) -> None:
    """One state change of a run at the version given (or as read now), then its summary."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = _version(conn, actor, book_id, run_id, version)
        run = act(conn, actor, book_id, run_id, version=seen)
        locale = _locale(conn, book_id)
    _say(f"{said.format(user=actor.username)}: {_summary(run, locale)}")


@run_app.command("approve")
@user_errors
def approve_command(
    run_id: int = RUN_ARGUMENT,
    version: int | None = VERSION_OPTION,
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Approve a run someone else prepared (above your limit, a second approver follows)."""
    _step(run_id, version, book, as_user, runs.approve_run, "approved by {user}")


@run_app.command("release")
@user_errors
def release_command(
    run_id: int = RUN_ARGUMENT,
    version: int | None = VERSION_OPTION,
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Release an approved run: its bank files are fixed and its payments posted."""
    vault = load_vault()
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = _version(conn, actor, book_id, run_id, version)
        run = runs.release_run(conn, actor, vault, book_id, run_id, version=seen)
        files = runs.list_files(conn, actor, book_id, run_id)
        locale = _locale(conn, book_id)
    _say(f"released: {_summary(run, locale)}")
    for f in files:
        _say(f"  file {f.id} {f.filename} ({f.payment_count:,} payment(s))")


@run_app.command("download")
@user_errors
def download_command(
    run_id: int = RUN_ARGUMENT,
    out: Path = typer.Option(..., "--out", help="The folder to write the run's bank files to."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Write a released run's bank files (the same bytes every time) into a folder."""
    if not out.is_dir():
        raise ValidationFailed([Problem("--out", f"the folder {out} does not exist", "folder")])
    vault = load_vault()
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    written = []
    with database.write() as conn:  # each download is audited
        for f in runs.list_files(conn, actor, book_id, run_id):
            found, data = runs.file_bytes(conn, actor, vault, book_id, run_id, f.id)
            written.append((out / found.filename, data, found.sha256))
    if not written:
        raise ValidationFailed(
            [Problem("run", f"payment run {run_id} has no files: release it first", "status")]
        )
    for path, data, digest in written:
        path.write_bytes(data)
        _say(f"wrote {path} (sha256 {digest[:16]}...)")


@run_app.command("sent")
@user_errors
def sent_command(
    run_id: int = RUN_ARGUMENT,
    version: int | None = VERSION_OPTION,
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Record that a released run's files went to the bank."""
    _step(run_id, version, book, as_user, runs.mark_sent, "sent")


@run_app.command("settle")
@user_errors
def settle_command(
    run_id: int = RUN_ARGUMENT,
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD: the day the bank paid."),
    payment: list[str] = typer.Option([], "--payment", help="Only these payments (R<run>-n)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Record that the bank paid a run's payments (all in transit, or those named)."""
    day = offline.parse_date(on, "--on")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        ids = [runs.payment_by_reference(conn, actor, book_id, ref).id for ref in payment]
        count = runs.settle_payments(
            conn, actor, book_id, run_id, settled_on=day, payment_ids=ids or None
        )
        run = runs.get_run(conn, actor, book_id, run_id)
    _say(f"settled {count:,} payment(s) of run {run_id}; the run is {run.status.value}")


@run_app.command("return")
@user_errors
def return_command(
    reference: str = typer.Argument(..., help="The payment's reference (R<run>-n)."),
    code: str = typer.Option(..., "--code", help="The bank's reason code (R01, ARUCS 0 ...)."),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD: the day it came back."),
    detail: str = typer.Option("", "--detail", help="What the bank said."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Record a returned payment: its items are open again for another run."""
    day = offline.parse_date(on, "--on")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        found = runs.payment_by_reference(conn, actor, book_id, reference)
        done = runs.return_payment(
            conn, actor, book_id, found.id, code=code, detail=detail, returned_on=day
        )
    _say(f"payment {done.reference} returned ({done.return_code}): its items are open again")


@run_app.command("cancel")
@user_errors
def cancel_command(
    run_id: int = RUN_ARGUMENT,
    reason: str = typer.Option(..., "--reason", help="Why the run is cancelled."),
    version: int | None = VERSION_OPTION,
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Cancel a run before release; its items are free for another run."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = _version(conn, actor, book_id, run_id, version)
        run = runs.cancel_run(conn, actor, book_id, run_id, version=seen, reason=reason)
    _say(f"run {run.id} cancelled")


@user_errors
def approval_limit_command(
    username: str = typer.Argument(..., help="The approver's user name."),
    limit: str = typer.Option(..., "--limit", help="In the book's currency, e.g. 25000.00."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Set what an approver may approve alone in the book; above it a second approver."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        currency = str(ledger_service.get_book(conn, book_id)["base_currency"])
        try:
            amount = parse_money(limit.strip(), currency)
        except ValidationFailed as exc:
            raise ValidationFailed(
                [Problem("--limit", p.message, p.check) for p in exc.problems]
            ) from None
        runs.set_approval_limit(conn, actor, book_id, username, amount.amount_minor)
        locale = _locale(conn, book_id)
    _say(f"{username} may approve runs up to {_money(amount.amount_minor, currency, locale)} alone")


from remit.payments.remittance_cli import remit_command  # noqa: E402 - after run_app

run_app.command("remit")(remit_command)
from remit.payments.cheques_cli import cheques_command  # noqa: E402 - after run_app

run_app.command("cheques")(cheques_command)
