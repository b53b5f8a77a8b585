"""Use cases of the work queue: open, move, assign, comment on, attach to and escalate cases.

Each function runs in the caller's one transaction, checks the actor's permission first, and
writes the case's history, an audit event and (for webhooks) an event with the change.
A change names the case's ``version`` it was made on when it comes from a form, so that two
people acting on the same case at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import case as sa_case

from remit import audit
from remit.access.model import Actor, Permission, Role, require
from remit.access.service import users_in_book
from remit.calendar import BusinessCalendar
from remit.cases.model import (
    CASE_TYPES,
    CaseRow,
    CaseType,
    NewCase,
    Priority,
    QueueSection,
    Transition,
)
from remit.cases.store import case_events, case_links, cases
from remit.db import insert_id
from remit.documents import service as documents
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.events.service import emit, emit_many
from remit.ledger import service as ledger
from remit.parties.service import party_names
from remit.text import FREE_TEXT_MAX, ID_MAX, NAME_MAX, text_problem

MAX_BODY = 20_000
OWNER_MAX = 100  # a username
TEAM_MAX = 32
QUEUE_PAGE = 50


# ---------------------------------------------------------------- helpers


def _type(code: str) -> CaseType:
    found = CASE_TYPES.get(code)
    if found is None:
        raise ValidationFailed([Problem("case_type", f"unknown case type {code!r}", "case_type")])
    return found


def _calendar(conn: Connection, book_id: int) -> BusinessCalendar:
    return BusinessCalendar(str(ledger.get_book(conn, book_id).get("calendar") or "GB-ENG"))


def _history(
    conn: Connection,
    case_id: int,
    actor: Actor,
    kind: str,
    body: str = "",
    from_state: str | None = None,
    to_state: str | None = None,
    portal_visible: bool = False,
) -> int:
    return insert_id(
        conn,
        insert(case_events).values(
            case_id=case_id,
            at=audit.utc_now_text(),
            actor=actor.username,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            body=body,
            portal_visible=portal_visible,
        ),
    )


def _row(conn: Connection, book_id: int, case_id: int) -> Any:
    row = conn.execute(
        select(cases).where(and_(cases.c.id == case_id, cases.c.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no case {case_id} in this book")
    return row


def _may_work(actor: Actor, book_id: int, row: Any, permission: Permission) -> None:
    """Staff need the permission; a portal user only ever acts on its own party's cases, of
    a type shared with the portal."""
    if permission in (Permission.PORTAL_PROVIDER, Permission.PORTAL_CLIENT):
        require(actor, book_id, permission)
        _portal_owns(actor, book_id, row)
        return
    require(actor, book_id, permission)


def _found(*problems: Problem | None) -> list[Problem]:
    """The problems that were found, in order (``text_problem`` answers None for a good value)."""
    return [p for p in problems if p is not None]


def _refuse(*problems: Problem | None) -> None:
    found = _found(*problems)
    if found:
        raise ValidationFailed(found)


def _owner_team_problems(owner: str | None, team: str | None) -> list[Problem]:
    """An owner is a username and a team a short code: one line, no control character."""
    return _found(
        text_problem(owner or "", "owner", max_chars=OWNER_MAX),
        text_problem(team or "", "team", max_chars=TEAM_MAX),
    )


def _check_owner(conn: Connection, book_id: int, owner: str | None) -> None:
    if owner is None:
        return
    workers = {
        u["username"] for u in users_in_book(conn, book_id, (Role.ADMIN, Role.MANAGER, Role.CLERK))
    }
    if owner not in workers:
        raise ValidationFailed(
            [Problem("owner", f"{owner!r} is not a user who works cases in this book", "owner")]
        )


def _party_in_book(conn: Connection, book_id: int, party_id: int | None) -> None:
    if party_id is not None:
        _parties_in_book(conn, book_id, {party_id})


def _parties_in_book(conn: Connection, book_id: int, party_ids: set[int]) -> None:
    known = party_names(conn, book_id, tuple(sorted(party_ids))) if party_ids else {}
    missing = sorted(party_ids - set(known))
    if missing:
        raise ValidationFailed(
            [Problem("party_id", f"no party {p} in this book", "unknown_party") for p in missing]
        )


def case_problems(new: NewCase) -> list[Problem]:
    """Everything wrong with a case to open, all at once."""
    problems = []
    if new.case_type not in CASE_TYPES:
        problems.append(Problem("case_type", f"unknown case type {new.case_type!r}", "case_type"))
    if not new.title.strip():
        problems.append(Problem("title", f"a title of 1 to {NAME_MAX} characters", "required"))
    problems += _found(
        text_problem(new.title.strip(), "title", max_chars=NAME_MAX),
        text_problem(new.description, "description", max_chars=MAX_BODY, multiline=True),
    )
    problems += _owner_team_problems(new.owner, new.team)
    if new.priority not in tuple(Priority):
        problems.append(Problem("priority", "low, normal, high or urgent", "priority"))
    return problems


# ---------------------------------------------------------------- opening


def open_case(
    conn: Connection, actor: Actor, book_id: int, new: NewCase, today: date | None = None
) -> int:
    """Open a case; its due date is its type's SLA in business days of the book."""
    return open_cases(conn, actor, book_id, [new], today)[0]


def open_cases(
    conn: Connection, actor: Actor, book_id: int, news: Sequence[NewCase], today: date | None = None
) -> list[int]:
    """Open several cases at once (a reconciliation opens one per provider's run): one
    permission check, one calendar, and every row, history line, link, audit event and
    event written in one statement each. All or nothing: any problem opens none."""
    if actor.is_staff_in(book_id):
        require(actor, book_id, Permission.CASE_WORK)
    else:
        raise Forbidden(f"{actor.username} may not open cases here")
    if not news:
        return []
    problems = [p for new in news for p in case_problems(new)]
    if problems:
        raise ValidationFailed(problems)
    _parties_in_book(conn, book_id, {n.party_id for n in news if n.party_id is not None})
    for owner in sorted({n.owner for n in news if n.owner is not None}):
        _check_owner(conn, book_id, owner)
    return _insert_cases(conn, actor, book_id, news, today)


def _insert_cases(
    conn: Connection, actor: Actor, book_id: int, news: Sequence[NewCase], today: date | None
) -> list[int]:
    opened = today or ledger.book_today(conn, book_id)
    calendar = _calendar(conn, book_id)
    now = audit.utc_now_text()
    rows: list[dict[str, Any]] = []
    for new in news:
        kind = _type(new.case_type)
        rows.append(
            {
                "book_id": book_id,
                "case_type": kind.code,
                "state": kind.initial,
                "is_open": True,
                "title": new.title.strip(),
                "description": new.description,
                "priority": int(new.priority),
                "owner": new.owner,
                "team": new.team or kind.team,
                "party_id": new.party_id,
                "opened_on": opened,
                "due_date": calendar.add_business_days(opened, kind.sla_business_days),
                "opened_by": actor.username,
                "opened_at": now,
                "escalation_level": 0,
                "version": 1,
            }
        )
    ids = list(
        conn.execute(
            insert(cases).returning(cases.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )
    portal_visible = not actor.is_staff_in(book_id)
    conn.execute(
        insert(case_events),
        [
            {
                "case_id": case_id,
                "at": now,
                "actor": actor.username,
                "kind": "opened",
                "from_state": None,
                "to_state": row["state"],
                "body": row["description"],
                "portal_visible": portal_visible,
            }
            for case_id, row in zip(ids, rows, strict=True)
        ],
    )
    links = [
        {"case_id": case_id, "object_type": t, "object_id": str(o), "label": label}
        for case_id, new in zip(ids, news, strict=True)
        for t, o, label in new.links
    ]
    if links:
        conn.execute(insert(case_links), links)
    summaries = [
        (
            case_id,
            {
                "case_type": row["case_type"],
                "title": row["title"],
                "state": row["state"],
                "owner": row["owner"],
                "team": row["team"],
                "party_id": row["party_id"],
                "due_date": row["due_date"].isoformat(),
                "priority": row["priority"],
            },
        )
        for case_id, row in zip(ids, rows, strict=True)
    ]
    audit.record_many(
        conn, actor, [("case.open", "case", i, None, summary, book_id) for i, summary in summaries]
    )
    emit_many(conn, book_id, "case.created", "case", summaries)
    return ids


# ---------------------------------------------------------------- moving a case


# Checks another package adds to a transition of one case type (registered by the
# composition root, so that cases names no other package): (case type, action) -> a function
# of (conn, book_id, case_id) returning why the transition cannot be taken now, or None.
TransitionGuard = Callable[[Connection, int, int], "str | None"]
_GUARDS: dict[tuple[str, str], TransitionGuard] = {}


def register_transition_guard(case_type: str, action: str, guard: TransitionGuard) -> None:
    _GUARDS[(case_type, action)] = guard


def transition(
    conn: Connection,
    actor: Actor,
    book_id: int,
    case_id: int,
    action: str,
    reason: str = "",
    expected_version: int | None = None,
) -> str:
    """Take an allowed transition; returns the new state."""
    row = _row(conn, book_id, case_id)
    if not actor.is_staff_in(book_id):  # before anything about the case is said
        _may_work(actor, book_id, row, _portal_permission(actor, book_id))
    kind = _type(row.case_type)
    move = kind.transition(action, row.state)
    if move is None:
        allowed = ", ".join(t.name for t in kind.allowed_from(row.state)) or "none"
        raise Conflict(
            f"a {kind.label.lower()} in state {row.state!r} cannot {action!r} (allowed: {allowed})"
        )
    _may_work(actor, book_id, row, move.permission)
    guard = _GUARDS.get((row.case_type, action))
    refusal = guard(conn, book_id, case_id) if guard is not None else None
    if refusal:
        raise Conflict(refusal)
    if move.needs_reason and not reason.strip():
        raise ValidationFailed([Problem("reason", f"say why ({move.label.lower()})", "required")])
    _refuse(text_problem(reason, "reason", max_chars=FREE_TEXT_MAX, multiline=True))
    _change(
        conn,
        row,
        expected_version,
        state=move.target,
        is_open=not kind.is_closed(move.target),
        closed_at=audit.utc_now_text() if kind.is_closed(move.target) else None,
    )
    _history(
        conn,
        case_id,
        actor,
        "transition",
        reason.strip(),
        row.state,
        move.target,
        portal_visible=True,
    )
    if not actor.is_staff_in(book_id):
        notify_owner(conn, book_id, case_id, f"{actor.username}: {move.label}: {reason}")
    detail = {"action": action, "from": row.state, "to": move.target, "reason": reason}
    audit.record(
        conn, actor, "case.transition", "case", case_id, {"state": row.state}, detail, book_id
    )
    emit(conn, book_id, "case.transitioned", "case", case_id, detail)
    return move.target


def _change(conn: Connection, row: Any, expected_version: int | None, **values: Any) -> None:
    c = cases.c
    version = int(row.version) if expected_version is None else expected_version
    done = conn.execute(
        update(cases)
        .where(and_(c.id == row.id, c.version == version))
        .values(version=version + 1, **values)
    )
    if done.rowcount != 1:
        raise Conflict(
            f"case {row.id} was changed by someone else since you opened it; "
            "reload it and try again"
        )


def allowed_transitions(actor: Actor, book_id: int, row: Any) -> list[Transition]:
    """What this actor may do to the case now (for buttons)."""
    kind = _type(row["case_type"])
    out = []
    for t in kind.allowed_from(row["state"]):
        if t.permission in (Permission.PORTAL_PROVIDER, Permission.PORTAL_CLIENT):
            if actor.can(book_id, t.permission) and actor.party_in(book_id) == row["party_id"]:
                out.append(t)
        elif actor.can(book_id, t.permission):
            out.append(t)
    return out


# ---------------------------------------------------------------- assignment


def assign(
    conn: Connection,
    actor: Actor,
    book_id: int,
    case_ids: Sequence[int],
    owner: str | None,
    team: str | None = None,
    note: str = "",
) -> int:
    """Give open cases to an owner (or back to the team's queue); returns how many."""
    require(actor, book_id, Permission.CASE_ASSIGN)
    ids = sorted(set(case_ids))
    if not ids:
        raise ValidationFailed([Problem("cases", "choose at least one case", "required")])
    _refuse(
        *_owner_team_problems(owner, team),
        text_problem(note, "note", max_chars=FREE_TEXT_MAX, multiline=True),
    )
    _check_owner(conn, book_id, owner)
    c = cases.c
    rows = conn.execute(
        select(c.id, c.owner, c.team, c.is_open, c.version).where(
            and_(c.book_id == book_id, c.id.in_(ids))
        )
    ).all()
    missing = set(ids) - {int(r.id) for r in rows}
    closed = [int(r.id) for r in rows if not r.is_open]
    problems = [
        Problem("cases", f"no case {i} in this book", "unknown_case") for i in sorted(missing)
    ]
    problems += [Problem("cases", f"case {i} is closed", "closed_case") for i in closed]
    if problems:
        raise ValidationFailed(problems)
    changes = {"owner": owner} | ({"team": team} if team else {})
    for r in rows:
        _change(conn, r, None, **changes)
        text = f"to {owner or 'the team queue'}" + (f" ({team})" if team else "")
        _history(conn, int(r.id), actor, "assigned", (text + (f": {note}" if note else "")))
    audit.record_many(
        conn,
        actor,
        [
            (
                "case.assign",
                "case",
                int(r.id),
                {"owner": r.owner, "team": r.team},
                {"owner": owner, "team": team or r.team},
                book_id,
            )
            for r in rows
        ],
    )
    for r in rows:
        emit(
            conn,
            book_id,
            "case.assigned",
            "case",
            int(r.id),
            {"owner": owner, "team": team or r.team},
        )
    return len(rows)


def take(
    conn: Connection, actor: Actor, book_id: int, case_id: int, expected_version: int | None = None
) -> None:
    """A clerk takes an open case that has no owner: it becomes theirs (audited)."""
    require(actor, book_id, Permission.CASE_TAKE)
    row = _row(conn, book_id, case_id)
    if not row.is_open:
        raise Conflict(f"case {case_id} is closed")
    if row.owner is not None and row.owner != actor.username:
        raise Conflict(f"case {case_id} is already {row.owner}'s; ask a manager to reassign it")
    if row.owner == actor.username:
        return
    _change(conn, row, expected_version, owner=actor.username)
    _history(conn, case_id, actor, "assigned", f"taken by {actor.username}")
    audit.record(
        conn,
        actor,
        "case.take",
        "case",
        case_id,
        {"owner": None},
        {"owner": actor.username},
        book_id,
    )
    emit(
        conn, book_id, "case.assigned", "case", case_id, {"owner": actor.username, "team": row.team}
    )


NOTICE = "notice"  # a case event that tells the owner something happened (a reply)


def notify_owner(conn: Connection, book_id: int, case_id: int, text: str) -> int | None:
    """Tell the case's owner something needs their eye (a provider replied): a notice in
    the case's history that the owner's queue lists under "Providers who replied" until the
    owner next acts on the case. Nothing when the case has no owner; returns the notice's id.
    """
    row = _row(conn, book_id, case_id)
    if row.owner is None:
        return None
    body = clean_notice(text)
    event_id = _history(conn, case_id, Actor.system("notify"), NOTICE, body)
    audit.record(
        conn,
        Actor.system("notify"),
        "case.notify",
        "case",
        case_id,
        None,
        {"owner": row.owner, "event_id": event_id},
        book_id,
    )
    return event_id


def clean_notice(text: str) -> str:
    """A notice's text: one paragraph, at most ``FREE_TEXT_MAX`` characters.

    >>> clean_notice("  P001 answered   visit 12 ")
    'P001 answered visit 12'
    """
    return " ".join(text.split())[:FREE_TEXT_MAX]


def replies(conn: Connection, actor: Actor, book_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The actor's open cases with a notice (a reply) newer than the actor's last action on
    the case, newest first."""
    require(actor, book_id, Permission.CASE_READ)
    c, ce = cases.c, case_events.c
    mine = case_events.alias("mine")
    last_mine = (
        select(func.coalesce(func.max(mine.c.id), 0))
        .where(and_(mine.c.case_id == c.id, mine.c.actor == actor.username))
        .scalar_subquery()
    )
    rows = conn.execute(
        select(c.id, c.title, c.party_id, ce.body, ce.at)
        .join(case_events, ce.case_id == c.id)
        .where(
            and_(
                c.book_id == book_id,
                c.is_open.is_(True),
                c.owner == actor.username,
                ce.kind == NOTICE,
                ce.id > last_mine,
            )
        )
        .order_by(ce.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


# Work other packages put in the queue (care runs needing action, approvals...), registered
# by the composition root: each a function of (conn, actor, book_id) returning sections.
QueueSource = Callable[[Connection, Actor, int], list[QueueSection]]
_QUEUE_SOURCES: list[QueueSource] = []


def register_queue_source(source: QueueSource) -> None:
    if source not in _QUEUE_SOURCES:
        _QUEUE_SOURCES.append(source)


def queue_sections(conn: Connection, actor: Actor, book_id: int) -> list[QueueSection]:
    """The sections other packages add to the queue, for this actor (empty ones left out)."""
    require(actor, book_id, Permission.CASE_READ)
    out: list[QueueSection] = []
    for source in _QUEUE_SOURCES:
        out += [s for s in source(conn, actor, book_id) if s.items]
    return out


def unowned_by_type(
    conn: Connection, actor: Actor, book_id: int, per_type: int = 5
) -> list[tuple[str, int, list[CaseRow]]]:
    """Open cases with no owner, per case type: (type, how many, the soonest due few).
    Per type, so that a type with a longer SLA (a care run's arbitration) is not hidden
    behind the soonest due cases of the others."""
    require(actor, book_id, Permission.CASE_READ)
    c = cases.c
    counts = conn.execute(
        select(c.case_type, func.count())
        .where(and_(c.book_id == book_id, c.is_open.is_(True), c.owner.is_(None)))
        .group_by(c.case_type)
        .order_by(c.case_type)
    ).all()
    return [
        (
            kind,
            int(n),
            list_cases(conn, actor, book_id, CaseFilter(owner="-", case_type=kind), limit=per_type),
        )
        for kind, n in counts
    ]


# ---------------------------------------------------------------- comments and files


def comment(
    conn: Connection,
    actor: Actor,
    book_id: int,
    case_id: int,
    body: str,
    portal_visible: bool = False,
) -> int:
    """Add a note to a case; staff notes are internal unless marked for the portal."""
    row = _row(conn, book_id, case_id)
    staff = actor.is_staff_in(book_id)
    if staff:
        require(actor, book_id, Permission.CASE_WORK)
    else:
        _may_work(actor, book_id, row, _portal_permission(actor, book_id))
        portal_visible = True
    text = body.strip()
    if not text:
        raise ValidationFailed([Problem("body", f"write 1 to {MAX_BODY:,} characters", "required")])
    _refuse(text_problem(text, "body", max_chars=MAX_BODY, multiline=True))
    event_id = _history(conn, case_id, actor, "comment", text, portal_visible=portal_visible)
    if not staff:
        notify_owner(conn, book_id, case_id, f"{actor.username} replied: {text}")
    audit.record(
        conn,
        actor,
        "case.comment",
        "case",
        case_id,
        None,
        {"event_id": event_id, "portal_visible": portal_visible},
        book_id,
    )
    emit(
        conn,
        book_id,
        "case.commented",
        "case",
        case_id,
        {"event_id": event_id, "by": actor.username, "portal_visible": portal_visible},
    )
    return event_id


def _portal_permission(actor: Actor, book_id: int) -> Permission:
    return (
        Permission.PORTAL_PROVIDER
        if actor.can(book_id, Permission.PORTAL_PROVIDER)
        else Permission.PORTAL_CLIENT
    )


def attach(
    conn: Connection,
    actor: Actor,
    book_id: int,
    case_id: int,
    filename: str,
    content: bytes,
    portal_visible: bool = False,
) -> int:
    """Attach a file to a case (type and size checked); returns the document id."""
    row = _row(conn, book_id, case_id)
    if actor.is_staff_in(book_id):
        require(actor, book_id, Permission.CASE_WORK)
    else:
        _may_work(actor, book_id, row, _portal_permission(actor, book_id))
        portal_visible = True
    doc_id = documents.attach(
        conn, actor, book_id, "case", case_id, filename, content, portal_visible=portal_visible
    )
    _history(conn, case_id, actor, "attachment", filename, portal_visible=portal_visible)
    if not actor.is_staff_in(book_id):
        notify_owner(conn, book_id, case_id, f"{actor.username} sent a file: {filename}")
    return doc_id


def link(
    conn: Connection,
    actor: Actor,
    book_id: int,
    case_id: int,
    object_type: str,
    object_id: str,
    label: str = "",
) -> None:
    """Link any object (an entry, a party, a file, another case) to the case."""
    require(actor, book_id, Permission.CASE_WORK)
    _row(conn, book_id, case_id)
    if not object_type.strip() or not str(object_id).strip():
        raise ValidationFailed([Problem("object", "name the object type and id", "required")])
    _refuse(
        text_problem(object_type, "object_type", max_chars=TEAM_MAX),
        text_problem(str(object_id), "object_id", max_chars=ID_MAX),
        text_problem(label, "label", max_chars=NAME_MAX),
    )
    cl = case_links.c
    exists = conn.execute(
        select(cl.case_id).where(
            and_(
                cl.case_id == case_id, cl.object_type == object_type, cl.object_id == str(object_id)
            )
        )
    ).first()
    if exists:
        raise Conflict(f"case {case_id} is already linked to {object_type} {object_id}")
    conn.execute(
        insert(case_links).values(
            case_id=case_id,
            object_type=object_type[:32],
            object_id=str(object_id)[:64],
            label=label[:200],
        )
    )
    _history(conn, case_id, actor, "link", f"{object_type} {object_id} {label}".strip())
    audit.record(
        conn,
        actor,
        "case.link",
        "case",
        case_id,
        None,
        {"object_type": object_type, "object_id": str(object_id)},
        book_id,
    )


# ---------------------------------------------------------------- reading


def _listing(book_id: int) -> Any:
    c = cases.c
    return (
        select(
            c.id,
            c.case_type,
            c.state,
            c.is_open,
            c.title,
            c.priority,
            c.owner,
            c.team,
            c.party_id,
            c.opened_on,
            c.due_date,
            c.escalation_level,
            c.version,
        )
        .select_from(cases)
        .where(c.book_id == book_id)
    )


def _case_rows(conn: Connection, book_id: int, query: Any) -> list[CaseRow]:
    """The rows of ``query``, each named by its party (one batched read of the parties)."""
    rows = list(conn.execute(query))
    names = party_names(conn, book_id, (int(r.party_id) for r in rows if r.party_id is not None))
    return [
        CaseRow(
            int(r.id),
            r.case_type,
            r.state,
            bool(r.is_open),
            r.title,
            Priority(int(r.priority)),
            r.owner,
            r.team,
            r.party_id,
            names[int(r.party_id)][1] if r.party_id in names else None,
            r.opened_on,
            r.due_date,
            int(r.escalation_level),
            int(r.version),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class CaseFilter:
    open_only: bool = True
    case_type: str | None = None
    state: str | None = None
    owner: str | None = None  # "-" for unassigned
    team: str | None = None
    party_id: int | None = None
    overdue_on: date | None = None  # only cases due before this date
    search: str = ""


def list_cases(
    conn: Connection,
    actor: Actor,
    book_id: int,
    filters: CaseFilter,
    after: tuple[date, int] | None = None,
    limit: int = QUEUE_PAGE,
) -> list[CaseRow]:
    """Cases by due date, then id; ``after`` is the (due_date, id) of the previous page's
    last row (keyset pagination: as fast on page 2,000 as on page 1)."""
    require(actor, book_id, Permission.CASE_READ)
    c = cases.c
    query = _listing(book_id)
    if filters.open_only:
        query = query.where(c.is_open.is_(True))
    if filters.case_type:
        query = query.where(c.case_type == filters.case_type)
    if filters.state:
        query = query.where(c.state == filters.state)
    if filters.owner == "-":
        query = query.where(c.owner.is_(None))
    elif filters.owner:
        query = query.where(c.owner == filters.owner)
    if filters.team:
        query = query.where(c.team == filters.team)
    if filters.party_id is not None:
        query = query.where(c.party_id == filters.party_id)
    if filters.overdue_on is not None:
        query = query.where(c.due_date < filters.overdue_on)
    if filters.search.strip():
        term = filters.search.strip()
        like = f"%{term.lower()}%"
        condition: Any = func.lower(c.title).like(like)
        if term.isdigit():
            condition = or_(condition, c.id == int(term))
        query = query.where(condition)
    if after is not None:  # as a row value, so that the index is entered at the marker
        query = query.where(tuple_(c.due_date, c.id) > tuple_(literal(after[0]), literal(after[1])))
    return _case_rows(conn, book_id, query.order_by(c.due_date, c.id).limit(limit))


def my_queue(
    conn: Connection,
    actor: Actor,
    book_id: int,
    after: tuple[date, int] | None = None,
    limit: int = QUEUE_PAGE,
) -> list[CaseRow]:
    """The actor's open cases, soonest due first (overdue ones first of all)."""
    return list_cases(conn, actor, book_id, CaseFilter(owner=actor.username), after, limit)


def queue_counts(conn: Connection, actor: Actor, book_id: int, today: date) -> dict[str, int]:
    """Counts for the queue's header: mine, mine overdue, unassigned, overdue in the book."""
    require(actor, book_id, Permission.CASE_READ)
    c = cases.c
    base = and_(c.book_id == book_id, c.is_open.is_(True))

    def count(*conditions: Any) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(cases).where(and_(base, *conditions))
            ).scalar_one()
        )

    return {
        "mine": count(c.owner == actor.username),
        "mine_overdue": count(c.owner == actor.username, c.due_date < today),
        "unassigned": count(c.owner.is_(None)),
        "overdue": count(c.due_date < today),
    }


def get_case(conn: Connection, actor: Actor, book_id: int, case_id: int) -> dict[str, Any]:
    """A case with its type, history, links and documents (for staff)."""
    require(actor, book_id, Permission.CASE_READ)
    return _detail(conn, actor, book_id, _row(conn, book_id, case_id), portal=False)


def _detail(conn: Connection, actor: Actor, book_id: int, row: Any, portal: bool) -> dict[str, Any]:
    out = dict(row._mapping)
    kind = _type(out["case_type"])
    out["type"] = kind
    out["priority"] = Priority(int(out["priority"]))
    ce = case_events.c
    history = select(case_events).where(ce.case_id == row.id).order_by(ce.id)
    if portal:
        history = history.where(ce.portal_visible.is_(True))
    out["history"] = [dict(r) for r in conn.execute(history).mappings()]
    out["links"] = (
        []
        if portal
        else [
            dict(r)
            for r in conn.execute(
                select(case_links).where(case_links.c.case_id == row.id)
            ).mappings()
        ]
    )
    out["documents"] = documents.list_documents(
        conn, actor, book_id, "case", int(row.id), portal_only=portal
    )
    out["party_name"] = None
    if row.party_id is not None:
        found = party_names(conn, book_id, (int(row.party_id),))
        out["party_name"] = found[int(row.party_id)][1] if found else None
    out["actions"] = allowed_transitions(actor, book_id, out)
    return out


# ---------------------------------------------------------------- escalation


def escalate_overdue(
    conn: Connection, actor: Actor, book_id: int, today: date | None = None
) -> list[int]:
    """The escalation rule: an open case overdue by more than its type's allowance (in
    business days) and not yet escalated goes to the book's manager with the fewest open
    cases, one priority higher (at least high). Returns the cases escalated."""
    require(actor, book_id, Permission.CASE_ESCALATE)
    day = today or ledger.book_today(conn, book_id)
    calendar = _calendar(conn, book_id)
    c = cases.c
    candidates = conn.execute(
        select(cases)
        .where(
            and_(
                c.book_id == book_id, c.is_open.is_(True), c.escalation_level == 0, c.due_date < day
            )
        )
        .order_by(c.due_date, c.id)
    ).all()
    managers = [u["username"] for u in users_in_book(conn, book_id, (Role.MANAGER,))]
    load = _open_load(conn, book_id, managers)
    done = []
    for row in candidates:
        kind = CASE_TYPES.get(row.case_type)
        allowance = kind.escalate_after_business_days if kind else 0
        if calendar.business_days_between(row.due_date, day) <= allowance:
            continue
        manager = min(managers, key=lambda m: (load[m], m)) if managers else None
        priority = max(int(row.priority) + 1, int(Priority.HIGH))
        priority = min(priority, int(Priority.URGENT))
        values: dict[str, Any] = {
            "escalation_level": 1,
            "escalated_at": audit.utc_now_text(),
            "priority": priority,
        }
        if manager is not None:
            values["owner"] = manager
            load[manager] += 1
        _change(conn, row, None, **values)
        note = (
            f"overdue since {row.due_date}; escalated to {manager}"
            if manager
            else f"overdue since {row.due_date}; no manager in this book to escalate to"
        )
        _history(conn, int(row.id), actor, "escalated", note)
        detail = {"owner": manager, "priority": priority, "due_date": row.due_date.isoformat()}
        audit.record(
            conn,
            actor,
            "case.escalate",
            "case",
            int(row.id),
            {"owner": row.owner, "priority": int(row.priority)},
            detail,
            book_id,
        )
        emit(conn, book_id, "case.escalated", "case", int(row.id), detail)
        done.append(int(row.id))
    return done


def _open_load(conn: Connection, book_id: int, owners: list[str]) -> dict[str, int]:
    load = dict.fromkeys(owners, 0)
    if owners:
        c = cases.c
        for owner, n in conn.execute(
            select(c.owner, func.count())
            .where(and_(c.book_id == book_id, c.is_open.is_(True), c.owner.in_(owners)))
            .group_by(c.owner)
        ):
            load[owner] = int(n)
    return load


# ---------------------------------------------------------------- portals


def portal_raise_query(
    conn: Connection, actor: Actor, book_id: int, subject: str, body: str, today: date | None = None
) -> int:
    """A provider or client user asks a question: a helpdesk case about its own party."""
    permission = _portal_permission(actor, book_id)
    require(actor, book_id, permission)
    party_id = actor.party_in(book_id)
    if party_id is None:
        raise Forbidden("this user is not bound to a party")
    new = NewCase("helpdesk", subject, body, Priority.NORMAL, party_id)
    problems = case_problems(new)
    if not body.strip():
        problems.append(Problem("description", "say what your query is about", "required"))
    if problems:
        raise ValidationFailed(problems)
    return _insert_cases(conn, actor, book_id, [new], today)[0]


def portal_shared_types() -> list[str]:
    """The case types a party sees in its portal (``CaseType.portal_shared``)."""
    return sorted(code for code, kind in CASE_TYPES.items() if kind.portal_shared)


def portal_cases(conn: Connection, actor: Actor, book_id: int) -> list[CaseRow]:
    """The portal user's own party's cases, open first then newest."""
    require(actor, book_id, _portal_permission(actor, book_id))
    party_id = actor.party_in(book_id)
    if party_id is None:
        return []
    c = cases.c
    query = (
        _listing(book_id)
        .where(and_(c.party_id == party_id, c.case_type.in_(portal_shared_types())))
        .order_by(c.is_open.desc(), c.id.desc())
        .limit(200)
    )
    return _case_rows(conn, book_id, query)


def portal_case(conn: Connection, actor: Actor, book_id: int, case_id: int) -> dict[str, Any]:
    """One of the portal user's own cases, with only what is shared with the portal."""
    row = portal_case_row(conn, actor, book_id, case_id)
    return _detail(conn, actor, book_id, row, portal=True)


def _portal_owns(actor: Actor, book_id: int, row: Any) -> None:
    """The one rule of the portal: its own party's case, of a type shared with it (the same
    answer whether the case exists or not)."""
    if (
        row is None
        or row.party_id is None
        or row.party_id != actor.party_in(book_id)
        or not _type(row.case_type).portal_shared
    ):
        raise NotFound("there is no such query of yours")


def portal_case_row(conn: Connection, actor: Actor, book_id: int, case_id: int) -> Any:
    """One of the portal user's own cases (the row only), or NotFound: another party's
    case answers as a missing one."""
    require(actor, book_id, _portal_permission(actor, book_id))
    c = cases.c
    row = conn.execute(select(cases).where(and_(c.id == case_id, c.book_id == book_id))).first()
    _portal_owns(actor, book_id, row)
    return row


# ---------------------------------------------------------------- reporting


def queue_report(conn: Connection, actor: Actor, book_id: int, today: date) -> list[dict[str, Any]]:
    """Per case type: open, overdue, escalated, closed, and closed on time (by the SLA)."""
    require(actor, book_id, Permission.CASE_READ)
    c = cases.c
    overdue = func.sum(case_when(and_(c.is_open.is_(True), c.due_date < today)))
    on_time = func.sum(
        case_when(
            and_(c.is_open.is_(False), func.substr(c.closed_at, 1, 10) <= cast(c.due_date, String))
        )
    )
    rows = conn.execute(
        select(
            c.case_type,
            func.sum(case_when(c.is_open.is_(True))).label("open"),
            overdue.label("overdue"),
            func.sum(case_when(c.escalation_level > 0)).label("esc"),
            func.sum(case_when(c.is_open.is_(False))).label("closed"),
            on_time.label("on_time"),
        )
        .where(c.book_id == book_id)
        .group_by(c.case_type)
        .order_by(c.case_type)
    )
    out = []
    for r in rows:
        kind = CASE_TYPES.get(r.case_type)
        out.append(
            {
                "case_type": r.case_type,
                "label": kind.label if kind else r.case_type,
                "open": int(r.open or 0),
                "overdue": int(r.overdue or 0),
                "escalated": int(r.esc or 0),
                "closed": int(r.closed or 0),
                "closed_on_time": int(r.on_time or 0),
            }
        )
    return out


def case_when(condition: Any) -> Any:
    """1 where the condition holds, else 0 (for sums)."""
    return sa_case((condition, 1), else_=0)
