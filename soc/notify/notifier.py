"""The notifier: notices in, outbox records out. Its methods are the hook points.

- :meth:`Notifier.notify` takes any :class:`~soc.notify.models.Notice`;
- :meth:`Notifier.source_silent`, :meth:`Notifier.connector_silent` and
  :meth:`Notifier.loss_detected` are for the stages that judge sources, connectors'
  heartbeats and the loss ledger;
- :meth:`Notifier.from_audit` turns an audit entry (a new incident, a hand-off, a
  rejection, a breached deadline, a drill started or ended) into its notice; the watch
  stage (soc.stages.notify) reads the trail and calls it, so code that acts on incidents
  needs no call of its own;
- :meth:`Notifier.deadlines_near` finds the deadlines 80% spent.

Every notice's key is deterministic (the audit entry's sequence number, the deadline's
due time...), so two processes that see the same event enqueue one message per channel.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from soc.audit import AuditEntry
from soc.incidents.models import Incident
from soc.log import get_logger
from soc.metrics import NOTIFICATIONS_QUEUED
from soc.models import Severity, utcnow
from soc.notify.config import NotifyConfig
from soc.notify.messages import render
from soc.notify.models import Notice, OutboxItem
from soc.notify.outbox import Outbox
from soc.notify.routing import recipients
from soc.settings import ALL_TENANTS, Lang, NotifySettings, Trigger
from soc.store.records import Kind, Records

log = get_logger(__name__)

NEAR = 0.8
"""A deadline is near once this share of its time is spent."""
MAX_TOLD = 100_000

INCIDENT_ACTIONS: dict[str, Trigger] = {
    "incident.open": "incident_new",
    "incident.hand_off": "handoff",
    "incident.reject": "rejected",
    "incident.deadline_breached": "deadline_breached",
}
DRILL_ACTIONS: dict[str, Trigger] = {
    "drill.start": "drill_started",
    "drill.ended": "drill_ended",
    "drill.aborted": "drill_ended",
}


def incident_fields(incident: Incident) -> dict[str, Any]:
    values = incident.group_values
    first = incident.alerts[0] if incident.alerts else None
    return {
        "incident": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "host": values.get("host") or (first.host if first else None),
        "rule": values.get("rule_title")
        or values.get("rule_id")
        or (first.rule_id if first else None),
        "drill": incident.drill,
    }


class Notifier:
    def __init__(self, records: Records, settings: NotifySettings) -> None:
        self._records = records
        self._told: set[str] = set()
        """Keys of deadlines this process enqueued: not tried again every check."""
        self.settings = settings
        self.config = NotifyConfig(records, settings)
        self.outbox = Outbox(records)

    async def notify(self, notice: Notice) -> list[OutboxItem]:
        """Enqueue ``notice`` for every channel its routes name; the records made new
        (none when another process enqueued them first)."""
        routes = [route for _, route in await self.config.routes()]
        made: list[OutboxItem] = []
        for name, lang in recipients(notice, routes).items():
            item = await self._item(notice, name, lang)
            stored = await self.outbox.enqueue(item) if item is not None else None
            if stored is not None:
                NOTIFICATIONS_QUEUED.labels(trigger=notice.trigger).inc()
                made.append(stored)
        return made

    async def _item(self, notice: Notice, name: str, lang: Lang | None) -> OutboxItem | None:
        found = await self.config.channel(name)
        if found is None:
            log.warning("notification route names no channel", extra={"channel": name})
            return None
        tenant, channel = found
        if tenant not in (ALL_TENANTS, notice.tenant):
            log.warning(
                "notification route names another tenant's channel",
                extra={"channel": name, "tenant": notice.tenant},
            )
            return None
        lang = lang or channel.lang
        now = utcnow()
        return OutboxItem(
            id=OutboxItem.make_id(notice.key, name),
            key=notice.key,
            trigger=notice.trigger,
            tenant=notice.tenant,
            channel=name,
            channel_type=channel.type,
            lang=lang,
            message=render(notice, lang, base_url=self.settings.base_url),
            incident=notice.incident,
            created=now,
            next_at=now,
        )

    async def test(self, channel: str, *, tenant: str, by: str) -> OutboxItem | None:
        """Enqueue a test message to ``channel`` (routes aside); ``None``: no such channel
        for ``tenant``."""
        notice = Notice(
            trigger="test", key=f"test:{uuid.uuid4()}", tenant=tenant, time=utcnow(), by=by
        )
        item = await self._item(notice, channel, None)
        stored = await self.outbox.enqueue(item) if item is not None else None
        if stored is not None:
            NOTIFICATIONS_QUEUED.labels(trigger="test").inc()
        return stored

    # Hook points for other stages.

    async def source_silent(
        self,
        *,
        tenant: str,
        connector: str,
        source: str,
        stream: str,
        since: datetime,
        silent_s: float,
        severity: Severity = Severity.high,
    ) -> list[OutboxItem]:
        """A source silent since ``since`` (its last event): one notice per silence."""
        name = f"{connector}/{source}/{stream}"
        return await self.notify(
            Notice(
                trigger="source_silent",
                key=f"source_silent:{tenant}:{name}:{since.isoformat()}",
                tenant=tenant,
                time=utcnow(),
                source=name,
                severity=severity,
                count=int(silent_s),
                reason=f"{int(silent_s)} s",
            )
        )

    async def connector_silent(
        self,
        *,
        tenant: str,
        connector: str,
        host: str,
        since: datetime,
        silent_s: float,
        severity: Severity = Severity.medium,
    ) -> list[OutboxItem]:
        """A connector none of whose streams has sent a heartbeat since ``since`` (its last
        one): one notice per silence."""
        return await self.notify(
            Notice(
                trigger="connector_silent",
                key=f"connector_silent:{tenant}:{connector}:{since.isoformat()}",
                tenant=tenant,
                time=utcnow(),
                source=connector,
                host=host,
                severity=severity,
                count=int(silent_s),
                reason=f"{int(silent_s)} s",
            )
        )

    async def loss_detected(
        self,
        *,
        tenant: str,
        connector: str,
        source: str,
        stream: str,
        first: int,
        last: int,
        lost: int,
    ) -> list[OutboxItem]:
        """A gap of the loss ledger (records ``first``..``last`` missing): one notice per gap."""
        name = f"{connector}/{source}/{stream}"
        return await self.notify(
            Notice(
                trigger="loss_detected",
                key=f"loss:{tenant}:{name}:{first}-{last}",
                tenant=tenant,
                time=utcnow(),
                source=name,
                count=lost,
                reason=f"seq {first}-{last}",
            )
        )

    async def incident_event(
        self,
        trigger: Trigger,
        incident: Incident,
        *,
        key: str,
        time: datetime,
        by: str | None = None,
        unit: str | None = None,
        reason: str | None = None,
    ) -> list[OutboxItem]:
        unit = (
            unit or incident.owner_unit or (incident.handoff.to_unit if incident.handoff else None)
        )
        fields = incident_fields(incident)
        if incident.drill and await self._blind_running(incident.drill):
            fields["drill"] = None  # a blind drill looks real until it ends (soc.drills.marks)
        notice = Notice(
            trigger=trigger,
            key=key,
            tenant=incident.tenant,
            time=time,
            by=by,
            unit=unit,
            reason=reason[:300] if reason else None,
            **fields,
        )
        return await self.notify(notice)

    async def _blind_running(self, drill: str) -> bool:
        """Whether ``drill`` is a blind drill not over yet (its record, read raw: the drills
        package sits above this one)."""
        record = await self._records.get_record(Kind.drill, drill)
        if record is None:
            return False
        return bool(record.doc.get("blind")) and record.doc.get("state") not in (
            "ended",
            "aborted",
        )

    async def from_audit(self, entry: AuditEntry, incident: Incident | None) -> list[OutboxItem]:
        """The notifications of one audit entry (none for most); ``incident``: the
        entry's incident as stored now, when its target is one."""
        key = f"audit:{entry.seq}"
        after = entry.after or {}
        if entry.action in DRILL_ACTIONS and entry.tenant:
            drill = str(after.get("drill") or entry.target.removeprefix("drill:"))
            return await self.notify(
                Notice(
                    trigger=DRILL_ACTIONS[entry.action],
                    key=key,
                    tenant=entry.tenant,
                    time=entry.time,
                    by=entry.actor,
                    drill=drill,
                    reason=str(after.get("scenario") or "") or None,
                )
            )
        trigger = INCIDENT_ACTIONS.get(entry.action)
        if trigger is None or incident is None:
            return []
        unit: str | None = None
        reason: str | None = None
        offers = after.get("handoffs")
        last = offers[-1] if isinstance(offers, list) and offers else None
        if trigger in ("handoff", "rejected") and isinstance(last, dict):
            unit = last.get("to_unit")
            reason = last.get("reason") if trigger == "rejected" else None
        if trigger == "deadline_breached":
            reason = str(after.get("kind") or "")
        return await self.incident_event(
            trigger, incident, key=key, time=entry.time, by=entry.actor, unit=unit, reason=reason
        )

    async def deadlines_near(self, incident: Incident, now: datetime) -> list[OutboxItem]:
        """Notices for the deadlines of ``incident`` 80% spent, not met and not breached."""
        d = incident.deadlines
        if d is None or incident.status.is_closed:
            return []
        made: list[OutboxItem] = []
        for kind, due, met in (
            ("acknowledge", d.acknowledge_due, incident.acknowledged_at),
            ("resolve", d.resolve_due, incident.resolved_at),
        ):
            if due is None or met is not None or kind in d.breached or now >= due:
                continue
            if now < incident.created + (due - incident.created) * NEAR:
                continue
            key = f"deadline_80:{incident.id}:{kind}:{due.isoformat()}"
            if key in self._told:
                continue
            if len(self._told) >= MAX_TOLD:
                self._told.clear()
            self._told.add(key)
            made += await self.incident_event(
                "deadline_80",
                incident,
                key=key,
                time=now,
                reason=kind,
            )
        return made
