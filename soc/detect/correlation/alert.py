"""The alert a correlation raises when its condition holds over a window.

    alert = make_correlation_alert(hit, created=now)

Its id is a digest of (correlation id, tenant, group values, window start, and the
drill for a drill's window): the
same matches give the same window and so the same id, so a replay, or a stage
restarted from its checkpoint, raises nothing twice (the stores write ids once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from soc import fastjson
from soc.detect.correlation.model import Correlation, CorrelationMatch
from soc.models import Alert, CorrelationInfo, LogSource, digest

SOURCE = "correlation"
"""The ``source`` of correlation alerts (their events may come from many sources)."""

MAX_IDS = 1000
"""Alert and event ids kept on one correlation alert (the first ones, in time order)."""


@dataclass(frozen=True, slots=True)
class CorrelationHit:
    """A correlation's condition held: over which matches, which window and which figure."""

    correlation: Correlation
    tenant: str
    group: tuple[str, ...]
    value: float
    start: datetime
    end: datetime
    matches: tuple[CorrelationMatch, ...]
    """The matches counted, in time order."""
    drill: str | None = None
    """The drill all its matches belong to (their windows never mix drills and live)."""

    @property
    def alert_id(self) -> str:
        return correlation_alert_id(
            self.correlation.id, self.tenant, self.group, self.start, drill=self.drill
        )

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for m in self.matches for e in m.event_ids))[:MAX_IDS]


def correlation_alert_id(
    correlation_id: str,
    tenant: str,
    group: tuple[str, ...],
    start: datetime,
    *,
    drill: str | None = None,
) -> str:
    """A live window's id as it always was; a drill's window also names the drill."""
    parts = ["correlation", correlation_id, tenant, fastjson.canonical(list(group))]
    parts.append(start.isoformat())
    if drill:
        parts += ["drill", drill]
    return digest(*parts)


def condition_text(correlation: Correlation) -> str:
    """The condition as the alert shows it: ``gte 10``, or ``user gte 5`` for a field's."""
    condition = correlation.condition
    fields = ", ".join(condition.fields)
    return f"{fields} {condition.describe()}" if fields else condition.describe()


def make_correlation_alert(hit: CorrelationHit, *, created: datetime) -> Alert:
    """The alert of ``hit``: severity from the correlation's level, time the window's end."""
    correlation = hit.correlation
    hosts = {m.host for m in hit.matches}
    last = hit.matches[-1]
    return Alert(
        id=hit.alert_id,
        tenant=hit.tenant,
        rule_id=correlation.id,
        rule_title=correlation.title,
        rule_version=correlation.version,
        rule_author=correlation.author,
        severity=correlation.level,
        tags=list(correlation.tags),
        event_id=last.event_ids[-1] if last.event_ids else last.alert_id,
        time=hit.end,
        created=created,
        host=hosts.pop() if len(hosts) == 1 else None,
        source=SOURCE,
        logsource=LogSource(),
        drill=hit.drill,
        correlation=CorrelationInfo(
            type=correlation.type.value,
            group=dict(zip(correlation.group_by, hit.group, strict=True)),
            value=hit.value,
            condition=condition_text(correlation),
            window_start=hit.start,
            window_end=hit.end,
            rule_ids=list(dict.fromkeys(m.rule_id for m in hit.matches)),
            alert_ids=list(dict.fromkeys(m.alert_id for m in hit.matches))[:MAX_IDS],
            event_ids=list(hit.event_ids),
        ),
    )
