"""Fixtures shared by the contract suites: a fresh store of each kind per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opensearchpy import AsyncOpenSearch

from soc.settings import OpenSearchSettings, SqliteSettings, StoreSettings
from soc.store import Store, build_store


@pytest.fixture(params=["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    url = request.getfixturevalue("opensearch_url") if request.param == "opensearch" else ""
    if url:
        opensearch = OpenSearchSettings(
            hosts=[url], index_prefix=unique_name, refresh_on_write=True, connect_timeout_s=30
        )
        settings = StoreSettings(kind="opensearch", opensearch=opensearch)
    else:
        settings = StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=tmp_path / "db/soc.db"))
    s = build_store(settings)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        if url:
            client = AsyncOpenSearch(hosts=[url])
            try:
                await client.indices.delete(index=f"{unique_name}-*")
                await client.indices.delete_index_template(name=f"{unique_name}-*")
            finally:
                await client.close()
