"""The web benchmark's clients: signed-in browsers that walk the list and queue pages.

Each client is one session (its own cookies and keep-alive connection, from the standard
library's ``http.client``: the load generator should cost the machine as little as it can).
A client walks a *round* again and again, as a case worker would: My queue and its next page,
the case list with a filter and its next page, one of its cases, the providers and their next
page, a search of the clients (the full page, its next page and the search-as-you-type
fragment), and one of the clients found. Links come from the pages themselves, so a next
page is the page's own keyset marker. Every answer must be a 200 holding what the page is
for; anything else is counted as a failure, with what was wrong.
"""

from __future__ import annotations

import html
import http.client
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

HOST = "127.0.0.1"
TIMEOUT_S = 120.0
# Filters of the case list a worker uses (query strings of the filter form).
CASE_FILTERS = (
    "",
    "case_type=arbitration",
    "overdue=1",
    "owner=-",
    "team=helpdesk",
    "q=missed",
    "closed=1",
    "case_type=broken_promise&owner=demo-clerk%40riverside",
    "state=open",
)
# Searches of the clients: common surnames and first names, a part of a name, a reference.
CLIENT_TERMS = (
    "patel",
    "Khan",
    "olivia",
    "rosa nguyen",
    "ami",
    "C00012",
    "C0000",
    "jones",
    "Tara Smith",
)
CASE_LINK = re.compile(r'<a href="/b/[^/"]+/cases/(\d+)">')
PARTY_LINK = re.compile(r'<a href="/b/[^/"]+/parties/(\d+)">')
NEXT_LINK = re.compile(r'<a href="(\?[^"]*after=[^"]*)">Next page</a>')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
Marker = str | re.Pattern[str]


class Spent(Exception):
    """The run's budget (time or requests) is used up: the client stops."""


class Browser:
    """One session: a keep-alive connection and its cookies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, float]:
        """(status, body, milliseconds from sending to the last byte)."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body, headers)
                reply = self.conn.getresponse()
                data = reply.read()
            except RETRYABLE:
                self.conn.close()
                if attempt == 2:
                    raise
                continue
            ms = (time.perf_counter() - started) * 1000
            for value in reply.headers.get_all("Set-Cookie") or ():
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return reply.status, data.decode("utf-8", "replace"), ms
        raise AssertionError("unreachable")

    def sign_in(self, username: str, password: str) -> None:
        status, page, _ = self.request("GET", "/login")
        found = CSRF.search(page)
        if status != 200 or not found:
            raise RuntimeError(f"no sign-in form (status {status})")
        status, _, _ = self.request(
            "POST",
            "/login",
            {"username": username, "password": password, "csrf_token": found.group(1), "next": "/"},
        )
        if status != 303 or "remit_session" not in self.cookies:
            raise RuntimeError(f"sign-in of {username} failed (status {status})")

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True, slots=True)
class Sample:
    page: str
    ms: float
    problem: str = ""  # empty when the answer was a 200 with the page's content


@dataclass(slots=True)
class Budget:
    """Shared by the clients: stop at a deadline, or after a number of requests."""

    deadline: float | None = None
    requests: int | None = None
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self.lock:
            if self.requests is not None and self.issued >= self.requests:
                return False
            if self.deadline is not None and time.perf_counter() >= self.deadline:
                return False
            self.issued += 1
            return True


@dataclass(slots=True)
class Visitor:
    """A browser spending the run's budget and keeping a sample of every request."""

    browser: Browser
    budget: Budget | None
    # Lists must show rows (the patterns among the markers); at the small scale some
    # filters match nothing, and a list of exactly one page links to an empty next page.
    need_rows: bool = True
    samples: list[Sample] = field(default_factory=list)

    def get(self, page: str, path: str, *markers: Marker) -> str:
        """The page's body, or "" when it failed (the failure is kept as a sample)."""
        if self.budget is not None and not self.budget.take():
            raise Spent
        status, body, ms = self.browser.request("GET", path)
        if not self.need_rows:
            markers = tuple(m for m in markers if isinstance(m, str))
        problem = check(status, body, markers)
        self.samples.append(Sample(page, ms, f"{path}: {problem}" if problem else ""))
        return "" if problem else body

    def follow(self, page: str, path: str, body: str, *markers: Marker) -> str:
        """The list's next page, when the page has one."""
        found = NEXT_LINK.search(body)
        if not found:
            return ""
        return self.get(page, path.partition("?")[0] + html.unescape(found.group(1)), *markers)


def check(status: int, body: str, markers: Sequence[Marker]) -> str:
    if status != 200:
        return f"status {status}"
    for marker in markers:
        if isinstance(marker, str) and marker not in body:
            return f"no {marker!r} in the page"
        if isinstance(marker, re.Pattern) and not marker.search(body):
            return f"nothing matching {marker.pattern!r} in the page"
    return ""


def pick(pattern: re.Pattern[str], body: str, rng: random.Random) -> str | None:
    found = pattern.findall(body)
    return rng.choice(found) if found else None


def round_trip(v: Visitor, code: str, rng: random.Random) -> None:
    """One round of a case worker's list and queue pages (see the module's docstring)."""
    base = f"/b/{code}"
    queue = v.get("my queue", f"{base}/queue", "<h1>My queue</h1>", "My open cases")
    v.follow("my queue, next page", f"{base}/queue", queue, "<h1>My queue</h1>", CASE_LINK)
    path = f"{base}/cases?{rng.choice(CASE_FILTERS)}".rstrip("?")
    listed = v.get("cases, filtered", path, "<h1>Cases</h1>", CASE_LINK)
    listed = v.follow("cases, next page", path, listed, "<h1>Cases</h1>", CASE_LINK) or listed
    case_id = pick(CASE_LINK, listed, rng)
    if case_id:
        v.get("case", f"{base}/cases/{case_id}", f"<h1>#{case_id} ")
    path = f"{base}/parties?role=provider"
    providers = v.get("providers", path, "<h1>Providers</h1>", PARTY_LINK)
    v.follow("providers, next page", path, providers, "<h1>Providers</h1>", PARTY_LINK)
    term = rng.choice(CLIENT_TERMS)
    path = f"{base}/parties?role=client&q={quote(term)}"
    clients = v.get("clients, search", path, "<h1>Clients</h1>", PARTY_LINK)
    v.follow("clients, search, next page", path, clients, "<h1>Clients</h1>", PARTY_LINK)
    v.get(
        "clients, search as you type",
        f"{base}/parties?role=client&fragment=1&q={quote(term[:3])}",
        '<tbody id="party-rows">',
        PARTY_LINK,
    )
    party_id = pick(PARTY_LINK, clients, rng)
    if party_id:
        v.get("party", f"{base}/parties/{party_id}", "<hgroup><h1>")


def walk(visitor: Visitor, code: str, rng: random.Random, rounds: int | None = None) -> None:
    """Rounds until the budget is spent (or ``rounds`` of them, for a warm-up)."""
    done = 0
    try:
        while rounds is None or done < rounds:
            round_trip(visitor, code, rng)
            done += 1
    except Spent:
        return
