"""Settings for the real service on one store backend, and the OpenSearch clean-up after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from tests.e2e.harness import backend_settings

BACKENDS = ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)]
"""Parameters of a fixture that runs on each store."""


@asynccontextmanager
async def backend_values(
    request: pytest.FixtureRequest, tmp_path: Path, prefix: str
) -> AsyncIterator[dict[str, Any]]:
    """Settings values (memory bus) for ``request.param``'s store; its indices go afterwards."""
    url = request.getfixturevalue("opensearch_url") if request.param == "opensearch" else None
    values = backend_settings(
        "memory", request.param, prefix=prefix, tmp=tmp_path, kafka=None, opensearch=url
    )
    try:
        yield values
    finally:
        if url:
            client = AsyncOpenSearch(hosts=[url])
            try:
                await client.indices.delete(index=f"{prefix}-*")
                await client.indices.delete_index_template(name=f"{prefix}-*")
            finally:
                await client.close()
