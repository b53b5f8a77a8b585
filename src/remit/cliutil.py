"""What every ``remit`` sub-command shares: the store, the actor, and how errors are shown.

A user's mistake (bad input, a forbidden action, a conflict) prints every problem and exits
with code 2, having written nothing; the program's own fault prints one line, leaves its
traceback in the log (REMIT_LOG_FILE, default var/remit-cli.log) and exits with code 3.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from remit.access.model import Actor
from remit.access.service import actor_for
from remit.db import Database, database_url, schema_revision
from remit.errors import Problem, RemitError, ValidationFailed
from remit.ledger.service import book_id_for, list_books

P = ParamSpec("P")
R = TypeVar("R")
console = Console()
err_console = Console(stderr=True)
BAD_INPUT = 2
FAULT = 3
log = logging.getLogger("remit.cli")


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(BAD_INPUT)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``RemitError`` into a clear message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            err_console.print(
                f"[bold red]error:[/] {len(exc.problems)} problem(s); nothing was written",
                highlight=False,
            )
            for problem in exc.problems:
                err_console.print(f"  - {problem}", highlight=False, markup=False)
            raise typer.Exit(BAD_INPUT) from None
        except RemitError as exc:
            fail(str(exc) or type(exc).__name__)

    return wrapper


def run_cli(app: Callable[..., Any]) -> NoReturn:
    """Run the Typer ``app`` so that no traceback reaches the user: a ``RemitError`` that
    escaped a command is bad input (exit 2); a usage error is said as the parser says it;
    anything else is logged with its traceback and said in one line (exit 3)."""
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except RemitError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False)
        raise SystemExit(BAD_INPUT) from None
    except Exception as exc:  # noqa: BLE001 - the last guard: no traceback for users
        if callable(getattr(exc, "show", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            exc.show()  # type: ignore[attr-defined] # a usage error, said by the parser
            raise SystemExit(exc.exit_code) from None  # type: ignore[attr-defined]
        if type(exc).__name__ == "Abort":  # Ctrl-C at a prompt
            raise SystemExit(1) from None
        _log_fault(exc)
        raise SystemExit(FAULT) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _log_fault(exc: BaseException) -> None:
    """One line for the user; the traceback to the log file."""
    path = os.environ.get("REMIT_LOG_FILE") or os.path.join("var", "remit-cli.log")
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        path, handler = "standard error", logging.StreamHandler()
    log.addHandler(handler)
    log.error("remit failed", exc_info=exc)
    log.removeHandler(handler)
    handler.close()
    err_console.print(
        f"remit failed unexpectedly ({type(exc).__name__}); the details are in {path}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def open_database(must_exist: bool = True) -> Database:
    database = Database(database_url())
    if must_exist and schema_revision(database.engine) is None:
        fail(f"no remit book at {database.url}: run `remit init` first")
    return database


def resolve_actor(database: Database, username: str | None) -> Actor:
    """The named user (``--as`` or REMIT_USER), else the installation itself."""
    username = username or os.environ.get("REMIT_USER") or None
    if not username:
        return Actor.system("cli")
    with database.read() as conn:
        return actor_for(conn, username)


def resolve_book(database: Database, code: str | None) -> int:
    """The book by code; with no code, the only book there is."""
    with database.read() as conn:
        if code:
            return book_id_for(conn, code)
        found = list_books(conn)
    if len(found) != 1:
        fail(
            "say which book with --book CODE (there are "
            f"{len(found)}: {', '.join(b['code'] for b in found)})"
        )
    return int(found[0]["id"])


AS_OPTION: Any = typer.Option(
    None, "--as", help="Act as this user (default: REMIT_USER, else the installation itself)."
)
BOOK_OPTION: Any = typer.Option(None, "--book", "-b", help="Book code (default: the only book).")


def replace_all(targets: dict[Path, bytes]) -> None:
    """Write each target through a temporary file beside it, renaming only when all are
    written (a failure leaves no target touched): every command that writes files."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in targets.items():
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            staged.append((temporary, target))
            with os.fdopen(handle, "wb") as out:
                out.write(data)
        for temporary, target in staged:
            os.replace(temporary, target)
        staged.clear()
    finally:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)


def read_file(path: Path, name: str) -> bytes:
    """A file a command reads, or ValidationFailed naming it (``name``) when it cannot be."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(
            [Problem("file", f"cannot be read: {exc.strerror or exc}", "unreadable", source=name)]
        ) from None
