"""``remit care``: care monitoring commands. ``reconcile`` runs offline on files, no store."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from remit.care import decisions, exchange, imports, packages, payables, rates, runs
from remit.care import service as care_service
from remit.care.engine import reconcile as run_engine
from remit.care.model import OUTCOME_COLUMNS, Policy
from remit.care.selfbill import clock_text
from remit.care.summary import summarise, unpriced
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
from remit.db import MAX_ID
from remit.errors import ValidationFailed
from remit.money import Money, format_money
from remit.parties import service as parties_service

care_app = typer.Typer(help="Care monitoring: planned against actual visits.", no_args_is_help=True)


@care_app.command()
@user_errors
def reconcile(
    planned: Path = typer.Option(
        ...,
        "--planned",
        help="planned.csv (docs/formats/care.md)",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    actual: Path = typer.Option(
        ...,
        "--actual",
        help="actual.csv: carers' check-ins",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    rates: Path = typer.Option(
        ...,
        "--rates",
        help="rates.csv: hourly rates by date",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        help="policy.toml (else defaults)",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    out: Path = typer.Option(
        ..., "--out", help="Folder for outcomes.csv and summary.json.", file_okay=False
    ),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="Reconcile the valid rows and write the rejected ones "
        "to <file>.rejected.csv; without it, a file with errors writes nothing.",
    ),
) -> None:
    """Match actual visits to planned ones, apply the policy, and price each carer place.

    Writes OUT/outcomes.csv (a row per carer place and per unmatched or duplicate record)
    and OUT/summary.json (per provider: counts by status, paid minutes, amount, exceptions).
    """
    started = time.perf_counter()
    the_policy = exchange.read_policy(policy, policy.name if policy else "policy.toml")
    files = [
        exchange.read_planned(planned, planned.name),
        exchange.read_actual(actual, actual.name),
        exchange.read_rates(rates, rates.name),
    ]
    plan_file, actual_file, rate_file = files
    if rate_file.problems or (not skip_invalid and any(f.problems for f in files)):
        # Rates are reference data: a bad rate is never skipped.
        raise ValidationFailed([p for f in files for p in f.problems])
    outcomes = run_engine(
        exchange.planned_frame(plan_file.valid_rows()),
        exchange.actual_frame(actual_file.valid_rows()),
        exchange.rate_frame(rate_file.rows),
        the_policy,
        holidays=exchange.read_bank_holidays(policy, policy.name if policy else "policy.toml"),
    ).select(OUTCOME_COLUMNS)
    problems = unpriced(outcomes, plan_file.valid_rows(), plan_file.name)
    if problems:
        raise ValidationFailed(problems)
    summary = summarise(outcomes)
    summary["policy"] = the_policy.summary_dict()
    out.mkdir(parents=True, exist_ok=True)
    outcomes.write_csv(out / "outcomes.csv")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    rejected = [_write_rejected(f, out) for f in (plan_file, actual_file) if f.problems]
    _show(summary, outcomes.height, time.perf_counter() - started)
    console.print(f"wrote {out / 'outcomes.csv'} and {out / 'summary.json'}", highlight=False)
    for path, count in rejected:
        console.print(f"[yellow]rejected {count} row(s)[/]: {path}", highlight=False)


def _write_rejected(checked: exchange.Checked, out: Path) -> tuple[Path, int]:
    """The rejected rows as they came, with their line and problems, for correction."""
    path = out / f"{Path(checked.name).stem}.rejected.csv"
    path.write_bytes(exchange.rejected_csv(checked))
    return path, len({p.line for p in checked.problems if p.line is not None})


def _show(summary: dict[str, object], rows: int, seconds: float) -> None:
    table = Table(title=f"{rows:,} outcomes in {seconds:.2f} s", title_justify="left")
    for name in (
        "provider",
        "verified",
        "short",
        "over",
        "missed",
        "invalid",
        "unplanned",
        "duplicate",
        "exceptions",
        "paid h:mm",
        "amount",
    ):
        table.add_column(name, justify="left" if name == "provider" else "right")
    providers = summary["providers"]
    assert isinstance(providers, dict)
    for pid, p in list(providers.items())[:50]:
        counts = p["counts"]
        amount = format_money(Money(p["amount_minor"], p["currency"])) if p["currency"] else ""
        table.add_row(
            pid,
            *(
                f"{counts.get(s, 0):,}"
                for s in (
                    "verified",
                    "short",
                    "over",
                    "missed",
                    "invalid",
                    "unplanned",
                    "duplicate",
                )
            ),
            f"{p['exceptions']:,}",
            f"{p['paid_minutes'] // 60:,}:{p['paid_minutes'] % 60:02d}",
            amount,
        )
    if len(providers) > 50:
        table.caption = f"first 50 of {len(providers):,} providers; all are in summary.json"
    console.print(table)


# ---------------------------------------------------------------- in a book


def _period(first: str, last: str) -> tuple[date, date]:
    try:
        return date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        fail("--from and --to are dates like 2026-11-02")


@care_app.command("plan")
@user_errors
def plan(
    first: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD (inclusive)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Generate the planned visits of a period from the care packages' weekly patterns."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    start, end = _period(first, last)
    with database.write() as conn:
        report = care_service.plan_period(conn, actor, book_id, start, end)
    console.print(f"{report.text()} from {start} to {end}")


@care_app.command("import")
@user_errors
def import_file(
    kind: str = typer.Argument(..., help="packages, planned or actual"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    valid_only: bool = typer.Option(
        False,
        "--valid-only",
        help="Import the valid rows; write the rejected "
        "ones to --errors (default FILE.rejected.csv).",
    ),
    errors: Path | None = typer.Option(None, "--errors", dir_okay=False),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Import care packages, planned visits or actual records (docs/formats/care.md), all or
    nothing."""
    if kind not in ("packages", "planned", "actual"):
        fail("KIND is packages, planned or actual")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    if kind == "packages":
        with database.write() as conn:
            made = packages.import_packages(conn, actor, book_id, file.name, file.read_bytes())
        console.print(f"commissioned {len(made):,} care package(s) from {file.name}")
        return
    reader = imports.import_planned if kind == "planned" else imports.import_actual
    with database.write() as conn:
        result = reader(conn, actor, book_id, file.name, file.read_bytes(), valid_only)
    if result.replayed:
        console.print(f"{file.name} was imported before: nothing new")
        return
    console.print(
        f"imported {result.rows:,} {kind} row(s) from {file.name} (import {result.import_id})"
    )
    if result.kept_text():
        console.print(result.kept_text())
    if result.rejected:
        target = errors or file.with_suffix(".rejected.csv")
        target.write_bytes(result.rejected_csv)
        console.print(f"[yellow]rejected {result.rejected:,} row(s)[/]: {target}", highlight=False)


@care_app.command("run")
@user_errors
def run_period(
    first: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD."),
    provider: list[str] = typer.Option(
        [], "--provider", help="A provider's reference; repeat for several (default: all)."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Reconcile a period in the book: one run per provider, exceptions to arbitration.

    A provider's run of the period with no decision yet is computed again; once it has a
    decision or is posted, what arrived since goes to a supplementary run of the period."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    start, end = _period(first, last)
    started = time.perf_counter()
    with database.write() as conn:
        chosen = runs.provider_ids_for(conn, actor, book_id, provider) if provider else None
        found = runs.reconcile_period(conn, actor, book_id, start, end, chosen)
        names = parties_service.party_names(conn, book_id, {s.provider_party_id for s in found})
    table = Table(
        title=f"{len(found)} run(s) in {time.perf_counter() - started:.2f} s", title_justify="left"
    )
    for name in (
        "run",
        "provider",
        "kind",
        "outcomes",
        "exceptions",
        "paid h:mm",
        "amount",
        "case",
    ):
        table.add_column(name, justify="left" if name in ("provider", "kind") else "right")
    for s in found:
        amount = format_money(Money(s.amount_minor, s.currency)) if s.currency else ""
        kind = f"supplementary {s.sequence}" if s.sequence else "first"
        table.add_row(
            str(s.run_id),
            " ".join(names.get(s.provider_party_id, (str(s.provider_party_id), ""))),
            kind + (" (again)" if s.replaced else ""),
            f"{s.outcomes:,}",
            f"{s.exceptions:,}",
            f"{s.paid_minutes // 60:,}:{s.paid_minutes % 60:02d}",
            amount,
            str(s.case_id or ""),
        )
    console.print(table)
    if not found:
        console.print("nothing new to reconcile: every visit and record of the period is in a run")


@care_app.command("unmatched")
@user_errors
def unmatched(
    provider: list[str] = typer.Option(
        [], "--provider", help="A provider's reference; repeat for several (default: all)."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Records that belong to no run yet (late records), oldest first."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        chosen = runs.provider_ids_for(conn, actor, book_id, provider) if provider else None
        total, rows = runs.unmatched_records(conn, actor, book_id, chosen)
    table = Table(
        title=f"{total:,} record(s) in no run"
        + (f" (the oldest {len(rows):,} shown)" if total > len(rows) else ""),
        title_justify="left",
    )
    for name in ("record", "provider", "client", "carer", "check-in", "check-out", "period run"):
        table.add_column(name)
    for row in rows:
        check_in, check_out = (
            selfbill_clock(row["check_in_s"]),
            selfbill_clock(row["check_out_s"]),
        )
        state = _unmatched_state(row)
        table.add_row(
            row["ref"],
            row["provider_ref"],
            row["client_ref_shown"] or "",
            row["carer_ref"],
            check_in,
            check_out,
            state,
        )
    console.print(table)


def _unmatched_state(row: dict[str, object]) -> str:
    """Where a record in no run stands: held until a package exists, late for a posted
    run, or not reconciled yet."""
    if row["held_run_id"]:
        waiting = "a package covers it now, reconcile again" if row["covered"] else "awaiting one"
        return f"held until a package exists (run {row['held_run_id']}): {waiting}"
    if row["posted_run_id"]:
        return f"run {row['posted_run_id']} posted: reconcile again for a supplementary run"
    return f"run {row['run_id']}" if row["run_id"] else "not reconciled yet"


def selfbill_clock(moment_s: int) -> str:
    day, clock = clock_text(int(moment_s))
    return f"{day} {clock}"


@care_app.command("decide")
@user_errors
def decide(
    outcome: int = typer.Argument(..., min=1, max=MAX_ID, help="The visit outcome's id."),
    decision: str = typer.Argument(
        ...,
        help="accept_actual, accept_planned, set_minutes, hold (until a package exists) or reject",
    ),
    reason: str = typer.Option(..., "--reason", help="Why (the provider sees it)."),
    minutes: int | None = typer.Option(None, "--minutes", help="For set_minutes."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Decide an exception of a run."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        done = decisions.decide(conn, actor, book_id, outcome, decision, reason, minutes)
    console.print(f"outcome {outcome}: {done['decision']}, {done['final_minutes']} minute(s)")


@care_app.command("post")
@user_errors
def post(
    run: int = typer.Argument(..., min=1, max=MAX_ID, help="The run's id."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Post a resolved run as the provider's self-bill payable (once)."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        entry_id = payables.post_payable(conn, actor, book_id, run)
    console.print(
        f"run {run} posted as entry {entry_id}"
        if entry_id
        else f"run {run} pays nothing; marked posted"
    )


@care_app.command("policy")
@user_errors
def policy_set(
    values: list[str] = typer.Argument(
        ..., help="name=minutes, e.g. tolerance_minutes=10 (others keep the version in force)"
    ),
    effective_from: str = typer.Option(..., "--from", help="Holds from, YYYY-MM-DD."),
    provider: str | None = typer.Option(None, "--provider", help="A provider's ref: its override."),
    note: str = typer.Option("", "--note", help="Why (the contract clause)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Set a new version of the tolerance policy (of the book, or of one provider)."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    day, _ = _period(effective_from, effective_from)
    changes: dict[str, object] = {}
    for pair in values:
        name, _, number = pair.partition("=")
        changes[name.strip()] = int(number) if number.strip().isdigit() else number
    with database.write() as conn:
        provider_id = parties_service.party_id_for(conn, book_id, provider) if provider else None
        book_policy, overrides = care_service.policies_on(conn, book_id, day)
        base = overrides.get(provider_id, book_policy) if provider_id else book_policy
        new = Policy.from_mapping({**base.as_dict(), **changes})
        care_service.set_policy(conn, actor, book_id, new, day, provider_id, note)
    console.print(
        f"policy from {day}"
        + (f" for {provider}" if provider else "")
        + ": "
        + ", ".join(f"{k} {v}" for k, v in new.as_dict().items())
    )


rates_app = typer.Typer(help="Providers' rate cards: rates for care no package covers.")
care_app.add_typer(rates_app, name="rates")


@rates_app.command("import")
@user_errors
def rates_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Add the rates of a rate card file (docs/formats/care.md), all or nothing."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        made = rates.import_rates(conn, actor, book_id, file.name, file.read_bytes())
    console.print(f"added {len(made):,} rate(s) from {file.name}")


@rates_app.command("list")
@user_errors
def rates_list(
    provider: str | None = typer.Option(None, "--provider", help="A provider's reference."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """The providers' rate cards, by provider, service, band and date."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        chosen = runs.provider_ids_for(conn, actor, book_id, [provider]) if provider else [None]
        found = rates.list_rates(conn, actor, book_id, chosen[0])
    table = Table(title=f"{len(found):,} rate(s)", title_justify="left")
    for name in ("provider", "service", "band", "from", "rate per hour", "currency"):
        table.add_column(name)
    for row in found:
        table.add_row(
            row["provider_ref"],
            row["service_code"],
            row["band"],
            row["effective_from"].isoformat(),
            row["rate_per_hour"],
            row["currency"],
        )
    console.print(table)


absences_app = typer.Typer(help="Clients' hospital stays.", no_args_is_help=True)
care_app.add_typer(absences_app, name="absences")


@absences_app.command("import")
@user_errors
def absences_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Import hospital stays (``client_ref,first_day,last_day,reason``), all or nothing: the
    client's visits of those days are suspended at the next reconciliation."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        count = imports.import_absences(conn, actor, book_id, file.name, file.read_bytes())
    console.print(f"recorded {count:,} hospital stay(s) from {file.name}")
