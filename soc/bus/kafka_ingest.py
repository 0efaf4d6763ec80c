"""The per-tenant ingest topics on Kafka, read as one consumer-group member.

Connectors may write straight to Kafka, each tenant to its own topic
``<prefix>.ingest.<tenant>``, which the brokers' ACLs let only that tenant's
principal write. The tenant of a message is therefore its topic's, and
:class:`IngestSubscription` hands it out with every message; nothing in the
message can change it.

The subscription is a regular-expression pattern over topic names, so a topic
made for a new tenant is picked up on the next metadata refresh
(``topic_refresh_s``), without a restart. A topic whose tenant part does not
match ``tenant_pattern`` is not subscribed to. A topic whose tenant matches but
is not accepted (not known to the settings) has its partitions paused: never
fetched, never committed, so none of it enters the SOC and none of it is lost;
once the tenant is configured, a restarted bridge reads it from the start. An
error is logged once per topic, and ``soc_ingest_topics_unread`` counts them.

Offsets are committed as in :mod:`soc.bus.kafka`: those of the records
returned, only when the stage calls :meth:`IngestSubscription.commit` after its
output is durable; offsets of partitions revoked by a rebalance are dropped.
aiokafka's exceptions become :class:`~soc.errors.BusError` here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from soc.bus.kafka import (
    LAG_TIMEOUT_S,
    _DropRevoked,
    assigned_lag,
    bus_error,
    client_kwargs,
    commit_pending,
)
from soc.errors import BusError
from soc.log import get_logger
from soc.metrics import CONSUMER_LAG, INGEST_TOPICS_UNREAD
from soc.models import HEARTBEAT_HEADER
from soc.settings import KafkaSettings

log = get_logger(__name__)

LAG_TOPIC = "ingest"
"""The ``topic`` label of the bridge group's lag: one bounded value for every ingest topic."""


@dataclass(frozen=True, slots=True)
class IngestMessage:
    """One message of an ingest topic, with the tenant its topic names."""

    tenant: str
    key: str
    value: bytes
    topic: str
    partition: int
    offset: int
    kind: str = ""
    """The record's ``soc-kind`` header (soc.models.HEARTBEAT_HEADER): ``heartbeat`` for a
    connector's heartbeat, empty for an event line."""


def _kind(headers: Any) -> str:
    for name, value in headers or ():
        if name == HEARTBEAT_HEADER:
            return bytes(value or b"").decode("utf-8", errors="replace")[:50]
    return ""


def ingest_pattern(prefix: str, tenant_pattern: str) -> re.Pattern[str]:
    """``<prefix>.ingest.<tenant>`` with the tenant in group ``tenant``."""
    return re.compile(rf"^{re.escape(prefix)}\.ingest\.(?P<tenant>{tenant_pattern})\Z")


def tenant_of(pattern: re.Pattern[str], topic: str) -> str | None:
    """The tenant an ingest topic's name gives, or None when it is not an ingest topic."""
    found = pattern.match(topic)
    return found["tenant"] if found else None


class _PauseUnknown(_DropRevoked):
    """On every assignment, pauses the partitions of topics whose tenant is not accepted."""

    def __init__(self, owner: IngestSubscription, consumer: Any) -> None:
        super().__init__(owner._pending)
        self._owner = owner
        self._consumer = consumer

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._owner._pause_refused(self._consumer, assigned)


class IngestSubscription:
    """A member of ``group`` on every ingest topic of the tenants ``accepts`` says yes to."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group: str,
        tenant_pattern: str,
        accepts: Callable[[str], bool],
        refresh_s: float,
        max_records: int,
    ) -> None:
        self._settings = settings
        self._group = group
        self._pattern = ingest_pattern(settings.topic_prefix, tenant_pattern)
        self._accepts = accepts
        self._refresh_s = refresh_s
        self._max_records = max_records
        self._consumer: Any = None
        self._pending: dict[Any, int] = {}
        """Per TopicPartition, the offset after the last record returned."""
        self._refused: set[str] = set()
        """Topics already reported as unread."""
        self._lag: int | None = None

    @property
    def pattern(self) -> str:
        return self._pattern.pattern

    async def start(self) -> None:
        """Join the group; retriable failures raise a retriable BusError."""
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            **client_kwargs(self._settings),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_records,
            metadata_max_age_ms=int(self._refresh_s * 1000),
            fetch_min_bytes=self._settings.fetch_min_bytes,
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
        )
        consumer.subscribe(pattern=self._pattern.pattern, listener=_PauseUnknown(self, consumer))
        try:
            await consumer.start()
        except KafkaError as e:
            await consumer.stop()
            raise bus_error("kafka ingest consumer start failed", e) from e
        except OSError as e:
            await consumer.stop()
            raise BusError(f"kafka ingest consumer start failed: {e!r}", retriable=True) from e
        self._consumer = consumer

    async def poll(self, *, max_records: int, timeout_s: float) -> list[IngestMessage]:
        """The next messages of accepted tenants; [] when none came in time."""
        consumer = self._require()
        try:
            batches = await consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as e:
            raise bus_error("kafka ingest poll failed", e) from e
        out: list[IngestMessage] = []
        for tp, records in batches.items():
            tenant = tenant_of(self._pattern, tp.topic)
            if not records:
                continue
            if tenant is None or not self._accepts(tenant):
                # Fetched before its pause took effect: put it back, unread.
                consumer.seek(tp, records[0].offset)
                self._pause_refused(consumer, [tp])
                continue
            self._pending[tp] = records[-1].offset + 1
            out.extend(
                IngestMessage(
                    tenant=tenant,
                    key=(r.key or b"").decode("utf-8", errors="replace"),
                    value=r.value or b"",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=r.offset,
                    kind=_kind(r.headers),
                )
                for r in records
            )
        await self._update_lag()
        return out

    async def commit(self) -> None:
        """Mark every message returned so far as done for the group."""
        await commit_pending(
            self._require(),
            self._pending,
            topic=LAG_TOPIC,
            group=self._group,
            what="kafka ingest commit failed",
        )

    async def close(self) -> None:
        """Leave the group without committing; uncommitted messages go to the next member."""
        consumer, self._consumer = self._consumer, None
        INGEST_TOPICS_UNREAD.set(0)
        if consumer is None:
            return
        try:
            await consumer.stop()
        except KafkaError as e:
            raise bus_error("kafka ingest consumer stop failed", e) from e

    def lag(self) -> int | None:
        """Records of accepted tenants not yet returned; None before the first fetch."""
        return self._lag

    def _require(self) -> Any:
        if self._consumer is None:
            raise BusError("kafka ingest subscription is not started")
        return self._consumer

    def _pause_refused(self, consumer: Any, partitions: Any) -> None:
        for tp in partitions:
            tenant = tenant_of(self._pattern, tp.topic)
            if tenant is not None and self._accepts(tenant):
                continue
            consumer.pause(tp)
            self._pending.pop(tp, None)
            if tp.topic not in self._refused:
                self._refused.add(tp.topic)
                log.error(
                    "ingest topic of an unknown tenant left unread",
                    extra={"topic": tp.topic, "tenant": tenant, "group": self._group},
                )
        INGEST_TOPICS_UNREAD.set(len({tp.topic for tp in consumer.paused()}))

    async def _update_lag(self) -> None:
        consumer = self._require()
        read = consumer.assignment() - consumer.paused()
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):  # a timer, not a task as wait_for makes
                self._lag = await assigned_lag(consumer, read)
        except (KafkaError, TimeoutError):
            self._lag = None
        if self._lag is not None:
            CONSUMER_LAG.labels(topic=LAG_TOPIC, group=self._group).set(self._lag)
