"""Webhooks, end to end: a real HTTP receiver on 127.0.0.1, on SQLite and PostgreSQL.

Time is driven through ``deliver_due(now=...)``, so a schedule of retries that spans a day
runs in well under a second; nothing sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select, text

from remit.access.model import Actor, Role
from remit.cases import service as cases
from remit.cases.model import NewCase
from remit.db import Database
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from remit.events import service as webhooks
from remit.events.delivery import ALLOW_PRIVATE_ENV, claim_due, deliver_due
from remit.events.rules import (
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    sign,
    verify_signature,
)
from remit.events.store import events, webhook_deliveries, webhook_subscriptions
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import BankDetails, BankScheme, PartyKind, PartyRole
from remit.secrets import Vault
from remit.testkit import person
from remit.timestamps import parse_utc_text

FAST_TIMEOUT_SECONDS = 0.1


# ---------------------------------------------------------------- a receiver


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes


@dataclass
class Receiver:
    """An HTTP server that answers each POST with the next status of ``script`` (else 200)."""

    port: int
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/remit"


@contextmanager
def running_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(Received(self.path, self.headers, body))
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"http://127.0.0.1:{state.port}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that takes connections (into the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"


@pytest.fixture
def refused_url() -> str:
    """A port where nothing listens: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


# ---------------------------------------------------------------- the story's people


@pytest.fixture(autouse=True)
def _local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """These receivers run on 127.0.0.1, an internal address remit refuses by default (and
    are reached directly, not through a proxy of the machine's environment)."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    for proxy in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
        monkeypatch.delenv(proxy.upper(), raising=False)


@pytest.fixture
def vault() -> Vault:
    return Vault(Fernet.generate_key())


@pytest.fixture
def ada(book: int) -> Actor:
    return person("ada", book, Role.ADMIN)


@pytest.fixture
def carla(book: int) -> Actor:
    return person("carla", book, Role.CLERK)


def subscribe(
    db: Database, actor: Actor, vault: Vault, book: int, url: str, *types: str
) -> tuple[int, str]:
    with db.write() as conn:
        return webhooks.create_subscription(
            conn, actor, vault, book, url, list(types) or ["entry.posted"], "test receiver"
        )


def care_fee(key: str, amount_minor: int = 12_500) -> EntryDraft:
    return EntryDraft(
        date(2026, 1, 5),
        "Care fees, week 1",
        key,
        (PostingDraft("5000", amount_minor, "GBP"), PostingDraft("1000", -amount_minor, "GBP")),
    )


def post_fee(db: Database, actor: Actor, book: int, key: str = "fee-1") -> int:
    with db.write() as conn:
        return ledger.post(conn, actor, book, care_fee(key)).entry_id


def deliveries(db: Database) -> list[dict[str, object]]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(webhook_deliveries).order_by(webhook_deliveries.c.id)
            ).mappings()
        ]


def count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run_schedule(
    db: Database, vault: Vault, start: datetime, timeout_seconds: float = FAST_TIMEOUT_SECONDS
) -> datetime:
    """Attempt at once, then after each backoff delay; each time exactly one is due."""
    at = start
    assert deliver_due(db, vault, now=at, timeout_seconds=timeout_seconds) == 1
    for delay in BACKOFF_SECONDS:
        at += timedelta(seconds=delay)
        early = at - timedelta(seconds=1)
        assert deliver_due(db, vault, now=early, timeout_seconds=timeout_seconds) == 0
        assert deliver_due(db, vault, now=at, timeout_seconds=timeout_seconds) == 1
    return at


# ---------------------------------------------------------------- delivering


def test_a_posted_entry_arrives_signed(db, book, vault, receiver, ada, system):
    subscription_id, secret = subscribe(db, ada, vault, book, receiver.url, "entry.posted")
    entry_id = post_fee(db, system, book)

    assert deliver_due(db, vault) == 1
    assert deliver_due(db, vault) == 0
    [got] = receiver.requests
    assert got.path == "/hooks/remit"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == "remit-webhooks"
    assert got.headers["Remit-Event"] == "entry.posted"
    [delivery] = deliveries(db)
    assert got.headers["Remit-Delivery"] == str(delivery["id"])
    assert got.headers["Remit-Event-Id"] == str(delivery["event_id"])
    header = got.headers["Remit-Signature"]
    assert verify_signature(secret, header, got.body, now=int(time.time()))
    # The same check, made independently with hmac, as a receiver in any language would.
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + got.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - time.time()) < 60

    event = json.loads(got.body)
    assert event["type"] == "entry.posted" and event["book_id"] == book
    assert event["object"] == {"type": "journal_entry", "id": str(entry_id)}
    assert event["data"]["entry_id"] == entry_id
    assert event["data"]["postings"][0] == {
        "account": "5000",
        "amount_minor": 12_500,
        "currency": "GBP",
        "party_id": None,
        "memo": "",
    }
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200 and delivery["last_error"] is None
    with db.read() as conn:
        [logged] = webhooks.list_deliveries(conn, ada, book, subscription_id)
        [tried] = webhooks.delivery_attempts(conn, ada, book, delivery["id"])
    assert logged["event_type"] == "entry.posted" and logged["object_id"] == str(entry_id)
    assert logged["next_attempt_at"] is None
    assert tried["status_code"] == 200 and tried["duration_ms"] >= 0


def test_a_failing_receiver_is_retried_on_the_backoff_schedule(
    db, book, vault, receiver, ada, system
):
    subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    receiver.script[:] = [500, 500]
    t0 = datetime.now(UTC)

    assert deliver_due(db, vault, now=t0) == 1
    [d] = deliveries(db)
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("pending", 1, 500)
    assert d["last_error"].startswith("HTTP 500")
    assert deliver_due(db, vault, now=t0 + timedelta(seconds=29)) == 0  # not yet
    assert deliver_due(db, vault, now=t0 + timedelta(seconds=30)) == 1
    assert deliver_due(db, vault, now=t0 + timedelta(seconds=30 + 119)) == 0
    assert deliver_due(db, vault, now=t0 + timedelta(seconds=30 + 120)) == 1

    [d] = deliveries(db)
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("succeeded", 3, 200)
    assert len(receiver.requests) == 3
    assert len({r.headers["Remit-Delivery"] for r in receiver.requests}) == 1
    with db.read() as conn:
        tried = webhooks.delivery_attempts(conn, ada, book, int(d["id"]))
    assert [a["status_code"] for a in tried] == [500, 500, 200]
    times = [parse_utc_text(a["at"]) for a in tried]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [30, 120]


def test_a_refused_connection_fails_after_the_schedule(db, book, vault, refused_url, ada, system):
    subscription_id, _ = subscribe(db, ada, vault, book, refused_url)
    post_fee(db, system, book)
    last = run_schedule(db, vault, datetime.now(UTC))

    [d] = deliveries(db)
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("failed", MAX_ATTEMPTS, None)
    assert "Connection refused" in d["last_error"] or "Errno" in d["last_error"]
    assert deliver_due(db, vault, now=last + timedelta(days=30)) == 0  # dead, and kept
    with db.read() as conn:
        [logged] = webhooks.list_deliveries(conn, ada, book, subscription_id)
        assert logged["status"] == "failed"
        assert len(webhooks.delivery_attempts(conn, ada, book, int(d["id"]))) == MAX_ATTEMPTS
        assert webhooks.list_subscriptions(conn, ada, book)[0]["failed"] == 1
    with db.write() as conn:
        webhooks.set_active(conn, ada, book, subscription_id, active=False)
    with pytest.raises(Conflict, match="paused"), db.write() as conn:
        webhooks.redeliver(conn, ada, book, int(d["id"]))


def test_a_receiver_that_never_answers_times_out(db, book, vault, silent_url, ada, system):
    subscribe(db, ada, vault, book, silent_url)
    post_fee(db, system, book)
    started = time.monotonic()
    run_schedule(db, vault, datetime.now(UTC))

    assert time.monotonic() - started < 5
    [d] = deliveries(db)
    assert (d["status"], d["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert d["last_error"] == f"no answer within {FAST_TIMEOUT_SECONDS:g} s"
    with db.read() as conn:
        tried = webhooks.delivery_attempts(conn, ada, book, int(d["id"]))
    assert len(tried) == MAX_ATTEMPTS and all(a["duration_ms"] >= 90 for a in tried)


def test_a_redirect_is_an_answer_not_a_place_to_go(db, book, vault, receiver, ada, system):
    subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    receiver.script[:] = [302]
    assert deliver_due(db, vault) == 1
    [d] = deliveries(db)
    assert (d["status"], d["last_status_code"]) == ("pending", 302)
    assert [r.path for r in receiver.requests] == ["/hooks/remit"]


def test_a_failed_delivery_can_be_sent_again_once(db, book, vault, receiver, ada, system):
    subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    receiver.script[:] = [503] * MAX_ATTEMPTS
    last = run_schedule(db, vault, datetime.now(UTC))
    [d] = deliveries(db)
    assert d["status"] == "failed"

    with db.write() as conn:
        webhooks.redeliver(conn, ada, book, int(d["id"]))
    with pytest.raises(Conflict, match="only a failed"), db.write() as conn:
        webhooks.redeliver(conn, ada, book, int(d["id"]))
    assert deliver_due(db, vault, now=last + timedelta(days=2)) == 1
    [d] = deliveries(db)
    assert (d["status"], d["attempts"]) == ("succeeded", MAX_ATTEMPTS + 1)
    assert len(receiver.requests) == MAX_ATTEMPTS + 1
    with db.read() as conn:
        actions = [
            r.action
            for r in conn.execute(
                text("SELECT action FROM audit_events WHERE object_type = 'webhook_delivery'")
            )
        ]
    assert actions == ["webhook.redeliver"]


def test_a_claimed_delivery_is_not_sent_twice(db, book, vault, receiver, ada, system):
    subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    t0 = datetime.now(UTC)
    [claimed] = claim_due(db, 10, t0, lease_seconds=60)  # a worker that then dies

    assert deliver_due(db, vault, now=t0 + timedelta(seconds=59)) == 0
    assert receiver.requests == []
    assert deliver_due(db, vault, now=t0 + timedelta(seconds=60)) == 1  # the lease ran out
    assert claimed.attempts == 0 and len(receiver.requests) == 1


def test_postgres_workers_skip_deliveries_another_worker_holds(
    db, book, vault, receiver, ada, system
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book, "fee-1")
    post_fee(db, system, book, "fee-2")
    with db.engine.connect() as other, other.begin():
        other.execute(
            select(webhook_deliveries.c.id)
            .where(webhook_deliveries.c.id == deliveries(db)[0]["id"])
            .with_for_update()
        )
        assert deliver_due(db, vault) == 1  # the free one; the locked one is skipped
    assert deliver_due(db, vault) == 1
    assert [d["status"] for d in deliveries(db)] == ["succeeded", "succeeded"]


# ---------------------------------------------------------------- what is emitted


def test_events_are_stored_only_when_a_subscription_wants_them(
    db, book, vault, receiver, ada, carla, system
):
    post_fee(db, system, book, "nobody-listens")
    assert count(db, events) == 0 and count(db, webhook_deliveries) == 0

    subscribe(db, ada, vault, book, receiver.url, "case.*")
    post_fee(db, system, book, "cases-only")
    assert count(db, events) == 0

    with db.write() as conn:
        case_id = cases.open_case(conn, carla, book, NewCase("helpdesk", "Where is my money?"))
    assert deliver_due(db, vault) == 1
    [got] = receiver.requests
    assert got.headers["Remit-Event"] == "case.created"
    event = json.loads(got.body)
    assert event["object"] == {"type": "case", "id": str(case_id)}
    assert event["data"]["title"] == "Where is my money?"


def test_an_inactive_subscription_gets_nothing(db, book, vault, receiver, ada, system):
    subscription_id, _ = subscribe(db, ada, vault, book, receiver.url, "*")
    post_fee(db, system, book, "before-pause")  # pending when the subscription is paused
    with db.write() as conn:
        webhooks.set_active(conn, ada, book, subscription_id, active=False)
    post_fee(db, system, book, "while-paused")

    assert count(db, events) == 1
    assert deliver_due(db, vault) == 0
    assert receiver.requests == []
    with db.write() as conn:
        [listed] = webhooks.list_subscriptions(conn, ada, book)
        assert listed["active"] is False and listed["pending"] == 1
        webhooks.set_active(conn, ada, book, subscription_id, active=True)
    assert deliver_due(db, vault) == 1  # what waited is sent on resuming
    assert len(receiver.requests) == 1


def test_big_batches_emit_one_summary_event(db, book, vault, receiver, ada, system):
    subscription_id, _ = subscribe(
        db, ada, vault, book, receiver.url, "entry.posted", "entries.posted"
    )
    with db.write() as conn:
        ledger.post_entries(conn, system, book, [care_fee(f"a{n}") for n in range(100)])
        ledger.post_entries(conn, system, book, [care_fee(f"a{n}") for n in range(100)])
    assert count(db, events) == 100  # the replay posted nothing, so emitted nothing
    with db.write() as conn:
        results = ledger.post_entries(conn, system, book, [care_fee(f"b{n}") for n in range(101)])
    with db.read() as conn:
        summary = conn.execute(select(events).order_by(events.c.id.desc())).first()
        page = webhooks.list_deliveries(conn, ada, book, subscription_id, limit=60)
        older = webhooks.list_deliveries(
            conn, ada, book, subscription_id, limit=60, before_id=page[-1]["id"]
        )
    assert count(db, events) == 101
    assert summary.event_type == "entries.posted"
    data = json.loads(summary.payload)["data"]
    assert data == {
        "entries": 101,
        "postings": 202,
        "first_id": results[0].entry_id,
        "last_id": results[-1].entry_id,
    }
    assert page[0]["event_type"] == "entries.posted" and len(page) == 60
    assert len(older) == 41 and older[0]["id"] == page[-1]["id"] - 1


def test_a_reversal_is_an_entry_posted_that_names_what_it_reverses(
    db, book, vault, receiver, ada, system
):
    subscribe(db, ada, vault, book, receiver.url, "entry.*")
    entry_id = post_fee(db, system, book)
    with db.write() as conn:
        undo = ledger.reverse(
            conn, person("mo", book, Role.MANAGER), book, entry_id, "posted twice"
        )
    assert deliver_due(db, vault) == 2
    first, second = (json.loads(r.body)["data"] for r in receiver.requests)
    assert first["reverses_entry_id"] is None
    assert second["entry_id"] == undo.entry_id and second["reverses_entry_id"] == entry_id
    assert second["postings"][0]["amount_minor"] == -12_500


def test_parties_emit_created_and_bank_change_events(db, book, vault, receiver, ada, carla):
    subscribe(db, ada, vault, book, receiver.url, "party.*", "parties.created")
    abe = person("abe", book, Role.APPROVER)
    details = BankDetails(
        BankScheme.UK_SORT_CODE, {"sort_code": "20-00-00", "account_number": "55779911"}
    )
    with db.write() as conn:
        party_id = parties.create_party(
            conn,
            carla,
            book,
            parties.NewParty(
                "P001", "Sunrise Home Care", PartyKind.ORGANISATION, (PartyRole.PROVIDER,)
            ),
        )
        first = parties.request_bank_change(
            conn, carla, vault, book, party_id, details, "letter on headed paper, phoned back"
        )
        parties.approve_bank_change(conn, abe, book, first)
        second = parties.request_bank_change(
            conn, carla, vault, book, party_id, details, "e-mail from a new address"
        )
        parties.reject_bank_change(conn, abe, book, second, "not verified")
        parties.create_parties(
            conn,
            carla,
            book,
            [
                parties.NewParty(f"C{n:03}", f"Client {n}", PartyKind.PERSON, (PartyRole.CLIENT,))
                for n in range(101)
            ],
        )
    assert deliver_due(db, vault) == 6
    got = [(r.headers["Remit-Event"], json.loads(r.body)) for r in receiver.requests]
    assert [name for name, _ in got] == [
        "party.created",
        "party.bank_change.requested",
        "party.bank_change.approved",
        "party.bank_change.requested",
        "party.bank_change.rejected",
        "parties.created",
    ]
    assert got[0][1]["data"]["ref"] == "P001"
    assert got[2][1]["data"] == {
        "change_id": first,
        "party_id": party_id,
        "bank_account": got[1][1]["data"]["bank_account"],
        "approved_by": "abe",
    }
    assert got[5][1]["data"]["parties"] == 101
    assert not any(b"55779911" in r.body for r in receiver.requests)


# ---------------------------------------------------------------- managing subscriptions


def test_only_admins_manage_webhooks(db, book, vault, receiver, ada, carla, system):
    subscription_id, _ = subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    delivery_id = int(deliveries(db)[0]["id"])
    calls = [
        lambda c: webhooks.create_subscription(
            c, carla, vault, book, receiver.url, ["entry.posted"]
        ),
        lambda c: webhooks.list_subscriptions(c, carla, book),
        lambda c: webhooks.set_active(c, carla, book, subscription_id, active=False),
        lambda c: webhooks.rotate_secret(c, carla, vault, book, subscription_id),
        lambda c: webhooks.list_deliveries(c, carla, book, subscription_id),
        lambda c: webhooks.delivery_attempts(c, carla, book, delivery_id),
        lambda c: webhooks.redeliver(c, carla, book, delivery_id),
    ]
    for call in calls:
        with pytest.raises(Forbidden, match=r"webhooks\.manage"), db.write() as conn:
            call(conn)


def test_the_secret_is_stored_encrypted_and_never_audited(db, book, vault, receiver, ada):
    subscription_id, secret = subscribe(db, ada, vault, book, receiver.url)
    with db.write() as conn:
        rotated = webhooks.rotate_secret(conn, ada, vault, book, subscription_id)
    with db.read() as conn:
        stored = bytes(
            conn.execute(
                text("SELECT secret_ciphertext FROM webhook_subscriptions WHERE id = :id"),
                {"id": subscription_id},
            ).scalar_one()
        )
        audit_text = " ".join(
            str(v) for row in conn.execute(text("SELECT * FROM audit_events")) for v in row
        )
    assert rotated != secret and rotated.startswith("whsec_")
    assert rotated.encode() not in stored and secret.encode() not in stored
    assert vault.decrypt_json(stored) == {"secret": rotated}
    assert secret not in audit_text and rotated not in audit_text
    assert "webhook.create" in audit_text and "webhook.rotate_secret" in audit_text


def test_after_a_rotation_deliveries_are_signed_with_the_new_secret(
    db, book, vault, receiver, ada, system
):
    subscription_id, old = subscribe(db, ada, vault, book, receiver.url)
    with db.write() as conn:
        new = webhooks.rotate_secret(conn, ada, vault, book, subscription_id)
    post_fee(db, system, book)
    deliver_due(db, vault)
    [got] = receiver.requests
    header, now = got.headers["Remit-Signature"], int(time.time())
    assert verify_signature(new, header, got.body, now)
    assert not verify_signature(old, header, got.body, now)


def test_a_subscription_is_checked_before_it_is_stored(db, book, vault, ada):
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        webhooks.create_subscription(
            conn,
            ada,
            vault,
            book,
            "ftp://user:pw@/x",
            ["entry.posted", "cases.*", "bogus"],
            "x" * 201,
        )
    assert [p.check for p in refused.value.problems] == [
        "url_scheme",
        "url_host",
        "url_credentials",
        "event_type",
        "event_type",
        "length",
    ]
    for url in ("https://" + "a" * 500 + ".example", "hooks.example.org/remit", " "):
        with pytest.raises(ValidationFailed), db.write() as conn:
            webhooks.create_subscription(conn, ada, vault, book, url, ["*"])
    with pytest.raises(ValidationFailed, match="at least one"), db.write() as conn:
        webhooks.create_subscription(conn, ada, vault, book, "https://h.example", [" "])
    assert count(db, webhook_subscriptions) == 0


def test_a_subscription_belongs_to_its_book(db, book, vault, receiver, ada, system):
    subscription_id, _ = subscribe(db, ada, vault, book, receiver.url)
    post_fee(db, system, book)
    delivery_id = int(deliveries(db)[0]["id"])
    with db.write() as conn:
        other = ledger.create_book(conn, system, "other", "Other council", "GBP")
    boss = person("ada", other, Role.ADMIN)
    for call in (
        lambda c: webhooks.set_active(c, boss, other, subscription_id, active=False),
        lambda c: webhooks.rotate_secret(c, boss, vault, other, subscription_id),
        lambda c: webhooks.list_deliveries(c, boss, other, subscription_id),
        lambda c: webhooks.delivery_attempts(c, boss, other, delivery_id),
        lambda c: webhooks.redeliver(c, boss, other, delivery_id),
    ):
        with pytest.raises(NotFound), db.write() as conn:
            call(conn)
    with db.read() as conn:
        assert webhooks.list_subscriptions(conn, boss, other) == []


def test_a_signature_refuses_tampering_replays_and_nonsense():
    body = b'{"type":"entry.posted"}'
    header = sign("whsec_a", body, 1_767_225_600)
    assert verify_signature("whsec_a", header, body, now=1_767_225_600 + 300)
    assert not verify_signature("whsec_a", header, body, now=1_767_225_600 + 301)
    assert not verify_signature(
        "whsec_a", header, body.replace(b"entry", b"entri"), now=1_767_225_600
    )
    assert not verify_signature(
        "whsec_a", header.replace("t=1767225600", "t=1767225601"), body, now=1_767_225_600
    )
    for nonsense in ("", "v1=abc", "t=x,v1=abc", "t=1767225600"):
        assert not verify_signature("whsec_a", nonsense, body, now=1_767_225_600)
    # a receiver accepts any v1 of the header (room for signing with two secrets)
    assert verify_signature("whsec_a", f"{header},v1=00", body, now=1_767_225_600)


def test_an_internal_address_is_refused_unless_allowed(
    db, book, vault, receiver, ada, system, monkeypatch
):
    """A subscription must not be a way into the office's own network (SSRF)."""
    subscribe(db, ada, vault, book, receiver.url)  # allowed then
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    with pytest.raises(ValidationFailed, match="internal address"), db.write() as conn:
        webhooks.create_subscription(conn, ada, vault, book, receiver.url, ["*"])
    post_fee(db, system, book)
    deliver_due(db, vault)
    [delivery] = deliveries(db)
    assert receiver.requests == [] and delivery["status"] == "pending"  # retried later
    with db.read() as conn:
        attempts = webhooks.delivery_attempts(conn, ada, book, delivery["id"])
    assert "internal address (127.0.0.1)" in attempts[0]["error"]


# Hosts that reach the loopback in disguise: percent-encoded (urllib decodes them after the
# check has failed to resolve them) or a name that resolves there.
def disguised_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.%31:{port}/hooks/remit",
        f"http://%31%32%37.0.0.1:{port}/hooks/remit",
        f"http://localhost:{port}/hooks/remit",
        f"http://[64:ff9b::7f00:1]:{port}/hooks/remit",  # NAT64 of 127.0.0.1
        f"http://[2002:7f00:1::]:{port}/hooks/remit",  # 6to4 of 127.0.0.1
    ]


def test_a_disguised_internal_address_is_refused_when_subscribing(
    db, book, vault, receiver, ada, monkeypatch
):
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    for url in disguised_urls(receiver.port):
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            webhooks.create_subscription(conn, ada, vault, book, url, ["*"])
        [problem] = refused.value.problems
        assert problem.field == "url" and problem.check in ("url_host", "url_address")
    assert count(db, webhook_subscriptions) == 0
    # a percent-encoded host is refused even where internal receivers are allowed
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    with pytest.raises(ValidationFailed, match="percent"), db.write() as conn:
        webhooks.create_subscription(conn, ada, vault, book, disguised_urls(1)[0], ["*"])


def test_a_disguised_internal_address_is_refused_at_delivery(
    db, book, vault, receiver, ada, system, monkeypatch
):
    """Subscriptions stored before the check at creation existed are refused when sent."""
    for url in disguised_urls(receiver.port):
        subscription_id, _ = subscribe(db, ada, vault, book, receiver.url)
        with db.write() as conn:
            conn.execute(
                webhook_subscriptions.update()
                .where(webhook_subscriptions.c.id == subscription_id)
                .values(url=url)
            )
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    post_fee(db, system, book)
    urls = disguised_urls(receiver.port)
    assert deliver_due(db, vault) == len(urls)
    assert receiver.requests == []
    errors = sorted(str(d["last_error"]) for d in deliveries(db))
    assert [e.split(":")[0] for e in errors] == ["refused"] * len(urls)
    assert any("percent" in e for e in errors) and any("(127.0.0.1)" in e for e in errors)


def test_a_delivery_goes_to_the_address_that_was_checked(
    db, book, vault, receiver, ada, system, monkeypatch
):
    """One lookup: the connection is made to the checked address, so a name that answers
    a public address to the check and the loopback a moment later (DNS rebinding) reaches
    only the public one; the receiver sees its own name in the Host header."""
    public = "93.184.215.14"  # stands for the receiver's public address: routed to it below
    real_lookup, real_connect = socket.getaddrinfo, socket.create_connection
    lookups: list[str] = []
    dialled: list[str] = []

    def rebinding(host, *args, **kwargs):
        if host != "hooks.receiver.test":
            return real_lookup(host, *args, **kwargs)
        lookups.append(host)
        return real_lookup(public if len(lookups) == 1 else "127.0.0.1", *args, **kwargs)

    def route(address, *args, **kwargs):
        dialled.append(address[0])
        to = "127.0.0.1" if address[0] == public else address[0]
        return real_connect((to, address[1]), *args, **kwargs)

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", route)
    subscribe(db, ada, vault, book, f"http://hooks.receiver.test:{receiver.port}/hooks/remit")
    lookups.clear()
    post_fee(db, system, book)
    deliver_due(db, vault)
    assert lookups == ["hooks.receiver.test"] and dialled == [public]
    [got] = receiver.requests
    assert got.headers["Host"] == f"hooks.receiver.test:{receiver.port}"
    assert got.path == "/hooks/remit"
    assert deliveries(db)[0]["status"] == "succeeded"


def test_a_name_that_does_not_resolve_is_not_sent_to(db, book, vault, ada, system, monkeypatch):
    real = socket.getaddrinfo

    def nowhere(host, *args, **kwargs):
        if host == "gone.receiver.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", nowhere)
    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    subscribe(db, ada, vault, book, "http://gone.receiver.test/hooks")
    post_fee(db, system, book)
    deliver_due(db, vault)
    [d] = deliveries(db)
    assert d["status"] == "pending" and "does not resolve" in str(d["last_error"])


def test_the_admin_page_refuses_a_disguised_internal_address(demo_db, monkeypatch):
    from fastapi.testclient import TestClient  # noqa: PLC0415 - only this test uses the web

    from remit.testkit.web import sign_in  # noqa: PLC0415
    from remit.web.app import create_app  # noqa: PLC0415

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    client = TestClient(create_app(demo_db))
    csrf = sign_in(client, "demo-admin@riverside")
    for url in disguised_urls(8199):
        page = client.post(
            "/b/riverside/admin/webhooks",
            data={"url": url, "event_type": ["*"], "csrf_token": csrf},
        )
        assert page.status_code == 422, url
        assert "percent-encoded" in page.text or "internal address" in page.text
    assert count(demo_db, webhook_subscriptions) == 0


def self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    """A certificate for ``name`` that signs itself, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "receiver.pem", folder / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_goes_to_the_checked_address_and_verifies_the_name(
    db, book, vault, ada, system, monkeypatch, tmp_path
):
    """Connected to the checked IP, the certificate is still checked for the URL's name
    (sent as SNI): a certificate for another name is refused."""
    cert_path, key_path = self_signed("hooks.receiver.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # the system's authorities, for once
    real_lookup = socket.getaddrinfo

    def local(host, *args, **kwargs):
        if str(host).endswith(".receiver.test"):
            return real_lookup("127.0.0.1", *args, **kwargs)
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    with running_receiver(tls) as secure:
        for name in ("hooks", "other"):
            subscribe(
                db, ada, vault, book, f"https://{name}.receiver.test:{secure.port}/hooks/remit"
            )
        post_fee(db, system, book)
        assert deliver_due(db, vault) == 2
    [got] = secure.requests
    assert got.headers["Host"] == f"hooks.receiver.test:{secure.port}"
    good, bad = deliveries(db)
    assert good["status"] == "succeeded"
    assert bad["status"] == "pending" and "certificate" in str(bad["last_error"]).lower()


def test_a_delivery_tries_each_checked_address_in_turn(
    db, book, vault, receiver, ada, system, monkeypatch
):
    """A name with two public addresses, the first not answering: the second is dialled,
    as a plain connection would, and nothing else is looked up again."""
    dead, alive = "93.184.215.15", "93.184.215.14"
    real_lookup, real_connect = socket.getaddrinfo, socket.create_connection
    dialled: list[str] = []

    def two(host, port, *args, **kwargs):
        if host != "two.receiver.test":
            return real_lookup(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in (dead, alive)]

    def route(address, *args, **kwargs):
        dialled.append(address[0])
        if address[0] == dead:
            raise ConnectionRefusedError(111, "Connection refused")
        to = "127.0.0.1" if address[0] == alive else address[0]
        return real_connect((to, address[1]), *args, **kwargs)

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    monkeypatch.setattr(socket, "getaddrinfo", two)
    monkeypatch.setattr(socket, "create_connection", route)
    subscribe(db, ada, vault, book, f"http://two.receiver.test:{receiver.port}/hooks/remit")
    post_fee(db, system, book)
    deliver_due(db, vault)
    assert dialled == [dead, alive]
    assert deliveries(db)[0]["status"] == "succeeded" and len(receiver.requests) == 1


def test_through_a_proxy_the_name_is_left_for_the_proxy_to_resolve(
    db, book, vault, receiver, ada, system, monkeypatch
):
    """Where only the egress proxy can resolve names, a delivery still goes: through the
    proxy (here the receiver itself plays it), with no local look-up of the name."""
    real_lookup = socket.getaddrinfo
    looked_up: list[str] = []

    def local(host, *args, **kwargs):
        looked_up.append(host)
        if host == "only.proxy.knows":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.delenv(ALLOW_PRIVATE_ENV)
    monkeypatch.setattr(socket, "getaddrinfo", local)
    subscribe(db, ada, vault, book, "http://only.proxy.knows/hooks/remit")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{receiver.port}")
    looked_up.clear()
    post_fee(db, system, book)
    deliver_due(db, vault)
    assert "only.proxy.knows" not in looked_up
    [got] = receiver.requests
    assert got.path == "http://only.proxy.knows/hooks/remit"  # the proxy's form of a request
    assert deliveries(db)[0]["status"] == "succeeded"
