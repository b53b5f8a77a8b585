"""The ``remit`` command: set-up, the web server, demo data, and each package's commands."""

from __future__ import annotations

import os
import sys
import threading

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from remit import composition, config, demo
from remit.access.cli import token_app
from remit.access.model import Role
from remit.access.service import add_user
from remit.care.cli import care_app
from remit.childcare.cli import childcare_app
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    fail,
    open_database,
    resolve_actor,
    resolve_book,
    run_cli,
    user_errors,
)
from remit.db import database_url
from remit.jobs.cli import jobs_app
from remit.jobs.worker import Worker
from remit.ledger.cli import audit_app, ledger_app
from remit.ledger.service import list_books
from remit.payments.cli import check_command, payments_app
from remit.secrets import KEY_ENV, KEY_FILE_ENV, create_key_file

app = typer.Typer(
    help="remit: pay providers, collect money, one ledger under everything.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
demo_app = typer.Typer(help="The demo organisation.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
app.add_typer(jobs_app, name="jobs")
app.add_typer(care_app, name="care")
app.add_typer(childcare_app, name="childcare")
app.add_typer(token_app, name="token")
app.add_typer(payments_app, name="payments")
app.command("check")(check_command)
composition.register_all()  # the one composition root fills the registries before any command


@app.command()
@user_errors
def init() -> None:
    """Create the store (or bring it to the newest schema) and the encryption key."""
    key_configured = os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV)
    if not key_configured and not config.DEFAULT_KEY_FILE.exists():
        config.DEFAULT_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        create_key_file(config.DEFAULT_KEY_FILE)
        console.print(
            f"created the encryption key {config.DEFAULT_KEY_FILE} (mode 0600); "
            "back it up: bank details cannot be read without it"
        )
    config.vault()  # fail now, not later, if the key is unusable
    database = open_database(must_exist=False)
    database.migrate()
    console.print(f"store ready at {database.engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="Run a background-job worker in this process."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Web server processes (one answers about 100 pages a second; give one per core).",
    ),
) -> None:
    """Serve the web app (and, by default, a worker for background jobs)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from remit.cases.mail import MailSettingsInvalid, mailer_from_env  # noqa: PLC0415

    open_database()
    try:
        mailer_from_env()  # a wrong e-mail setting is said now, not when a letter is sent
        proxies = config.trusted_proxies()
    except (MailSettingsInvalid, ValueError) as exc:
        fail(str(exc))
    console.print(f"remit on http://{host}:{port}  (store: {database_url()})")
    stop = _start_worker() if worker else None
    try:
        uvicorn.run(
            "remit.web.app:create_served_app",
            factory=True,
            host=host,
            port=port,
            log_level="info",
            workers=workers,
            # X-Forwarded-For/-Proto only from the proxies named in REMIT_TRUSTED_PROXIES
            proxy_headers=bool(proxies),
            forwarded_allow_ips=list(proxies) or None,
        )
    finally:
        if stop is not None:
            stop.set()


def _start_worker() -> threading.Event | None:
    """A job worker thread beside the web server (the embedded, one-process set-up)."""
    stop = threading.Event()
    runner = Worker(
        open_database(), config.vault(), f"serve-{os.getpid()}", idle_tasks=composition.idle_tasks()
    )
    threading.Thread(target=runner.run, args=(stop,), name="remit-worker", daemon=True).start()
    return stop


@demo_app.command("seed")
@user_errors
def demo_seed(
    scale: str = typer.Option("small", help="small, medium or large."),
    seed: int = typer.Option(42, min=0, max=2**32 - 1, help="Same seed, same data."),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing when the store has a book."
    ),
) -> None:
    """Create the demo organisation (a UK council and a Californian payment agency)."""
    if scale not in demo.SCALES:
        fail(f"--scale is one of {', '.join(demo.SCALES)}")
    database = open_database()
    with database.read() as conn:
        books = list_books(conn)
    if books:
        if if_empty:
            console.print(f"the store already has {len(books)} book(s); demo not seeded")
            return
        fail("the store already has books; the demo goes into an empty store")
    vault = config.vault()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def tick(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)  # type: ignore[arg-type]

        counts = demo.seed(database, vault, scale, seed, tick)
    for code, entries in counts.items():
        console.print(f"book [bold]{code}[/]: {entries} entries")
    names = (
        "|".join(n for n, _ in demo.DEMO_USERS) + "|" + "|".join(n for n, *_ in demo.PORTAL_USERS)
    )
    console.print(
        f"demo users: {names} @riverside or @valley-app (for example "
        f"demo-clerk@riverside), password {demo.DEMO_PASSWORD} (demo only)",
        highlight=False,
        soft_wrap=True,
    )


@user_app.command("add")
@user_errors
def user_add(
    username: str = typer.Argument(..., help="Login name (lower case)."),
    role: list[str] = typer.Option(
        ..., "--role", "-r", help="Role in the book; repeat for several."
    ),
    book: str | None = BOOK_OPTION,
    display_name: str = typer.Option("", help="Name shown in the app."),
    email: str = typer.Option("", help="E-mail address."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
    as_user: str | None = AS_OPTION,
) -> None:
    """Add a user with roles in a book. The password is prompted for (or read from stdin)."""
    roles = []
    for name in role:
        try:
            roles.append(Role(name))
        except ValueError:
            fail(f"unknown role {name!r}; roles are {', '.join(r.value for r in Role)}")
    database = open_database()
    actor = resolve_actor(database, as_user)
    book_id = resolve_book(database, book)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with database.write() as conn:
        user_id = add_user(
            conn, actor, username, password, display_name, email, [(book_id, r) for r in roles]
        )
    console.print(f"user {username} added (id {user_id}) with {', '.join(roles)}")


def main() -> None:
    """The ``remit`` program: the commands, with errors said in a line (``run_cli``)."""
    run_cli(app)


if __name__ == "__main__":
    main()
