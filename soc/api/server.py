"""Serve the whole service inside the caller's event loop (tests, benchmarks, embedding)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from soc.api.app import create_app
from soc.app import Service
from soc.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(
    settings: Settings,
    *,
    port: int | None = None,
    tls: tuple[str, str] | None = None,
) -> AsyncIterator[str]:
    """`soc run` on 127.0.0.1 in this loop; yields its base URL, stops on exit.

    ``tls``: (certificate file, key file) to serve HTTPS.
    """
    port = port or free_port()
    app = create_app(Service(settings, workers=True))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            forwarded_allow_ips=settings.api.forwarded_allow_ips,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.05)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
