"""``remit payments returns FILE --apply``: apply a bank's feedback file to the book.

Through ``remit.payments.feedback`` (one transaction, all or nothing): returns re-open the
payments' items and open a case each, confirmations settle, notifications of change propose
the corrected bank details for a second person's approval. A file with problems prints every
one with its line (or xpath) and field and exits 2, having written nothing; the same file
applied again changes nothing and says when it was first applied.
"""

from __future__ import annotations

from pathlib import Path

import typer

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
from remit.config import vault as load_vault
from remit.formats import offline
from remit.ledger import service as ledger_service
from remit.payments.feedback import Applied, apply_feedback


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _listed(label: str, values: tuple[object, ...]) -> str | None:
    return f"{label}: {', '.join(str(v) for v in values)}" if values else None


def summary(applied: Applied) -> list[str]:
    """The lines printed for an applied (or replayed) file.

    >>> done = Applied("bacs-returns", "ab" * 32, {"return": 2}, returned=("R1-1", "R1-2"),
    ...                cases_opened=(7, 8))
    >>> summary(done)
    ['bacs-returns file abababababab…: 2 return', 'returned: R1-1, R1-2', 'cases opened: 7, 8']
    """
    counts = ", ".join(f"{n} {kind}" for kind, n in applied.counts.items())
    head = f"{applied.format} file {applied.sha256[:12]}…: {counts}"
    if applied.replay:
        return [
            f"{head}; already applied at {applied.first_applied_at} by "
            f"{applied.first_applied_by}: nothing changed"
        ]
    lines = [
        _listed("returned", applied.returned),
        _listed("settled", applied.settled),
        _listed("noted only", applied.noted),
        _listed("told before, unchanged", applied.unchanged),
        _listed("cases opened", applied.cases_opened),
        _listed("bank-detail changes waiting for a second person's approval", applied.bank_changes),
    ]
    return [head, *(line for line in lines if line)]


@user_errors
def feedback_apply_command(
    path: Path = typer.Argument(..., help="The bank's feedback file."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="nacha | bacs-returns | pain.002 | confirmations (default: told from the bytes).",
    ),
    on: str | None = typer.Option(
        None, "--on", help="YYYY-MM-DD: the day the file came (default: the book's today)."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Apply returns, status reports, confirmations or changes to the book's payments."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    day = offline.parse_date(on, "--on") if on else None
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        received = day or ledger_service.book_today(conn, book_id)
        applied = apply_feedback(
            conn, actor, load_vault(), book_id, data, kind=kind, received_on=received
        )
    for line in summary(applied):
        _say(line)
