"""Two real `soc api` processes on one store: the sign-in and ingest limits are the same
as one process's (ADR 0023).

Both processes (on Kafka) run on one SQLite file, and again on one OpenSearch prefix.
Failed sign-ins for one username from one address, sent to each process in turn, lock it
out after the same total as on one process (10), and then both processes refuse it.
Ingest batches of one key, sent to each in turn, are refused (429, ``Retry-After``) once
their lines reach the one bucket's burst.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.e2e.harness import api_keys, auth, free_port, sample_lines, wait_ready
from tests.stores import drop_opensearch_prefix

MAX_FAILURES = 10
BURST = 1000
BATCH = 100
STORES = ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)]
# `soc api` processes share a bus only through Kafka; the processes serve the whole module.
pytestmark = [pytest.mark.kafka, pytest.mark.asyncio(loop_scope="module")]


def _env(store: str, tmp: Path, prefix: str, kafka: str, opensearch: str | None) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
        "SOC_ENV": "production",
        "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
        "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
        "SOC_AUTH__LOGIN__MAX_FAILURES": str(MAX_FAILURES),
        "SOC_AUTH__LOGIN__BURST": "1000",
        "SOC_AUTH__LOGIN__IP_BURST": "1000",
        "SOC_AUTH__INGEST_RATE__BURST": str(BURST),
        "SOC_AUTH__INGEST_RATE__PER_SECOND": "0.5",
        "SOC_BUS__KIND": "kafka",
        "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka,
        "SOC_BUS__KAFKA__TOPIC_PREFIX": prefix,
        "SOC_STORE__KIND": store,
        "SOC_STORE__SQLITE__PATH": str(tmp / "soc.db"),
        "SOC_DATA_DIR": str(tmp),
    }
    if opensearch:
        env |= {
            "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([opensearch]),
            "SOC_STORE__OPENSEARCH__INDEX_PREFIX": prefix,
        }
    return env


def _start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=log.parent,
    )


@pytest_asyncio.fixture(params=STORES, scope="module", loop_scope="module")
async def two_apis(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[list[str]]:
    """The base URLs of two `soc api` processes on one store, once both are ready (shared
    by this module's tests, which use different keys: a username, an ingest key)."""
    tmp_path = tmp_path_factory.mktemp("two-apis")
    unique_name = f"t{uuid.uuid4().hex[:12]}"
    opensearch = (
        request.getfixturevalue("opensearch_url") if request.param == "opensearch" else None
    )
    env = _env(request.param, tmp_path, unique_name, kafka_bootstrap, opensearch)
    log = tmp_path / "api.log"
    ports = [free_port(), free_port()]
    procs = [_start_api(port, env, log) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await wait_ready(client, urls, procs, log, deadline=time.monotonic() + 120)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if opensearch:
            await drop_opensearch_prefix(opensearch, unique_name)


async def test_failed_sign_ins_split_across_two_processes_lock_out_at_one_count(
    two_apis: list[str],
) -> None:
    form = {"username": "analyst.hoa", "password": "not-the-password"}
    async with httpx.AsyncClient(timeout=30) as client:
        statuses = []
        for i in range(MAX_FAILURES):
            r = await client.post(f"{two_apis[i % 2]}/api/v1/auth/token", data=form)
            statuses.append(r.status_code)
        assert statuses == [401] * MAX_FAILURES
        for url in two_apis:
            r = await client.post(f"{url}/api/v1/auth/token", data=form)
            assert r.status_code == 429, r.text
            assert "failed sign-ins" in r.json()["detail"]
            assert int(r.headers["Retry-After"]) > 800
        # Another username from the same address is not locked, on either process.
        r = await client.post(
            f"{two_apis[1]}/api/v1/auth/token", data={**form, "username": "lead.minh"}
        )
        assert r.status_code == 401


async def test_ingest_bursts_split_across_two_processes_meet_one_bucket(
    two_apis: list[str],
) -> None:
    body = b"\n".join(sample_lines()[:BATCH]) + b"\n"
    async with httpx.AsyncClient(timeout=30) as client:
        statuses = []
        for i in range(BURST // BATCH + 2):
            r = await client.post(
                f"{two_apis[i % 2]}/api/v1/ingest",
                content=body,
                headers={**auth("ingest"), "Content-Type": "application/x-ndjson"},
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
    assert statuses == [200] * (BURST // BATCH) + [429, 429], statuses
