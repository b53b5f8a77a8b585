"""Use cases of parties: create and find them, and change their bank details safely.

A change of bank details is the classic provider fraud (a forged letter asks to pay a new
account). So every bank account, the first one too, starts as a *pending change* and becomes
active only when a second person, not the one who asked, approves it. Details are kept
encrypted; everyone sees the masked form except roles allowed to view them, and every full
view is audited. Creating parties and each step of a bank-detail change emit webhook events
(``party.created``, or one ``parties.created`` for a big batch; ``party.bank_change.*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, func, insert, literal, or_, select, tuple_, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id, is_postgres
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.events.service import BATCH_EVENT_LIMIT, emit, emit_many
from remit.parties.model import (
    BankChangeStatus,
    BankDetails,
    IdentifierScheme,
    PartyKind,
    PartyRole,
)
from remit.parties.rules import (
    normalise_bank_details,
    normalise_identifier,
    validate_bank_details,
    validate_identifier,
)
from remit.parties.store import (
    bank_accounts,
    bank_changes,
    contacts,
    parties,
    party_identifiers,
    party_roles,
)
from remit.secrets import Vault
from remit.text import ID_MAX, NAME_MAX, text_problem

ACTIVE, SUPERSEDED = "active", "superseded"
# The columns' lengths; a contact's name is a name (NAME_MAX).
CONTACT_LIMITS = {"name": NAME_MAX, "email": 254, "phone": 40, "address": 500, "role": ID_MAX}
NOTE_MAX = 500  # a bank change's reason and its decision note


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: str = ""
    phone: str = ""
    address: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class NewParty:
    """A party to create in a book, with its roles there and its identifiers."""

    ref: str
    name: str
    kind: PartyKind
    roles: tuple[PartyRole, ...]
    identifiers: Mapping[IdentifierScheme, str] = field(default_factory=dict)
    contacts: tuple[Contact, ...] = ()


# ---------------------------------------------------------------- creating and reading


def party_problems(spec: NewParty, line: int | None = None) -> list[Problem]:
    problems = []
    if not spec.ref.strip():
        problems.append(Problem("ref", "1 to 64 characters", "required", line=line))
    if not spec.name.strip():
        problems.append(Problem("name", "a party needs a name", "required", line=line))
    # A ref names files and goes into CSV cells: no control character, no line break.
    for value, name, limit in ((spec.ref, "ref", ID_MAX), (spec.name, "name", NAME_MAX)):
        found = text_problem(value, name, max_chars=limit, line=line)
        problems += [found] if found is not None else []
    problems += contact_problems(spec.contacts, line)
    if not spec.roles:
        problems.append(Problem("roles", "a party needs at least one role", "required", line=line))
    for scheme, value in spec.identifiers.items():
        problems.extend(
            Problem(p.field, p.message, p.check, line=line)
            for p in validate_identifier(scheme, value)
        )
    return problems


def contact_problems(found: Sequence[Contact], line: int | None = None) -> list[Problem]:
    """Each contact's values too long for their columns or holding a control character (an
    address may hold line breaks), named ``contacts[i].field``.

    >>> [str(p) for p in contact_problems([Contact("Jo", phone="0113\\x00")])]
    ['contacts[0].phone: control character U+0000 at position 5 is not allowed [control_character]']
    """
    problems = []
    for i, contact in enumerate(found):
        for name, limit in CONTACT_LIMITS.items():
            problem = text_problem(
                getattr(contact, name),
                f"contacts[{i}].{name}",
                max_chars=limit,
                line=line,
                multiline=name == "address",
            )
            problems += [problem] if problem is not None else []
    return problems


def create_parties(
    conn: Connection, actor: Actor, book_id: int, specs: Sequence[NewParty]
) -> list[int]:
    """Create parties in bulk; every problem of every party is reported, nothing written."""
    require(actor, book_id, Permission.PARTY_EDIT)
    problems = [
        p
        for n, s in enumerate(specs, start=1)
        for p in party_problems(s, n if len(specs) > 1 else None)
    ]
    refs = [s.ref for s in specs]
    taken = (
        {
            r.ref
            for r in conn.execute(
                select(parties.c.ref).where(
                    and_(parties.c.book_id == book_id, parties.c.ref.in_(refs[:1000]))
                )
            )
        }
        if refs
        else set()
    )
    if len(specs) > 1000:
        all_refs = {
            r.ref for r in conn.execute(select(parties.c.ref).where(parties.c.book_id == book_id))
        }
        taken = all_refs & set(refs)
    seen: set[str] = set()
    for n, ref in enumerate(refs, start=1):
        if ref in taken or ref in seen:
            problems.append(
                Problem(
                    "ref",
                    f"party ref {ref!r} is already used in this book",
                    "duplicate_ref",
                    line=n,
                )
            )
        seen.add(ref)
    if problems:
        raise ValidationFailed(problems)
    now = audit.utc_now_text()
    rows = [
        {
            "book_id": book_id,
            "ref": s.ref,
            "name": s.name.strip(),
            "kind": s.kind.value,
            "created_at": now,
        }
        for s in specs
    ]
    ids = [
        int(i)
        for i in conn.execute(
            insert(parties).returning(parties.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    ]
    _insert_details(conn, book_id, specs, ids)
    audit.record_many(
        conn,
        actor,
        [
            (
                "party.create",
                "party",
                pid,
                None,
                {"ref": s.ref, "name": s.name, "roles": [r.value for r in s.roles]},
                book_id,
            )
            for pid, s in zip(ids, specs, strict=True)
        ],
    )
    _emit_created(conn, book_id, specs, ids)
    return ids


def _emit_created(
    conn: Connection, book_id: int, specs: Sequence[NewParty], ids: Sequence[int]
) -> None:
    """Webhook events: one per party, or one summary for a big batch."""
    if len(ids) > BATCH_EVENT_LIMIT:
        first, last = min(ids), max(ids)
        emit(
            conn,
            book_id,
            "parties.created",
            "party_batch",
            f"{first}-{last}",
            {"parties": len(ids), "first_id": first, "last_id": last},
        )
        return
    emit_many(
        conn,
        book_id,
        "party.created",
        "party",
        (
            (
                pid,
                {
                    "party_id": pid,
                    "ref": s.ref,
                    "name": s.name.strip(),
                    "kind": s.kind.value,
                    "roles": [r.value for r in dict.fromkeys(s.roles)],
                },
            )
            for pid, s in zip(ids, specs, strict=True)
        ),
    )


def _insert_details(
    conn: Connection, book_id: int, specs: Sequence[NewParty], ids: Sequence[int]
) -> None:
    role_rows = [
        {"party_id": pid, "role": r.value, "book_id": book_id}
        for pid, s in zip(ids, specs, strict=True)
        for r in dict.fromkeys(s.roles)
    ]
    ident_rows = [
        {"party_id": pid, "scheme": sch.value, "value": normalise_identifier(sch, v)}
        for pid, s in zip(ids, specs, strict=True)
        for sch, v in s.identifiers.items()
    ]
    contact_rows = [
        {
            "party_id": pid,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "address": c.address,
            "role": c.role,
        }
        for pid, s in zip(ids, specs, strict=True)
        for c in s.contacts
    ]
    for table, rows in (
        (party_roles, role_rows),
        (party_identifiers, ident_rows),
        (contacts, contact_rows),
    ):
        if rows:
            conn.execute(insert(table), rows)


def create_party(conn: Connection, actor: Actor, book_id: int, spec: NewParty) -> int:
    return create_parties(conn, actor, book_id, [spec])[0]


def party_ids_with_role(conn: Connection, book_id: int, role: str) -> set[int]:
    """Ids of the book's parties holding a role (the ledger checks sub-ledger postings)."""
    pr = party_roles.c
    rows = conn.execute(select(pr.party_id).where(and_(pr.book_id == book_id, pr.role == role)))
    return {int(r.party_id) for r in rows}


def party_has_role(conn: Connection, book_id: int, party_id: int, role: str) -> bool:
    pr = party_roles.c
    return (
        conn.execute(
            select(pr.party_id).where(
                and_(pr.book_id == book_id, pr.party_id == party_id, pr.role == role)
            )
        ).first()
        is not None
    )


def party_roles_of(
    conn: Connection, book_id: int, party_ids: set[int]
) -> dict[str | None, set[int]]:
    """Which of the given parties hold which role in the book: {role: {party_id}}."""
    pr = party_roles.c
    out: dict[str | None, set[int]] = {}
    if len(party_ids) > 5_000:  # many parties: one scan beats many IN lists
        rows: Any = conn.execute(select(pr.role, pr.party_id).where(pr.book_id == book_id))
        chunks = [rows]
    else:
        wanted = sorted(party_ids)
        chunks = [
            conn.execute(
                select(pr.role, pr.party_id).where(
                    and_(pr.book_id == book_id, pr.party_id.in_(wanted[i : i + 500]))
                )
            )
            for i in range(0, len(wanted), 500)
        ]
    for rows in chunks:
        for role, party_id in rows:
            if party_id in party_ids:
                out.setdefault(role, set()).add(int(party_id))
    return out


def party_id_for(conn: Connection, book_id: int, ref: str) -> int:
    row = conn.execute(
        select(parties.c.id).where(and_(parties.c.book_id == book_id, parties.c.ref == ref))
    ).first()
    if row is None:
        raise NotFound(f"no party {ref!r} in this book")
    return int(row.id)


def party_names(conn: Connection, book_id: int, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Ref and name of each of the book's parties ``ids``, in batches (for lists and
    reports: one query per 500, never one per party)."""
    wanted, found = sorted(set(ids)), {}
    p = parties.c
    if len(wanted) > 500:  # one scan of the book, not a book scan per batch
        keep = set(wanted)
        rows = conn.execute(select(p.id, p.ref, p.name).where(p.book_id == book_id))
        return {int(r.id): (str(r.ref), str(r.name)) for r in rows if int(r.id) in keep}
    for i in range(0, len(wanted), 500):
        found.update(
            {
                int(r.id): (str(r.ref), str(r.name))
                for r in conn.execute(
                    select(p.id, p.ref, p.name).where(
                        and_(p.book_id == book_id, p.id.in_(wanted[i : i + 500]))
                    )
                )
            }
        )
    return found


def party_ids_matching(conn: Connection, book_id: int, text: str, limit: int) -> list[int]:
    """The book's parties whose reference or name holds ``text`` (any case), at most
    ``limit`` of them (a search box's first step)."""
    p = parties.c
    pattern = "%" + text.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
    rows = conn.execute(
        select(p.id)
        .where(
            and_(
                p.book_id == book_id,
                or_(func.lower(p.ref).like(pattern), func.lower(p.name).like(pattern)),
            )
        )
        .order_by(p.id)
        .limit(limit)
    )
    return [int(r.id) for r in rows]


def postal_address(conn: Connection, book_id: int, party_id: int) -> str:
    """The address of the book's party for a document it is named on (a self-bill): that
    of its first contact with one, or empty."""
    c, p = contacts.c, parties.c
    found = conn.execute(
        select(c.address)
        .join(parties, p.id == c.party_id)
        .where(and_(p.book_id == book_id, c.party_id == party_id, c.address != ""))
        .order_by(c.id)
        .limit(1)
    ).scalar()
    return str(found or "")


def party_identifier(
    conn: Connection, book_id: int, party_id: int, scheme: IdentifierScheme
) -> str | None:
    """One identifier of the book's party (its VAT number for a self-bill), or None."""
    i, p = party_identifiers.c, parties.c
    found = conn.execute(
        select(i.value)
        .join(parties, p.id == i.party_id)
        .where(and_(p.book_id == book_id, i.party_id == party_id, i.scheme == str(scheme)))
    ).scalar()
    return None if found is None else str(found)


def party_ids_for(conn: Connection, book_id: int, refs: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(refs))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(parties.c.ref, parties.c.id).where(
                and_(parties.c.book_id == book_id, parties.c.ref.in_(wanted[start : start + 500]))
            )
        )
        found.update({r.ref: int(r.id) for r in rows})
    return found


def get_party(conn: Connection, actor: Actor, book_id: int, party_id: int) -> dict[str, Any]:
    """A party with roles, identifiers, contacts and its bank account (masked)."""
    require(actor, book_id, Permission.PARTY_READ)
    row = (
        conn.execute(
            select(parties).where(and_(parties.c.id == party_id, parties.c.book_id == book_id))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no party {party_id} in this book")
    out = dict(row)
    out["roles"] = sorted(
        r.role
        for r in conn.execute(select(party_roles.c.role).where(party_roles.c.party_id == party_id))
    )
    out["identifiers"] = {
        r.scheme: r.value
        for r in conn.execute(
            select(party_identifiers).where(party_identifiers.c.party_id == party_id)
        )
    }
    out["contacts"] = [
        dict(r)
        for r in conn.execute(select(contacts).where(contacts.c.party_id == party_id)).mappings()
    ]
    active = _active_account(conn, party_id)
    out["bank_account"] = active.masked if active is not None else None
    return out


def masked_bank_account(conn: Connection, book_id: int, party_id: int) -> str | None:
    """The party's active bank account, masked (for a remittance advice), or None."""
    _party_in_book(conn, book_id, party_id)
    active = _active_account(conn, party_id)
    return active.masked if active is not None else None


def get_party_public(conn: Connection, actor: Actor, book_id: int, party_id: int) -> dict[str, Any]:
    """A portal user's own party: name, ref, roles and masked bank account only."""
    if actor.party_in(book_id) != party_id:
        raise Forbidden("a portal user sees only its own party")
    row = conn.execute(
        select(parties.c.ref, parties.c.name).where(
            and_(parties.c.id == party_id, parties.c.book_id == book_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no party {party_id} in this book")
    roles = sorted(
        r.role
        for r in conn.execute(select(party_roles.c.role).where(party_roles.c.party_id == party_id))
    )
    active = _active_account(conn, party_id)
    return {
        "id": party_id,
        "ref": row.ref,
        "name": row.name,
        "roles": roles,
        "bank_account": active.masked if active is not None else None,
    }


def count_parties(conn: Connection, actor: Actor, book_id: int) -> dict[str, int]:
    """How many parties hold each role in the book."""
    require(actor, book_id, Permission.PARTY_READ)
    pr = party_roles.c
    rows = conn.execute(
        select(pr.role, func.count()).where(pr.book_id == book_id).group_by(pr.role)
    )
    return {r[0]: int(r[1]) for r in rows}


def list_parties(
    conn: Connection,
    actor: Actor,
    book_id: int,
    role: str | None = None,
    search: str = "",
    limit: int = 50,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """A page of parties by id, optionally of one role and matching a name or ref."""
    require(actor, book_id, Permission.PARTY_READ)
    p = parties.c
    query = select(p.id, p.ref, p.name, p.kind).where(and_(p.book_id == book_id, p.id > after_id))
    if role:
        query = query.where(
            p.id.in_(
                select(party_roles.c.party_id).where(
                    and_(party_roles.c.book_id == book_id, party_roles.c.role == role)
                )
            )
        )
    if search:
        like = f"%{search.lower()}%"
        query = query.where(or_(func.lower(p.name).like(like), func.lower(p.ref).like(like)))
    return [dict(r) for r in conn.execute(query.order_by(p.id).limit(limit)).mappings()]


def party_page(
    conn: Connection,
    actor: Actor,
    book_id: int,
    role: str | None = None,
    search: str = "",
    after: tuple[str, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A page of parties by name then id (keyset: ``after`` is the last row's name and id).

    ``search`` matches a ref exactly or from its start, or any part of the name.
    """
    require(actor, book_id, Permission.PARTY_READ)
    p, pr = parties.c, party_roles.c
    query = select(p.id, p.ref, p.name, p.kind).where(p.book_id == book_id)
    term = search.strip()
    if term:
        query = query.where(
            or_(_name_contains(conn, term), p.ref.like(f"{_like(term)}%", escape="\\"))
        )
    if role:
        # Checked party by party on the roles' primary key, in name order, until the page
        # is full: a list of the role's ids would be built whole first (100,000 clients).
        query = query.where(
            select(pr.party_id).where(and_(pr.party_id == p.id, pr.role == role)).exists()
        )
    if after is not None:  # as a row value, so that the index is entered at the marker
        query = query.where(tuple_(p.name, p.id) > tuple_(literal(after[0]), literal(after[1])))
    rows = [dict(r) for r in conn.execute(query.order_by(p.name, p.id).limit(limit)).mappings()]
    if rows:
        roles: dict[int, list[str]] = {}
        for r in conn.execute(
            select(pr.party_id, pr.role).where(pr.party_id.in_([row["id"] for row in rows]))
        ):
            roles.setdefault(int(r.party_id), []).append(r.role)
        for row in rows:
            row["roles"] = sorted(roles.get(row["id"], []))
    return rows


def _name_contains(conn: Connection, term: str) -> Any:
    """The party's name holds ``term``, in any case.

    SQLite's LIKE already ignores the case of ASCII letters (and its ``lower`` folds no
    other), so there the name is compared as it is: half the work of a search that reads
    every name. PostgreSQL's LIKE heeds case, so there both sides are lowered.
    """
    pattern = f"%{_like(term.lower())}%"
    if is_postgres(conn):
        return func.lower(parties.c.name).like(pattern, escape="\\")
    return parties.c.name.like(pattern, escape="\\")


def _like(text: str) -> str:
    """Escape LIKE's wildcards so that a search for "50%" finds "50%"."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- bank details


def _party_in_book(conn: Connection, book_id: int, party_id: int) -> None:
    found = conn.execute(
        select(parties.c.id).where(and_(parties.c.id == party_id, parties.c.book_id == book_id))
    ).first()
    if found is None:
        raise NotFound(f"no party {party_id} in this book")


def _active_account(conn: Connection, party_id: int) -> Any:
    ba = bank_accounts.c
    return conn.execute(
        select(bank_accounts).where(and_(ba.party_id == party_id, ba.status == ACTIVE))
    ).first()


def request_bank_change(
    conn: Connection,
    actor: Actor,
    vault: Vault,
    book_id: int,
    party_id: int,
    details: BankDetails,
    reason: str,
) -> int:
    """Record new bank details as a pending change; they pay nothing until approved."""
    require(actor, book_id, Permission.BANK_CHANGE_REQUEST)
    _party_in_book(conn, book_id, party_id)
    problems = validate_bank_details(details)
    if not reason.strip():
        problems.append(
            Problem(
                "reason",
                "say why the details change (and how the request was verified)",
                "required",
            )
        )
    found = text_problem(reason.strip(), "reason", max_chars=NOTE_MAX, multiline=True)
    problems += [found] if found is not None else []
    if problems:
        raise ValidationFailed(problems)
    clean = normalise_bank_details(details)
    bc = bank_changes.c
    if conn.execute(
        select(bc.id).where(
            and_(bc.party_id == party_id, bc.status == BankChangeStatus.PENDING.value)
        )
    ).first():
        raise Conflict("this party already has a bank-detail change waiting for approval")
    record = clean.as_record()
    values = {
        "party_id": party_id,
        "scheme": clean.scheme.value,
        "ciphertext": vault.encrypt_json(record),
        "masked": clean.masked(),
        "fingerprint": vault.fingerprint(record),
        "status": BankChangeStatus.PENDING.value,
        "reason": reason.strip(),
        "requested_by": actor.username,
        "requested_at": audit.utc_now_text(),
    }
    change_id = insert_id(conn, insert(bank_changes).values(**values))
    active = _active_account(conn, party_id)
    audit.record(
        conn,
        actor,
        "party.bank.request",
        "bank_change",
        change_id,
        {"bank_account": active.masked if active is not None else None},
        {"party_id": party_id, "bank_account": clean.masked(), "reason": reason},
        book_id,
    )
    emit(
        conn,
        book_id,
        "party.bank_change.requested",
        "bank_change",
        change_id,
        {
            "change_id": change_id,
            "party_id": party_id,
            "bank_account": clean.masked(),
            "requested_by": actor.username,
        },
    )
    return change_id


def _pending_change(conn: Connection, book_id: int, change_id: int) -> Any:
    bc = bank_changes.c
    row = conn.execute(
        select(bank_changes)
        .join(parties, parties.c.id == bc.party_id)
        .where(and_(bc.id == change_id, parties.c.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no bank-detail change {change_id} in this book")
    if row.status != BankChangeStatus.PENDING.value:
        raise Conflict(f"bank-detail change {change_id} is already {row.status}")
    return row


def approve_bank_change(
    conn: Connection, actor: Actor, book_id: int, change_id: int, note: str = ""
) -> int:
    """Make a pending change the party's active bank account; needs a second person."""
    require(actor, book_id, Permission.BANK_CHANGE_APPROVE)
    found = text_problem(note.strip(), "note", max_chars=NOTE_MAX, multiline=True)
    if found is not None:
        raise ValidationFailed([found])
    change = _pending_change(conn, book_id, change_id)
    if change.requested_by == actor.username:
        raise Forbidden("the person who requested a bank-detail change cannot approve it")
    now = audit.utc_now_text()
    previous = _active_account(conn, change.party_id)
    if previous is not None:
        conn.execute(
            update(bank_accounts).where(bank_accounts.c.id == previous.id).values(status=SUPERSEDED)
        )
    account_id = insert_id(
        conn,
        insert(bank_accounts).values(
            party_id=change.party_id,
            scheme=change.scheme,
            ciphertext=change.ciphertext,
            masked=change.masked,
            fingerprint=change.fingerprint,
            status=ACTIVE,
            change_id=change.id,
            activated_at=now,
        ),
    )
    _decide(conn, change_id, BankChangeStatus.APPROVED, actor, note, now)
    audit.record(
        conn,
        actor,
        "party.bank.approve",
        "bank_change",
        change_id,
        {"status": "pending", "bank_account": previous.masked if previous is not None else None},
        {"status": "approved", "bank_account": change.masked, "note": note},
        book_id,
    )
    emit(
        conn,
        book_id,
        "party.bank_change.approved",
        "bank_change",
        change_id,
        {
            "change_id": change_id,
            "party_id": int(change.party_id),
            "bank_account": change.masked,
            "approved_by": actor.username,
        },
    )
    return account_id


def reject_bank_change(
    conn: Connection, actor: Actor, book_id: int, change_id: int, note: str
) -> None:
    require(actor, book_id, Permission.BANK_CHANGE_APPROVE)
    if not note.strip():
        raise ValidationFailed([Problem("note", "say why the change is rejected", "required")])
    found = text_problem(note.strip(), "note", max_chars=NOTE_MAX, multiline=True)
    if found is not None:
        raise ValidationFailed([found])
    change = _pending_change(conn, book_id, change_id)
    _decide(conn, change_id, BankChangeStatus.REJECTED, actor, note, audit.utc_now_text())
    audit.record(
        conn,
        actor,
        "party.bank.reject",
        "bank_change",
        change_id,
        {"status": "pending"},
        {"status": "rejected", "note": note},
        book_id,
    )
    emit(
        conn,
        book_id,
        "party.bank_change.rejected",
        "bank_change",
        change_id,
        {
            "change_id": change_id,
            "party_id": int(change.party_id),
            "bank_account": change.masked,
            "rejected_by": actor.username,
            "note": note,
        },
    )


def _decide(
    conn: Connection, change_id: int, status: BankChangeStatus, actor: Actor, note: str, now: str
) -> None:
    conn.execute(
        update(bank_changes)
        .where(bank_changes.c.id == change_id)
        .values(status=status.value, decided_by=actor.username, decided_at=now, decision_note=note)
    )


def pending_bank_changes(
    conn: Connection, actor: Actor, book_id: int, party_id: int | None = None
) -> list[dict[str, Any]]:
    """Changes waiting for approval (of one party, or of the book), each with the other
    parties already paid to the same account (a strong sign of fraud or a data-entry slip)."""
    require(actor, book_id, Permission.PARTY_READ)
    bc, p, ba = bank_changes.c, parties.c, bank_accounts.c
    query = (
        select(
            bc.id,
            bc.party_id,
            p.ref,
            p.name,
            bc.masked,
            bc.reason,
            bc.requested_by,
            bc.requested_at,
            bc.fingerprint,
        )
        .join(parties, p.id == bc.party_id)
        .where(and_(p.book_id == book_id, bc.status == BankChangeStatus.PENDING.value))
        .order_by(bc.id)
    )
    if party_id is not None:
        query = query.where(bc.party_id == party_id)
    rows = conn.execute(query).mappings().all()
    out = []
    for row in rows:
        shared = (
            conn.execute(
                select(p.ref)
                .join(bank_accounts, ba.party_id == p.id)
                .where(
                    and_(
                        p.book_id == book_id,
                        ba.status == ACTIVE,
                        ba.fingerprint == row["fingerprint"],
                        p.id != row["party_id"],
                    )
                )
            )
            .scalars()
            .all()
        )
        item = {k: v for k, v in row.items() if k != "fingerprint"}
        item["same_account_as"] = list(shared)
        out.append(item)
    return out


def bank_details(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, party_id: int
) -> BankDetails | str | None:
    """The active bank account: in full for roles allowed to see it (audited), else masked."""
    _party_in_book(conn, book_id, party_id)
    require(actor, book_id, Permission.PARTY_READ)
    active = _active_account(conn, party_id)
    if active is None:
        return None
    if not actor.can(book_id, Permission.BANK_DETAILS_VIEW):
        return str(active.masked)
    audit.record(
        conn,
        actor,
        "party.bank.view",
        "party",
        party_id,
        None,
        {"bank_account": active.masked},
        book_id,
    )
    return BankDetails.from_record(vault.decrypt_json(active.ciphertext))


def bank_details_to_correct(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, party_id: int
) -> tuple[int, BankDetails] | None:
    """The active account (its id and details, decrypted in memory) of a party whose bank
    sent corrected details (a NACHA notification of change), for a service that proposes
    the corrected account with ``request_bank_change``: the details are never shown to the
    actor, who needs only the right to request a change. None when there is no account."""
    _party_in_book(conn, book_id, party_id)
    require(actor, book_id, Permission.BANK_CHANGE_REQUEST)
    active = _active_account(conn, party_id)
    if active is None:
        return None
    return int(active.id), BankDetails.from_record(vault.decrypt_json(active.ciphertext))


# The payment method each kind of bank details is paid by (remit.payments.selection).
PAYMENT_METHODS = {"us_aba": "nacha", "uk_sort_code": "bacs18", "iban": "pain.001"}
_METHOD_CURRENCIES = {"nacha": "USD", "bacs18": "GBP", "pain.001": "EUR"}


def payee_bank_states(
    conn: Connection, book_id: int, party_ids: Iterable[int] | None = None
) -> pl.DataFrame:
    """Per party of the book with an active bank account or a pending change: the columns
    the payment selection reads (party_id, bank_account_id, scheme, currency, valid,
    last_change_at, pending_change), in two queries and without decrypting anything.

    ``valid`` says an active account exists; ``last_change_at`` is the day (UTC) it was
    activated when it replaced an earlier account (a party's first account is not a
    change of details, so it never waits ``bank_change_days``). A party with only a
    pending change has a row with no account.
    """
    p, ba, bc = parties.c, bank_accounts.c, bank_changes.c
    wanted = None if party_ids is None else sorted(set(party_ids))
    in_book = p.book_id == book_id
    active_query = (
        select(ba.party_id, ba.id, ba.scheme, ba.activated_at)
        .join(parties, p.id == ba.party_id)
        .where(and_(in_book, ba.status == ACTIVE))
    )
    pending_query = (
        select(bc.party_id)
        .join(parties, p.id == bc.party_id)
        .where(and_(in_book, bc.status == BankChangeStatus.PENDING.value))
        .distinct()
    )
    if wanted is not None and len(wanted) <= 1000:  # else one scan, filtered below
        active_query = active_query.where(ba.party_id.in_(wanted))
        pending_query = pending_query.where(bc.party_id.in_(wanted))
    replaced_query = (
        select(ba.party_id)
        .join(parties, p.id == ba.party_id)
        .where(and_(in_book, ba.status != ACTIVE))
        .distinct()
    )
    active = {int(r[0]): r for r in conn.execute(active_query)}
    pending = {int(r[0]) for r in conn.execute(pending_query)}
    replaced = {int(r[0]) for r in conn.execute(replaced_query)}
    ids = sorted(active.keys() | pending)
    if wanted is not None:
        keep = set(wanted)
        ids = [i for i in ids if i in keep]
    rows = []
    for party_id in ids:
        found = active.get(party_id)
        method = PAYMENT_METHODS.get(str(found.scheme)) if found is not None else None
        rows.append(
            (
                party_id,
                None if found is None else int(found.id),
                method,
                _METHOD_CURRENCIES.get(method or ""),
                found is not None,
                None if found is None or party_id not in replaced else str(found.activated_at)[:10],
                party_id in pending,
            )
        )
    schema = {
        "party_id": pl.Int64,
        "bank_account_id": pl.Int64,
        "scheme": pl.Utf8,
        "currency": pl.Utf8,
        "valid": pl.Boolean,
        "last_change_at": pl.Utf8,
        "pending_change": pl.Boolean,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("last_change_at").str.to_date("%Y-%m-%d"))


_ACCOUNT_BATCH = 900


def bank_ciphertexts(
    conn: Connection, book_id: int, account_ids: Iterable[int]
) -> dict[int, bytes]:
    """The sealed bank details of the book's parties' accounts among ``account_ids``, for a
    writer that decrypts them in memory (payment files); others are left out."""
    ba, p = bank_accounts.c, parties.c
    wanted = sorted(set(account_ids))
    found: dict[int, bytes] = {}
    if len(wanted) > _ACCOUNT_BATCH:  # one scan of the book, not a book scan per batch
        keep = set(wanted)
        rows = conn.execute(
            select(ba.id, ba.ciphertext)
            .join(parties, p.id == ba.party_id)
            .where(p.book_id == book_id)
        )
        return {int(i): bytes(c) for i, c in rows if int(i) in keep}
    for start in range(0, len(wanted), _ACCOUNT_BATCH):
        rows = conn.execute(
            select(ba.id, ba.ciphertext)
            .join(parties, p.id == ba.party_id)
            .where(and_(ba.id.in_(wanted[start : start + _ACCOUNT_BATCH]), p.book_id == book_id))
        )
        found.update({int(i): bytes(c) for i, c in rows})
    return found


def active_bank_account_ids(conn: Connection, book_id: int, account_ids: Iterable[int]) -> set[int]:
    """Which of ``account_ids`` are still the active account of a party of the book (a run
    approved on an account since replaced must not pay it)."""
    ba, p = bank_accounts.c, parties.c
    wanted = sorted(set(account_ids))
    found: set[int] = set()
    if len(wanted) > _ACCOUNT_BATCH:  # one scan of the book, not a book scan per batch
        rows = conn.execute(
            select(ba.id)
            .join(parties, p.id == ba.party_id)
            .where(and_(p.book_id == book_id, ba.status == ACTIVE))
        )
        return set(wanted) & {int(i) for i in rows.scalars()}
    for start in range(0, len(wanted), _ACCOUNT_BATCH):
        rows = conn.execute(
            select(ba.id)
            .join(parties, p.id == ba.party_id)
            .where(
                and_(
                    ba.id.in_(wanted[start : start + _ACCOUNT_BATCH]),
                    p.book_id == book_id,
                    ba.status == ACTIVE,
                )
            )
        )
        found.update(int(i) for i in rows.scalars())
    return found
