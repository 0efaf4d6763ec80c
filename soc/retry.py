"""Retry a stage's step until it succeeds: a backend outage delays data, never drops it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from soc.bus.base import Message, Subscription
from soc.errors import BackendError
from soc.log import get_logger
from soc.metrics import ERRORS

log = get_logger(__name__)

RETRY_MAX_S = 30.0


async def until_done(
    step: Callable[[], Awaitable[None]], *, stage: str, stopping: asyncio.Event
) -> None:
    """Run ``step`` until it returns; back off on BackendError; give up only when stopping."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except BackendError as e:
            ERRORS.labels(stage=stage, error_type=type(e).__name__).inc()
            if stopping.is_set():
                raise
            log.warning(
                "stage step failed; retrying",
                extra={"stage": stage, "error": str(e), "retry_in_s": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


async def poll_retrying(
    sub: Subscription, *, max_records: int, stage: str, stopping: asyncio.Event
) -> list[Message]:
    """The next messages; a bus outage is waited out, not raised (unless stopping)."""
    batch: list[Message] = []

    async def step() -> None:
        nonlocal batch
        batch = await sub.poll(max_records=max_records, timeout_s=0.5)

    await until_done(step, stage=stage, stopping=stopping)
    return batch
