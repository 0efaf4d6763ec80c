"""The bus seam: what every bus implementation promises.

Delivery is at-least-once. A consumer's position advances only when the
stage calls :meth:`Subscription.commit` after its output is durable, so a
stage that dies mid-batch sees the uncommitted messages again when it
restarts. Messages with the same key keep their order (one partition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Topic(StrEnum):
    events = "events"
    alerts = "alerts"
    deadletters = "deadletters"


@dataclass(frozen=True, slots=True)
class Message:
    """One message: ``key`` decides the partition (tenant/host), ``value`` is JSON."""

    key: str
    value: bytes


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

    async def subscribe(self, topic: Topic, group: str) -> Subscription:
        """Join ``group`` on ``topic``; a new group starts at the oldest message."""
        ...

    async def check(self) -> None:
        """A real, cheap round trip to the bus; raises BusError when it fails."""
        ...
