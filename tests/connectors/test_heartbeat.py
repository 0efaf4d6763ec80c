"""The agent's heartbeat: what it reports while its destination is down, and the
spool's per-stream backlog it is built from."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer

from connectors import agent as agent_module
from connectors.agent import Agent
from connectors.config import parse_config
from connectors.metrics import REGISTRY
from connectors.spool import Entry, Spool
from soc import __version__
from soc.api.server import free_port
from soc.models import Heartbeat, is_heartbeat
from tests.conftest import SHARED

AUTH_LOG = SHARED / "datasets/linux/auth.log"


def _entry(source: str, stream: str, first: int, records: int) -> Entry:
    body = b"".join(b'{"n":%d}\n' % i for i in range(records))
    return Entry(source, stream, first, records, records, None, body)


async def test_spool_backlog_is_counted_per_stream_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=1 << 16)
    await spool.put(_entry("auth", "a", 0, 3))
    await spool.put(_entry("auth", "b", 0, 2))
    await spool.put(_entry("auth", "a", 3, 4))
    backlog = spool.backlog()
    assert {k: n for k, (n, _) in backlog.items()} == {("auth", "a"): 7, ("auth", "b"): 2}
    taken = await spool.take(max_events=5, max_bytes=1 << 20)  # a's first, then b's
    assert [(e.stream, e.records) for e in taken] == [("a", 3), ("b", 2)]
    spool.ack(taken)
    assert {k: n for k, (n, _) in spool.backlog().items()} == {("auth", "a"): 4}
    spool.close()
    again = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=1 << 16)
    assert {k: n for k, (n, _) in again.backlog().items()} == {("auth", "a"): 4}
    again.close()


def _agent(tmp: Path, url: str) -> Agent:
    (tmp / "token").write_text("x")
    (tmp / "token").chmod(0o600)
    cfg = parse_config(
        f"""
connector: {{id: web-01, tenant: hue-ioc, data_dir: "{tmp}/data", host: web-01,
             heartbeat_s: 0.2}}
output: {{type: http, url: "{url}", token_file: "{tmp}/token", timeout_s: 2}}
delivery: {{retry_max_s: 0.2}}
metrics: {{listen: null}}
sources:
  - {{name: auth, type: file, paths: ["{tmp}/auth.log"], format: auth}}
"""
    )
    return Agent(cfg)


async def test_heartbeat_reports_backlog_and_failures_while_the_soc_is_down(
    tmp_path: Path,
) -> None:
    lines = AUTH_LOG.read_bytes().splitlines(keepends=True)[:50]
    (tmp_path / "auth.log").write_bytes(b"".join(lines))
    agent = _agent(tmp_path, "http://127.0.0.1:9")  # nothing listens: every send fails
    stop = asyncio.Event()
    run = asyncio.create_task(agent.run(stop, drain_s=0))
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            beat = agent.heartbeat()
            if beat.streams and beat.streams[0].failures >= 2:
                break
            assert asyncio.get_running_loop().time() < deadline, beat
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await run
    assert beat.connector == "web-01"
    assert beat.version == __version__
    assert beat.host == "web-01"
    assert beat.interval_s == 0.2
    assert "tenant" not in beat.model_dump()  # the credential says whose it is
    (s,) = beat.streams
    assert s.source == "auth"
    assert s.seq is None  # nothing acknowledged
    assert s.backlog == len(lines)
    assert s.oldest_s > 0


def _kafka_agent(tmp: Path, bootstrap: str, topic: str, metrics_port: int) -> Agent:
    cfg = parse_config(
        f"""
connector: {{id: web-02, tenant: hue-ioc, data_dir: "{tmp}/data", host: web-02,
             heartbeat_s: 0.3}}
output: {{type: kafka, bootstrap_servers: ["{bootstrap}"], topic: "{topic}",
          request_timeout_s: 10}}
delivery: {{retry_max_s: 0.2}}
metrics: {{listen: "127.0.0.1:{metrics_port}"}}
sources:
  - {{name: auth, type: file, paths: ["{tmp}/auth.log"], format: auth,
      scan_interval_s: 0.1}}
"""
    )
    return Agent(cfg)


def _sample(text: str, name: str, stream: str) -> float | None:
    prefix = f'{name}{{source="auth",stream="{stream}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].rsplit(" ", 1)[1]) if found else None


@pytest.mark.kafka
async def test_kafka_heartbeats_and_the_sent_high_water_mark_on_metrics(
    tmp_path: Path, kafka_bootstrap: str, unique_name: str
) -> None:
    """On Kafka: the heartbeat is a marked message on the events' topic; /metrics shows each
    stream's highest seq sent beside its highest acknowledged; idle, the heartbeat is the
    same bytes, not built again; a new line makes a new one."""
    lines = AUTH_LOG.read_bytes().splitlines(keepends=True)[:40]
    log = tmp_path / "auth.log"
    log.write_bytes(b"".join(lines[:30]))
    topic = f"{unique_name}.ingest.hue-ioc"
    port = free_port()
    agent = _kafka_agent(tmp_path, kafka_bootstrap, topic, port)
    stop = asyncio.Event()
    run = asyncio.create_task(agent.run(stop, drain_s=5))
    loop = asyncio.get_running_loop()

    async def until_acked(seq: int) -> str:
        deadline = loop.time() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
                streams = agent.heartbeat().streams
                if streams and streams[0].seq == seq and not streams[0].backlog:
                    return text
                assert not run.done(), run
                assert loop.time() < deadline, streams
                await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(agent.started.wait(), 10)  # /metrics served from here on
        text = await until_acked(29)
        stream = agent.heartbeat().streams[0].stream
        assert _sample(text, "soc_connector_stream_sent_seq", stream) == 29
        assert _sample(text, "soc_connector_stream_acked_seq", stream) == 29

        idle = agent.heartbeat_body()
        assert agent.heartbeat_body() is idle  # nothing changed: nothing built
        assert Heartbeat.model_validate_json(idle).streams[0].seq == 29

        with log.open("ab") as f:
            f.write(b"".join(lines[30:]))
        text = await until_acked(39)
        assert _sample(text, "soc_connector_stream_sent_seq", stream) == 39
        after = agent.heartbeat_body()
        assert after != idle and Heartbeat.model_validate_json(after).streams[0].seq == 39
        await asyncio.sleep(0.7)  # two more intervals: heartbeats of the new state sent
    finally:
        stop.set()
        await run

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    beats: list[Heartbeat] = []
    events = 0
    try:
        deadline = loop.time() + 20
        while events < len(lines) or not beats or beats[-1].streams[0].seq != 39:
            assert loop.time() < deadline, (events, beats[-1:])
            got = await consumer.getmany(timeout_ms=500)
            for records in got.values():
                for r in records:
                    if is_heartbeat(r.headers):
                        assert r.key == b"web-02"
                        beats.append(Heartbeat.model_validate_json(r.value))
                    else:
                        events += 1
    finally:
        await consumer.stop()
    assert all(b.connector == "web-02" and b.interval_s == 0.3 for b in beats)


def test_the_sent_seq_gauge_keeps_the_most_recent_streams_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded labels: a stream pushed out of the reported set loses both its gauges."""
    monkeypatch.setattr(agent_module, "MAX_STREAM_SERIES", 2)
    agent = _agent(tmp_path, "http://127.0.0.1:9")
    streams = [f"file:/var/log/bound-{unique}.log" for unique in ("a", "b", "c")]
    for i, stream in enumerate(streams):
        agent._sent(_entry("auth", stream, 10 * i, 5))
        agent._delivered(_entry("auth", stream, 10 * i, 3))

    def value(name: str, stream: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"source": "auth", "stream": stream})

    assert value("soc_connector_stream_sent_seq", streams[0]) is None
    assert value("soc_connector_stream_acked_seq", streams[0]) is None
    assert [value("soc_connector_stream_sent_seq", s) for s in streams[1:]] == [14, 24]
    assert [value("soc_connector_stream_acked_seq", s) for s in streams[1:]] == [12, 22]
    assert [s.stream for s in agent.heartbeat().streams] == streams[1:]
