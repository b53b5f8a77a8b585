"""``remit payments run remit RUN``: e-mail a released run's remittance advice to the payees,
through the ``payments.remittance`` job (``remit.payments.remittance_mail``).

The lead wires it into ``runs_cli.run_app``: ``run_app.command("remit")(remit_command)``.
By default the job runs here with a progress bar; ``--no-wait`` only queues it for a worker.
A second run sends no advice twice.
"""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

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
from remit.jobs import service as jobs
from remit.jobs.model import JobStatus
from remit.jobs.worker import Worker, default_name
from remit.payments import remittance_mail


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@user_errors
def remit_command(
    run_id: int = typer.Argument(..., help="The run's number.", min=1),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Send here with a progress bar (default), or queue it."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """E-mail each payee of a released run its remittance advice (PDF attached), once."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    vault = load_vault() if wait else None
    name = default_name("cli")
    with database.write() as conn:
        job_id = remittance_mail.queue_remittances(conn, actor, book_id, run_id)
        job = jobs.claim_job(conn, job_id, name) if wait else None
    if job is None or vault is None:
        _say(f"job {job_id} queued; a worker (`remit jobs worker`) will send the advice")
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"),
        console=console,
    ) as bar:
        task = bar.add_task(f"run {run_id} remittance", total=None, message="")

        def draw(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total or None, message=message)

        final = Worker(database, vault, name).execute(job, on_progress=draw)
    if final.status is not JobStatus.SUCCEEDED:
        _say(f"job {job_id} failed: {final.error or final.message}")
        raise typer.Exit(1)
    result = dict(final.result or {})
    _say(
        f"run {run_id}: {len(result['sent'])} advice(s) e-mailed, "
        f"{result['already_sent']} sent before, {len(result['no_address'])} with no address"
    )
    for missing in result["no_address"]:
        _say(f"no address: {missing['payment']} {missing['payee']} {missing['name']}")
