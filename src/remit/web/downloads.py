"""Files the app hands out: one way to name a download (RFC 6266 ``Content-Disposition``).

A file's name may come from outside (a party's reference, an uploaded file's name) and
hold a quote, a line break or a letter outside Latin-1, any of which breaks a hand-built
header. ``content_disposition`` gives an ASCII ``filename`` with every unsafe character
replaced, for old clients, and the exact name as ``filename*`` (UTF-8, percent-encoded,
RFC 5987), which every current browser prefers.

>>> print(content_disposition('O\\'Brien "Ltd".csv'))
attachment; filename="O_Brien _Ltd_.csv"; filename*=UTF-8''O%27Brien%20%22Ltd%22.csv
>>> print(content_disposition("Zoë\\r\\n.pdf"))
attachment; filename="Zo___.pdf"; filename*=UTF-8''Zo%C3%AB__.pdf
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from fastapi.responses import Response

from remit.documents import service as documents

_ASCII_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+()[] ,")
MAX_NAME = 150  # characters of the name kept; the extension is kept whole


def safe_filename(name: str) -> str:
    """``name`` with control characters as ``_`` and at most ``MAX_NAME`` characters, the
    extension kept; ``file`` if nothing is left.

    >>> safe_filename("a\\tb.csv"), safe_filename("")
    ('a_b.csv', 'file')
    """
    cleaned = "".join(
        "_" if unicodedata.category(ch).startswith("C") or ch in "/\\" else ch for ch in name
    ).strip()
    if len(cleaned) > MAX_NAME:
        _stem, dot, extension = cleaned.rpartition(".")
        kept = extension if dot and len(extension) <= 8 else ""
        cleaned = cleaned[: MAX_NAME - len(kept) - 1] + ("." + kept if kept else "")
    return cleaned or "file"


def content_disposition(filename: str) -> str:
    """The ``Content-Disposition`` header value of an attachment named ``filename``."""
    name = safe_filename(filename)
    fallback = "".join(ch if ch in _ASCII_SAFE else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download(content: bytes | str, media_type: str, filename: str) -> Response:
    """An attachment the browser saves as ``filename`` and never sniffs."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


def file_response(found: documents.Download) -> Response:
    """A stored document, as it was uploaded."""
    return download(found.content, found.media_type, found.filename)
