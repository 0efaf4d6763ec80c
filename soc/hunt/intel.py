"""A retro-hunt of indicators: the detector's indicator matcher over stored events.

    progress = await hunt_indicators(store, bus, indicators, scope, hunt_id=..., ...)

Builds an :class:`~soc.intel.matcher.IndicatorMatcher` of the given indicators and reads
the scope's events newest first (``store.scan_events``), as the rule retro-hunt does
(soc.hunt.retro, whose settling it shares): each hit is the detector's "indicator match"
alert, with the same id (indicator id + event id), so events the stream already matched,
or a hunt run twice, raise nothing twice. Raising stores and publishes the new ones,
marked ``origin="retro-hunt"`` with the hunt's id, and the grouping stage files them.

Validity is judged at the hunt's time, not the event's: an indicator taken in today is
hunted over last month's events; a revoked or expired one is not hunted at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import aclosing
from datetime import datetime

from soc.bus import Bus
from soc.hunt.retro import (
    PREVIEW_MAX,
    SCAN_BATCH,
    HuntProgress,
    HuntScope,
    OnBatch,
    read_ahead,
    settle_alerts,
)
from soc.intel.alerts import indicator_alert
from soc.intel.matcher import IndicatorMatcher
from soc.intel.models import Indicator
from soc.log import get_logger
from soc.metrics import HUNT_EVENTS, INDICATOR_MATCHES
from soc.models import Alert, utcnow
from soc.settings import ALL_TENANTS, IndicatorMatchSettings
from soc.store import Store
from soc.store.eventquery import EventQuery

log = get_logger(__name__)


def narrowed(scope: HuntScope, indicators: Sequence[Indicator]) -> list[str] | None:
    """The scope's tenants, less those no indicator applies to (none for ``*`` ones)."""
    if any(i.tenant == ALL_TENANTS for i in indicators):
        return scope.tenants
    theirs = sorted({i.tenant for i in indicators})
    return theirs if scope.tenants is None else [t for t in scope.tenants if t in theirs]


async def hunt_indicators(
    store: Store,
    bus: Bus | None,
    indicators: Sequence[Indicator],
    scope: HuntScope,
    *,
    hunt_id: str,
    raise_alerts: bool,
    settings: IndicatorMatchSettings | None = None,
    now: datetime | None = None,
    on_batch: OnBatch | None = None,
    batch: int = SCAN_BATCH,
    preview_max: int = PREVIEW_MAX,
) -> HuntProgress:
    """Run the hunt to its end (or until ``on_batch`` says stop); see the module docstring."""
    if raise_alerts and bus is None:
        raise ValueError("raising alerts needs the bus")
    settings = settings or IndicatorMatchSettings()
    now = now or utcnow()
    progress = HuntProgress()
    started = time.perf_counter()
    matcher = IndicatorMatcher(indicators, now=now, subdomains=settings.match_subdomains)
    tenants = narrowed(scope, matcher.kept)
    if matcher.live_count == 0 or tenants == []:
        return progress
    query = EventQuery(tenants=tenants, since=scope.since, until=scope.until)
    scan = read_ahead(store.scan_events(query, batch=batch))
    async with aclosing(scan):
        async for events in scan:
            alerts: list[Alert] = [
                indicator_alert(hit, event, severity=settings.severity)
                for event in events
                for hit in matcher.match(event, now)
            ]
            found = await settle_alerts(
                store, bus, alerts, hunt_id=hunt_id, raise_alerts=raise_alerts
            )
            progress.scanned += len(events)
            HUNT_EVENTS.inc(len(events))
            progress.matches += len(found)
            raised = {m.alert_id for m in found if m.raised}
            progress.raised += len(raised)
            for alert in alerts:
                if alert.id in raised and alert.indicator is not None:
                    INDICATOR_MATCHES.labels(type=alert.indicator.type, origin="retro-hunt").inc()
            room = preview_max - len(progress.preview)
            if room > 0:
                progress.preview += found[:room]
            progress.seconds = time.perf_counter() - started
            if on_batch is not None and not await on_batch(progress, found):
                break
            await asyncio.sleep(0)  # a long hunt leaves the API's event loop to its requests
    progress.seconds = time.perf_counter() - started
    log.info(
        "indicator retro-hunt done",
        extra={
            "hunt_id": hunt_id,
            "indicators": matcher.live_count,
            "scanned": progress.scanned,
            "matches": progress.matches,
            "raised": progress.raised,
        },
    )
    return progress
