"""The median wall time of a step run a few times (the bank-file benchmarks share it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_s(step: Callable[[], object], repeat: int = 3) -> float:
    """The median of ``repeat`` timings of ``step()``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
