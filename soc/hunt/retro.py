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

Sigma correlation rules among the hunt's rules are evaluated by the streaming
evaluator (soc.detect.correlation.evaluate, with ``detect.correlation``'s settings)
over their base rules' matches. The evaluator needs matches in event-time order (its
watermark trails the newest time seen by the allowed lateness), and the store reads
newest first; so a hunt with correlations reads the range in ascending slices
(:func:`slices`, from the event histogram, each of about ``SLICE_EVENTS`` events),
each slice newest first as usual, and feeds the slice's matches in time order when
the slice is read; the input ends (``Evaluator.finish``) when the range is read, so
windows still open close as at the end of `soc hunt` over files. Each hit is the
streaming stage's alert, with its deterministic id (rule, tenant, group, window start),
settled as the base alerts are: listed, and in raise mode stored and published once.
Rules that ``generate: false`` silences are neither listed nor raised, as the detector
raises nothing for them. A hunt stopped early ends no window (a partial range would
judge windows on part of their matches).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.detect.rule import Rule, make_alert
from soc.log import get_logger
from soc.metrics import HUNT_ALERTS, HUNT_EVENTS
from soc.models import Alert, CorrelationInfo, Event, LogSource, Severity, UtcDatetime
from soc.settings import CorrelationSettings
from soc.store import Store
from soc.store.eventquery import AnyOf, Equals, EventQuery, Node

log = get_logger(__name__)

PREVIEW_MAX = 1000
"""Matches kept in a hunt's result; all of them are counted."""
SCAN_BATCH = 2000
SLICE_EVENTS = 50_000
"""Events per slice of a hunt with correlations: the correlation matches of one slice are
held until it is read (a histogram bucket of more, one second wide, stays one slice)."""
SLICE_BUCKETS = 1000
"""Histogram buckets a range (or a too-full bucket) is cut into to find the slices."""


class HuntScope(BaseModel):
    """Which stored events a hunt reads: event time in [since, until) of these tenants."""

    tenants: list[str] | None
    """``None``: every tenant (only for callers allowed all)."""
    since: UtcDatetime
    until: UtcDatetime


class HuntMatch(BaseModel):
    """One rule firing on one stored event, or a correlation firing over a window of them,
    as a hunt's result lists it."""

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
    kind: Literal["event", "correlation"] = "event"
    """``correlation``: ``event_id`` and ``time`` are those of the match that met the
    condition (the window's end), ``correlation`` holds the group, window and events."""
    correlation: CorrelationInfo | None = None

    @classmethod
    def of(cls, alert: Alert, *, stored: bool, raised: bool) -> HuntMatch:
        return cls(
            kind="event" if alert.correlation is None else "correlation",
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
            correlation=alert.correlation,
        )


@dataclass
class HuntProgress:
    """What a hunt has done so far; the runner saves it, the CLI draws it."""

    scanned: int = 0
    matches: int = 0
    """Matches listed: base rules' (less those ``generate`` silences) and correlations'."""
    correlation_matches: int = 0
    """Of which correlations fired."""
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


async def slices(
    store: Store, scope: HuntScope, rules: Sequence[Rule], *, cap: int = SLICE_EVENTS
) -> list[tuple[datetime, datetime]]:
    """[since, until) pieces covering the scope, in ascending time, each holding at most
    ``cap`` of the events the rules can match, unless one second holds more."""
    return await _cut(store, scope, rules, scope.since, scope.until, cap)


async def _cut(
    store: Store,
    scope: HuntScope,
    rules: Sequence[Rule],
    since: datetime,
    until: datetime,
    cap: int,
) -> list[tuple[datetime, datetime]]:
    width = max(1, math.ceil((until - since).total_seconds() / SLICE_BUCKETS))
    part = scope.model_copy(update={"since": since, "until": until})
    counts = await store.event_histogram(_query(part, rules), bucket_s=width)
    out: list[tuple[datetime, datetime]] = []
    start, held = since, 0
    for bucket in sorted(counts):
        low, high = max(bucket, since), min(bucket + timedelta(seconds=width), until)
        found = counts[bucket]
        if found > cap and width > 1:  # too full: cut that bucket finer
            if held:
                out.append((start, low))
            out += await _cut(store, scope, rules, low, high, cap)
            start, held = high, 0
            continue
        if held and held + found > cap:
            out.append((start, low))
            start, held = low, 0
        held += found
    if start < until:
        out.append((start, until))
    return out


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
    correlation: CorrelationSettings | None = None,
    slice_events: int = SLICE_EVENTS,
) -> HuntProgress:
    """Run the hunt to its end (or until ``on_batch`` says stop); see the module docstring.

    ``correlation``: the evaluator's settings (``detect.correlation``) when the engine
    holds correlation rules.
    """
    if raise_alerts and bus is None:
        raise ValueError("raising alerts needs the bus")
    progress = HuntProgress()
    started = time.perf_counter()
    catalog = Correlations(engine.correlations)
    evaluator = Evaluator(catalog, correlation) if catalog else None

    async def settle(alerts: list[Alert], scanned: int) -> bool:
        found = await settle_alerts(store, bus, alerts, hunt_id=hunt_id, raise_alerts=raise_alerts)
        progress.scanned += scanned
        HUNT_EVENTS.inc(scanned)
        progress.matches += len(found)
        progress.correlation_matches += sum(1 for m in found if m.kind == "correlation")
        progress.raised += sum(1 for m in found if m.raised)
        room = preview_max - len(progress.preview)
        if room > 0:
            progress.preview += found[:room]
        progress.seconds = time.perf_counter() - started
        return on_batch is None or await on_batch(progress, found)

    pieces = [(scope.since, scope.until)]
    if evaluator is not None:
        pieces = await slices(store, scope, engine.rules, cap=slice_events)
    stopped = False
    for since, until in pieces:
        part = scope.model_copy(update={"since": since, "until": until})
        held: list[CorrelationMatch] = []
        scan = read_ahead(store.scan_events(_query(part, engine.rules), batch=batch))
        async with aclosing(scan):
            async for events in scan:
                alerts = _match(engine, catalog, events, progress, held)
                if not await settle(alerts, len(events)):
                    stopped = True
                    break
                await asyncio.sleep(0)  # a long hunt leaves the API's event loop to its requests
        if stopped:
            break
        if evaluator is not None and held:
            held.sort(key=lambda m: (m.time, m.alert_id))
            if not await settle(evaluator.feed(held), 0):
                stopped = True
                break
    if evaluator is not None and not stopped:
        await settle(evaluator.finish(), 0)
    progress.seconds = time.perf_counter() - started
    return progress


async def read_ahead(batches: AsyncIterator[list[Event]]) -> AsyncGenerator[list[Event]]:
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


def _match(
    engine: Engine,
    catalog: Correlations,
    events: list[Event],
    progress: HuntProgress,
    held: list[CorrelationMatch],
) -> list[Alert]:
    """The batch's alerts (less the silenced rules'); the correlation matches go to ``held``."""
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
            if rule.id not in catalog.silent:
                alerts.append(make_alert(rule, event))
        if catalog and rules:
            held += catalog.matches_of_rules([r.id for r in rules], event)
    return alerts


async def settle_alerts(
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
