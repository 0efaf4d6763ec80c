"""Fixtures shared by the contract suites: a fresh store of each kind per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soc.store import Store
from tests.stores import BACKENDS, fresh_store


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s
