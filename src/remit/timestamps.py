"""The one text form of a moment in the store: fixed-width UTC ISO 8601 with microseconds,
so that text order is time order (jobs and webhooks compare stored times as text).

>>> utc_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
'2026-01-02T03:04:05.000000Z'
>>> parse_utc_text("2026-01-02T03:04:05.000000Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
True
"""

from __future__ import annotations

from datetime import UTC, datetime

STORED_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a stored time must be timezone-aware")
    return moment.astimezone(UTC).strftime(STORED_FORMAT)


def utc_now_text() -> str:
    return utc_text(datetime.now(UTC))


def parse_utc_text(text: str) -> datetime:
    return datetime.strptime(text, STORED_FORMAT).replace(tzinfo=UTC)
