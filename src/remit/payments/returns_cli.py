"""``remit payments returns FILE [--apply]``: read a bank's feedback file and print its
notices as JSON, or (``--apply``) apply them to the book's payments.

Without ``--apply`` it is offline, no store: the file is read by ``remit.formats.returns``
(a NACHA return file, returned BACS credits, a pain.002 status report or a payer's
confirmation feed) and printed as ``{"format": ..., "notices": [...], "problems": [...]}``;
exit 0, or 2 when the file has problems (then no notices: all or nothing).
docs/formats/payments-returns.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from remit.cliutil import AS_OPTION, BAD_INPUT, BOOK_OPTION
from remit.formats.returns import FeedbackFile, FeedbackProblem, read_feedback
from remit.payments.feedback_cli import feedback_apply_command


def returns_command(
    path: Path = typer.Argument(..., help="The bank's feedback file."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="nacha | bacs-returns | pain.002 | confirmations (default: told from the bytes).",
    ),
    apply: bool = typer.Option(
        False, "--apply", help="Apply it to the book's payments (else only read and print)."
    ),
    on: str | None = typer.Option(
        None, "--on", help="With --apply: the day the file came (default: the book's today)."
    ),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Read returns, notifications of change, status reports or confirmations and print
    JSON; with --apply, apply them to the book's payments (all or nothing)."""
    if apply:
        feedback_apply_command(path, kind, on, book, as_user)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = FeedbackProblem(
            "file", "unreadable", f"cannot read {path}: {exc.strerror or exc}"
        )
        result = FeedbackFile(None, (), (problem,))
    else:
        result = read_feedback(data, kind=kind)
    print(json.dumps(result.as_json(), ensure_ascii=False))
    raise typer.Exit(BAD_INPUT if result.problems else 0)
