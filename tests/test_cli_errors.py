"""The ``remit`` program never shows a traceback: bad input is a message and exit 2, the
program's own fault one line (the traceback in the log) and exit 3."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet


def remit(tmp_path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REMIT_DATABASE_URL": url or f"sqlite:///{tmp_path / 'remit.db'}",
        "REMIT_SECRET_KEY": Fernet.generate_key().decode(),
        "REMIT_LOG_FILE": str(tmp_path / "cli.log"),
    }
    env.pop("REMIT_USER", None)
    return subprocess.run(
        [sys.executable, "-m", "remit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_bad_input_is_a_message_and_exit_2(tmp_path):
    assert remit(tmp_path, "init").returncode == 0
    for args in (
        ("ledger", "trial-balance", "--book", "nosuch"),  # a RemitError (NotFound)
        ("demo", "seed", "--scale", "huge"),  # said by the command itself
    ):
        done = remit(tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
        assert done.stderr.startswith("error:"), done.stderr


def test_an_unexpected_error_is_one_line_and_exit_3_with_the_traceback_in_the_log(tmp_path):
    done = remit(tmp_path, "ledger", "trial-balance", url="nosuchdatabase://nowhere/remit")
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" in (tmp_path / "cli.log").read_text(encoding="utf-8")


def test_a_usage_error_is_said_by_the_parser(tmp_path):
    done = remit(tmp_path, "ledger", "trial-balance", "--no-such-option")
    assert done.returncode == 2 and "No such option" in done.stderr
    assert "Traceback" not in done.stderr


def test_what_an_outside_tester_typed_is_bad_input_not_a_fault(tmp_path):
    """Each of these once ended as "failed unexpectedly" (exit 3), or did something with a
    year no book keeps; each is bad input: a message naming it and exit 2, nothing written."""
    assert remit(tmp_path, "init").returncode == 0
    assert remit(tmp_path, "demo", "seed", "--scale", "small").returncode == 0
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    huge = tmp_path / "huge.json"
    huge.write_text('{"entries": [{"amount_minor": ' + "9" * 5000 + "}]}", encoding="utf-8")
    for args, says in (
        (("ledger", "close-period", "-b", "riverside", "9999-12"), "month"),
        (("ledger", "close-period", "-b", "riverside", "0001-01"), "month"),
        (("jobs", "show", "-b", "riverside", "99999999999999999999999"), "job_id"),
        (("care", "plan", "-b", "riverside", "--from", "9999-12-25", "--to", "9999-12-31"), "9999"),
        (("ledger", "post", "-b", "riverside", str(deep)), "JSON"),
        (("ledger", "post", "-b", "riverside", str(huge)), "JSON"),
    ):
        done = remit(tmp_path, *args)
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout and says in done.stderr, done.stderr
    listed = remit(tmp_path, "ledger", "trial-balance", "-b", "riverside")
    assert listed.returncode == 0
