"""The in-process bus: Kafka's delivery semantics without Kafka.

Each topic is split into a fixed number of partitions, each an append-only log
with offsets; a message goes to the partition chosen by a hash of its key, so
messages with the same key keep their order. A consumer group keeps, per
partition, a committed offset and a delivered position, and spreads the
partitions over its members (partition ``p`` goes to member ``p % members``,
in joining order). When the members change, a partition that moves to another
member restarts from the group's committed offset, so what the previous owner
was given but did not commit is delivered again: at-least-once, as in Kafka.

Memory is bounded. A topic holds at most ``capacity`` messages that some
group that ever subscribed to it has not committed; :meth:`MemoryBus.publish`
waits while it is full (backpressure), and messages committed by every known
group are dropped. A group stays known after its members leave, as Kafka keeps
a group's offsets, so a group that never comes back eventually blocks
publishers. A topic no group has subscribed to yet retains up to ``capacity``
messages and then blocks publishers until a group subscribes and commits.

A member's :class:`~soc.bus.base.Rebalance` is awaited (after the move, before
``subscribe`` or ``close`` returns) with the partitions it lost. A changelog
(:class:`MemoryChangelog`) keeps the latest record of each key per partition, as a
compacted Kafka topic ends up; like the topics, it does not outlive the process.

Everything runs in one event loop; each topic has one :class:`asyncio.Condition`
that publishers and pollers wait on, so nothing busy-waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import deque
from collections.abc import Sequence
from itertools import islice

from soc.bus.base import Message, Rebalance, Record, Topic
from soc.component import Component
from soc.errors import BusError
from soc.log import get_logger
from soc.metrics import CONSUMER_LAG
from soc.settings import MemoryBusSettings

log = get_logger(__name__)

DEFAULT_PARTITIONS = 4


class _Group:
    """A consumer group's offsets and members on one topic."""

    def __init__(self, name: str, start: list[int]) -> None:
        self.name = name
        self.committed = list(start)
        self.position = list(start)
        self.owner: list[MemorySubscription | None] = [None] * len(start)
        self.members: list[MemorySubscription] = []

    def rebalance(self) -> dict[MemorySubscription, set[int]]:
        """Spread the partitions over the members; moved ones restart at the commit.

        Returns the partitions each remaining member lost.
        """
        lost: dict[MemorySubscription, set[int]] = {}
        for p, old in enumerate(self.owner):
            new = self.members[p % len(self.members)] if self.members else None
            if new is not old:
                self.owner[p] = new
                self.position[p] = self.committed[p]
                if old is not None:
                    old.given.pop(p, None)
                    if old in self.members:
                        lost.setdefault(old, set()).add(p)
        return lost


async def _tell_revoked(lost: dict[MemorySubscription, set[int]]) -> None:
    for member, partitions in lost.items():
        if member.rebalance is not None:
            await member.rebalance.revoked(frozenset(partitions))


class _TopicLog:
    """One topic: per partition a deque of messages and the offset of its first."""

    def __init__(self, name: str, partitions: int) -> None:
        self.name = name
        self.logs: list[deque[Message]] = [deque() for _ in range(partitions)]
        self.base = [0] * partitions
        self.groups: dict[str, _Group] = {}
        self.changed = asyncio.Condition()

    def end(self, p: int) -> int:
        return self.base[p] + len(self.logs[p])

    def retained(self) -> int:
        return sum(len(q) for q in self.logs)

    def append(self, message: Message) -> None:
        p = zlib.crc32(message.key.encode()) % len(self.logs)
        self.logs[p].append(message)

    def read(self, p: int, start: int, count: int) -> list[Message]:
        first = start - self.base[p]
        return [
            Message(m.key, m.value, p, start + i)
            for i, m in enumerate(islice(self.logs[p], first, first + count))
        ]

    def trim(self) -> None:
        """Drop the messages every known group has committed."""
        if not self.groups:
            return
        for p, q in enumerate(self.logs):
            low = min(g.committed[p] for g in self.groups.values())
            while self.base[p] < low:
                q.popleft()
                self.base[p] += 1


class MemorySubscription:
    """A member of a consumer group on a :class:`MemoryBus` topic."""

    def __init__(
        self, bus: MemoryBus, topic: _TopicLog, group: _Group, rebalance: Rebalance | None = None
    ) -> None:
        self.rebalance = rebalance
        self._bus = bus
        self._topic = topic
        self._group = group
        self._closed = False
        self._next_partition = 0
        self.given: dict[int, int] = {}
        """Per owned partition, the offset after the last message returned."""

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Message]:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._topic.changed:
            while True:
                self._ensure_open()
                batch = self._take(max_records)
                remaining = deadline - loop.time()
                if batch or remaining <= 0:
                    self._report_lag()
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._topic.changed.wait(), remaining)

    def _take(self, max_records: int) -> list[Message]:
        group, topic = self._group, self._topic
        n = len(group.owner)
        batch: list[Message] = []
        for i in range(n):
            p = (self._next_partition + i) % n
            if group.owner[p] is not self:
                continue
            start = group.position[p]
            count = min(topic.end(p) - start, max_records - len(batch))
            if count <= 0:
                continue
            batch.extend(topic.read(p, start, count))
            group.position[p] = self.given[p] = start + count
            if len(batch) == max_records:
                break
        self._next_partition = (self._next_partition + 1) % n
        return batch

    async def commit(self) -> None:
        async with self._topic.changed:
            self._ensure_open()
            group = self._group
            for p, offset in self.given.items():
                if group.owner[p] is self:
                    group.committed[p] = max(group.committed[p], offset)
            self.given.clear()
            self._topic.trim()
            self._topic.changed.notify_all()

    async def close(self) -> None:
        if self._closed:
            return
        async with self._topic.changed:
            self._closed = True
            self._group.members.remove(self)
            lost = self._group.rebalance()
            self._bus._subscriptions.discard(self)
            self._topic.changed.notify_all()
        await _tell_revoked(lost)
        log.debug(
            "memory subscription closed",
            extra={"topic": self._topic.name, "group": self._group.name},
        )

    def lag(self) -> int | None:
        topic, group = self._topic, self._group
        return sum(topic.end(p) - group.position[p] for p in range(len(group.position)))

    def _report_lag(self) -> None:
        lag = self.lag()
        if lag is not None:
            CONSUMER_LAG.labels(topic=self._topic.name, group=self._group.name).set(lag)

    def _ensure_open(self) -> None:
        if self._closed:
            raise BusError("subscription is closed")
        self._bus._ensure_started()


class MemoryBus(Component):
    """An in-process :class:`~soc.bus.base.Bus` with Kafka's delivery semantics.

    For one process (development, tests, a single-node trial): messages do not
    survive the process. See the module docstring for partitions, groups and
    backpressure.
    """

    def __init__(
        self, settings: MemoryBusSettings | None = None, *, partitions: int = DEFAULT_PARTITIONS
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._capacity = (settings or MemoryBusSettings()).capacity
        self._partitions = partitions
        self._topics: dict[Topic, _TopicLog] = {}
        self._subscriptions: set[MemorySubscription] = set()
        self._changelogs: dict[str, MemoryChangelog] = {}
        self._started = False

    async def start(self) -> None:
        self._started = True
        log.info(
            "memory bus started",
            extra={"capacity": self._capacity, "partitions": self._partitions},
        )

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._started = False
        for topic in self._topics.values():
            async with topic.changed:
                topic.changed.notify_all()
        log.info("memory bus stopped")

    async def publish(self, topic: Topic, messages: Sequence[Message]) -> None:
        self._ensure_started()
        if not messages:
            return
        log_ = self._topic(topic)
        done = 0
        async with log_.changed:
            while done < len(messages):
                self._ensure_started()
                room = self._capacity - log_.retained()
                if room <= 0:
                    await log_.changed.wait()
                    continue
                for message in messages[done : done + room]:
                    log_.append(message)
                done += min(room, len(messages) - done)
                log_.changed.notify_all()

    async def subscribe(
        self, topic: Topic, group: str, *, rebalance: Rebalance | None = None
    ) -> MemorySubscription:
        self._ensure_started()
        log_ = self._topic(topic)
        async with log_.changed:
            g = log_.groups.get(group)
            if g is None:
                g = log_.groups[group] = _Group(group, log_.base)
            subscription = MemorySubscription(self, log_, g, rebalance)
            g.members.append(subscription)
            lost = g.rebalance()
            self._subscriptions.add(subscription)
        await _tell_revoked(lost)
        log.debug(
            "memory subscription opened",
            extra={"topic": log_.name, "group": group, "members": len(g.members)},
        )
        return subscription

    async def changelog(self, name: str, *, like: Topic) -> MemoryChangelog:
        self._ensure_started()
        found = self._changelogs.get(name)
        if found is None:
            found = self._changelogs[name] = MemoryChangelog(self._partitions)
        return found

    async def check(self) -> None:
        self._ensure_started()

    def _topic(self, topic: Topic) -> _TopicLog:
        log_ = self._topics.get(topic)
        if log_ is None:
            log_ = self._topics[topic] = _TopicLog(topic.value, self._partitions)
        return log_

    def _ensure_started(self) -> None:
        if not self._started:
            raise BusError("memory bus is not started")


class MemoryChangelog:
    """Per partition, the latest value of each key in the order keys were last written."""

    def __init__(self, partitions: int) -> None:
        self._partitions: list[dict[str, bytes]] = [{} for _ in range(partitions)]

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        held = self._partitions[partition]
        for key, value in records:
            held.pop(key, None)
            if value is not None:
                held[key] = value

    async def read(self, partition: int) -> list[Record]:
        return list(self._partitions[partition].items())
