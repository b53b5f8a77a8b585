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
