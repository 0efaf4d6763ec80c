"""The Kafka bus, on aiokafka.

Topics are named ``{topic_prefix}.{topic}`` and created on start, and consumer
groups ``{topic_prefix}.{group}``: two installations sharing a cluster under two
prefixes never share a group (a member joining or leaving one group rebalances all
of it, whatever topic each member reads). The producer
is idempotent with ``acks="all"``, and :meth:`KafkaBus.publish` returns only
once every record is acknowledged. A publish places its messages as the
producer's default partitioner does (murmur2 of the key, so a key keeps its
partition and its order) and hands them over as record batches of up to
``batch_bytes`` per partition, rather than message by message: aiokafka's
per-message ``send`` fills 16 KiB batches and sends one per partition per
round trip. Consumers never auto-commit: a
subscription remembers, per partition, the offset after the last record it
returned and commits exactly those. After a rebalance, offsets of partitions
this member no longer owns are dropped (with a warning); the new owner reads
those records again, which keeps delivery at-least-once. A subscriber's
:class:`~soc.bus.base.Rebalance` is awaited before its partitions are revoked.

A changelog (:class:`KafkaChangelog`) is a topic with ``cleanup.policy=compact``
and as many partitions as the topic it shadows; records are written to a named
partition (not placed by key) and read back by a consumer outside any group.

aiokafka's exceptions are translated into :class:`~soc.errors.BusError` here
and never leak past this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner

from soc.bus.base import Message, Rebalance, Record, Topic
from soc.component import Component
from soc.errors import BusError
from soc.log import get_logger
from soc.metrics import CONSUMER_LAG
from soc.settings import KafkaSettings

log = get_logger(__name__)

CHECK_TIMEOUT_S = 5.0
LAG_TIMEOUT_S = 1.0
MAX_BACKOFF_S = 5.0
ENQUEUE_TIMEOUT_S = 40.0
"""How long a publish waits for its turn to hand a partition its batches (aiokafka's
request timeout, which bounds each batch's own wait)."""
_PARTITIONER = DefaultPartitioner()


def bus_error(what: str, error: BaseException) -> BusError:
    retriable = bool(getattr(error, "retriable", False))
    return BusError(f"{what}: {error!r}", retriable=retriable)


class _DropRevoked(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Forgets the offsets of revoked partitions, so they are never committed late, and
    tells the subscriber's :class:`~soc.bus.base.Rebalance` first (aiokafka awaits it)."""

    def __init__(self, pending: dict[Any, int], rebalance: Rebalance | None = None) -> None:
        self._pending = pending
        self._rebalance = rebalance

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self._rebalance is not None and revoked:
            await self._rebalance.revoked(frozenset(tp.partition for tp in revoked))
        for tp in revoked:
            self._pending.pop(tp, None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        pass


class KafkaSubscription:
    """A consumer-group member on one Kafka topic (one :class:`AIOKafkaConsumer`)."""

    def __init__(
        self,
        consumer: Any,
        *,
        topic: Topic,
        name: str,
        group: str,
        on_close: Callable[[KafkaSubscription], None],
        rebalance: Rebalance | None = None,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._group = group
        self._on_close = on_close
        self._pending: dict[Any, int] = {}
        """Per TopicPartition, the offset after the last record returned."""
        consumer.subscribe([name], listener=_DropRevoked(self._pending, rebalance))
        self._lag: int | None = None
        self._closed = False

    async def poll(self, *, max_records: int, timeout_s: float) -> list[Message]:
        if self._closed:
            raise BusError("subscription is closed")
        try:
            batches = await self._consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as e:
            raise bus_error("kafka poll failed", e) from e
        out: list[Message] = []
        for tp, records in batches.items():
            if not records:
                continue
            self._pending[tp] = records[-1].offset + 1
            out.extend(
                Message(
                    key=(record.key or b"").decode("utf-8", errors="replace"),
                    value=record.value or b"",
                    partition=tp.partition,
                    offset=record.offset,
                )
                for record in records
            )
        await self._update_lag()
        return out

    async def commit(self) -> None:
        if self._closed:
            raise BusError("subscription is closed")
        await commit_pending(
            self._consumer, self._pending, topic=self._topic.value, group=self._group
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        try:
            await self._consumer.stop()
        except KafkaError as e:
            raise bus_error("kafka consumer stop failed", e) from e

    def lag(self) -> int | None:
        """Records in the assigned partitions not yet returned; None before the first fetch."""
        return self._lag

    async def _update_lag(self) -> None:
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):  # a timer, not a task as wait_for makes
                self._lag = await self._measure_lag()
        except (KafkaError, TimeoutError):
            self._lag = None
        if self._lag is not None:
            CONSUMER_LAG.labels(topic=self._topic.value, group=self._group).set(self._lag)

    async def _measure_lag(self) -> int | None:
        return await assigned_lag(self._consumer, self._consumer.assignment())


async def assigned_lag(consumer: Any, partitions: Any) -> int | None:
    """Records in ``partitions`` (assigned to ``consumer``) not yet returned; None if unknown."""
    if not partitions:
        return None
    total = 0
    for tp in partitions:
        high = consumer.highwater(tp)
        if high is None:
            return None
        total += max(0, high - await consumer.position(tp))
    return total


async def commit_pending(
    consumer: AIOKafkaConsumer,
    pending: dict[Any, int],
    *,
    topic: str,
    group: str,
    what: str = "kafka commit failed",
) -> None:
    """Commit ``pending`` (partition -> next offset) and drop what was committed.

    After a rebalance the commit is refused: the offsets are dropped, since the
    partitions' new owner reads those records again. Other errors are BusError.
    """
    offsets = dict(pending)
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as e:
        log.warning(
            "commit refused after a rebalance; offsets dropped",
            extra={"topic": topic, "group": group, "error": repr(e)},
        )
        pending.clear()
        return
    except KafkaError as e:
        raise bus_error(what, e) from e
    for tp, off in offsets.items():
        if pending.get(tp) == off:  # a poll meanwhile may have moved it on
            del pending[tp]


def by_partition(messages: Sequence[Message], partitions: list[int]) -> dict[int, list[Message]]:
    """``messages`` per partition, as the producer's default partitioner places them
    (murmur2 of the key), each partition's in the order given."""
    out: dict[int, list[Message]] = {}
    placed: dict[str, int] = {}
    for m in messages:
        partition = placed.get(m.key)
        if partition is None:
            key = m.key.encode()
            partition = placed[m.key] = _PARTITIONER(key, partitions, partitions)
        out.setdefault(partition, []).append(m)
    return out


def client_kwargs(s: KafkaSettings) -> dict[str, Any]:
    """Connection and security options shared by producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "security_protocol": s.security_protocol,
    }
    if s.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=str(s.ssl_cafile) if s.ssl_cafile else None,
            certfile=str(s.ssl_certfile) if s.ssl_certfile else None,
            keyfile=str(s.ssl_keyfile) if s.ssl_keyfile else None,
        )
    if s.security_protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = s.sasl_mechanism
        kwargs["sasl_plain_username"] = s.sasl_username
        kwargs["sasl_plain_password"] = s.sasl_password_value()
    return kwargs


class KafkaBus(Component):
    """A :class:`~soc.bus.base.Bus` on Apache Kafka."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: Any = None
        self._subscriptions: set[KafkaSubscription] = set()
        self._enqueuing: dict[tuple[str, int], asyncio.Lock] = {}
        """Per topic partition, held by the one publish handing batches to the producer."""

    def _client_kwargs(self) -> dict[str, Any]:
        return client_kwargs(self._settings)

    def topic_name(self, topic: Topic) -> str:
        return f"{self._settings.topic_prefix}.{topic.value}"

    def group_name(self, group: str) -> str:
        """The Kafka consumer group id of the stage group ``group``."""
        return f"{self._settings.topic_prefix}.{group}"

    async def start(self) -> None:
        """Create the topics and start the producer, retrying while Kafka comes up."""
        if self._producer is not None:
            return
        s = self._settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.connect_timeout_s
        delay = 0.25
        while True:
            remaining = deadline - loop.time()
            try:
                self._producer = await asyncio.wait_for(self._connect(), max(remaining, 0.1))
                break
            except (KafkaError, OSError, TimeoutError) as e:
                if isinstance(e, KafkaError) and not e.retriable:
                    raise bus_error(f"kafka at {s.bootstrap_servers} refused to start", e) from e
                error = e
            if loop.time() + delay >= deadline:
                raise BusError(
                    f"cannot reach kafka at {s.bootstrap_servers} within "
                    f"{s.connect_timeout_s:g}s: {error!r}",
                    retriable=True,
                ) from error
            log.warning(
                "kafka not reachable yet, retrying",
                extra={
                    "bootstrap_servers": s.bootstrap_servers,
                    "error": repr(error),
                    "retry_in_s": delay,
                },
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
        log.info(
            "kafka bus started",
            extra={"bootstrap_servers": s.bootstrap_servers, "topic_prefix": s.topic_prefix},
        )

    async def _connect(self) -> Any:
        await self._create_topics()
        s = self._settings
        producer = AIOKafkaProducer(
            **self._client_kwargs(),
            enable_idempotence=True,
            acks="all",
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.batch_bytes,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _create_topics(self) -> None:
        s = self._settings
        admin = AIOKafkaAdminClient(**self._client_kwargs())
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(self.topic_name(t), s.partitions, s.replication_factor) for t in Topic]
            )
        finally:
            await admin.close()
        for topic, code, *rest in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise for_code(code)(f"creating topic {topic}: {rest[0] if rest else ''}")

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as e:
                raise bus_error("kafka producer stop failed", e) from e
            log.info(
                "kafka bus stopped", extra={"bootstrap_servers": self._settings.bootstrap_servers}
            )

    async def publish(self, topic: Topic, messages: Sequence[Message]) -> None:
        producer = self._require_producer()
        if not messages:
            return
        name = self.topic_name(topic)
        futures: list[asyncio.Future[Any]] = []
        error: BaseException | None = None
        try:
            partitions = sorted(await producer.partitions_for(name))
            for partition, chunk in by_partition(messages, partitions).items():
                # One publish at a time hands a partition its batches, so they stay together
                # and only one waits in aiokafka's add_batch, whose timeout counts the time
                # since its start again on every wait (0.14) and so expires early for a
                # queue of waiters.
                lock = self._enqueuing.setdefault((name, partition), asyncio.Lock())
                try:
                    async with asyncio.timeout(ENQUEUE_TIMEOUT_S):
                        await lock.acquire()
                except TimeoutError as e:
                    raise KafkaTimeoutError(
                        f"{name}[{partition}] busy for {ENQUEUE_TIMEOUT_S}s"
                    ) from e
                try:
                    for batch in self._batches(producer, chunk):
                        futures.append(await producer.send_batch(batch, name, partition=partition))
                finally:
                    lock.release()
        except KafkaError as e:
            error = e
        results = await asyncio.gather(*futures, return_exceptions=True)
        error = error or next((r for r in results if isinstance(r, BaseException)), None)
        if error is not None:
            raise bus_error("kafka publish failed", error) from error

    def _batches(self, producer: Any, messages: list[Message]) -> Iterator[Any]:
        """``messages`` in order, in record batches of at most ``batch_bytes`` each."""
        limit = self._settings.batch_bytes
        batch = producer.create_batch()
        for m in messages:
            key = m.key.encode()
            if batch.append(key=key, value=m.value, timestamp=None) is None:
                yield batch
                batch = producer.create_batch()
                batch.append(key=key, value=m.value, timestamp=None)  # a first record fits
            if batch.record_count() == 1 and batch.size() > limit:
                raise MessageSizeTooLargeError(
                    f"a message of {batch.size()} bytes is larger than batch_bytes ({limit})"
                )
        if batch.record_count():
            yield batch

    async def subscribe(
        self, topic: Topic, group: str, *, rebalance: Rebalance | None = None
    ) -> KafkaSubscription:
        self._require_producer()
        consumer = AIOKafkaConsumer(
            **self._client_kwargs(),
            group_id=self.group_name(group),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.max_batch,
            fetch_min_bytes=self._settings.fetch_min_bytes,
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
        )
        subscription = KafkaSubscription(
            consumer,
            topic=topic,
            name=self.topic_name(topic),
            group=group,
            on_close=self._subscriptions.discard,
            rebalance=rebalance,
        )
        try:
            await consumer.start()
        except KafkaError as e:
            await consumer.stop()
            raise bus_error("kafka consumer start failed", e) from e
        self._subscriptions.add(subscription)
        return subscription

    async def changelog(self, name: str, *, like: Topic) -> KafkaChangelog:
        producer = self._require_producer()
        s = self._settings
        topic = f"{s.topic_prefix}.{name}"
        try:
            partitions = len(await producer.partitions_for(self.topic_name(like)))
            admin = AIOKafkaAdminClient(**self._client_kwargs())
            try:
                await admin.start()
                response = await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            partitions,
                            s.replication_factor,
                            topic_configs={"cleanup.policy": "compact"},
                        )
                    ]
                )
            finally:
                await admin.close()
        except KafkaError as e:
            raise bus_error(f"creating changelog {topic}", e) from e
        for name_, code, *rest in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                error = for_code(code)(f"creating changelog {name_}: {rest[0] if rest else ''}")
                raise bus_error(f"creating changelog {topic}", error)
        return KafkaChangelog(producer, topic, self._client_kwargs())

    async def check(self) -> None:
        producer = self._require_producer()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await producer.client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError) as e:
            raise BusError(
                f"kafka at {self._settings.bootstrap_servers} did not answer: {e!r}",
                retriable=True,
            ) from e

    def _require_producer(self) -> Any:
        if self._producer is None:
            raise BusError("kafka bus is not started")
        return self._producer


class KafkaChangelog:
    """A compacted topic written per partition by the bus's producer; see the module."""

    def __init__(self, producer: Any, topic: str, client: dict[str, Any]) -> None:
        self._producer = producer
        self._topic = topic
        self._client = client

    async def write(self, partition: int, records: Sequence[Record]) -> None:
        if not records:
            return
        futures: list[asyncio.Future[Any]] = []
        try:
            batch = self._producer.create_batch()
            for key, value in records:
                if batch.append(key=key.encode(), value=value, timestamp=None) is None:
                    futures.append(
                        await self._producer.send_batch(batch, self._topic, partition=partition)
                    )
                    batch = self._producer.create_batch()
                    if batch.append(key=key.encode(), value=value, timestamp=None) is None:
                        raise MessageSizeTooLargeError(f"a changelog record for {key[:80]!r}")
            if batch.record_count():
                futures.append(
                    await self._producer.send_batch(batch, self._topic, partition=partition)
                )
            await asyncio.gather(*futures)
        except KafkaError as e:
            raise bus_error(f"kafka changelog {self._topic} write failed", e) from e

    async def read(self, partition: int) -> list[Record]:
        from aiokafka import TopicPartition

        tp = TopicPartition(self._topic, partition)
        consumer = AIOKafkaConsumer(
            **self._client, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        out: list[Record] = []
        try:
            await consumer.start()
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=1000)
                for record in batches.get(tp, []):
                    if record.offset < end:
                        out.append(((record.key or b"").decode(), record.value))
        except KafkaError as e:
            raise bus_error(f"kafka changelog {self._topic} read failed", e) from e
        finally:
            await consumer.stop()
        return out
