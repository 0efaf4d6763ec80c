"""The detect stage: events from the bus, alerts into the store.

For each batch: decode, match every event, store the alerts with the events
that raised them, publish the alerts, then commit the batch's offsets. A
detector killed anywhere in between sees the uncommitted batch again on
restart; alert ids are deterministic (rule id + event id) and store writes
keep an existing id, so the replay adds no duplicate and misses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import decode, encode
from soc.detect.engine import Engine
from soc.detect.rules import Rule
from soc.errors import StoreError
from soc.ingest.ndjson import dead_letter
from soc.log import get_logger
from soc.metrics import (
    ALERT_LATENCY,
    ALERTS_RAISED,
    EVENTS_PROCESSED,
    EVENTS_REJECTED,
    STAGE_LATENCY,
)
from soc.models import Alert, DeadLetter, DeadLetterReason, Event, utcnow
from soc.retry import poll_retrying, until_done
from soc.settings import DetectSettings
from soc.store import Store

log = get_logger(__name__)


def make_alert(rule: Rule, event: Event) -> Alert:
    return Alert(
        id=Alert.make_id(rule_id=rule.id, event_id=event.id),
        tenant=event.tenant,
        rule_id=rule.id,
        rule_title=rule.title,
        rule_version=rule.version,
        rule_author=rule.author,
        severity=rule.level,
        tags=list(rule.tags),
        event_id=event.id,
        time=event.time,
        created=utcnow(),
        host=event.host,
        source=event.source,
        logsource=event.logsource,
    )


def _dead(payload: bytes, key: str, reason: DeadLetterReason, detail: str) -> DeadLetter:
    """A detect-stage dead letter; the tenant is the message key's first part."""
    return dead_letter(
        payload,
        tenant=key.split("/", 1)[0] or "unknown",
        source="bus",
        received=utcnow(),
        stage="detect",
        reason=reason,
        detail=detail,
    )


class Detector:
    """Consumes the events topic as one member of the detect consumer group."""

    def __init__(self, *, engine: Engine, bus: Bus, store: Store, settings: DetectSettings) -> None:
        self._engine = engine
        self._bus = bus
        self._store = store
        self._settings = settings
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Process batches until :meth:`stop`; backend failures are retried, never skipped."""
        sub = await self._bus.subscribe(Topic.events, self._settings.group)
        log.info(
            "detector started",
            extra={"group": self._settings.group, "rules": len(self._engine.rules)},
        )
        try:
            while not self._stopping.is_set():
                batch = await poll_retrying(
                    sub,
                    max_records=self._settings.batch_size,
                    stage="detect",
                    stopping=self._stopping,
                )
                if batch:
                    await self._until_done(sub, batch)
        finally:
            await sub.close()
            log.info("detector stopped", extra={"group": self._settings.group})

    async def _until_done(self, sub: Subscription, batch: Sequence[Message]) -> None:
        async def step() -> None:
            try:
                await self.process(batch)
            except StoreError as e:
                if e.retriable:
                    raise
                await self._refused(batch, e)
            await sub.commit()

        await until_done(step, stage="detect", stopping=self._stopping)

    async def _refused(self, batch: Sequence[Message], error: StoreError) -> None:
        """The store refused the batch for good: keep its events as dead letters."""
        log.error(
            "store refused a batch; its events go to dead letters",
            extra={"events": len(batch), "error": str(error)},
        )
        dead = [_dead(m.value, m.key, "store_refused", str(error)) for m in batch]
        await self._bus.publish(Topic.deadletters, encode(dead))
        for _ in dead:
            EVENTS_REJECTED.labels(stage="detect", reason="store_refused").inc()

    async def process(self, batch: Sequence[Message]) -> list[Alert]:
        """Detect on one batch and make its output durable; returns the alerts."""
        started = time.perf_counter()
        events, undecodable = decode(Event, batch)
        dead = [_dead(m.value, m.key, "undecodable", why) for m, why in undecodable]
        alerts: list[Alert] = []
        matched: dict[str, Event] = {}
        for event in events:
            try:
                rules = self._engine.match(event)
            except Exception as e:  # one event must never stop the stage
                payload = event.model_dump_json().encode()
                dead.append(
                    _dead(payload, event.bus_key, "detect_failed", f"{type(e).__name__}: {e}")
                )
                continue
            for rule in rules:
                alerts.append(make_alert(rule, event))
                matched[event.id] = event
        to_store = events if self._settings.store_all_events else list(matched.values())
        if to_store:
            await self._store.put_events(to_store)
        if alerts:
            await self._store.put_alerts(alerts)
            await self._bus.publish(Topic.alerts, encode(alerts))
        if dead:
            await self._bus.publish(Topic.deadletters, encode(dead))
        self._count(events, alerts, dead, matched)
        STAGE_LATENCY.labels(stage="detect").observe(time.perf_counter() - started)
        return alerts

    def _count(
        self,
        events: list[Event],
        alerts: list[Alert],
        dead: list[DeadLetter],
        matched: dict[str, Event],
    ) -> None:
        EVENTS_PROCESSED.labels(stage="detect").inc(len(events))
        for d in dead:
            EVENTS_REJECTED.labels(stage="detect", reason=d.reason).inc()
        now = utcnow()
        for a in alerts:
            ALERTS_RAISED.labels(level=a.severity.value).inc()
            ALERT_LATENCY.observe((now - matched[a.event_id].received).total_seconds())
