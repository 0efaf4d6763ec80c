"""Fixtures shared by the contract suites: a fresh store of each kind per test, or two on
the same database (two processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soc.store import Store
from tests.stores import BACKENDS, fresh_store, fresh_stores


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


@pytest.fixture(params=BACKENDS)
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on the same SQLite file or OpenSearch prefix, each with its own connection
    or client: two processes."""
    async for a, b in fresh_stores(request, tmp_path, unique_name, count=2):
        yield a, b
