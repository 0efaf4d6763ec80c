"""The detector's live indicators over a real SQLite store: built, rebuilt when the
generation moves, and past a validity boundary without reading the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from soc.intel.live import LiveIndicators
from soc.intel.models import IndicatorType
from soc.intel.store import Indicators
from soc.models import utcnow
from soc.settings import IndicatorMatchSettings, SqliteSettings
from soc.store.sqlite import SqliteStore
from tests.intel_data import ATTACKER, indicator


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await s.start()
    yield s
    await s.stop()


async def test_rebuilt_on_change_and_at_validity_boundaries(store: SqliteStore) -> None:
    intel = Indicators(store)
    live = LiveIndicators(intel, IndicatorMatchSettings())
    assert (await live.load()).empty
    assert not await live.refresh()  # nothing changed

    now = utcnow()
    short = indicator(
        IndicatorType.ip, ATTACKER, valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(seconds=1),
    )  # fmt: skip
    later = indicator(
        IndicatorType.cidr, "24.151.0.0/16", source="isac", valid_from=now + timedelta(days=1)
    )
    await intel.put([short, later])
    assert await live.refresh()
    matcher = live.current
    assert (len(matcher), matcher.live_count) == (2, 1)
    assert matcher.generation == await intel.generation()
    assert matcher.next_change == short.valid_until

    await asyncio.sleep(1.1)
    assert await live.refresh()  # the boundary passed: rebuilt from what it holds
    assert (len(live.current), live.current.live_count) == (1, 0)
    assert live.current.next_change == later.valid_from
    assert not await live.refresh()

    await intel.revoke(later.id)
    assert await live.refresh()
    assert live.current.empty
