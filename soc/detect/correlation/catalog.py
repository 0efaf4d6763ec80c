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
        several). Its matches are routed by it on the bus, and by their group as that
        outermost correlation groups it (:meth:`route_group`), so a chain's inner hits and
        its outer correlation's other matches of one group meet in one partition."""
        self._outer: Mapping[str, Correlation] = {
            c.id: min(
                (o for o in self.referencing[c.id] if self.routes[o.id] == self.routes[c.id]),
                key=lambda o: o.id,
            )
            for c in self.all
            if self.routes[c.id] != c.id
        }
        """The correlation over each inner one on the way to its route."""

    def _root(self, correlation_id: str) -> str:
        outers = self.referencing.get(correlation_id, ())
        if not outers:
            return correlation_id
        return min(self._root(outer.id) for outer in outers)  # cycles are refused at load

    def route_group(self, correlation: Correlation, group: tuple[str, ...]) -> tuple[str, ...]:
        """``group`` (of a match of ``correlation``) as its route groups the hits it leads to.

        A correlation's hit carries its group-by fields, and the one over it groups by
        some of them (aliases naming which): the values it would group by are a part of
        ``group``. Keying by that part keeps every inner group whose hits one outer group
        takes in one partition, also when the outer groups by fewer fields. Where the
        outer names a field the inner's hit does not have, it takes no hit from it, and
        ``group`` itself is kept.
        """
        current, values = correlation, group
        while (outer := self._outer.get(current.id)) is not None:
            fields = dict(zip(current.group_by, values, strict=True))
            taken = [fields.get(name) for name in outer.group_fields(current.id)]
            if any(v is None for v in taken):
                return group
            current, values = outer, tuple(v for v in taken if v is not None)
        return values

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
                route = {
                    "route": self.routes[correlation.id],
                    "route_group": self.route_group(correlation, found.group),
                }
                out.append(found.model_copy(update=route))
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
