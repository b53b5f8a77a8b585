"""The offline command's inputs at size: ``payables.csv`` of ``entries`` rows read, checked
and grouped into payments (two payables per payee), per scheme, and the remittance CSV.

``run()`` prints the median of three runs of each beside the target share: the whole of
``remit payments file`` for 100,000 NACHA entries is to take at most 2 s, so reading its
input should take well under half of that.
"""

from __future__ import annotations

from bench.timing import median_s
from remit.formats import offline, registry

ROUTING = ("011000015", "021000021", "026009593", "011000028")
COMMON = "payable_id,payee_id,payee_name,amount_minor,currency,reference"
TARGET_S = 1.0


def payables(fmt: str, entries: int) -> bytes:
    """A payables.csv of ``entries`` rows for ``fmt``: two payables per payee."""
    if fmt == "nacha":
        header = f"{COMMON},routing_number,account_number,account_type"
        row = "SB{i},V{p},Provider {p},{a},USD,SB-{i},{r},{p:08d},checking"
    elif fmt == "bacs18":
        header = f"{COMMON},sort_code,account_number"
        row = "SB{i},V{p},Provider {p},{a},GBP,SB-{i},20-00-00,{p:08d}"
    else:
        header = f"{COMMON},iban,bic"
        row = "SB{i},V{p},Provider {p},{a},EUR,SB-{i},DE89370400440532013000,COBADEFFXXX"
    lines = [header]
    lines.extend(
        row.format(i=i, p=i // 2, a=1000 + i, r=ROUTING[(i // 2) % 4]) for i in range(entries)
    )
    return ("\n".join(lines) + "\n").encode()


def run(entries: int = 100_000) -> dict[str, float]:
    """Median seconds per step; printed with the target."""
    figures: dict[str, float] = {}
    for fmt in ("nacha", "bacs18", "pain.001.001.03"):
        data, scheme = payables(fmt, entries), registry.scheme(fmt)
        figures[f"read_payables_{fmt}"] = median_s(
            lambda d=data, s=scheme: offline.read_payables(d, s)
        )
    payments = offline.read_payables(payables("nacha", entries), registry.scheme("nacha"))
    figures["remittance_csv"] = median_s(lambda: offline.remittance_csv(payments))
    for name, seconds in figures.items():
        print(f"{name:32} {seconds:6.2f} s  ({entries:,} payables; target <= {TARGET_S} s)")
    return figures


if __name__ == "__main__":
    run()
