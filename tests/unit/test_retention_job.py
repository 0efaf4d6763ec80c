"""The retention job: a pass deletes what no period covers, counts it and logs it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from soc.incidents.cases import Cases
from soc.settings import RetentionSettings, SqliteSettings, StoreSettings
from soc.stages.retention import RetentionJob
from soc.store import build_store
from soc.store.eventquery import EventQuery
from tests.contract._events import recorded

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def deleted_so_far(kind: str) -> float:
    return REGISTRY.get_sample_value("soc_retention_deleted_total", {"kind": kind}) or 0.0


async def test_a_pass_deletes_expired_events_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    retention = RetentionSettings(events_days=5)
    settings = StoreSettings(sqlite=SqliteSettings(path=tmp_path / "soc.db"), retention=retention)
    store = build_store(settings)
    await store.start()
    try:
        events = recorded()[:300]
        old = [e.model_copy(update={"time": NOW - timedelta(days=6)}) for e in events[:100]]
        kept = [e.model_copy(update={"time": NOW - timedelta(days=4)}) for e in events[100:]]
        await store.put_events(old + kept)
        job = RetentionJob(store=store, cases=Cases(store), settings=retention, clock=lambda: NOW)
        before = deleted_so_far("events")
        runs_before = REGISTRY.get_sample_value("soc_retention_runs_total", {"result": "ok"}) or 0
        with caplog.at_level(logging.INFO, logger="soc.stages.retention"):
            assert (await job.run_once())["events"] == 100
        assert deleted_so_far("events") - before == 100
        runs = REGISTRY.get_sample_value("soc_retention_runs_total", {"result": "ok"})
        assert runs == runs_before + 1
        assert "retention deleted expired records" in caplog.text
        left = [e async for b in store.scan_events(EventQuery()) for e in b]
        assert {e.id for e in left} == {e.id for e in kept}
        assert (await job.run_once())["events"] == 0
    finally:
        await store.stop()
