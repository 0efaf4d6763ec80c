"""The Kafka bus's publish without a broker: where each message goes, and in what batches."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from soc.bus import Message, Topic
from soc.bus.kafka import KafkaBus, by_partition
from soc.errors import BusError
from soc.settings import KafkaSettings

KEYS = [f"tenant-{t}/host-{h}" for t in "abc" for h in range(5)]


class FakeProducer:
    """What publish uses of AIOKafkaProducer; every batch is acknowledged at once."""

    def __init__(self, *, partitions: int, batch_bytes: int) -> None:
        self.partitions = set(range(partitions))
        self.batch_bytes = batch_bytes
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    def create_batch(self) -> Any:
        return _Recording(self.batch_bytes)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sent.append((topic, partition, batch.records))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class _Recording(BatchBuilder):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, batch_bytes: int) -> None:
        super().__init__(batch_bytes, 0)
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, timestamp: Any, key: bytes, value: bytes, headers: Any = None) -> Any:
        metadata = super().append(timestamp=timestamp, key=key, value=value)
        if metadata is not None:
            self.records.append((key, value))
        return metadata


def started_bus(producer: FakeProducer) -> KafkaBus:
    bus = KafkaBus(KafkaSettings(topic_prefix="t", batch_bytes=producer.batch_bytes))
    bus._producer = producer
    return bus


def test_messages_go_where_the_producers_default_partitioner_puts_their_key() -> None:
    messages = [Message(key=k, value=b"v") for k in KEYS] + [Message(key="", value=b"v")]
    partitioner = DefaultPartitioner()
    for n in (1, 3, 6):
        partitions = list(range(n))
        for partition, placed in by_partition(messages, partitions).items():
            for m in placed:
                assert partitioner(m.key.encode(), partitions, partitions) == partition


async def test_a_publish_sends_each_partition_its_messages_in_order_in_bounded_batches() -> None:
    producer = FakeProducer(partitions=3, batch_bytes=4096)
    messages = [Message(key=KEYS[i % 4], value=b"%04d" % i + b"." * 300) for i in range(200)]
    await started_bus(producer).publish(Topic.events, messages)

    assert len(producer.sent) > 3  # more than one batch for some partition
    got: dict[int, list[tuple[bytes, bytes]]] = {}
    for topic, partition, records in producer.sent:
        assert topic == "t.events"
        assert records and sum(len(v) for _, v in records) <= 4096
        got.setdefault(partition, []).extend(records)
    expected = {
        p: [(m.key.encode(), m.value) for m in placed]
        for p, placed in by_partition(messages, [0, 1, 2]).items()
    }
    assert got == expected


async def test_a_message_larger_than_a_batch_is_refused_for_good() -> None:
    producer = FakeProducer(partitions=1, batch_bytes=1024)
    too_big = Message(key="k", value=b"x" * 2000)
    with pytest.raises(BusError) as refused:
        await started_bus(producer).publish(Topic.events, [Message(key="k", value=b"a"), too_big])
    assert not refused.value.retriable
    assert "larger than batch_bytes" in str(refused.value)
