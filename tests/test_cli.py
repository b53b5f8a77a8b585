"""The ``remit`` command, run as a user would, against a real SQLite file."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from typer.testing import CliRunner

from remit.cli import app
from remit.db import Database

runner = CliRunner()

CSV_OK = """entry,date,description,account,party,currency,debit,credit,memo
INV-1,2026-10-31,August care,5000,,GBP,"1,234.50",,
INV-1,2026-10-31,August care,2000,P00001,GBP,,1234.50,
RENT-8,2026-10-01,Office rent,5100,,GBP,100.00,,
RENT-8,2026-10-01,Office rent,1000,,GBP,,100.00,
"""


KEY = Fernet.generate_key().decode()


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'remit.db'}"
    monkeypatch.setenv("REMIT_DATABASE_URL", url)
    monkeypatch.setenv("REMIT_SECRET_KEY", KEY)
    monkeypatch.delenv("REMIT_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init"]).exit_code == 0
    return url


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REMIT_DATABASE_URL", f"sqlite:///{folder / 'remit.db'}")
        mp.setenv("REMIT_SECRET_KEY", KEY)
        assert runner.invoke(app, ["init"]).exit_code == 0
        result = runner.invoke(app, ["demo", "seed", "--scale", "small", "--seed", "7"])
        assert result.exit_code == 0, result.output
    with sqlite3.connect(folder / "remit.db") as conn:  # fold the WAL into the file we copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder / "remit.db"


@pytest.fixture
def seeded(seeded_template, tmp_path, monkeypatch):
    """A copy of the store with the small demo (seed 7)."""
    shutil.copy(seeded_template, tmp_path / "remit.db")
    url = f"sqlite:///{tmp_path / 'remit.db'}"
    monkeypatch.setenv("REMIT_DATABASE_URL", url)
    monkeypatch.setenv("REMIT_SECRET_KEY", KEY)
    monkeypatch.delenv("REMIT_USER", raising=False)
    monkeypatch.chdir(tmp_path)
    return url


def tb_json(book="riverside"):
    result = runner.invoke(app, ["ledger", "trial-balance", "--book", book, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    return str(path)


def test_commands_explain_themselves():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "serve", "demo", "ledger", "audit", "user"):
        assert command in result.output
    assert "trial-balance" in runner.invoke(app, ["ledger", "--help"]).output


def test_commands_before_init_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("REMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2
    assert "remit init" in result.output


def test_demo_is_deterministic_by_seed_and_balanced(seeded, tmp_path, monkeypatch):
    first = tb_json()
    assert first["balanced"] and len(first["rows"]) >= 8
    monkeypatch.setenv("REMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'again.db'}")
    runner.invoke(app, ["init"])
    assert runner.invoke(app, ["demo", "seed", "--seed", "7"]).exit_code == 0
    assert tb_json() == first
    again = runner.invoke(app, ["demo", "seed", "--if-empty"])
    assert again.exit_code == 0 and "not seeded" in again.output
    assert runner.invoke(app, ["demo", "seed"]).exit_code == 2


def test_post_file_then_replay_posts_nothing_twice(seeded, tmp_path):
    before = {r["account"]: r for r in tb_json()["rows"]}
    path = write(tmp_path, "entries.csv", CSV_OK)
    result = runner.invoke(app, ["ledger", "post", path, "--book", "riverside"])
    assert result.exit_code == 0, result.output
    assert "posted 2 entries" in result.output
    replay = runner.invoke(app, ["ledger", "post", path, "--book", "riverside"])
    assert "posted 0 entries; 2 already posted" in replay.output
    after = {r["account"]: r for r in tb_json()["rows"]}
    assert after["5100"]["debit_minor"] == before.get("5100", {}).get("debit_minor", 0) + 10000
    assert (after["5000"]["debit_minor"] - before["5000"]["debit_minor"]) == 123450


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CSV_OK.replace("100.00,\n", "100.01,\n"), "unbalanced in GBP"),
        (CSV_OK.replace(",5100,", ",5999,"), "unknown account '5999'"),
        (CSV_OK.replace("P00001", "P99999"), "no party 'P99999'"),
        (CSV_OK.replace("100.00,,", "100.001,,"), "line 4: debit"),
        (
            CSV_OK.replace("2026-10-01,Office rent,5100", "2026-13-01,Office rent,5100"),
            "line 4: date",
        ),
        (CSV_OK.replace("currency,", "curr,"), "missing column(s): currency"),
        (CSV_OK.replace("2026-10-31", "2026-08-15"), "closed period"),
    ],
)
def test_bad_file_names_line_and_field_and_writes_nothing(seeded, tmp_path, content, expected):
    before = tb_json()
    result = runner.invoke(
        app, ["ledger", "post", write(tmp_path, "bad.csv", content), "--book", "riverside"]
    )
    assert result.exit_code == 2
    assert "nothing was written" in result.output or "error" in result.output
    assert expected in result.output.replace("\n", " ")
    assert tb_json() == before


def test_post_json_entries(seeded, tmp_path):
    doc = {
        "entries": [
            {
                "idempotency_key": "j-1",
                "date": "2026-10-02",
                "description": "x",
                "postings": [
                    {"account": "1000", "currency": "GBP", "amount": "5.00"},
                    {"account": "4100", "currency": "GBP", "amount_minor": -500},
                ],
            }
        ]
    }
    path = write(tmp_path, "e.json", json.dumps(doc))
    result = runner.invoke(app, ["ledger", "post", path, "--book", "riverside"])
    assert result.exit_code == 0, result.output
    doc["entries"][0]["postings"][1]["amount_minor"] = "-500"
    bad = runner.invoke(
        app, ["ledger", "post", write(tmp_path, "b.json", json.dumps(doc)), "--book", "riverside"]
    )
    assert bad.exit_code == 2 and "entries[0].postings[1].amount_minor" in bad.output


def test_reopen_needs_a_manager_and_is_audited(seeded):
    args = ["ledger", "reopen-period", "2026-08", "--reason", "late invoice", "-b", "riverside"]
    clerk = runner.invoke(app, [*args, "--as", "demo-clerk@riverside"])
    assert clerk.exit_code == 2 and "may not period.reopen" in clerk.output
    manager = runner.invoke(app, [*args, "--as", "demo-manager@riverside"])
    assert manager.exit_code == 0, manager.output
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_book_details_are_shown_and_set_by_an_admin(seeded):
    shown = runner.invoke(app, ["ledger", "book-details", "-b", "riverside"])
    assert shown.exit_code == 0, shown.output
    assert "Town Hall, 1 River" in shown.output and "VAT number: 115356727" in shown.output
    args = ["ledger", "book-details", "-b", "riverside", "--vat-number", "GB 980 7806 84"]
    clerk = runner.invoke(app, [*args, "--as", "demo-clerk@riverside"])
    assert clerk.exit_code == 2 and "book.admin" in clerk.output
    bad = runner.invoke(app, [*args[:-1], "GB123456789"])
    assert bad.exit_code == 2 and "vat_number" in bad.output and "check digits" in bad.output
    done = runner.invoke(app, [*args, "--address", "Town Hall\\nRV1 1AA"])
    assert done.exit_code == 0 and "VAT number: 980780684" in done.output, done.output
    assert "address: Town Hall, RV1 1AA" in done.output


def test_payments_preview_pays_the_demo_providers_and_names_a_block(seeded):
    block = ["payments", "block", "-b", "riverside", "--party", "P00003"]
    done = runner.invoke(app, [*block, "--reason", "disputed_amount", "--note", "queried"])
    assert done.exit_code == 0, done.output
    args = ["payments", "preview", "-b", "riverside", "--pay-date", "2026-12-31"]
    shown = runner.invoke(app, [*args, "--as", "demo-clerk@riverside", "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["excluded"] == {"blocked:disputed_amount": 1}  # its older bills are matched
    assert [t["method"] for t in found["totals"]] == ["bacs18"] and found["totals"][0]["payments"]
    text = runner.invoke(app, args).output
    assert "P00003" in text and "£" in text and "blocked:disputed_amount" in text


def test_user_add_checks_the_password(seeded):
    short = runner.invoke(
        app,
        ["user", "add", "zoe", "--role", "clerk", "-b", "riverside", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    bad_role = runner.invoke(
        app,
        ["user", "add", "zoe", "--role", "boss", "-b", "riverside", "--password-stdin"],
        input="long enough pass\n",
    )
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    ok = runner.invoke(
        app,
        ["user", "add", "zoe", "--role", "clerk", "-b", "riverside", "--password-stdin"],
        input="long enough pass\n",
    )
    assert ok.exit_code == 0, ok.output


def test_audit_verify_reports_tampering(seeded):
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    database = Database()
    with database.write() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 5"))
    database.dispose()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "event 5: edited" in result.output
