"""What a file is, judged by its content, and whether remit accepts it.

The name's extension must agree with the content: a ``.pdf`` that is really an executable
is refused, and so is anything over the size limit.

>>> sniff("scan.pdf", b"%PDF-1.7 ...")
'application/pdf'
>>> [p.check for p in upload_problems("tool.pdf", b"MZ\\x90\\x00")]
['file_type']
>>> [p.check for p in upload_problems("notes.txt", b"")]
['file_empty']
"""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import PurePath

from remit.errors import Problem
from remit.text import NAME_MAX, text_problem

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# extension -> media type remit stores; text types (and JSON) are checked for UTF-8 with no NUL.
ACCEPTED = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".json": "application/json",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_xlsx(content: bytes) -> bool:
    if not content.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            return "[Content_Types].xml" in archive.namelist() and any(
                n.startswith("xl/") for n in archive.namelist()
            )
    except zipfile.BadZipFile:
        return False


def sniff(filename: str, content: bytes) -> str | None:
    """The media type the content really has, if it is one remit accepts for this name."""
    expected = ACCEPTED.get(PurePath(filename).suffix.lower())
    if expected is None:
        return None
    for magic, media_type in _MAGIC:
        if content.startswith(magic):
            return media_type if media_type == expected else None
    if expected.endswith("spreadsheetml.sheet"):
        return expected if _is_xlsx(content) else None
    if expected.startswith("text/") or expected == "application/json":
        return expected if _is_text(content) else None
    return None


def upload_problems(
    filename: str, content: bytes, max_bytes: int = MAX_UPLOAD_BYTES
) -> list[Problem]:
    """Every reason to refuse an upload: empty, too big, unknown or disguised type, bad name."""
    problems = []
    name = PurePath(filename).name
    if not name or name.startswith("."):
        problems.append(Problem("file", "give the file a name of 1 to 200 characters", "file_name"))
    # The name goes into downloads' headers and listings: one line, no control character.
    found = text_problem(name, "file", max_chars=NAME_MAX)
    problems += [found] if found is not None else []
    if not content:
        problems.append(Problem("file", f"{name or 'the file'} is empty", "file_empty"))
        return problems
    if len(content) > max_bytes:
        problems.append(
            Problem(
                "file",
                f"{name} is {len(content):,} bytes; the limit is "
                f"{max_bytes:,} bytes ({max_bytes // (1024 * 1024)} MB)",
                "file_size",
            )
        )
    elif sniff(name, content) is None:
        kinds = ", ".join(sorted({k.lstrip(".") for k in ACCEPTED}))
        problems.append(
            Problem(
                "file",
                f"{name} is not an accepted file, or its content does "
                f"not match its name; accepted: {kinds}",
                "file_type",
            )
        )
    return problems
