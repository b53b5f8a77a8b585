"""Correspondence with parties: calls logged, letters issued as PDF, e-mails sent over SMTP.

Every item is kept as it went out: a letter's PDF as a stored file (also attached as a
document of the item, for download), an e-mail's exact MIME message in ``raw_message``.
Templates, their channels and the context they need are the catalogue ``TEMPLATES`` (see
``remit.cases.letters``). Each change is audited and announced to webhooks as
``correspondence.sent`` (a logged call, an issued letter, an e-mail the server accepted).

An e-mail is never sent inside a database transaction. ``status`` keeps to
logged | sent | failed, so an e-mail goes through three steps:

1. one write transaction checks and renders it, builds the message and stores the row as
   ``failed`` with the error ``NOT_SENT_YET``, with its Message-ID and exact bytes;
2. with no transaction open, the mailer hands those bytes to the SMTP server;
3. a second write transaction marks it ``sent`` (with ``sent_at``) or ``failed`` with the
   server's answer.

If the process dies between steps, the row says plainly that it was not confirmed sent, and
its Message-ID lets an officer check the mail server's log before sending again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.cases import letters, mail
from remit.cases.letters import Rendered
from remit.cases.store import cases, correspondence
from remit.db import Database, insert_id
from remit.documents import service as documents
from remit.errors import NotFound, Problem, ValidationFailed
from remit.events.service import emit
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.text import text_problem

CALL, EMAIL, LETTER = "call", "email", "letter"
DIRECTIONS = ("in", "out")
LOGGED, SENT, FAILED = "logged", "sent", "failed"
NOT_SENT_YET = (
    "not sent yet: the SMTP server has not confirmed it (if this stays, look for "
    "the Message-ID in the mail server's log before sending again)"
)
MAX_NOTES = 20_000
MAX_PAGE = 200
_LIMITS = (("subject", 300), ("recipient", 500))  # the columns' lengths
_LISTED = (
    "id",
    "party_id",
    "case_id",
    "channel",
    "direction",
    "status",
    "template",
    "locale",
    "recipient",
    "subject",
    "file_id",
    "message_id",
    "error",
    "created_by",
    "created_at",
    "sent_at",
)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A rendered item and whom it goes to, checked and ready to store."""

    locale: str
    rendered: Rendered
    recipient: str  # as stored: an address block, or "Name <address>"
    to_address: str  # e-mail only
    to_name: str
    book_name: str


# ---------------------------------------------------------------- calls


def log_call(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    direction: str,
    subject: str,
    notes: str,
    case_id: int | None = None,
) -> int:
    """Record a phone call with a party (``in``: they called; ``out``: we called)."""
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    parties.get_party(conn, actor, book_id, party_id)
    problems = _case_problems(_case(conn, book_id, case_id), case_id, party_id)
    if direction not in DIRECTIONS:
        problems.append(
            Problem(
                "direction", "in (the party called us) or out (we called the party)", "direction"
            )
        )
    title = " ".join(subject.split())
    if not title:
        problems.append(Problem("subject", f"1 to {letters.MAX_TEXT} characters", "required"))
    problems += [
        p
        for p in (
            text_problem(title, "subject", max_chars=letters.MAX_TEXT),
            text_problem(notes, "notes", max_chars=MAX_NOTES, multiline=True),
        )
        if p is not None
    ]
    if problems:
        raise ValidationFailed(problems)
    item_id = _insert(
        conn,
        actor,
        book_id,
        party_id,
        case_id,
        channel=CALL,
        direction=direction,
        status=LOGGED,
        subject=title,
        body=notes.strip(),
    )
    _announce(conn, actor, book_id, item_id, "correspondence.call")
    return item_id


# ---------------------------------------------------------------- letters and e-mails


def preview(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    template: str,
    channel: str,
    locale: str,
    context: Mapping[str, Any],
    case_id: int | None = None,
    to: str | None = None,
) -> Rendered:
    """What a letter or e-mail would say, with the same checks as sending; stores nothing."""
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    return _compose(
        conn, actor, book_id, party_id, template, channel, locale, context, case_id, to
    ).rendered


def issue_letter(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    template: str,
    locale: str,
    context: Mapping[str, Any],
    case_id: int | None = None,
) -> int:
    """Render a letter to the party's postal address, keep its PDF, record it as issued."""
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    draft = _compose(
        conn, actor, book_id, party_id, template, LETTER, locale, context, case_id, None
    )
    pdf = letters.to_pdf(draft.rendered.html)
    file_id = documents.store_file(conn, book_id, f"letter-{template}.pdf", pdf)
    item_id = _insert(
        conn,
        actor,
        book_id,
        party_id,
        case_id,
        channel=LETTER,
        direction="out",
        status=SENT,
        template=template,
        locale=draft.locale,
        recipient=draft.recipient,
        subject=draft.rendered.subject,
        body=draft.rendered.text,
        file_id=file_id,
        sent_at=audit.utc_now_text(),
    )
    documents.attach(
        conn,
        actor,
        book_id,
        "correspondence",
        item_id,
        f"letter-{item_id}.pdf",
        pdf,
        title=draft.rendered.subject,
        kind="letter",
    )
    _announce(conn, actor, book_id, item_id, "correspondence.letter")
    return item_id


def send_email(
    database: Database,
    actor: Actor,
    book_id: int,
    party_id: int,
    template: str,
    locale: str,
    context: Mapping[str, Any],
    mailer: mail.Mailer | None,
    case_id: int | None = None,
    to: str | None = None,
    on_kept: Callable[[Connection, int], object] | None = None,
    attachments: Sequence[mail.Attachment] = (),
) -> int:
    """Send an e-mail to the party (its first contact's address, or ``to``) and keep it.

    Returns the item's id whether the server accepted it or not: its ``status`` says which
    (``sent``, or ``failed`` with the server's answer in ``error``). Input that cannot be
    sent (no address, a missing field, no SMTP set up) is refused and nothing is stored.
    ``on_kept(conn, item_id)`` runs in the transaction that keeps the item, before it is
    sent: an exception there keeps and sends nothing (a page spends its one-time token).
    ``attachments`` go with the message (and so into the kept ``raw_message``).
    """
    require(actor, book_id, Permission.CORRESPONDENCE_SEND)
    if mailer is None:
        raise ValidationFailed(
            [
                Problem(
                    "email",
                    "e-mail is not set up on this installation (REMIT_SMTP_HOST and "
                    "REMIT_SMTP_FROM); send a letter instead or ask an administrator",
                    "smtp_not_configured",
                )
            ]
        )
    with database.write() as conn:
        item_id, message = _store_email(
            conn,
            actor,
            book_id,
            party_id,
            template,
            locale,
            context,
            mailer.sender,
            case_id,
            to,
            attachments,
        )
        if on_kept is not None:
            on_kept(conn, item_id)
    error: str | None = None
    try:
        mailer.send(message)
    except mail.SendFailed as failure:
        error = str(failure) or "the SMTP server refused the message"
    with database.write() as conn:
        _settle_email(conn, actor, book_id, item_id, error)
    return item_id


def _store_email(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    template: str,
    locale: str,
    context: Mapping[str, Any],
    sender: str,
    case_id: int | None,
    to: str | None,
    attachments: Sequence[mail.Attachment] = (),
) -> tuple[int, EmailMessage]:
    draft = _compose(conn, actor, book_id, party_id, template, EMAIL, locale, context, case_id, to)
    text = draft.rendered
    message = mail.build_message(
        sender,
        draft.book_name,
        draft.to_address,
        draft.to_name,
        text.subject,
        text.text,
        text.html,
        attachments,
    )
    item_id = _insert(
        conn,
        actor,
        book_id,
        party_id,
        case_id,
        channel=EMAIL,
        direction="out",
        status=FAILED,
        error=NOT_SENT_YET,
        template=template,
        locale=draft.locale,
        recipient=draft.recipient,
        subject=text.subject,
        body=text.text,
        raw_message=mail.wire_bytes(message).decode("utf-8"),
        message_id=str(message["Message-ID"]),
    )
    audit.record(
        conn,
        actor,
        "correspondence.email",
        "correspondence",
        item_id,
        None,
        _summary(conn, book_id, item_id),
        book_id,
    )
    return item_id, message


def _settle_email(
    conn: Connection, actor: Actor, book_id: int, item_id: int, error: str | None
) -> None:
    c = correspondence.c
    values: dict[str, Any] = (
        {"status": SENT, "sent_at": audit.utc_now_text(), "error": None}
        if error is None
        else {"status": FAILED, "error": error}
    )
    conn.execute(
        update(correspondence).where(and_(c.id == item_id, c.book_id == book_id)).values(**values)
    )
    before = {"status": FAILED, "error": NOT_SENT_YET}
    if error is None:
        _announce(conn, actor, book_id, item_id, "correspondence.email_sent", before)
    else:
        audit.record(
            conn,
            actor,
            "correspondence.email_failed",
            "correspondence",
            item_id,
            before,
            values,
            book_id,
        )


# ---------------------------------------------------------------- reading


def list_for_party(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """A page of the party's correspondence, newest first (no bodies); page on with the
    last item's id as ``before_id``."""
    require(actor, book_id, Permission.CORRESPONDENCE_READ)
    parties.get_party(conn, actor, book_id, party_id)
    c = correspondence.c
    query = (
        select(*(c[name] for name in _LISTED))
        .where(and_(c.book_id == book_id, c.party_id == party_id))
        .order_by(c.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    if before_id is not None:
        query = query.where(c.id < before_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def get_item(conn: Connection, actor: Actor, book_id: int, item_id: int) -> dict[str, Any]:
    """One item in full: body, the raw message of an e-mail, and for a letter its PDF as
    ``file_id`` and as ``document_id`` (download it with ``documents.service.download``)."""
    require(actor, book_id, Permission.CORRESPONDENCE_READ)
    c = correspondence.c
    row = (
        conn.execute(select(correspondence).where(and_(c.id == item_id, c.book_id == book_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no correspondence {item_id} in this book")
    out = dict(row)
    out["party_ref"], out["party_name"] = (
        parties.party_names(conn, book_id, [int(row["party_id"])]).get(
            int(row["party_id"]), ("", "")
        )
        if row["party_id"] is not None
        else ("", "")
    )
    out["document_id"] = None
    if row["file_id"] is not None and actor.can(book_id, Permission.DOCUMENT_READ):
        found = documents.list_documents(conn, actor, book_id, "correspondence", item_id)
        out["document_id"] = found[-1]["id"] if found else None
    return out


def email_outcomes(
    conn: Connection, actor: Actor, book_id: int, item_ids: Iterable[int]
) -> dict[int, tuple[str, str | None]]:
    """The ``(status, error)`` of each e-mail named, without its body: enough to tell one
    the server accepted (``sent``), one not confirmed (``error == NOT_SENT_YET``) and one the
    server refused, so that a batch of e-mails can be run again without sending twice."""
    require(actor, book_id, Permission.CORRESPONDENCE_READ)
    c = correspondence.c
    wanted = sorted(set(item_ids))
    found: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(wanted), 5_000):
        rows = conn.execute(
            select(c.id, c.status, c.error).where(
                and_(c.book_id == book_id, c.id.in_(wanted[start : start + 5_000]))
            )
        )
        found.update({int(r.id): (str(r.status), r.error) for r in rows})
    return found


# ---------------------------------------------------------------- composing


def _compose(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    template: str,
    channel: str,
    locale: str,
    context: Mapping[str, Any],
    case_id: int | None,
    to: str | None,
) -> _Draft:
    """Check everything about an item at once, then render it."""
    party = parties.get_party(conn, actor, book_id, party_id)
    book = ledger.get_book(conn, book_id)
    problems = letters.request_problems(template, channel, locale)
    if problems:
        raise ValidationFailed(problems)
    case = _case(conn, book_id, case_id)
    given = {
        k: v
        for k, v in context.items()
        if v is not None and not (isinstance(v, str) and not v.strip())
    }
    values, problems = letters.prepare_context(
        template, {**_defaults(template, party, case), **given}, str(book["base_currency"])
    )
    problems += _case_problems(case, case_id, party_id)
    if channel == LETTER:
        lines, name, found = _postal_recipient(party)
        address = ""
    else:
        address, name, found = _email_recipient(party, template, to)
        lines = []
    problems += found
    if problems:
        raise ValidationFailed(problems)
    recipient = (
        "\n".join(lines)
        if channel == LETTER
        else str(Address(display_name=name, addr_spec=address))
    )
    resolved = letters.resolve_locale(locale, str(book["base_currency"]))
    facts = {
        "book_name": book["name"],
        "party_name": party["name"],
        "party_ref": party["ref"],
        "recipient_name": name,
        "recipient_lines": lines,
        "case_id": case_id,
        "letter_date": ledger.book_today(conn, book_id),
    }
    rendered = letters.render(template, channel, resolved, {**values, **facts})
    return _Draft(resolved, rendered, recipient, address, name, str(book["name"]))


def _defaults(template: str, party: Mapping[str, Any], case: Any) -> dict[str, Any]:
    """What the records already say: the case of an acknowledgement, the masked account."""
    if template == "query_acknowledgement" and case is not None:
        return {
            "case_reference": str(case.id),
            "query_subject": case.title,
            "reply_due_date": case.due_date,
        }
    if template == "bank_details_changed" and party.get("bank_account"):
        return {"masked_account": party["bank_account"]}
    return {}


def _case(conn: Connection, book_id: int, case_id: int | None) -> Any:
    if case_id is None:
        return None
    c = cases.c
    return conn.execute(
        select(c.id, c.party_id, c.title, c.due_date).where(
            and_(c.id == case_id, c.book_id == book_id)
        )
    ).first()


def _case_problems(case: Any, case_id: int | None, party_id: int) -> list[Problem]:
    if case_id is None:
        return []
    if case is None:
        return [Problem("case_id", f"no case {case_id} in this book", "unknown_case")]
    if case.party_id is not None and case.party_id != party_id:
        return [Problem("case_id", f"case {case_id} is about another party", "case_party")]
    return []


def _contacts(party: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return sorted(party["contacts"], key=lambda contact: int(contact["id"]))


def _postal_recipient(party: Mapping[str, Any]) -> tuple[list[str], str, list[Problem]]:
    """The address block from the first contact with an address, and whom to greet."""
    for contact in _contacts(party):
        if str(contact["address"]).strip():
            person = str(contact["name"]).strip()
            lines = [party["name"]] + ([person] if person and person != party["name"] else [])
            return lines + address_lines(contact["address"]), person or party["name"], []
    return (
        [],
        party["name"],
        [
            Problem(
                "recipient",
                f"{party['name']} has no postal address: add one to a contact before "
                "issuing a letter",
                "no_postal_address",
            )
        ],
    )


def _email_recipient(
    party: Mapping[str, Any], template: str, to: str | None
) -> tuple[str, str, list[Problem]]:
    """The address to write to: ``to``, else the first contact's e-mail; and whom to greet."""
    registered = [
        (str(c["name"]).strip(), str(c["email"]).strip())
        for c in _contacts(party)
        if str(c["email"]).strip()
    ]
    wanted = (to or "").strip() or (registered[0][1] if registered else "")
    if not wanted:
        return (
            "",
            party["name"],
            [
                Problem(
                    "recipient",
                    f"{party['name']} has no e-mail address: add one to a contact, or "
                    "say where to send it",
                    "no_email_address",
                )
            ],
        )
    problems = []
    if not mail.is_email_address(wanted):
        problems.append(
            Problem(
                "to" if to else "recipient", f"{wanted!r} is not an e-mail address", "email_format"
            )
        )
    known = {email.lower(): name for name, email in registered}
    if template == "bank_details_changed" and wanted.lower() not in known:
        problems.append(
            Problem(
                "to",
                "a notice of changed bank details goes only to an "
                "e-mail address the party registered with us",
                "registered_only",
            )
        )
    return wanted, known.get(wanted.lower()) or party["name"], problems


def address_lines(address: str) -> list[str]:
    """A stored address as the lines of an address block (new lines, else commas).

    >>> address_lines("1 High Street, Leeds,  LS1 1AA")
    ['1 High Street', 'Leeds', 'LS1 1AA']
    >>> address_lines("Calle Mayor 5\\n28013 Madrid\\n")
    ['Calle Mayor 5', '28013 Madrid']
    """
    parts = address.splitlines() if "\n" in address.strip() else address.split(",")
    return [" ".join(part.split()) for part in parts if part.strip()]


# ---------------------------------------------------------------- storing


def _insert(
    conn: Connection, actor: Actor, book_id: int, party_id: int, case_id: int | None, **values: Any
) -> int:
    for name, limit in _LIMITS:  # the full text stays in the body, the PDF and the MIME
        if name in values:
            values[name] = values[name][:limit]
    return insert_id(
        conn,
        insert(correspondence).values(
            book_id=book_id,
            party_id=party_id,
            case_id=case_id,
            created_by=actor.username,
            created_at=audit.utc_now_text(),
            **values,
        ),
    )


def _summary(conn: Connection, book_id: int, item_id: int) -> dict[str, Any]:
    c = correspondence.c
    row = (
        conn.execute(
            select(
                c.party_id,
                c.case_id,
                c.channel,
                c.direction,
                c.status,
                c.template,
                c.locale,
                c.recipient,
                c.subject,
                c.file_id,
                c.message_id,
                c.sent_at,
            ).where(and_(c.id == item_id, c.book_id == book_id))
        )
        .mappings()
        .one()
    )
    return dict(row)


def _announce(
    conn: Connection,
    actor: Actor,
    book_id: int,
    item_id: int,
    action: str,
    before: Mapping[str, Any] | None = None,
) -> None:
    """Audit the item as it now stands and tell the book's webhooks."""
    summary = _summary(conn, book_id, item_id)
    audit.record(conn, actor, action, "correspondence", item_id, before, summary, book_id)
    emit(
        conn,
        book_id,
        "correspondence.sent",
        "correspondence",
        item_id,
        {
            key: summary[key]
            for key in (
                "party_id",
                "case_id",
                "channel",
                "direction",
                "status",
                "template",
                "subject",
                "sent_at",
            )
        },
    )
