"""Fixtures of the API tests: the running API with accounts (see _access.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api._access import Api, running_api, settings_for


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(settings_for(tmp_path)) as running:
        yield running
