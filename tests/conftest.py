"""Shared fixtures: where the real Kafka and OpenSearch are, and fresh names per test.

`make test` starts the local Kafka and OpenSearch (deploy/local/services.sh) and
sets SOC_TEST_KAFKA and SOC_TEST_OPENSEARCH. Without them the tests that need
those services are skipped with the reason shown; under CI they fail instead,
so they can never be skipped silently there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def _service(var: str, what: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    message = f"{var} is not set: run `make test`, which starts {what}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _service("SOC_TEST_KAFKA", "a local Kafka broker")


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return _service("SOC_TEST_OPENSEARCH", "a local OpenSearch node")


@pytest.fixture
def unique_name() -> str:
    """A fresh topic or index prefix, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the repository must sit beside ../shared")
    return SHARED
