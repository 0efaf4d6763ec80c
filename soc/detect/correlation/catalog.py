"""The loaded correlations, indexed by the rules they reference.

    catalog = Correlations(ruleset.correlations)
    catalog.silent                                  # ids that raise no alert of their own
    matches = catalog.matches_of(rule_id, event)    # what a base-rule alert feeds

``silent`` is :func:`soc.detect.correlation.model.silent_ids`: what ``generate`` leaves
silent. The matches are reduced by :func:`soc.detect.correlation.model.match_for`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from soc.detect.correlation.model import Correlation, CorrelationMatch, match_for, silent_ids
from soc.metrics import CORRELATION_MATCHES
from soc.models import Alert, Event, drill_of

_SKIPPED = {
    "group": CORRELATION_MATCHES.labels(outcome="no_group"),
    "value": CORRELATION_MATCHES.labels(outcome="no_value"),
}


class Correlations:
    """Correlations by id, and by the rule or correlation ids they reference."""

    def __init__(self, correlations: Iterable[Correlation] = ()) -> None:
        self.all: tuple[Correlation, ...] = tuple(correlations)
        self.by_id: dict[str, Correlation] = {c.id: c for c in self.all}
        referencing: dict[str, list[Correlation]] = {}
        for correlation in self.all:
            for rule_id in dict.fromkeys(correlation.rules):
                referencing.setdefault(rule_id, []).append(correlation)
        self.referencing: Mapping[str, tuple[Correlation, ...]] = {
            k: tuple(v) for k, v in referencing.items()
        }
        self.silent: frozenset[str] = silent_ids(self.all)
        self.routes: Mapping[str, str] = {c.id: self._root(c.id) for c in self.all}
        """Each correlation's chain: the outermost correlation over it (the least id if
        several). Its matches are routed by it on the bus, so a chain's inner hits and its
        outer correlation's other matches of one group meet in one partition."""

    def _root(self, correlation_id: str) -> str:
        outers = self.referencing.get(correlation_id, ())
        if not outers:
            return correlation_id
        return min(self._root(outer.id) for outer in outers)  # cycles are refused at load

    def __bool__(self) -> bool:
        return bool(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def references(self, rule_id: str) -> bool:
        return rule_id in self.referencing

    def matches(
        self,
        rule_id: str,
        fields: Mapping[str, Any],
        *,
        tenant: str,
        time: datetime,
        alert_id: str,
        event_ids: tuple[str, ...],
        host: str | None = None,
        drill: str | None = None,
    ) -> list[CorrelationMatch]:
        """One match per correlation referencing ``rule_id`` that the event can feed."""
        out: list[CorrelationMatch] = []
        for correlation in self.referencing.get(rule_id, ()):
            found = match_for(
                correlation,
                rule_id,
                fields,
                tenant=tenant,
                time=time,
                alert_id=alert_id,
                event_ids=event_ids,
                host=host,
                drill=drill,
            )
            if isinstance(found, str):
                _SKIPPED[found].inc()
            elif self.routes[correlation.id] != correlation.id:
                out.append(found.model_copy(update={"route": self.routes[correlation.id]}))
            else:
                out.append(found)
        return out

    def matches_of(self, rule_id: str, event: Event) -> list[CorrelationMatch]:
        """What ``rule_id`` firing on ``event`` feeds (its alert id as ``make_alert`` makes it)."""
        if rule_id not in self.referencing:
            return []
        return self.matches(
            rule_id,
            event.fields,
            tenant=event.tenant,
            time=event.time,
            alert_id=Alert.make_id(rule_id=rule_id, event_id=event.id),
            event_ids=(event.id,),
            host=event.host,
            drill=drill_of(event.origin),
        )

    def matches_of_rules(self, rule_ids: Sequence[str], event: Event) -> list[CorrelationMatch]:
        return [m for rule_id in rule_ids for m in self.matches_of(rule_id, event)]
