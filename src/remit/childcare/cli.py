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

from remit.childcare import compliance, engine, exchange, fastread, month
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
    providers: Path | None = typer.Option(None, "--providers", help="providers.csv"),
    documents: Path | None = typer.Option(
        None, "--documents", help="documents.csv: the providers' file records"
    ),
    ceilings: Path | None = typer.Option(None, "--ceilings", help="ceilings.csv"),
    families: Path | None = typer.Option(None, "--families", help="families.csv"),
    certificates: Path | None = typer.Option(None, "--certificates", help="certs.csv"),
    attendance: Path | None = typer.Option(None, "--attendance", help="attendance.csv"),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Import the exchange files into a book (docs/formats/childcare.md, with the book's
    extra columns), all or nothing; the same files again change nothing."""
    problems: list[Problem] = []
    contents: dict[str, bytes | None] = {}
    paths = {
        "providers.csv": providers,
        "documents.csv": documents,
        "ceilings.csv": ceilings,
        "families.csv": families,
        "certs.csv": certificates,
        "attendance.csv": attendance,
    }
    for name, path in paths.items():
        try:
            contents[name] = _read(path, name)
        except ValidationFailed as exc:
            problems += exc.problems
    if problems:
        raise ValidationFailed(problems)
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        said = _import_book(conn, actor, book_id, contents, paths)
        done = (
            childcare_service.import_files(
                conn,
                actor,
                book_id,
                families=contents["families.csv"],
                certificates=contents["certs.csv"],
                families_name=families.name if families else "families.csv",
                certificates_name=certificates.name if certificates else "certs.csv",
            )
            if families or certificates
            else childcare_service.ImportSummary()
        )
        if attendance is not None:
            got = month.import_attendance(
                conn, actor, book_id, contents["attendance.csv"] or b"", attendance.name
            )
            said.append(
                f"attendance: {got.records_new:,} new and {got.records_replaced:,} replaced "
                f"records, {got.days:,} days; {got.records_unchanged:,} records as they were"
            )
    for line in said:
        console.print(line, highlight=False)
    console.print(
        f"families: {done.families_created:,} new, {done.families_updated:,} changed, "
        f"{done.families_unchanged:,} as they were; children: {done.children_created:,} new; "
        f"certificates: {done.certificates_created:,} new, versions: "
        f"{done.versions_created:,} new, {done.versions_unchanged:,} as they were",
        highlight=False,
    )


def _import_book(
    conn: Any,
    actor: Any,
    book_id: int,
    contents: dict[str, bytes | None],
    paths: dict[str, Path | None],
) -> list[str]:
    said = []
    found = contents["providers.csv"]
    if found is not None:
        done = month.import_providers(
            conn, actor, book_id, found, _name(paths["providers.csv"], "providers.csv")
        )
        said.append(f"providers: {done.written:,} set, {done.same:,} as they were")
        if done.flags_unread:
            said.append(month.FLAGS_UNREAD)
    found = contents["documents.csv"]
    if found is not None:
        new, same = compliance.import_documents(
            conn, actor, book_id, found, _name(paths["documents.csv"], "documents.csv")
        )
        said.append(f"provider file records: {new:,} new, {same:,} as they were")
    found = contents["ceilings.csv"]
    if found is not None:
        new, same = month.import_ceilings(
            conn, actor, book_id, found, _name(paths["ceilings.csv"], "ceilings.csv")
        )
        said.append(f"ceilings: {new:,} new, {same:,} as they were")
    return said


def _name(path: Path | None, default: str) -> str:
    return path.name if path is not None else default


@childcare_app.command("policy")
@user_errors
def policy_command(
    file: Path = typer.Argument(..., help="policy.toml"),
    effective_from: str = typer.Option(..., "--from", help="The first day it holds, YYYY-MM-DD."),
    note: str = typer.Option("", "--note", help="Why (for the record)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Set the calculation's parameters (policy.toml) in a book from a date."""
    try:
        first = date.fromisoformat(effective_from)
    except ValueError:
        raise ValidationFailed([Problem("--from", "a date YYYY-MM-DD", "date")]) from None
    content = read_file(file, "policy.toml")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        month.set_policy(conn, actor, book_id, first, content, note)
    console.print(f"policy from {first.isoformat()} set", highlight=False)


@childcare_app.command("month")
@user_errors
def month_command(
    which: str = typer.Argument(..., help="The month, YYYY-MM."),
    post: bool = typer.Option(False, "--post", help="Post the payable rows for payment."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Calculate a month in the book (rows not yet posted are replaced) and, with --post,
    post its payable child-months once each as their providers' open items."""
    first = exchange.month_start(which)
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        done = month.calculate_month(conn, actor, book_id, first)
        posted = month.post_month(conn, actor, book_id, first) if post else None
    console.print(
        f"{first:%B %Y}: {done.payable:,} payable and {done.incomplete:,} incomplete rows, "
        f"net ${done.net_minor // 100:,}.{done.net_minor % 100:02d}"
        + (f"; {done.posted_kept:,} posted before and kept" if done.posted_kept else "")
        + (
            f"; {done.differs:,} of those now differ: an adjustment is needed"
            if done.differs
            else ""
        ),
        highlight=False,
    )
    if posted is not None:
        console.print(
            f"posted {posted.posted:,} child-month(s), "
            f"${posted.net_minor // 100:,}.{posted.net_minor % 100:02d}, for payment",
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
