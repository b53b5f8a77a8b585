"""One-time form tokens: a form that creates something is sent once, however often it is
submitted (a double click, a reload, a second tab).

A page renders ``{{ once_token() }}`` inside the form: a hidden input with a fresh random
token. The route spends the token in the same transaction as what the form creates, after
creating it (``spend``, with where it leads), having checked before creating that it was
not spent already (``replay_if_spent``). A second submit of the same token finds it
spent: ``spend`` raises ``Replayed``, the second creation rolls back, and the route sends
the user where the first led, with the words "already done" (``already_done``). A failed
submit rolls back with its transaction, token and all, so the corrected form may be sent
with the same token. A form with no token is refused in words: scripts use the API, whose
POSTs take an Idempotency-Key instead. A form that posts and carries no token is a state
change a second submit cannot repeat, listed with its reason in
``tests/test_form_token_walk.py``, which fails on any other.

    try:
        with ctx.db.write() as conn:
            forms.replay_if_spent(conn, ctx, once, "care.adjustment")
            payables.request_adjustment(conn, ...)
            target = forms.spend(conn, ctx, once, "care.adjustment", run_page)
    except forms.Replayed as replay:
        return forms.already_done(replay.target)
    return RedirectResponse(target, status_code=303)
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

from fastapi import Form
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from sqlalchemy import Connection, and_, insert, select
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.errors import Problem, ValidationFailed
from remit.web.store import form_submissions

if TYPE_CHECKING:
    from remit.web.deps import Ctx

FIELD = "once"
TOKEN_BYTES = 24  # 32 characters of URL-safe text
TOKEN_MAX = 64  # the column's width
ALREADY = "already=1"
MISSING = (
    "this form was sent without its one-time token: reload the page and send it again "
    "(scripts use the API)"
)

# The route's form field (``once: Once = ""``).
Once = Annotated[str, Form(alias=FIELD)]


def new_token() -> str:
    """A fresh random token (never the same twice).

    >>> len(new_token()), new_token() != new_token()
    (32, True)
    """
    return secrets.token_urlsafe(TOKEN_BYTES)


def once_token() -> Markup:
    """The hidden input a form that creates something carries (a Jinja global)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, new_token())


def token_problem(token: str) -> Problem | None:
    """What is wrong with a submitted token, if anything.

    >>> token_problem("") is not None, token_problem("x" * 65) is not None
    (True, True)
    >>> token_problem(new_token()) is None
    True
    """
    if not token.strip():
        return Problem(FIELD, MISSING, "once_token")
    if len(token) > TOKEN_MAX or not token.isascii() or not token.isprintable():
        return Problem(FIELD, "this form's one-time token is not one remit made", "once_token")
    return None


class Replayed(Exception):
    """The form's token was spent before: the transaction rolls back, and the user goes
    to ``target``, where the first submit led."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def replay_if_spent(conn: Connection, ctx: Ctx, token: str, form: str) -> None:
    """Before creating: a token spent before raises ``Replayed`` at once, so that a second
    submit answers what the first did even where creating again would be refused (a bank
    change already waiting). A missing or odd token is left to ``spend``, after the form's
    own problems."""
    if token_problem(token) is None and (first := _first(conn, ctx.book_id, token)):
        username, first_form, result = first
        if username == ctx.actor.username and first_form == form[:64]:
            raise Replayed(result or "/")


def spend(conn: Connection, ctx: Ctx, token: str, form: str, target: str) -> str:
    """Spend the form's token in the transaction of what it created, after the creating
    (so that the form's own problems and permissions answer first), recording where it
    leads; returns ``target``. A token spent before raises ``Replayed`` with where the
    first submit led, which rolls the second creation back. A missing token, another
    user's or another form's, is refused (and rolls back too)."""
    problem = token_problem(token)
    if problem is not None:
        raise ValidationFailed([problem])
    first = _first(conn, ctx.book_id, token)
    if first is None:
        try:
            with conn.begin_nested():  # a concurrent submit of the same token loses here
                conn.execute(
                    insert(form_submissions).values(
                        book_id=ctx.book_id,
                        username=ctx.actor.username,
                        token=token,
                        form=form[:64],
                        result=target[:2000],
                        created_at=audit.utc_now_text(),
                    )
                )
            return target
        except IntegrityError:
            first = _first(conn, ctx.book_id, token)
            if first is None:
                raise
    username, first_form, result = first
    if username != ctx.actor.username or first_form != form[:64]:
        raise ValidationFailed(
            [Problem(FIELD, "this form's one-time token belongs to another form", "once_token")]
        )
    raise Replayed(result or "/")


def _first(conn: Connection, book_id: int, token: str) -> tuple[str, str, str] | None:
    f = form_submissions.c
    row = conn.execute(
        select(f.username, f.form, f.result).where(and_(f.book_id == book_id, f.token == token))
    ).first()
    return None if row is None else (str(row.username), str(row.form), str(row.result))


def already_done(target: str) -> RedirectResponse:
    """Back to where the first submit led, saying it was already done.

    >>> already_done("/b/x/care/runs/3").headers["location"]
    '/b/x/care/runs/3?already=1'
    >>> already_done("/b/x/cases?assigned=2").headers["location"]
    '/b/x/cases?assigned=2&already=1'
    >>> already_done("/b/x/care/runs/3#adjustments").headers["location"]
    '/b/x/care/runs/3?already=1#adjustments'
    """
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    path, hash_, fragment = target.partition("#")
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}{ALREADY}{hash_}{fragment}", status_code=303)
