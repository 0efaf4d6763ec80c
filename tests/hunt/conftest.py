"""A fresh store of each kind per test, and a started memory bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soc.bus import Bus, build_bus
from soc.settings import BusSettings
from soc.store import Store
from tests.stores import BACKENDS, fresh_store


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    b = build_bus(BusSettings(kind="memory"))
    await b.start()
    try:
        yield b
    finally:
        await b.stop()
