"""How long a source is usually quiet: a log-scale histogram of its inter-arrival gaps.

A gap is the time between two arrivals of a source's events, counted in whole seconds
(events that arrive within the same second are one arrival: a batch of a hundred lines
posted at once is one arrival, not 99 gaps of zero). Gaps are counted in buckets half an
octave wide (bucket ``i`` holds gaps up to ``2 ** (i / 2)`` seconds), one histogram per
UTC day, the last :data:`DAYS` days kept: a few hundred integers a source whatever its
volume. :func:`percentile` reads the upper bound of the bucket the percentile falls in,
so a learned interval errs long (at most 41 %), never short.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

DAYS = 7
"""Days of history a histogram keeps besides the current one."""
BUCKETS = 50
"""Half-octave buckets: the last holds every gap above 2 ** 24.5 s (about 270 days)."""
DAY_S = 86_400

Histogram = dict[int, dict[int, int]]
"""UTC day number -> bucket -> gaps counted."""


def bucket(gap_s: float) -> int:
    """The bucket of a gap: the least ``i`` with ``gap_s <= 2 ** (i / 2)``."""
    if gap_s <= 1:
        return 0
    return min(BUCKETS - 1, math.ceil(2 * math.log2(gap_s) - 1e-9))


def upper(i: int) -> float:
    """The longest gap bucket ``i`` holds."""
    return float(2 ** (i / 2))


def add(hist: Histogram, day: int, gap_s: float, count: int = 1) -> None:
    """Count a gap ended on ``day`` and forget the days older than :data:`DAYS`."""
    counts = hist.setdefault(day, {})
    b = bucket(gap_s)
    counts[b] = counts.get(b, 0) + count
    prune(hist, day)


def prune(hist: Histogram, today: int) -> None:
    for d in [d for d in hist if d < today - DAYS]:
        del hist[d]


def merge(hists: Iterable[Histogram]) -> Histogram:
    out: Histogram = {}
    for h in hists:
        for day, counts in h.items():
            into = out.setdefault(day, {})
            for b, n in counts.items():
                into[b] = into.get(b, 0) + n
    return out


def window(hist: Histogram, today: int) -> dict[int, int]:
    """Bucket counts of the past :data:`DAYS` days and today, summed."""
    out: dict[int, int] = {}
    for day, counts in hist.items():
        if day >= today - DAYS:
            for b, n in counts.items():
                out[b] = out.get(b, 0) + n
    return out


def total(counts: dict[int, int]) -> int:
    return sum(counts.values())


def percentile(counts: dict[int, int], p: float) -> float | None:
    """The upper bound of the bucket holding the ``p``-th percentile gap (None: no gaps)."""
    n = total(counts)
    if n == 0:
        return None
    rank = math.ceil(n * p / 100)
    seen = 0
    for b in sorted(counts):
        seen += counts[b]
        if seen >= rank:
            return upper(b)
    return upper(max(counts))
