"""What a reconciliation comes to: totals per provider, and the visits no rate can price.

>>> import polars as pl
>>> out = pl.DataFrame({"provider_id": ["P1", "P1"], "status": ["verified", "missed"],
...     "paid_minutes": [30, 0], "amount_minor": [925, 0], "currency": ["GBP", "GBP"],
...     "exception": [False, True]})
>>> summarise(out)["providers"]["P1"]
{'counts': {'missed': 1, 'verified': 1}, 'paid_minutes': 30, 'amount_minor': 925, \
'currency': 'GBP', 'exceptions': 1}
"""

from __future__ import annotations

from typing import Any

import polars as pl

from remit.errors import Problem


def summarise(outcomes: pl.DataFrame) -> dict[str, Any]:
    """``{"providers": {id: {counts, paid_minutes, amount_minor, currency, exceptions}},
    "totals": {...}}``; counts name only the statuses that occur. Totals add amounts only
    when every provider is paid in one currency; otherwise ``amount_minor`` is per currency.
    """
    providers: dict[str, Any] = {}
    per = (
        outcomes.group_by("provider_id")
        .agg(
            pl.col("paid_minutes").sum(),
            pl.col("amount_minor").sum(),
            pl.col("currency").filter(pl.col("currency") != "").first(),
            pl.col("exception").sum().alias("exceptions"),
        )
        .sort("provider_id")
    )
    counts = outcomes.group_by("provider_id", "status").len().sort("provider_id", "status")
    by_provider: dict[str, dict[str, int]] = {}
    for pid, status, n in counts.iter_rows():
        by_provider.setdefault(pid, {})[status] = n
    for pid, paid, amount, currency, exceptions in per.iter_rows():
        providers[pid] = {
            "counts": by_provider.get(pid, {}),
            "paid_minutes": int(paid),
            "amount_minor": int(amount or 0),
            "currency": currency or "",
            "exceptions": int(exceptions),
        }
    totals_counts: dict[str, int] = {}
    for pid in providers:
        for status, n in providers[pid]["counts"].items():
            totals_counts[status] = totals_counts.get(status, 0) + n
    currencies = sorted({p["currency"] for p in providers.values() if p["currency"]})
    by_currency: dict[str, int] = {}
    for p in providers.values():
        if p["currency"]:
            by_currency[p["currency"]] = by_currency.get(p["currency"], 0) + p["amount_minor"]
    totals: dict[str, Any] = {
        "counts": dict(sorted(totals_counts.items())),
        "paid_minutes": sum(p["paid_minutes"] for p in providers.values()),
        "amount_minor": (
            by_currency.get(currencies[0], 0)
            if len(currencies) == 1
            else 0
            if not currencies
            else by_currency
        ),
        "currency": currencies[0] if len(currencies) == 1 else "",
        "exceptions": sum(p["exceptions"] for p in providers.values()),
        "providers": len(providers),
    }
    return {"providers": providers, "totals": totals}


def unpriced(outcomes: pl.DataFrame, planned: pl.DataFrame, source: str) -> list[Problem]:
    """A problem for each planned visit paid minutes with no rate in force on its date."""
    missing = outcomes.filter(pl.col("amount_minor").is_null()).select("visit_id").unique()
    hits = (
        planned.join(missing, on="visit_id")
        .sort("line")
        .select("line", "provider_id", "service_code", pl.col("start").str.slice(0, 10))
    )
    return [
        Problem(
            "service_code",
            f"no rate for provider {pid}, service {code} in force on {day} (rates.csv)",
            "no_rate",
            line,
            source,
        )
        for line, pid, code, day in hits.iter_rows()
    ]
