"""Keys, settings and the real service over HTTP for the end-to-end tests."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from soc.api.server import free_port, serving
from soc.settings import ApiKey, Settings

__all__ = [
    "auth",
    "backend_settings",
    "free_port",
    "http_get",
    "running_service",
    "sample_lines",
    "service_settings",
    "wait_ready",
]

RULES = Path(__file__).resolve().parents[2] / "soc/detections/rules"
TOKENS = {
    "ingest": "test-ingest-token-hue-ioc",
    "analyst": "test-analyst-token-hue-ioc",
    "other": "test-analyst-token-hue-dof",
    "lead": "test-lead-token-all",
    "lead_ioc": "test-lead-token-hue-ioc",
    "taxii": "test-taxii-token-hue-ioc",
}


def api_keys() -> list[dict[str, Any]]:
    spec = {
        "ingest": ("ingest", ["hue-ioc"]),
        "analyst": ("analyst", ["hue-ioc"]),
        "other": ("analyst", ["hue-dof"]),
        "lead": ("lead", ["*"]),
        "lead_ioc": ("lead", ["hue-ioc"]),
        "taxii": ("taxii", ["hue-ioc"]),
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
        "bus": {
            "kind": bus,
            "kafka": {"bootstrap_servers": kafka or "", "topic_prefix": prefix, "partitions": 3},
        },
        "store": {
            "kind": store,
            "sqlite": {"path": str(tmp / "soc.db")},
            "opensearch": {
                "hosts": [opensearch or ""],
                "index_prefix": prefix,
                "refresh_on_write": True,
            },
            # The recorded events are of 2023: no period may expire them mid-test
            # (retention has its own tests, tests/contract/test_retention.py).
            "retention": {"events_days": None, "dead_letters_days": None},
        },
        "detect": {"batch_size": 200, "rules": [str(RULES)], "cache_dir": None},
        "data_dir": str(tmp),
    }


def service_settings() -> Settings:
    """Settings whose engine is the service's default: the project's rules and pipelines."""
    return Settings(env="development", detect={"rules": [str(RULES)], "cache_dir": None})


def sample_lines() -> list[bytes]:
    """The bundled slice of the real recorded LSASS campaign."""
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    return gzip.decompress(data).splitlines()


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """`soc run` in-process on 127.0.0.1; yields a client pointed at it."""
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """Status and body of a GET to a service in another process; 0 when nothing answers."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


async def wait_ready(
    client: httpx.AsyncClient,
    urls: list[str],
    procs: list[subprocess.Popen[bytes]],
    log: Path,
    *,
    deadline: float,
) -> None:
    """Until every service at ``urls`` answers ``/readyz`` 200; fails with the log's tail
    if one of ``procs`` exits or ``deadline`` (``time.monotonic()``) passes."""
    for url in urls:
        while True:
            assert all(p.poll() is None for p in procs), log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
