"""Helpers shared by the source tests: the fake ``emit`` and how to drive a source.

The only stand-in in those tests is ``emit``, the agent boundary: a collector
that keeps every batch and, while ``gate`` is clear, blocks as the agent's
does while its spool is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from connectors.parse.framing import Frame
from connectors.registry import Registry
from connectors.sources.base import Batch, Source, SourceContext


class Collector:
    """A fake ``emit``: keeps every batch; while ``gate`` is clear, it blocks (a full spool)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.inside = self.most_inside = 0
        self._changed = asyncio.Event()

    async def __call__(self, batch: Batch) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.batches.append(batch)
        self._changed.set()
        try:
            await self.gate.wait()
        finally:
            self.inside -= 1

    def records(self, stream: str | None = None) -> list[Frame]:
        return [f for b in self.batches if stream in (None, b.stream) for f in b.records]

    def data(self, stream: str | None = None) -> list[bytes]:
        return [f.data for f in self.records(stream)]

    def streams(self) -> list[str]:
        return list(dict.fromkeys(b.stream for b in self.batches))

    async def wait_records(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.records()) < count:
                self._changed.clear()
                await self._changed.wait()


def source_context(tmp_path: Path, *, run_id: str, log: str) -> SourceContext:
    return SourceContext(
        connector="test-connector",
        run_id=run_id,
        registry=Registry(tmp_path / "registry"),
        log=logging.getLogger(log),
    )


async def until(cond: Callable[[], bool], within: float = 3.0) -> None:
    """Poll ``cond`` (files, the registry: nothing to wait on) until true."""
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running(src: Source, emit: Collector) -> AsyncIterator[None]:
    """``src.run(emit)`` as a task for the block's length, cancelled after."""
    task = asyncio.create_task(src.run(emit))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
