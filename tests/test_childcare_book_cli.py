"""``remit childcare import`` into a book, and the demo agency's child care (issue 11,
points 2 and 8)."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from remit.access.model import Actor
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.cli import app
from remit.db import Database
from remit.ledger import service as ledger

runner = CliRunner()
KEY = Fernet.generate_key().decode()
AS_CLERK = ["-b", "valley-app", "--as", "demo-clerk@valley-app"]
FAMILIES = (
    b"family_id,family_size,monthly_income_minor,family_fee_minor,fee_collected_by,name,"
    b'language,address\nNEW-1,3,300000,3000,provider,Nora Diaz,es,"5 Palm Drive\nFresno"\n'
)
CERTS = (
    b"certificate_id,version_from,child_id,family_id,provider_id,child_birth_date,start_date,"
    b"end_date,schedule,rate_category,time_basis,evening_weekend_share,exceptional_needs,"
    b"severely_disabled,provider_rate\n"
    b"NEW-C,2026-12-01,NEW-K,NEW-1,P00001,2024-04-04,2026-12-01,2027-11-30,"
    b"mon=8;tue=8,daily,full,0,no,no,70.00\n"
)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("childcare-demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REMIT_DATABASE_URL", f"sqlite:///{folder / 'remit.db'}")
        mp.setenv("REMIT_SECRET_KEY", KEY)
        assert runner.invoke(app, ["init"]).exit_code == 0
        done = runner.invoke(app, ["demo", "seed", "--scale", "small", "--seed", "7"])
        assert done.exit_code == 0, done.output
    with sqlite3.connect(folder / "remit.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "remit.db"


@pytest.fixture
def demo(demo_template, tmp_path, monkeypatch):
    shutil.copy(demo_template, tmp_path / "remit.db")
    monkeypatch.setenv("REMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'remit.db'}")
    monkeypatch.setenv("REMIT_SECRET_KEY", KEY)
    monkeypatch.delenv("REMIT_USER", raising=False)
    (tmp_path / "families.csv").write_bytes(FAMILIES)
    (tmp_path / "certs.csv").write_bytes(CERTS)
    return tmp_path


def said(result) -> str:
    return " ".join(result.output.split())


def imported(folder, certs: str = "certs.csv"):
    return runner.invoke(
        app,
        [
            "childcare",
            "import",
            "--families",
            str(folder / "families.csv"),
            "--certificates",
            str(folder / certs),
            *AS_CLERK,
        ],
    )


def test_the_import_command_writes_the_files_into_the_book_once(demo):
    first = imported(demo)
    assert first.exit_code == 0, first.output
    assert "families: 1 new, 0 changed, 0 as they were" in said(first)
    assert "certificates: 1 new, versions: 1 new" in said(first)
    again = imported(demo)
    assert again.exit_code == 0, again.output
    assert "families: 0 new, 0 changed, 1 as they were" in said(again)
    assert "versions: 0 new, 1 as they were" in said(again)


def test_a_wrong_file_names_its_line_and_column_and_writes_nothing(demo):
    (demo / "bad.csv").write_bytes(CERTS.replace(b"P00001", b"P99999").replace(b"8;tue", b"8;tu"))
    done = imported(demo, "bad.csv")
    assert done.exit_code != 0
    assert "bad.csv" in said(done) and "line 2" in said(done) and "schedule" in said(done)
    database = Database(f"sqlite:///{demo / 'remit.db'}")
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, "valley-app")
        rows, _ = childcare.list_certificates(
            conn, Actor.system("t"), book_id, on=date(2026, 12, 1), search="NEW-C"
        )
    database.dispose()
    assert rows == []


def test_the_demo_agency_has_families_certificates_a_change_and_notices(demo):
    database = Database(f"sqlite:///{demo / 'remit.db'}")
    system = Actor.system("t")
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, "valley-app")
        rows, total = childcare.list_certificates(conn, system, book_id, on=date(2026, 12, 1))
        changed = childcare.certificate(conn, system, book_id, rows[0]["id"])
    assert total >= 40
    assert {r["provider_name"] for r in rows} and all(r["current"] for r in rows)
    assert [v["version_from"] for v in changed["versions"]] == [
        date(2026, 8, 1),
        date(2026, 11, 16),
    ]
    assert "schedule" in changed["versions"][1]["changed"]
    assert all(v["notice_id"] for v in changed["versions"])
    with database.read() as conn:
        _rows, totals = cc_month.month_rows(conn, system, book_id, date(2026, 11, 1))
    database.dispose()
    # November's records with their mistakes: the incomplete ones hold back only themselves.
    assert totals["payable"] > 40 and 0 < totals["incomplete"] < 12
    assert totals["posted"] == totals["payable"]


def test_the_demo_november_is_calculated_and_posted_and_a_new_record_is_paid_once(demo):
    again = runner.invoke(app, ["childcare", "month", "2026-11", "--post", *AS_CLERK])
    assert again.exit_code == 0, again.output
    text = said(again)
    assert "incomplete rows" in text and "posted before and kept" in text
    assert "posted 0 child-month(s)" in text  # the demo posted them: never twice
    imported(demo)  # NEW-C, certified from December
    december = (
        "certificate_id,date,time_in,time_out,absence,parent_signed,provider_signed,received\n"
        "NEW-C,2026-12-01,08:00,16:00,,2099-12-31,2099-12-31,2099-12-31\n"
    )
    (demo / "december.csv").write_text(december)
    done = runner.invoke(
        app, ["childcare", "import", "--attendance", str(demo / "december.csv"), *AS_CLERK]
    )
    # Signed and received in the future: a month is paid once it is over and its record in.
    assert done.exit_code != 0
    assert "line 2" in said(done) and "received" in said(done) and "after today" in said(done)


def test_the_child_care_pages_read_as_a_coordinator_sees_them(demo):
    import re  # noqa: PLC0415

    from fastapi.testclient import TestClient  # noqa: PLC0415

    from remit.testkit.web import sign_in  # noqa: PLC0415
    from remit.web.app import create_app  # noqa: PLC0415

    database = Database(f"sqlite:///{demo / 'remit.db'}")
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, "valley-app")
        rows, _ = childcare.list_certificates(
            conn, Actor.system("t"), book_id, on=date(2026, 11, 1), search="CC00001"
        )
    first_name = rows[0]["child_name"].split()[0]
    with TestClient(create_app(database)) as client:
        sign_in(client, "demo-clerk@valley-app")
        home = client.get(f"/b/valley-app/childcare?q={first_name}")
        month = client.get("/b/valley-app/childcare/months/2026-11")
        late = client.get("/b/valley-app/childcare/months/2026-11/timeliness")
    database.dispose()
    assert home.status_code == month.status_code == late.status_code == 200
    assert f"matching “{first_name}”" in home.text and "CC00001" in home.text  # by name
    titles = [re.search(r"<title>(.*?)</title>", page.text, re.S) for page in (month, late)]
    assert titles[0] is not None and titles[0].group(1).strip().startswith("Child care November")
    assert all(t and len(t.group(1)) < 80 for t in titles)
    assert "Post the adjustment" in month.text and "incomplete" in month.text
    assert "parent signature missing" in month.text  # a reason in words, not a code
    assert rows[0]["provider_name"] in month.text  # names beside the references


def test_the_provider_files_read_as_a_coordinator_sees_them(demo):
    import re  # noqa: PLC0415

    from fastapi.testclient import TestClient  # noqa: PLC0415

    from remit.testkit.web import sign_in  # noqa: PLC0415
    from remit.web.app import create_app  # noqa: PLC0415

    database = Database(f"sqlite:///{demo / 'remit.db'}")
    with TestClient(create_app(database)) as client:
        csrf = sign_in(client, "demo-clerk@valley-app")
        files = client.get("/b/valley-app/childcare/providers")
        month = client.get("/b/valley-app/childcare/months/2026-11")
        csv_file = client.get("/b/valley-app/childcare/providers/compliance.csv")
        incomplete = re.search(r'href="/b/valley-app/childcare/providers/(\d+)"', files.text)
        assert incomplete is not None  # incomplete files first
        page = client.get(f"/b/valley-app/childcare/providers/{incomplete.group(1)}")
        once = re.search(r'name="once" value="([^"]+)"', page.text)
        assert once is not None
        recorded = client.post(
            f"/b/valley-app/childcare/providers/{incomplete.group(1)}/documents",
            data={
                "kind": "rate_statement",
                "status": "received",
                "valid_from": "2026-07-01",
                "csrf_token": csrf,
                "once": once.group(1),
            },
            files={"file": ("statement.pdf", b"%PDF-1.4\n%signed\n", "application/pdf")},
        )
        reminded_form = re.search(r'name="once" value="([^"]+)"', files.text)
        assert reminded_form is not None
        reminded = client.post(
            "/b/valley-app/childcare/providers/reminders",
            data={"csrf_token": csrf, "once": reminded_form.group(1)},
        )
        after = client.get("/b/valley-app/childcare/providers")
    database.dispose()
    assert files.status_code == month.status_code == page.status_code == 200
    assert "9 of 10" in files.text and "signed rate statement not on file" in files.text
    assert "licence 2027-01-15" in files.text  # the one expiring: remindable
    assert "1 provider file incomplete for November" in month.text
    assert "signed rate statement not on file" in month.text
    assert csv_file.text.splitlines()[0].startswith("Provider,Name,Type,County,File complete")
    assert len(csv_file.text.splitlines()) == 11
    assert recorded.status_code == 200 and "signed rate statement recorded" in recorded.text
    assert "complete: its child-months are paid" in recorded.text
    assert reminded.status_code == 200 and "1 reminder case(s) opened" in reminded.text
    assert "10 of 10" in after.text


def _xlsx(rows):
    import io  # noqa: PLC0415

    from openpyxl import Workbook  # noqa: PLC0415

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_provider_enters_and_sends_its_attendance_in_the_portal(demo):
    import re  # noqa: PLC0415
    from datetime import time  # noqa: PLC0415

    from fastapi.testclient import TestClient  # noqa: PLC0415

    from remit.testkit.web import sign_in  # noqa: PLC0415
    from remit.web.app import create_app  # noqa: PLC0415

    database = Database(f"sqlite:///{demo / 'remit.db'}")
    base = "/portal/valley-app/childcare"
    # A child certified with the first provider from November, whose record has not come.
    new_cert = CERTS.replace(b"NEW-C,2026-12-01", b"CC00060,2026-11-01").replace(
        b"2024-04-04,2026-12-01", b"2024-04-04,2026-11-01"
    )
    with database.write() as conn:
        childcare.import_files(
            conn,
            Actor.system("t"),
            ledger.book_id_for(conn, "valley-app"),
            families=FAMILIES,
            certificates=new_cert,
        )
    with TestClient(create_app(database)) as client:
        csrf = sign_in(client, "demo-provider@valley-app")
        home = client.get(base)
        theirs = client.get(f"{base}/records/CC00001/2026-11")  # another provider's child
        form = client.get(f"{base}/records/CC00060/2026-11")  # its November never came
        days = re.findall(r'name="in_(2026-11-\d\d)"', form.text)
        once = re.findall(r'name="once" value="([^"]+)"', form.text)
        bad = client.post(
            f"{base}/records/CC00060/2026-11",
            data={
                "csrf_token": csrf,
                "once": once[0],
                f"in_{days[0]}": "09:00",
                f"out_{days[0]}": "08:00",  # out before in
                "parent_signed": "2026-11-30",
                "provider_signed": "2026-11-30",
            },
        )
        sent = client.post(
            f"{base}/records/CC00060/2026-11",
            data={
                "csrf_token": csrf,
                "once": once[0],
                f"in_{days[0]}": "08:00",
                f"out_{days[0]}": "12:30",
                f"absence_{days[1]}": "excused",
                "parent_signed": "2026-11-30",
                "provider_signed": "2026-11-30",
            },
        )
        again = client.get(f"{base}/records/CC00060/2026-11")
        upload_once = re.findall(r'name="once" value="([^"]+)"', client.get(base).text)
        header = [
            "certificate_id", "date", "time_in", "time_out", "absence",
            "parent_signed", "provider_signed", "received",
        ]  # fmt: skip
        signed = date(2026, 11, 30)
        workbook = _xlsx(
            [
                header,
                ["CC00060", date.fromisoformat(days[0]), time(8), time(13), None, signed,
                 signed, date(2026, 12, 2)],
                ["CC00060", date.fromisoformat(days[1]), time(8), time(11), None, signed,
                 signed, date(2026, 12, 2)],
            ]
        )  # fmt: skip
        xlsx = client.post(
            f"{base}/attendance",
            data={"csrf_token": csrf, "once": upload_once[0]},
            files={"file": ("november.xlsx", workbook, "application/octet-stream")},
        )
        fresh = re.findall(r'name="once" value="([^"]+)"', client.get(base).text)
        foreign = client.post(
            f"{base}/attendance",
            data={"csrf_token": csrf, "once": fresh[0]},
            files={
                "file": (
                    "x.csv",
                    (",".join(header) + "\nCC00001,2026-11-03,08:00,09:00,,2026-11-30,"
                     "2026-11-30,2026-12-02\n").encode(),
                    "text/csv",
                )
            },
        )  # fmt: skip
    with database.read() as conn:
        records = conn.exec_driver_sql(
            "SELECT r.received, COUNT(*) FROM childcare_records r "
            "JOIN childcare_certificates c ON c.id = r.certificate_id "
            "JOIN childcare_record_days d ON d.record_id = r.id "
            "WHERE c.certificate_ref = 'CC00060' GROUP BY r.id"
        ).all()
    database.dispose()
    assert home.status_code == form.status_code == 200
    assert "CC00060" in home.text and "CC00010" in home.text and "CC00001<" not in home.text
    assert theirs.status_code == 404
    assert bad.status_code == 422 and f"{days[0]}:" in bad.text
    assert sent.status_code == 200 and "received 1 record(s), 2 day(s)" in sent.text
    assert "4h30" in again.text and "excused" in again.text
    assert xlsx.status_code == 200 and "1 replaced an earlier one" in xlsx.text
    assert foreign.status_code == 422 and "no certificate CC00001 of yours" in foreign.text
    assert len(records) == 1 and records[0][1] == 2  # the workbook's two days replaced
