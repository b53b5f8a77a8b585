"""``remit payments run ...`` on the demo books (issue 10, points 2, 9 and 10): the council's
October self-bills paid in a run a second demo user approved; the agency's run through
four eyes, a limit, release, a byte-identical download, settlement and a return."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from remit.cli import app
from remit.ledger import service as ledger

runner = CliRunner()
KEY = Fernet.generate_key().decode()
VALLEY = ["-b", "valley-app"]
# The demo releases its runs today: a bank's dates are today (never before release or after today).
VALLEY_TODAY = ledger.today_in("America/Los_Angeles").isoformat()
RIVERSIDE_TODAY = ledger.today_in("Europe/London").isoformat()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("payments-demo")
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
    monkeypatch.chdir(tmp_path)
    return tmp_path


def remit(*args: str, user: str | None = None):
    argv = [*args, "--as", user] if user else list(args)
    return runner.invoke(app, argv)


def said(result) -> str:
    """What a command printed, its lines joined (the console wraps long messages)."""
    return " ".join(result.output.split())


def shown(run: int, book: list[str]) -> dict:
    done = remit("payments", "run", "show", str(run), *book, "--json")
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def test_the_council_demo_paid_its_care_self_bills_in_a_run_a_second_user_approved(demo):
    run = shown(1, ["-b", "riverside"])
    assert run["status"] == "released"
    assert run["prepared_by"] == "demo-clerk@riverside"
    assert run["approved_by"] == "demo-approver@riverside"
    assert run["released_by"] not in (None, run["prepared_by"])
    assert [f["format"] for f in run["files"]] == ["bacs18"]
    db = sqlite3.connect(demo / "remit.db")
    refs = [r for (r,) in db.execute("SELECT doc_ref FROM run_items WHERE run_id = 1")]
    self_bills = [r for r in refs if "-SB-" in r]
    assert len(self_bills) == 3, refs[:10]  # the three care runs the demo finished
    text = remit("payments", "run", "show", "1", "-b", "riverside").output
    assert "£" in text and "demo-approver@riverside" in text


def test_the_agency_run_through_four_eyes_release_download_settle_and_return(demo):
    run = shown(2, VALLEY)
    assert run["status"] == "prepared" and run["prepared_by"] == "demo-clerk@valley-app"
    clerk = remit("payments", "run", "approve", "2", *VALLEY, user="demo-clerk@valley-app")
    assert clerk.exit_code == 2 and "may not payment.approve" in said(clerk)
    first = remit("payments", "run", "approve", "2", *VALLEY, user="demo-approver@valley-app")
    assert first.exit_code == 0, first.output
    assert "waits for a second approver" in said(first)  # over the approver's $50,000.00
    again = remit("payments", "run", "approve", "2", *VALLEY, user="demo-approver@valley-app")
    assert again.exit_code == 2 and "a second approver must be someone else" in said(again)
    early = remit("payments", "run", "release", "2", *VALLEY, user="demo-manager@valley-app")
    assert early.exit_code == 2 and shown(2, VALLEY)["status"] == "prepared"
    second = remit("payments", "run", "approve", "2", *VALLEY, user="demo-manager@valley-app")
    assert second.exit_code == 0 and shown(2, VALLEY)["status"] == "approved"
    by_clerk = remit("payments", "run", "release", "2", *VALLEY, user="demo-clerk@valley-app")
    assert by_clerk.exit_code == 2 and shown(2, VALLEY)["status"] == "approved"
    released = remit("payments", "run", "release", "2", *VALLEY, user="demo-approver@valley-app")
    assert released.exit_code == 0, released.output
    run = shown(2, VALLEY)
    assert run["status"] == "released" and [f["format"] for f in run["files"]] == ["nacha"]

    for folder in ("a", "b"):
        (demo / folder).mkdir()
        done = remit(
            "payments", "run", "download", "2", *VALLEY, "--out", folder,
            user="demo-approver@valley-app",
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    name = run["files"][0]["filename"]
    assert (demo / "a" / name).read_bytes() == (demo / "b" / name).read_bytes()
    checked = remit("check", str(demo / "a" / name))
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["totals"]["entries"] == run["payments"]
    assert report["totals"]["credit_minor"] == run["total_minor"]

    back = remit(
        "payments", "run", "return", "R2-000001", *VALLEY, "--code", "R03", "--on",
        VALLEY_TODAY, "--detail", "no account", user="demo-clerk@valley-app",
    )  # fmt: skip
    assert back.exit_code == 0, back.output
    settle = remit(
        "payments", "run", "settle", "2", *VALLEY, "--on", VALLEY_TODAY,
        user="demo-clerk@valley-app",
    )  # fmt: skip
    assert settle.exit_code == 0, settle.output
    assert f"settled {run['payments'] - 1} payment(s)" in said(settle)
    assert shown(2, VALLEY)["status"] == "settled"
    statuses = {t["status"]: t["payments"] for t in shown(2, VALLEY)["totals"]}
    assert statuses == {"returned": 1, "settled": run["payments"] - 1}
    # the returned payment's items are open again: the next run takes them
    nxt = remit(
        "payments", "run", "prepare", *VALLEY, "--pay-date", "2027-01-31",
        user="demo-clerk@valley-app",
    )  # fmt: skip
    assert nxt.exit_code == 0, nxt.output
    assert shown(3, VALLEY)["payments"] >= 1


def test_an_approval_limit_lets_one_approver_approve_alone_and_bad_input_is_named(demo):
    bad = remit("payments", "approval-limit", "demo-approver@valley-app", *VALLEY,
                "--limit", "lots", user="demo-admin@valley-app")  # fmt: skip
    assert bad.exit_code == 2 and "--limit" in said(bad)
    clerk = remit("payments", "approval-limit", "demo-clerk@valley-app", *VALLEY,
                  "--limit", "10.00", user="demo-admin@valley-app")  # fmt: skip
    assert clerk.exit_code == 2 and "does not approve payments" in said(clerk)
    for who in ("demo-clerk@valley-app", "demo-manager@valley-app"):  # limits are the admin's
        refused = remit("payments", "approval-limit", "demo-approver@valley-app", *VALLEY,
                        "--limit", "500000.00", user=who)  # fmt: skip
        assert refused.exit_code == 2 and "users.manage" in said(refused)
    done = remit("payments", "approval-limit", "demo-approver@valley-app", *VALLEY,
                 "--limit", "500,000.00", user="demo-admin@valley-app")  # fmt: skip
    assert done.exit_code == 0 and "$500,000.00" in said(done)
    one = remit("payments", "run", "approve", "2", *VALLEY, user="demo-approver@valley-app")
    assert one.exit_code == 0 and shown(2, VALLEY)["status"] == "approved"
    stale = remit("payments", "run", "cancel", "2", *VALLEY, "--reason", "wrong date",
                  "--version", "1", user="demo-clerk@valley-app")  # fmt: skip
    assert stale.exit_code == 2 and "changed since it was read (version 1, now 2" in said(stale)
    cancelled = remit("payments", "run", "cancel", "2", *VALLEY, "--reason", "wrong date",
                      user="demo-clerk@valley-app")  # fmt: skip
    assert cancelled.exit_code == 0 and shown(2, VALLEY)["status"] == "cancelled"


def test_a_run_with_nothing_due_is_refused_and_writes_nothing(demo):
    early = remit("payments", "run", "prepare", *VALLEY, "--pay-date", "2026-01-01",
                  user="demo-clerk@valley-app")  # fmt: skip
    assert early.exit_code == 2 and "nothing to pay on 2026-01-01" in said(early)
    listed = remit("payments", "run", "list", *VALLEY)
    assert listed.output.count("run ") == 1  # the demo's own run only
    bad_date = remit("payments", "run", "prepare", *VALLEY, "--pay-date", "31/12/2026")
    assert bad_date.exit_code == 2 and "--pay-date" in said(bad_date)


def test_a_confirmation_feed_applied_settles_and_returns_and_a_replay_changes_nothing(demo):
    db = sqlite3.connect(demo / "remit.db")
    (first, a1, c1), (second, a2, c2) = db.execute(
        "SELECT reference, amount_minor, currency FROM run_payments WHERE run_id = 1 "
        "ORDER BY id LIMIT 2"
    ).fetchall()
    feed = demo / "confirmations.csv"
    feed.write_text(
        "reference,payment_date,payment_number,amount_minor,currency,status\n"
        f"{first},{RIVERSIDE_TODAY},900001,{a1},{c1},paid\n"
        f"{second},{RIVERSIDE_TODAY},900002,{a2},{c2},failed\n",
        encoding="utf-8",
    )
    read = remit("payments", "returns", str(feed))  # without --apply: reads only
    assert read.exit_code == 0 and json.loads(read.stdout)["format"] == "confirmations"
    args = ("payments", "returns", str(feed), "--apply", "-b", "riverside", "--on", RIVERSIDE_TODAY)
    done = remit(*args, user="demo-clerk@riverside")
    assert done.exit_code == 0, done.output
    assert f"returned: {second}" in said(done) and f"settled: {first}" in said(done)
    states = dict(
        db.execute(
            "SELECT reference, status FROM run_payments WHERE reference IN (?, ?)", (first, second)
        ).fetchall()
    )
    assert states == {first: "settled", second: "returned"}
    again = remit(*args, user="demo-clerk@riverside")
    assert again.exit_code == 0 and "nothing changed" in said(again)
    bad = demo / "bad.csv"
    bad.write_text(feed.read_text().replace(first, "R999-000001"), encoding="utf-8")
    refused = remit("payments", "returns", str(bad), "--apply", "-b", "riverside",
                    user="demo-clerk@riverside")  # fmt: skip
    assert refused.exit_code == 2 and "R999-000001" in said(refused)


def test_a_bank_date_after_today_and_a_made_up_reason_code_are_refused(demo):
    later = remit("payments", "run", "settle", "1", "-b", "riverside", "--on", "2099-01-01",
                  user="demo-clerk@riverside")  # fmt: skip
    assert later.exit_code == 2 and "is after today" in said(later)
    made_up = remit("payments", "run", "return", "R1-000001", "-b", "riverside", "--code", "ZZZ",
                    "--on", RIVERSIDE_TODAY, user="demo-clerk@riverside")  # fmt: skip
    assert made_up.exit_code == 2 and "is not a bank's return reason" in said(made_up)
    future = remit("payments", "run", "return", "R1-000001", "-b", "riverside", "--code", "r03",
                   "--on", "2099-01-01", user="demo-clerk@riverside")  # fmt: skip
    assert future.exit_code == 2 and "is after today" in said(future)
    assert shown(1, ["-b", "riverside"])["status"] == "released"  # nothing moved


def test_a_run_for_one_cost_centre_from_the_command_line(demo):
    riverside = ("--book", "riverside")
    preview = remit("payments", "preview", *riverside, "--pay-date", "2026-12-31",
                    "--cost-centre", "LD-SUPPORT", "--json")  # fmt: skip
    assert preview.exit_code == 0, preview.output
    done = remit("payments", "run", "prepare", *riverside, "--pay-date", "2026-12-31",
                 "--cost-centre", "LD-SUPPORT", user="demo-clerk@riverside")  # fmt: skip
    assert done.exit_code == 0, done.output
    run_id = int(re.search(r"prepared run (\d+)", said(done)).group(1))
    shown = json.loads(remit("payments", "run", "show", str(run_id), *riverside, "--json").stdout)
    assert shown["prepared_for"]["cost_centres"] == ["LD-SUPPORT"]
    assert shown["payments"] == sum(t["payments"] for t in json.loads(preview.stdout)["totals"])
    text = said(remit("payments", "run", "show", str(run_id), *riverside))
    assert "prepared for: accounts 2000; cost centres LD-SUPPORT" in text
    bad = remit("payments", "run", "prepare", *riverside, "--pay-date", "2026-12-31",
                "--cost-centre", "A,B", user="demo-clerk@riverside")  # fmt: skip
    assert bad.exit_code == 2 and "cost_centre" in said(bad)
