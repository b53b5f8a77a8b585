"""``remit childcare``: the offline calculation of a month's child care subsidy payments
(issue 11, point 7), with no store. Formats: docs/formats/childcare.md."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from remit.childcare import exchange
from remit.childcare.calculate import Inputs
from remit.childcare.engine import calculate_frame
from remit.cliutil import user_errors
from remit.errors import Problem, ValidationFailed

childcare_app = typer.Typer(no_args_is_help=True, help="Child care subsidy payments.")
console = Console()


def _read(path: Path | None, name: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(
            [Problem("file", f"cannot be read: {exc.strerror or exc}", "unreadable", source=name)]
        ) from None


def _write_both(out: Path, files: dict[str, str]) -> None:
    """Write the output files into ``out`` through temporary files, renamed only when all
    are written (a failure leaves none of them touched)."""
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            staged.append((temporary, out / name))
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
        for temporary, target in staged:
            os.replace(temporary, target)
        staged.clear()
    finally:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)


@childcare_app.command("calculate")
@user_errors
def calculate_command(
    certificates: Path = typer.Option(..., "--certificates", help="certs.csv"),
    attendance: Path = typer.Option(..., "--attendance", help="attendance.csv"),
    ceilings: Path = typer.Option(..., "--ceilings", help="ceilings.csv"),
    month: str = typer.Option(..., "--month", help="The month to calculate, YYYY-MM."),
    families: Path | None = typer.Option(None, "--families", help="families.csv"),
    providers: Path | None = typer.Option(None, "--providers", help="providers.csv"),
    policy: Path | None = typer.Option(None, "--policy", help="policy.toml"),
    out: Path = typer.Option(..., "--out", help="A folder for payments.csv and summary.json."),
) -> None:
    """Calculate a month's payments per child from the exchange files, with no store:
    payments.csv (a row per child-month, or per certificate version) and summary.json."""
    problems: list[Problem] = []
    first = None
    try:
        first = exchange.month_start(month)
    except ValidationFailed as exc:
        problems += exc.problems
    if not out.is_dir():
        problems.append(Problem("--out", f"{out} is not a folder", "not_a_folder"))
    readers = {
        "certs.csv": (certificates, exchange.read_certificates),
        "attendance.csv": (attendance, exchange.read_attendance),
        "ceilings.csv": (ceilings, exchange.read_ceilings),
        "families.csv": (families, exchange.read_families),
        "providers.csv": (providers, exchange.read_providers),
    }
    read: dict[str, object] = {}
    for name, (path, reader) in readers.items():
        try:
            content = _read(path, name)
            read[name] = None if content is None else reader(content, name)
        except ValidationFailed as exc:
            problems += exc.problems
    try:
        found_policy = exchange.read_policy(_read(policy, "policy.toml"))
    except ValidationFailed as exc:
        problems += exc.problems
    if problems or first is None:
        raise ValidationFailed(problems)
    rows = calculate_frame(
        Inputs(
            month=first,
            certificates=read["certs.csv"],  # type: ignore[arg-type]
            attendance=read["attendance.csv"],  # type: ignore[arg-type]
            ceilings=read["ceilings.csv"],  # type: ignore[arg-type]
            providers=read["providers.csv"],  # type: ignore[arg-type]
            families=read["families.csv"],  # type: ignore[arg-type]
            policy=found_policy,
        )
    )
    _write_both(
        out,
        {"payments.csv": exchange.payments_csv(rows), "summary.json": exchange.summary_json(rows)},
    )
    totals = exchange.summary(rows)["totals"]
    console.print(
        f"wrote {out / 'payments.csv'} and summary.json: {totals['payable']:,} payable and "
        f"{totals['incomplete']:,} incomplete child-month(s), net "
        f"${totals['net_minor'] // 100:,}.{totals['net_minor'] % 100:02d}",
        highlight=False,
    )
