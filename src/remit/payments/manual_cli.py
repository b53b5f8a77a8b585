"""``remit payments manual record|approve|reject|reconcile|list``: payments made outside
remit, through ``remit.payments.manual`` (the four eyes, the checks and the postings live
there). The lead mounts ``manual_app`` under ``remit payments``.

``--item ID:AMOUNT`` names an open item the payment covered and the part paid of it (in the
payment's currency, ``125.50``); ``--item ID`` alone is the item's whole open amount. With no
``--item`` the payment is a one-off (an advance the provider owes back).
"""

from __future__ import annotations

import json
from typing import Any

import typer

from remit.calendar import locale_of
from remit.cliutil import (
    AS_OPTION,
    BOOK_OPTION,
    console,
    open_database,
    resolve_actor,
    resolve_book,
    user_errors,
)
from remit.errors import Problem, ValidationFailed
from remit.formats import offline
from remit.ledger import items as open_items
from remit.ledger import service as ledger_service
from remit.money import Money, format_money, parse_money
from remit.parties import service as parties_service
from remit.payments import manual, manual_list
from remit.payments.model import MANUAL_METHODS, ManualLine, ManualPayment, NewManualPayment

manual_app = typer.Typer(
    help="Payments made outside remit: record, approve (someone else), reconcile.",
    no_args_is_help=True,
)
ID_ARGUMENT = typer.Argument(..., help="The manual payment's number (M12 or 12).")


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _money(minor: int, currency: str, locale: str) -> str:
    return format_money(Money(minor, currency), locale)


def _id(value: str) -> int:
    text = value.strip().upper().removeprefix("M")
    if not text.isdigit():
        raise ValidationFailed([Problem("id", f"{value!r} is not a manual payment number", "id")])
    return int(text)


def _amount(text: str, currency: str, field: str) -> int:
    try:
        return parse_money(text.strip(), currency).amount_minor
    except ValidationFailed as exc:
        raise ValidationFailed([Problem(field, p.message, p.check) for p in exc.problems]) from None


def _lines(conn: Any, book_id: int, given: list[str], currency: str) -> tuple[ManualLine, ...]:
    problems, lines = [], []
    for n, text in enumerate(given, start=1):
        item, _, part = text.partition(":")
        if not item.strip().isdigit():
            message = f"{text!r}: an item is ID or ID:AMOUNT"
            problems.append(Problem(f"--item {n}", message, "item"))
            continue
        item_id = int(item)
        if part.strip():
            lines.append(ManualLine(item_id, _amount(part, currency, f"--item {n}")))
            continue
        facts = open_items.item_facts(conn, book_id, [item_id])
        whole = -facts[item_id].open_minor if item_id in facts else 0
        lines.append(ManualLine(item_id, whole))  # the service names what is wrong with it
    if problems:
        raise ValidationFailed(problems)
    return tuple(lines)


def _summary(m: ManualPayment, locale: str) -> str:
    items = f", {len(m.lines)} item(s)" if m.lines else ""
    return (
        f"M{m.id} v{m.version}: {m.status.value} {m.kind.value}, "
        f"{_money(m.amount_minor, m.currency, locale)} paid {m.paid_on.isoformat()} by "
        f"{m.method} ({m.bank_reference}){items}; recorded by {m.recorded_by}"
    )


@manual_app.command("record")
@user_errors
def record_command(
    provider: str = typer.Option(..., "--provider", help="The payee's ref."),
    paid_on: str = typer.Option(..., "--paid-on", help="YYYY-MM-DD: the day it was paid."),
    method: str = typer.Option(..., "--method", help=" | ".join(MANUAL_METHODS)),
    reference: str = typer.Option(..., "--reference", help="The bank's reference."),
    item: list[str] = typer.Option([], "--item", help="ID or ID:AMOUNT, once per item."),
    amount: str | None = typer.Option(None, "--amount", help="Total paid (default: the items')."),
    currency: str | None = typer.Option(None, "--currency", help="Default: the book's."),
    house_account: str = typer.Option("", "--from", help="The book's account it left (code)."),
    note: str = typer.Option("", "--note", help="Why (up to 500 characters)."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Record a payment made outside remit; it waits for someone else's approval."""
    day = offline.parse_date(paid_on, "--paid-on")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        code = currency or str(ledger_service.get_book(conn, book_id)["base_currency"])
        lines = _lines(conn, book_id, item, code)
        if amount is None and not lines:
            raise ValidationFailed(
                [Problem("--amount", "a one-off payment (no --item) needs its amount", "required")]
            )
        total = (
            sum(x.amount_minor for x in lines)
            if amount is None
            else _amount(amount, code, "--amount")
        )
        spec = NewManualPayment(
            party_id=parties_service.party_id_for(conn, book_id, provider),
            amount_minor=total,
            currency=code,
            paid_on=day,
            method=method,
            bank_reference=reference,
            note=note,
            lines=lines,
            house_account=house_account,
        )
        done = manual.record_manual_payment(conn, actor, book_id, spec)
        locale = locale_of(code)
    _say(f"recorded {_summary(done, locale)}")


@manual_app.command("approve")
@user_errors
def approve_command(
    manual_id: str = ID_ARGUMENT, book: str | None = BOOK_OPTION, as_user: str | None = AS_OPTION
) -> None:
    """Approve a manual payment someone else recorded: it is posted, its items settled."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = manual.get_manual_payment(conn, actor, book_id, _id(manual_id))
        done = manual.approve_manual_payment(conn, actor, book_id, seen.id, version=seen.version)
    _say(f"approved by {actor.username}: {_summary(done, locale_of(done.currency))}")


@manual_app.command("reject")
@user_errors
def reject_command(
    manual_id: str = ID_ARGUMENT,
    reason: str = typer.Option(..., "--reason", help="Why it is rejected."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Reject a pending manual payment: nothing is posted, its items are free again."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = manual.get_manual_payment(conn, actor, book_id, _id(manual_id))
        done = manual.reject_manual_payment(
            conn, actor, book_id, seen.id, version=seen.version, reason=reason
        )
    _say(f"rejected: {_summary(done, locale_of(done.currency))}")


@manual_app.command("reconcile")
@user_errors
def reconcile_command(
    manual_id: str = ID_ARGUMENT,
    reference: str = typer.Option(..., "--reference", help="The reference on the statement."),
    on: str = typer.Option(..., "--on", help="YYYY-MM-DD: the statement's day."),
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
) -> None:
    """Mark an approved manual payment as seen on the bank statement."""
    day = offline.parse_date(on, "--on")
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.write() as conn:
        seen = manual.get_manual_payment(conn, actor, book_id, _id(manual_id))
        done = manual.reconcile_manual_payment(
            conn,
            actor,
            book_id,
            seen.id,
            version=seen.version,
            statement_reference=reference,
            reconciled_on=day,
        )
    _say(f"reconciled: {_summary(done, locale_of(done.currency))}")


@manual_app.command("list")
@user_errors
def list_command(
    book: str | None = BOOK_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Suspended and manual payments not yet reconciled, oldest first."""
    database = open_database()
    actor, book_id = resolve_actor(database, as_user), resolve_book(database, book)
    with database.read() as conn:
        found = manual_list.outstanding(conn, actor, book_id)
    if as_json:
        shown = [
            {
                "kind": o.kind,
                "ref": o.ref,
                "party_id": o.party_id,
                "currency": o.currency,
                "amount_minor": o.amount_minor,
                "since": o.since.isoformat(),
                "status": o.status,
                "detail": o.detail,
            }
            for o in found
        ]
        print(json.dumps(shown, indent=2))
        return
    if not found:
        _say("nothing suspended or waiting to be reconciled")
    for o in found:
        amount = _money(o.amount_minor, o.currency, locale_of(o.currency))
        _say(f"{o.since.isoformat()} {o.kind} {o.ref} {o.status}: {amount} - {o.detail}")
