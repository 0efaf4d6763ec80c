"""The counters contract (:mod:`soc.store.counters`) and the rate limits over it, on both stores.

Two stores opened on the same SQLite file or OpenSearch prefix stand for two API
processes (each has its own connection or client): what they change concurrently adds
up exactly, and the sign-in lockout and ingest bucket hold at their combined count.
"""

from __future__ import annotations

import asyncio
import time

from soc.security.ratelimit import LoginGuard, RateLimiter
from soc.store import Store
from soc.store.counters import Counter


def add(n: float, expires: float = 4e9):
    def change(stored: Counter | None) -> tuple[Counter | None, float]:
        total = (stored.values["n"] if stored else 0.0) + n
        return Counter(values={"n": total}, expires=expires), total

    return change


def read(stored: Counter | None) -> tuple[Counter | None, Counter | None]:
    return stored, stored


async def test_a_counter_is_created_changed_read_and_deleted(pair: tuple[Store, Store]) -> None:
    a, b = pair
    assert await a.update_counter("t:k", read) is None
    assert await a.update_counter("t:k", add(2)) == 2
    assert await b.update_counter("t:k", add(3)) == 5
    assert await b.update_counter("t:k", read) == Counter(values={"n": 5}, expires=4e9)
    assert await a.update_counter("t:other", read) is None
    await b.update_counter("t:k", lambda _: (None, None))
    assert await a.update_counter("t:k", read) is None
    await a.update_counter("t:k", lambda _: (None, None))  # deleting nothing is harmless


async def test_concurrent_updates_from_two_processes_all_count(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    await asyncio.gather(*(s.update_counter("t:hot", add(1)) for s in (a, b) for _ in range(40)))
    assert await a.update_counter("t:hot", read) == Counter(values={"n": 80}, expires=4e9)


async def test_expired_counters_are_deleted_and_live_ones_kept(pair: tuple[Store, Store]) -> None:
    a, b = pair
    now = time.time()
    for i in range(5):
        await a.update_counter(f"t:old{i}", add(1, expires=now - 1))
    await a.update_counter("t:live", add(1, expires=now + 600))
    assert await b.expire_counters(now) == 5
    assert await a.update_counter("t:old0", read) is None
    assert await a.update_counter("t:live", read) is not None
    assert await b.expire_counters(now) == 0


async def test_failed_sign_ins_split_across_two_processes_lock_at_the_same_count(
    pair: tuple[Store, Store],
) -> None:
    guards = [LoginGuard(burst=100, max_failures=10, counters=s) for s in pair]
    for i in range(9):
        guard = guards[i % 2]
        assert (await guard.check("analyst.hoa", "10.0.0.5")).allowed
        assert (await guard.failed("analyst.hoa", "10.0.0.5")).allowed
    locked = await guards[1].failed("analyst.hoa", "10.0.0.5")
    assert locked.reason == "locked"
    for guard in guards:
        refused = await guard.check("analyst.hoa", "10.0.0.5")
        assert refused.reason == "locked" and refused.retry_after > 890
        assert (await guard.check("analyst.hoa", "10.0.0.6")).allowed
    await guards[0].succeeded("analyst.hoa", "10.0.0.5")
    assert not await guards[1].is_locked("analyst.hoa", "10.0.0.5")
    assert len(guards[0]) == 0  # nothing kept in the process itself


async def test_one_ingest_bucket_for_two_processes(pair: tuple[Store, Store]) -> None:
    limiters = [RateLimiter(burst=1000, per_second=0.01, counters=s, table="ingest") for s in pair]
    results = await asyncio.gather(
        *(limiters[i % 2].hit("hue-ioc-connector", cost=100) for i in range(14))
    )
    assert [r.allowed for r in results].count(True) == 10
    assert all(r.reason == "rate" and r.retry_after > 0 for r in results if not r.allowed)
