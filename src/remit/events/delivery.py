"""Sending webhook deliveries: claim what is due, POST it, record what happened.

``deliver_due`` is what a worker calls when it is idle. It works in three steps, so that no
database transaction stays open while a receiver takes its time:

1. claim: in one short write transaction, take the due pending deliveries (on PostgreSQL
   ``FOR UPDATE SKIP LOCKED``, so several workers share the work; on SQLite the write
   transaction is ``BEGIN IMMEDIATE``) and push their ``next_attempt_at`` forward as a
   lease, so that no other worker takes them while they are being sent;
2. send: POST each one, signed (see ``rules``), with the standard library's ``urllib``;
3. record: in another short transaction per delivery, the attempt (status code or error,
   duration) and the outcome: 2xx is ``succeeded``; anything else (an error status, a
   redirect, a refused connection, no answer within the timeout) is retried on the backoff
   schedule, and after the last attempt the delivery is ``failed``.

A worker that dies between claim and record leaves its deliveries leased: they are due
again once the lease has run out, and are sent again. Delivery is therefore *at least once*:
receivers recognise a repeat by its ``Remit-Event-Id``, and do not rely on the order of
arrival. A receiver's failure never raises; it is logged and kept in the delivery log.

Requests honour the usual ``HTTPS_PROXY``/``NO_PROXY`` variables and verify certificates
against the system's authorities. An event is never sent to a host that is or resolves to an
internal address (loopback, private, link-local: ``refused_address``) unless
``REMIT_WEBHOOKS_ALLOW_PRIVATE=1``; the check runs before each attempt, and the address is
resolved again by the request itself, so an egress proxy is still the stronger guard
against a host that changes its DNS answer in between.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import math
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, insert, select, update

from remit.db import Database, is_postgres
from remit.events.rules import (
    DeliveryStatus,
    Outcome,
    after_attempt,
    delivery_headers,
)
from remit.events.store import events, webhook_attempts, webhook_deliveries, webhook_subscriptions
from remit.secrets import SecretUnreadable, Vault
from remit.timestamps import utc_text

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
DEFAULT_TIMEOUT_SECONDS = 10.0
LEASE_MARGIN_SECONDS = 60
MAX_ANSWER_BYTES = 1_024  # of a receiver's answer: read (to finish the exchange), not kept
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken by this worker, with what it needs to be sent."""

    delivery_id: int
    subscription_id: int
    event_id: int
    event_type: str
    payload: str
    url: str
    secret_ciphertext: bytes
    attempts: int
    lease: str  # the next_attempt_at written by the claim; the record checks it is ours


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver did: a status code, or an error when there was no answer."""

    status_code: int | None
    error: str | None
    duration_ms: int


def deliver_due(
    database: Database,
    vault: Vault,
    limit: int = DEFAULT_LIMIT,
    now: datetime | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> int:
    """Send up to ``limit`` due deliveries; returns how many were attempted.

    ``now`` replaces the clock that decides what is due and when retries fall (tests drive
    time with it); the signature's timestamp is always the real time of sending, as the
    receiver checks it against its own clock.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else _utc_now
    # Long enough for the whole batch to time out, one after the other.
    lease_seconds = math.ceil(limit * timeout_seconds) + LEASE_MARGIN_SECONDS
    claimed = claim_due(database, limit, clock(), lease_seconds)
    for item in claimed:
        started = clock()
        answer = attempt(item, vault, timeout_seconds)
        record_attempt(database, item, answer, started, clock())
    return len(claimed)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def claim_due(database: Database, limit: int, now: datetime, lease_seconds: int) -> list[Claimed]:
    """Take the due deliveries of active subscriptions and lease them to this worker."""
    wd, ws, ev = webhook_deliveries.c, webhook_subscriptions.c, events.c
    lease = utc_text(now + timedelta(seconds=lease_seconds))
    query = (
        select(
            wd.id,
            wd.subscription_id,
            wd.event_id,
            wd.attempts,
            ev.event_type,
            ev.payload,
            ws.url,
            ws.secret_ciphertext,
        )
        .join(webhook_subscriptions, ws.id == wd.subscription_id)
        .join(events, ev.id == wd.event_id)
        .where(
            and_(
                wd.status == DeliveryStatus.PENDING.value,
                wd.next_attempt_at <= utc_text(now),
                ws.active.is_(True),
            )
        )
        .order_by(wd.next_attempt_at, wd.id)
        .limit(limit)
    )
    # Workers call this whenever they are idle: look first, so that an idle worker does not
    # take SQLite's write lock (or PostgreSQL's row locks) for nothing.
    with database.read() as conn:
        if conn.execute(query.limit(1)).first() is None:
            return []
    with database.write() as conn:
        if is_postgres(conn):
            query = query.with_for_update(of=webhook_deliveries, skip_locked=True)
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(webhook_deliveries)
                .where(wd.id.in_([r.id for r in rows]))
                .values(next_attempt_at=lease, updated_at=utc_text(now))
            )
    return [
        Claimed(
            int(r.id),
            int(r.subscription_id),
            int(r.event_id),
            r.event_type,
            r.payload,
            r.url,
            bytes(r.secret_ciphertext),
            int(r.attempts),
            lease,
        )
        for r in rows
    ]


def attempt(
    item: Claimed, vault: Vault, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> Answer:
    """Sign and POST one claimed delivery (no database is touched)."""
    try:
        secret = vault.decrypt_json(item.secret_ciphertext)["secret"]
    except (SecretUnreadable, KeyError):
        logger.error(
            "webhook subscription %s: cannot decrypt its signing secret (was the "
            "key changed?); delivery %s not sent",
            item.subscription_id,
            item.delivery_id,
        )
        return Answer(None, "cannot decrypt the signing secret; rotate it", 0)
    body = item.payload.encode("utf-8")
    headers = delivery_headers(
        secret, body, int(time.time()), item.event_type, item.event_id, item.delivery_id
    )
    return post_json(item.url, body, headers, timeout_seconds)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to send the event (and its signature) on to."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


ALLOW_PRIVATE_ENV = "REMIT_WEBHOOKS_ALLOW_PRIVATE"


def refused_address(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why an event may not go to ``url``: its host resolves to a loopback, private,
    link-local or otherwise internal address (a subscription must not be a way to reach the
    office's own network), unless ``REMIT_WEBHOOKS_ALLOW_PRIVATE`` is set. None if it may.

    >>> refused_address("http://127.0.0.1:9/hook", {})  # doctest: +ELLIPSIS
    'refused: 127.0.0.1 is ... internal address (127.0.0.1); ...'
    >>> refused_address("http://127.0.0.1:9/hook", {ALLOW_PRIVATE_ENV: "1"}) is None
    True
    """
    env = os.environ if env is None else env
    if env.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    host = urlsplit(url).hostname or ""
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return None  # no address: the attempt itself will say so
    for text in sorted(found):
        address = ipaddress.ip_address(text.split("%")[0])
        if not address.is_global or address.is_multicast:
            return (
                f"refused: {host} is (or resolves to) an internal address ({text}); set "
                f"{ALLOW_PRIVATE_ENV}=1 to allow receivers on the internal network"
            )
    return None


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float) -> Answer:
    """POST ``body``; the answer's status code, or the error when there was no answer."""
    refused = refused_address(url)
    if refused is not None:
        return Answer(None, refused, 0)
    opener = urllib.request.build_opener(_NoRedirects())
    # The scheme is http or https: subscriptions are checked by rules.url_problems.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers=dict(headers), method="POST"
    )
    started = time.monotonic()
    code: int | None
    try:
        with opener.open(request, timeout=timeout_seconds) as response:
            response.read(MAX_ANSWER_BYTES)
            code, error = int(response.status), None
    except urllib.error.HTTPError as failure:
        code, error = failure.code, _http_error(failure)
    except (OSError, http.client.HTTPException, ValueError) as failure:
        code, error = None, _no_answer(failure, timeout_seconds)
    return Answer(code, error, round((time.monotonic() - started) * 1000))


def _http_error(failure: urllib.error.HTTPError) -> str:
    try:
        answer = failure.read(MAX_ANSWER_BYTES).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        answer = ""
    finally:
        failure.close()
    text = f"HTTP {failure.code} {failure.reason}"
    return (f"{text}: {answer}" if answer else text)[:MAX_ERROR_CHARS]


def _no_answer(failure: Exception, timeout_seconds: float) -> str:
    reason: object = failure.reason if isinstance(failure, urllib.error.URLError) else failure
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_seconds:g} s"
    return f"{type(reason).__name__}: {reason}"[:MAX_ERROR_CHARS]


def record_attempt(
    database: Database, item: Claimed, answer: Answer, started: datetime, finished: datetime
) -> Outcome:
    """Keep the attempt in the log and move the delivery on (see ``rules.after_attempt``)."""
    outcome = after_attempt(item.attempts, answer.status_code, finished)
    wd = webhook_deliveries.c
    with database.write() as conn:
        conn.execute(
            insert(webhook_attempts).values(
                delivery_id=item.delivery_id,
                at=utc_text(started),
                status_code=answer.status_code,
                error=answer.error,
                duration_ms=answer.duration_ms,
            )
        )
        moved = conn.execute(
            update(webhook_deliveries)
            .where(
                and_(
                    wd.id == item.delivery_id,
                    wd.status == DeliveryStatus.PENDING.value,
                    wd.next_attempt_at == item.lease,
                )
            )
            .values(
                status=outcome.status.value,
                attempts=outcome.attempts,
                next_attempt_at=utc_text(outcome.next_attempt_at),
                last_status_code=answer.status_code,
                last_error=answer.error,
                updated_at=utc_text(finished),
            )
        )
    if moved.rowcount == 0:
        logger.warning(
            "webhook delivery %s: the lease ran out before the attempt ended; "
            "another worker may have sent it too",
            item.delivery_id,
        )
    _log(item, answer, outcome)
    return outcome


def _log(item: Claimed, answer: Answer, outcome: Outcome) -> None:
    if outcome.status is DeliveryStatus.SUCCEEDED:
        logger.info(
            "webhook delivery %s (%s) delivered to %s in %d ms",
            item.delivery_id,
            item.event_type,
            urlsplit(item.url).hostname,
            answer.duration_ms,
        )
        return
    then = (
        "given up"
        if outcome.status is DeliveryStatus.FAILED
        else f"next attempt at {utc_text(outcome.next_attempt_at)}"
    )
    logger.warning(
        "webhook delivery %s (%s) to %s failed, attempt %d: %s; %s",
        item.delivery_id,
        item.event_type,
        urlsplit(item.url).hostname,
        outcome.attempts,
        answer.error or f"HTTP {answer.status_code}",
        then,
    )
