"""Whether a source is healthy, late, silent or losing: judged when read, never stored.

A source's expected interval is the first ``sources.expected`` entry matching it with an
``interval_s`` (``configured``), else the ``learn_percentile`` of its gaps over the past
week, at least ``min_interval_s`` (``learned``), or ``default_interval_s`` while it has
fewer than ``learn_min_gaps`` gaps (``default``). Quiet for longer than the interval, it
is ``late``; for ``silent_factor`` intervals, ``silent``. A source with confirmed loss in
the ledger is ``losing`` unless silent (silence is the more urgent word).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from soc.models import Severity
from soc.settings import ExpectedInterval, SourcesSettings
from soc.sources import gaps
from soc.sources.models import StreamKey

IntervalFrom = Literal["configured", "learned", "default"]


class Health(StrEnum):
    healthy = "healthy"
    late = "late"
    silent = "silent"
    losing = "losing"

    @property
    def rank(self) -> int:
        """How bad: silent over losing over late over healthy."""
        return _RANK[self]


_RANK = {Health.healthy: 0, Health.late: 1, Health.losing: 2, Health.silent: 3}


def worst(*states: Health) -> Health:
    """The worst of ``states`` (a dead agent's source is silent, however rarely it sends)."""
    return max(states, key=lambda h: h.rank)


class Expected(NamedTuple):
    interval_s: float
    origin: IntervalFrom
    severity: Severity


def rule_for(key: StreamKey, settings: SourcesSettings) -> ExpectedInterval | None:
    for entry in settings.expected:
        if entry.matches(*key):
            return entry
    return None


def expected(key: StreamKey, gap_counts: dict[int, int], settings: SourcesSettings) -> Expected:
    """The interval ``key`` is expected to send within, where it comes from, and the
    severity of its silence."""
    entry = rule_for(key, settings)
    severity = Severity(entry.severity) if entry is not None else Severity.medium
    if entry is not None and entry.interval_s is not None:
        return Expected(entry.interval_s, "configured", severity)
    if gaps.total(gap_counts) < settings.learn_min_gaps:
        return Expected(settings.default_interval_s, "default", severity)
    p = gaps.percentile(gap_counts, settings.learn_percentile) or 0.0
    return Expected(max(settings.min_interval_s, p), "learned", severity)


def judge(
    last_event: datetime | None,
    interval_s: float,
    *,
    silent_factor: float,
    now: datetime,
    losing: bool = False,
) -> Health:
    """The state of a source whose last event arrived at ``last_event``."""
    if last_event is not None:
        quiet = (now - last_event).total_seconds()
        if quiet > silent_factor * interval_s:
            return Health.silent
    else:
        return Health.silent
    if losing:
        return Health.losing
    if quiet > interval_s:
        return Health.late
    return Health.healthy


def duration(seconds: float) -> str:
    """``2 h 14 min``, ``5 min 3 s``, ``3 d 4 h``: a silence's length, two units at most."""
    s = max(0, round(seconds))
    d, rest = divmod(s, 86_400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    parts = [(d, "d"), (h, "h"), (m, "min"), (sec, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n} {unit}" for n, unit in parts[:2] if n or unit == parts[0][1])
