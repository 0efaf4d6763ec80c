"""What each correlation type measures over the matches of one window.

    value, counted = measure(correlation, matches)   # or None: nothing to measure

``matches`` are in time order (ties by alert id). ``counted`` are the matches the
figure rests on: all of them, except for ``temporal_ordered``, where they are the
matches forming the ordered sequence.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from soc.detect.correlation.model import Correlation, CorrelationMatch, CorrelationType

Measured = tuple[float, Sequence[CorrelationMatch]]


def dedupe_key(correlation: Correlation, match: CorrelationMatch) -> str:
    """Matches of one window under the same key replace each other (the newest stays).

    value_count keeps one match per distinct value and temporal one per referenced rule:
    that is all their figure needs, and it bounds their state by the number of values.
    """
    if correlation.type is CorrelationType.value_count:
        return f"v\0{match.value}"
    if correlation.type is CorrelationType.temporal:
        return f"r\0{match.rule_id}"
    return f"a\0{match.alert_id}"


def measure(correlation: Correlation, matches: Sequence[CorrelationMatch]) -> Measured | None:
    if not matches:
        return None
    kind = correlation.type
    if kind is CorrelationType.event_count:
        return float(len(matches)), matches
    if kind is CorrelationType.value_count:
        return float(len({m.value for m in matches})), matches
    if kind is CorrelationType.temporal:
        return float(len({m.rule_id for m in matches})), matches
    if kind is CorrelationType.temporal_ordered:
        return _ordered(correlation.rules, matches)
    numbers = [float(m.value) for m in matches if isinstance(m.value, int | float)]
    if not numbers:
        return None
    if kind is CorrelationType.value_sum:
        return math.fsum(numbers), matches
    if kind is CorrelationType.value_avg:
        return math.fsum(numbers) / len(numbers), matches
    if kind is CorrelationType.value_median:
        return float(statistics.median(numbers)), matches
    percentile = correlation.condition.percentile
    return percentile_of(numbers, 50 if percentile is None else percentile), matches


def percentile_of(numbers: Sequence[float], percentile: int) -> float:
    """The nearest-rank percentile: the smallest value with ``percentile`` % at or below it."""
    ordered = sorted(numbers)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _ordered(rules: Sequence[str], matches: Sequence[CorrelationMatch]) -> Measured:
    """How many of ``rules`` occur in their order (the longest such prefix), and where.

    Matches at the same time may stand in either order: logs often carry whole seconds, and
    a failure and the success that follows it in one second must still count as ordered.
    """
    used: list[CorrelationMatch] = []
    step = 0
    i = 0
    while i < len(matches) and step < len(rules):
        j = i
        while j < len(matches) and matches[j].time == matches[i].time:
            j += 1
        same_time = list(matches[i:j])
        progressed = True
        while progressed and step < len(rules):
            progressed = False
            for k, match in enumerate(same_time):
                if match.rule_id == rules[step]:
                    used.append(same_time.pop(k))
                    step += 1
                    progressed = True
                    break
        i = j
    return float(step), used
