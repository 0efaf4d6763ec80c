"""Live updates for the web UI: new alerts and changed incidents, pushed as server-sent events.

One poller per API process looks at the store every ``incidents.stream_poll_s``
(newest alerts, last-changed incidents) while anyone listens, and hands each
new item to the listeners whose tenants (and, for a responder, unit) may see
it. Polling the store, not the bus, makes it work the same with any number
of API processes and either store. An alert counts as new when it was stored
after the listener connected and its event time is within ``LOOKBACK`` of
now; alerts of a connector's hours-old backlog appear at the next reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from soc.drills.marks import DrillMarks
from soc.errors import BackendError
from soc.incidents.cases import Cases, IncidentQuery
from soc.incidents.permissions import unit_sees
from soc.log import get_logger
from soc.models import AlertQuery, utcnow
from soc.store import Store

log = get_logger(__name__)

LOOKBACK = timedelta(minutes=15)
SEEN_MAX = 20_000
QUEUE_MAX = 1000


@dataclass(eq=False)
class Listener:
    tenants: list[str] | None
    """``None``: every tenant."""
    alerts: bool
    unit: str | None
    drills: bool = False
    """Sees blind drills' marking (a lead: ``drills:read``)."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_MAX)
    )

    def sees(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def offer(self, kind: str, item: dict[str, Any]) -> None:
        # A stalled browser loses updates past QUEUE_MAX; it reloads the lists when back.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((kind, item))


class Feed:
    def __init__(
        self, store: Store, cases: Cases, *, interval_s: float, marks: DrillMarks | None = None
    ) -> None:
        self._store = store
        self._marks = marks
        self._cases = cases
        self._interval = interval_s
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen_alerts: OrderedDict[str, None] = OrderedDict()
        self._versions: dict[str, int] = {}

    def listen(self, listener: Listener) -> None:
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="feed")

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        first = True
        while self._listeners:
            try:
                await self._poll(announce=not first)
                first = False
            except BackendError as e:
                log.warning("live feed poll failed", extra={"error": str(e)})
            await asyncio.sleep(self._interval)

    async def _poll(self, *, announce: bool) -> None:
        page = await self._store.search_alerts(
            AlertQuery(tenants=None, since=utcnow() - LOOKBACK, limit=500)
        )
        incidents = await self._cases.incidents.find(IncidentQuery(tenants=None, limit=200))
        drills = {a.drill for a in page.items if a.drill} | {
            i.drill for i in incidents.items if i.drill
        }
        hidden = await self._marks.hidden(drills) if self._marks and drills else set()

        def offer(listener: Listener, kind: str, item: dict[str, Any]) -> None:
            if item.get("drill") in hidden and not listener.drills:
                item = {**item, "drill": None}  # a blind drill looks real (soc.drills.marks)
            listener.offer(kind, item)

        for alert in reversed(page.items):
            if alert.id in self._seen_alerts:
                continue
            self._seen_alerts[alert.id] = None
            if announce:
                item = alert.model_dump(mode="json", include=_ALERT_FIELDS)
                for listener in list(self._listeners):
                    if listener.alerts and listener.sees(alert.tenant):
                        offer(listener, "alert", item)
        while len(self._seen_alerts) > SEEN_MAX:
            self._seen_alerts.popitem(last=False)
        for incident in incidents.items:
            if self._versions.get(incident.id) == incident.version:
                continue
            self._versions[incident.id] = incident.version
            if not announce:
                continue
            item = incident.model_dump(mode="json", include=_INCIDENT_FIELDS)
            for listener in list(self._listeners):
                if listener.sees(incident.tenant) and (
                    listener.unit is None or unit_sees(listener.unit, incident)
                ):
                    offer(listener, "incident", item)
        if len(self._versions) > SEEN_MAX:
            self._versions = {i.id: i.version for i in incidents.items}


_ALERT_FIELDS = {
    "id",
    "tenant",
    "rule_id",
    "rule_title",
    "severity",
    "time",
    "host",
    "status",
    "drill",
}
_INCIDENT_FIELDS = {
    "id",
    "tenant",
    "title",
    "severity",
    "status",
    "owner_unit",
    "assignee",
    "alert_count",
    "updated",
    "version",
    "drill",
}
