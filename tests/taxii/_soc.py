"""The SOC's own API served for real on loopback, with TAXII keys of two tenants.

taxii2-client is a blocking ``requests`` client: it needs a real HTTP server, and the
tests call it in a thread (``asyncio.to_thread``) while this loop serves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stix2
import uvicorn

from soc.api.app import create_app
from soc.api.server import free_port
from soc.api.taxii.resources import collection_id
from soc.app import Service
from soc.settings import ApiKey, Settings
from soc.sharing.objects import StixObjects
from tests.api._backends import backend_values

A, B = "hue-ioc", "hue-dof"
KEYS = {
    "taxii-ioc": ("taxii", [A], "test-taxii-key-hue-ioc-0123456789"),
    "taxii-dof": ("taxii", [B], "test-taxii-key-hue-dof-0123456789"),
    "analyst-ioc": ("analyst", [A], "test-analyst-key-hue-ioc-0123456789"),
}
"""name -> (role, tenants, key)."""


@dataclass
class Soc:
    url: str
    service: Service
    objects: StixObjects

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/taxii2/"

    def collection_url(self, tenant: str) -> str:
        return f"{self.url}/taxii2/soc/collections/{collection_id(tenant)}/"


def key(name: str) -> str:
    return KEYS[name][2]


@asynccontextmanager
async def soc_server(values: dict[str, Any]) -> AsyncIterator[Soc]:
    values["auth"]["api_keys"] = [
        {"name": name, "sha256": ApiKey.hash(token), "role": role, "tenants": tenants}
        for name, (role, tenants, token) in KEYS.items()
    ]
    service = Service(Settings(**values), workers=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.05)
        yield Soc(f"http://127.0.0.1:{port}", service, StixObjects(service.store))
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


@asynccontextmanager
async def soc_on(request: pytest.FixtureRequest, tmp_path: Any, prefix: str) -> AsyncIterator[Soc]:
    async with backend_values(request, tmp_path, prefix) as values, soc_server(values) as soc:
        yield soc


def as_dict(obj: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(obj.serialize())
    return parsed


T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def indicators(n: int, *, tenant: str, start: int = 0) -> list[dict[str, Any]]:
    """``n`` STIX 2.1 indicators of IPv4 addresses (documentation ranges), made by stix2."""
    return [
        as_dict(
            stix2.Indicator(
                name=f"{tenant} brute force source {i}",
                pattern=f"[ipv4-addr:value = '198.51.{i // 256 % 256}.{i % 256}']",
                pattern_type="stix",
                valid_from=T0,
                created=T0 + timedelta(seconds=i),
                modified=T0 + timedelta(seconds=i),
            )
        )
        for i in range(start, start + n)
    ]
