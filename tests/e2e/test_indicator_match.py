"""Indicators put in the store match recorded events in the detect stage, on both pairs.

The detector (with the project's rules) and the grouping stage run in-process over the
pair's bus and store; indicators are put with ``Indicators.put``: the attacker's address
of the recorded auth.log's SSH brute force (a national feed's, for every tenant), the
SHA-256 of the recorded campaign's ``whoami.exe`` (the tenant's own), one expired and one
not valid yet. Their alerts are raised and grouped into incidents; a replay raises none
twice; after ``Indicators.revoke`` the reloader (soc.stages.indicators) rebuilds the
matcher and the attacker's next events match nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from soc.bus import Bus, Topic, build_bus
from soc.bus.codec import encode
from soc.detect.load import load_engine
from soc.incidents.cases import Cases
from soc.intel.alerts import RULE_ID
from soc.intel.live import LiveIndicators
from soc.intel.models import Indicator, IndicatorType
from soc.intel.store import Indicators
from soc.metrics import EVENTS_PROCESSED
from soc.models import Alert, Event, utcnow
from soc.settings import Settings
from soc.stages.detect import Detector
from soc.stages.group import Grouper
from soc.stages.indicators import IndicatorReloader
from soc.store import Store, build_store
from tests.correlating import ATTACKER
from tests.intel_data import indicator, recorded

T = IndicatorType


def processed() -> float:
    return EVENTS_PROCESSED.labels(stage="detect")._value.get()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def backends(settings: Settings) -> AsyncIterator[tuple[Bus, Store]]:
    bus, store = build_bus(settings.bus), build_store(settings.store)
    await bus.start()
    await store.start()
    try:
        yield bus, store
    finally:
        await bus.stop()
        await store.stop()


async def send(bus: Bus, events: Sequence[Event]) -> None:
    """Publish ``events`` and wait until the detector has taken them all."""
    before = processed()
    await bus.publish(Topic.events, encode(list(events)))

    async def done() -> bool:
        return processed() >= before + len(events)

    await eventually(done)


def expected_ids(indicator: Indicator, events: Sequence[Event]) -> set[str]:
    return {Alert.make_id(rule_id=indicator.id, event_id=e.id) for e in events}


async def test_indicators_match_recorded_events_and_stop_when_revoked(
    settings: Settings, shared_dir: Path
) -> None:
    r = recorded(shared_dir)
    auth, attacks, others, windows = r.auth, r.attacks, r.others, r.windows
    sha256, with_hash = r.sha256, r.with_hash

    now = utcnow()
    attacker = indicator(T.ip, ATTACKER, confidence=90, tlp="green")
    tool = indicator(T.hash, sha256.upper(), source="sector-isac", tenant=attacks[0].tenant)
    expired = indicator(
        T.ip, others[0], valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    not_yet = indicator(T.cidr, f"{others[1]}/32", valid_from=now + timedelta(days=1))
    first, rest = attacks[: len(attacks) // 2], attacks[len(attacks) // 2 :]

    async with backends(settings) as (bus, store):
        intel = Indicators(store)
        assert await intel.put([attacker, tool, expired, not_yet]) == 4
        quick = settings.detect.indicators.model_copy(update={"poll_s": 0.2})
        live = LiveIndicators(intel, quick)
        matcher = await live.load()
        assert len(matcher) == 3 and matcher.live_count == 2
        detector = Detector(
            engine=load_engine(settings.detect),
            indicators=live,
            bus=bus,
            store=store,
            settings=settings.detect,
        )
        grouper = Grouper(bus=bus, store=store, cases=Cases(store), settings=settings.incidents)
        stages = (detector, grouper, IndicatorReloader(live))
        tasks = [asyncio.create_task(s.run()) for s in stages]
        try:
            await send(bus, [*first, *windows])
            want = expected_ids(attacker, first) | expected_ids(tool, with_hash)

            async def grouped() -> bool:
                found = await store.get_alerts(sorted(want), tenants=None)
                return len(found) == len(want) and all(a.incident_id for a in found)

            await eventually(grouped)
            alerts = {a.id: a for a in await store.get_alerts(sorted(want), tenants=None)}
            one = alerts[next(iter(expected_ids(attacker, first[:1])))]
            assert one.rule_id == RULE_ID
            assert one.rule_title == f"Indicator match: {ATTACKER} (national-feed)"
            assert one.indicator is not None and one.indicator.tlp == "green"
            assert (one.indicator.field, one.indicator.observed) == ("src_ip", ATTACKER)
            hashed = alerts[next(iter(expected_ids(tool, with_hash[:1])))]
            assert hashed.indicator is not None and hashed.indicator.field == "Hashes"
            assert hashed.indicator.source == "sector-isac"
            incidents = {a.incident_id for a in alerts.values()}
            assert None not in incidents

            # Outside their validity: never matched (the events were all sent).
            never = expected_ids(expired, auth) | expected_ids(not_yet, auth)
            assert await store.get_alerts(sorted(never), tenants=None) == []

            # A replay raises nothing twice: the alerts are the same, still grouped.
            await send(bus, first)
            await asyncio.sleep(1)
            again = {a.id: a for a in await store.get_alerts(sorted(want), tenants=None)}
            assert {i: a.incident_id for i, a in again.items()} == {
                i: a.incident_id for i, a in alerts.items()
            }
            assert {i: a.created for i, a in again.items()} == {
                i: a.created for i, a in alerts.items()
            }

            # Revoked: the attacker's next events match nothing.
            # (the reloader rebuilds the matcher within its poll)
            assert (await intel.revoke(attacker.id)) is not None

            async def rebuilt() -> bool:
                return live.current.live_count == 1

            await eventually(rebuilt, within=10)
            await send(bus, rest)
            await asyncio.sleep(1)
            assert await store.get_alerts(sorted(expected_ids(attacker, rest)), tenants=None) == []
        finally:
            for s in stages:
                s.stop()
            await asyncio.gather(*tasks)
