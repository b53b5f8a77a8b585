"""``remit childcare``: the offline calculation of a month's child care subsidy payments
(issue 11, point 7), with no store. Formats: docs/formats/childcare.md."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.console import Console

from remit.childcare import engine, exchange, fastread
from remit.childcare import service as childcare_service
from remit.childcare.calculate import Inputs
from remit.childcare.model import Policy
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    open_database,
    read_file,
    replace_all,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.errors import Problem, ValidationFailed

childcare_app = typer.Typer(no_args_is_help=True, help="Child care subsidy payments.")
console = Console()


def _read(path: Path | None, name: str) -> bytes | None:
    return None if path is None else read_file(path, name)


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
    paths = {
        "certs.csv": certificates,
        "attendance.csv": attendance,
        "ceilings.csv": ceilings,
        "families.csv": families,
        "providers.csv": providers,
    }
    contents: dict[str, bytes | None] = {}
    for name, path in paths.items():
        try:
            contents[name] = _read(path, name)
        except ValidationFailed as exc:
            problems += exc.problems
    try:
        found_policy = exchange.read_policy(_read(policy, "policy.toml"))
    except ValidationFailed as exc:
        problems += exc.problems
    if problems or first is None:  # and every problem of the files besides
        try:
            _careful(contents, first or date(2000, 1, 1), Policy())
        except ValidationFailed as exc:
            problems += exc.problems
        raise ValidationFailed(problems)
    frames = _fast_frames(contents)
    if frames is None:  # something to say, or unusual: the careful readers, line by line
        frame = engine.payments_frame(
            engine.frames_of(_careful(contents, first, found_policy)), first, found_policy
        )
    else:
        frame = engine.payments_frame(frames, first, found_policy)
    found = engine.summary_frame(frame)
    replace_all(
        {
            out / "payments.csv": engine.payments_csv_frame(frame, first).encode("utf-8"),
            out / "summary.json": (json.dumps(found, indent=2, sort_keys=True) + "\n").encode(),
        }
    )
    totals: dict[str, int] = found["totals"]  # type: ignore[assignment]
    console.print(
        f"wrote {out / 'payments.csv'} and summary.json: {totals['payable']:,} payable and "
        f"{totals['incomplete']:,} incomplete child-month(s), net "
        f"${totals['net_minor'] // 100:,}.{totals['net_minor'] % 100:02d}",
        highlight=False,
    )


@childcare_app.command("import")
@user_errors
def import_command(
    families: Path | None = typer.Option(None, "--families", help="families.csv"),
    certificates: Path | None = typer.Option(None, "--certificates", help="certs.csv"),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Import families and certificates into a book (docs/formats/childcare.md, with the
    book's extra columns), all or nothing; the same files again change nothing."""
    problems: list[Problem] = []
    contents: dict[str, bytes | None] = {}
    for name, path in (("families.csv", families), ("certs.csv", certificates)):
        try:
            contents[name] = _read(path, name)
        except ValidationFailed as exc:
            problems += exc.problems
    if problems:
        raise ValidationFailed(problems)
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        done = childcare_service.import_files(
            conn,
            actor,
            book_id,
            families=contents["families.csv"],
            certificates=contents["certs.csv"],
            families_name=families.name if families else "families.csv",
            certificates_name=certificates.name if certificates else "certs.csv",
        )
    console.print(
        f"families: {done.families_created:,} new, {done.families_updated:,} changed, "
        f"{done.families_unchanged:,} as they were; children: {done.children_created:,} new; "
        f"certificates: {done.certificates_created:,} new, versions: "
        f"{done.versions_created:,} new, {done.versions_unchanged:,} as they were",
        highlight=False,
    )


_FAST = {
    "certs.csv": ("certs", fastread.certificates),
    "attendance.csv": ("attendance", fastread.attendance),
    "ceilings.csv": ("ceilings", fastread.ceilings),
    "families.csv": ("families", fastread.families),
    "providers.csv": ("providers", fastread.providers),
}


def _fast_frames(contents: dict[str, bytes | None]) -> dict[str, pl.DataFrame] | None:
    """The engine's frames straight from the files, or None when any file needs the careful
    reader (a problem to name, or something unusual)."""
    frames: dict[str, pl.DataFrame] = {}
    for name, (key, reader) in _FAST.items():
        content = contents[name]
        if content is None:
            continue
        frame = reader(content)
        if frame is None:
            return None
        frames[key] = frame
    if "families" not in frames:
        frames["families"] = engine.frames_of(_NO_FILES)["families"]
    return frames


def _careful(contents: dict[str, bytes | None], first: date, policy: Policy) -> Inputs:
    """Every file read value by value: every problem of every file, or the inputs."""
    problems: list[Problem] = []
    read: dict[str, Any] = {}
    readers: dict[str, Any] = {
        "certs.csv": exchange.read_certificates,
        "attendance.csv": exchange.read_attendance,
        "ceilings.csv": exchange.read_ceilings,
        "families.csv": exchange.read_families,
        "providers.csv": exchange.read_providers,
    }
    for name, reader in readers.items():
        content = contents[name]
        try:
            read[name] = None if content is None else reader(content, name)
        except ValidationFailed as exc:
            problems += exc.problems
    if problems:
        raise ValidationFailed(problems)
    return Inputs(
        month=first,
        certificates=read["certs.csv"],
        attendance=read["attendance.csv"],
        ceilings=read["ceilings.csv"],
        providers=read["providers.csv"],
        families=read["families.csv"],
        policy=policy,
    )


_NO_FILES = Inputs(month=date(2000, 1, 1), certificates=(), attendance=(), ceilings=())
