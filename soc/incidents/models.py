"""The incident family: what an analyst works on, and the records around it.

    Alert --group--> Incident (AlertRef per alert, Observables, Deadlines, HandOffs)
                         \\-- Comment, Change (audit), Breach (deadlines.py)
    Suppression: alerts a tenant silences, with reason, author and expiry

Every time is timezone-aware UTC. Ids are deterministic digests (soc.models.digest),
so that replaying the same alerts yields the same incidents and every store
write can be idempotent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.audit import AuditEntry, seal
from soc.models import Severity, UtcDatetime, canonical_json, digest
from soc.settings import TENANT_NAME, Role, Tlp

UNIT_NAME = TENANT_NAME
"""A response unit's name: letters, digits, ``_.-``, up to 100 characters."""


class IncidentStatus(StrEnum):
    new = "new"
    triaged = "triaged"
    handed_off = "handed_off"
    """Offered to a response unit; waits for its acceptance or rejection."""
    acknowledged = "acknowledged"
    """The receiving unit accepted it and owns it."""
    responding = "responding"
    resolved = "resolved"
    closed = "closed"
    closed_false_positive = "closed_false_positive"

    @property
    def is_closed(self) -> bool:
        return self in (IncidentStatus.closed, IncidentStatus.closed_false_positive)


class HandOffState(StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    recalled = "recalled"
    """Withdrawn by the SOC before the unit answered."""


class Verdict(StrEnum):
    """An analyst's judgement of one alert."""

    undetermined = "undetermined"
    true_positive = "true_positive"
    false_positive = "false_positive"


class ObservableType(StrEnum):
    ip = "ip"
    host = "host"
    account = "account"
    hash = "hash"
    domain = "domain"
    url = "url"


class Observable(BaseModel):
    """A value worth pivoting on, pulled from an alert's event (observables.py)."""

    model_config = ConfigDict(frozen=True)

    type: ObservableType
    value: str = Field(min_length=1, max_length=2048)
    """Canonical form: IPs compressed, IPv4-mapped IPv6 as IPv4; hosts, domains and hashes
    lower-case; accounts as written (``DOMAIN\\user`` for Windows)."""
    first_seen: UtcDatetime
    """The event time it was first seen at."""
    field: str
    """The event field it was first found in (``DestinationIp``, ``Hashes``...)."""

    @property
    def key(self) -> tuple[ObservableType, str]:
        return (self.type, self.value)


class AlertRef(BaseModel):
    """What an incident keeps of each of its alerts: enough to recompute it after a move."""

    model_config = ConfigDict(frozen=True)

    id: str
    rule_id: str
    severity: Severity
    time: UtcDatetime
    """The event's own time."""
    host: str | None = None
    verdict: Verdict = Verdict.undetermined


class HandOff(BaseModel):
    """One offer of an incident to a response unit, and its answer."""

    model_config = ConfigDict(frozen=True)

    to_unit: str = Field(pattern=f"^{UNIT_NAME}$")
    from_unit: str | None
    """The owner when offered (``None``: the SOC), who keeps it unless the unit accepts."""
    from_user: str | None
    by: str
    at: UtcDatetime
    note: str | None = Field(None, max_length=10_000)
    """What the SOC tells the unit."""
    state: HandOffState = HandOffState.pending
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    reason: str | None = Field(None, max_length=10_000)
    """Why it was rejected or recalled."""


class Deadlines(BaseModel):
    """When the incident must be acknowledged and resolved (deadlines.py)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    """The severity the due times were set for; a rise tightens them."""
    acknowledge_due: UtcDatetime | None = None
    resolve_due: UtcDatetime | None = None
    breached: tuple[Literal["acknowledge", "resolve"], ...] = ()
    """Deadlines already reported as breached, each reported once."""


class Incident(BaseModel):
    """Alerts grouped for one piece of work, and where that work stands."""

    id: str
    tenant: str
    title: str = Field(max_length=500)
    severity: Severity
    """The highest severity of its alerts."""
    status: IncidentStatus = IncidentStatus.new
    owner_unit: str | None = None
    """The response unit that owns it after accepting a hand-off; ``None``: the SOC."""
    owner_user: str | None = None
    assignee: str | None = None
    group_key: str
    """Digest of tenant, key names and values: which alerts fold into it (grouping.py)."""
    group_values: dict[str, str | None]
    """The grouping key's values, readable: ``{"rule_id": ..., "host": ...}``."""
    alerts: list[AlertRef]
    alert_count: int = Field(ge=0)
    """How many alerts it holds: the first one and every repeat folded in."""
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    """Event times of its earliest and latest alert."""
    created: UtcDatetime
    updated: UtcDatetime
    acknowledged_at: UtcDatetime | None = None
    """When a person first took charge: acknowledged or any later status (deadlines)."""
    resolved_at: UtcDatetime | None = None
    """When it was resolved, or closed without being resolved."""
    closed_at: UtcDatetime | None = None
    resolution: str | None = Field(None, max_length=10_000)
    """The resolution summary, or why it was closed as a false positive."""
    handoffs: list[HandOff] = Field(default_factory=list)
    """Every hand-off, oldest first; the last one is the current one."""
    deadlines: Deadlines | None = None
    merged_into: str | None = None
    """The incident this one was merged into (it is then closed and holds no alerts)."""
    tags: list[str] = Field(default_factory=list)
    observables: list[Observable] = Field(default_factory=list)
    drill: str | None = None
    """The drill whose alerts it groups (their ``drill``); ``None``: a live incident."""
    tlp: Tlp | None = None
    """Traffic Light Protocol 2.0 level an analyst set for sharing it; ``None``: the
    tenant's sharing policy's ``default_tlp``. RED never leaves the SOC."""
    version: int = Field(0, ge=0)
    """The stored version it was read at (0: not stored yet); a write names it and
    fails with a conflict if someone changed the incident in between."""

    @model_validator(mode="after")
    def _consistent(self) -> Incident:
        if self.alert_count != len(self.alerts):
            raise ValueError(f"alert_count {self.alert_count} != {len(self.alerts)} alerts")
        if len({a.id for a in self.alerts}) != len(self.alerts):
            raise ValueError("an alert is listed twice")
        return self

    @staticmethod
    def make_id(*, tenant: str, group_key: str, first_alert_id: str) -> str:
        """Named after the alert that opened it: unique, and the same on replay."""
        return digest(tenant, "incident", group_key, first_alert_id)

    @property
    def alert_ids(self) -> list[str]:
        return [a.id for a in self.alerts]

    @property
    def handoff(self) -> HandOff | None:
        """The pending hand-off, while there is one."""
        last = self.handoffs[-1] if self.handoffs else None
        return last if last is not None and last.state is HandOffState.pending else None


class Comment(BaseModel):
    """A note on an incident; comments are kept apart from it and never edited."""

    model_config = ConfigDict(frozen=True)

    id: str
    incident_id: str
    tenant: str
    author: str
    at: UtcDatetime
    text: str = Field(min_length=1, max_length=20_000)
    drill: str | None = None
    """Its incident's drill, when the incident is a drill's."""

    @staticmethod
    def make_id(*, incident_id: str, author: str, at: datetime, text: str) -> str:
        return digest(incident_id, "comment", author, at.isoformat(), text)


class Suppression(BaseModel):
    """Silence one rule's alerts of a tenant where host and event fields match (suppress.py).

    Patterns compare case-insensitively with ``*`` (any run of characters) and
    ``?`` (one character) as the only wildcards. It matches from ``created``
    until ``expires`` (exclusive); every suppression expires.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    tenant: str
    rule_id: str = Field(min_length=1)
    host: str | None = Field(None, min_length=1, max_length=255)
    """Pattern for the alert's host; ``None``: any host."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Event field name (as rules see it, ``Image``, ``src_ip``) -> pattern; all must match."""
    reason: str = Field(min_length=1, max_length=2000)
    author: str = Field(min_length=1)
    created: UtcDatetime
    expires: UtcDatetime

    @model_validator(mode="after")
    def _expires_after_created(self) -> Suppression:
        if self.expires <= self.created:
            raise ValueError("expires must be after created")
        return self

    @staticmethod
    def make_id(
        *,
        tenant: str,
        rule_id: str,
        host: str | None,
        fields: dict[str, str],
        author: str,
        created: datetime,
    ) -> str:
        return digest(
            tenant,
            "suppression",
            rule_id,
            host or "",
            canonical_json(fields),
            author,
            created.isoformat(),
        )


class Actor(BaseModel):
    """Who acts: the principal's name, role and, for a responder, their unit."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    role: Role
    unit: str | None = Field(None, pattern=f"^{UNIT_NAME}$")

    @model_validator(mode="after")
    def _responder_has_unit(self) -> Actor:
        if self.role == "responder" and self.unit is None:
            raise ValueError("a responder belongs to a unit")
        return self


class Change(BaseModel):
    """One action's record for the audit trail: who, when, what, and the fields it changed."""

    model_config = ConfigDict(frozen=True)

    time: UtcDatetime
    actor: str
    tenant: str
    action: str
    """``incident.<action>``, e.g. ``incident.hand_off``, ``incident.merge``."""
    target: str
    """``incident:<id>``."""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        incident: Incident,
        *,
        actor: str,
        action: str,
        time: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> Change:
        """The record of ``incident.<action>`` on ``incident``: every audit entry of an
        incident is made here, so that each of a drill's incident names the drill
        (``"drill": id`` in ``before`` and ``after``) and drill work reads apart from live."""
        if incident.drill:
            before = (before or {}) | {"drill": incident.drill}
            after = (after or {}) | {"drill": incident.drill}
        return cls(
            time=time,
            actor=actor,
            tenant=incident.tenant,
            action=f"incident.{action}",
            target=f"incident:{incident.id}",
            before=before,
            after=after,
        )

    def seal(self, prev: AuditEntry | None) -> AuditEntry:
        """The audit entry after ``prev`` that records this change."""
        return seal(
            prev,
            time=self.time,
            actor=self.actor,
            tenant=self.tenant,
            action=self.action,
            target=self.target,
            before=self.before,
            after=self.after,
        )
