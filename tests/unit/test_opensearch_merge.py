"""The merge of a scan's parts: one order, newest first, in batches of the asked size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from soc.store.opensearch.merge import Hit, merge_newest

keys = st.tuples(st.integers(0, 50), st.text("0123456789abcdef", min_size=1, max_size=3))


async def part(hits: list[Hit], batch: int, log: list[str], name: str) -> AsyncIterator[list[Hit]]:
    try:
        for i in range(0, len(hits), batch):
            await asyncio.sleep(0)  # an answer arrives later, as from the network
            log.append(f"{name} read {i}")
            yield hits[i : i + batch]
    finally:
        log.append(f"{name} closed")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sets(keys), min_size=1, max_size=4),
    st.lists(st.integers(1, 7), min_size=4, max_size=4),
    st.integers(1, 9),
)
def test_the_merge_is_every_hit_once_newest_first_in_batches_of_size(
    key_sets: list[set[tuple[int, str]]], part_batches: list[int], size: int
) -> None:
    taken: set[tuple[int, str]] = set()
    parts_keys = []
    for keys_ in key_sets:  # parts never share a key
        mine = sorted(keys_ - taken, reverse=True)
        taken |= set(mine)
        parts_keys.append(mine)
    log: list[str] = []

    async def run() -> list[list[Hit]]:
        parts = [
            part([(k, {"k": k}) for k in ks], part_batches[i], log, str(i))
            for i, ks in enumerate(parts_keys)
        ]
        return [b async for b in merge_newest(parts, size)]

    batches = asyncio.run(run())
    merged = [k for b in batches for k, _ in b]
    assert merged == sorted(taken, reverse=True)
    assert all(len(b) == size for b in batches[:-1])
    assert not batches or 0 < len(batches[-1]) <= size
    assert all(source == {"k": k} for b in batches for k, source in b)
    assert sorted(e for e in log if e.endswith("closed")) == [
        f"{i} closed" for i in range(len(parts_keys))
    ]


def test_every_part_reads_ahead_and_a_merge_closed_early_closes_them() -> None:
    log: list[str] = []
    a = [((t, "a"), {}) for t in range(100, 0, -1)]
    b = [((t, "b"), {}) for t in range(100, 0, -1)]

    seen: list[str] = []

    async def run() -> list[Hit]:
        merge = merge_newest([part(a, 10, log, "a"), part(b, 10, log, "b")], 5)
        first = await anext(merge)
        for _ in range(3):  # the caller works on the batch, waiting on something now and then
            await asyncio.sleep(0)
        seen.extend(log)
        await merge.aclose()  # type: ignore[attr-defined]
        return first

    first = asyncio.run(run())
    assert [k for k, _ in first] == [(100, "b"), (100, "a"), (99, "b"), (99, "a"), (98, "b")]
    # while the caller held the first batch, each part was reading its next one
    assert {"a read 10", "b read 10"} <= set(seen)
    assert "a read 20" not in log and "b read 20" not in log  # one batch ahead, not more
    assert {"a closed", "b closed"} <= set(log)
