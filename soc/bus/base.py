"""The bus seam: what every bus implementation promises.

Delivery is at-least-once. A consumer's position advances only when the
stage calls :meth:`Subscription.commit` after its output is durable, so a
stage that dies mid-batch sees the uncommitted messages again when it
restarts. Messages with the same key keep their order (one partition).

A stateful stage (the correlation stage) also needs to know which partition a
message came from and at which offset, to be told when partitions are taken
from it (:class:`Rebalance`), and a :class:`Changelog`: a compacted log of its
state, partitioned like its input, that a new owner of a partition restores
from (docs/adr/0013-correlations.md, "The correlation stage").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Topic(StrEnum):
    events = "events"
    alerts = "alerts"
    deadletters = "deadletters"
    matches = "matches"
    """Base-rule matches a correlation references, keyed by (tenant, correlation, group)."""
    heartbeats = "heartbeats"
    """Connectors' heartbeats that came over Kafka, with their tenant (FiledHeartbeat)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message: ``key`` decides the partition (tenant/host), ``value`` is JSON."""

    key: str
    value: bytes
    partition: int = field(default=-1, compare=False)
    """Where a consumed message came from (-1 on a message being published); not part of
    its equality, like ``offset``."""
    offset: int = field(default=-1, compare=False)


Record = tuple[str, bytes | None]
"""A changelog record: a key and its latest value (None deletes the key)."""


@runtime_checkable
class Rebalance(Protocol):
    """Told when partitions are taken from a consumer-group member."""

    async def revoked(self, partitions: frozenset[int]) -> None:
        """Before ``partitions`` go to another member: finish with them (they are re-read)."""
        ...


@runtime_checkable
class Changelog(Protocol):
    """A compacted, partitioned log of keyed records (Kafka Streams' changelog topic)."""

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        """Append ``records`` to ``partition`` in order; return once they are durable."""
        ...

    async def read(self, partition: int) -> list[Record]:
        """Every record of ``partition`` still held, oldest first (compaction keeps at least
        the latest of each key)."""
        ...


@runtime_checkable
class Subscription(Protocol):
    """A consumer-group member's view of one topic."""

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Message]:
        """The next messages after those already returned; [] when none came in time."""
        ...

    async def commit(self) -> None:
        """Mark every message returned so far as done for the group."""
        ...

    async def close(self) -> None:
        """Leave the group; uncommitted messages go to the next member."""
        ...

    def lag(self) -> int | None:
        """Messages the group has not yet received, when the bus knows."""
        ...


@runtime_checkable
class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: Topic, messages: Sequence[Message]) -> None:
        """Return once every message is durable on the bus; wait when it is full."""
        ...

    async def subscribe(
        self, topic: Topic, group: str, *, rebalance: Rebalance | None = None
    ) -> Subscription:
        """Join ``group`` on ``topic``; a new group starts at the oldest message.

        ``rebalance`` is told before partitions are taken from this member.
        """
        ...

    async def changelog(self, name: str, *, like: Topic) -> Changelog:
        """The changelog ``name``, with as many partitions as ``like`` (created if new)."""
        ...

    async def check(self) -> None:
        """A real, cheap round trip to the bus; raises BusError when it fails."""
        ...
