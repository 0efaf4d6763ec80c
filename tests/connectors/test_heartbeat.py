"""The agent's heartbeat: what it reports while its destination is down, and the
spool's per-stream backlog it is built from."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.agent import Agent
from connectors.config import parse_config
from connectors.spool import Entry, Spool
from soc import __version__
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
