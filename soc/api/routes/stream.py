"""Server-sent events: new alerts and changed incidents, for the caller's tenants."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from soc.api.deps import FeedDep, StreamPrincipal
from soc.api.feed import Listener
from soc.security.roles import can, scope, unit_of

router = APIRouter(prefix="/api/v1", tags=["live"])

KEEPALIVE_S = 15.0


@router.get(
    "/stream",
    summary="Live updates as server-sent events (`event: alert` / `event: incident`)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(request: Request, principal: StreamPrincipal, feed: FeedDep) -> StreamingResponse:
    tenants = scope(principal, "incidents:read")
    listener = Listener(
        tenants=tenants,
        alerts=can(principal, "alerts:read"),
        unit=unit_of(principal),
        drills=can(principal, "drills:read"),
    )

    async def events() -> AsyncIterator[str]:
        feed.listen(listener)
        try:
            yield "retry: 5000\n\n"
            while not await request.is_disconnected():
                try:
                    kind, item = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: {kind}\ndata: {json.dumps(item)}\n\n"
        finally:
            feed.leave(listener)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
