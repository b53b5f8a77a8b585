"""Pure rules of webhooks: the signature, its check, the retry schedule, what a URL may be.

A delivery is a POST of the event's canonical JSON, signed Stripe-style: the header
``Remit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, keyed with
the subscription's secret. A receiver recomputes the HMAC over the raw bytes it received
(before parsing the JSON), compares in constant time, and refuses a timestamp older than a
few minutes, so that a captured request cannot be replayed later. ``verify_signature`` is
that check, written to be copied into a receiver.

>>> body = b'{"type":"entry.posted"}'
>>> header = sign("whsec_test", body, timestamp=1767225600)
>>> header
't=1767225600,v1=b4ed62b2d234cffcf3f35f0cfc517e91934402e8f37b1d1854036c8fdcf94cdd'
>>> verify_signature("whsec_test", header, body, now=1767225660)
True
>>> verify_signature("whsec_test", header, body + b" ", now=1767225660)
False
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

from remit.errors import Problem

SIGNATURE_HEADER = "Remit-Signature"
EVENT_HEADER = "Remit-Event"
EVENT_ID_HEADER = "Remit-Event-Id"
DELIVERY_HEADER = "Remit-Delivery"
USER_AGENT = "remit-webhooks"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix that marks a secret, not a secret
MAX_URL_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 200
# Seconds to wait after each failed attempt: the first attempt is made at once, then one
# retry after each delay. After the last retry fails the delivery is ``failed`` for good.
BACKOFF_SECONDS = (30, 120, 600, 3_600, 21_600, 86_400)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# The lifecycle of a delivery: an attempt ends pending (a retry is due later), succeeded or
# failed; a person may send a failed one again (``redeliver``).
TRANSITIONS: Mapping[DeliveryStatus, tuple[DeliveryStatus, ...]] = MappingProxyType(
    {
        DeliveryStatus.PENDING: (
            DeliveryStatus.PENDING,
            DeliveryStatus.SUCCEEDED,
            DeliveryStatus.FAILED,
        ),
        DeliveryStatus.SUCCEEDED: (),
        DeliveryStatus.FAILED: (DeliveryStatus.PENDING,),
    }
)


# ---------------------------------------------------------------- signing


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes, url-safe.

    >>> s = new_secret()
    >>> s.startswith("whsec_"), len(s), s == new_secret()
    (True, 49, False)
    """
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under the secret.

    >>> signature("whsec_test", b"{}", 1767225600)[:16]
    '4a942ef9477fb7b1'
    """
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The value of the ``Remit-Signature`` header: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={signature(secret, body, timestamp)}"


def delivery_headers(
    secret: str, body: bytes, timestamp: int, event_type: str, event_id: int, delivery_id: int
) -> dict[str, str]:
    """Every header of a delivery's POST.

    >>> sorted(delivery_headers("whsec_test", b"{}", 1767225600, "case.created", 7, 9))
    ['Content-Type', 'Remit-Delivery', 'Remit-Event', 'Remit-Event-Id', 'Remit-Signature', \
'User-Agent']
    """
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        EVENT_ID_HEADER: str(event_id),
        DELIVERY_HEADER: str(delivery_id),
        SIGNATURE_HEADER: sign(secret, body, timestamp),
    }


def parse_signature_header(header: str) -> tuple[int | None, tuple[str, ...]]:
    """The timestamp and the ``v1`` signatures of a header; (None, ()) when malformed.

    >>> parse_signature_header("t=12,v1=ab,v1=cd,v0=ef")
    (12, ('ab', 'cd'))
    >>> parse_signature_header("nonsense")
    (None, ())
    """
    timestamp: int | None = None
    found: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME and value:
            found.append(value)
    return (timestamp, tuple(found)) if timestamp is not None else (None, ())


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header`` is a valid signature of the raw ``body`` made within the tolerance.

    ``now`` is the receiver's clock in unix seconds (``int(time.time())``). Copy this
    function into a receiver: it needs only ``hmac`` and ``hashlib``.

    >>> header = sign("whsec_test", b"{}", 1_000)
    >>> verify_signature("whsec_test", header, b"{}", now=1_299)
    True
    >>> verify_signature("whsec_test", header, b"{}", now=1_301)  # too old: a replay?
    False
    >>> verify_signature("whsec_other", header, b"{}", now=1_000)
    False
    """
    timestamp, candidates = parse_signature_header(header)
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# ---------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a delivery becomes after an attempt."""

    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime


def is_success(status_code: int | None) -> bool:
    """Only a 2xx answer delivers; a redirect is not followed and counts as a failure.

    >>> is_success(204), is_success(302), is_success(None)
    (True, False, False)
    """
    return status_code is not None and 200 <= status_code < 300


def retry_delay_seconds(attempts: int) -> int | None:
    """Seconds to wait after the ``attempts``-th failed attempt; None when it was the last.

    >>> [retry_delay_seconds(n) for n in range(1, MAX_ATTEMPTS + 1)]
    [30, 120, 600, 3600, 21600, 86400, None]
    """
    return BACKOFF_SECONDS[attempts - 1] if 1 <= attempts <= len(BACKOFF_SECONDS) else None


def after_attempt(attempts_before: int, status_code: int | None, at: datetime) -> Outcome:
    """The delivery's state after an attempt made ``at`` that answered ``status_code``.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> after_attempt(0, 500, t)
    Outcome(status=<DeliveryStatus.PENDING: 'pending'>, attempts=1, \
next_attempt_at=datetime.datetime(2026, 1, 1, 0, 0, 30, tzinfo=datetime.timezone.utc))
    >>> after_attempt(1, 200, t).status, after_attempt(6, None, t).status
    (<DeliveryStatus.SUCCEEDED: 'succeeded'>, <DeliveryStatus.FAILED: 'failed'>)
    """
    attempts = attempts_before + 1
    if is_success(status_code):
        return Outcome(DeliveryStatus.SUCCEEDED, attempts, at)
    delay = retry_delay_seconds(attempts)
    if delay is None:
        return Outcome(DeliveryStatus.FAILED, attempts, at)
    return Outcome(DeliveryStatus.PENDING, attempts, at + timedelta(seconds=delay))


def url_problems(url: str) -> list[Problem]:
    """Everything wrong with a receiver's URL: http or https, a plain host, no credentials.

    >>> url_problems("https://hooks.example.org/remit")
    []
    >>> [p.check for p in url_problems("ftp://user:pw@/x")]
    ['url_scheme', 'url_host', 'url_credentials']
    >>> [p.message for p in url_problems("http://127.0.0.%31/")]
    ['write the host plainly, not percent-encoded']
    """
    if not url.strip():
        return [Problem("url", "the receiver's URL is required", "required")]
    problems = []
    if len(url) > MAX_URL_LENGTH:
        problems.append(Problem("url", f"at most {MAX_URL_LENGTH} characters", "length"))
    if url != url.strip() or any(c.isspace() or ord(c) < 32 for c in url):
        problems.append(Problem("url", "no spaces or control characters", "url_characters"))
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as error:
        return [*problems, Problem("url", f"not a URL: {error}", "url")]
    if parts.scheme not in ("http", "https"):
        problems.append(
            Problem("url", "the URL must start with https:// (or http://)", "url_scheme")
        )
    if not host:
        problems.append(Problem("url", "the URL needs a host", "url_host"))
    elif "%" in host:
        problems.append(Problem("url", "write the host plainly, not percent-encoded", "url_host"))
    if parts.username is not None or parts.password is not None:
        problems.append(
            Problem(
                "url",
                "no user name or password in the URL; receivers check the signature instead",
                "url_credentials",
            )
        )
    return problems


def event_type_problems(patterns: Iterable[str], known: Iterable[str]) -> list[Problem]:
    """Everything wrong with the event types a subscription asks for.

    A pattern is a known type, ``*`` (every event) or ``prefix.*`` naming at least one type.

    >>> event_type_problems(["case.*", "entry.posted"], ["case.created", "entry.posted"])
    []
    >>> [p.message for p in event_type_problems(["cases.*", "bogus"], ["case.created"])]
    ["no event type matches 'cases.*'", "unknown event type 'bogus'"]
    """
    known_types = tuple(known)
    wanted = list(patterns)
    if not wanted:
        return [Problem("event_types", "choose at least one event type (or *)", "required")]
    problems = []
    for pattern in wanted:
        if pattern == "*" or pattern in known_types:
            continue
        if pattern.endswith(".*") and len(pattern) > 2:
            if not any(t.startswith(pattern[:-1]) for t in known_types):
                problems.append(
                    Problem("event_types", f"no event type matches {pattern!r}", "event_type")
                )
            continue
        problems.append(Problem("event_types", f"unknown event type {pattern!r}", "event_type"))
    return problems
