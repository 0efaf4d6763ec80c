"""A compiled Sigma correlation rule, and the base-rule match it counts.

    corr = Correlation(id=..., type=CorrelationType.event_count, rules=("<rule id>",), ...)
    corr.condition.holds(12)                   # the condition over a count, sum, ...
    match = CorrelationMatch(tenant=..., correlation_id=corr.id, rule_id=..., group=(...), ...)

A :class:`Correlation` is pure data: loading (pySigma, :mod:`.compile`) makes it,
the evaluator (:mod:`.evaluate`) runs it. A :class:`CorrelationMatch` is one
referenced rule (or correlation) firing on one event, already reduced to what the
correlation needs: its group-by values and its value field, read from the event
with the correlation's aliases (:func:`match_for`). It is what a detector would
publish keyed by (tenant, correlation, group); see docs/adr/0013-correlations.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from soc import fastjson
from soc.models import Severity, UtcDatetime


class CorrelationType(StrEnum):
    """The Sigma correlation types (specification 2.1.0), and pySigma's ``value_median``."""

    event_count = "event_count"
    value_count = "value_count"
    temporal = "temporal"
    temporal_ordered = "temporal_ordered"
    value_sum = "value_sum"
    value_avg = "value_avg"
    value_percentile = "value_percentile"
    value_median = "value_median"


VALUE_TYPES = frozenset(
    {
        CorrelationType.value_count,
        CorrelationType.value_sum,
        CorrelationType.value_avg,
        CorrelationType.value_percentile,
        CorrelationType.value_median,
    }
)
"""The types that read a ``field`` of the events (the condition's ``field``)."""

NUMERIC_TYPES = VALUE_TYPES - {CorrelationType.value_count}
"""The types whose field must hold a number."""

Operator = Literal["gt", "gte", "lt", "lte", "eq", "neq"]
OPERATORS: tuple[Operator, ...] = ("gt", "gte", "lt", "lte", "eq", "neq")


@dataclass(frozen=True, slots=True)
class Condition:
    """The condition of a correlation: bounds joined by AND (two make a range).

    ``eager`` conditions (only ``gt``/``gte``) are checked at every match and fire as
    soon as they hold; the others (an upper bound, ``eq``, ``neq``) only when the
    window closes, since a later match may still break them.
    """

    bounds: tuple[tuple[Operator, float], ...]
    fields: tuple[str, ...] = ()
    """The condition's ``field`` (several are joined by AND: their values as one tuple)."""
    percentile: int | None = None
    """``value_percentile``: which percentile (pySigma's ``percentile`` key); 50 for median."""

    def holds(self, value: float) -> bool:
        return all(_compare(op, value, limit) for op, limit in self.bounds)

    @property
    def eager(self) -> bool:
        return all(op in ("gt", "gte") for op, _ in self.bounds)

    def describe(self) -> str:
        return " and ".join(f"{op} {_number_text(limit)}" for op, limit in self.bounds)


def _compare(op: Operator, value: float, limit: float) -> bool:
    if op == "gt":
        return value > limit
    if op == "gte":
        return value >= limit
    if op == "lt":
        return value < limit
    if op == "lte":
        return value <= limit
    if op == "eq":
        return value == limit
    return value != limit


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True, slots=True, eq=False)
class Correlation:
    """One compiled Sigma correlation rule, its references resolved to rule ids."""

    id: str
    """The rule's id; if it has none, a stable hash of its path (as for detection rules)."""
    title: str
    name: str | None
    """The rule's ``name``, by which other correlations may refer to it."""
    level: Severity
    tags: list[str]
    author: str | None
    version: str | None
    path: Path
    type: CorrelationType
    references: tuple[str, ...]
    """The ``rules`` as written: ids or names."""
    timespan_s: int
    condition: Condition
    group_by: tuple[str, ...] = ()
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Alias -> referenced rule id -> the field holding the alias in that rule's events."""
    generate: bool = False
    """Whether the referenced rules also raise alerts of their own (default: they do not)."""
    rules: tuple[str, ...] = ()
    """The referenced rule and correlation ids, in the order written (set when resolved)."""
    raw_aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Alias -> rule id or name as written -> field (what ``aliases`` is resolved from)."""

    def group_fields(self, rule_id: str) -> tuple[str, ...]:
        """The event fields holding the group-by values in matches of ``rule_id``."""
        return tuple(self.aliases.get(name, {}).get(rule_id, name) for name in self.group_by)

    def value_fields(self, rule_id: str) -> tuple[str, ...]:
        """The event fields holding the condition's ``field`` in matches of ``rule_id``."""
        return tuple(
            self.aliases.get(name, {}).get(rule_id, name) for name in self.condition.fields
        )


def silent_ids(correlations: Iterable[Correlation]) -> frozenset[str]:
    """The ids referenced by correlations none of which sets ``generate: true``.

    The specification's ``generate`` (default false: "only the correlation query should be
    generated"). pySigma silences a rule as soon as one referencing correlation leaves it
    false; here an explicit ``generate: true`` wins, so adding a correlation never silences
    a rule that another correlation asked to keep (docs/adr/0013-correlations.md).
    """
    generated: dict[str, bool] = {}
    for correlation in correlations:
        for rule_id in correlation.rules:
            generated[rule_id] = generated.get(rule_id, False) or correlation.generate
    return frozenset(rule_id for rule_id, wanted in generated.items() if not wanted)


Value = str | float | None


class CorrelationMatch(BaseModel):
    """A referenced rule (or correlation) fired on an event: one input of one correlation.

    ``group`` holds the group-by values in the order of the correlation's ``group_by``;
    ``value`` the condition's field (a string for ``value_count``, a number for the
    other value types, None for the types that read none).
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    correlation_id: str
    rule_id: str
    group: tuple[str, ...]
    value: str | float | None = None
    time: UtcDatetime
    alert_id: str
    """The id of the alert the match is (raised or not, per ``generate``)."""
    event_ids: tuple[str, ...]
    """The event (one for a rule; a correlation's own events when it feeds another)."""
    host: str | None = None
    received: UtcDatetime | None = None
    """When the event was received (the correlation stage's latency metric), if known."""
    route: str | None = None
    """The chain it is routed by on the bus, when not its own correlation (Correlations)."""
    route_group: tuple[str, ...] | None = None
    """Its group as the chain's outermost correlation groups it (with ``route``)."""
    drill: str | None = None
    """The drill whose replayed event it is (the event's ``origin.drill``); ``None``: live."""

    @property
    def key(self) -> tuple[str, str, str | None, tuple[str, ...]]:
        """What its state is kept under: (tenant, correlation id, drill, group values), so a
        drill's matches never share a window with live matches or another drill's."""
        return (self.tenant, self.correlation_id, self.drill, self.group)

    @property
    def bus_key(self) -> str:
        """A stable partition key for the key (the tenant's data decides none of its form):
        by the chain's outermost correlation and the group as it groups it, so that a
        chain's matches that can meet do so in one partition (docs/adr/0013-correlations.md)."""
        group = self.group if self.route_group is None else self.route_group
        return group_key_text(self.tenant, self.route or self.correlation_id, group)


def group_key_text(tenant: str, correlation_id: str, group: tuple[str, ...]) -> str:
    return fastjson.canonical([tenant, correlation_id, list(group)])


def group_value(fields: Mapping[str, Any], name: str) -> str | None:
    """A group-by value of an event: its string form; None when absent, null or empty.

    A list of one element is that element; a longer list is its canonical JSON (the same
    list always groups together). Numbers and booleans group by their JSON spelling.
    """
    value = fields.get(name)
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    return fastjson.canonical(value)


def number_value(value: Any) -> float | None:
    """A numeric field value, or None (booleans, non-numeric strings, NaN and infinities)."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


Skip = Literal["group", "value"]
"""Why an event gives a correlation no match: a group-by field or the value field is missing."""


def match_for(
    correlation: Correlation,
    rule_id: str,
    fields: Mapping[str, Any],
    *,
    tenant: str,
    time: datetime,
    alert_id: str,
    event_ids: tuple[str, ...],
    host: str | None = None,
    drill: str | None = None,
) -> CorrelationMatch | Skip:
    """The match ``rule_id`` firing on an event (its ``fields``) gives ``correlation``.

    An event without one of the group-by fields gives none ("group"): Sigma's backends
    group by the field, and SIEMs (Splunk's ``stats ... by``) drop events that lack it;
    pooling them under an empty value would correlate unrelated sources. A value type's
    event without a usable field value gives none either ("value").
    """
    group: list[str] = []
    for name in correlation.group_fields(rule_id):
        found = group_value(fields, name)
        if found is None:
            return "group"
        group.append(found)
    value: Value = None
    if correlation.type in VALUE_TYPES:
        names = correlation.value_fields(rule_id)
        if correlation.type is CorrelationType.value_count:
            parts = [group_value(fields, name) for name in names]
            if any(part is None for part in parts):
                return "value"
            value = parts[0] if len(parts) == 1 else fastjson.canonical(parts)
        else:
            value = number_value(fields.get(names[0])) if names else None
            if value is None:
                return "value"
    return CorrelationMatch.model_construct(
        tenant=tenant,
        correlation_id=correlation.id,
        rule_id=rule_id,
        group=tuple(group),
        value=value,
        time=time,
        alert_id=alert_id,
        event_ids=event_ids,
        host=host,
        drill=drill,
    )
