"""Unplanned care (issue 9): records for a client with no care package of that provider, or
for a client not yet in the book, are kept and come out as unplanned exceptions saying why;
a client registered later is matched; holds only for a provider of the book."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import make_book, make_council
from typer.testing import CliRunner

from remit.access.model import Actor, Role
from remit.access.service import actor_for, add_user
from remit.care import decisions, imports, packages, payables, rates, runs
from remit.care import service as care
from remit.care.store import actual_records, visit_outcomes
from remit.cli import app
from remit.errors import NotFound, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
# R1 is Ada's planned 09:00; R2 is Alan (C2) with Sunrise (P1), who has no package with
# him; R3 is for a client reference C9 the book does not know yet.
RECORDS = (
    HEADER + "R1,C1,P1,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"
    "R2,C2,P1,K1,HC,app,2026-11-03T15:00:00,2026-11-03T15:30:00\n"
    "R3,C9,P1,K1,HC,app,2026-11-04T15:00:00,2026-11-04T15:45:00\n"
)


def _stored(db, book):
    a = actual_records.c
    with db.read() as conn:
        return {
            r.ref: (r.client_party_id, r.client_ref)
            for r in conn.execute(
                select(a.ref, a.client_party_id, a.client_ref).where(a.book_id == book)
            )
        }


def _outcome_of(db, record_ref):
    a, o = actual_records.c, visit_outcomes.c
    with db.read() as conn:
        return (
            conn.execute(
                select(o.status, o.reason, o.exception)
                .join(actual_records, a.id == o.actual_record_id)
                .where(a.ref == record_ref)
            )
            .one()
            ._mapping
        )


def test_records_without_a_package_or_a_known_client_are_kept_and_counted(db, book, council):
    with db.write() as conn:
        result = imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
    assert (result.rows, result.unplanned, result.unknown_client) == (3, 1, 1)
    assert result.kept_text() == (
        "1 kept as unplanned (no care package); 1 kept under a client not in the book"
    )
    stored = _stored(db, book)
    with db.read() as conn:
        c2 = parties.party_ids_for(conn, book, ["C2"])["C2"]
    assert stored["R2"] == (c2, "C2")
    assert stored["R3"] == (None, "C9")


def test_an_unknown_provider_is_still_refused_naming_the_line_and_field(db, book, council):
    body = RECORDS + "R4,C1,P9,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", body.encode())
    assert [(p.line, p.field, p.check) for p in caught.value.problems] == [
        (5, "provider_id", "unknown_provider")
    ]
    assert _stored(db, book) == {}


def test_unplanned_records_say_there_is_no_support_plan_or_no_such_client(db, book, council):
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
        runs.reconcile_period(conn, council["clerk"], book, MONDAY, SUNDAY)
    no_plan = _outcome_of(db, "R2")
    assert no_plan["status"] == "unplanned" and no_plan["exception"]
    assert no_plan["reason"] == "no support plan: no care package for this client and provider"
    unknown = _outcome_of(db, "R3")
    assert unknown["status"] == "unplanned" and unknown["exception"]
    assert unknown["reason"] == "client not in the book (reference C9)"
    assert _outcome_of(db, "R1")["status"] != "unplanned"


def test_an_ordinary_unplanned_record_keeps_the_engines_reason(db, book, council):
    extra = HEADER + "R5,C1,P1,K1,HC,app,2026-11-03T16:00:00,2026-11-03T16:30:00\n"
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", extra.encode())
        runs.reconcile_period(conn, council["clerk"], book, MONDAY, SUNDAY)
    outcome = _outcome_of(db, "R5")
    assert outcome["status"] == "unplanned"
    assert "support plan" not in outcome["reason"] and "not in the book" not in outcome["reason"]


def test_a_client_registered_later_is_matched_at_the_next_run(db, book, council):
    with db.write() as conn:
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
        (c9,) = create_parties(
            conn,
            Actor.system("test"),
            book,
            [NewParty("C9", "Grace Hopper", PartyKind.PERSON, (PartyRole.CLIENT,))],
        )
    assert _stored(db, book)["R3"] == (None, "C9")
    with db.write() as conn:
        runs.reconcile_period(conn, council["clerk"], book, MONDAY, SUNDAY)
    assert _stored(db, book)["R3"] == (c9, "C9")
    assert _outcome_of(db, "R3")["reason"] == (
        "no support plan: no care package for this client and provider"
    )


def test_claiming_held_records_only_takes_clients_of_the_same_book(db, book, council):
    with db.write() as conn:
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
    other = make_book(db, Actor.system("test"), "other")
    with db.write() as conn:
        create_parties(  # a client C9 of another book, and a provider C9 of this one
            conn,
            Actor.system("test"),
            other,
            [NewParty("C9", "Grace Hopper", PartyKind.PERSON, (PartyRole.CLIENT,))],
        )
        assert imports.claim_held_records(conn, book) == 0
        assert imports.claim_held_records(conn, other) == 0
    assert _stored(db, book)["R3"] == (None, "C9")


def test_an_import_claims_records_held_before(db, book, council):
    with db.write() as conn:
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
        (c9,) = create_parties(
            conn,
            Actor.system("test"),
            book,
            [NewParty("C9", "Grace Hopper", PartyKind.PERSON, (PartyRole.CLIENT,))],
        )
        later = HEADER + "R7,C1,P1,K1,HC,app,2026-11-05T09:00:00,2026-11-05T09:30:00\n"
        imports.import_actual(conn, council["clerk"], book, "later.csv", later.encode())
    assert _stored(db, book)["R3"] == (c9, "C9")


def test_the_command_says_what_was_kept_as_unplanned(db, book, council, tmp_path, monkeypatch):
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    with db.write() as conn:
        add_user(
            conn, Actor.system("t"), "carla", "a long enough password", grants=[(book, Role.CLERK)]
        )
    file = tmp_path / "ecm.csv"
    file.write_text(RECORDS)
    done = CliRunner().invoke(
        app, ["care", "import", "actual", str(file), "--book", "test", "--as", "carla"]
    )
    assert done.exit_code == 0, done.output
    assert "imported 3 actual row(s)" in done.output
    assert "1 kept as unplanned (no care package); 1 kept under a client not in the book" in (
        done.output.replace("\n", " ")
    )


# ---------------------------------------------------------------- holds


def test_a_hold_is_only_for_a_provider_of_the_book(db, book, council):
    manager = council["manager"]
    other = make_book(db, Actor.system("test"), "other")
    stranger = make_council(db, other, Actor.system("test"))["p1"]
    with db.write() as conn:
        with pytest.raises(ValidationFailed, match="not a provider"):
            payables.hold(conn, manager, book, council["c1"], "checking")
        with pytest.raises(NotFound):
            payables.hold(conn, manager, book, stranger, "checking")
        with pytest.raises(NotFound):
            payables.hold(conn, manager, book, 999_999, "checking")
        assert payables.hold(conn, manager, book, council["p1"], "checking") > 0


@pytest.fixture
def pages(demo_db):
    with demo_db.read() as conn:
        book_id = ledger.book_id_for(conn, "riverside")
        client = min(parties.party_ids_with_role(conn, book_id, "client"))
        provider = min(parties.party_ids_with_role(conn, book_id, "provider"))
        provider_ref = parties.party_names(conn, book_id, [provider])[provider][0]
    with TestClient(create_app(demo_db)) as client_:
        client_.provider_ref = provider_ref  # type: ignore[attr-defined]
        yield client_, client, provider


def test_the_import_notice_says_what_was_kept_as_unplanned(pages):
    client = pages[0]
    csrf = sign_in(client, "demo-clerk@riverside")
    body = HEADER + f"PU-1,NOBODY-YET,{client.provider_ref},K1,HC,app,2023-01-02T09:00:00,"
    answer = client.post(
        "/b/riverside/care/import",
        data={"once": new_token(), "csrf_token": csrf, "kind": "actual"},
        files={"file": ("ecm.csv", body + "2023-01-02T09:30:00\n", "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert "1 kept under a client not in the book" in answer.text


def test_the_portal_tells_the_provider_what_was_kept_under_an_unknown_client(demo_db):
    with demo_db.read() as conn:
        book_id = ledger.book_id_for(conn, "riverside")
        provider = actor_for(conn, "demo-provider@riverside").party_in(book_id)
        ref = parties.party_names(conn, book_id, [provider])[provider][0]
    with TestClient(create_app(demo_db)) as client:
        csrf = sign_in(client, "demo-provider@riverside")
        body = HEADER + f"PU-2,NOBODY-YET,{ref},K1,HC,app,2023-01-02T09:00:00,2023-01-02T09:30:00\n"
        answer = client.post(
            "/portal/riverside/visits",
            data={"once": new_token(), "csrf_token": csrf},
            files={"file": ("visits.csv", body, "text/csv")},
        )
    assert answer.status_code == 200, answer.text
    assert "received 1 visit record(s); 1 kept under a client not in the book" in answer.text


def test_the_hold_page_answers_a_client_or_a_missing_id_without_a_500(pages):
    client, client_id, provider_id = pages
    csrf = sign_in(client, "demo-manager@riverside")
    for party_id, status in ((client_id, 422), (999_999, 404)):
        answer = client.post(
            f"/b/riverside/care/providers/{party_id}/hold",
            data={"csrf_token": csrf, "reason": "checking", "once": new_token()},
            follow_redirects=False,
        )
        assert answer.status_code == status, answer.text
    assert (
        "not a provider"
        in client.post(
            f"/b/riverside/care/providers/{client_id}/hold",
            data={"csrf_token": csrf, "reason": "checking", "once": new_token()},
        ).text
    )
    missing = client.post(
        f"/b/riverside/care/providers/{provider_id}/hold",
        data={"csrf_token": csrf, "reason": "checking"},
        follow_redirects=False,
    )
    assert missing.status_code == 422 and "one-time token" in missing.text  # and nothing held
    once = new_token()
    held = client.post(
        f"/b/riverside/care/providers/{provider_id}/hold",
        data={"csrf_token": csrf, "reason": "checking", "once": once},
        follow_redirects=False,
    )
    assert held.status_code == 303
    again = client.post(  # a double click: the same token, one hold, "already done"
        f"/b/riverside/care/providers/{provider_id}/hold",
        data={"csrf_token": csrf, "reason": "checking", "once": once},
        follow_redirects=False,
    )
    assert again.status_code == 303 and "already=1" in again.headers["location"]


# ---------------------------------------------------------------- the rate card

CARD = (
    "provider_ref,service_code,band,effective_from,rate_per_hour,currency\n"
    "P1,HC,,2026-04-01,20.00,GBP\n"
    "P1,HC,standard,2026-11-03,22.00,GBP\n"
)


def _outcome_id(db, record_ref):
    a, o = actual_records.c, visit_outcomes.c
    with db.read() as conn:
        return conn.execute(
            select(o.id).join(actual_records, a.id == o.actual_record_id).where(a.ref == record_ref)
        ).scalar_one()


def test_a_rate_card_is_imported_and_listed_effective_dated(db, book, council):
    with db.write() as conn:
        assert len(rates.import_rates(conn, council["clerk"], book, "card.csv", CARD.encode())) == 2
        found = rates.list_rates(conn, council["clerk"], book)
        assert rates.card_rate(conn, book, council["p1"], "HC", date(2026, 11, 2)) == (
            "20.00",
            "GBP",
        )
        assert rates.card_rate(conn, book, council["p1"], "HC", date(2026, 11, 3)) == (
            "22.00",
            "GBP",
        )
        assert rates.card_rate(conn, book, council["p1"], "HC", date(2026, 3, 1)) is None
    assert [(r["provider_ref"], r["band"], r["rate_per_hour"]) for r in found] == [
        ("P1", "standard", "20.00"),
        ("P1", "standard", "22.00"),
    ]


def test_every_problem_of_a_rate_card_is_named_by_line_and_field(db, book, council):
    bad = (
        "provider_ref,service_code,band,effective_from,rate_per_hour,currency\n"
        "P9,HC,,2026-04-01,20.00,GBP\n"  # line 2: no such provider
        "P1,HC,night,2026-04-01,cheap,GBP\n"  # line 3: band, rate
        "P1,HC,,first of April,20.00,GBP\n"  # line 4: date
        "P1,HC,,2026-05-01,20.00,USD\n"  # line 5: another currency than P1's packages
        "P1,DC,,2026-05-01,20.00,GBP\n"  # line 6: good
        "P1,DC,,2026-05-01,21.00,GBP\n"  # line 7: repeats line 6
    )
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        rates.import_rates(conn, council["clerk"], book, "card.csv", bad.encode())
    found = sorted((p.line, p.field, p.check) for p in caught.value.problems)
    assert found == [
        (2, "provider_ref", "unknown_provider"),
        (3, "band", "band"),
        (3, "rate_per_hour", "rate"),
        (4, "effective_from", "date"),
        (5, "currency", "currency_mismatch"),
        (7, "effective_from", "repeated"),
    ]
    assert "card.csv: line 5: currency: provider P1 is paid in GBP; this rate is in USD" in [
        str(p).removesuffix(" [currency_mismatch]") for p in caught.value.problems
    ]
    with db.read() as conn:
        assert rates.list_rates(conn, council["clerk"], book) == []


def test_a_package_rate_in_another_currency_than_the_providers_is_refused(db, book, council):
    with db.read() as conn:
        c2 = parties.party_ids_for(conn, book, ["C2"])["C2"]
    new = care.NewPackage(
        "PKG-ALAN-SUNRISE",
        c2,
        council["p1"],
        "HC",
        date(2026, 10, 1),
        None,
        (care.Slot(1, 15 * 60, 30),),
        ((date(2026, 10, 1), "18.00", "USD"),),
    )
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        care.create_package(conn, council["clerk"], book, new)
    (problem,) = caught.value.problems
    assert problem.field == "rates[0]"
    assert problem.message == "provider P1 is paid in GBP; this rate is in USD"
    with db.write() as conn:
        rates.add_rates(
            conn,
            council["clerk"],
            book,
            [rates.NewRate(council["p2"], "HC", date(2026, 4, 1), "20.00", "GBP")],
        )
        with pytest.raises(
            ValidationFailed, match="provider P2 is paid in GBP; this rate is in EUR"
        ):
            rates.add_rates(
                conn,
                council["clerk"],
                book,
                [rates.NewRate(council["p2"], "DC", date(2026, 4, 1), "20.00", "EUR")],
            )


def test_accepting_unplanned_care_is_priced_at_the_rate_card_or_refused_without_one(
    db, book, council
):
    clerk = council["clerk"]
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", RECORDS.encode())
        runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
    alan_with_sunrise = _outcome_id(db, "R2")  # Tuesday 3 November, 30 minutes
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        decisions.decide(conn, clerk, book, alan_with_sunrise, "accept_actual", "it happened")
    assert caught.value.problems[0].message == (
        "no care package and no rate card for service HC: "
        "add a rate to the provider's rate card or a care package"
    )
    with db.write() as conn:  # rejecting needs no rate
        rates.import_rates(conn, clerk, book, "card.csv", CARD.encode())
        done = decisions.decide(
            conn, clerk, book, alan_with_sunrise, "accept_actual", "it happened"
        )
    assert done["final_minutes"] == 30 and done["final_amount_minor"] == 1100  # 22.00 / 2
    unknown = _outcome_id(db, "R3")  # Wednesday, 45 minutes, a client not in the book
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, unknown, "set_minutes", "agreed", minutes=40)
    assert done["final_amount_minor"] == 1467  # 40 minutes at 22.00, half up


def test_an_unplanned_record_a_package_covers_is_priced_at_the_package_rate(db, book, council):
    clerk = council["clerk"]
    extra = HEADER + "R5,C1,P1,K1,HC,app,2026-11-03T16:00:00,2026-11-03T16:30:00\n"
    with db.write() as conn:
        rates.import_rates(conn, clerk, book, "card.csv", CARD.encode())
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", extra.encode())
        runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, _outcome_id(db, "R5"), "accept_actual", "ok")
    assert done["final_amount_minor"] == 950  # Ada's package: 19.00 an hour, not the card's


def test_the_rate_commands_import_and_list(db, book, council, tmp_path, monkeypatch):
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    with db.write() as conn:
        add_user(
            conn, Actor.system("t"), "carla", "a long enough password", grants=[(book, Role.CLERK)]
        )
    file = tmp_path / "card.csv"
    file.write_text(CARD)
    runner = CliRunner()
    done = runner.invoke(
        app, ["care", "rates", "import", str(file), "--book", "test", "--as", "carla"]
    )
    assert done.exit_code == 0 and "added 2 rate(s)" in done.output, done.output
    again = runner.invoke(
        app, ["care", "rates", "import", str(file), "--book", "test", "--as", "carla"]
    )
    assert again.exit_code == 2 and "line 2" in again.output and "effective_from" in again.output
    listed = runner.invoke(
        app, ["care", "rates", "list", "--provider", "P1", "--book", "test", "--as", "carla"]
    )
    assert listed.exit_code == 0 and "22.00" in listed.output and "GBP" in listed.output


def test_a_packages_file_in_another_currency_than_the_providers_names_the_line(db, book, council):
    body = (
        "package_id,client_id,provider_id,service_code,start_date,days,start,minutes,"
        "rate_per_hour,currency\n"
        "PKG-9,C2,P1,HC,2026-11-02,daily,08:00,30,18.50,GBP\n"
        "PKG-10,C2,P2,DC,2026-11-02,daily,09:00,30,18.50,USD\n"
    )
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        packages.import_packages(conn, council["clerk"], book, "packages.csv", body.encode())
    assert [str(p) for p in caught.value.problems] == [
        "packages.csv: line 3: currency: provider P2 is paid in GBP; this rate is in USD"
        " [currency_mismatch]"
    ]


def _brightwell_with_card(conn, clerk, book, card):
    """Provider P3, Brightwell Care, with no care package: only this rate card."""
    create_parties(
        conn,
        Actor.system("test"),
        book,
        [NewParty("P3", "Brightwell Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,))],
    )
    rates.import_rates(conn, clerk, book, "card.csv", card.encode())


def test_unplanned_care_of_a_provider_with_only_a_rate_card_is_posted_in_its_currency(
    db, book, council
):
    """Brightwell (P3) has no care package at all: its record comes out unplanned with no
    currency from the engine; accepted at the rate card and approved by a second person,
    the run's self-bill is posted in the card's currency."""
    clerk, manager = council["clerk"], council["manager"]
    card = "provider_ref,service_code,band,effective_from,rate_per_hour,currency\n"
    card += "P3,HC,,2026-04-01,24.00,GBP\n"
    record = HEADER + "B1,C1,P3,K9,HC,app,2026-11-03T15:00:00,2026-11-03T15:30:00\n"
    with db.write() as conn:
        _brightwell_with_card(conn, clerk, book, card)
        imports.import_actual(conn, clerk, book, "b.csv", record.encode())
        (run,) = [
            s
            for s in runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
            if s.currency == "" and s.exceptions == 1
        ]
    with db.write() as conn:
        asked = decisions.decide(conn, clerk, book, _outcome_id(db, "B1"), "accept_actual", "ok")
    assert asked["awaiting_approval"] and asked["final_amount_minor"] == 1200
    with db.write() as conn:
        decisions.approve(conn, manager, book, asked["decision_id"], True)
    with db.read() as conn:
        currency = conn.execute(
            select(visit_outcomes.c.currency).where(visit_outcomes.c.run_id == run.run_id)
        ).scalar_one()
    assert currency == "GBP"
    with db.write() as conn:
        entry = payables.post_payable(conn, manager, book, run.run_id)
    assert entry is not None


def test_unplanned_care_is_priced_at_the_rate_cards_band_of_its_check_in(db, book, council):
    """The card has a weekend rate: Saturday's record is paid at it, Tuesday's at the
    standard one (a band the card lacks falls back to standard, as a package's does)."""
    clerk = council["clerk"]
    card = "provider_ref,service_code,band,effective_from,rate_per_hour,currency\n"
    card += "P3,HC,,2026-04-01,24.00,GBP\nP3,HC,weekend,2026-04-01,30.00,GBP\n"
    record = HEADER + "W1,C1,P3,K9,HC,app,2026-11-07T10:00:00,2026-11-07T10:30:00\n"
    record += "W2,C1,P3,K9,HC,app,2026-11-03T10:00:00,2026-11-03T10:30:00\n"
    with db.write() as conn:
        _brightwell_with_card(conn, clerk, book, card)
        imports.import_actual(conn, clerk, book, "w.csv", record.encode())
        runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
    with db.write() as conn:
        saturday = decisions.decide(conn, clerk, book, _outcome_id(db, "W1"), "accept_actual", "ok")
        tuesday = decisions.decide(conn, clerk, book, _outcome_id(db, "W2"), "accept_actual", "ok")
    assert saturday["final_amount_minor"] == 1500  # 30 minutes at £30.00 an hour
    assert tuesday["final_amount_minor"] == 1200  # at £24.00
