from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soc.settings import Settings
from tests.e2e.detectors import Rig, kafka_rig
from tests.e2e.harness import backend_settings


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


PAIRS = [
    pytest.param(("memory", "sqlite"), id="memory+sqlite"),
    pytest.param(
        ("kafka", "opensearch"),
        id="kafka+opensearch",
        marks=[pytest.mark.kafka, pytest.mark.opensearch],
    ),
]


@pytest.fixture(params=PAIRS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Settings:
    """The whole service's settings on each pair of backends, with names of this test's own."""
    bus, store = request.param
    kafka = request.getfixturevalue("kafka_bootstrap") if bus == "kafka" else None
    opensearch = request.getfixturevalue("opensearch_url") if store == "opensearch" else None
    values = backend_settings(
        bus, store, prefix=unique_name, tmp=tmp_path, kafka=kafka, opensearch=opensearch
    )
    return Settings(**values)
