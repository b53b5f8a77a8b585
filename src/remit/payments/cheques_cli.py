"""``remit payments run cheques RUN --out DIR``: a released run's cheque register (PDF) and
positive-pay file (CSV), written to a directory (``remit.payments.cheques``).

The lead wires it into ``runs_cli.run_app``: ``run_app.command("cheques")(cheques_command)``.
Both files are made before either is written, so a refusal writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.payments import cheques


@user_errors
def cheques_command(
    run_id: int = typer.Argument(..., help="The run's number.", min=1),
    out: Path = typer.Option(
        Path(), "--out", help="The directory the two files are written to.", file_okay=False
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Write a released run's cheque register (PDF) and positive-pay file (CSV)."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:  # the positive-pay file's read of the account is audited
        register = cheques.cheque_register(conn, actor, book_id, run_id)
        csv_data = cheques.positive_pay_csv(conn, actor, book_id, run_id)
    pdf_data = cheques.register_pdf(register)
    out.mkdir(parents=True, exist_ok=True)
    pdf_path, csv_path = out / f"cheques-run{run_id}.pdf", out / f"positive-pay-run{run_id}.csv"
    pdf_path.write_bytes(pdf_data)
    csv_path.write_bytes(csv_data)
    console.print(
        f"run {run_id}: {len(register.rows)} cheque(s); wrote {pdf_path} and {csv_path}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
