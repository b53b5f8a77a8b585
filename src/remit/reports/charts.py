"""Small server-rendered SVG charts: no JavaScript, readable without colour (labels, titles).

>>> svg = side_by_side_bars([("Asset", 300, 0), ("Income", 0, 300)], str, "Balances")
>>> svg.startswith("<svg") and "<title>Balances</title>" in svg
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

WIDTH, ROW, LABEL, BAR_MAX = 560, 34, 110, 330


def side_by_side_bars(
    groups: Sequence[tuple[str, int, int]],
    label: Callable[[int], str],
    title: str,
    legend: tuple[str, str] = ("debit", "credit"),
) -> str:
    """Two horizontal bars per group (integers): by default its debit and its credit."""
    top = max([max(d, c) for _, d, c in groups] + [1])
    height = ROW * len(groups) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LABEL}" y="12" font-size="11" fill="#3a6">■ {escape(legend[0])}</text>',
        f'<text x="{LABEL + 90}" y="12" font-size="11" fill="#b55">■ {escape(legend[1])}</text>',
    ]
    for i, (name, debit, credit) in enumerate(groups):
        y = 22 + i * ROW
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name)}</text>')
        for k, (amount, colour) in enumerate(((debit, "#3a6"), (credit, "#b55"))):
            width = BAR_MAX * amount // top
            parts.append(
                f'<rect x="{LABEL}" y="{y + k * 13}" width="{width}" height="11" '
                f'fill="{colour}"><title>{escape(label(amount))}</title></rect>'
            )
            if amount:
                parts.append(
                    f'<text x="{LABEL + width + 4}" y="{y + k * 13 + 10}" '
                    f'font-size="10">{escape(label(amount))}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)
