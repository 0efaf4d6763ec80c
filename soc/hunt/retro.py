"""A retro-hunt: the streaming engine over the store's events of a time range.

    outcome = await retro_hunt(store, bus, engine, scope, hunt_id=..., raise_alerts=True)

Events are read newest first with ``store.scan_events`` (narrowed to the rules'
logsource products when every rule names one, which the engine would require anyway)
and matched with the same ``Engine.match``; each match is the detector's alert
(``make_alert``: same id, rule id + event id). A preview only reports the matches.
Raising stores and publishes, batch by batch, only the alerts not stored yet
(``store.get_alerts``), marked ``origin="retro-hunt"`` with the hunt's id, so the
grouping stage groups them into incidents as it does the detector's: a hunt run
twice, or over events the detector already matched, raises nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field

from pydantic import BaseModel

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.detect.engine import Engine
from soc.detect.rule import Rule, make_alert
from soc.log import get_logger
from soc.metrics import HUNT_ALERTS, HUNT_EVENTS
from soc.models import Alert, Event, LogSource, Severity, UtcDatetime
from soc.store import Store
from soc.store.eventquery import AnyOf, Equals, EventQuery, Node

log = get_logger(__name__)

PREVIEW_MAX = 1000
"""Matches kept in a hunt's result; all of them are counted."""
SCAN_BATCH = 2000


class HuntScope(BaseModel):
    """Which stored events a hunt reads: event time in [since, until) of these tenants."""

    tenants: list[str] | None
    """``None``: every tenant (only for callers allowed all)."""
    since: UtcDatetime
    until: UtcDatetime


class HuntMatch(BaseModel):
    """One rule firing on one stored event, as a hunt's result lists it."""

    alert_id: str
    rule_id: str
    rule_title: str
    severity: Severity
    tenant: str
    event_id: str
    time: UtcDatetime
    host: str | None
    logsource: LogSource
    stored: bool
    """The alert is in the store: raised by the detector or an earlier hunt, or by this one."""
    raised: bool = False
    """This hunt stored it."""

    @classmethod
    def of(cls, alert: Alert, *, stored: bool, raised: bool) -> HuntMatch:
        return cls(
            alert_id=alert.id,
            rule_id=alert.rule_id,
            rule_title=alert.rule_title,
            severity=alert.severity,
            tenant=alert.tenant,
            event_id=alert.event_id,
            time=alert.time,
            host=alert.host,
            logsource=alert.logsource,
            stored=stored or raised,
            raised=raised,
        )


@dataclass
class HuntProgress:
    """What a hunt has done so far; the runner saves it, the CLI draws it."""

    scanned: int = 0
    matches: int = 0
    raised: int = 0
    failed: int = 0
    """Events the engine failed on (counted, as the detector dead-letters them)."""
    preview: list[HuntMatch] = field(default_factory=list)
    seconds: float = 0.0


OnBatch = Callable[[HuntProgress, list[HuntMatch]], Awaitable[bool]]
"""Called after each batch with the progress and the batch's matches; False stops the hunt."""


def narrowing(rules: Sequence[Rule]) -> Node | None:
    """The events these rules can match, by logsource product, when every rule names one.

    The engine routes a rule only to events of its product (case-insensitively, as
    ``Equals`` compares), so this reads fewer events and changes no match.
    """
    products = {rule.logsource.product for rule in rules}
    if not products or None in products:
        return None
    terms = tuple(Equals("logsource.product", p) for p in sorted(p for p in products if p))
    return terms[0] if len(terms) == 1 else AnyOf(terms)


async def estimate(store: Store, scope: HuntScope, rules: Sequence[Rule]) -> int:
    """How many events the hunt will read (the histogram's total over the range)."""
    span = max(1, int((scope.until - scope.since).total_seconds()) + 1)
    counts = await store.event_histogram(_query(scope, rules), bucket_s=span)
    return sum(counts.values())


def _query(scope: HuntScope, rules: Sequence[Rule]) -> EventQuery:
    return EventQuery(
        tenants=scope.tenants, since=scope.since, until=scope.until, where=narrowing(rules)
    )


async def retro_hunt(
    store: Store,
    bus: Bus | None,
    engine: Engine,
    scope: HuntScope,
    *,
    hunt_id: str,
    raise_alerts: bool,
    on_batch: OnBatch | None = None,
    batch: int = SCAN_BATCH,
    preview_max: int = PREVIEW_MAX,
) -> HuntProgress:
    """Run the hunt to its end (or until ``on_batch`` says stop); see the module docstring."""
    if raise_alerts and bus is None:
        raise ValueError("raising alerts needs the bus")
    progress = HuntProgress()
    started = time.perf_counter()
    scan = _read_ahead(store.scan_events(_query(scope, engine.rules), batch=batch))
    async with aclosing(scan):
        async for events in scan:
            alerts = _match(engine, events, progress)
            found = await _settle(store, bus, alerts, hunt_id=hunt_id, raise_alerts=raise_alerts)
            progress.scanned += len(events)
            HUNT_EVENTS.inc(len(events))
            progress.matches += len(found)
            progress.raised += sum(1 for m in found if m.raised)
            room = preview_max - len(progress.preview)
            if room > 0:
                progress.preview += found[:room]
            progress.seconds = time.perf_counter() - started
            if on_batch is not None and not await on_batch(progress, found):
                break
            await asyncio.sleep(0)  # a long hunt leaves the API's event loop to its requests
    progress.seconds = time.perf_counter() - started
    return progress


async def _read_ahead(batches: AsyncIterator[list[Event]]) -> AsyncGenerator[list[Event]]:
    """The batches, the next one read while this one is matched.

    The stores read in their own thread (SQLite) or wait on the network (OpenSearch), so
    asking for the next batch before matching this one overlaps the two. A hunt stopped
    early lets the read in flight finish, then closes the store's scan.
    """
    pending: asyncio.Future[list[Event] | None] = asyncio.ensure_future(anext(batches, None))
    try:
        while (events := await pending) is not None:
            pending = asyncio.ensure_future(anext(batches, None))
            await asyncio.sleep(0)  # let the read start before this batch holds the loop
            yield events
    finally:
        with suppress(Exception):
            await pending
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()


def _match(engine: Engine, events: list[Event], progress: HuntProgress) -> list[Alert]:
    alerts: list[Alert] = []
    for event in events:
        try:
            rules = engine.match(event)
        except Exception as e:  # as in the detector: one event must never stop the hunt
            progress.failed += 1
            log.warning(
                "retro-hunt: detect failed on an event",
                extra={"event_id": event.id, "error": f"{type(e).__name__}: {e}"},
            )
            continue
        for rule in rules:
            alerts.append(make_alert(rule, event))
    return alerts


async def _settle(
    store: Store, bus: Bus | None, alerts: list[Alert], *, hunt_id: str, raise_alerts: bool
) -> list[HuntMatch]:
    """The batch's matches; when raising, the alerts not stored yet are stored and published."""
    if not alerts:
        return []
    stored = {a.id for a in await store.get_alerts([a.id for a in alerts], tenants=None)}
    new = [
        a.model_copy(update={"origin": "retro-hunt", "hunt_id": hunt_id})
        for a in alerts
        if a.id not in stored
    ]
    if raise_alerts and new:
        assert bus is not None
        await store.put_alerts(new)
        await bus.publish(Topic.alerts, encode(new))
        for alert in new:
            HUNT_ALERTS.labels(level=alert.severity.value).inc()
    raised = {a.id for a in new} if raise_alerts else set()
    return [HuntMatch.of(a, stored=a.id in stored, raised=a.id in raised) for a in alerts]
