"""Run the real service over HTTP on a free port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import httpx
import uvicorn

from soc.api.app import create_app
from soc.app import Service
from soc.settings import ApiKey, Settings

TOKENS = {
    "ingest": "test-ingest-token-hue-ioc",
    "analyst": "test-analyst-token-hue-ioc",
    "other": "test-analyst-token-hue-dof",
    "lead": "test-lead-token-all",
}


def api_keys() -> list[dict[str, Any]]:
    spec = {
        "ingest": ("ingest", ["hue-ioc"]),
        "analyst": ("analyst", ["hue-ioc"]),
        "other": ("analyst", ["hue-dof"]),
        "lead": ("lead", ["*"]),
    }
    return [
        {"name": name, "sha256": ApiKey.hash(TOKENS[name]), "role": role, "tenants": tenants}
        for name, (role, tenants) in spec.items()
    ]


def backend_settings(
    bus: str, store: str, *, prefix: str, tmp: Any, kafka: str | None, opensearch: str | None
) -> dict[str, Any]:
    """Settings for one pair of backends, with names no other test uses."""
    return {
        "env": "production",
        "auth": {"secret_key": "test-secret-not-default", "api_keys": api_keys()},
        "bus": {"kind": bus, "kafka": {"bootstrap_servers": kafka or "", "topic_prefix": prefix,
                                        "partitions": 3}},
        "store": {"kind": store, "sqlite": {"path": str(tmp / "soc.db")},
                  "opensearch": {"hosts": [opensearch or ""], "index_prefix": prefix,
                                 "refresh_on_write": True}},
        "detect": {"batch_size": 200},
        "data_dir": str(tmp),
    }


def sample_lines() -> list[bytes]:
    """The bundled slice of the real recorded LSASS campaign."""
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    return gzip.decompress(data).splitlines()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """`soc run` in-process on 127.0.0.1; yields a client pointed at it."""
    port = free_port()
    app = create_app(Service(settings, workers=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}
