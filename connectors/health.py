"""The agent's small HTTP face: ``/healthz`` (JSON state) and ``/metrics`` (Prometheus).

``/healthz`` answers 200 while every source works (even when the destination
is down: the agent is then doing its job, spooling), 503 when a source cannot
work (a port it could not bind, say). Its body says which, and how full the
spool is and how old its oldest event.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.config import split_listen
from connectors.metrics import REGISTRY


class Reporting(Protocol):
    """What the health endpoint asks of the agent."""

    def health(self) -> dict[str, Any]: ...


async def serve(agent: Reporting, listen: str) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        state = agent.health()
        return web.json_response(state, status=503 if state["status"] == "failing" else 200)

    async def metrics(_: web.Request) -> web.Response:
        agent.health()  # refreshes the spool-age gauge
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = split_listen(listen)
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
