"""BACS Standard 18 speed: write, check and parse a file of 100,000 credits.

Target (issue 10, Speed): 100,000 credits written in at most 2 s. Each figure is the median
of three runs; the payments are built once, before timing.

    .venv/bin/python -m bench.formats_bacs18
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from bench.timing import median_s
from remit.formats import bacs18
from remit.formats.payfile import FilePayment, FileStamp

TARGET_WRITE_S = 2.0
ORIGINATOR = {
    "service_user_number": "123456",
    "sort_code": "400000",
    "account_number": "11112222",
    "name": "Riverside Care Trust",
}
STAMP = FileStamp(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), date(2026, 3, 4), serial="000001")


def credits(entries: int) -> list[FilePayment]:
    """``entries`` credits with varied payees (some accented), accounts and amounts."""
    return [
        FilePayment(
            f"P{i}",
            f"V{i}",
            f"Provider Zoë {i} Ltd" if i % 7 == 0 else f"Provider {i} Ltd",
            1 + (i * 7919) % 500_000,
            "GBP",
            f"SB-{i:08d}",
            {"sort_code": f"{200000 + i % 700:06d}", "account_number": f"{i:08d}"},
        )
        for i in range(entries)
    ]


def run(entries: int = 100_000) -> dict[str, float]:
    """Median seconds to write, check and parse a file of ``entries`` credits."""
    payments = credits(entries)
    data = bacs18.write(payments, ORIGINATOR, STAMP)
    figures = {
        "entries": float(entries),
        "write_s": median_s(lambda: bacs18.write(payments, ORIGINATOR, STAMP)),
        "check_s": median_s(lambda: bacs18.check(data)),
        "parse_s": median_s(lambda: bacs18.parse(data)),
        "target_write_s": TARGET_WRITE_S,
    }
    for name, value in figures.items():
        print(f"{name:>15}: {value:.3f}")
    verdict = "meets" if figures["write_s"] <= TARGET_WRITE_S else "MISSES"
    print(f"write {verdict} the target of {TARGET_WRITE_S} s for {entries} credits")
    return figures


if __name__ == "__main__":
    run()
