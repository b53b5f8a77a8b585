"""Text that would break later is refused by the services, where forms, the API and files
all arrive: a vertical tab, a NUL or an over-long value is refused with its field named and
nothing written; line breaks are accepted in free text and refused in single-line fields;
dates lie between 1900 and 2100; a header-only packages file has nothing to import."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

import remit.stores  # noqa: F401 - every table, for counting what was written
from remit.access import tokens
from remit.access.model import Actor, Role
from remit.access.service import add_user
from remit.care import decisions, imports, packages, payables, runs
from remit.care import service as care
from remit.care.model import Policy
from remit.care.service import NewPackage, Slot
from remit.care.store import visit_outcomes
from remit.cases import correspondence, letters
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.db import metadata
from remit.documents.rules import upload_problems
from remit.errors import ValidationFailed
from remit.events.service import create_subscription
from remit.jobs import service as jobs
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.secrets import Vault

PASSWORD = "correct horse battery"
VERTICAL_TAB, NUL, LINE_BREAK = "a\x0bb", "a\x00b", "first line\nsecond line"


@dataclass(frozen=True)
class Field:
    """One text field of a service: its name in the Problem, its limit, whether it is free
    text (line breaks allowed), and how to call the service with a value in it."""

    name: str
    limit: int
    call: Callable[[Any, dict[str, Any], str], Any]
    multiline: bool = False
    good: str = "An ordinary value"
    line: int | None = None  # a file's: the line every problem names
    collapses: bool = False  # white space (a vertical tab, a line break) becomes one space


def written(conn: Any) -> dict[str, int]:
    """How many rows every table holds."""
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        for t in metadata.sorted_tables
    }


@pytest.fixture
def world(db, book, system, council):
    """The council's book, a real user to own cases, a helpdesk case and a vault."""
    with db.write() as conn:
        add_user(conn, system, "owen", PASSWORD, grants=[(book, Role.CLERK)])
        admin_id = add_user(conn, system, "ada-admin", PASSWORD, grants=[(book, Role.ADMIN)])
        clerk = council["clerk"]
        case_id = cases.open_case(
            conn, clerk, book, NewCase("helpdesk", "A query", party_id=council["p1"])
        )
    admin = Actor("ada-admin", user_id=admin_id, roles={book: frozenset({Role.ADMIN})})
    return {
        **council,
        "db": db,
        "book": book,
        "system": system,
        "admin": admin,
        "case": case_id,
        "vault": Vault(Fernet.generate_key()),
    }


def _case(conn, w, **changes):
    new = NewCase(**{"case_type": "helpdesk", "title": "A query", **changes})
    return cases.open_case(conn, w["clerk"], w["book"], new)


def _contact(conn, w, **changes):
    contact = parties.Contact(**{"name": "Jo Bloggs", **changes})
    spec = parties.NewParty(
        "P9", "Ninth Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,), contacts=(contact,)
    )
    return parties.create_party(conn, w["system"], w["book"], spec)


def _package_file(conn, w, column, value):
    row = {
        "package_id": "PKG-9",
        "client_id": "C1",
        "provider_id": "P1",
        "service_code": "HC",
        "start_date": "2026-11-02",
        "days": "daily",
        "start": "08:00",
        "minutes": "30",
        "rate_per_hour": "18.50",
        "currency": "GBP",
        "note": "",
        column: value,
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    return packages.import_packages(
        conn, w["clerk"], w["book"], "packages.csv", out.getvalue().encode()
    )


FIELDS = [
    # cases
    Field("title", 200, lambda c, w, v: _case(c, w, title=v)),
    Field("description", 20_000, lambda c, w, v: _case(c, w, description=v), multiline=True),
    Field("owner", 100, lambda c, w, v: _case(c, w, owner=v), good="owen"),
    Field("team", 32, lambda c, w, v: _case(c, w, team=v), good="helpdesk"),
    Field(
        "reason",
        4000,
        lambda c, w, v: cases.transition(c, w["clerk"], w["book"], w["case"], "cancel", v),
        multiline=True,
    ),
    Field(
        "body",
        20_000,
        lambda c, w, v: cases.comment(c, w["clerk"], w["book"], w["case"], v),
        multiline=True,
    ),
    Field(
        "note",
        4000,
        lambda c, w, v: cases.assign(c, w["manager"], w["book"], [w["case"]], None, None, v),
        multiline=True,
    ),
    Field(
        "label",
        200,
        lambda c, w, v: cases.link(c, w["clerk"], w["book"], w["case"], "party", "P1", v),
    ),
    # correspondence
    Field(
        "subject",
        300,
        lambda c, w, v: correspondence.log_call(c, w["clerk"], w["book"], w["p1"], "in", v, ""),
        collapses=True,
    ),
    Field(
        "notes",
        20_000,
        lambda c, w, v: correspondence.log_call(
            c, w["clerk"], w["book"], w["p1"], "in", "A call", v
        ),
        multiline=True,
    ),
    # care packages (a file: the line is named too) and the care book's free text
    *(
        Field(
            column,
            limit,
            lambda c, w, v, col=column: _package_file(c, w, col, v),
            good=good,
            line=2,
        )
        for column, limit, good in (
            ("package_id", 64, "PKG-9"),
            ("client_id", 64, "C1"),
            ("provider_id", 64, "P1"),
            ("service_code", 32, "HC"),
            ("note", 4000, "An ordinary note"),
        )
    ),
    Field(
        "ref",
        64,
        lambda c, w, v: care.create_package(
            c,
            w["clerk"],
            w["book"],
            NewPackage(
                v,
                w["c1"],
                w["p1"],
                "HC",
                date(2026, 11, 2),
                None,
                (Slot(0, 600, 30),),
                ((date(2026, 11, 2), "18.50", "GBP"),),
            ),
        ),
    ),
    Field(
        "note",
        500,
        lambda c, w, v: care.set_policy(
            c, w["manager"], w["book"], Policy(), date(2026, 11, 2), note=v
        ),
        multiline=True,
    ),
    Field(
        "reason",
        500,
        lambda c, w, v: payables.hold(c, w["manager"], w["book"], w["p1"], v),
        multiline=True,
    ),
    # parties
    *(
        Field(
            f"contacts[0].{name}",
            limit,
            lambda c, w, v, n=name: _contact(c, w, **{n: v}),
            multiline=name == "address",
        )
        for name, limit in (("name", 200), ("email", 254), ("phone", 40), ("address", 500))
    ),
    # access
    Field(
        "display_name",
        200,
        lambda c, w, v: add_user(
            c, w["system"], "newbie", PASSWORD, display_name=v, grants=[(w["book"], Role.CLERK)]
        ),
    ),
    Field(
        "email",
        254,
        lambda c, w, v: add_user(
            c, w["system"], "newbie", PASSWORD, email=v, grants=[(w["book"], Role.CLERK)]
        ),
        good="newbie@council.example",
    ),
    Field(
        "username",
        100,
        lambda c, w, v: add_user(c, w["system"], v, PASSWORD, grants=[(w["book"], Role.CLERK)]),
        good="newbie",
    ),
    Field(
        "name",
        100,
        lambda c, w, v: tokens.issue_token(c, w["admin"], w["book"], v, ["parties:read"]),
    ),
    # events
    Field(
        "description",
        200,
        lambda c, w, v: create_subscription(
            c,
            w["admin"],
            w["vault"],
            w["book"],
            "https://receiver.example/hook",
            ["case.*"],
            v,
        ),
    ),
    # jobs
    Field(
        "dedupe_key",
        200,
        lambda c, w, v: jobs.enqueue(c, w["manager"], w["book"], "cases.escalate", {}, v),
    ),
    Field(
        "params.name",
        4000,
        lambda c, w, v: jobs.enqueue(
            c, w["manager"], w["book"], "ledger.post_file", {"file_id": 1, "name": v}
        ),
    ),
]
IDS = [f"{f.name}-{f.limit}" for f in FIELDS]


def refused(w: dict[str, Any], field: Field, value: str) -> set[str]:
    """The fields named when ``field`` is given ``value``; nothing may have been written."""
    with w["db"].write() as conn:
        before = written(conn)
        with pytest.raises(ValidationFailed) as caught:
            field.call(conn, w, value)
        assert written(conn) == before, "a refused value wrote something"
    if field.line is not None:
        assert {p.line for p in caught.value.problems} == {field.line}, caught.value.problems
    return {p.field for p in caught.value.problems}


@pytest.mark.parametrize("field", FIELDS, ids=IDS)
@pytest.mark.parametrize("kind", ["vertical_tab", "nul", "over_long"])
def test_a_control_character_or_an_over_long_value_is_refused_naming_the_field(world, field, kind):
    value = {
        "vertical_tab": VERTICAL_TAB,
        "nul": NUL,
        "over_long": "x" * (field.limit + 1),
    }[kind]
    if field.collapses and kind == "vertical_tab":
        with world["db"].write() as conn:
            field.call(conn, world, value)  # stored as "a b"
        return
    assert field.name in refused(world, field, value)


@pytest.mark.parametrize("field", FIELDS, ids=IDS)
def test_an_ordinary_value_passes(world, field):
    with world["db"].write() as conn:
        field.call(conn, world, field.good)


@pytest.mark.parametrize("field", FIELDS, ids=IDS)
def test_line_breaks_are_free_text_only(world, field):
    if field.multiline or field.collapses:
        with world["db"].write() as conn:
            field.call(conn, world, LINE_BREAK)
    else:
        assert field.name in refused(world, field, LINE_BREAK)


def test_a_file_name_refuses_control_characters_and_length():
    assert [p.check for p in upload_problems("scan\x0b.txt", b"hello")] == ["control_character"]
    assert [p.check for p in upload_problems("scan\x00.txt", b"hello")] == ["control_character"]
    assert [p.check for p in upload_problems("x" * 197 + ".txt", b"hello")] == ["length"]
    assert upload_problems("Zoë's scan (1).txt", b"hello") == []


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01"])
def test_a_packages_file_refuses_dates_outside_1900_to_2100(world, day):
    field = Field("start_date", 0, lambda c, w, v: _package_file(c, w, "start_date", v))
    assert "start_date" in refused(world, field, day)
    _, problems = letters.prepare_context(
        "statement_cover",
        {"period_start": day, "period_end": "2026-03-31", "closing_balance": "1.00"},
        "GBP",
    )
    assert ("period_start", "date_range") in {(p.field, p.check) for p in problems}


def test_a_header_only_packages_file_says_there_is_nothing_to_import(world):
    header = ",".join(packages.COLUMNS) + "\n"
    with pytest.raises(ValidationFailed) as caught, world["db"].write() as conn:
        packages.import_packages(conn, world["clerk"], world["book"], "p.csv", header.encode())
    assert [p.check for p in caught.value.problems] == ["empty"]
    assert "nothing to import" in str(caught.value.problems[0])


def _week_exception(w: dict[str, Any]) -> tuple[int, int]:
    """A reconciled week of the council's care: (a run, one of its exceptions)."""
    actual = (
        "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
        "R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:17:40\n"
    )
    with w["db"].write() as conn:
        care.generate_planned(conn, w["clerk"], w["book"], date(2026, 11, 2), date(2026, 11, 8))
        imports.import_actual(conn, w["clerk"], w["book"], "ecm.csv", actual.encode())
        found = runs.reconcile_period(
            conn, w["clerk"], w["book"], date(2026, 11, 2), date(2026, 11, 8)
        )
        run_id = next(s.run_id for s in found if s.provider_party_id == w["p1"])
        outcome = conn.execute(
            select(visit_outcomes.c.id).where(
                visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True)
            )
        ).first()
    assert outcome is not None
    return run_id, int(outcome.id)


def test_decision_and_adjustment_reasons_are_bounded_free_text(world):
    run_id, outcome_id = _week_exception(world)
    clerk, book = world["clerk"], world["book"]
    for field in (
        Field(
            "reason",
            4000,
            lambda c, w, v: decisions.decide(c, clerk, book, outcome_id, "reject", v),
        ),
        Field(
            "reason",
            500,
            lambda c, w, v: payables.request_adjustment(c, clerk, book, run_id, 100, v),
        ),
    ):
        for value in (VERTICAL_TAB, NUL, "x" * (field.limit + 1)):
            assert field.name in refused(world, field, value)
        with world["db"].write() as conn:
            field.call(conn, world, LINE_BREAK)


def test_bank_change_reason_is_bounded_free_text(world):
    details = BankDetails(
        BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
    )
    field = Field(
        "reason",
        500,
        lambda c, w, v: parties.request_bank_change(
            c, w["clerk"], w["vault"], w["book"], w["p1"], details, v
        ),
    )
    for value in (VERTICAL_TAB, NUL, "x" * 501):
        assert "reason" in refused(world, field, value)
    with world["db"].write() as conn:
        field.call(conn, world, "letter of 3 Nov\nconfirmed by call-back")
