"""``remit payments file`` (a bank file from CSV and TOML, no store) and ``remit check FILE``;
``remit payments house-account add|list`` and ``block|unblock`` (the book's bank accounts and
payment blocks, through their services).

``file`` and ``check`` run offline: neither opens the database. ``payments file`` checks every input
first and writes nothing on any problem (exit 2); the bank file and the remittance CSV are
written to temporary files beside their targets and renamed only once both are complete and
the file passes the format's own check. ``remit check`` prints the check's JSON and exits
0 (valid), 1 (invalid) or 2 (unreadable or not a known format); docs/formats/payments.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from remit.calendar import locale_of
from remit.cliutil import (
    AS_OPTION,
    BAD_INPUT,
    BOOK_OPTION,
    console,
    open_database,
    read_file,
    replace_all,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.errors import Problem, ValidationFailed
from remit.formats import offline, registry
from remit.formats.findings import CheckReport, Finding
from remit.formats.payfile import FileStamp
from remit.ledger import service as ledger_service
from remit.money import Money, format_money
from remit.parties import service as parties_service
from remit.payments import blocks, house, runs
from remit.payments.model import PAYMENT_SCHEMES, NewHouseAccount

payments_app = typer.Typer(
    help="Payments: bank files, the book's bank accounts, payment blocks.", no_args_is_help=True
)
INVALID = 1


def _created(value: str | None) -> datetime:
    """The file's creation time: ``--created`` (ISO, UTC when no offset) or now."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            [Problem("--created", f"a date and time YYYY-MM-DDTHH:MM ({value!r} given)", "date")]
        ) from None
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _target_problems(targets: dict[str, Path | None], inputs: tuple[Path, ...]) -> list[Problem]:
    """What stops writing each target: a folder that is not there, or a path that is one of
    the inputs or another target."""
    problems, taken = [], {p.resolve() for p in inputs}
    for option, target in targets.items():
        if target is None:
            continue
        if not target.parent.is_dir():
            message = f"the folder {target.parent} does not exist"
            problems.append(Problem(option, message, "folder"))
        elif target.is_dir():
            problems.append(Problem(option, f"{target} is a folder", "folder"))
        elif target.resolve() in taken:
            problems.append(Problem(option, f"{target} is already an input or output", "same_file"))
        taken.add(target.resolve())
    return problems


def _write(fmt: registry.Scheme, payments: Any, originator: Any, stamp: FileStamp) -> bytes:
    """The bank file's bytes from the scheme's writer, refused unless its own check passes."""
    module = registry.module_of(fmt)
    extra = {"version": fmt.version} if fmt.version else {}
    try:
        data: bytes = module.write(payments, originator, stamp, **extra)
    except ValueError as exc:
        raise ValidationFailed(
            [Problem("--format", f"the writer refused: {exc}", "writer")]
        ) from None
    report: CheckReport = module.check(data)
    if not report.valid:
        found = "; ".join(f"{f.code}: {f.message}" for f in report.errors[:5])
        raise ValidationFailed(
            [Problem("--out", f"the written file fails its own check ({found})", "self_check")]
        )
    return data


@payments_app.command("file")
@user_errors
def file_command(
    payables: Path = typer.Option(
        ..., "--payables", help="payables.csv (docs/formats/payments.md)"
    ),
    format_name: str = typer.Option(
        ..., "--format", help="nacha | bacs18 | pain.001.001.03 | pain.001.001.09"
    ),
    originator: Path = typer.Option(..., "--originator", help="originator.toml"),
    pay_date: str = typer.Option(
        ..., "--date", help="Pay date YYYY-MM-DD (moved to the next banking day)."
    ),
    out: Path = typer.Option(..., "--out", help="The bank file to write."),
    remittance: Path | None = typer.Option(
        None, "--remittance", help="Also write the remittance CSV here."
    ),
    created: str | None = typer.Option(
        None, "--created", help="The file's creation time (ISO; default now), for repeatable files."
    ),
) -> None:
    """Write one bank file from payables.csv and originator.toml, with no store."""
    fmt = registry.scheme(format_name)
    problems: list[Problem] = []
    contents = []
    for path, name in ((payables, offline.PAYABLES), (originator, offline.ORIGINATOR)):
        try:
            contents.append(read_file(path, name))
        except ValidationFailed as exc:
            problems.extend(exc.problems)
    try:
        stamp_time = _created(created)
    except ValidationFailed as exc:
        problems.extend(exc.problems)
    outputs = {"--out": out, "--remittance": remittance}
    problems.extend(_target_problems(outputs, (payables, originator)))
    if problems:
        raise ValidationFailed(problems)
    payments, table, day = offline.prepare(contents[0], contents[1], pay_date, fmt)
    stamp = FileStamp(
        created=stamp_time,
        value_date=day,
        message_id=f"REMIT-{stamp_time:%Y%m%d%H%M%S}",
    )
    targets = {out: _write(fmt, payments, table, stamp)}
    if remittance is not None:
        targets[remittance] = offline.remittance_csv(payments).encode("utf-8")
    replace_all(targets)
    total = sum(p.amount_minor for p in payments)
    console.print(
        f"wrote {out}: {fmt.format}, {len(payments):,} payment(s), "
        f"{format_money(Money(total, fmt.currency), locale_of(fmt.currency))} in all, "
        f"value date {day.isoformat()}",
        highlight=False,
    )


def _unreadable(code: str, message: str) -> dict[str, Any]:
    report = CheckReport("", errors=(Finding(code, message),)).as_json()
    return {**report, "format": None}


def check_command(
    path: Path = typer.Argument(..., help="A NACHA, BACS Standard 18 or pain.001/pain.008 file."),
) -> None:
    """Check a bank file written by anyone; print JSON; exit 0 valid, 1 invalid, 2 unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(json.dumps(_unreadable("unreadable", f"cannot read {path}: {exc.strerror or exc}")))
        raise typer.Exit(BAD_INPUT) from None
    module = registry.sniff(data)
    if module is None:
        known = ", ".join(registry.SCHEMES)
        message = f"not a format remit checks ({known}, pain.008)"
        print(json.dumps(_unreadable("unknown_format", message)))
        raise typer.Exit(BAD_INPUT)
    report: CheckReport = module.check(data)
    print(json.dumps(report.as_json()))
    if report.details.get("unreadable"):
        raise typer.Exit(BAD_INPUT)
    raise typer.Exit(0 if report.valid else INVALID)


# ---------------------------------------------------------------- the book's bank accounts

house_app = typer.Typer(help="The book's own bank accounts.", no_args_is_help=True)
payments_app.add_typer(house_app, name="house-account")


def _originators(path: Path, schemes: list[str]) -> dict[str, dict[str, Any]]:
    """Each named scheme's table of originator.toml, read and checked as the offline
    command reads it (problems name the line and key)."""
    content = read_file(path, offline.ORIGINATOR)
    found: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for name in dict.fromkeys(schemes):
        fmt = PAYMENT_SCHEMES.get(name)
        if fmt is None:
            known = ", ".join(PAYMENT_SCHEMES)
            problems.append(Problem("--scheme", f"unknown scheme {name!r} (one of {known})"))
            continue
        try:
            found[fmt.originator_table] = offline.read_originator(content, fmt)
        except ValidationFailed as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationFailed(problems)
    return found


@house_app.command("add")
@user_errors
def house_add(
    code: str = typer.Option(..., "--code", help="Unique in the book, e.g. OPS-GBP."),
    name: str = typer.Option(..., "--name", help="The account's name."),
    gl: str = typer.Option(..., "--gl", help="The asset account of the chart it books to."),
    currency: str = typer.Option(..., "--currency", help="ISO currency, e.g. GBP."),
    scheme: list[str] = typer.Option(
        ..., "--scheme", help="nacha | bacs18 | pain.001 (repeat for several)."
    ),
    originator: Path = typer.Option(..., "--originator", help="originator.toml"),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Add one of the book's own bank accounts with its originator details."""
    tables = _originators(originator, scheme)
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    spec = NewHouseAccount(code, name, gl, currency.upper(), tuple(scheme), tables)
    with database.write() as conn:
        account_id = house.add_house_account(conn, actor, book_id, spec)
    console.print(f"added bank account {code} (id {account_id}): {', '.join(scheme)}")


@house_app.command("list")
@user_errors
def house_list(
    include_closed: bool = typer.Option(False, "--all", help="Closed accounts too."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """The book's bank accounts, account numbers masked."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        found = house.list_house_accounts(conn, actor, book_id, include_closed=include_closed)
    if not found:
        console.print("no bank accounts in this book")
    for account in found:
        console.print(
            f"{account.code}  {account.name}  GL {account.gl_account_code}  {account.currency}  "
            f"{', '.join(account.schemes)}  {account.status.value}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for name, values in account.originators.items():
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            console.print(f"  {name}: {shown}", highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------- payment blocks


@payments_app.command("block")
@user_errors
def block_command(
    party: str = typer.Option(..., "--party", help="The party's ref."),
    reason: str = typer.Option(
        ...,
        "--reason",
        help="provider_on_hold | incomplete_provider_file | disputed_amount | other "
        "(manual_payment is set by a manual payment itself)",
    ),
    note: str = typer.Option("", "--note", help="Why (up to 500 characters)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Keep a party out of payment runs until the block is lifted."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        party_id = parties_service.party_id_for(conn, book_id, party)
        block_id = blocks.set_block(
            conn, actor, book_id, party_id=party_id, reason=reason, note=note
        )
    console.print(f"party {party} is blocked from payment runs: {reason} (block {block_id})")


@payments_app.command("unblock")
@user_errors
def unblock_command(
    party: str = typer.Option(..., "--party", help="The party's ref."),
    reason: str | None = typer.Option(None, "--reason", help="Lift only this reason's block."),
    note: str = typer.Option("", "--note", help="Why the block is lifted."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Lift a party's payment blocks (of one reason, or all)."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        party_id = parties_service.party_id_for(conn, book_id, party)
        lifted = blocks.lift_block(
            conn, actor, book_id, party_id=party_id, reason=reason, note=note
        )
    console.print(f"lifted {len(lifted)} payment block(s) of party {party}")


@payments_app.command("preview")
@user_errors
def preview_command(
    pay_date: str = typer.Option(..., "--pay-date", help="YYYY-MM-DD: items due by then."),
    account: list[str] = typer.Option(["2000"], "--account", help="Payables control account."),
    method: list[str] = typer.Option([], "--method", help="nacha | bacs18 | pain.001 ..."),
    cost_centre: list[str] = typer.Option(
        [], "--cost-centre", help="Only items of these cost centres."
    ),
    area: list[str] = typer.Option(
        [], "--area", help="Only items from these areas of the book (care_run, ...)."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """What a payment run on a pay date would pay, and what it leaves out and why
    (reads only; `remit payments run prepare` makes the run)."""
    day = offline.parse_date(pay_date, "--pay-date")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        found, held = runs.preview(
            conn,
            actor,
            book_id,
            day,
            accounts=account,
            methods=set(method) or None,
            cost_centres=set(cost_centre) or None,
            areas=set(area) or None,
        )
        names = parties_service.party_names(conn, book_id, found.excluded["party_id"].to_list())
        locale = locale_of(str(ledger_service.get_book(conn, book_id)["base_currency"]))
    reasons = found.excluded.group_by("reason").len().sort("reason").rows()
    if as_json:
        totals = found.totals.to_dicts()
        print(
            json.dumps(
                {
                    "pay_date": day.isoformat(),
                    "totals": totals,
                    "excluded": dict(reasons),
                    "held_by_other_runs": held,
                },
                indent=2,
            )
        )
        return
    console.print(f"pay date {day.isoformat()}: {found.payments.height} payment(s)")
    for method_name, currency, count, amount in found.totals.rows():
        money = format_money(Money(int(amount), str(currency)), locale)
        console.print(f"  {method_name} {currency}: {count} payment(s), {money}")
    console.print(f"{found.excluded.height} item(s) left out")
    if held:
        console.print(f"  {held} item(s) wait in runs not yet released (`remit payments run list`)")
    for reason, count in reasons:
        console.print(f"  {reason}: {count}")
    for party_id, currency, open_minor, reason in (
        found.excluded.select("party_id", "currency", "open_minor", "reason").head(20).rows()
    ):
        ref, name = names.get(int(party_id), ("?", "?"))
        money = format_money(Money(-int(open_minor), str(currency)), locale)
        console.print(f"    {ref} {name}: {money} ({reason})")


from remit.payments.returns_cli import returns_command  # noqa: E402 - after payments_app

payments_app.command("returns")(returns_command)

from remit.payments.runs_cli import approval_limit_command, run_app  # noqa: E402

payments_app.add_typer(run_app, name="run")
from remit.payments.manual_cli import manual_app  # noqa: E402

payments_app.add_typer(manual_app, name="manual")
payments_app.command("approval-limit")(approval_limit_command)
