"""Sending webhook deliveries: claim what is due, POST it, record what happened.

``deliver_due`` is what a worker calls when it is idle. It works in three steps, so that no
database transaction stays open while a receiver takes its time:

1. claim: in one short write transaction, take the due pending deliveries (on PostgreSQL
   ``FOR UPDATE SKIP LOCKED``, so several workers share the work; on SQLite the write
   transaction is ``BEGIN IMMEDIATE``) and push their ``next_attempt_at`` forward as a
   lease, so that no other worker takes them while they are being sent;
2. send: POST each one, signed (see ``rules``), with the standard library's
   ``http.client``, to the address that was checked (see below);
3. record: in another short transaction per delivery, the attempt (status code or error,
   duration) and the outcome: 2xx is ``succeeded``; anything else (an error status, a
   redirect, a refused connection, no answer within the timeout) is retried on the backoff
   schedule, and after the last attempt the delivery is ``failed``.

A worker that dies between claim and record leaves its deliveries leased: they are due
again once the lease has run out, and are sent again. Delivery is therefore *at least once*:
receivers recognise a repeat by its ``Remit-Event-Id``, and do not rely on the order of
arrival. A receiver's failure never raises; it is logged and kept in the delivery log.

An event is never sent to a host that is or resolves to an internal address (loopback,
private, link-local: ``checked_target``) unless ``REMIT_WEBHOOKS_ALLOW_PRIVATE=1``, nor to a
host written with ``%`` escapes or one that does not resolve. The host is resolved once, every
address it resolves to is checked, and the connection is made to a checked address (the Host
header and, for https, the certificate check and SNI keep the URL's name), so a DNS answer
that changes between the check and the request (rebinding) cannot lead elsewhere.
Certificates are verified against the system's authorities. Where ``HTTPS_PROXY`` /
``HTTP_PROXY`` apply (``NO_PROXY`` honoured), the request goes through the proxy, which
resolves the name itself: the proxy is then the guard of the network's edge.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import math
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit

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


class AddressRefused(ValueError):
    """An event may not go to this URL's host (the message says why)."""


class AddressUnresolved(AddressRefused):
    """The URL's host has no address (now: a subscription may be made before its DNS)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a delivery goes: the URL's parts and the checked addresses to connect to, in
    the resolver's order (tried in turn, as a plain connection would)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def private_allowed(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``REMIT_WEBHOOKS_ALLOW_PRIVATE`` lets receivers be on internal addresses."""
    env = os.environ if env is None else env
    return env.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def is_internal(text: str) -> bool:
    """Whether an address is not a public unicast one (loopback, private, link-local,
    shared, reserved, multicast; an IPv4 address carried in IPv6, mapped, NAT64, 6to4 or
    Teredo, counts as itself).

    >>> [is_internal(a) for a in ("127.0.0.1", "10.1.2.3", "::ffff:127.0.0.1", "fe80::1%eth0")]
    [True, True, True, True]
    >>> [is_internal(a) for a in ("64:ff9b::7f00:1", "2002:7f00:1::", "64:ff9b::5db8:d70e")]
    [True, True, False]
    >>> is_internal("93.184.215.14"), is_internal("2a00:1450:4009:81f::200e")
    (False, False)
    """
    address = ipaddress.ip_address(text.split("%", maxsplit=1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_internal(str(embedded)):
            return True
    return not address.is_global or address.is_multicast


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: IPv4 in the last 32 bits


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches: mapped (``::ffff:a.b.c.d``),
    NAT64 (``64:ff9b::/96``), 6to4 (``2002::/16``) or Teredo's client."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address.teredo[1] if address.teredo is not None else None


def checked_target(url: str, env: Mapping[str, str] | None = None) -> Target:
    """Resolve the URL's host once and check every address it has; raise
    ``AddressRefused`` (or ``AddressUnresolved``) when an event may not go there.

    >>> checked_target("http://127.0.0.1:9/hook", {ALLOW_PRIVATE_ENV: "1"}).addresses
    ('127.0.0.1',)
    """
    parts, host, port = _host_of(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise AddressUnresolved(f"refused: {host} does not resolve ({error})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise AddressUnresolved(f"refused: {host} does not resolve")
    if not private_allowed(env):
        for text in addresses:
            if is_internal(text):
                raise AddressRefused(
                    f"refused: {host} is (or resolves to) an internal address ({text}); set "
                    f"{ALLOW_PRIVATE_ENV}=1 to allow receivers on the internal network"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(addresses))


def _host_of(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, host and port; a percent-encoded host is refused (urllib would
    decode it after the check looked at the undecoded text)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if "%" in host:
        raise AddressRefused(f"refused: the host {host!r} is percent-encoded; write it plainly")
    return parts, host, parts.port or (443 if parts.scheme == "https" else 80)


def checked_for_proxy(url: str, env: Mapping[str, str] | None = None) -> None:
    """The checks that need no look-up, for a delivery an environment proxy makes (the
    proxy resolves the name itself, and must refuse internal addresses on its side): no
    percent-encoded host, and no internal address written as the host.

    >>> checked_for_proxy("https://hooks.example.org/in", {})
    >>> checked_for_proxy("http://[::ffff:127.0.0.1]/in", {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    remit.events.delivery.AddressRefused: refused: ::ffff:127.0.0.1 is an internal address...
    """
    _, host, _ = _host_of(url)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if is_internal(str(literal)) and not private_allowed(env):
        raise AddressRefused(
            f"refused: {host} is an internal address; set {ALLOW_PRIVATE_ENV}=1 to allow "
            "receivers on the internal network"
        )


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of the checked addresses that answers."""
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            failure = error
    assert failure is not None  # checked_target never gives an empty list
    raise failure


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked address, not to a fresh lookup of the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.addresses = target.addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address; the certificate is verified for the URL's host name
    (and that name is sent as SNI)."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.addresses = target.addresses

    def connect(self) -> None:
        sock = _connect(self.addresses, self.port, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _proxied(url: str) -> bool:
    """Whether an environment proxy applies to this URL (then it makes the connection, and
    resolves the name: where only the proxy can, a local look-up would fail every time)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or "")


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float) -> Answer:
    """POST ``body``; the answer's status code, or the error when there was no answer."""
    proxied = _proxied(url)
    try:
        if proxied:
            checked_for_proxy(url)
        else:
            target = checked_target(url)
    except AddressRefused as refused:
        return Answer(None, str(refused), 0)
    started = time.monotonic()
    code: int | None
    try:
        if proxied:
            code, error = _post_via_proxy(url, body, headers, timeout_seconds)
        else:
            code, error = _post_to(target, body, headers, timeout_seconds)
    except (OSError, http.client.HTTPException, ValueError) as failure:
        code, error = None, _no_answer(failure, timeout_seconds)
    return Answer(code, error, round((time.monotonic() - started) * 1000))


def _post_to(
    target: Target, body: bytes, headers: Mapping[str, str], timeout_seconds: float
) -> tuple[int, str | None]:
    """POST to the checked address; a redirect is an answer, never followed."""
    kind = _CheckedHTTPSConnection if target.scheme == "https" else _CheckedHTTPConnection
    connection = kind(target, timeout_seconds)
    try:
        connection.request("POST", target.path, body=body, headers=dict(headers))
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER_BYTES)
    finally:
        connection.close()
    code = int(response.status)
    return code, None if 200 <= code < 300 else _status_error(code, response.reason, answer)


def _post_via_proxy(
    url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
) -> tuple[int, str | None]:
    opener = urllib.request.build_opener(_NoRedirects())
    # The scheme is http or https: subscriptions are checked by rules.url_problems.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers=dict(headers), method="POST"
    )
    try:
        with opener.open(request, timeout=timeout_seconds) as response:
            response.read(MAX_ANSWER_BYTES)
            return int(response.status), None
    except urllib.error.HTTPError as failure:
        return failure.code, _http_error(failure)


def _status_error(code: int, reason: str, answer: bytes) -> str:
    text = f"HTTP {code} {reason}"
    said = answer.decode("utf-8", "replace").strip()
    return (f"{text}: {said}" if said else text)[:MAX_ERROR_CHARS]


def _http_error(failure: urllib.error.HTTPError) -> str:
    try:
        answer = failure.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException):
        answer = b""
    finally:
        failure.close()
    return _status_error(failure.code, str(failure.reason), answer)


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
