"""The work queue: cases through their states, assignment, SLAs, escalation, portals."""

from __future__ import annotations

from datetime import date

import pytest

from remit.access.model import Actor, Role
from remit.access.service import add_user
from remit.cases import service as cases
from remit.cases.model import CASE_TYPES, NewCase, Priority
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties
from remit.testkit import person

PASSWORD = "correct horse battery"
MONDAY = date(2026, 11, 23)


@pytest.fixture
def team(db, book, system):
    """Users of the book (cases are owned by real users) and two providers."""
    with db.write() as conn:
        for name, role in (
            ("carla", Role.CLERK),
            ("cid", Role.CLERK),
            ("mona", Role.MANAGER),
            ("max", Role.MANAGER),
            ("aud", Role.AUDITOR),
        ):
            add_user(conn, system, name, PASSWORD, grants=[(book, role)])
        p1, p2 = create_parties(
            conn,
            system,
            book,
            [
                NewParty("P1", "Sunrise Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
                NewParty("P2", "Oakfield Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)),
            ],
        )
    return {
        "carla": person("carla", book, Role.CLERK),
        "cid": person("cid", book, Role.CLERK),
        "mona": person("mona", book, Role.MANAGER),
        "aud": person("aud", book, Role.AUDITOR),
        "p1": p1,
        "p2": p2,
    }


def provider_user(book, party_id, name="sunrise"):
    return Actor(
        username=name,
        user_id=None,
        roles={book: frozenset({Role.PROVIDER})},
        parties={book: party_id},
    )


def test_a_query_goes_through_its_states_with_history(db, book, team):
    carla = team["carla"]
    with db.write() as conn:
        case_id = cases.open_case(
            conn,
            carla,
            book,
            NewCase(
                "helpdesk",
                "Remittance for October missing",
                "Provider phoned",
                Priority.HIGH,
                team["p1"],
                owner="carla",
            ),
            today=MONDAY,
        )
        assert cases.transition(conn, carla, book, case_id, "start") == "in_progress"
        assert cases.transition(conn, carla, book, case_id, "wait") == "waiting"
        with pytest.raises(ValidationFailed, match="reason"):
            cases.transition(conn, carla, book, case_id, "resolve")
        assert cases.transition(conn, carla, book, case_id, "resolve", "resent it") == "resolved"
        with pytest.raises(Conflict, match="cannot 'start'"):
            cases.transition(conn, carla, book, case_id, "start")
    with db.read() as conn:
        found = cases.get_case(conn, carla, book, case_id)
    assert found["state"] == "resolved" and not found["is_open"]
    assert [h["kind"] for h in found["history"]] == [
        "opened",
        "transition",
        "transition",
        "transition",
    ]
    assert found["history"][-1]["body"] == "resent it"
    assert found["party_name"] == "Sunrise Home Care"
    assert [a.name for a in found["actions"]] == ["reopen"]


def test_the_sla_counts_business_days_of_the_book_calendar(db, book, team):
    with db.write() as conn:
        # The test book uses the English calendar: 5 business days over Christmas 2026.
        case_id = cases.open_case(
            conn,
            team["carla"],
            book,
            NewCase("helpdesk", "Over Christmas"),
            today=date(2026, 12, 23),
        )
        found = cases.get_case(conn, team["carla"], book, case_id)
    assert found["due_date"] == date(2027, 1, 4)  # 24, 29, 30, 31 Dec, 4 Jan (1 Jan is off)


def test_two_people_cannot_both_win_on_the_same_case(db, book, team):
    with db.write() as conn:
        case_id = cases.open_case(conn, team["carla"], book, NewCase("helpdesk", "Race"))
        version = cases.get_case(conn, team["carla"], book, case_id)["version"]
        cases.transition(conn, team["carla"], book, case_id, "start", expected_version=version)
        with pytest.raises(Conflict, match="changed by someone else"):
            cases.transition(conn, team["cid"], book, case_id, "wait", expected_version=version)


def test_bulk_assignment_and_my_queue_sorted_by_due_date(db, book, team):
    with db.write() as conn:
        ids = [
            cases.open_case(conn, team["carla"], book, NewCase(kind, f"case {kind}"), today=MONDAY)
            for kind in ("dispute", "payment_return", "helpdesk")
        ]
        assert cases.assign(conn, team["mona"], book, ids, "cid", note="cover for Carla") == 3
        with pytest.raises(Forbidden):
            cases.assign(conn, team["carla"], book, ids, "carla")
        with pytest.raises(ValidationFailed, match="not a user who works cases"):
            cases.assign(conn, team["mona"], book, ids, "aud")
    with db.read() as conn:
        queue = cases.my_queue(conn, team["cid"], book)
        counts = cases.queue_counts(conn, team["cid"], book, MONDAY)
    assert [c.case_type for c in queue] == ["payment_return", "helpdesk", "dispute"]
    assert [c.due_date for c in queue] == sorted(c.due_date for c in queue)
    assert counts == {"mine": 3, "mine_overdue": 0, "unassigned": 0, "overdue": 0}


def test_keyset_pages_cover_every_case_once(db, book, team):
    with db.write() as conn:
        made = {
            cases.open_case(
                conn,
                team["carla"],
                book,
                NewCase("helpdesk", f"q{n}"),
                today=date(2026, 11, 2 + n % 20),
            )
            for n in range(23)
        }
    seen, after = [], None
    with db.read() as conn:
        while True:
            page = cases.list_cases(conn, team["aud"], book, cases.CaseFilter(), after, limit=5)
            if not page:
                break
            seen += [c.id for c in page]
            after = (page[-1].due_date, page[-1].id)
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


def test_overdue_cases_escalate_to_the_least_loaded_manager_once(db, book, team, system):
    with db.write() as conn:
        late = cases.open_case(
            conn,
            team["carla"],
            book,
            NewCase("payment_return", "Returned BACS payment", owner="carla"),
            today=date(2026, 11, 2),
        )
        fresh = cases.open_case(
            conn, team["carla"], book, NewCase("payment_return", "New"), today=MONDAY
        )
        busy = cases.open_case(
            conn, team["carla"], book, NewCase("helpdesk", "x", owner="max"), today=MONDAY
        )
        escalated = cases.escalate_overdue(conn, system, book, today=MONDAY)
        again = cases.escalate_overdue(conn, system, book, today=MONDAY)
        with pytest.raises(Forbidden):
            cases.escalate_overdue(conn, team["carla"], book, today=MONDAY)
        found = cases.get_case(conn, team["carla"], book, late)
        untouched = [cases.get_case(conn, team["carla"], book, c) for c in (fresh, busy)]
    assert escalated == [late] and again == []
    assert [(c["escalation_level"], c["owner"]) for c in untouched] == [(0, None), (0, "max")]
    assert found["owner"] == "mona"  # max already has a case
    assert found["priority"] == Priority.HIGH and found["escalation_level"] == 1
    assert found["history"][-1]["kind"] == "escalated"


def test_every_case_type_is_consistent():
    for kind in CASE_TYPES.values():
        assert kind.initial not in kind.closed
        assert all(kind.allowed_from(s) for s in kind.states if s not in kind.closed), kind.code
    assert {
        "arbitration",
        "dispute",
        "unapplied_cash",
        "broken_promise",
        "compliance_gap",
        "payment_return",
        "invoice_alert",
        "helpdesk",
    } <= set(CASE_TYPES)


def test_a_provider_raises_a_query_and_sees_only_its_own_cases(db, book, team):
    sunrise = provider_user(book, team["p1"])
    oak = provider_user(book, team["p2"], "oak")
    with db.write() as conn:
        mine = cases.portal_raise_query(
            conn, sunrise, book, "Where is my payment?", "Invoice 77 of October", today=MONDAY
        )
        cases.comment(conn, team["carla"], book, mine, "internal: check the run")
        cases.comment(conn, team["carla"], book, mine, "Paid on Friday", portal_visible=True)
        cases.comment(conn, sunrise, book, mine, "Thank you")
        with pytest.raises(NotFound, match="no such query of yours"):  # as a missing one
            cases.comment(conn, oak, book, mine, "peeking")
        with pytest.raises(Forbidden):
            cases.open_case(conn, sunrise, book, NewCase("dispute", "not via the portal"))
    with db.read() as conn:
        seen = cases.portal_case(conn, sunrise, book, mine)
        assert [c.id for c in cases.portal_cases(conn, oak, book)] == []
        with pytest.raises(NotFound, match="no such query of yours"):
            cases.portal_case(conn, oak, book, mine)
        with pytest.raises(NotFound, match="no such query of yours"):
            cases.portal_case(conn, sunrise, book, 999_999)
        staff_view = cases.get_case(conn, team["carla"], book, mine)
    bodies = [h["body"] for h in seen["history"]]
    assert "internal: check the run" not in bodies
    assert "Paid on Friday" in bodies and "Thank you" in bodies
    assert len(staff_view["history"]) == 4
    assert seen["case_type"] == "helpdesk" and seen["party_id"] == team["p1"]


def test_attachments_are_checked_and_linked(db, book, team):
    with db.write() as conn:
        case_id = cases.open_case(conn, team["carla"], book, NewCase("dispute", "Bill 42"))
        doc = cases.attach(conn, team["carla"], book, case_id, "bill.pdf", b"%PDF-1.4 bill")
        with pytest.raises(ValidationFailed, match="content does not match"):
            cases.attach(conn, team["carla"], book, case_id, "bill.pdf", b"MZ\x90 not a pdf")
        cases.link(conn, team["carla"], book, case_id, "journal_entry", "17", "the bill entry")
        with pytest.raises(NotFound):
            cases.attach(conn, team["carla"], book, 999_999, "x.txt", b"x")
        found = cases.get_case(conn, team["carla"], book, case_id)
    assert [d["id"] for d in found["documents"]] == [doc]
    assert found["links"][0]["object_id"] == "17"
    assert [h["kind"] for h in found["history"]] == ["opened", "attachment", "link"]


def test_read_only_auditors_cannot_change_cases(db, book, team):
    with db.write() as conn:
        case_id = cases.open_case(conn, team["carla"], book, NewCase("helpdesk", "x"))
        for attempt in (
            lambda: cases.open_case(conn, team["aud"], book, NewCase("helpdesk", "y")),
            lambda: cases.transition(conn, team["aud"], book, case_id, "start"),
            lambda: cases.comment(conn, team["aud"], book, case_id, "hi"),
        ):
            with pytest.raises(Forbidden):
                attempt()


def test_a_party_sees_in_its_portal_only_the_cases_shared_with_it(db, book, team):
    carla = team["carla"]
    with db.write() as conn:
        shared = cases.open_case(
            conn,
            carla,
            book,
            NewCase("compliance_gap", "Insurance certificate expired", party_id=team["p1"]),
            today=MONDAY,
        )
        internal = cases.open_case(
            conn,
            carla,
            book,
            NewCase("dispute", "Their bill looks padded", party_id=team["p1"]),
            today=MONDAY,
        )
    sunrise = provider_user(book, team["p1"])
    with db.read() as conn:
        seen = {row.id for row in cases.portal_cases(conn, sunrise, book)}
        assert shared in seen and internal not in seen
        with pytest.raises(NotFound, match="no such query of yours"):
            cases.portal_case(conn, sunrise, book, internal)
