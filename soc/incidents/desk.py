"""The incident desk: what analysts, leads and responders do, against the store.

Every method takes the caller's principal and does four things in order:

1. **scope** — the tenants (and, for a responder, the unit) the caller may
   touch, from :mod:`soc.security.roles`; a record outside them is reported
   as missing (:class:`NotFound`), exactly like one that does not exist;
2. **decide** — the pure function of the incidents domain (lifecycle,
   casework, merge), which checks the role and ownership table
   (:mod:`soc.incidents.permissions`) and returns the new state and a Change;
3. **write** — the incident at the version the caller read (a
   :class:`~soc.errors.Conflict` when someone changed it in between);
4. **record** — the Change appended to the hash-chained audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from soc.errors import Conflict, NotFound
from soc.incidents import casework, lifecycle
from soc.incidents.cases import Cases, IncidentPage, IncidentQuery
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.errors import InvalidOperation, NotAllowed
from soc.incidents.lifecycle import Command
from soc.incidents.merge import merge as merge_incidents
from soc.incidents.merge import move_alerts
from soc.incidents.models import Actor, Change, Comment, Incident, Suppression, Verdict
from soc.incidents.permissions import ROLE_ACTIONS, Action, check, may, unit_sees
from soc.incidents.retention import EXPIRED_ACTION
from soc.models import Alert, AlertStatus, Event, utcnow
from soc.security.principal import Principal
from soc.security.roles import Forbidden, UserPrincipal, can, scope, unit_of
from soc.settings import Tlp
from soc.store import Store

SYSTEM = "system"
BASE_EVENTS_MAX = 200
"""Events of one correlation alert that its timeline item carries (the first, in time order)."""


class IncidentView(BaseModel):
    incident: Incident
    comments: list[Comment]
    actions: list[Action]
    """What the caller may do to it now."""


class TimelineItem(BaseModel):
    time: datetime
    alert: Alert
    event: Event | None
    base_events: list[Event] = []
    """A correlation alert's events (``alert.correlation.event_ids``, the first
    ``BASE_EVENTS_MAX`` still stored), in time order: the incident view's timeline of it."""


def _base_ids(alert: Alert) -> list[str]:
    """The events a correlation alert counted (none for a rule's alert)."""
    return [] if alert.correlation is None else alert.correlation.event_ids[:BASE_EVENTS_MAX]


def actor_of(principal: Principal) -> Actor:
    unit = principal.unit if isinstance(principal, UserPrincipal) else None
    return Actor(name=principal.name, role=principal.role, unit=unit)


def actions_for(actor: Actor, incident: Incident) -> list[Action]:
    """The actions ``actor`` may take on ``incident`` in its current status."""
    possible = set(lifecycle.allowed_actions(incident.status)) | {
        Action.assign,
        Action.comment,
        Action.verdict,
        Action.tag,
        Action.merge,
        Action.move_alerts,
        Action.tlp,
    }
    if incident.status.is_closed:
        possible -= {Action.assign, Action.tag, Action.merge, Action.move_alerts}
    allowed = []
    for action in sorted(possible & ROLE_ACTIONS[actor.role], key=lambda a: a.value):
        try:
            check(actor, action, incident)
        except NotAllowed:
            continue
        allowed.append(action)
    return allowed


class Desk:
    def __init__(
        self,
        store: Store,
        cases: Cases,
        *,
        deadlines: DeadlinePolicy,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._cases = cases
        self._deadlines = deadlines
        self._now = clock

    # -- reading ---------------------------------------------------------------

    async def find(self, principal: Principal, query: IncidentQuery) -> IncidentPage:
        tenants = scope(principal, "incidents:read", query.tenants)
        unit = unit_of(principal)
        return await self._cases.incidents.find(
            query.model_copy(update={"tenants": tenants, "unit": unit})
        )

    async def get(self, principal: Principal, incident_id: str) -> Incident:
        tenants = scope(principal, "incidents:read")
        incident = await self._cases.incidents.get(incident_id, tenants=tenants)
        unit = unit_of(principal)
        if incident is None and unit is None:
            gone = await self._cases.audit.latest(
                tenants=tenants, action=EXPIRED_ACTION, target=f"incident:{incident_id}"
            )
            if gone is not None:
                raise NotFound(f"incident deleted by retention on {gone.time.date().isoformat()}")
        if incident is None or (unit is not None and not unit_sees(unit, incident)):
            raise NotFound("no such incident")
        return incident

    async def view(self, principal: Principal, incident_id: str) -> IncidentView:
        incident = await self.get(principal, incident_id)
        comments = await self._cases.comments.of(incident.id, tenants=[incident.tenant])
        works = can(principal, "incidents:write")
        actions = actions_for(actor_of(principal), incident) if works else []
        return IncidentView(incident=incident, comments=comments, actions=actions)

    async def timeline(self, principal: Principal, incident_id: str) -> list[TimelineItem]:
        incident = await self.get(principal, incident_id)
        tenants = [incident.tenant]
        alerts = await self._store.get_alerts(incident.alert_ids, tenants=tenants)
        based = {a.id: _base_ids(a) for a in alerts}
        wanted = {a.event_id for a in alerts} | {i for ids in based.values() for i in ids}
        events = await self._store.get_events(sorted(wanted), tenants=tenants)
        by_id = {e.id: e for e in events}
        items = [
            TimelineItem(
                time=a.time,
                alert=a,
                event=by_id.get(a.event_id),
                base_events=sorted(
                    (by_id[i] for i in based[a.id] if i in by_id), key=lambda e: (e.time, e.id)
                ),
            )
            for a in alerts
        ]
        return sorted(items, key=lambda i: (i.time, i.alert.id))

    # -- acting ----------------------------------------------------------------

    async def act(
        self, principal: Principal, incident_id: str, command: Command, *, version: int
    ) -> Incident:
        incident = await self._for_write(principal, incident_id, version)
        outcome = lifecycle.apply(incident, command, actor=actor_of(principal), now=self._now())
        return await self._save(outcome.incident, outcome.change)

    async def assign(
        self, principal: Principal, incident_id: str, assignee: str | None, *, version: int
    ) -> Incident:
        incident = await self._for_write(principal, incident_id, version)
        outcome = casework.assign(incident, assignee, actor=actor_of(principal), now=self._now())
        return await self._save(outcome.incident, outcome.change)

    async def set_tlp(
        self, principal: Principal, incident_id: str, tlp: Tlp, *, version: int
    ) -> Incident:
        incident = await self._for_write(principal, incident_id, version)
        outcome = casework.set_tlp(incident, tlp, actor=actor_of(principal), now=self._now())
        return await self._save(outcome.incident, outcome.change)

    async def verdict(
        self,
        principal: Principal,
        incident_id: str,
        alert_ids: Sequence[str],
        verdict: Verdict,
        *,
        version: int,
    ) -> Incident:
        incident = await self._for_write(principal, incident_id, version)
        outcome = casework.set_verdict(
            incident, alert_ids, verdict, actor=actor_of(principal), now=self._now()
        )
        return await self._save(outcome.incident, outcome.change)

    async def comment(self, principal: Principal, incident_id: str, text: str) -> Comment:
        incident = await self._for_write(principal, incident_id, None)
        outcome = casework.comment(incident, text, actor=actor_of(principal), now=self._now())
        await self._cases.comments.add(outcome.comment)
        await self._record(outcome.change)
        return outcome.comment

    async def merge(
        self, principal: Principal, incident_id: str, sources: Sequence[str], *, version: int
    ) -> Incident:
        target = await self._for_write(principal, incident_id, version)
        others = [await self._same_tenant(principal, target, s) for s in dict.fromkeys(sources)]
        outcome = merge_incidents(
            target,
            others,
            actor=actor_of(principal),
            now=self._now(),
            deadlines=self._deadlines,
        )
        saved = await self._cases.incidents.put(outcome.target)
        for source in outcome.sources:
            await self._cases.incidents.put(source)
        await self._relink(saved)
        for change in outcome.changes:
            await self._record(change)
        return saved

    async def move(
        self,
        principal: Principal,
        incident_id: str,
        alert_ids: Sequence[str],
        to: str,
        *,
        version: int,
    ) -> Incident:
        source = await self._for_write(principal, incident_id, version)
        target = await self._same_tenant(principal, source, to)
        outcome = move_alerts(
            source,
            target,
            alert_ids,
            actor=actor_of(principal),
            now=self._now(),
            deadlines=self._deadlines,
        )
        saved = await self._cases.incidents.put(outcome.source)
        moved_to = await self._cases.incidents.put(outcome.target)
        await self._relink(moved_to)
        for change in outcome.changes:
            await self._record(change)
        return saved

    # -- alerts ----------------------------------------------------------------

    async def set_alert_status(
        self, principal: Principal, alert_ids: Sequence[str], status: AlertStatus
    ) -> int:
        """Bulk triage from the queue; returns how many alerts changed."""
        tenants = scope(principal, "alerts:triage")
        alerts = await self._store.get_alerts(list(dict.fromkeys(alert_ids)), tenants=tenants)
        stale = [a for a in alerts if a.status != status]
        changed = [a.model_copy(update={"status": status}) for a in stale]
        if not changed:
            return 0
        await self._store.update_alerts(changed)
        now = self._now()
        for before, after in zip(stale, changed, strict=True):
            await self._cases.audit.append(
                actor=principal.name,
                tenant=after.tenant,
                action="alert.status",
                target=f"alert:{after.id}",
                time=now,
                before={"status": before.status.value},
                after={"status": after.status.value},
            )
        return len(changed)

    # -- suppressions ----------------------------------------------------------

    async def suppressions(
        self, principal: Principal, tenants: list[str] | None
    ) -> list[Suppression]:
        return await self._cases.suppressions.list(tenants=scope(principal, "alerts:read", tenants))

    async def suppress(self, principal: Principal, draft: dict[str, Any]) -> Suppression:
        _require_incident_action(principal, Action.suppress)
        tenant = str(draft["tenant"])
        scope(principal, "alerts:triage", [tenant])
        now = self._now()
        fields = dict(draft.get("fields") or {})
        suppression = Suppression(
            id=Suppression.make_id(
                tenant=tenant,
                rule_id=draft["rule_id"],
                host=draft.get("host"),
                fields=fields,
                author=principal.name,
                created=now,
            ),
            tenant=tenant,
            rule_id=draft["rule_id"],
            host=draft.get("host"),
            fields=fields,
            reason=draft["reason"],
            author=principal.name,
            created=now,
            expires=draft["expires"],
        )
        await self._cases.suppressions.add(suppression)
        await self._cases.audit.append(
            actor=principal.name,
            tenant=tenant,
            action="suppression.create",
            target=f"suppression:{suppression.id}",
            time=now,
            after=suppression.model_dump(mode="json"),
        )
        return suppression

    async def unsuppress(self, principal: Principal, suppression_id: str) -> None:
        _require_incident_action(principal, Action.suppress)
        tenants = scope(principal, "alerts:triage")
        found = await self._cases.suppressions.get(suppression_id, tenants=tenants)
        if found is None:
            raise NotFound("no such suppression")
        await self._cases.suppressions.remove(suppression_id)
        await self._cases.audit.append(
            actor=principal.name,
            tenant=found.tenant,
            action="suppression.delete",
            target=f"suppression:{found.id}",
            time=self._now(),
            before=found.model_dump(mode="json"),
        )

    # -- internals -------------------------------------------------------------

    async def _for_write(
        self, principal: Principal, incident_id: str, version: int | None
    ) -> Incident:
        scope(principal, "incidents:write")
        incident = await self.get(principal, incident_id)
        if version is not None and version != incident.version:
            raise Conflict(
                f"incident {incident.id} is at version {incident.version}, not {version}: "
                "someone changed it; reload it",
                expected=version,
                found=incident.version,
            )
        return incident

    async def _same_tenant(self, principal: Principal, base: Incident, other_id: str) -> Incident:
        other = await self.get(principal, other_id)
        if other.tenant != base.tenant:
            raise InvalidOperation("incidents of different tenants cannot be combined")
        return other

    async def _save(self, incident: Incident, change: Change) -> Incident:
        saved = await self._cases.incidents.put(incident)
        await self._record(change)
        return saved

    async def _record(self, change: Change) -> None:
        await self._cases.record(change)

    async def _relink(self, incident: Incident) -> None:
        """Point the incident's alerts at it (after a merge or a move)."""
        alerts = await self._store.get_alerts(incident.alert_ids, tenants=[incident.tenant])
        stale = [a for a in alerts if a.incident_id != incident.id]
        if stale:
            await self._store.update_alerts(
                [a.model_copy(update={"incident_id": incident.id}) for a in stale]
            )


def _require_incident_action(principal: Principal, action: Action) -> None:
    if not may(principal.role, action):
        raise Forbidden(f"the role {principal.role!r} may not {action.value}")
