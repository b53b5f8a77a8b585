"""Importing planned visits and actual records into a book, all or nothing (or, if the user
chooses, the valid rows with the rest returned as an error file).

On top of the exchange format's own checks (``exchange.py``), an import checks what only
the book knows: that each client and provider is a party of the book with that role, that
each planned visit falls under a care package of its client, provider and service (the
package gives its rate), that no id was imported before, and, for a provider's portal
upload, that every record is that provider's. The same file twice is recognised by its
SHA-256 and imports nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date
from pathlib import PurePath
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, case, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.bulk import insert_frame, refs_taken
from remit.care import exchange
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import (
    actual_records,
    care_absences,
    care_imports,
    care_packages,
    care_runs,
    planned_visits,
)
from remit.db import insert_id
from remit.documents import service as documents
from remit.errors import Forbidden, ValidationFailed
from remit.parties import service as parties


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: int | None  # None when nothing was imported (the file was seen before)
    rows: int  # rows imported
    rejected: int  # rows refused (only with valid_only)
    replayed: bool  # the same file was imported before: nothing new
    rejected_csv: bytes  # the refused rows as they came, with their line and problems
    rejected_document_id: int | None = None  # the same, kept as a document to download
    unplanned: int = 0  # records kept whose client has no package of that provider, service
    unknown_client: int = 0  # records kept under a client reference not in the book
    posted_period: int = 0  # records of a period whose run is posted: a supplementary run's

    def kept_text(self) -> str:
        """What was kept as unplanned care, for a notice ('' when nothing was).

        >>> ImportResult(1, 5, 0, False, b"", None, 2, 1).kept_text()
        '2 kept as unplanned (no care package); 1 kept under a client not in the book'
        >>> ImportResult(1, 5, 0, False, b"").kept_text()
        ''
        >>> ImportResult(1, 5, 0, False, b"", posted_period=3).kept_text()  # doctest: +ELLIPSIS
        '3 fall in a period already posted: ... reconciled again'
        """
        parts = []
        if self.posted_period:
            parts.append(
                f"{self.posted_period:,} fall in a period already posted: kept, and paid by a "
                "supplementary self-bill when the period is reconciled again"
            )
        if self.unplanned:
            parts.append(f"{self.unplanned:,} kept as unplanned (no care package)")
        if self.unknown_client:
            parts.append(f"{self.unknown_client:,} kept under a client not in the book")
        return "; ".join(parts)


REPLAYED = ImportResult(None, 0, 0, True, b"")  # the same file again: nothing new


def import_planned(
    conn: Connection,
    actor: Actor,
    book_id: int,
    filename: str,
    content: bytes,
    valid_only: bool = False,
) -> ImportResult:
    """Planned visits from a planned.csv; see the module's docstring."""
    require(actor, book_id, Permission.CARE_IMPORT)
    digest = hashlib.sha256(content).hexdigest()
    if _seen(conn, book_id, "planned", digest):
        return REPLAYED
    checked = exchange.read_planned(content, filename)
    rows = _with_packages(conn, book_id, _with_parties(conn, book_id, checked), checked)
    _already(conn, planned_visits, book_id, rows, "visit_id", "visit", checked)
    return _finish(
        conn,
        actor,
        book_id,
        "planned",
        filename,
        digest,
        checked,
        rows,
        valid_only,
        None,
        _planned_values,
    )


def import_actual(
    conn: Connection,
    actor: Actor,
    book_id: int,
    filename: str,
    content: bytes | list[dict[str, Any]],
    valid_only: bool = False,
    provider_party_id: int | None = None,
    keep_rejected: bool = True,
) -> ImportResult:
    """Actual records from an actual.csv (bytes) or a list of JSON objects (the API);
    ``provider_party_id`` for a portal upload, which may only carry that provider's
    records. Without ``keep_rejected`` (the API, which answers with them) the rejected
    rows are not kept as a document."""
    if provider_party_id is None:
        require(actor, book_id, Permission.CARE_IMPORT)
    elif actor.party_in(book_id) != provider_party_id:
        raise Forbidden("a provider uploads only its own visits")
    # JSON records are fingerprinted as their canonical text (the audit chain's form).
    data = audit.canonical(content).encode("utf-8") if isinstance(content, list) else content
    digest = hashlib.sha256(data).hexdigest()
    if _seen(conn, book_id, "actual", digest):
        return REPLAYED
    checked = (
        exchange.read_actual_records(content, filename)
        if isinstance(content, list)
        else exchange.read_actual(content, filename)
    )
    rows = _with_parties(conn, book_id, checked, keep_unknown_clients=True)
    if provider_party_id is not None:
        _collect(
            checked,
            rows,
            pl.col("provider_party_id").is_not_null()
            & (pl.col("provider_party_id") != provider_party_id),
            "provider_id",
            "not your organisation: upload only your own visits",
            "own_records",
        )
    _already(conn, actual_records, book_id, rows, "record_id", "record", checked)
    result = _finish(
        conn,
        actor,
        book_id,
        "actual",
        filename,
        digest,
        checked,
        rows,
        valid_only,
        provider_party_id,
        _actual_values,
        keep_rejected,
    )
    claim_held_records(conn, book_id)
    return _with_kept_counts(conn, book_id, result, package_ids(conn, book_id, rows), checked)


def claim_held_records(conn: Connection, book_id: int) -> int:
    """Give the records held under a client reference (``client_party_id`` NULL) the client
    of the book with that reference, once the client is registered: one UPDATE over every
    such record. Returns how many records were claimed."""
    a = actual_records.c
    held = a.book_id == book_id, a.client_party_id.is_(None), a.client_ref.is_not(None)
    refs = conn.execute(select(a.client_ref).where(*held).distinct()).scalars().all()
    if not refs:
        return 0
    clients = parties.party_ids_with_role(conn, book_id, "client")
    found = {
        ref: pid
        for ref, pid in parties.party_ids_for(conn, book_id, refs).items()
        if pid in clients
    }
    if not found:
        return 0
    changed = conn.execute(
        update(actual_records)
        .where(*held, a.client_ref.in_(sorted(found)))
        .values(client_party_id=case(found, value=a.client_ref))
    )
    return int(changed.rowcount or 0)


def _with_kept_counts(
    conn: Connection,
    book_id: int,
    result: ImportResult,
    rows: pl.DataFrame,
    checked: exchange.Checked,
) -> ImportResult:
    """The result with how many of its imported records are unplanned care."""
    if result.import_id is None:
        return result
    bad_lines = sorted({p.line for p in checked.problems if p.line is not None})
    good = rows.filter(~pl.col("line").is_in(bad_lines))
    unknown = good.filter(pl.col("client_party_id").is_null()).height
    no_plan = good.filter(
        pl.col("client_party_id").is_not_null()
        & pl.col("provider_party_id").is_not_null()
        & pl.col("package_id").is_null()
    ).height
    return replace(
        result,
        unplanned=no_plan,
        unknown_client=unknown,
        posted_period=_in_posted_periods(conn, book_id, good),
    )


def _in_posted_periods(conn: Connection, book_id: int, good: pl.DataFrame) -> int:
    """How many of the records check in during a period their provider's run has posted."""
    r = care_runs.c
    posted = pl.DataFrame(
        [
            (x.provider_party_id, _day(x.period_start), _day(x.period_end))
            for x in conn.execute(
                select(r.provider_party_id, r.period_start, r.period_end)
                .where(and_(r.book_id == book_id, r.status == "posted"))
                .distinct()
            )
        ],
        orient="row",
        schema={"provider_party_id": pl.Int64, "first": pl.Int64, "last": pl.Int64},
    )
    if posted.is_empty() or good.is_empty():
        return 0
    return (
        good.select(
            "line",
            provider_party_id=pl.col("provider_party_id").cast(pl.Int64),
            day=pl.col("check_in_s") // DAY_SECONDS,
        )
        .join(posted, on="provider_party_id")
        .filter(pl.col("day").is_between("first", "last"))
        .get_column("line")
        .n_unique()
    )


# ---------------------------------------------------------------- checks of the book


def _seen(conn: Connection, book_id: int, kind: str, digest: str) -> bool:
    """Whether this very file (its SHA-256) was imported into the book before."""
    return (
        conn.execute(
            select(care_imports.c.id).where(
                and_(
                    care_imports.c.book_id == book_id,
                    care_imports.c.kind == kind,
                    care_imports.c.sha256 == digest,
                )
            )
        ).first()
        is not None
    )


def _with_parties(
    conn: Connection, book_id: int, checked: exchange.Checked, keep_unknown_clients: bool = False
) -> pl.DataFrame:
    """The rows with the party ids of their client and provider refs (``client_party_id``,
    ``provider_party_id``); a problem for each ref unknown in that role, except, with
    ``keep_unknown_clients`` (actual records), a client: its ``client_party_id`` is null."""
    rows = checked.rows
    for role, column in (("client", "client_id"), ("provider", "provider_id")):
        names = rows.get_column(column).drop_nulls().unique().to_list()
        found = parties.party_ids_for(conn, book_id, names)
        with_role = parties.party_ids_with_role(conn, book_id, role)
        table = pl.DataFrame(
            {"ref": list(found), f"{role}_party_id": list(found.values())},
            schema={"ref": pl.String, f"{role}_party_id": pl.Int64},
        )
        table = table.filter(pl.col(f"{role}_party_id").is_in(list(with_role)))
        if role == "client" and keep_unknown_clients:
            rows = rows.join(table, left_on=column, right_on="ref", how="left")
            continue
        _collect(
            checked,
            rows,
            pl.col(column).is_not_null() & ~pl.col(column).is_in(table.get_column("ref").to_list()),
            column,
            pl.format(f"no {role} {{}} in this book", pl.col(column)),
            f"unknown_{role}",
        )
        rows = rows.join(table, left_on=column, right_on="ref", how="left")
    return rows


def _with_packages(
    conn: Connection, book_id: int, rows: pl.DataFrame, checked: exchange.Checked
) -> pl.DataFrame:
    """Each planned visit's care package (see ``package_ids``); a problem for a visit with
    none."""
    matched = package_ids(conn, book_id, rows)
    _collect(
        checked,
        matched,
        pl.col("client_party_id").is_not_null()
        & pl.col("provider_party_id").is_not_null()
        & pl.col("start_s").is_not_null()
        & pl.col("package_id").is_null(),
        "service_code",
        "no care package of this client, provider and service on the visit's date",
        "no_package",
    )
    return matched


def package_ids(conn: Connection, book_id: int, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows (with ``client_party_id``, ``provider_party_id``, ``service_code`` and
    ``start_s`` or ``check_in_s``), in their order, with ``package_id``: the care package of
    the same client, provider and service in force on the row's date (the latest that
    started, if two overlap), null when there is none."""
    p = care_packages.c
    found = conn.execute(
        select(
            p.id, p.client_party_id, p.provider_party_id, p.service_code, p.start_date, p.end_date
        ).where(p.book_id == book_id)
    ).all()
    packages = pl.DataFrame(
        [
            (
                r.id,
                r.client_party_id,
                r.provider_party_id,
                r.service_code,
                _day(r.start_date),
                _day(r.end_date) if r.end_date else 1 << 30,
            )
            for r in found
        ],
        schema={
            "package_id": pl.Int64,
            "client_party_id": pl.Int64,
            "provider_party_id": pl.Int64,
            "service_code": pl.String,
            "from_day": pl.Int64,
            "to_day": pl.Int64,
        },
        orient="row",
    )
    moment = "start_s" if "start_s" in rows.columns else "check_in_s"
    keyed = (
        rows.with_row_index("_order")
        .with_columns(day=pl.col(moment) // DAY_SECONDS)
        .sort("day", nulls_last=True)
    )
    matched = keyed.join_asof(
        packages.sort("from_day"),
        left_on="day",
        right_on="from_day",
        by=["client_party_id", "provider_party_id", "service_code"],
        strategy="backward",
        check_sortedness=False,
    )
    matched = matched.with_columns(
        package_id=pl.when(pl.col("day") <= pl.col("to_day"))
        .then(pl.col("package_id"))
        .otherwise(None)
    ).sort("_order")
    return matched.drop("_order", "day", "from_day", "to_day")


def _already(
    conn: Connection,
    table: Any,
    book_id: int,
    rows: pl.DataFrame,
    column: str,
    what: str,
    checked: exchange.Checked,
) -> None:
    known = refs_taken(
        conn, table, book_id, rows.get_column(column).drop_nulls().unique().to_list()
    )
    if known:
        _collect(
            checked,
            rows,
            pl.col(column).is_in(sorted(known)),
            column,
            pl.format(f"{what} {{}} was imported before", pl.col(column)),
            "imported",
        )


def _collect(
    checked: exchange.Checked,
    rows: pl.DataFrame,
    bad: pl.Expr,
    column: str,
    message: str | pl.Expr,
    code: str,
) -> None:
    exchange.collect(checked, [(column, code, bad, message)], rows)


def _day(value: date) -> int:
    return (value - EPOCH).days


# ---------------------------------------------------------------- writing


def _finish(
    conn: Connection,
    actor: Actor,
    book_id: int,
    kind: str,
    filename: str,
    digest: str,
    checked: exchange.Checked,
    rows: pl.DataFrame,
    valid_only: bool,
    provider_party_id: int | None,
    values: Any,
    keep_rejected: bool = True,
) -> ImportResult:
    if checked.problems and not valid_only:
        raise ValidationFailed(sorted(checked.problems, key=lambda p: (p.line or 0, p.field)))
    bad_lines = {p.line for p in checked.problems if p.line is not None}
    good = rows.filter(~pl.col("line").is_in(sorted(bad_lines)))
    import_id = insert_id(
        conn,
        insert(care_imports).values(
            book_id=book_id,
            kind=kind,
            filename=filename[:255],
            sha256=digest,
            rows=good.height,
            rejected=len(bad_lines),
            provider_party_id=provider_party_id,
            created_by=actor.username,
            created_at=audit.utc_now_text(),
        ),
    )
    insert_frame(
        conn,
        planned_visits if kind == "planned" else actual_records,
        values(good, book_id, import_id),
    )
    audit.record(
        conn,
        actor,
        f"care.import_{kind}",
        "care_import",
        import_id,
        None,
        {"file": filename, "rows": good.height, "rejected": len(bad_lines)},
        book_id,
    )
    rejected = exchange.rejected_csv(checked) if bad_lines else b""
    document_id = None
    if (
        rejected and keep_rejected
    ):  # the error file, kept where the user (or the provider) can download it
        name = f"{PurePath(filename).stem}.rejected.csv"
        document_id = documents.attach(
            conn,
            actor,
            book_id,
            "care_import" if provider_party_id is None else "party",
            import_id if provider_party_id is None else provider_party_id,
            name,
            rejected,
            f"Rejected rows of {filename}",
            "care rejected rows",
            portal_visible=provider_party_id is not None,
        )
    return ImportResult(import_id, good.height, len(bad_lines), False, rejected, document_id)


def import_absences(
    conn: Connection, actor: Actor, book_id: int, filename: str, content: bytes
) -> int:
    """Clients' hospital stays from an absences.csv (``client_ref,first_day,last_day,
    reason``), all or nothing; their days suspend the clients' visits at reconciliation
    (``care.visits.with_absences``). Returns the number of stays recorded."""
    require(actor, book_id, Permission.CARE_IMPORT)
    checked = exchange.read_absences(content, filename)
    found = parties.party_ids_for(
        conn, book_id, checked.rows.get_column("client_ref").drop_nulls().unique().to_list()
    )
    clients = parties.party_ids_with_role(conn, book_id, "client")
    known = {ref: pid for ref, pid in found.items() if pid in clients}
    _collect(
        checked,
        checked.rows,
        pl.col("client_ref").is_not_null() & ~pl.col("client_ref").is_in(list(known)),
        "client_ref",
        pl.format("no client {} in this book", pl.col("client_ref")),
        "unknown_client",
    )
    if checked.problems:
        raise ValidationFailed(checked.problems)
    stays = checked.rows.select(
        book_id=pl.lit(book_id),
        client_party_id=pl.col("client_ref").replace_strict(known, return_dtype=pl.Int64),
        first_day=pl.col("first_day").str.to_date("%Y-%m-%d"),
        last_day=pl.col("last_day").str.to_date("%Y-%m-%d", strict=False),
        reason="reason",
        created_by=pl.lit(actor.username),
        created_at=pl.lit(audit.utc_now_text()),
    )
    insert_frame(conn, care_absences, stays)
    audit.record(
        conn,
        actor,
        "care.absences.import",
        "care_absences",
        filename,
        None,
        {"filename": filename, "stays": stays.height},
        book_id,
    )
    return stays.height


def _planned_values(rows: pl.DataFrame, book_id: int, import_id: int) -> pl.DataFrame:
    return rows.select(
        book_id=pl.lit(book_id),
        ref="visit_id",
        package_id="package_id",
        client_party_id="client_party_id",
        provider_party_id="provider_party_id",
        service_code="service_code",
        start_s="start_s",
        end_s="end_s",
        carers="carers_n",
        status="status_code",
        status_reason=pl.when(pl.col("status_reason") != "").then("status_reason"),
        import_id=pl.lit(import_id),
    )


def _actual_values(rows: pl.DataFrame, book_id: int, import_id: int) -> pl.DataFrame:
    return rows.select(
        book_id=pl.lit(book_id),
        ref="record_id",
        client_party_id="client_party_id",
        client_ref="client_id",
        provider_party_id="provider_party_id",
        carer_ref="carer_id",
        service_code="service_code",
        method="method",
        check_in_s="check_in_s",
        check_out_s="check_out_s",
        latitude="latitude",
        longitude="longitude",
        import_id=pl.lit(import_id),
    )
