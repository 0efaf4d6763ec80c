"""What only the in-process bus promises: bounded memory, waking without busy loops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from soc.bus import Message, Topic
from soc.bus.memory import MemoryBus
from soc.errors import BusError
from soc.settings import MemoryBusSettings

BLOCKED_S = 0.2


@pytest.fixture
async def small_bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus(MemoryBusSettings(capacity=5)) as bus:
        yield bus


def make(n: int, tag: str = "m") -> list[Message]:
    return [Message(key=f"k{i % 3}", value=f"{tag}-{i}".encode()) for i in range(n)]


async def assert_blocked(task: asyncio.Task[None]) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), BLOCKED_S)


async def test_publish_waits_until_a_commit_frees_room(small_bus: MemoryBus) -> None:
    sub = await small_bus.subscribe(Topic.events, "g")
    await small_bus.publish(Topic.events, make(5))
    sixth = Message(key="k0", value=b"sixth")
    blocked = asyncio.create_task(small_bus.publish(Topic.events, [sixth]))
    await assert_blocked(blocked)

    assert len(await sub.poll(max_records=10, timeout_s=0)) == 5
    await assert_blocked(blocked)  # received is not enough: only a commit frees room
    await sub.commit()
    await asyncio.wait_for(blocked, 1)
    assert await sub.poll(max_records=10, timeout_s=0) == [sixth]


async def test_room_is_freed_only_when_every_group_committed(small_bus: MemoryBus) -> None:
    one = await small_bus.subscribe(Topic.events, "one")
    two = await small_bus.subscribe(Topic.events, "two")
    await small_bus.publish(Topic.events, make(5))
    blocked = asyncio.create_task(small_bus.publish(Topic.events, make(1, "late")))
    for sub in (one, two):
        await sub.poll(max_records=10, timeout_s=0)
    await one.commit()
    await assert_blocked(blocked)
    await two.commit()
    await asyncio.wait_for(blocked, 1)


async def test_without_any_group_a_topic_holds_capacity_then_blocks(
    small_bus: MemoryBus,
) -> None:
    await small_bus.publish(Topic.alerts, make(5))
    blocked = asyncio.create_task(small_bus.publish(Topic.alerts, make(1, "late")))
    await assert_blocked(blocked)
    sub = await small_bus.subscribe(Topic.alerts, "g")
    assert len(await sub.poll(max_records=10, timeout_s=0)) == 5
    await sub.commit()
    await asyncio.wait_for(blocked, 1)


async def test_a_batch_larger_than_capacity_goes_through_as_commits_come(
    small_bus: MemoryBus,
) -> None:
    sent = make(12)
    sub = await small_bus.subscribe(Topic.events, "g")
    publishing = asyncio.create_task(small_bus.publish(Topic.events, sent))
    got: list[Message] = []
    for _ in range(len(sent)):  # bounded: a stuck bus fails, it does not hang
        got += await sub.poll(max_records=10, timeout_s=0.2)
        await sub.commit()
        if len(got) >= len(sent):
            break
    await asyncio.wait_for(publishing, 1)
    assert sorted(m.value for m in got) == sorted(m.value for m in sent)


async def test_poll_wakes_when_a_message_arrives() -> None:
    async with MemoryBus() as bus:
        sub = await bus.subscribe(Topic.events, "g")
        waiting = asyncio.create_task(sub.poll(max_records=10, timeout_s=10))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await bus.publish(Topic.events, make(1))
        assert await asyncio.wait_for(waiting, 1) == make(1)


async def test_poll_returns_nothing_after_its_timeout() -> None:
    async with MemoryBus() as bus:
        sub = await bus.subscribe(Topic.events, "g")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await sub.poll(max_records=10, timeout_s=0.1) == []
        assert 0.09 <= loop.time() - started < 1


async def test_two_members_each_take_part_of_the_work() -> None:
    async with MemoryBus() as bus:
        a = await bus.subscribe(Topic.events, "g")
        b = await bus.subscribe(Topic.events, "g")
        sent = [Message(key=f"host-{i % 16}", value=str(i).encode()) for i in range(64)]
        await bus.publish(Topic.events, sent)
        got_a = await a.poll(max_records=100, timeout_s=0)
        got_b = await b.poll(max_records=100, timeout_s=0)
        assert got_a and got_b
        assert not {m.value for m in got_a} & {m.value for m in got_b}
        assert sorted(m.value for m in got_a + got_b) == sorted(m.value for m in sent)


async def test_a_leaving_members_uncommitted_messages_go_to_the_others() -> None:
    async with MemoryBus() as bus:
        a = await bus.subscribe(Topic.events, "g")
        b = await bus.subscribe(Topic.events, "g")
        sent = [Message(key=f"host-{i % 16}", value=str(i).encode()) for i in range(64)]
        await bus.publish(Topic.events, sent)
        got_a = await a.poll(max_records=100, timeout_s=0)
        got_b = await b.poll(max_records=100, timeout_s=0)
        await b.commit()
        await a.close()
        again = await b.poll(max_records=100, timeout_s=0)
        assert sorted(m.value for m in again) == sorted(m.value for m in got_a)
        assert b.lag() == 0
        assert len(got_b) + len(again) == len(sent)


async def test_lag_counts_what_the_group_has_not_received() -> None:
    async with MemoryBus() as bus:
        sub = await bus.subscribe(Topic.events, "g")
        await bus.publish(Topic.events, make(9))
        assert sub.lag() == 9
        await sub.poll(max_records=4, timeout_s=0)
        assert sub.lag() == 5
        await sub.close()
        again = await bus.subscribe(Topic.events, "g")
        assert again.lag() == 9  # nothing was committed


async def test_a_stopped_bus_refuses_work() -> None:
    bus = MemoryBus()
    with pytest.raises(BusError):
        await bus.check()
    with pytest.raises(BusError):
        await bus.publish(Topic.events, make(1))
    await bus.start()
    await bus.check()
    sub = await bus.subscribe(Topic.events, "g")
    await bus.stop()
    with pytest.raises(BusError):
        await bus.check()
    with pytest.raises(BusError):
        await sub.poll(max_records=1, timeout_s=0)


async def test_stop_releases_a_blocked_publisher(small_bus: MemoryBus) -> None:
    await small_bus.publish(Topic.events, make(5))
    blocked = asyncio.create_task(small_bus.publish(Topic.events, make(1, "late")))
    await assert_blocked(blocked)
    await small_bus.stop()
    with pytest.raises(BusError):
        await asyncio.wait_for(blocked, 1)


async def test_many_publishers_and_consumers_lose_nothing_and_keep_key_order() -> None:
    async with MemoryBus(MemoryBusSettings(capacity=20)) as bus:
        members = [await bus.subscribe(Topic.events, "g") for _ in range(3)]
        sent = {f"host-{p}": [f"{p}-{i}".encode() for i in range(50)] for p in range(10)}
        received: list[list[Message]] = [[] for _ in members]

        async def publish(key: str) -> None:
            for start in range(0, 50, 7):
                batch = [Message(key, v) for v in sent[key][start : start + 7]]
                await bus.publish(Topic.events, batch)

        async def consume(i: int) -> None:
            while sum(map(len, received)) < 500:
                received[i] += await members[i].poll(max_records=8, timeout_s=0.05)
                await members[i].commit()

        work = [*(publish(k) for k in sent), *(consume(i) for i in range(len(members)))]
        await asyncio.wait_for(asyncio.gather(*work), 10)

        assert sum(map(len, received)) == 500
        for got in received:
            for key, values in sent.items():
                mine = [m.value for m in got if m.key == key]
                assert mine in ([], values)  # a key lives wholly with one member, in order
