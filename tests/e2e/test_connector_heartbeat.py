"""Heartbeats end to end: a real `soc-connector run` tailing a recorded auth.log into the
running service; the SOC lists its stream, then sees it go late and silent once the
agent stops."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from soc.api.server import free_port, serving
from soc.settings import Settings
from tests.conftest import SHARED
from tests.e2e.agents import http_agent_config, start_agent, stop_agent
from tests.e2e.harness import auth, backend_settings

HEARTBEAT_S = 0.5


async def sources(client: httpx.AsyncClient, who: str = "analyst") -> list[dict[str, Any]]:
    r = await client.get("/api/v1/sources", headers=auth(who))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()
    return items


async def test_heartbeats_list_the_stream_then_it_goes_late_and_silent(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    lines = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines))
    settings = Settings(
        **backend_settings(
            "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
        )
    )
    metrics_port = free_port()
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        proc = await start_agent(
            http_agent_config(
                tmp_path, url, log, heartbeat_s=HEARTBEAT_S, metrics_port=metrics_port
            )
        )
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + 90
            while True:
                found = await sources(client)
                if found and found[0]["seq"] == len(lines) - 1:
                    break
                assert proc.returncode is None, (await proc.communicate())[1].decode()[-3000:]
                assert loop.time() < deadline, found
                await asyncio.sleep(0.3)
            (s,) = found
            assert s["tenant"] == "hue-ioc"
            assert (s["connector"], s["source"], s["host"]) == ("web-01", "auth", "web-01")
            assert s["state"] == "healthy"
            assert s["interval_s"] == HEARTBEAT_S
            assert s["failures"] == 0
            assert s["sent"] == len(lines) - 1  # all handed over, and all acknowledged
            # The next heartbeats report the backlog drained.
            while (await sources(client))[0]["backlog"]:
                assert loop.time() < deadline
                await asyncio.sleep(0.3)

            # Another tenant's analyst sees none of it; a lead of all tenants does.
            assert await sources(client, "other") == []
            assert [x["stream"] for x in await sources(client, "lead")] == [s["stream"]]

            # The agent's own metrics: the stream's high-water seq.
            metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            assert (
                f'soc_connector_stream_acked_seq{{source="auth",stream="{s["stream"]}"}} '
                f"{float(len(lines) - 1)}" in metrics
            )
        finally:
            await stop_agent(proc)

        states = []
        deadline = loop.time() + 20
        while not states or states[-1] != "silent":
            assert loop.time() < deadline, states
            state = (await sources(client))[0]["state"]
            if not states or states[-1] != state:
                states.append(state)
            await asyncio.sleep(0.1)
        assert states == ["healthy", "late", "silent"] or states == ["late", "silent"], states
