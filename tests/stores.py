"""A fresh store of each kind for a test, and the OpenSearch clean-up after one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opensearchpy import AsyncOpenSearch

from soc.settings import OpenSearchSettings, RetentionSettings, SqliteSettings, StoreSettings
from soc.store import Store, build_store

BACKENDS = ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)]
"""Parameters of a fixture that runs on each store."""


async def drop_opensearch_prefix(url: str, prefix: str) -> None:
    """Delete the indices and index templates a test made under ``prefix``."""
    client = AsyncOpenSearch(hosts=[url])
    try:
        await client.indices.delete(index=f"{prefix}-*")
        await client.indices.delete_index_template(name=f"{prefix}-*")
    finally:
        await client.close()


def store_settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: str,
    *,
    retention: RetentionSettings | None = None,
) -> StoreSettings:
    """Settings of a store of ``request.param``'s kind with its own file or index prefix."""
    periods = retention or RetentionSettings()
    url = request.getfixturevalue("opensearch_url") if request.param == "opensearch" else ""
    if url:
        opensearch = OpenSearchSettings(
            hosts=[url], index_prefix=prefix, refresh_on_write=True, connect_timeout_s=30
        )
        return StoreSettings(kind="opensearch", opensearch=opensearch, retention=periods)
    sqlite = SqliteSettings(path=tmp_path / "db/soc.db")
    return StoreSettings(kind="sqlite", sqlite=sqlite, retention=periods)


async def fresh_store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: str,
    *,
    retention: RetentionSettings | None = None,
) -> AsyncIterator[Store]:
    """A started store of ``request.param``'s kind (its own file or index prefix), then gone."""
    async for stores in fresh_stores(request, tmp_path, prefix, retention=retention):
        yield stores[0]


async def fresh_stores(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: str,
    *,
    retention: RetentionSettings | None = None,
    count: int = 1,
) -> AsyncIterator[list[Store]]:
    """``count`` started stores over the same file or index prefix (as separate processes
    would open it: each its own connection or client), then gone."""
    settings = store_settings(request, tmp_path, prefix, retention=retention)
    stores: list[Store] = []
    try:
        for _ in range(count):
            s = build_store(settings)
            await s.start()
            stores.append(s)
        yield stores
    finally:
        for s in stores:
            await s.stop()
        if settings.kind == "opensearch":
            await drop_opensearch_prefix(settings.opensearch.hosts[0], prefix)
