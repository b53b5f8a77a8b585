"""``remit token ...``: API tokens for scripts, made from the command line."""

from __future__ import annotations

from typing import Any

import typer

from remit.access import tokens
from remit.access.service import actor_for
from remit.cliutil import (
    AS_OPTION,
    err_console,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)

token_app = typer.Typer(help="API tokens of a book.", no_args_is_help=True)

SCOPE_OPTION: Any = typer.Option(
    ...,
    "--scope",
    "-s",
    help=f"What the token may do; repeat for several. Scopes: {', '.join(tokens.SCOPES)}.",
)


@token_app.command("create")
@user_errors
def token_create(
    book: str = typer.Option(..., "--book", "-b", help="Book code: the token works there only."),
    user: str = typer.Option(
        ..., "--user", "-u", help="The staff user of the book the token acts for."
    ),
    scope: list[str] = SCOPE_OPTION,
    expires_days: int | None = typer.Option(
        90, "--expires-days", min=1, max=366, help="Days until it expires (1 to 366)."
    ),
    name: str = typer.Option("", "--name", help="What the token is for (default: cli-USER)."),
    as_user: str | None = AS_OPTION,
) -> None:
    """Make an API token and print it once, alone on standard output (it is never shown
    again: only its hash is stored). For example:

        TOKEN=$(remit token create --book riverside --user reports --scope ledger:read)
    """
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    with database.write() as conn:
        owner = actor_for(conn, user)
        issued = tokens.issue_token(
            conn,
            actor,
            book_id,
            name or f"cli-{user}"[:100],
            scope,
            expires_in_days=expires_days,
            user_id=owner.user_id,
        )
    err_console.print(
        f"token {issued.prefix} (id {issued.id}) for {user} in {book}: "
        f"{', '.join(sorted(set(scope)))}; copy it now, it is not shown again",
        highlight=False,
    )
    typer.echo(issued.token)
