"""The web benchmark's books: the demo organisation at a scale, seeded once and reused.

SQLite: the seeded file is kept under the output folder by scale and seed (with its secret
key beside it); each run serves a fresh copy, brought to the newest migration, so that a book
seeded before a newer migration gets it and no run sees another's sessions.

PostgreSQL: a throwaway durable server per run; the book is restored from a ``pg_dump`` kept
the same way (seeded and dumped the first time), migrated, then vacuumed and analysed, as
autovacuum would keep it on a live server.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from remit import demo
from remit.db import Database
from remit.secrets import Vault
from remit.testkit.postgres import TempCluster


@dataclass(frozen=True, slots=True)
class Book:
    url: str
    key: str
    seed_s: float | None  # None when a cached copy was used
    prepare_s: float  # copying or restoring it and migrating, this run


def cache_path(out_dir: Path, scale: str, seed: int, suffix: str) -> Path:
    return out_dir / f"web-{scale}-seed{seed}{suffix}"


def seed_sqlite(path: Path, scale: str, seed: int) -> float:
    """Seed the demo into a new SQLite file at ``path`` (written whole or not at all)."""
    partial = path.with_name(path.name + ".part")
    remove_sqlite(partial)
    key = Fernet.generate_key().decode()
    print(f"seeding the {scale} demo (seed {seed}) into {path} ...", flush=True)
    started = time.perf_counter()
    database = Database(f"sqlite:///{partial}")
    database.migrate()
    demo.seed(database, Vault(key.encode()), scale, seed)
    database.dispose()
    seed_s = time.perf_counter() - started
    with sqlite3.connect(partial) as conn:  # fold the WAL into the file, so copies are whole
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path.with_suffix(".key").write_text(key + "\n")
    path.with_suffix(".json").write_text(
        json.dumps({"scale": scale, "seed": seed, "seed_s": round(seed_s, 1)}) + "\n"
    )
    remove_sqlite(partial, keep_main=True)
    partial.replace(path)
    print(f"  seeded in {seed_s:,.0f} s", flush=True)
    return seed_s


def remove_sqlite(path: Path, keep_main: bool = False) -> None:
    for suffix in ("-wal", "-shm", "-journal", *(() if keep_main else ("",))):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@contextmanager
def sqlite_book(out_dir: Path, scale: str, seed: int) -> Iterator[Book]:
    """A fresh copy of the cached demo book (seeded first if there is none)."""
    cache = cache_path(out_dir, scale, seed, ".sqlite")
    seed_s = None if cache.exists() else seed_sqlite(cache, scale, seed)
    work = cache_path(out_dir, scale, seed, "-run.sqlite")
    started = time.perf_counter()
    remove_sqlite(work)
    try:
        shutil.copyfile(cache, work)
        database = Database(f"sqlite:///{work}")
        database.migrate()  # a cache seeded before a newer migration gets it here
        database.dispose()
        yield Book(
            f"sqlite:///{work}",
            cache.with_suffix(".key").read_text().strip(),
            seed_s,
            time.perf_counter() - started,
        )
    finally:
        remove_sqlite(work)


@contextmanager
def postgres_book(out_dir: Path, scale: str, seed: int) -> Iterator[Book]:
    """A throwaway durable PostgreSQL server holding the demo book (restored from a dump
    under bench/out/ when there is one, else seeded and dumped)."""
    dump = cache_path(out_dir, scale, seed, ".pgdump")
    key_file = cache_path(out_dir, scale, seed, "-pg.key")
    with TempCluster(durable=True) as cluster:
        url = cluster.create_database("bench_web")
        where = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
        seed_s = None
        started = time.perf_counter()
        if dump.exists() and key_file.exists():
            subprocess.run(
                [
                    str(cluster.bin_dir / "pg_restore"),
                    *where,
                    "-d",
                    "bench_web",
                    "--no-owner",
                    "-j",
                    "2",
                    str(dump),
                ],
                check=True,
            )
        else:
            key = Fernet.generate_key().decode()
            print(f"seeding the {scale} demo (seed {seed}) into PostgreSQL ...", flush=True)
            database = Database(url)
            database.migrate()
            demo.seed(database, Vault(key.encode()), scale, seed)
            database.dispose()
            seed_s = time.perf_counter() - started
            print(f"  seeded in {seed_s:,.0f} s", flush=True)
            partial = dump.with_name(dump.name + ".part")
            subprocess.run(
                [str(cluster.bin_dir / "pg_dump"), *where, "-Fc", "-f", str(partial), "bench_web"],
                check=True,
            )
            partial.replace(dump)
            key_file.write_text(key + "\n")
            started = time.perf_counter()
        database = Database(url)
        database.migrate()
        # Statistics and the visibility map, as autovacuum keeps them on a live server (a
        # restored table has neither: every index-only scan would read the table too).
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        database.dispose()
        yield Book(url, key_file.read_text().strip(), seed_s, time.perf_counter() - started)
