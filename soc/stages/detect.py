"""The detect stage: events from the bus, alerts into the store.

For each batch: decode, match every event, store the alerts with the events
that raised them (every other event is stored by the event sink), publish the
alerts, publish the matches the correlations reference to the matches topic (keyed
by tenant, correlation and group-by values, for the correlation stage,
soc.stages.correlate), then commit the batch's offsets. A rule that correlations
silence (``generate``, RuleSet.silent) raises no alert of its own: its matches go to
the matches topic only. A detector killed anywhere in between
sees the uncommitted batch again on restart; alert ids are deterministic (rule
id + event id) and store writes keep an existing id, so the replay adds no
duplicate and misses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import decode, encode
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.detect.live import LiveRules, LoadedRules
from soc.detect.rule import make_alert
from soc.errors import StoreError
from soc.intel.alerts import indicator_alert
from soc.intel.live import LiveIndicators
from soc.intel.matcher import IndicatorMatcher
from soc.log import get_logger
from soc.metrics import (
    ALERT_LATENCY,
    ALERTS_RAISED,
    EVENTS_PROCESSED,
    EVENTS_REJECTED,
    INDICATOR_MATCHES,
)
from soc.models import Alert, DeadLetter, DeadLetterReason, Event, utcnow
from soc.settings import DetectSettings
from soc.stages.runtime import ConsumerStage
from soc.store import Store

log = get_logger(__name__)


def _dead(payload: bytes, key: str, reason: DeadLetterReason, detail: str) -> DeadLetter:
    """A detect-stage dead letter; the tenant is the message key's first part."""
    return DeadLetter.of(
        payload,
        tenant=key.split("/", 1)[0] or "unknown",
        source="bus",
        received=utcnow(),
        stage="detect",
        reason=reason,
        detail=detail,
    )


class Detector(ConsumerStage[Message]):
    """Consumes the events topic as one member of the detect consumer group."""

    name = "detect"

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        settings: DetectSettings,
        engine: Engine | None = None,
        rules: LiveRules | None = None,
        indicators: LiveIndicators | None = None,
    ) -> None:
        """``rules``: the catalog's rules, swapped live (soc.detect.live); ``engine``: fixed
        rules compiled from files (tests, benchmarks). One of the two. ``indicators``: the
        threat-intelligence indicators matched too (soc.intel.live), if any."""
        super().__init__()
        if (engine is None) == (rules is None):
            raise ValueError("give the detector an engine or live rules, not both")
        self._live = rules
        self._fixed = LoadedRules.fixed(engine) if engine is not None else None
        self._indicators = indicators
        self._bus = bus
        self._store = store
        self._settings = settings
        self.batch_size = settings.batch_size

    async def subscribe(self) -> Subscription:
        return await self._bus.subscribe(Topic.events, self._settings.group)

    def describe(self) -> dict[str, object]:
        loaded = self.rules
        return {
            "group": self._settings.group,
            "rules": len(loaded.engine.rules),
            "correlations": len(loaded.correlations),
            "indicators": len(self.indicators) if self.indicators is not None else None,
        }

    @property
    def indicators(self) -> IndicatorMatcher | None:
        """The indicator matcher the next batch is matched with, if any."""
        return self._indicators.current if self._indicators is not None else None

    @property
    def rules(self) -> LoadedRules:
        """The rules the next batch is matched with."""
        if self._live is not None:
            return self._live.current
        assert self._fixed is not None
        return self._fixed

    async def process(self, batch: Sequence[Message]) -> None:
        """Detect on one batch and make its output durable.

        A store that refuses the batch for good (not a retriable outage) would
        stall the stage forever: the batch's events go to dead letters instead.
        """
        try:
            await self.detect(batch)
        except StoreError as e:
            if e.retriable:
                raise
            await self._refused(batch, e)

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

    async def detect(self, batch: Sequence[Message]) -> list[Alert]:
        """Match every event of the batch, store and publish what it raised; the alerts."""
        loaded = self.rules  # the whole batch is matched by this one state of the rules
        revisions = loaded.revisions
        events, undecodable = decode(Event, batch)
        dead = [_dead(m.value, m.key, "undecodable", why) for m, why in undecodable]
        alerts: list[Alert] = []
        matches: list[CorrelationMatch] = []
        matched: dict[str, Event] = {}
        catalog, silent = loaded.correlations, loaded.correlations.silent
        matcher = self.indicators
        if matcher is not None and matcher.empty:
            matcher = None
        now = utcnow()
        severity = self._indicators.severity if self._indicators is not None else None
        for event in events:
            try:
                rules = loaded.match(event)
                hits = matcher.match(event, now) if matcher is not None else ()
            except Exception as e:  # one event must never stop the stage
                payload = event.model_dump_json().encode()
                dead.append(
                    _dead(payload, event.bus_key, "detect_failed", f"{type(e).__name__}: {e}")
                )
                continue
            for hit in hits:
                alerts.append(indicator_alert(hit, event, severity=severity))
                matched[event.id] = event
            for rule in rules:
                if rule.id not in silent:
                    alert = make_alert(rule, event)
                    alert.rule_revision = revisions.get(rule.id)
                    alerts.append(alert)
                matched[event.id] = event
                if catalog.references(rule.id):
                    matches += [
                        m
                        for m in match_events(catalog, rule.id, event)
                        if loaded.allows(m.correlation_id, event.tenant)
                    ]
        # The event sink (soc.stages.events) stores every event; the events that raised an
        # alert are stored here too, so an alert's event is there as soon as the alert is.
        if matched:
            await self._store.put_events(list(matched.values()))
        if alerts:
            await self._store.put_alerts(alerts)
            await self._bus.publish(Topic.alerts, encode(alerts))
        if matches:
            await self._bus.publish(Topic.matches, encode(matches))
        if dead:
            await self._bus.publish(Topic.deadletters, encode(dead))
        self._count(events, alerts, dead, matched)
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
            if a.indicator is not None:
                INDICATOR_MATCHES.labels(type=a.indicator.type, origin="stream").inc()
            ALERT_LATENCY.observe((now - matched[a.event_id].received).total_seconds())


def match_events(catalog: Correlations, rule_id: str, event: Event) -> list[CorrelationMatch]:
    """What ``rule_id`` firing on ``event`` feeds the correlations, with the event's receipt
    (the correlation stage measures its latency from it)."""
    return [
        m.model_copy(update={"received": event.received})
        for m in catalog.matches_of(rule_id, event)
    ]
