"""Policy and rates as councils write them (issue 9 point 5): the policy's new numbers, the
offline files' optional columns, a book's planned visit statuses and hospital stays. The
engine's stories of these rules are in tests/test_care_engine.py, held equal there to the
plain reference."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from remit.access.service import actor_for
from remit.care import decisions, exchange, imports, payables, runs, visits
from remit.care import service as care
from remit.care.model import POLICY_MEANINGS, Policy
from remit.care.service import NewPackage, Slot
from remit.care.store import care_absences, planned_visits, visit_outcomes
from remit.cli import app
from remit.errors import Conflict, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"late_exception": 2}, "late_exception"),
        ({"short_notice_paid_percent": 101}, "short_notice_paid_percent"),
        ({"evening_from_minute": 1440}, "evening_from_minute"),
        ({"minimum_charge_minutes": -1}, "minimum_charge_minutes"),
    ],
)
def test_the_new_policy_numbers_are_bounded(values, field):
    with pytest.raises(ValidationFailed) as failed:
        Policy.from_mapping(values)
    assert [p.field for p in failed.value.problems] == [field]


def test_the_offline_files_take_a_status_a_reason_and_a_band(tmp_path):
    planned = exchange.read_planned(
        b"visit_id,client_id,provider_id,service_code,start,end,status,reason\n"
        b"V1,C1,P1,HC,2026-11-02T09:00,2026-11-02T10:00,Cancelled_Short_Notice,ill\n"
        b"V2,C1,P1,HC,2026-11-02T12:00,2026-11-02T13:00,,\n"
        b"V3,C1,P1,HC,2026-11-02T15:00,2026-11-02T16:00,gone,\n"
    )
    assert [(p.line, p.field) for p in planned.problems] == [(4, "status")]
    frame = exchange.planned_frame(planned.valid_rows())
    assert frame.select("status", "reason").rows() == [
        ("cancelled_short_notice", "ill"),
        ("planned", ""),
    ]
    rates = exchange.read_rates(
        b"provider_id,service_code,rate_per_hour,currency,effective_from,band\n"
        b"P1,HC,18,GBP,2026-04-01,\n"
        b"P1,HC,24,GBP,2026-04-01,evening\n"
        b"P1,HC,25,GBP,2026-04-01,night\n"
    )
    assert [(p.line, p.field) for p in rates.problems] == [(4, "band")]
    policy = tmp_path / "policy.toml"
    policy.write_text("late_minutes = 20\nbank_holidays = [2026-12-25]\n")
    assert exchange.read_policy(policy).late_minutes == 20
    assert exchange.read_bank_holidays(policy) == [20812]


# In a book: visit statuses, hospital stays, flags stored, bank holidays of the calendar.

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"


@pytest.fixture
def week(db, book, council):
    """The council's week planned; Ada's Monday 09:00 visit attended 25 minutes late."""
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        late = HEADER + "R1,C1,P1,K1,HC,app,2026-11-02T09:25:00,2026-11-02T09:55:00\n"
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", late.encode())
    return {**council, "book": book}


def _outcomes(db, run_id) -> list[dict]:
    v, o = planned_visits.c, visit_outcomes.c
    with db.read() as conn:
        rows = conn.execute(
            select(
                v.start_s,
                o.status,
                o.rule,
                o.paid_minutes,
                o.amount_minor,
                o.exception,
                o.flags,
                o.reason,
            )
            .select_from(visit_outcomes.join(planned_visits, v.id == o.planned_visit_id))
            .where(o.run_id == run_id)
            .order_by(v.start_s, o.place)
        ).all()
    return [dict(r._mapping) for r in rows]


def _visit_id(db, book, client: int, when: datetime) -> int:
    v = planned_visits.c
    start_s = int((when - datetime(1970, 1, 1)).total_seconds())  # noqa: DTZ001
    with db.read() as conn:
        return conn.execute(
            select(v.id).where(v.book_id == book, v.client_party_id == client, v.start_s == start_s)
        ).scalar_one()


def test_a_late_arrival_is_stored_as_a_flag_of_the_outcome(db, week):
    with db.write() as conn:
        (ada,) = runs.reconcile_period(
            conn, week["clerk"], week["book"], MONDAY, SUNDAY, [week["p1"]]
        )
    first = _outcomes(db, ada.run_id)[0]
    assert (first["status"], first["flags"], first["exception"]) == (
        "verified",
        "late_arrival",
        False,
    )


def test_a_hospital_stay_suspends_the_clients_visits_of_its_days(db, week):
    stays = b"client_ref,first_day,last_day,reason\nC1,2026-11-03,2026-11-04,fall at home\n"
    with db.write() as conn:
        assert imports.import_absences(conn, week["clerk"], week["book"], "stays.csv", stays) == 1
        (ada,) = runs.reconcile_period(
            conn, week["clerk"], week["book"], MONDAY, SUNDAY, [week["p1"]]
        )
    rows = _outcomes(db, ada.run_id)
    tuesday_wednesday = [r for r in rows if MONDAY.day + 1 <= _day(r["start_s"]) <= MONDAY.day + 2]
    assert len(tuesday_wednesday) == 6  # 09:00 and two carers at 13:00, each day
    assert {(r["status"], r["paid_minutes"], r["exception"]) for r in tuesday_wednesday} == {
        ("hospital", 0, False)
    }
    assert tuesday_wednesday[0]["reason"] == (
        "the client was in hospital (fall at home): visit suspended, not paid"
    )
    assert {r["status"] for r in rows if _day(r["start_s"]) == 5} == {"missed"}


def test_an_absences_file_naming_an_unknown_client_records_nothing(db, week):
    stays = b"client_ref,first_day,last_day,reason\nC9,2026-11-03,,\nC1,2026-11-05,2026-11-04,x\n"
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        imports.import_absences(conn, week["clerk"], week["book"], "stays.csv", stays)
    assert sorted((p.line, p.field) for p in failed.value.problems) == [
        (2, "client_ref"), (2, "reason"), (3, "last_day")
    ]  # fmt: skip
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(care_absences)).scalar() == 0


def test_a_visit_cancelled_at_short_notice_on_a_page_is_paid_its_share(db, week):
    clerk, book = week["clerk"], week["book"]
    visit_id = _visit_id(db, book, week["c1"], datetime(2026, 11, 3, 9, 0))  # noqa: DTZ001
    with db.write() as conn:
        care.set_policy(conn, week["manager"], book, Policy(short_notice_paid_percent=50),
                        date(2026, 4, 1))  # fmt: skip
        visits.set_visit_status(conn, clerk, book, visit_id, "cancelled_short_notice", "asked at 8")
        (ada,) = runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY, [week["p1"]])
    (row,) = [r for r in _outcomes(db, ada.run_id) if r["status"] == "short_notice"]
    assert (row["paid_minutes"], row["amount_minor"], row["exception"]) == (15, 475, False)
    assert "(asked at 8)" in row["reason"]


def test_a_cancellation_needs_a_reason_and_a_known_status(db, week):
    visit_id = _visit_id(db, week["book"], week["c1"], datetime(2026, 11, 3, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        visits.set_visit_status(conn, week["clerk"], week["book"], visit_id, "gone", "")
    assert sorted(p.field for p in failed.value.problems) == ["reason", "status"]


def test_a_visit_in_a_posted_period_cannot_be_cancelled(db, week):
    clerk, book = week["clerk"], week["book"]
    visit_id = _visit_id(db, book, week["c1"], datetime(2026, 11, 3, 9, 0))  # noqa: DTZ001
    with db.write() as conn:
        (ada,) = runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY, [week["p1"]])
        for row in conn.execute(
            select(visit_outcomes.c.id).where(
                visit_outcomes.c.run_id == ada.run_id, visit_outcomes.c.exception.is_(True)
            )
        ).all():
            decisions.decide(conn, clerk, book, row.id, "reject", "as the policy decided")
        payables.post_payable(conn, week["manager"], book, ada.run_id)
    with pytest.raises(Conflict, match="already posted"), db.write() as conn:
        visits.set_visit_status(conn, clerk, book, visit_id, "cancelled_notice", "client asked")


def test_a_planned_file_carries_the_visit_status_into_the_book(db, week):
    planned = (
        b"visit_id,client_id,provider_id,service_code,start,end,status,reason\n"
        b"X1,C1,P1,HC,2026-11-09T09:00,2026-11-09T09:30,frustrated,no answer\n"
        b"X2,C1,P1,HC,2026-11-10T09:00,2026-11-10T09:30,,\n"
    )
    with db.write() as conn:
        imports.import_planned(conn, week["clerk"], week["book"], "plan.csv", planned)
    v = planned_visits.c
    with db.read() as conn:
        rows = conn.execute(
            select(v.ref, v.status, v.status_reason).where(v.ref.in_(["X1", "X2"])).order_by(v.ref)
        ).all()
    assert [tuple(r) for r in rows] == [("X1", "frustrated", "no answer"), ("X2", "planned", None)]


def test_the_books_calendar_gives_the_bank_holidays_of_the_time_bands(db, week):
    start = int((datetime(2026, 12, 20) - datetime(1970, 1, 1)).total_seconds())  # noqa: DTZ001
    with db.read() as conn:
        days = visits.holidays(conn, week["book"], start, start + 10 * 86_400)
    assert [date.fromordinal(date(1970, 1, 1).toordinal() + d) for d in days] == [
        date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28)
    ]  # fmt: skip


def _day(start_s: int) -> int:
    return date.fromordinal(date(1970, 1, 1).toordinal() + start_s // 86_400).day


# Pages: the policy, a visit's cancellation, hospital stays.

DEMO = "riverside"


@pytest.fixture
def pages(demo_db):
    with demo_db.write() as conn:
        book_id = ledger.book_id_for(conn, DEMO)
        clerk = actor_for(conn, f"demo-clerk@{DEMO}")
        provider = actor_for(conn, f"demo-provider@{DEMO}").party_in(book_id)
        client_id = min(parties.party_ids_with_role(conn, book_id, "client"))
        care.create_package(
            conn,
            clerk,
            book_id,
            NewPackage("POL-1", client_id, provider, "PL", date(2023, 1, 1), None,
                       (Slot(0, 9 * 60, 30),), ((date(2023, 1, 1), "20.00", "GBP"),)),
        )  # fmt: skip
        care.generate_planned(conn, clerk, book_id, date(2023, 1, 2), date(2023, 1, 2))
        visit_id = conn.execute(
            select(planned_visits.c.id).where(planned_visits.c.service_code == "PL")
        ).scalar_one()
        client_ref = parties.get_party(conn, clerk, book_id, client_id)["ref"]
    with TestClient(create_app(demo_db)) as client:
        yield client, {"visit": visit_id, "client": client_ref}


def test_the_policy_page_shows_every_number_with_its_meaning_and_makes_a_version(pages):
    client, _ = pages
    csrf = sign_in(client, f"demo-manager@{DEMO}")
    page = client.get(f"/b/{DEMO}/care/policy")
    assert page.status_code == 200
    for name, meaning in POLICY_MEANINGS.items():
        assert name in page.text and meaning.replace("'", "&#39;") in page.text
    form = {k: str(v) for k, v in Policy(late_minutes=20, late_exception=1).as_dict().items()}
    bad = client.post(
        f"/b/{DEMO}/care/policy",
        data={
            "once": new_token(),
            **form,
            "late_exception": "3",
            "from": "2023-01-01",
            "csrf_token": csrf,
        },
    )
    assert bad.status_code == 422 and "0 (a flag only) or 1 (also an exception)" in bad.text
    assert 'value="3"' in bad.text  # what was typed is kept
    done = client.post(
        f"/b/{DEMO}/care/policy",
        data={
            "once": new_token(),
            **form,
            "from": "2023-01-01",
            "note": "late visits to review",
            "csrf_token": csrf,
        },
        follow_redirects=True,
    )
    assert done.status_code == 200 and "policy from 2023-01-01 saved" in done.text
    assert "late visits to review" in done.text
    clerk = TestClient(client.app)
    sign_in(clerk, f"demo-clerk@{DEMO}")
    assert clerk.get(f"/b/{DEMO}/care/policy").status_code == 403


def test_a_cancellation_is_entered_on_the_visit_page(pages):
    client, ids = pages
    csrf = sign_in(client, f"demo-clerk@{DEMO}")
    url = f"/b/{DEMO}/care/visits/{ids['visit']}"
    assert "planned" in client.get(url).text
    missing = client.post(f"{url}/status", data={"status": "cancelled_notice", "csrf_token": csrf})
    assert missing.status_code == 422 and 'aria-describedby="reason-error"' in missing.text
    done = client.post(
        f"{url}/status",
        data={"status": "cancelled_notice", "reason": "client on holiday", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "cancelled with notice (not paid): client on holiday" in done.text


def test_hospital_stays_are_uploaded_on_their_page(pages):
    client, ids = pages
    csrf = sign_in(client, f"demo-clerk@{DEMO}")
    body = f"client_ref,first_day,last_day,reason\n{ids['client']},2023-01-02,,fall\n".encode()
    done = client.post(
        f"/b/{DEMO}/care/absences",
        data={"once": new_token(), "csrf_token": csrf},
        files={"file": ("stays.csv", body, "text/csv")},
        follow_redirects=True,
    )
    assert "recorded 1 hospital stay(s)" in done.text and "not yet back" in done.text
    bad = client.post(
        f"/b/{DEMO}/care/absences",
        data={"once": new_token(), "csrf_token": csrf},
        files={
            "file": ("stays.csv", b"client_ref,first_day,reason\nNOPE,2023-01-02,x\n", "text/csv")
        },
    )
    assert bad.status_code == 422 and "line 2, client_ref: no client NOPE" in bad.text


def test_the_offline_command_prices_bank_holidays_and_cancellations(tmp_path):
    (tmp_path / "planned.csv").write_text(
        "visit_id,client_id,provider_id,service_code,start,end,status,reason\n"
        "V1,C1,P1,HC,2026-12-25T09:00,2026-12-25T10:00,,\n"
        "V2,C1,P1,HC,2026-12-24T21:00,2026-12-24T22:00,,\n"
        "V3,C1,P1,HC,2026-12-23T09:00,2026-12-23T10:00,cancelled_short_notice,ill\n"
    )
    (tmp_path / "actual.csv").write_text(
        "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
        "R1,C1,P1,K1,HC,app,2026-12-25T09:00:00,2026-12-25T10:00:00\n"
        "R2,C1,P1,K1,HC,app,2026-12-24T21:00:00,2026-12-24T22:00:00\n"
    )
    (tmp_path / "rates.csv").write_text(
        "provider_id,service_code,rate_per_hour,currency,effective_from,band\n"
        "P1,HC,18,GBP,2026-04-01,\n"
        "P1,HC,24,GBP,2026-04-01,evening\n"
        "P1,HC,36,GBP,2026-04-01,bank_holiday\n"
    )
    (tmp_path / "policy.toml").write_text(
        "short_notice_paid_percent = 50\nbank_holidays = [2026-12-25]\n"
    )
    args = ["care", "reconcile", "--out", str(tmp_path / "out")]
    for name in ("planned", "actual", "rates", "policy"):
        args += [f"--{name}", str(tmp_path / f"{name}.{'toml' if name == 'policy' else 'csv'}")]
    done = CliRunner().invoke(app, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    with (tmp_path / "out" / "outcomes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["visit_id"], r["status"], r["amount_minor"]) for r in rows] == [
        ("V1", "verified", "3600"),
        ("V2", "verified", "2400"),
        ("V3", "short_notice", "900"),
    ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["policy"]["short_notice_paid_percent"] == 50


# Time band rates entered in a book: the packages file's optional band columns.

BANDED = (
    "package_id,client_id,provider_id,service_code,start_date,days,start,minutes,"
    "rate_per_hour,currency,evening_rate_per_hour,weekend_rate_per_hour\n"
    "EV-1,C2,P2,EV,2026-11-02,Tue,10:00,30,20.00,GBP,26.00,24.00\n"
    "EV-1,C2,P2,EV,2026-11-02,Mon,21:00,30,20.00,GBP,26.00,24.00\n"
    "EV-1,C2,P2,EV,2026-11-02,Sat,10:00,30,20.00,GBP,26.00,24.00\n"
)
BANDED_RECORDS = (
    "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
    "E1,C2,P2,K5,EV,app,2026-11-02T21:00:00,2026-11-02T21:30:00\n"
    "E2,C2,P2,K5,EV,app,2026-11-03T10:00:00,2026-11-03T10:30:00\n"
    "E3,C2,P2,K5,EV,app,2026-11-07T10:00:00,2026-11-07T10:30:00\n"
)


def test_a_packages_file_gives_band_rates_and_visits_are_paid_by_band(db, book, council):
    from remit.care import packages  # noqa: PLC0415

    clerk = council["clerk"]
    monday, sunday = date(2026, 11, 2), date(2026, 11, 8)
    with db.write() as conn:
        packages.import_packages(conn, clerk, book, "packages.csv", BANDED.encode())
        care.generate_planned(conn, clerk, book, monday, sunday)
        imports.import_actual(conn, clerk, book, "ev.csv", BANDED_RECORDS.encode())
        runs.reconcile_period(conn, clerk, book, monday, sunday, [council["p2"]])
    o, v = visit_outcomes.c, planned_visits.c
    with db.read() as conn:
        paid = dict(
            conn.execute(
                select(v.start_s, o.amount_minor)
                .join(planned_visits, v.id == o.planned_visit_id)
                .where(v.service_code == "EV")
            ).all()
        )
    by_day = {_day(start): amount for start, amount in paid.items()}
    assert by_day == {2: 1300, 3: 1000, 7: 1200}  # evening 26.00, standard 20.00, weekend


def test_a_bad_band_rate_is_named_by_line_and_column(db, book, council):
    from remit.care import packages  # noqa: PLC0415

    bad = BANDED.replace(
        "26.00,24.00\nEV-1,C2,P2,EV,2026-11-02,Mon",
        "26.001234567,24.00\nEV-1,C2,P2,EV,2026-11-02,Mon",
    )
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        packages.import_packages(conn, council["clerk"], book, "packages.csv", bad.encode())
    assert [(p.line, p.field) for p in refused.value.problems] == [(2, "evening_rate_per_hour")]


def test_a_decision_on_an_evening_visit_is_priced_at_the_evening_rate(db, book, council):
    from remit.care import packages  # noqa: PLC0415

    clerk = council["clerk"]
    monday, sunday = date(2026, 11, 2), date(2026, 11, 8)
    short = BANDED_RECORDS.replace("2026-11-02T21:30:00", "2026-11-02T21:10:00")
    with db.write() as conn:
        packages.import_packages(conn, clerk, book, "packages.csv", BANDED.encode())
        care.generate_planned(conn, clerk, book, monday, sunday)
        imports.import_actual(conn, clerk, book, "ev.csv", short.encode())
        runs.reconcile_period(conn, clerk, book, monday, sunday, [council["p2"]])
    o, v = visit_outcomes.c, planned_visits.c
    with db.read() as conn:
        evening = conn.execute(
            select(o.id)
            .join(planned_visits, v.id == o.planned_visit_id)
            .where(v.service_code == "EV", o.exception.is_(True))
        ).scalar_one()
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, evening, "accept_planned", "phoned")
    assert done["final_amount_minor"] == 1300  # 30 minutes at the evening 26.00, not 20.00
