"""The run as a worklist: its exceptions filtered, sorted and paged in SQL (a 50-row page of
a 2,000-exception run is one indexed query), its visit lines paged, and the provider's
answer to each exception from its portal.

>>> Filters.of({"rule": "short_exception", "state": "open", "page": "3", "sort": "carer"})
Filters(rule='short_exception', state='undecided', client='', carer='', sort='carer', page=3)
>>> Filters.of({"page": "-2", "sort": "drop table"}).page, Filters.of({"sort": "x"}).sort
(1, 'date')
>>> flag_words("late_arrival,early_leaving")
'late arrival, early leaving'
>>> flag_words(None)
''
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, exists, func, insert, or_, select

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.care.model import Rule
from remit.care.selfbill import clock_text
from remit.care.store import (
    actual_records,
    care_answers,
    care_decisions,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases import service as cases
from remit.documents import service as documents
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.parties import service as parties
from remit.text import FREE_TEXT_MAX, ID_MAX, text_problem

PAGE_ROWS = 50
LINE_ROWS = 50  # as the exceptions: a page renders in a few milliseconds
# The status filter's values (``open`` is another word for undecided).
STATES = {
    "undecided": "undecided",
    "open": "undecided",
    "awaiting": "awaiting",
    "decided": "decided",
}
SORTS = ("date", "client", "carer", "rule", "status", "delivered")
RULE_WORDS = {
    Rule.WITHIN_TOLERANCE: "within tolerance",
    Rule.OVER_EXCEPTION: "longer than planned",
    Rule.SHORT_BANDED: "short, paid by band",
    Rule.SHORT_EXCEPTION: "too short",
    Rule.CHECK_OUT_BEFORE_CHECK_IN: "check-out before check-in",
    Rule.OVER_MAX_VISIT: "longer than a visit can last",
    Rule.NO_RECORD_FOR_PLACE: "missed (no record)",
    Rule.NO_PLANNED_VISIT_IN_WINDOW: "unplanned (no visit near)",
    Rule.CARER_ALREADY_PLACED: "carer already on the visit",
    Rule.PLACES_FILLED: "every carer place filled",
    Rule.VISIT_DECIDED_IN_OTHER_RUN: "late: visit decided in another run",
}


@dataclass(frozen=True)
class Filters:
    """What the officer chose to see: filters, sort and page, from the query string."""

    rule: str = ""
    state: str = ""
    client: str = ""
    carer: str = ""
    sort: str = "date"
    page: int = 1

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        """Bounded and whitelisted: an unknown value is ignored, never an error."""
        rule = query.get("rule", "")
        state = query.get("state", "")
        page = query.get("page", "1")
        return cls(
            rule=rule if rule in RULE_WORDS else "",
            state=STATES.get(state, ""),
            client=query.get("client", "").strip()[:ID_MAX],
            carer=query.get("carer", "").strip()[:ID_MAX],
            sort=query.get("sort", "") if query.get("sort", "") in SORTS else "date",
            page=max(int(page), 1) if page.isdigit() and len(page) < 7 else 1,
        )

    def query(self, **change: Any) -> dict[str, str]:
        """The query string's parameters, with ``change`` applied (for links)."""
        values = {**self.__dict__, **change}
        return {k: str(v) for k, v in values.items() if v not in ("", None, 1, "date")}


def flag_words(flags: str | None) -> str:
    """``late_arrival,early_leaving`` in words; none (NULL or empty) is ''."""
    return ", ".join(f.strip().replace("_", " ") for f in (flags or "").split(",") if f.strip())


def _awaiting() -> Any:
    d, o = care_decisions.c, visit_outcomes.c
    return exists(select(d.id).where(and_(d.outcome_id == o.id, d.status == "pending_approval")))


def _columns() -> list[Any]:
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    state = case(
        (o.decision.is_not(None), "decided"), (_awaiting(), "awaiting approval"), else_="undecided"
    )
    return [
        o.id,
        o.version,
        o.rule,
        o.status,
        o.reason,
        o.flags,
        o.planned_minutes,
        o.delivered_minutes,
        o.paid_minutes,
        o.decision,
        o.decision_reason,
        o.decided_by,
        o.final_minutes,
        o.final_amount_minor,
        o.currency,
        o.exception,
        v.ref.label("visit"),
        o.planned_visit_id.label("visit_id"),
        v.start_s,
        v.end_s,
        a.ref.label("record"),
        a.carer_ref.label("carer"),
        a.method,
        a.check_in_s,
        a.check_out_s,
        a.client_ref,
        func.coalesce(v.client_party_id, a.client_party_id).label("client_party_id"),
        func.coalesce(v.start_s, a.check_in_s).label("moment_s"),
        state.label("state"),
    ]


def _joined(query: Any) -> Any:
    """``query`` over the outcomes with their planned visit and record (either may be none)."""
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    return (
        query.select_from(visit_outcomes)
        .outerjoin(planned_visits, v.id == o.planned_visit_id)
        .outerjoin(actual_records, a.id == o.actual_record_id)
    )


class Row(dict[str, Any]):
    """A row of the worklist: a dict whose keys read as attributes too. Jinja reads
    ``e.id`` as an attribute first and a key only after an AttributeError; a page reads
    some 3,000 fields, and the raised errors were a fifth of its rendering time."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _page_of(chosen_ids: Any, sort: str, columns: list[Any] | None = None) -> Any:
    """The full rows of a page, in one statement: ``chosen_ids`` (a query of the page's
    ids, sorted and offset) joined to the rows, sorted again (50 rows). One statement, not
    two: each statement and each fetched row lets go of the interpreter's lock, and with 8
    pages at once every letting go is a wait to get it back."""
    page = chosen_ids.subquery("page")
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    return (
        select(*(columns or _columns()))
        .select_from(
            page.join(visit_outcomes, o.id == page.c.id)
            .outerjoin(planned_visits, v.id == o.planned_visit_id)
            .outerjoin(actual_records, a.id == o.actual_record_id)
        )
        .order_by(*_order(sort))
    )


def _rows_of_page(conn: Connection, statement: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    result = conn.execute(statement, values)
    keys = list(result.keys())
    return [Row(zip(keys, r, strict=True)) for r in result]


@functools.lru_cache(maxsize=128)
def _statements(sort: str, rule: bool, state: str, carer: bool, client: bool) -> tuple[Any, Any]:
    """(the count, the page) of the exceptions for filters of this shape, built once with
    their values bound (``run_id``, ``rule``, ``carer``, ``client_party``, ``client``,
    ``limit``, ``offset``): building a statement of 29 columns, and its cache key, each
    time cost more than running it."""
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    keys = _joined(select(o.id)).where(and_(o.run_id == bindparam("run_id"), o.exception.is_(True)))
    if rule:
        keys = keys.where(o.rule == bindparam("rule"))
    if state == "decided":
        keys = keys.where(o.decision.is_not(None))
    elif state:
        waiting = _awaiting()
        keys = keys.where(and_(o.decision.is_(None), waiting if state == "awaiting" else ~waiting))
    if carer:
        keys = keys.where(a.carer_ref == bindparam("carer"))
    if client:
        keys = keys.where(
            or_(
                func.coalesce(v.client_party_id, a.client_party_id) == bindparam("client_party"),
                a.client_ref == bindparam("client"),
            )
        )
    count = select(func.count()).select_from(keys.subquery())
    chosen_ids = keys.order_by(*_order(sort)).limit(bindparam("limit")).offset(bindparam("offset"))
    return count, _page_of(chosen_ids, sort)


@functools.lru_cache(maxsize=1)
def _lines_statement() -> Any:
    o = visit_outcomes.c
    chosen_ids = (
        _joined(select(o.id))
        .where(o.run_id == bindparam("run_id"))
        .order_by(*_order("date"))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    shown = [  # what a line shows, and no more (a line has no status to work out)
        o.id,
        o.status,
        o.flags,
        o.decision,
        o.planned_minutes,
        o.delivered_minutes,
        o.final_minutes,
        o.final_amount_minor,
        o.currency,
        v.ref.label("visit"),
        a.ref.label("record"),
        a.carer_ref.label("carer"),
        func.coalesce(v.start_s, a.check_in_s).label("moment_s"),
    ]
    return _page_of(chosen_ids, "date", shown)


def _order(sort: str) -> list[Any]:
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    moment = func.coalesce(v.start_s, a.check_in_s)
    first = {
        "date": moment,
        "client": func.coalesce(v.client_party_id, a.client_party_id),
        "carer": a.carer_ref,
        "rule": o.rule,
        "status": case((o.decision.is_not(None), 2), (_awaiting(), 1), else_=0),  # open first
        "delivered": o.delivered_minutes,
    }[sort]
    return [first.asc().nulls_last(), moment, o.id]  # the same order on both stores


def _run(conn: Connection, book_id: int, run_id: int) -> Any:
    r = care_runs.c
    found = conn.execute(
        select(r.id, r.provider_party_id).where(and_(r.id == run_id, r.book_id == book_id))
    ).first()
    if found is None:
        raise NotFound(f"no care run {run_id} in this book")
    return found


def exceptions(
    conn: Connection, actor: Actor, book_id: int, run_id: int, chosen: Filters
) -> tuple[int, list[dict[str, Any]]]:
    """(how many exceptions match, the page's rows in words), 50 rows a page."""
    require(actor, book_id, Permission.CARE_READ)
    _run(conn, book_id, run_id)
    total, rows = _page(conn, book_id, run_id, chosen)
    return total, _worded(conn, book_id, run_id, rows)


def _page(
    conn: Connection, book_id: int, run_id: int, chosen: Filters
) -> tuple[int, list[dict[str, Any]]]:
    count, page = _statements(
        chosen.sort, bool(chosen.rule), chosen.state, bool(chosen.carer), bool(chosen.client)
    )
    values: dict[str, Any] = {"run_id": run_id}
    if chosen.rule:
        values["rule"] = chosen.rule
    if chosen.carer:
        values["carer"] = chosen.carer
    if chosen.client:
        party = parties.party_ids_for(conn, book_id, [chosen.client]).get(chosen.client, -1)
        values |= {"client_party": party, "client": chosen.client}
    total = conn.execute(count, values).scalar_one()
    if not total:
        return 0, []
    values |= {"limit": PAGE_ROWS, "offset": (chosen.page - 1) * PAGE_ROWS}
    return int(total), _rows_of_page(conn, page, values)


def lines(
    conn: Connection, actor: Actor, book_id: int, run_id: int, page: int = 1
) -> tuple[int, list[dict[str, Any]]]:
    """(the run's line count, one page of its lines in visit order)."""
    require(actor, book_id, Permission.CARE_READ)
    _run(conn, book_id, run_id)
    o = visit_outcomes.c
    total = conn.execute(select(func.count()).where(o.run_id == run_id)).scalar_one()
    return int(total), _lines(conn, run_id, page)


def _lines(conn: Connection, run_id: int, page: int) -> list[dict[str, Any]]:
    values = {"run_id": run_id, "limit": LINE_ROWS, "offset": (max(page, 1) - 1) * LINE_ROWS}
    rows = _rows_of_page(conn, _lines_statement(), values)
    for r in rows:
        r["day"] = clock_text(int(r["moment_s"]))[0]
        r["flag_words"] = flag_words(r["flags"])
    return list(rows)


@dataclass(frozen=True)
class RunPage:
    """What the run's worklist page reads, in one call that checks the run once."""

    totals: dict[str, Any]
    matching: int
    exceptions: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    provider_name: str


def run_page(
    conn: Connection, actor: Actor, book_id: int, run_id: int, chosen: Filters, line_page: int
) -> RunPage:
    """The run's totals, the chosen page of its exceptions and a page of its lines (the
    line count is the totals' ``lines``)."""
    require(actor, book_id, Permission.CARE_READ)
    provider = int(_run(conn, book_id, run_id).provider_party_id)
    matching, rows = _page(conn, book_id, run_id, chosen)
    names = parties.party_names(
        conn, book_id, {r["client_party_id"] for r in rows} - {None} | {provider}
    )  # the provider's name with the clients' (one statement)
    rows = _worded(conn, book_id, run_id, rows, names)
    lines = _lines(conn, run_id, line_page)
    provider_name = names.get(provider, ("", ""))[1]
    return RunPage(_totals(conn, run_id), matching, rows, lines, provider_name)


def totals(conn: Connection, actor: Actor, book_id: int, run_id: int) -> dict[str, Any]:
    """The run's lines, exceptions, amount so far and currency, summed in SQL."""
    require(actor, book_id, Permission.CARE_READ)
    _run(conn, book_id, run_id)
    return _totals(conn, run_id)


def _totals(conn: Connection, run_id: int) -> dict[str, Any]:
    return dict(conn.execute(_TOTALS, {"run_id": run_id}).one()._mapping)


_TOTALS = select(
    func.count(visit_outcomes.c.id).label("lines"),
    func.count(case((visit_outcomes.c.exception.is_(True), visit_outcomes.c.id))).label(
        "exceptions"
    ),
    func.coalesce(func.sum(visit_outcomes.c.final_amount_minor), 0).label("amount_minor"),
    func.max(visit_outcomes.c.currency).label("currency"),
).where(visit_outcomes.c.run_id == bindparam("run_id"))


def _worded(
    conn: Connection,
    book_id: int,
    run_id: int,
    rows: list[dict[str, Any]],
    names: dict[int, tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The page's rows with client names, times, rule and flags in words, each row's
    decisions (oldest first; ``waiting``: the one awaiting a second person, if any) and the
    provider's answers: three queries for the page."""
    if not rows:
        return rows
    ids = [int(r["id"]) for r in rows]
    if names is None:
        names = parties.party_names(conn, book_id, {r["client_party_id"] for r in rows} - {None})
    past: dict[int, list[dict[str, Any]]] = {}
    for h in conn.execute(_HISTORY, {"ids": ids}).mappings():
        past.setdefault(int(h["outcome_id"]), []).append(dict(h))
    said: dict[int, list[dict[str, Any]]] = {}
    for h in conn.execute(_ANSWERS, {"run_id": run_id, "ids": ids}).mappings():
        said.setdefault(int(h["outcome_id"]), []).append(dict(h))
    for r in rows:
        history = past.get(int(r["id"]), [])
        ref, name = names.get(r["client_party_id"], (r["client_ref"] or "", ""))
        day, _ = clock_text(int(r["moment_s"]))
        r |= {
            "client_name": name,
            "client": ref,
            "day": day,
            "planned": _span(r["start_s"], r["end_s"]),
            "actual": _span(r["check_in_s"], r["check_out_s"]),
            "rule_words": RULE_WORDS.get(r["rule"], r["rule"]),
            "flag_words": flag_words(r["flags"]),
            "history": history,
            "waiting": next((h for h in history if h["status"] == _PENDING), None),
            "answers": said.get(int(r["id"]), []),
        }
    return rows


_PENDING = "pending_approval"  # decisions.DecisionStatus.PENDING
_HISTORY = (
    select(care_decisions)
    .where(care_decisions.c.outcome_id.in_(bindparam("ids", expanding=True)))
    .order_by(care_decisions.c.id)
)
_ANSWERS = (
    select(care_answers)
    .where(
        and_(
            care_answers.c.run_id == bindparam("run_id"),
            care_answers.c.outcome_id.in_(bindparam("ids", expanding=True)),
        )
    )
    .order_by(care_answers.c.id)
)


def _span(first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return ""
    return f"{clock_text(first)[1]}–{clock_text(last)[1]}"


# ---------------------------------------------------------------- the provider's answers


def portal_exceptions(
    conn: Connection, actor: Actor, book_id: int, run_id: int, page: int = 1
) -> tuple[Any, int, list[dict[str, Any]]]:
    """The provider user's own run (another's answers NotFound, as a missing one): the run,
    its exception count and one page of them with the answers given."""
    run = _own_run(conn, actor, book_id, run_id)
    total, rows = _page(conn, book_id, run_id, Filters(page=page))
    return run, total, _worded(conn, book_id, run_id, rows)


def _own_run(conn: Connection, actor: Actor, book_id: int, run_id: int) -> Any:
    require(actor, book_id, Permission.PORTAL_PROVIDER)
    r = care_runs.c
    run = conn.execute(select(care_runs).where(and_(r.id == run_id, r.book_id == book_id))).first()
    if run is None or run.provider_party_id != actor.party_in(book_id):
        raise NotFound(f"no care run {run_id} of yours")
    return run


ANSWER_MAX = FREE_TEXT_MAX


def _keep_file(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run: Any,
    outcome_id: int,
    filename: str,
    content: bytes,
) -> int | None:
    """The answer's file, if any, kept once and filed with the run's arbitration case (or
    the provider's own documents when the run has none), where the officer opens it."""
    if not content:
        return None
    where = ("case", int(run.case_id)) if run.case_id else ("party", int(run.provider_party_id))
    documents.attach(
        conn,
        actor,
        book_id,
        *where,
        filename,
        content,
        title=f"{PurePath(filename).name} (answer to exception {outcome_id})",
        kind="care_answer",
    )
    return documents.store_file(conn, book_id, filename, content)  # the same file, by content


def answer(
    conn: Connection,
    actor: Actor,
    book_id: int,
    outcome_id: int,
    body: str,
    filename: str = "",
    content: bytes = b"",
) -> dict[str, Any]:
    """The provider's answer to one exception of its own run, with a file if any; the
    officer sees it on the worklist row."""
    require(actor, book_id, Permission.PORTAL_PROVIDER)
    o = visit_outcomes.c
    row = conn.execute(select(o.id, o.run_id, o.exception).where(o.id == outcome_id)).first()
    if row is None or not row.exception:
        raise NotFound(f"no exception {outcome_id} of yours")
    try:
        run = _own_run(conn, actor, book_id, int(row.run_id))
    except NotFound:
        raise NotFound(f"no exception {outcome_id} of yours") from None
    if run.status == "posted":
        raise Conflict("the period is posted and paid: ask the council about it in Queries")
    text = body.strip()
    problems = []
    if not text:
        problems.append(Problem("body", "write your answer", "required"))
    found = text_problem(text, "body", max_chars=ANSWER_MAX, multiline=True)
    problems += [found] if found is not None else []
    if problems:
        raise ValidationFailed(problems)
    file_id = _keep_file(conn, actor, book_id, run, outcome_id, filename, content)
    values = {
        "outcome_id": outcome_id,
        "run_id": int(row.run_id),
        "body": text,
        "file_id": file_id,
        "filename": PurePath(filename).name[:255] if content else None,
        "answered_by": actor.username,
        "answered_at": audit.utc_now_text(),
    }
    conn.execute(insert(care_answers).values(**values))
    audit.record(conn, actor, "care.answer", "visit_outcome", outcome_id, None, values, book_id)
    if run.case_id is not None:
        cases.notify_owner(
            conn, book_id, int(run.case_id), f"the provider answered exception {outcome_id}"
        )
    return {**values, "case_id": run.case_id}
