"""The detect stage when the store fails: a passing fault is retried, a refusal dead-lettered.

The faults are injected around the real SQLite store; the bus, the engine and
the rules are the real ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from soc.bus import Bus, Topic, build_bus
from soc.bus.codec import decode, encode
from soc.detect.load import load_engine
from soc.errors import StoreError
from soc.ingest.ndjson import parse_ndjson
from soc.metrics import ERRORS, EVENTS_PROCESSED
from soc.models import Alert, AlertQuery, DeadLetter, Event, utcnow
from soc.settings import BusSettings, DetectSettings, SqliteSettings
from soc.stages.detect import Detector
from soc.store.sqlite import SqliteStore
from tests.e2e.harness import sample_lines, service_settings

ROOT = Path(__file__).resolve().parents[2]
ENGINE = load_engine(service_settings().detect)


class FaultyStore(SqliteStore):
    """SQLite whose ``put_alerts`` fails its first ``failures`` calls."""

    def __init__(self, path: Path, *, failures: int, retriable: bool) -> None:
        super().__init__(SqliteSettings(path=path))
        self.failures = failures
        self.retriable = retriable
        self.calls = 0

    async def put_alerts(self, alerts: Sequence[Alert]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreError("injected fault", retriable=self.retriable)
        await super().put_alerts(alerts)


def sample_events() -> list[Event]:
    return parse_ndjson(
        b"\n".join(sample_lines()),
        tenant="hue-ioc",
        source="t",
        received=utcnow(),
        max_line_bytes=1 << 20,
    ).events


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    b = build_bus(BusSettings())
    await b.start()
    yield b
    await b.stop()


async def eventually(check, within: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def processed() -> float:
    return EVENTS_PROCESSED.labels(stage="detect")._value.get()


async def test_passing_store_fault_is_retried_without_loss(bus: Bus, tmp_path: Path) -> None:
    events = sample_events()
    expected = {Alert.make_id(rule_id=r.id, event_id=e.id) for e in events for r in ENGINE.match(e)}
    store = FaultyStore(tmp_path / "db", failures=2, retriable=True)
    await store.start()
    errors_before = ERRORS.labels(stage="detect", error_type="StoreError")._value.get()
    detector = Detector(engine=ENGINE, bus=bus, store=store, settings=DetectSettings())
    task = asyncio.create_task(detector.run())
    try:
        await bus.publish(Topic.events, encode(events))

        async def all_stored() -> bool:
            page = await store.search_alerts(AlertQuery(limit=500))
            return {a.id for a in page.items} == expected

        await eventually(all_stored)
    finally:
        detector.stop()
        await task
        await store.stop()
    assert store.calls > 2
    assert ERRORS.labels(stage="detect", error_type="StoreError")._value.get() == errors_before + 2


async def test_store_refusal_dead_letters_the_batch_and_goes_on(bus: Bus, tmp_path: Path) -> None:
    alerting = [e for e in sample_events() if ENGINE.match(e)]
    quiet = [e for e in sample_events() if not ENGINE.match(e)][:50]
    store = FaultyStore(tmp_path / "db", failures=10**9, retriable=False)
    await store.start()
    dead_sub = await bus.subscribe(Topic.deadletters, "test")
    detector = Detector(
        engine=ENGINE, bus=bus, store=store, settings=DetectSettings(batch_size=10_000)
    )
    task = asyncio.create_task(detector.run())
    letters: list[DeadLetter] = []
    try:
        await bus.publish(Topic.events, encode(alerting))

        async def all_dead_lettered() -> bool:
            letters.extend(
                decode(DeadLetter, await dead_sub.poll(max_records=1000, timeout_s=0.1))[0]
            )
            return len(letters) >= len(alerting)

        await eventually(all_dead_lettered)
        assert {d.reason for d in letters} == {"store_refused"}
        assert {Event.model_validate_json(d.payload).id for d in letters} == {
            e.id for e in alerting
        }
        assert (await store.search_alerts(AlertQuery())).items == []

        before = processed()
        await bus.publish(Topic.events, encode(quiet))

        async def went_on() -> bool:
            return processed() - before >= len(quiet)

        await eventually(went_on)
    finally:
        detector.stop()
        await task
        await dead_sub.close()
        await store.stop()
