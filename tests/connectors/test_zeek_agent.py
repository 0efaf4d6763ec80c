"""The agent ships Zeek's recorded logs end to end: file source, zeek format, Kafka.

A ``zeek`` file source tails OTRF's recorded dns.log and kerberos.log (campaign
06, MIT) into the real local Kafka; the agent is stopped with dns.log half
written and started again once the rest is appended, so the second agent reads
the file from its middle and needs the header lines the registry kept. The topic
is read back: every record once, parsed, under its zeek logsource.
"""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from connectors.agent import Agent
from connectors.config import parse_config
from connectors.metrics import EVENTS_ACKED
from connectors.registry import Registry
from soc.models import is_heartbeat
from tests.conftest import SHARED

pytestmark = [pytest.mark.kafka]
ZIP = SHARED / "datasets/otrf/zeek/LSASS_campaign_06_zeek_logs.zip"


def acked() -> float:
    return float(EVENTS_ACKED.labels("zeek")._value.get())


async def run_until(agent: Agent, events: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    deadline = time.monotonic() + 30
    while acked() < events:
        assert time.monotonic() < deadline, f"{acked()} of {events} acknowledged"
        if task.done():
            await task
        await asyncio.sleep(0.05)
    stop.set()
    await task


async def read_topic(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500, max_records=10_000)
            out += [  # the agent's heartbeats travel on the topic too, marked by a header
                json.loads(r.value)
                for records in got.values()
                for r in records
                if not is_heartbeat(r.headers)
            ]
    finally:
        await consumer.stop()
    return out


async def test_a_zeek_file_source_ships_the_records_across_a_restart_mid_file(
    tmp_path: Path, kafka_bootstrap: str, unique_name: str
) -> None:
    with zipfile.ZipFile(ZIP) as z:
        dns, kerberos = z.read("dns.log"), z.read("kerberos.log")
    logs = tmp_path / "zeek"
    logs.mkdir()
    dns_lines = dns.splitlines(keepends=True)
    (logs / "dns.log").write_bytes(b"".join(dns_lines[:1000]))  # 8 header lines, 992 records
    (logs / "kerberos.log").write_bytes(kerberos)
    cfg = parse_config(
        f"""
connector: {{id: sensor-agent, tenant: t, data_dir: "{tmp_path}/data", host: zeek-sensor-1}}
output: {{type: kafka, bootstrap_servers: ["{kafka_bootstrap}"], topic: {unique_name}}}
metrics: {{listen: null}}
sources:
  - {{name: zeek, type: file, paths: ["{logs}/*.log"], format: zeek, scan_interval_s: 0.05}}
"""
    )
    start = acked()
    await run_until(Agent(cfg), start + 992 + 5)
    (stream,) = [
        s
        for s, cp in Registry(tmp_path / "data/registry").load("zeek")["files"].items()
        if cp["path"].endswith("dns.log")
    ]
    kept = Registry(tmp_path / "data/registry").load("zeek")["files"][stream]["header"]
    assert [h.split("\t")[0] for h in kept] == [
        "#separator \\x09",
        "#set_separator",
        "#empty_field",
        "#unset_field",
        "#path",
        "#fields",
        "#types",
    ]
    with open(logs / "dns.log", "ab") as f:
        f.write(b"".join(dns_lines[1000:]))  # the rest, #close included
    await run_until(Agent(cfg), start + 2312 + 5)

    messages = await read_topic(kafka_bootstrap, unique_name, 2312 + 5)
    assert len(messages) == 2312 + 5
    assert [m for m in messages if "parse_error" in m["record"]] == []
    assert Counter(m["logsource"]["service"] for m in messages) == {"dns": 2312, "kerberos": 5}
    assert {m["logsource"]["product"] for m in messages} == {"zeek"}
    assert {m["host"] for m in messages} == {"zeek-sensor-1"}  # the sensor, not an address
    tail = [m for m in messages if m["origin"]["stream"] == stream and m["origin"]["seq"] >= 1000]
    assert len(tail) == 2312 - 992  # read by the second agent, from the middle of the file
    assert all(isinstance(m["record"]["id.orig_p"], int) for m in tail)
    seqs = sorted(m["origin"]["seq"] for m in messages if m["origin"]["stream"] == stream)
    assert seqs == list(range(8, 2320))  # the header lines are numbered, and give no event
