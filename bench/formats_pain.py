"""The SEPA pain.001 benchmark: write, validate, check and parse a file of 100,000 transfers.

What is measured (median of ``repeat`` runs each), for pain.001.001.03:

1. ``build_s``: the message text from the payments, parsed into an lxml tree
   (``pain001.build``);
2. ``validate_s``: validating that tree against the shipped XSD with lxml's ``XMLSchema``
   (``pain001.write`` does both and returns the bytes: ``write_s``);
3. ``check_s``: ``remit check`` on the written bytes (parse, XSD, totals, every IBAN and BIC);
4. ``parse_s``: reading the bytes back into payments (``pain001.parse``);
5. ``xmlschema_s``: the pure-Python xmlschema validator on the same message, measured on
   ``naive_entries`` transfers (default 5,000) and scaled to ``entries``: the path lxml
   replaces, printed beside ``validate_s`` as a ratio.

Target: the whole payment run of 100,000 payments with its bank file in <= 20 s (issue 10),
so the file's share (write + validate) should stay well under 2 s.
Run: ``.venv/bin/python -m bench.formats_pain [entries]``.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import schwifty
import xmlschema
from lxml import etree

from bench.timing import median_s
from remit.formats import iso20022, pain001
from remit.formats.payfile import FilePayment, FileStamp

ORIGINATOR = {"name": "Riverside Council", "iban": "NL41BANK1234567890", "bic": "BANKNL2A"}
STAMP = FileStamp(datetime(2026, 12, 3, 9, 0, tzinfo=UTC), date(2026, 12, 7), message_id="BENCH-1")
VERSION = "pain.001.001.03"
TARGET_WRITE_S = 2.0


def payments(entries: int) -> list[FilePayment]:
    """``entries`` transfers to distinct NL accounts (a fifth with a BIC)."""
    return [
        FilePayment(
            payment_id=f"RUN1-P{n}",
            payee_id=f"V{n}",
            payee_name=f"Sunrise Care Provider {n}",
            amount_minor=1 + (n * 7919) % 250_000,
            currency="EUR",
            reference=f"SB-RIV-V{n}-2026-11",
            bank={
                "iban": str(
                    schwifty.IBAN.generate("NL", bank_code="ABNA", account_code=f"{n:010d}")
                )
            }
            | ({"bic": "ABNANL2A"} if n % 5 == 0 else {}),
        )
        for n in range(entries)
    ]


def run(entries: int = 100_000, repeat: int = 3, naive_entries: int = 5_000) -> dict[str, float]:
    """Measure and print the figures; return them (seconds, and the ratios)."""
    rows = payments(entries)
    xsd = iso20022.schema(VERSION)
    tree = pain001.build(rows, ORIGINATOR, STAMP, VERSION)
    data = pain001.write(rows, ORIGINATOR, STAMP, VERSION)
    small = pain001.write(rows[:naive_entries], ORIGINATOR, STAMP, VERSION)
    reference = xmlschema.XMLSchema(str(iso20022.schema_path(VERSION)))
    figures = {
        "entries": float(entries),
        "build_s": median_s(lambda: pain001.build(rows, ORIGINATOR, STAMP, VERSION), repeat),
        "validate_s": median_s(lambda: xsd.assertValid(tree), repeat),
        "write_s": median_s(lambda: pain001.write(rows, ORIGINATOR, STAMP, VERSION), repeat),
        "check_s": median_s(lambda: pain001.check(data), repeat),
        "parse_s": median_s(lambda: pain001.parse(data), repeat),
        "xmlschema_s": median_s(lambda: reference.validate(etree.fromstring(small)), 1)
        * entries
        / min(entries, naive_entries),
        "file_mb": len(data) / 1e6,
    }
    figures["xmlschema_ratio"] = figures["xmlschema_s"] / figures["validate_s"]
    _print(figures)
    return figures


def _print(f: dict[str, float]) -> None:
    print(f"pain.001.001.03, {int(f['entries']):,} transfers, {f['file_mb']:.1f} MB (medians)")
    print(f"  build tree           {f['build_s']:6.2f} s")
    print(f"  validate (lxml XSD)  {f['validate_s']:6.2f} s")
    print(f"  write (text + parse + XSD) {f['write_s']:6.2f} s (target <= {TARGET_WRITE_S} s)")
    print(f"  check                {f['check_s']:6.2f} s")
    print(f"  parse                {f['parse_s']:6.2f} s")
    print(
        f"  xmlschema (pure Python, scaled) {f['xmlschema_s']:6.2f} s = "
        f"{f['xmlschema_ratio']:.0f}x the lxml validation"
    )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
