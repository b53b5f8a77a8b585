"""``remit payments returns FILE``: read a bank's feedback file and print its notices as JSON.

Offline, no store: the file is read by ``remit.formats.returns`` (a NACHA return file,
returned BACS credits, a pain.002 status report or a payer's confirmation feed) and printed
as ``{"format": ..., "notices": [...], "problems": [...]}``; exit 0, or 2 when the file has
problems (then no notices: all or nothing). docs/formats/payments-returns.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from remit.cliutil import BAD_INPUT
from remit.formats.returns import FeedbackFile, FeedbackProblem, read_feedback


def returns_command(
    path: Path = typer.Argument(..., help="The bank's feedback file."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="nacha | bacs-returns | pain.002 | confirmations (default: told from the bytes).",
    ),
) -> None:
    """Read returns, notifications of change, status reports or confirmations; print JSON."""
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
