"""Settings for the real service on one store backend, and the OpenSearch clean-up after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import backend_settings
from tests.stores import BACKENDS, drop_opensearch_prefix

__all__ = ["BACKENDS", "backend_values"]


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
            await drop_opensearch_prefix(url, prefix)
