"""Merge incidents, and move alerts from one incident to another.

Invariants, which the tests hold these functions to:

- every alert stays in exactly one incident, with its verdict, and the total
  count is unchanged;
- each incident's severity is the highest of its alerts' and its first and
  last seen span its alerts' times, recomputed from the alerts it keeps;
- only incidents of one tenant and one drill (or none), neither of them closed, take part.

``merge`` moves every alert of the sources into the target; each source is
then closed, empty, with ``merged_into`` naming the target (the one way an
incident closes outside lifecycle.TRANSITIONS). A source with a pending
hand-off must be answered or recalled first. The target keeps its status,
owner, hand-offs and deadlines (tightened by deadlines.schedule when its
severity rose, if a policy is given); tags and observables are joined.

``move_alerts`` takes named alerts from one incident to another, leaving at
least one behind (merge moves all). Observables stay where they were: which
alert brought which is not kept; recompute them from the alerts' events with
``observables.collect`` when exactness matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc.incidents import observables
from soc.incidents._changes import change, rebuild
from soc.incidents.deadlines import DeadlinePolicy, schedule
from soc.incidents.errors import InvalidOperation
from soc.incidents.models import Actor, AlertRef, Change, Incident, IncidentStatus
from soc.incidents.permissions import Action, check


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    target: Incident
    sources: list[Incident]
    changes: list[Change]
    """The target's change first, then one per source."""


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    source: Incident
    target: Incident
    changes: list[Change]


def span(alerts: Sequence[AlertRef]) -> dict[str, Any]:
    """Severity, count and first/last seen of a non-empty list of alerts."""
    return {
        "alerts": list(alerts),
        "alert_count": len(alerts),
        "severity": max((a.severity for a in alerts), key=lambda s: s.rank),
        "first_seen": min(a.time for a in alerts),
        "last_seen": max(a.time for a in alerts),
    }


def _open(incident: Incident, role: str) -> None:
    if incident.status.is_closed:
        raise InvalidOperation(f"the {role} incident {incident.id} is {incident.status.value}")


def merge(
    target: Incident,
    sources: Iterable[Incident],
    *,
    actor: Actor,
    now: datetime,
    deadlines: DeadlinePolicy | None = None,
) -> MergeOutcome:
    """Fold ``sources`` into ``target``; raises NotAllowed or InvalidOperation."""
    sources = list(sources)
    if not sources:
        raise InvalidOperation("nothing to merge: name at least one other incident")
    ids = [s.id for s in sources]
    if target.id in ids or len(set(ids)) != len(ids):
        raise InvalidOperation("an incident is named twice, or merged into itself")
    for inc in (target, *sources):
        check(actor, Action.merge, inc)
        if inc.tenant != target.tenant:
            raise InvalidOperation("incidents of different tenants cannot be merged")
        if inc.drill != target.drill:
            raise InvalidOperation("a drill's incidents merge only with the same drill's")
    _open(target, "target")
    for s in sources:
        _open(s, "merged")
        if s.handoff is not None:
            raise InvalidOperation(
                f"incident {s.id} waits for unit {s.handoff.to_unit} to answer its hand-off; "
                "recall it first"
            )

    alerts = [*target.alerts, *(a for s in sources for a in s.alerts)]
    merged = rebuild(
        target,
        **span(alerts),
        tags=sorted({*target.tags, *(t for s in sources for t in s.tags)}),
        observables=observables.union(
            target.observables, (o for s in sources for o in s.observables)
        ),
        updated=now,
    )
    if deadlines is not None:
        merged = schedule(merged, policy=deadlines, now=now)
    changes = [
        change(target, merged, actor=actor.name, action="merge", time=now, extra={"merged": ids})
    ]
    closed: list[Incident] = []
    for s in sources:
        after = rebuild(
            s,
            alerts=[],
            alert_count=0,
            status=IncidentStatus.closed,
            merged_into=target.id,
            resolution=f"merged into incident {target.id}",
            resolved_at=s.resolved_at or now,
            closed_at=now,
            updated=now,
        )
        closed.append(after)
        changes.append(change(s, after, actor=actor.name, action="merged", time=now))
    return MergeOutcome(merged, closed, changes)


def move_alerts(
    source: Incident,
    target: Incident,
    alert_ids: Iterable[str],
    *,
    actor: Actor,
    now: datetime,
    deadlines: DeadlinePolicy | None = None,
) -> MoveOutcome:
    """Move the named alerts from ``source`` to ``target``; NotAllowed, InvalidOperation."""
    moving = set(alert_ids)
    if not moving:
        raise InvalidOperation("no alerts named to move")
    if source.id == target.id:
        raise InvalidOperation("source and target are the same incident")
    for inc in (source, target):
        check(actor, Action.move_alerts, inc)
    if source.tenant != target.tenant:
        raise InvalidOperation("alerts cannot move between tenants")
    if source.drill != target.drill:
        raise InvalidOperation("alerts cannot move between a drill's incident and another")
    _open(source, "source")
    _open(target, "target")
    missing = moving - set(source.alert_ids)
    if missing:
        raise InvalidOperation(f"not in incident {source.id}: {sorted(missing)}")
    kept = [a for a in source.alerts if a.id not in moving]
    if not kept:
        raise InvalidOperation("an incident keeps at least one alert: merge it instead")
    moved = [a for a in source.alerts if a.id in moving]

    new_source = rebuild(source, **span(kept), updated=now)
    new_target = rebuild(target, **span([*target.alerts, *moved]), updated=now)
    if deadlines is not None:
        new_target = schedule(new_target, policy=deadlines, now=now)
    extra = {"moved": sorted(moving)}
    return MoveOutcome(
        new_source,
        new_target,
        [
            change(
                source, new_source, actor=actor.name, action="move_alerts", time=now, extra=extra
            ),
            change(
                target, new_target, actor=actor.name, action="move_alerts", time=now, extra=extra
            ),
        ],
    )
