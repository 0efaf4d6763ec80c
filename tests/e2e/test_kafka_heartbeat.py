"""Heartbeats over Kafka end to end: a real `soc-connector run` with Kafka output tails a
recorded auth.log into its tenant's ingest topic; the running SOC (bridge, heartbeat sink,
store) lists its stream under the topic's tenant. Garbage on the heartbeat path, on the
ingest topic and on the bus's heartbeats topic, is dead-lettered with its reason; the
stage goes on filing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from soc import __version__
from soc.api.server import free_port, serving
from soc.models import HEARTBEAT_HEADER, HEARTBEAT_KIND, Heartbeat, StreamBeat
from soc.settings import Settings
from tests.conftest import SHARED
from tests.e2e.agents import start_agent, stop_agent
from tests.e2e.harness import auth, backend_settings

pytestmark = [pytest.mark.kafka]

TENANT = "hue-ioc"
HEARTBEAT_S = 0.5
MARK = [(HEARTBEAT_HEADER, HEARTBEAT_KIND)]


def agent_config(tmp: Path, bootstrap: str, topic: str, log: Path, metrics_port: int) -> Path:
    cfg = tmp / "agent.yml"
    cfg.write_text(
        f"""
connector: {{id: web-01, tenant: {TENANT}, data_dir: "{tmp / "agent"}", host: web-01,
             heartbeat_s: {HEARTBEAT_S}}}
output: {{type: kafka, bootstrap_servers: ["{bootstrap}"], topic: "{topic}",
          request_timeout_s: 10}}
delivery: {{retry_max_s: 0.5}}
metrics: {{listen: "127.0.0.1:{metrics_port}"}}
sources:
  - {{name: auth, type: file, paths: ["{log}"], format: auth, scan_interval_s: 0.2}}
"""
    )
    return cfg


def soc_settings(
    store: str, prefix: str, tmp: Path, kafka: str, opensearch: str | None
) -> Settings:
    values = backend_settings(
        "kafka", store, prefix=prefix, tmp=tmp, kafka=kafka, opensearch=opensearch
    )
    values["ingest"] = {"kafka_bridge": {"group": f"{prefix}-bridge", "topic_refresh_s": 1}}
    return Settings(**values)


async def make_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def get(client: httpx.AsyncClient, path: str, who: str = "analyst") -> Any:
    r = await client.get(path, headers=auth(who))
    assert r.status_code == 200, r.text
    return r.json()


def metric(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch)]
)
async def test_a_kafka_connectors_heartbeat_lists_its_source_and_garbage_is_dead_lettered(
    store: str,
    tmp_path: Path,
    kafka_bootstrap: str,
    unique_name: str,
    request: pytest.FixtureRequest,
) -> None:
    opensearch = request.getfixturevalue("opensearch_url") if store == "opensearch" else None
    settings = soc_settings(store, unique_name, tmp_path, kafka_bootstrap, opensearch)
    topic = f"{unique_name}.ingest.{TENANT}"
    await make_topic(kafka_bootstrap, topic)
    log = tmp_path / "auth.log"
    lines = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines))
    metrics_port = free_port()
    loop = asyncio.get_running_loop()

    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        proc = await start_agent(agent_config(tmp_path, kafka_bootstrap, topic, log, metrics_port))
        try:
            deadline = loop.time() + 120
            while True:
                found = await get(client, "/api/v1/sources")
                if found and found[0]["seq"] == len(lines) - 1 and not found[0]["backlog"]:
                    break
                assert proc.returncode is None, (await proc.communicate())[1].decode()[-3000:]
                assert loop.time() < deadline, found
                await asyncio.sleep(0.3)
            (s,) = found
            assert s["tenant"] == TENANT  # the ingest topic's
            assert (s["connector"], s["source"], s["host"]) == ("web-01", "auth", "web-01")
            assert s["version"] == __version__
            assert s["state"] == "healthy"
            assert s["interval_s"] == HEARTBEAT_S
            assert s["failures"] == 0
            assert await get(client, "/api/v1/sources", "other") == []

            # The agent's /metrics: the stream's high-water seq sent, and acknowledged.
            metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            labels = f'{{source="auth",stream="{s["stream"]}"}}'
            assert metric(metrics, f"soc_connector_stream_sent_seq{labels}") == len(lines) - 1
            assert metric(metrics, f"soc_connector_stream_acked_seq{labels}") == len(lines) - 1

            # Garbage on the heartbeat path: on the ingest topic with the heartbeat mark,
            # a heartbeat claiming another tenant, an unknown kind; and on the bus topic.
            forged = {
                **json.loads(
                    Heartbeat(
                        connector="web-01", version="1", host="h", interval_s=1
                    ).model_dump_json()
                ),
                "tenant": "hue-dof",
            }
            await produce(
                kafka_bootstrap,
                topic,
                [
                    (b"web-01", b"{not json", MARK),
                    (b"web-01", json.dumps(forged).encode(), MARK),
                    (b"web-01", b'{"record": {"a": 1}}', [(HEARTBEAT_HEADER, b"telemetry")]),
                ],
            )
            await produce(
                kafka_bootstrap, f"{unique_name}.heartbeats", [(b"x/y", b"\xff garbage", None)]
            )
            # A good one after them, from a connector that names no tenant: the topic's.
            other = Heartbeat(
                connector="db-01",
                version="1.0",
                host="db-01",
                interval_s=60,
                streams=[StreamBeat(source="pg", stream="file:/var/log/pg.log", seq=41)],
            )
            await produce(
                kafka_bootstrap, topic, [(b"db-01", other.model_dump_json().encode(), MARK)]
            )

            want = {"not_json", "invalid", "undecodable"}
            while True:
                letters = [
                    d
                    for d in await get(client, "/api/v1/deadletters", "lead")
                    if d["detail"].startswith("heartbeat") or "soc-kind" in d["detail"]
                ]
                db = [x for x in await get(client, "/api/v1/sources") if x["connector"] == "db-01"]
                if len(letters) >= 4 and db:
                    break
                assert loop.time() < deadline, (letters, db)
                await asyncio.sleep(0.3)
            assert {d["reason"] for d in letters} == want, letters
            assert (
                sorted(d["tenant"] for d in letters if d["reason"] != "undecodable") == [TENANT] * 3
            )
            assert any("tenant" in d["detail"] for d in letters if d["reason"] == "invalid")
            assert any("telemetry" in d["detail"] for d in letters)
            assert (db[0]["tenant"], db[0]["seq"], db[0]["state"]) == (TENANT, 41, "healthy")
            assert await get(client, "/api/v1/sources", "other") == []

            # The SOC's own metrics count them.
            soc_metrics = (await client.get("/metrics")).text
            filed = metric(soc_metrics, 'soc_heartbeats_total{result="filed",via="kafka"}')
            rejected = metric(soc_metrics, 'soc_heartbeats_total{result="rejected",via="kafka"}')
            assert filed is not None and filed >= 2
            assert rejected is not None and rejected >= 4
        finally:
            await stop_agent(proc)
