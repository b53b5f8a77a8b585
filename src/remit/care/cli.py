"""``remit care``: care monitoring commands. ``reconcile`` runs offline on files, no store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from remit.care import exchange
from remit.care.engine import reconcile as run_engine
from remit.care.summary import summarise, unpriced
from remit.cliutil import console, user_errors
from remit.errors import ValidationFailed
from remit.money import Money, format_money

care_app = typer.Typer(help="Care monitoring: planned against actual visits.",
                       no_args_is_help=True)


@care_app.command()
@user_errors
def reconcile(
    planned: Path = typer.Option(..., "--planned", help="planned.csv (docs/formats/care.md)",
                                 exists=True, dir_okay=False, readable=True),
    actual: Path = typer.Option(..., "--actual", help="actual.csv: carers' check-ins",
                                exists=True, dir_okay=False, readable=True),
    rates: Path = typer.Option(..., "--rates", help="rates.csv: hourly rates by date",
                               exists=True, dir_okay=False, readable=True),
    policy: Path | None = typer.Option(None, "--policy", help="policy.toml (else defaults)",
                                       exists=True, dir_okay=False, readable=True),
    out: Path = typer.Option(..., "--out", help="Folder for outcomes.csv and summary.json.",
                             file_okay=False),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Reconcile the valid rows and write the rejected ones "
        "to <file>.rejected.csv; without it, a file with errors writes nothing."),
) -> None:
    """Match actual visits to planned ones, apply the policy, and price each carer place.

    Writes OUT/outcomes.csv (a row per carer place and per unmatched or duplicate record)
    and OUT/summary.json (per provider: counts by status, paid minutes, amount, exceptions).
    """
    started = time.perf_counter()
    the_policy = exchange.read_policy(policy, policy.name if policy else "policy.toml")
    files = [exchange.read_planned(planned, planned.name),
             exchange.read_actual(actual, actual.name), exchange.read_rates(rates, rates.name)]
    plan_file, actual_file, rate_file = files
    if rate_file.problems or (not skip_invalid and any(f.problems for f in files)):
        # Rates are reference data: a bad rate is never skipped.
        raise ValidationFailed([p for f in files for p in f.problems])
    outcomes = run_engine(exchange.planned_frame(plan_file.valid_rows()),
                          exchange.actual_frame(actual_file.valid_rows()),
                          exchange.rate_frame(rate_file.rows), the_policy)
    problems = unpriced(outcomes, plan_file.valid_rows(), plan_file.name)
    if problems:
        raise ValidationFailed(problems)
    summary = summarise(outcomes)
    summary["policy"] = the_policy.as_dict()
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
    for name in ("provider", "verified", "short", "over", "missed", "invalid", "unplanned",
                 "duplicate", "exceptions", "paid h:mm", "amount"):
        table.add_column(name, justify="left" if name == "provider" else "right")
    providers = summary["providers"]
    assert isinstance(providers, dict)
    for pid, p in list(providers.items())[:50]:
        counts = p["counts"]
        amount = format_money(Money(p["amount_minor"], p["currency"])) if p["currency"] else ""
        table.add_row(pid, *(f"{counts.get(s, 0):,}" for s in (
            "verified", "short", "over", "missed", "invalid", "unplanned", "duplicate")),
            f"{p['exceptions']:,}", f"{p['paid_minutes'] // 60:,}:{p['paid_minutes'] % 60:02d}",
            amount)
    if len(providers) > 50:
        table.caption = f"first 50 of {len(providers):,} providers; all are in summary.json"
    console.print(table)
