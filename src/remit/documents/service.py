"""Storing uploaded files and linking them as documents to parties, cases and others.

Permissions: staff read with ``document.read`` and upload with ``document.upload``; a portal
user uploads to, and reads from, its own party only (see ``portal_*`` below). Every upload is
audited; a file's content is stored once per book.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.documents.rules import MAX_UPLOAD_BYTES, sniff, upload_problems
from remit.documents.store import documents, stored_files
from remit.errors import Forbidden, NotFound, Problem, ValidationFailed

OBJECT_TYPES = ("party", "case", "correspondence", "job", "care_import")


@dataclass(frozen=True, slots=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def store_file(
    conn: Connection, book_id: int, filename: str, content: bytes, max_bytes: int = MAX_UPLOAD_BYTES
) -> int:
    """Keep a file's content once per book; returns the stored file's id. Checks first."""
    problems = upload_problems(filename, content, max_bytes)
    if problems:
        raise ValidationFailed(problems)
    digest = hashlib.sha256(content).hexdigest()
    sf = stored_files.c
    found = conn.execute(
        select(sf.id).where(and_(sf.book_id == book_id, sf.sha256 == digest))
    ).first()
    if found is not None:
        return int(found.id)
    media_type = sniff(filename, content)
    assert media_type is not None  # upload_problems said so
    return insert_id(
        conn,
        insert(stored_files).values(
            book_id=book_id,
            sha256=digest,
            media_type=media_type,
            size_bytes=len(content),
            content=content,
            created_at=audit.utc_now_text(),
        ),
    )


def attach(
    conn: Connection,
    actor: Actor,
    book_id: int,
    object_type: str,
    object_id: int,
    filename: str,
    content: bytes,
    title: str = "",
    kind: str = "",
    portal_visible: bool = False,
) -> int:
    """Store a file and link it to an object of the book; returns the document's id.

    The caller (a service of the object's package) has checked that the object exists in
    the book and that the actor may touch it (``cases.attach`` checks a portal user's case);
    this checks the upload itself, and that a portal user uploads to its own party.
    """
    if actor.is_staff_in(book_id):
        require(actor, book_id, Permission.DOCUMENT_UPLOAD)
    elif object_type == "party" and object_id != actor.party_in(book_id):
        raise Forbidden("a portal user uploads only to its own party")
    elif object_type not in ("party", "case"):
        raise Forbidden("a portal user uploads only to its own party and cases")
    if object_type not in OBJECT_TYPES:
        raise ValidationFailed(
            [Problem("object_type", f"unknown object type {object_type!r}", "object_type")]
        )
    name = PurePath(filename).name
    file_id = store_file(conn, book_id, name, content)
    values = {
        "book_id": book_id,
        "file_id": file_id,
        "object_type": object_type,
        "object_id": object_id,
        "filename": name,
        "title": (title or name)[:200],
        "kind": kind[:32],
        "portal_visible": portal_visible,
        "uploaded_by": actor.username,
        "uploaded_at": audit.utc_now_text(),
    }
    doc_id = insert_id(conn, insert(documents).values(**values))
    audit.record(
        conn,
        actor,
        "document.attach",
        object_type,
        object_id,
        None,
        {
            "document_id": doc_id,
            "filename": name,
            "size_bytes": len(content),
            "portal_visible": portal_visible,
        },
        book_id,
    )
    return doc_id


def portal_upload(
    conn: Connection, actor: Actor, book_id: int, filename: str, content: bytes, title: str = ""
) -> int:
    """A provider or client user uploads a document to its own party."""
    if not (
        actor.can(book_id, Permission.PORTAL_PROVIDER)
        or actor.can(book_id, Permission.PORTAL_CLIENT)
    ):
        raise Forbidden("only portal users upload here")
    party_id = actor.party_in(book_id)
    if party_id is None:
        raise Forbidden("this user is not bound to a party")
    return attach(
        conn,
        actor,
        book_id,
        "party",
        party_id,
        filename,
        content,
        title,
        "portal upload",
        portal_visible=True,
    )


def portal_documents(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """The documents of the portal user's own party that it may see."""
    party_id = actor.party_in(book_id)
    if party_id is None or actor.is_staff_in(book_id):
        raise Forbidden("only portal users list their documents here")
    return list_documents(conn, actor, book_id, "party", party_id, portal_only=True)


def list_documents(
    conn: Connection,
    actor: Actor,
    book_id: int,
    object_type: str,
    object_id: int,
    portal_only: bool = False,
) -> list[dict[str, Any]]:
    """Documents linked to an object, newest first (no content)."""
    if not portal_only:
        require(actor, book_id, Permission.DOCUMENT_READ)
    d, sf = documents.c, stored_files.c
    query = (
        select(
            d.id,
            d.filename,
            d.title,
            d.kind,
            d.portal_visible,
            d.uploaded_by,
            d.uploaded_at,
            sf.media_type,
            sf.size_bytes,
        )
        .join(stored_files, sf.id == d.file_id)
        .where(and_(d.book_id == book_id, d.object_type == object_type, d.object_id == object_id))
        .order_by(d.id.desc())
    )
    if portal_only:
        query = query.where((d.portal_visible.is_(True)) | (d.uploaded_by == actor.username))
    return [dict(r) for r in conn.execute(query).mappings()]


def document_owner(conn: Connection, book_id: int, document_id: int) -> tuple[str, int]:
    """(object_type, object_id) a document is linked to; NotFound outside the book."""
    d = documents.c
    row = conn.execute(
        select(d.object_type, d.object_id).where(and_(d.id == document_id, d.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no document {document_id} in this book")
    return str(row.object_type), int(row.object_id)


def download(conn: Connection, actor: Actor, book_id: int, document_id: int) -> Download:
    """A document's file, for staff who may read documents."""
    require(actor, book_id, Permission.DOCUMENT_READ)
    return _fetch(conn, book_id, document_id)


def portal_download(
    conn: Connection, actor: Actor, book_id: int, document_id: int, allowed: set[tuple[str, int]]
) -> Download:
    """A document for a portal user: only if linked to one of ``allowed`` objects (its own
    party and its cases) and either shared with the portal or uploaded by the user."""
    d = documents.c
    row = conn.execute(
        select(d.object_type, d.object_id, d.portal_visible, d.uploaded_by).where(
            and_(d.id == document_id, d.book_id == book_id)
        )
    ).first()
    if (
        row is None
        or (row.object_type, int(row.object_id)) not in allowed
        or not (row.portal_visible or row.uploaded_by == actor.username)
    ):
        # The same answer whether it exists or not: a URL guess learns nothing.
        raise NotFound("there is no such document of yours")
    return _fetch(conn, book_id, document_id)


def stored_file(conn: Connection, actor: Actor, book_id: int, file_id: int) -> Download:
    """A stored file of the book by its id: an upload not filed as a document, such as an
    entry file handed to a job. It has no name of its own: ``file-<id>``."""
    require(actor, book_id, Permission.DOCUMENT_READ)
    sf = stored_files.c
    row = conn.execute(
        select(sf.media_type, sf.content).where(and_(sf.id == file_id, sf.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no stored file {file_id} in this book")
    return Download(f"file-{file_id}", str(row.media_type), bytes(row.content))


def _fetch(conn: Connection, book_id: int, document_id: int) -> Download:
    d, sf = documents.c, stored_files.c
    row = conn.execute(
        select(d.filename, sf.media_type, sf.content)
        .join(stored_files, sf.id == d.file_id)
        .where(and_(d.id == document_id, d.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no document {document_id} in this book")
    return Download(str(row.filename), str(row.media_type), bytes(row.content))
