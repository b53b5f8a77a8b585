"""Where a worklist page's time goes, in one process: the bench's pages served one at a time
by the app in-process (no network, no other clients), with the SQL statements counted and
the server side profiled (the route runs in a worker thread, so each thread's calls are
profiled and the profiles merged).

Usage: ``.venv/bin/python -m bench.worklist_profile [--scale small] [--pages 200] [--top 40]``.
It prints the wall time per page, the statements per page and the functions that cost most.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import event
from starlette.testclient import TestClient

from bench.web import BOOK, DEFAULT_SEED, OUT_DIR
from bench.webbook import sqlite_book
from bench.worklist import ROW, long_run, pages
from remit import demo
from remit.care import decisions, payables, routes, worklist
from remit.db import Database
from remit.parties import service as parties
from remit.web import deps
from remit.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Profiles:
    """One cProfile per thread, merged at the end."""

    def __init__(self) -> None:
        self.by_thread: dict[int, cProfile.Profile] = {}
        self.on = False

    def mine(self) -> cProfile.Profile:
        return self.by_thread.setdefault(threading.get_ident(), cProfile.Profile())

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def profiled(*args: Any) -> Any:
            if not self.on:
                return func(*args)
            profile = self.mine()
            profile.enable()
            try:
                return func(*args)
            finally:
                profile.disable()

        return profiled

    def stats(self) -> pstats.Stats:
        found = list(self.by_thread.values())
        stats = pstats.Stats(found[0])
        for p in found[1:]:
            stats.add(p)
        return stats


def timed(sections: Counter[str]) -> None:
    """Wall time of the page's parts, by wrapping them where the route finds them."""

    def wrap(owner: Any, name: str, label: str) -> None:
        func = getattr(owner, name)

        def timed_call(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*a, **kw)
            finally:
                sections[label] += time.perf_counter() - started

        setattr(owner, name, timed_call)

    for owner, name in (
        (worklist, "run_page"),
        (worklist, "_worded"),
        (worklist, "_rows_of_page"),
        (worklist, "_totals"),
        (parties, "party_names"),
        (worklist, "exceptions"),
        (worklist, "lines"),
        (worklist, "totals"),
        (payables, "run_with_hold"),
        (payables, "adjustments_of"),
        (decisions, "pending_approvals"),
        (parties, "get_party"),
        (deps, "render"),
        (deps.Need, "_allowed"),
        (routes, "_run_page"),
    ):
        wrap(owner, name, f"{getattr(owner, '__name__', owner)}.{name}")


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0915 - one script
    top = argparse.ArgumentParser(prog="python -m bench.worklist_profile", description=__doc__)
    top.add_argument("--scale", choices=tuple(demo.SCALES), default="small")
    top.add_argument("--pages", type=int, default=200)
    top.add_argument("--top", type=int, default=40)
    top.add_argument("--sort", default="cumulative")
    top.add_argument("--no-profile", action="store_true", help="time sections instead")
    args = top.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with sqlite_book(OUT_DIR, args.scale, DEFAULT_SEED) as book:
        run_id, exceptions = long_run(book.url)
        os.environ["REMIT_SECRET_KEY"] = book.key
        os.environ.pop("REMIT_KEY_FILE", None)
        database = Database(book.url)
        statements: Counter[str] = Counter()
        counting = [False]

        sql_s: Counter[str] = Counter()
        began: dict[int, float] = {}

        @event.listens_for(database.engine, "before_cursor_execute")
        def count(_c: Any, cursor: Any, statement: str, *_rest: Any) -> None:
            if counting[0]:
                statements[" ".join(statement.split())[:100]] += 1
                began[id(cursor)] = time.perf_counter()

        @event.listens_for(database.engine, "after_cursor_execute")
        def done(_c: Any, cursor: Any, statement: str, *_rest: Any) -> None:
            if counting[0] and id(cursor) in began:
                sql_s[" ".join(statement.split())[:100]] += time.perf_counter() - began.pop(
                    id(cursor)
                )

        profiles = Profiles()
        original = anyio.to_thread.run_sync

        async def run_sync(func: Callable[..., Any], *a: Any, **kw: Any) -> Any:
            return await original(profiles.wrap(func), *a, **kw)

        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        sections: Counter[str] = Counter()
        if args.no_profile:
            timed(sections)
        rng = random.Random(DEFAULT_SEED)
        with TestClient(create_app(database)) as client:
            form = CSRF.search(client.get("/login").text)
            assert form is not None
            client.post(
                "/login",
                data={
                    "username": f"demo-clerk@{BOOK}",
                    "password": demo.DEMO_PASSWORD,
                    "csrf_token": form.group(1),
                    "next": "/",
                },
                follow_redirects=False,
            )
            for _ in range(20):  # warm-up
                client.get(pages(run_id, exceptions, rng))
            counting[0] = True
            profiles.on = not args.no_profile
            main_profile = profiles.mine()
            if profiles.on:
                main_profile.enable()
            sections.clear()
            started = time.perf_counter()
            for _ in range(args.pages):
                answer = client.get(pages(run_id, exceptions, rng))
                assert answer.status_code == 200
                assert len(ROW.findall(answer.text)) == 50
            wall = time.perf_counter() - started
            main_profile.disable()
            profiles.on = False
        database.dispose()
    print(f"{args.pages} pages, {1000 * wall / args.pages:.1f} ms a page in-process (profiled)")
    for name, spent in sections.most_common():
        print(f"  {1000 * spent / args.pages:6.2f} ms  {name}")
    print(f"{sum(statements.values()) / args.pages:.1f} SQL statements a page:")
    for text, n in statements.most_common():
        print(f"  {n / args.pages:5.1f} {1000 * sql_s[text] / args.pages:6.2f} ms  {text}")
    if not args.no_profile:
        profiles.stats().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
