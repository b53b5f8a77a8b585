"""Bounds on every text and date that comes in: files, forms and the API.

One place says what an id, a name and free text may hold, so that a vertical tab, a NUL
byte or a 5,000-character id is refused where it enters, with its line and field, instead
of breaking a spreadsheet or a column later. Ids and names are one line with no control
characters; free text may also hold line breaks and tabs. Dates lie between 1900-01-01
and 2100-12-31 unless a field says otherwise.

>>> text_problem("P00001", "provider_ref", max_chars=ID_MAX) is None
True
>>> str(text_problem("P\\x0b1", "carer_id", max_chars=ID_MAX, line=3))
'line 3: carer_id: control character U+000B at position 2 is not allowed [control_character]'
>>> str(text_problem("x" * 65, "carer_id", max_chars=ID_MAX))
'carer_id: at most 64 characters (65 given) [length]'
>>> text_problem("two\\nlines", "notes", max_chars=FREE_TEXT_MAX, multiline=True) is None
True
>>> str(date_problem(date(1, 1, 1), "visit_date", line=2))
'line 2: visit_date: 0001-01-01 is outside 1900-01-01 to 2100-12-31 [date_range]'
"""

from __future__ import annotations

import re
from datetime import date

from remit.errors import Problem

ID_MAX = 64
NAME_MAX = 200
FREE_TEXT_MAX = 4000
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2100, 12, 31)

# Line and paragraph separators, and the bidirectional overrides that reorder what a
# reader sees: refused in every single-line value, like the C0 and C1 controls.
_SINGLE_LINE_REFUSED = frozenset(
    "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Unicode's noncharacters of the basic plane (U+FDD0 to U+FDEF, U+FFFE, U+FFFF): never
# text, and U+FFFE and U+FFFF cannot stand in XML, so a spreadsheet holding one is corrupt.
_NONCHARACTERS = "\\ufdd0-\\ufdef\\ufffe\\uffff"


# Every character ``control_position`` refuses in a single-line value, as one regular
# expression class: for tables checked a column at a time (the rows it matches are then
# told apart by ``text_problem``). Surrogates cannot occur in decoded text.
SINGLE_LINE_REFUSED_PATTERN = (
    "[\\x00-\\x1f\\x7f-\\x9f"
    + "".join(f"\\u{ord(c):04x}" for c in sorted(_SINGLE_LINE_REFUSED))
    + _NONCHARACTERS
    + "]"
)


# The same characters for Python's own strings, where a JSON body may also bring a lone
# surrogate (refused everywhere); free text may hold line breaks and tabs.
_SINGLE_LINE_REFUSED_RE = re.compile(SINGLE_LINE_REFUSED_PATTERN[:-1] + "\ud800-\udfff]")
_MULTILINE_REFUSED_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + _NONCHARACTERS + "]"
)


def control_position(value: str, *, multiline: bool = False) -> int | None:
    """The 0-based position of the first character ``value`` may not hold, or None.

    >>> control_position("a\\x00b")
    1
    >>> control_position("a\\tb", multiline=True) is None
    True
    >>> control_position("a\\u202eb"), control_position("a\\u202eb", multiline=True)
    (1, None)
    """
    found = (_MULTILINE_REFUSED_RE if multiline else _SINGLE_LINE_REFUSED_RE).search(value)
    return None if found is None else found.start()


def is_clean_line(value: str) -> bool:
    """True when ``value`` holds no character a single-line value may not (the fast check
    of hot paths; ``text_problem`` says what and where).

    >>> is_clean_line("Care, week 44"), is_clean_line("Care\\x0bweek")
    (True, False)
    """
    return _SINGLE_LINE_REFUSED_RE.search(value) is None


def text_problem(
    value: str,
    field: str,
    *,
    max_chars: int,
    line: int | None = None,
    multiline: bool = False,
    required: bool = False,
    source: str = "",
) -> Problem | None:
    """What is wrong with one text value, or None: too long, empty when required, or a
    character it may not hold (named by its code point and 1-based position)."""
    if required and not value.strip():
        return Problem(field, "is required", "required", line, source)
    if len(value) > max_chars:
        return Problem(
            field,
            f"at most {max_chars:,} characters ({len(value):,} given)",
            "length",
            line,
            source,
        )
    position = control_position(value, multiline=multiline)
    if position is not None:
        return Problem(
            field,
            f"control character U+{ord(value[position]):04X} at position "
            f"{position + 1} is not allowed",
            "control_character",
            line,
            source,
        )
    return None


def date_problem(
    value: date,
    field: str,
    *,
    line: int | None = None,
    earliest: date = DATE_MIN,
    latest: date = DATE_MAX,
    source: str = "",
) -> Problem | None:
    """What is wrong with one date, or None: outside ``earliest`` to ``latest``."""
    if earliest <= value <= latest:
        return None
    return Problem(
        field,
        f"{value.isoformat()} is outside {earliest.isoformat()} to {latest.isoformat()}",
        "date_range",
        line,
        source,
    )
