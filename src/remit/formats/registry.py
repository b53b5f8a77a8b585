"""Which module writes and checks each bank-file format, and the facts the offline command
needs before any module is loaded.

Each scheme module (``remit.formats.nacha``, ``bacs18``, ``pain001``) exposes ``FORMAT``,
``CURRENCY``, ``CALENDAR``, ``ORIGINATOR_TABLE`` and ``sniff``, ``check``, ``write``,
``parse`` (docs/formats/payments.md). The registry names them by format so that
``remit check`` and ``remit payments file`` dispatch without knowing a scheme; a module is
imported only when it is used.

>>> scheme("pain.001.001.09").module, scheme("pain.001.001.09").currency
('pain001', 'EUR')
>>> scheme("bacs18").bank_columns
('sort_code', 'account_number')
>>> scheme("swift")  # doctest: +ELLIPSIS
Traceback (most recent call last):
remit.formats.registry.UnknownFormat: unknown format 'swift'; one of nacha, bacs18, ...
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from remit.errors import RemitError

PACKAGE = "remit.formats"


class UnknownFormat(RemitError):
    """A format name remit does not write."""


class FormatUnavailable(RemitError):
    """The module of a known format is not installed in this copy of remit."""


@dataclass(frozen=True)
class Scheme:
    """One format remit writes: its module, currency, calendar and input columns.

    ``version`` is given to writers that write several versions (pain.001), else empty.
    ``payment_max_minor`` is the largest amount one payment may carry in the file's amount
    field (NACHA 10 digits, BACS 11, SEPA 999,999,999.99).
    """

    format: str
    module: str
    currency: str
    calendar: str
    originator_table: str
    bank_columns: tuple[str, ...]
    payment_max_minor: int
    version: str = ""


SCHEMES: dict[str, Scheme] = {
    s.format: s
    for s in (
        Scheme(
            "nacha",
            "nacha",
            "USD",
            "XFED",
            "nacha",
            ("routing_number", "account_number", "account_type"),
            9_999_999_999,
        ),
        Scheme(
            "bacs18", "bacs18", "GBP", "GB-ENG", "bacs", ("sort_code", "account_number"), 10**11 - 1
        ),
        Scheme(
            "pain.001.001.03",
            "pain001",
            "EUR",
            "ECB",
            "sepa",
            ("iban", "bic"),
            99_999_999_999,
            "pain.001.001.03",
        ),
        Scheme(
            "pain.001.001.09",
            "pain001",
            "EUR",
            "ECB",
            "sepa",
            ("iban", "bic"),
            99_999_999_999,
            "pain.001.001.09",
        ),
    )
}
# The order ``remit check`` asks the modules whether bytes are theirs: the fixed-width
# formats first (their first record is unmistakable), XML last; modules not installed are
# passed over (pain.008 is checked by the pain001 module).
SNIFF_ORDER = ("nacha", "bacs18", "pain001")


def scheme(name: str) -> Scheme:
    """The scheme of a format name, or UnknownFormat naming the ones there are."""
    try:
        return SCHEMES[name]
    except KeyError:
        known = ", ".join(SCHEMES)
        raise UnknownFormat(f"unknown format {name!r}; one of {known}") from None


def _import(module: str) -> ModuleType | None:
    """The scheme module, or None when this copy of remit does not have it."""
    name = f"{PACKAGE}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the module is there but something it needs is not: a fault, not absence
        return None


def module_of(fmt: Scheme) -> ModuleType:
    """The module that writes ``fmt``, or FormatUnavailable."""
    found = _import(fmt.module)
    if found is None:
        raise FormatUnavailable(f"the {fmt.format} writer is not installed in this copy of remit")
    return found


def checkers() -> Iterator[ModuleType]:
    """The installed scheme modules in sniff order."""
    for module in SNIFF_ORDER:
        found = _import(module)
        if found is not None:
            yield found


def sniff(data: bytes) -> ModuleType | None:
    """The first installed module that says ``data`` is its format, or None."""
    for module in checkers():
        if module.sniff(data):
            return module
    return None
