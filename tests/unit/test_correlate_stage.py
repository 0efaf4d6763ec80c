"""The correlation stage on the in-process bus and SQLite, over the real recorded auth.log.

The detector publishes the SSH failures (the shipped rule, silenced by the test's
correlation) to the matches topic; the correlation stage counts them per source address
and stores, publishes and (through grouping) files the brute-force alerts. The expected
alerts are the streaming evaluator's over the same events in one pass, as `soc hunt`
runs it. A stage stopped half way and replaced restores its partitions from the changelog
and ends with the same alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from soc.bus import Bus, Topic, build_bus
from soc.bus.codec import encode
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.incidents.cases import Cases
from soc.models import Alert, AlertQuery, Event
from soc.settings import (
    BusSettings,
    CorrelateSettings,
    CorrelationSettings,
    DetectSettings,
    IncidentSettings,
    SqliteSettings,
)
from soc.stages.correlate import POSITION, Correlator, restored_state
from soc.stages.detect import Detector
from soc.stages.group import Grouper
from soc.stages.runtime import Stage
from soc.store.sqlite import SqliteStore
from tests.correlating import (
    ATTACKER,
    BRUTE_FORCE,
    BRUTE_FORCE_ID,
    SLOW_GUESSING,
    SLOW_GUESSING_ID,
    SSH_FAILURE,
    auth_events,
    comparable,
    engine_with,
    matches_of,
    one_pass,
)

SETTINGS = CorrelationSettings(allowed_lateness_s=60, idle_flush_s=2)


@pytest.fixture(scope="module")
def events(shared_dir: Path) -> list[Event]:
    return auth_events(shared_dir)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return engine_with(tmp_path_factory.mktemp("correlations"), BRUTE_FORCE, SLOW_GUESSING)


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    b = build_bus(BusSettings())
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await s.start()
    yield s
    await s.stop()


def correlator(engine: Engine, bus: Bus, store: SqliteStore, **settings: float) -> Correlator:
    return Correlator(
        catalog=Correlations(engine.correlations),
        bus=bus,
        store=store,
        settings=CorrelateSettings(batch_size=50),
        correlation=SETTINGS.model_copy(update=settings),
    )


async def stored_alerts(store: SqliteStore) -> list[Alert]:
    out: list[Alert] = []
    cursor = None
    while True:
        page = await store.search_alerts(AlertQuery(limit=500, cursor=cursor))
        out += page.items
        cursor = page.next_cursor
        if not cursor:
            return out


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(*stages: Stage) -> AsyncIterator[None]:
    """The stages run inside the block and are stopped when it ends, however it ends."""
    tasks = [asyncio.create_task(stage.run()) for stage in stages]
    try:
        yield
    finally:
        for stage in stages:
            stage.stop()
        await asyncio.gather(*tasks)


async def test_detector_and_correlation_stage_raise_the_brute_force_alerts(
    engine: Engine, events: list[Event], bus: Bus, store: SqliteStore
) -> None:
    expected = one_pass(engine, matches_of(engine, events), SETTINGS)
    attackers = {a.correlation.group["src_ip"] for a in expected.values() if a.correlation}
    assert ATTACKER in attackers and len(expected) >= 5
    stages: list[Stage] = [
        Detector(engine=engine, bus=bus, store=store, settings=DetectSettings(batch_size=200)),
        correlator(engine, bus, store),
        Grouper(bus=bus, store=store, cases=Cases(store), settings=IncidentSettings()),
    ]

    async def correlated() -> bool:
        found = [a for a in await stored_alerts(store) if a.correlation]
        return len(found) >= len(expected) and all(a.incident_id for a in found)

    async with running(*stages):
        await bus.publish(Topic.events, encode(events))
        await eventually(correlated)
        await asyncio.sleep(1.5)  # an extra or a duplicate would show by now
    stored = await stored_alerts(store)
    got = {a.id: a for a in stored if a.correlation}
    assert sorted(got) == sorted(expected)
    assert [comparable(got[i]) for i in sorted(got)] == [
        comparable(expected[i]) for i in sorted(got)
    ]
    # The silenced base rule raised no alert of its own; the other linux rules still do.
    assert not [a for a in stored if a.rule_id == SSH_FAILURE]
    assert [a for a in stored if not a.correlation]
    incidents = {a.incident_id for a in got.values()}
    assert None not in incidents
    ours = [a for a in got.values() if a.rule_id == BRUTE_FORCE_ID]  # beside the city's own
    first = min(ours, key=lambda a: a.time)
    assert first.correlation is not None and first.correlation.value >= 10
    assert first.host == "ip-10-77-20-248"
    assert len(await store.get_events(first.correlation.event_ids, tenants=None)) == len(
        first.correlation.event_ids
    )


async def test_a_stage_replaced_half_way_restores_its_state_and_ends_with_the_same_alerts(
    engine: Engine, events: list[Event], bus: Bus, store: SqliteStore
) -> None:
    expected = one_pass(engine, matches_of(engine, events), SETTINGS)
    matches = matches_of(engine, events)
    half = split_inside_a_window(matches, expected)
    # No idle flush while the stage is replaced: the stream is not idle, only its reader.
    first = correlator(engine, bus, store, idle_flush_s=5)

    async def drained() -> bool:
        return fed(first) >= half

    async with running(first):
        await bus.publish(Topic.matches, encode(matches[:half]))
        await eventually(drained)
    assert len(await stored_alerts(store)) < len(expected)
    assert first.restored == 0

    second = correlator(engine, bus, store, idle_flush_s=5)

    async def done() -> bool:
        return fed(second) >= len(matches) and not second._outbox

    async with running(second):
        await bus.publish(Topic.matches, encode(matches[half:]))
        await eventually(done)
        await asyncio.sleep(5 + 2)  # the idle flush, and an extra or a duplicate would show
    assert second.restored > 0, "six-hour windows are open across the replacement"
    got = {a.id: a for a in await stored_alerts(store)}
    missing = [expected[i].rule_title for i in set(expected) - set(got)]
    extra = [got[i].rule_title for i in set(got) - set(expected)]
    assert sorted(got) == sorted(expected), (missing, extra)
    assert [comparable(got[i]) for i in sorted(got)] == [
        comparable(expected[i]) for i in sorted(got)
    ]


def fed(stage: Correlator) -> int:
    """Matches the stage has taken in (its partitions' positions)."""
    return sum(task.fed for task in stage._tasks.values())


def split_inside_a_window(matches: list[CorrelationMatch], expected: dict[str, Alert]) -> int:
    """The index of the middle match of the largest six-hour window that fires: a stage
    replaced there must bring the window's first half over, or it counts afresh."""
    slow = [a for a in expected.values() if a.rule_id == SLOW_GUESSING_ID and a.correlation]
    widest = max(slow, key=lambda a: len(a.correlation.alert_ids) if a.correlation else 0)
    assert widest.correlation is not None
    middle = widest.correlation.alert_ids[len(widest.correlation.alert_ids) // 2]
    return next(i for i, m in enumerate(matches) if m.alert_id == middle)


def test_restore_reads_up_to_the_last_position_and_names_the_torn_tail() -> None:
    records = [
        ("t:a", b'{"tenant": "a"}'),
        ("g:x", b"1"),
        (POSITION, b"7"),
        ("g:x", None),
        (POSITION, b"9"),
        ("g:y", b"2"),  # a checkpoint cut short: not applied, rewritten by the new owner
        ("t:a", b'{"tenant": "a", "watermark": "2017-01-01T00:00:00Z"}'),
    ]
    snapshot, position, torn = restored_state(records)
    assert position == 9
    assert [t.tenant for t in snapshot.tenants] == ["a"] and snapshot.tenants[0].watermark is None
    assert snapshot.groups == []
    assert torn == {"g:y", "t:a"}
    assert restored_state([]) == (restored_state([])[0], 0, set())
