"""A throwaway PostgreSQL cluster for tests and benchmarks.

PostgreSQL refuses to run as root, so when we are root the cluster is created and started
as the ``postgres`` system user (``runuser``), in a private directory under the system temp
folder that is removed on ``stop()``. It listens on 127.0.0.1 and a free port only.

Example (needs PostgreSQL installed)::

    with TempCluster() as cluster:
        url = cluster.create_database("remit_test")
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

PG_USER = "postgres"


class ClusterUnavailable(RuntimeError):
    """PostgreSQL is not installed, or the cluster would not start."""


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian layout), or the one on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ClusterUnavailable("PostgreSQL is not installed (no initdb); run `make sysdeps`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempCluster:
    """initdb + pg_ctl start in a temp folder; ``stop()`` removes everything."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.bin_dir = find_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="remit-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        self.started = False

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterUnavailable(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")

    def start(self) -> TempCluster:
        if self.as_root:
            shutil.chown(self.root, PG_USER, PG_USER)
        self.root.chmod(0o700)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = [
            f"-p {self.port}",
            f"-k {self.root}",
            "-c listen_addresses=127.0.0.1",
            "-c max_connections=50",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:  # tests only: losing data on a crash does not matter here
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log.txt"),
            "-o",
            " ".join(options),
            "-w",
            "start",
        )
        self.started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (optionally a copy of a template) and return its URL."""
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempCluster:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
