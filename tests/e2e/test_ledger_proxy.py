"""A block of events lost between a real agent and the SOC, and found by the loss ledger.

A real `soc-connector run` tails a recorded auth.log into the SOC through an HTTP proxy.
The proxy drops one batch on the floor while answering the agent as the SOC would (a
200 that accepts every line), so the agent believes it delivered it: only the ledger can
tell. It lists exactly that batch's seqs as a gap. The agent is then run again from the
start of the file (a fresh spool: it sends every line again, under the same seqs): the
gap closes, and everything sent twice is counted as duplicates, never as loss.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from soc.api.server import free_port, serving
from soc.settings import Settings
from tests.conftest import SHARED
from tests.e2e.agents import http_agent_config, start_agent, stop_agent
from tests.e2e.harness import auth, backend_settings

LINES = 300
CHUNK = 60
"""The log grows by this many lines once the previous ones were posted: one batch each."""
DROPPED_BATCH = 3
"""The proxy drops the third ingest POST: a block in the middle of the stream."""


class DroppingProxy:
    """Forwards the agent's requests to the SOC, except one ingest batch it swallows."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.ingest_posts = 0
        self.dropped: list[int] = []
        self.drop = True

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.path == "/api/v1/ingest":
            self.ingest_posts += 1
            if self.drop and self.ingest_posts == DROPPED_BATCH:
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                self.dropped = [line["origin"]["seq"] for line in lines]
                return web.json_response({"accepted": len(lines), "rejected": 0})
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                content=body,
                headers=headers,
            )
        return web.Response(
            status=r.status_code, body=r.content, content_type=r.headers.get("content-type")
        )


async def run_agent(config: Path, until: Any, within: float = 90) -> None:
    """The agent run until ``until()`` holds, then stopped with SIGTERM."""
    proc = await start_agent(config)
    try:
        deadline = time.monotonic() + within
        while not await until():
            assert proc.returncode is None, (await proc.communicate())[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the agent's work did not arrive in time"
            await asyncio.sleep(0.3)
    finally:
        await stop_agent(proc)


async def stream_of(client: httpx.AsyncClient) -> dict[str, Any] | None:
    r = await client.get("/api/v1/sources/ledger", headers=auth("analyst"))
    assert r.status_code == 200, r.text
    streams = r.json()["streams"]
    assert len(streams) <= 1, streams
    return streams[0] if streams else None


async def test_a_batch_dropped_on_the_way_is_the_ledgers_gap_and_a_resend_closes_it(
    tmp_path: Path,
) -> None:
    log = tmp_path / "auth.log"
    lines = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines(keepends=True)[:LINES]
    log.write_bytes(b"".join(lines[:CHUNK]))
    settings = Settings(
        **backend_settings(
            "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
        ),
        sources={"reconcile_s": 0.5, "grace_s": 2.0, "snapshot_s": 0.5},
    )
    async with (
        serving(settings) as soc_url,
        httpx.AsyncClient(base_url=soc_url, timeout=10) as client,
    ):
        proxy = DroppingProxy(soc_url)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            first = http_agent_config(
                tmp_path, f"http://127.0.0.1:{port}", log, data_dir=tmp_path / "a1"
            )

            written = CHUNK

            async def gap_listed() -> bool:
                nonlocal written
                if written < LINES and proxy.ingest_posts >= written // CHUNK:
                    with log.open("ab") as f:  # the log grows as a live one does
                        f.write(b"".join(lines[written : written + CHUNK]))
                    written += CHUNK
                s = await stream_of(client)
                return s is not None and s["lost"] > 0 and s["reported_highest"] == LINES - 1

            await run_agent(first, gap_listed)
            dropped = proxy.dropped
            assert dropped and dropped == list(range(dropped[0], dropped[-1] + 1)), dropped
            assert dropped[0] > 0 and dropped[-1] < LINES - 1, "a block in the middle"
            lost = len(dropped)
            s = await stream_of(client)
            assert s is not None
            assert [(g["from_seq"], g["to_seq"], g["count"]) for g in s["gaps"]] == [
                (dropped[0], dropped[-1], lost)
            ]
            assert (s["records"], s["lost"], s["duplicates"]) == (LINES - lost, lost, 0)

            # The same lines sent again, through the proxy, which now drops nothing.
            proxy.drop = False
            again = http_agent_config(
                tmp_path, f"http://127.0.0.1:{port}", log, data_dir=tmp_path / "a2"
            )

            async def all_arrived() -> bool:
                s = await stream_of(client)
                return s is not None and s["records"] == LINES and s["duplicates"] == (LINES - lost)

            await run_agent(again, all_arrived)
            s = await stream_of(client)
            assert s is not None
            assert (s["gaps"], s["lost"], s["pending"]) == ([], 0, 0)
            assert s["duplicates"] == LINES - lost
        finally:
            await runner.cleanup()
