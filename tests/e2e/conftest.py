from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.detectors import Rig, kafka_rig


@pytest.fixture
async def rig(
    kafka_bootstrap: str, opensearch_url: str, unique_name: str, shared_dir: Path, tmp_path: Path
) -> AsyncIterator[Rig]:
    """Kafka topics and OpenSearch indices of this test's own, and 8,000+ recorded events."""
    async for r in kafka_rig(
        kafka=kafka_bootstrap,
        opensearch=opensearch_url,
        prefix=unique_name,
        shared_dir=shared_dir,
        tmp=tmp_path,
        extra_events=8_000,
    ):
        yield r
