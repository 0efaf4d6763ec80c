"""Group alerts into incidents: repeats fold into one incident and bump its count.

    result = group(batch, open_incidents=state, policy=GroupingPolicy(), now=now,
                   events=events_by_id, silencer=silencer, deadlines=DeadlinePolicy())
    store.write(result.changed); state = result.open

**Key.** An alert's group key is its tenant plus the values of
``policy.keys``: alert attributes (``rule_id``, ``rule_title``, ``host``,
``source``, ``severity``, ``logsource.product|category|service``) or an event
field as ``event.<name>`` (``event.User``). Hosts compare in lower case; a
missing value is a value of its own (``None``).

**Window.** An alert folds into an open incident of the same key when its
event time lies within ``policy.window`` of the incident's alerts:
``first_seen - window <= time <= last_seen + window`` (both ends included).
Each fold stretches the incident, so a steady trickle (an SSH brute force)
stays one incident however long it lasts, and a pause longer than the window
starts a new one. Where two open incidents qualify, the one seen last wins.
Only incidents in an open status (new to responding) absorb: a resolved or
closed incident never grows, a new incident opens instead.

**Drills.** An alert of a drill (``alert.drill``, from its event's ``origin.drill``) only
folds into incidents of the same drill, and a live alert never into a drill's: the drill
is part of the group key when set (live keys and ids are unchanged), and the incident
it opens carries the drill.

**Ids.** An incident is named after the alert that opened it:
``digest(tenant, "incident", group key, opening alert id)``. Alerts are taken
in (event time, id) order within a batch, so the same alerts in the same
batches give the same incidents, and a batch replayed against the state it
produced changes nothing (alerts already in an incident are skipped).

**State.** ``open_incidents`` is what may absorb this batch: the caller passes
the tenant's open incidents whose ``last_seen`` is within the window of the
batch's earliest alert (a store query by ``group_key``), and gets back
``result.open``. The caller must also leave out alerts the store already
links to a closed incident, so a late replay does not open one anew.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from soc.incidents import observables
from soc.incidents.deadlines import DeadlinePolicy, schedule
from soc.incidents.models import AlertRef, Incident, IncidentStatus, Observable
from soc.incidents.suppress import Silencer
from soc.models import Alert, Event, canonical_json, digest
from soc.settings import IncidentSettings

ALERT_KEYS = frozenset(
    {
        "rule_id",
        "rule_title",
        "host",
        "source",
        "severity",
        "logsource.product",
        "logsource.category",
        "logsource.service",
    }
)
EVENT_PREFIX = "event."
ABSORBING = frozenset(
    {
        IncidentStatus.new,
        IncidentStatus.triaged,
        IncidentStatus.handed_off,
        IncidentStatus.acknowledged,
        IncidentStatus.responding,
    }
)
"""Statuses in which an incident takes in new alerts of its key."""


class GroupingPolicy(BaseModel):
    """Which alerts are one incident: same key values, within a window of each other."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[str, ...] = ("rule_id", "host")
    """Alert attributes, or event fields as ``event.<name>``."""
    window: timedelta = timedelta(hours=1)
    """How far an alert may lie from the incident's alerts (event time) to fold in."""

    @classmethod
    def from_settings(cls, settings: IncidentSettings) -> GroupingPolicy:
        return cls(
            keys=tuple(settings.group_keys), window=timedelta(seconds=settings.group_window_s)
        )

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one key")
        if len(set(v)) != len(v):
            raise ValueError("a key is named twice")
        bad = [k for k in v if k not in ALERT_KEYS and not k.startswith(EVENT_PREFIX)]
        if bad or EVENT_PREFIX in v:
            raise ValueError(f"unknown keys {bad}: use {sorted(ALERT_KEYS)} or event.<field name>")
        return v

    @field_validator("window")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("window must be positive")
        return v


def key_values(alert: Alert, event: Event | None, keys: Iterable[str]) -> dict[str, str | None]:
    """The grouping key's values for one alert."""
    out: dict[str, str | None] = {}
    for k in keys:
        value: Any
        if k.startswith(EVENT_PREFIX):
            value = event.fields.get(k[len(EVENT_PREFIX) :]) if event is not None else None
        elif k.startswith("logsource."):
            value = getattr(alert.logsource, k.split(".", 1)[1])
        else:
            value = getattr(alert, k)
        if k == "host" and isinstance(value, str):
            value = value.lower()
        out[k] = (
            None
            if value is None
            else str(value)
            if isinstance(value, str)
            else canonical_json(value)
        )
    return out


def group_key(tenant: str, values: Mapping[str, str | None], drill: str | None = None) -> str:
    """The key alerts fold by; a drill's alerts (``drill`` set) have keys of their own, so
    they never fold into a live incident nor another drill's (live keys are as before)."""
    if drill:
        return digest(tenant, "group", canonical_json(dict(values)), "drill", drill)
    return digest(tenant, "group", canonical_json(dict(values)))


@dataclass
class GroupResult:
    changed: list[Incident] = field(default_factory=list)
    """Incidents created or grown by this batch, to write."""
    created: list[str] = field(default_factory=list)
    """Ids of the incidents this batch opened."""
    open: list[Incident] = field(default_factory=list)
    """The open incidents after the batch: the state for the next one."""
    assigned: dict[str, str] = field(default_factory=dict)
    """Alert id -> incident id, for every alert grouped (or found grouped already)."""
    suppressed: dict[str, str] = field(default_factory=dict)
    """Alert id -> id of the suppression that silenced it (not grouped)."""
    repeats: int = 0
    """Alerts folded into an incident that already existed."""
    duplicates: int = 0
    """Alerts already in one of the given incidents (a replay), skipped."""


def _ref(alert: Alert) -> AlertRef:
    return AlertRef(
        id=alert.id,
        rule_id=alert.rule_id,
        severity=alert.severity,
        time=alert.time,
        host=alert.host,
    )


def _title(alert: Alert, values: Mapping[str, str | None]) -> str:
    title = alert.rule_title
    if "host" in values and alert.host:
        title = f"{title} on {alert.host}"
    return title[:500]


def group(
    alerts: Iterable[Alert],
    *,
    open_incidents: Iterable[Incident],
    policy: GroupingPolicy,
    now: datetime,
    events: Mapping[str, Event] | None = None,
    silencer: Silencer | None = None,
    deadlines: DeadlinePolicy | None = None,
) -> GroupResult:
    """Fold one batch of alerts into incidents; the incidents given are not modified."""
    events = events or {}
    result = GroupResult()
    given = {i.id: i for i in open_incidents}
    working: dict[str, _Working] = {}
    by_key: dict[str, list[str]] = {}
    known: dict[str, str] = {}
    for inc in given.values():
        known.update((a.id, inc.id) for a in inc.alerts)
        if inc.status in ABSORBING and inc.merged_into is None:
            by_key.setdefault(inc.group_key, []).append(inc.id)

    def current(incident_id: str) -> Incident:
        w = working.get(incident_id)
        return w.incident if w is not None else given[incident_id]

    for alert in sorted(alerts, key=lambda a: (a.time, a.id)):
        if alert.id in known:
            result.duplicates += 1
            result.assigned[alert.id] = known[alert.id]
            continue
        event = events.get(alert.event_id)
        if silencer is not None and (hit := silencer.match(alert, event, now=now)) is not None:
            result.suppressed[alert.id] = hit.id
            continue
        values = key_values(alert, event, policy.keys)
        key = group_key(alert.tenant, values, alert.drill)
        found = observables.extract(event) if event is not None else []
        candidates = [
            inc
            for inc in map(current, by_key.get(key, ()))
            if inc.drill == alert.drill
            and inc.first_seen - policy.window <= alert.time <= inc.last_seen + policy.window
        ]
        if candidates:
            target = max(candidates, key=lambda i: (i.last_seen, i.id))
            w = working.get(target.id)
            if w is None:
                w = working[target.id] = _Working.of(target)
            w.fold(alert, found, now)
            result.repeats += 1
        else:
            w = _Working.open(alert, key, values, found, now)
            working[w.incident.id] = w
            by_key.setdefault(key, []).append(w.incident.id)
            result.created.append(w.incident.id)
        known[alert.id] = w.incident.id
        result.assigned[alert.id] = w.incident.id

    for w in working.values():
        w.finish(deadlines, now)
        result.changed.append(w.incident)
    result.open = [current(i) for ids in by_key.values() for i in ids]
    return result


class _Working:
    """An incident being grown by a batch: a private copy, changed in place."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self.observables = {o.key: o for o in incident.observables}
        self.tags = set(incident.tags)

    @classmethod
    def of(cls, incident: Incident) -> _Working:
        copy = incident.model_copy(update={"alerts": list(incident.alerts)})
        return cls(copy)

    @classmethod
    def open(
        cls,
        alert: Alert,
        key: str,
        values: dict[str, str | None],
        found: list[Observable],
        now: datetime,
    ) -> _Working:
        incident = Incident(
            id=Incident.make_id(tenant=alert.tenant, group_key=key, first_alert_id=alert.id),
            tenant=alert.tenant,
            title=_title(alert, values),
            severity=alert.severity,
            group_key=key,
            group_values=values,
            alerts=[_ref(alert)],
            alert_count=1,
            first_seen=alert.time,
            last_seen=alert.time,
            created=now,
            updated=now,
            drill=alert.drill,
        )
        w = cls(incident)
        w.tags.update(alert.tags)
        w.add_observables(found)
        return w

    def add_observables(self, found: list[Observable]) -> None:
        for o in found:
            seen = self.observables.get(o.key)
            if seen is None:
                if len(self.observables) < observables.MAX_PER_INCIDENT:
                    self.observables[o.key] = o
            elif o.first_seen < seen.first_seen:
                self.observables[o.key] = o

    def fold(self, alert: Alert, found: list[Observable], now: datetime) -> None:
        inc = self.incident
        inc.alerts.append(_ref(alert))
        inc.alert_count += 1
        if alert.severity.rank > inc.severity.rank:
            inc.severity = alert.severity
        inc.first_seen = min(inc.first_seen, alert.time)
        inc.last_seen = max(inc.last_seen, alert.time)
        inc.updated = now
        self.tags.update(alert.tags)
        self.add_observables(found)

    def finish(self, deadlines: DeadlinePolicy | None, now: datetime) -> None:
        inc = self.incident
        inc.tags = sorted(self.tags)
        inc.observables = list(self.observables.values())
        if deadlines is not None:
            self.incident = schedule(inc, policy=deadlines, now=now)
