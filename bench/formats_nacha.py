"""NACHA bench: write a file of 100,000 credits, then check it, and check moov-io's large file.

Targets (issue 10, Speed): writing 100,000 entries offline <= 2 s; ``remit check`` of moov-io's
100,000-entry file <= 3 s. Each figure is the median of ``repeat`` runs. Run it with
``python -m bench.formats_nacha``.
"""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

from bench.timing import median_s
from remit.formats import nacha
from remit.formats.payfile import FilePayment, FileStamp
from remit.testkit.shared import testdata_root

WRITE_TARGET_S = 2.0
CHECK_TARGET_S = 3.0
LARGE = ("moov-io-ach", "test", "testdata", "large-files", "PPD-200-batches-100000-entries.ach.gz")


def payments(entries: int) -> list[FilePayment]:
    """``entries`` credits to checking and savings accounts, all to valid routing numbers."""
    return [
        FilePayment(
            f"P{n}", f"V{n}", f"Provider {n}", 100 + n % 90_000, "USD", f"SB-{n}",
            {"routing_number": "231380104", "account_number": f"{n:012d}",
             "account_type": "savings" if n % 3 else "checking"},
        )
        for n in range(entries)
    ]  # fmt: skip


def run(entries: int = 100_000, repeat: int = 3) -> dict[str, float]:
    """Median seconds to write and to check ``entries`` credits, and to check moov-io's file."""
    rows = payments(entries)
    stamp = FileStamp(datetime(2026, 5, 8, 15, 5, tzinfo=UTC), date(2026, 5, 11))
    data = nacha.write(rows, nacha.ORIGINATOR_EXAMPLE, stamp)
    figures = {
        "entries": float(entries),
        "write_s": median_s(lambda: nacha.write(rows, nacha.ORIGINATOR_EXAMPLE, stamp), repeat),
        "check_written_s": median_s(lambda: nacha.check(data), repeat),
    }
    large = testdata_root().joinpath(*LARGE)
    if large.exists():
        moov = gzip.decompress(large.read_bytes())
        figures["check_moov_large_s"] = median_s(lambda: nacha.check(moov), repeat)
    print(f"NACHA, {entries:,} entries (median of {repeat}):")
    print(f"  write            {figures['write_s']:.3f} s   target <= {WRITE_TARGET_S} s")
    print(f"  check (written)  {figures['check_written_s']:.3f} s   target <= {CHECK_TARGET_S} s")
    if "check_moov_large_s" in figures:
        moov_s = figures["check_moov_large_s"]
        print(f"  check (moov-io)  {moov_s:.3f} s   target <= {CHECK_TARGET_S} s")
    return figures


if __name__ == "__main__":
    run()
