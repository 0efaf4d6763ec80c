"""The agent loses nothing: Kafka outages, kill -9, and a TCP sender faster than a full spool.

Every test runs the real `soc-connector run` process against the real local
Kafka, tails or receives real recorded lines (../shared/datasets/linux/auth.log,
cycled to reach the counts the issue asks for), and then reads the topic back:
every line must be there, in order per file, none twice once deduplicated by
event id (the origin: stream and sequence number).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from soc.models import is_heartbeat
from tests.conftest import ROOT, SHARED

pytestmark = [pytest.mark.kafka]
SERVICES = ["bash", str(ROOT / "deploy/local/services.sh")]
AUTH_LOG = SHARED / "datasets" / "linux" / "auth.log"
CONNECTOR = [sys.executable, "-m", "connectors.cli"]


def real_lines(n: int) -> list[bytes]:
    """``n`` recorded auth.log lines, the file cycled as often as needed."""
    base = AUTH_LOG.read_bytes().splitlines()
    return [base[i % len(base)] for i in range(n)]


def kafka(action: str) -> None:
    done = subprocess.run(
        [*SERVICES, f"kafka-{action}"], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AgentProcess:
    def __init__(self, tmp: Path, bootstrap: str, sources: str, *, spool: str = "64MiB") -> None:
        self.topic = f"test-connector-{uuid.uuid4().hex[:10]}"
        self.metrics_port = free_port()
        self.config = tmp / "connector.yml"
        self.log = tmp / "agent.log"
        self.config.write_text(
            f"""
connector:
  id: test-agent
  tenant: hue-ioc
  data_dir: {tmp / "data"}
  host: test-host
output:
  type: kafka
  bootstrap_servers: ["{bootstrap}"]
  topic: {self.topic}
  request_timeout_s: 5
delivery:
  batch_events: 2000
  retry_max_s: 2
spool:
  max_bytes: {spool}
  segment_bytes: 1MiB
  fsync: never
metrics:
  listen: 127.0.0.1:{self.metrics_port}
sources:
{sources}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CONNECTOR, "run", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while self.health() is None:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "agent did not serve /healthz"
            time.sleep(0.1)

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as r:
                return dict(json.loads(r.read()))
        except OSError:
            return None

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Topic:
    """Reads the agent's topic from the start, keeping partition order."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.messages: list[dict[str, Any]] = []
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Topic:
        self.consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.consumer is not None
        await self.consumer.stop()

    async def until(self, distinct: int, timeout_s: float, agent: AgentProcess) -> None:
        assert self.consumer is not None
        deadline = time.monotonic() + timeout_s
        while len(self.by_origin()) < distinct:
            assert time.monotonic() < deadline, (
                f"{len(self.by_origin())} of {distinct} arrived; agent log:\n"
                + agent.log.read_text()[-3000:]
            )
            got = await self.consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in got.values():
                # The agent's heartbeats travel on the topic too, marked by a header.
                self.messages += [
                    json.loads(r.value) for r in records if not is_heartbeat(r.headers)
                ]

    def by_origin(self) -> dict[tuple[str, int, int], dict[str, Any]]:
        out: dict[tuple[str, int, int], dict[str, Any]] = {}
        for m in self.messages:
            o = m["origin"]
            out.setdefault((o["stream"], o["seq"], o["part"]), m)
        return out

    def first_seen_order(self, stream: str) -> list[int]:
        seen: set[int] = set()
        order = []
        for m in self.messages:
            o = m["origin"]
            if o["stream"] == stream and o["seq"] not in seen:
                seen.add(o["seq"])
                order.append(o["seq"])
        return order


def check_file_arrived(topic: Topic, lines: list[bytes]) -> str:
    """Every line once, in file order; returns the file's stream."""
    streams = {m["origin"]["stream"] for m in topic.messages}
    assert len(streams) == 1, streams
    (stream,) = streams
    got = topic.by_origin()
    assert len(got) == len(lines)
    for seq, line in enumerate(lines):
        m = got[(stream, seq, 0)]
        assert m["record"]["message"] == line.decode(), f"line {seq}"
    assert topic.first_seen_order(stream) == list(range(len(lines))), "out of order"
    return stream


def write_slowly(path: Path, lines: list[bytes], chunks: int) -> Iterator[None]:
    step = max(1, len(lines) // chunks)
    with path.open("ab") as f:
        for i in range(0, len(lines), step):
            f.write(b"".join(line + b"\n" for line in lines[i : i + step]))
            f.flush()
            yield


def file_source(path: Path) -> str:
    return f"""  - name: auth
    type: file
    paths: ["{path}"]
    format: auth
    scan_interval_s: 0.2
"""


async def test_kafka_outage_while_tailing_a_growing_file(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    log_file = tmp_path / "auth.log"
    lines = real_lines(51_000)
    head, tail = lines[:1_000], lines[1_000:]
    log_file.write_bytes(b"".join(line + b"\n" for line in head))
    agent = AgentProcess(tmp_path, kafka_bootstrap, file_source(log_file))
    agent.start()
    try:
        async with Topic(kafka_bootstrap, agent.topic) as topic:
            await topic.until(len(head), 60, agent)
            kafka("stop")
            try:
                for _ in write_slowly(log_file, tail, chunks=50):  # 50,000 lines while down
                    await asyncio.sleep(0.05)
                deadline = time.monotonic() + 60

                def spooling() -> bool:
                    health = agent.health() or {}
                    return bool(
                        agent.metric("soc_connector_spool_events") >= len(tail)
                        and health.get("status") == "degraded"
                        and health["destination"]["up"] is False
                    )

                while not spooling():  # every new line is in the spool, none delivered
                    assert time.monotonic() < deadline, agent.log.read_text()[-3000:]
                    await asyncio.sleep(0.2)
            finally:
                kafka("start")
            await topic.until(len(lines), 180, agent)
            check_file_arrived(topic, lines)
            assert agent.metric("soc_connector_delivery_failures_total") >= 1
    finally:
        agent.stop()


async def test_kill_9_mid_stream_and_restart(tmp_path: Path, kafka_bootstrap: str) -> None:
    log_file = tmp_path / "auth.log"
    lines = real_lines(30_000)
    agent = AgentProcess(tmp_path, kafka_bootstrap, file_source(log_file))
    log_file.write_bytes(b"")
    agent.start()
    try:
        async with Topic(kafka_bootstrap, agent.topic) as topic:
            writer = write_slowly(log_file, lines, chunks=30)
            for _ in range(10):
                next(writer)
                await asyncio.sleep(0.1)
            await topic.until(3_000, 60, agent)
            agent.kill9()  # mid-stream: the file is still growing
            arrived_before_kill = len(topic.by_origin())
            assert arrived_before_kill < len(lines)
            for _ in writer:
                pass
            agent.start()
            await topic.until(len(lines), 120, agent)
            check_file_arrived(topic, lines)
            resent = len(topic.messages) - len(lines)
            print(f"kill -9 after {arrived_before_kill} lines; {resent} resent")
    finally:
        agent.stop()


async def test_tcp_sender_outpacing_a_full_spool_is_slowed_not_dropped(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    port = free_port()
    sources = f"""  - name: net
    type: syslog
    protocol: tcp
    listen: 127.0.0.1:{port}
    framing: newline
    format: auth
"""
    agent = AgentProcess(tmp_path, kafka_bootstrap, sources, spool="1MiB")
    agent.start()
    lines = real_lines(120_000)  # about 12 MB: more than the socket buffers and the spool hold
    payload = b"".join(line + b"\n" for line in lines)
    sent = 0
    try:
        async with Topic(kafka_bootstrap, agent.topic) as topic:
            kafka("stop")
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                sock.settimeout(3)
                try:
                    while sent < len(payload):
                        sent += sock.send(payload[sent : sent + 65536])
                    pytest.fail("the sender was never slowed: the spool cannot hold 120,000 lines")
                except TimeoutError:
                    pass  # slowed: the agent stopped reading while its spool is full
                assert sent < len(payload)
                assert agent.metric("soc_connector_spool_full") == 1
                # bounded: the spool never holds more than max_bytes (an entry alone larger
                # than that would be let into an empty spool; a batch here is ~300 KiB)
                assert 0 < agent.metric("soc_connector_spool_bytes") <= 1 << 20
            finally:
                kafka("start")
            sock.settimeout(60)
            sock.sendall(payload[sent:])
            sock.close()
            await topic.until(len(lines), 180, agent)
            streams = {m["origin"]["stream"] for m in topic.messages}
            assert len(streams) == 1
            (stream,) = streams
            got = topic.by_origin()
            assert [got[(stream, i, 0)]["record"]["message"] for i in range(len(lines))] == [
                line.decode() for line in lines
            ]
            assert agent.metric("soc_connector_backpressure_seconds_total") > 0
    finally:
        agent.stop()
