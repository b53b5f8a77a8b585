"""``remit jobs ...``: start a job and watch it, run workers, list and show jobs."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import typer
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from remit import composition, config
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    err_console,
    fail,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.db import MAX_ID
from remit.jobs import service
from remit.jobs.model import Job, JobStatus, job_kinds
from remit.jobs.worker import Worker, default_name

jobs_app = typer.Typer(
    help="Background jobs: start one and watch it, run workers.", no_args_is_help=True
)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that reads as JSON (a number, true, a list) is taken as
    such, anything else as text.

    >>> parse_params(["document_id=12", "note=hello", "flag=true"])
    {'document_id': 12, 'note': 'hello', 'flag': True}
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--param {pair!r} is not key=value")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


@jobs_app.command("start")
@user_errors
def start(
    kind: str = typer.Argument(..., help="The kind of job, e.g. audit.verify."),
    book: str | None = BOOK_OPTION,
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A parameter as key=value; repeat for several."
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Run it here with a progress bar (default), or only queue it for a worker.",
    ),
    as_user: str | None = AS_OPTION,
) -> None:
    """Start a job. With --wait (default) it runs here; exit code 1 if it fails."""
    params = parse_params(param)
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    vault = config.vault() if wait else None
    name = default_name("cli")
    with database.write() as conn:
        job_id = service.enqueue(conn, actor, book_id, kind, params)
        job = service.claim_job(conn, job_id, name) if wait else None
    if job is None or vault is None:
        console.print(f"job {job_id} queued; a worker (`remit jobs worker`) will run it")
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"job {job_id} {kind}", total=None, message="")

        def draw(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total or None, message=message)

        final = Worker(database, vault, name).execute(job, on_progress=draw)
    _print_outcome(final)
    if final.status is not JobStatus.SUCCEEDED:
        raise typer.Exit(1)


def _print_outcome(job: Job) -> None:
    if job.status is JobStatus.SUCCEEDED:
        console.print(f"[green]job {job.id} {job.kind} succeeded[/]", highlight=False)
        console.print_json(data=dict(job.result or {}))
        return
    err_console.print(f"[bold red]job {job.id} {job.kind} {job.status.value}:[/]", highlight=False)
    err_console.print(job.error or job.message, markup=False, highlight=False)


@jobs_app.command("worker")
@user_errors
def worker(
    once: bool = typer.Option(
        False,
        "--once",
        help="Run the due jobs and the idle tasks until neither finds work, then exit (for cron).",
    ),
    name: str | None = typer.Option(
        None, help="Name in the job rows (default: worker:<host>:<pid>)."
    ),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between looks at an empty queue."),
    idle: bool = typer.Option(
        True,
        "--idle/--no-idle",
        help="Run the idle tasks (janitor, daily escalation, webhooks); --no-idle only runs jobs.",
    ),
) -> None:
    """Run jobs from the queue until Ctrl-C or SIGTERM (the job in hand runs to its end)."""
    if poll <= 0:
        fail("--poll is a number of seconds above 0")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    database = open_database()
    runner = Worker(
        database,
        config.vault(),
        name or default_name(),
        idle_tasks=composition.idle_tasks() if idle else (),
        poll_seconds=poll,
    )
    if once:
        count = runner.run_until_idle()
        console.print(f"worker {runner.name}: ran {count} job(s); the queue is empty")
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print(f"worker {runner.name} waiting for jobs (Ctrl-C stops it)")
    runner.run(stop)


@jobs_app.command("list")
@user_errors
def list_(
    book: str | None = BOOK_OPTION,
    limit: int = typer.Option(30, min=1, max=1000, help="How many, newest first."),
    as_user: str | None = AS_OPTION,
) -> None:
    """The book's jobs, newest first."""
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    with database.read() as conn:
        found = service.list_jobs(conn, actor, book_id, limit)
    table = Table(title="Jobs", box=box.SIMPLE_HEAD)
    for column in ("Id", "Kind", "Status", "Done", "Created (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("Message or error", ratio=1)
    for job in found:
        note = (
            (job.error or "").splitlines()[0]
            if job.status is JobStatus.FAILED and (job.error)
            else job.message
        )
        table.add_row(
            str(job.id),
            job.kind,
            job.status.value,
            _progress(job),
            job.created_at[5:16].replace("T", " "),
            note,
        )
    console.print(table)


def _progress(job: Job) -> str:
    return f"{job.progress_done}/{job.progress_total}" if job.progress_total else ""


@jobs_app.command("show")
@user_errors
def show(
    job_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The job's id."),
    book: str | None = typer.Option(
        None, "--book", "-b", help="Book code (default: the job's book)."
    ),
    as_user: str | None = AS_OPTION,
) -> None:
    """One job: its parameters, progress, result or error."""
    database = open_database()
    actor = resolve_actor(database, as_user)
    with database.read() as conn:
        book_id = resolve_book(database, book) if book else service.job_book(conn, job_id)
        job = service.get_job(conn, actor, book_id, job_id)
    for label, value in (
        ("job", job.id),
        ("kind", job.kind),
        ("status", job.status.value),
        ("params", json.dumps(dict(job.params))),
        ("progress", f"{_progress(job)} {job.message}".strip()),
        ("created", f"{job.created_at} by {job.created_by}"),
        ("attempts", job.attempts),
        ("worker", job.worker or ""),
        ("started", job.started_at or ""),
        ("finished", job.finished_at or ""),
    ):
        console.print(f"{label:>9} {value}", markup=False, highlight=False)
    if job.result is not None:
        console.print_json(data=dict(job.result))
    if job.error:
        err_console.print(job.error, markup=False, highlight=False)


@jobs_app.command("kinds")
def kinds() -> None:
    """The kinds of job there are, and the permission each needs."""
    for kind in job_kinds():
        console.print(
            f"[bold]{kind.code}[/]  {kind.label}  (needs {kind.permission.value})", highlight=False
        )
