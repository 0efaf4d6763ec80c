"""The grouping stage: alerts from the bus, incidents into the store.

For each batch of the alerts topic: read the events the alerts came from, the
tenants' active suppressions and the open incidents of the alerts' grouping
keys; fold the batch (:func:`soc.incidents.grouping.group`); write the
incidents at the version read; point each alert at its incident (or at the
suppression that silenced it); audit every incident opened; then commit.

A stage killed in between sees the batch again: incident ids are
deterministic and alerts already in an incident are skipped, so the replay
changes nothing. If an analyst changes an incident while the stage folds into
it, the write conflicts and the batch is grouped again on the new state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import decode
from soc.errors import Conflict, StoreError
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.grouping import GroupingPolicy, group, group_key, key_values
from soc.incidents.models import Change, Incident
from soc.incidents.suppress import Silencer
from soc.log import get_logger
from soc.metrics import ALERTS_GROUPED, EVENTS_PROCESSED, INCIDENTS_OPENED
from soc.models import Alert, Event, utcnow
from soc.settings import IncidentSettings
from soc.stages.runtime import ConsumerStage
from soc.store import Store

log = get_logger(__name__)

ACTOR = "system:grouping"
CONFLICT_TRIES = 5
SUPPRESSIONS_TTL_S = 15.0


class Grouper(ConsumerStage[Message]):
    """Consumes the alerts topic as one member of the grouping consumer group."""

    name = "group"

    def __init__(self, *, bus: Bus, store: Store, cases: Cases, settings: IncidentSettings) -> None:
        super().__init__()
        self._bus = bus
        self._store = store
        self._cases = cases
        self._settings = settings
        self.batch_size = settings.batch_size
        self._policy = GroupingPolicy.from_settings(settings)
        self._deadlines = DeadlinePolicy.from_settings(settings)
        self._silencer: Silencer | None = None
        self._silencer_at = 0.0

    async def subscribe(self) -> Subscription:
        return await self._bus.subscribe(Topic.alerts, self._settings.group)

    def describe(self) -> dict[str, object]:
        return {"group": self._settings.group}

    async def process(self, batch: Sequence[Message]) -> None:
        alerts, bad = decode(Alert, batch)
        for message, reason in bad:
            # Alerts are written by our own detector: one that does not decode is a bug,
            # and it is in the store already; say so loudly and go on.
            log.error(
                "alert on the bus does not decode", extra={"key": message.key, "error": reason}
            )
        if not alerts:
            return
        for attempt in range(CONFLICT_TRIES):
            try:
                await self._group(alerts)
                break
            except Conflict as e:
                log.info("incident changed while grouping; regrouping", extra={"error": str(e)})
                if attempt == CONFLICT_TRIES - 1:
                    raise StoreError(f"grouping: {e}", retriable=True) from e
        EVENTS_PROCESSED.labels(stage="group").inc(len(alerts))

    async def _group(self, alerts: list[Alert]) -> None:
        now = utcnow()
        stored = {
            a.id: a for a in await self._store.get_alerts([a.id for a in alerts], tenants=None)
        }
        # An alert the store already links to an incident (or a suppression) is done.
        fresh = [a for a in alerts if a.id not in stored or _ungrouped(stored[a.id])]
        if not fresh:
            ALERTS_GROUPED.labels(outcome="duplicate").inc(len(alerts))
            return
        events = {
            e.id: e for e in await self._store.get_events([a.event_id for a in fresh], tenants=None)
        }
        open_incidents = await self._open_incidents(fresh, events)
        result = group(
            fresh,
            open_incidents=open_incidents.values(),
            policy=self._policy,
            now=now,
            events=events,
            silencer=await self._silencer_now(now),
            deadlines=self._deadlines,
        )
        for incident in result.changed:
            saved = await self._cases.incidents.put(incident)
            if incident.id in result.created:
                INCIDENTS_OPENED.labels(severity=saved.severity.value).inc()
                opened = {
                    "title": saved.title,
                    "severity": saved.severity.value,
                    "alerts": saved.alert_ids,
                    "group_values": saved.group_values,
                }
                await self._cases.record(
                    Change.of(saved, actor=ACTOR, action="open", time=now, after=opened)
                )
        linked = []
        for alert in fresh:
            base = stored.get(alert.id, alert)
            if alert.id in result.assigned:
                linked.append(base.model_copy(update={"incident_id": result.assigned[alert.id]}))
            elif alert.id in result.suppressed:
                linked.append(
                    base.model_copy(update={"suppressed_by": result.suppressed[alert.id]})
                )
        await self._store.update_alerts(linked)
        ALERTS_GROUPED.labels(outcome="opened").inc(len(result.created))
        ALERTS_GROUPED.labels(outcome="folded").inc(result.repeats)
        ALERTS_GROUPED.labels(outcome="suppressed").inc(len(result.suppressed))
        ALERTS_GROUPED.labels(outcome="duplicate").inc(result.duplicates + len(alerts) - len(fresh))

    async def _open_incidents(
        self, alerts: list[Alert], events: dict[str, Event]
    ) -> dict[str, Incident]:
        keys = set()
        for alert in alerts:
            values = key_values(alert, events.get(alert.event_id), self._policy.keys)
            keys.add((alert.tenant, group_key(alert.tenant, values, alert.drill)))
        return {i.id: i for i in await self._cases.incidents.open_in_groups(keys)}

    async def _silencer_now(self, now: datetime) -> Silencer:
        loop_time = asyncio.get_running_loop().time()
        if self._silencer is None or loop_time - self._silencer_at > SUPPRESSIONS_TTL_S:
            active = await self._cases.suppressions.list(tenants=None, active_at=now)
            self._silencer = Silencer(active)
            self._silencer_at = loop_time
        return self._silencer


def _ungrouped(alert: Alert) -> bool:
    return alert.incident_id is None and alert.suppressed_by is None
