"""What the silence watches share (soc.stages.silence, soc.stages.beat_silence): raising
a silence's alert once, telling it once and escalating it once; every open alert of a
rule, page by page; and a note written as a comment on an alert's incident.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.errors import Conflict
from soc.incidents.cases import Cases
from soc.incidents.models import Comment
from soc.log import get_logger
from soc.models import Alert, AlertQuery, AlertStatus
from soc.store import Store

log = get_logger(__name__)

ACTOR = "system:sources"


class SilenceAlerts:
    """A watch's silence alerts: each stored once (a restart finds it stored), told once
    per process (the notifier's key makes it once in all), and published to grouping
    once its silence has lasted long enough to become an incident."""

    def __init__(self, *, bus: Bus, store: Store, what: str) -> None:
        """``what``: "source" or "connector", for the log lines."""
        self._bus = bus
        self._store = store
        self._what = what
        self._raised: set[str] = set()
        self._escalated: set[str] = set()

    async def raise_(
        self,
        alert: Alert,
        *,
        escalate: bool,
        context: dict[str, Any],
        tell: Callable[[], Awaitable[object]] | None,
    ) -> None:
        """Store ``alert`` if new (logged with ``context``), ``tell`` it the first time,
        and publish it to grouping when ``escalate`` and it has no incident yet."""
        if alert.id in self._escalated or (alert.id in self._raised and not escalate):
            return
        (stored,) = await self._store.get_alerts([alert.id], tenants=None) or (None,)
        if stored is None:
            await self._store.put_alerts([alert])
            stored = alert
            log.warning(f"{self._what} silent", extra=context)
        if alert.id not in self._raised and tell is not None:
            await tell()
        self._raised.add(alert.id)
        if not escalate:
            return
        if stored.status is AlertStatus.open and stored.incident_id is None:
            await self._bus.publish(Topic.alerts, encode([stored]))
            log.warning(f"silent {self._what} escalated to an incident", extra={"alert": alert.id})
        self._escalated.add(alert.id)


async def open_alerts(store: Store, rule_id: str) -> AsyncIterator[Alert]:
    """Every open alert of ``rule_id`` in every tenant, page by page."""
    query = AlertQuery(tenants=None, rule_id=[rule_id], status=[AlertStatus.open], limit=500)
    while True:
        page = await store.search_alerts(query)
        for alert in page.items:
            yield alert
        if not page.next_cursor:
            return
        query = query.model_copy(update={"cursor": page.next_cursor})


async def comment(cases: Cases, alert: Alert, note: str, at: datetime) -> None:
    """``note`` on ``alert``'s incident, as the alert's title and the note, at ``at``
    (written once: the comment's id is fixed by its text and time)."""
    assert alert.incident_id is not None
    text = f"{alert.rule_title}: {note}"
    c = Comment(
        id=Comment.make_id(incident_id=alert.incident_id, author=ACTOR, at=at, text=text),
        incident_id=alert.incident_id,
        tenant=alert.tenant,
        author=ACTOR,
        at=at,
        text=text,
    )
    with contextlib.suppress(Conflict):
        await cases.comments.add(c)
