"""A real remit server in a child process, for browser tests and screenshots.

``serve`` runs ``remit serve --no-worker`` on a free loopback port against a given store,
waits until ``/health`` answers, and stops the process when the block ends. Its log goes to
a file, so that a server that will not start says why.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # another process may take the free port between asking and binding


class ServerFailed(RuntimeError):
    """The server did not answer on /health in time, or exited."""


@dataclass(frozen=True, slots=True)
class Server:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    log_path: Path


def free_port() -> int:
    """A TCP port on the loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _remit_command() -> str:
    """The ``remit`` script beside this interpreter (the virtualenv's)."""
    beside = Path(sys.executable).parent / "remit"
    return str(beside) if beside.exists() else "remit"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as reply:  # noqa: S310 - loopback
            return int(reply.status) == 200
    except OSError:
        return False


def _bound(url: str, log_path: Path) -> bool:
    """Our process says it listens on ``url`` (so /health is ours, not another server's
    that took the port between asking for it and binding it)."""
    try:
        return f"Uvicorn running on {url} " in log_path.read_text(errors="replace")
    except OSError:
        return False


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """True once /health answers; False if the process exits first (e.g. port taken)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _bound(url, log_path) and _answers(url):
            return True
        time.sleep(0.1)
    _stop(process)
    raise ServerFailed(
        f"remit did not answer on {url}/health within {START_TIMEOUT_S:.0f} s; "
        f"log:\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def serve(database_url: str, secret_key: str, log_path: Path) -> Iterator[Server]:
    """Serve the store at ``database_url`` until the block ends."""
    env = {**os.environ, "REMIT_DATABASE_URL": database_url, "REMIT_SECRET_KEY": secret_key}
    env.pop("REMIT_KEY_FILE", None)
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        url = f"http://{HOST}:{port}"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [_remit_command(), "serve", "--host", HOST, "--port", str(port), "--no-worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            if _wait_ready(process, url, log_path):
                yield Server(url, log_path)
                return
        finally:
            _stop(process)
    raise ServerFailed(
        f"remit exited before answering ({PORT_ATTEMPTS} tries); log:\n{_tail(log_path)}"
    )
