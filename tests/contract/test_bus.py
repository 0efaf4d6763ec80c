"""The bus contract, run against the in-process bus and a real Kafka.

Every test gets its own topic prefix and group names, and asserts behaviour
only: what a consumer sees, never how the bus stores it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

import pytest

from soc.bus import Bus, Message, Subscription, Topic, build_bus
from soc.settings import BusSettings, KafkaSettings

DEADLINE_S = 30.0
KEYS = [f"tenant-{t}/host-{h}" for t in "ab" for h in range(4)]


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[Bus]:
    if request.param == "kafka":
        kafka = KafkaSettings(
            bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
            topic_prefix=unique_name,
            partitions=3,
            connect_timeout_s=30,
            batch_bytes=4096,  # small record batches: a publish of a few KiB takes several
        )
        settings = BusSettings(kind="kafka", kafka=kafka)
    else:
        settings = BusSettings(kind="memory")
    b = build_bus(settings)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


@pytest.fixture
def group(unique_name: str) -> str:
    return f"{unique_name}-group"


def make(n: int, *, tag: str = "m", keys: Sequence[str] = KEYS) -> list[Message]:
    """``n`` distinct messages, keys interleaved round-robin."""
    return [Message(key=keys[i % len(keys)], value=f"{tag}-{i}".encode()) for i in range(n)]


def by_key(messages: Sequence[Message]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for m in messages:
        out[m.key].append(m.value)
    return dict(out)


def ordered(messages: Sequence[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.key, m.value))


async def drain(sub: Subscription, n: int, *, settle_s: float = 0.5) -> list[Message]:
    """Poll until ``n`` messages came (or the deadline), then briefly for any extra."""
    got: list[Message] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while len(got) < n and loop.time() < deadline:
        got += await sub.poll(max_records=100, timeout_s=0.5)
    got += await sub.poll(max_records=100, timeout_s=settle_s)
    return got


async def test_published_messages_are_consumed(bus: Bus, group: str) -> None:
    sent = make(10)
    await bus.publish(Topic.events, sent)
    sub = await bus.subscribe(Topic.events, group)
    assert ordered(await drain(sub, len(sent))) == ordered(sent)


async def test_order_is_kept_per_key(bus: Bus, group: str) -> None:
    sent = make(80, keys=KEYS[:7])  # 7 keys: no accidental alignment with partitions
    for start in range(0, len(sent), 16):
        await bus.publish(Topic.events, sent[start : start + 16])
    sub = await bus.subscribe(Topic.events, group)
    got = await drain(sub, len(sent))
    assert by_key(got) == by_key(sent)


async def test_concurrent_publishes_keep_each_ones_order_per_key(bus: Bus, group: str) -> None:
    padding = b"." * 500
    publishes = [
        [Message(key=KEYS[i % 3], value=f"p{p}-{i:03d}".encode() + padding) for i in range(60)]
        for p in range(6)
    ]
    await asyncio.gather(*(bus.publish(Topic.events, sent) for sent in publishes))
    sub = await bus.subscribe(Topic.events, group)
    got = await drain(sub, sum(map(len, publishes)))
    assert ordered(got) == ordered([m for sent in publishes for m in sent])
    for p, sent in enumerate(publishes):
        tag = f"p{p}-".encode()
        assert by_key([m for m in got if m.value.startswith(tag)]) == by_key(sent)


async def test_uncommitted_messages_come_again_after_close(bus: Bus, group: str) -> None:
    sent = make(10)
    await bus.publish(Topic.events, sent)
    first = await bus.subscribe(Topic.events, group)
    assert ordered(await drain(first, len(sent))) == ordered(sent)
    await first.close()

    second = await bus.subscribe(Topic.events, group)
    assert ordered(await drain(second, len(sent))) == ordered(sent)


async def test_committed_messages_do_not_come_again(bus: Bus, group: str) -> None:
    old, new = make(6, tag="old"), make(6, tag="new")
    await bus.publish(Topic.events, old)
    first = await bus.subscribe(Topic.events, group)
    assert ordered(await drain(first, len(old))) == ordered(old)
    await first.commit()
    await first.close()

    await bus.publish(Topic.events, new)
    second = await bus.subscribe(Topic.events, group)
    assert ordered(await drain(second, len(new))) == ordered(new)


async def test_each_group_gets_every_message(bus: Bus, group: str) -> None:
    sent = make(12)
    one = await bus.subscribe(Topic.alerts, f"{group}-one")
    two = await bus.subscribe(Topic.alerts, f"{group}-two")
    await bus.publish(Topic.alerts, sent)
    got_one, got_two = await asyncio.gather(drain(one, len(sent)), drain(two, len(sent)))
    assert ordered(got_one) == ordered(sent)
    assert ordered(got_two) == ordered(sent)


async def test_members_of_a_group_share_the_messages(bus: Bus, group: str) -> None:
    sent = make(48)
    members = [await bus.subscribe(Topic.events, group) for _ in range(2)]
    await bus.publish(Topic.events, sent)
    received: list[list[Message]] = [[], []]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S

    async def consume(i: int) -> None:
        while loop.time() < deadline:
            if {m.value for r in received for m in r} >= {m.value for m in sent}:
                return
            received[i] += await members[i].poll(max_records=10, timeout_s=0.5)
            await members[i].commit()

    await asyncio.gather(consume(0), consume(1))

    assert {m.value for r in received for m in r} == {m.value for m in sent}
    expected = by_key(sent)
    for got in received:
        for key, values in by_key(got).items():
            # A rebalance may hand a member records again; first sightings stay in order.
            firsts = list(dict.fromkeys(values))
            assert firsts == [v for v in expected[key] if v in set(firsts)]


async def test_check_passes_on_a_started_bus(bus: Bus) -> None:
    await bus.check()


async def test_publishing_nothing_is_a_no_op(bus: Bus, group: str) -> None:
    await bus.publish(Topic.deadletters, [])
    marker = Message(key="k", value=b"only")
    await bus.publish(Topic.deadletters, [marker])
    sub = await bus.subscribe(Topic.deadletters, group)
    assert await drain(sub, 1) == [marker]


async def test_lag_falls_to_zero_once_everything_is_consumed(bus: Bus, group: str) -> None:
    sent = make(30)
    await bus.publish(Topic.events, sent)
    sub = await bus.subscribe(Topic.events, group)
    before = sub.lag()
    assert before is None or before == len(sent)

    got: list[Message] = []
    lags: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while len(got) < len(sent) and loop.time() < deadline:
        batch = await sub.poll(max_records=7, timeout_s=0.5)
        got += batch
        lag = sub.lag()
        if got:
            assert lag is not None, "lag unknown after messages were polled"
            lags.append(lag)

    assert ordered(got) == ordered(sent)
    assert lags == sorted(lags, reverse=True)
    assert lags[-1] == 0


@pytest.mark.kafka
async def test_kafka_groups_are_namespaced_by_the_topic_prefix(
    kafka_bootstrap: str, unique_name: str
) -> None:
    """Two installations on one cluster, one stage group name: two Kafka groups, each
    committing its own offsets (a shared group would rebalance across both)."""
    from aiokafka.admin import AIOKafkaAdminClient

    buses = [
        build_bus(
            BusSettings(
                kind="kafka",
                kafka=KafkaSettings(
                    bootstrap_servers=kafka_bootstrap,
                    topic_prefix=f"{unique_name}-{side}",
                    partitions=1,
                ),
            )
        )
        for side in ("a", "b")
    ]
    for b in buses:
        await b.start()
    try:
        for b in buses:
            messages = make(3)
            await b.publish(Topic.events, messages)
            sub = await b.subscribe(Topic.events, "soc-detect")
            assert ordered(await drain(sub, len(messages))) == ordered(messages)
            await sub.commit()
            await sub.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            groups = {g[0] for g in await admin.list_consumer_groups()}
        finally:
            await admin.close()
        assert {f"{unique_name}-a.soc-detect", f"{unique_name}-b.soc-detect"} <= groups
    finally:
        for b in buses:
            await b.stop()
