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


async def fresh_store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    prefix: str,
    *,
    retention: RetentionSettings | None = None,
) -> AsyncIterator[Store]:
    """A started store of ``request.param``'s kind (its own file or index prefix), then gone."""
    periods = retention or RetentionSettings()
    url = request.getfixturevalue("opensearch_url") if request.param == "opensearch" else ""
    if url:
        opensearch = OpenSearchSettings(
            hosts=[url], index_prefix=prefix, refresh_on_write=True, connect_timeout_s=30
        )
        settings = StoreSettings(kind="opensearch", opensearch=opensearch, retention=periods)
    else:
        sqlite = SqliteSettings(path=tmp_path / "db/soc.db")
        settings = StoreSettings(kind="sqlite", sqlite=sqlite, retention=periods)
    s = build_store(settings)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        if url:
            await drop_opensearch_prefix(url, prefix)
