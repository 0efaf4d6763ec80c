"""Parts of one scan, read side by side and merged back into one order, newest first.

Each part is a stream of batches of ``(key, source)`` hits, its keys descending. The
merge keeps one request of every unfinished part in flight, so OpenSearch answers one
part while the caller works on what another returned, and hands out batches of
``size`` in the order one stream of the whole would have given.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from typing import Any

Key = tuple[int, str]
Hit = tuple[Key, dict[str, Any]]


def _ask(part: AsyncIterator[list[Hit]]) -> asyncio.Future[list[Hit] | None]:
    return asyncio.ensure_future(anext(part, None))


async def merge_newest(
    parts: Sequence[AsyncIterator[list[Hit]]], size: int
) -> AsyncIterator[list[Hit]]:
    """The hits of every part in one descending order, in batches of ``size`` (the last
    may be shorter). Parts must not share a key; the caller closing this closes them."""
    buffers: list[deque[Hit]] = [deque() for _ in parts]
    pending: list[asyncio.Future[list[Hit] | None] | None] = [_ask(p) for p in parts]
    out: list[Hit] = []
    try:
        while True:
            for i, part in enumerate(parts):  # every part that is not done has a head
                future = pending[i]
                if buffers[i] or future is None:
                    continue
                got = await future
                if got is None:
                    pending[i] = None
                    continue
                buffers[i].extend(got)
                pending[i] = _ask(part)
            if not any(buffers):
                break
            # Take the newest head while every unfinished part has one: a part waiting
            # for its next batch could hold a newer hit than another's head.
            while all(buffers[i] or pending[i] is None for i in range(len(parts))):
                heads = [b for b in buffers if b]
                if not heads:
                    break
                newest = max(heads, key=lambda b: b[0][0])
                out.append(newest.popleft())
                if len(out) == size:
                    yield out
                    out = []
        if out:
            yield out
    finally:
        for future in pending:
            if future is not None:
                with suppress(Exception):
                    await future
        for part in parts:
            close = getattr(part, "aclose", None)
            if close is not None:
                with suppress(Exception):
                    await close()
