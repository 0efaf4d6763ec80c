"""Acknowledgement and resolution deadlines per severity, and their breaches.

    policy = DeadlinePolicy()                       # or from a tenant's settings
    incident = schedule(incident, policy=policy, now=now)   # on creation and on each change
    incident, breaches = check(incident, now=now)   # periodically; each breach reported once

Due times are measured from the incident's ``created`` (when the SOC first had
it), not from the event time, so a backfill of old events is not born
overdue. When its severity rises, each due time is tightened to the earlier of
the old one and ``now`` plus the new severity's allowance; due times are never
loosened automatically. A deadline is met by ``acknowledged_at`` or
``resolved_at`` (lifecycle.py) at or before the due time; it is breached when
met after it, or still unmet when ``now`` is past it. Each breach is reported
once, flagged in ``Deadlines.breached``; its id is deterministic, so a webhook
receiver can drop a repeat.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from soc.incidents.models import Deadlines, Incident
from soc.models import Severity, UtcDatetime, digest
from soc.settings import IncidentSettings

BreachKind = Literal["acknowledge", "resolve"]


class Allowance(BaseModel):
    """How long one severity allows; ``None``: no deadline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    acknowledge: timedelta | None
    """Time to acknowledge, e.g. ``PT15M`` or seconds."""
    resolve: timedelta | None
    """Time to resolve, e.g. ``PT4H``, ``P3D`` or seconds."""

    @model_validator(mode="after")
    def _sane(self) -> Allowance:
        for name, value in (("acknowledge", self.acknowledge), ("resolve", self.resolve)):
            if value is not None and value <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.acknowledge and self.resolve and self.resolve < self.acknowledge:
            raise ValueError("resolve must not be shorter than acknowledge")
        return self


_H = timedelta(hours=1)
DEFAULT_ALLOWANCES: dict[Severity, Allowance] = {
    Severity.critical: Allowance(acknowledge=timedelta(minutes=15), resolve=4 * _H),
    Severity.high: Allowance(acknowledge=_H, resolve=24 * _H),
    Severity.medium: Allowance(acknowledge=4 * _H, resolve=timedelta(days=3)),
    Severity.low: Allowance(acknowledge=24 * _H, resolve=timedelta(days=7)),
    Severity.informational: Allowance(acknowledge=None, resolve=None),
}


class DeadlinePolicy(BaseModel):
    """Allowances per severity; a severity left out keeps its default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowances: dict[Severity, Allowance] = Field(default_factory=lambda: dict(DEFAULT_ALLOWANCES))

    @classmethod
    def from_settings(cls, settings: IncidentSettings) -> DeadlinePolicy:
        def seconds(value: float | None) -> timedelta | None:
            return timedelta(seconds=value) if value is not None else None

        return cls(
            allowances={
                Severity(name): Allowance(
                    acknowledge=seconds(d.acknowledge_s), resolve=seconds(d.resolve_s)
                )
                for name, d in settings.deadlines.items()
            }
        )

    @field_validator("allowances")
    @classmethod
    def _complete(cls, v: dict[Severity, Allowance]) -> dict[Severity, Allowance]:
        return {**DEFAULT_ALLOWANCES, **v}

    def due(self, severity: Severity, start: datetime) -> tuple[datetime | None, datetime | None]:
        """(acknowledge due, resolve due) for an incident of ``severity`` started at ``start``."""
        a = self.allowances[severity]
        return (
            start + a.acknowledge if a.acknowledge is not None else None,
            start + a.resolve if a.resolve is not None else None,
        )


class Breach(BaseModel):
    """A deadline missed: counted in metrics (kind, severity) and escalated by webhook."""

    model_config = ConfigDict(frozen=True)

    id: str
    incident_id: str
    tenant: str
    kind: BreachKind
    severity: Severity
    due: UtcDatetime
    detected: UtcDatetime
    late_by_s: float = Field(ge=0)
    """How late it was when detected: met late, or still unmet at ``detected``."""

    @staticmethod
    def make_id(*, incident_id: str, kind: BreachKind, due: datetime) -> str:
        return digest(incident_id, "breach", kind, due.isoformat())


def schedule(incident: Incident, *, policy: DeadlinePolicy, now: datetime) -> Incident:
    """The incident with due times set (first call) or tightened (after a severity rise)."""
    current = incident.deadlines
    if current is None:
        ack, res = policy.due(incident.severity, incident.created)
        deadlines = Deadlines(severity=incident.severity, acknowledge_due=ack, resolve_due=res)
    elif incident.severity.rank > current.severity.rank:
        ack, res = policy.due(incident.severity, now)
        deadlines = current.model_copy(
            update={
                "severity": incident.severity,
                "acknowledge_due": _earlier(current.acknowledge_due, ack),
                "resolve_due": _earlier(current.resolve_due, res),
            }
        )
    else:
        return incident
    return incident.model_copy(update={"deadlines": deadlines})


def check(incident: Incident, *, now: datetime) -> tuple[Incident, list[Breach]]:
    """Breaches not yet reported, and the incident with them flagged."""
    d = incident.deadlines
    if d is None:
        return incident, []
    found: list[Breach] = []
    clocks: tuple[tuple[BreachKind, datetime | None, datetime | None], ...] = (
        ("acknowledge", d.acknowledge_due, incident.acknowledged_at),
        ("resolve", d.resolve_due, incident.resolved_at),
    )
    for kind, due, met in clocks:
        if due is None or kind in d.breached:
            continue
        at = met if met is not None else now
        if at > due:
            found.append(
                Breach(
                    id=Breach.make_id(incident_id=incident.id, kind=kind, due=due),
                    incident_id=incident.id,
                    tenant=incident.tenant,
                    kind=kind,
                    severity=incident.severity,
                    due=due,
                    detected=now,
                    late_by_s=(at - due).total_seconds(),
                )
            )
    if not found:
        return incident, []
    flagged = d.model_copy(update={"breached": (*d.breached, *(b.kind for b in found))})
    return incident.model_copy(update={"deadlines": flagged}), found


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)
