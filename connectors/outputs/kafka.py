"""Delivery to Kafka: idempotent producer, acks from all in-sync replicas, one key per stream.

Each event is one message on the tenant's ingest topic (``soc.ingest.<tenant>``),
keyed ``<connector>/<stream>`` so that a stream's events stay in one
partition, in order. The events of one ``send`` go into one record batch per
partition, filled across entries and handed over when full (1 MiB) or at the
end: aiokafka puts at most one batch per partition in a request and keeps
one request per broker in flight, so each batch of a partition costs a round
trip, and a batch per entry would cost one per entry. TLS and SASL settings
are passed through to aiokafka. After a failure the producer is closed and
a new one made on the next try, so no half-broken connection state carries
over. aiokafka's own logs are kept to CRITICAL: while a broker is down it
logs every retry, several times a second; the agent logs the failure itself,
at a bounded rate. The agent's heartbeat is one more message on the same topic, keyed
``<connector>`` and marked by the ``soc-kind: heartbeat`` record header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner

from connectors.config import KafkaOutput, read_secret
from connectors.errors import ConfigError, DeliveryError
from connectors.spool import Entry
from soc.models import HEARTBEAT_HEADER, HEARTBEAT_KIND

logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
_PARTITIONER = DefaultPartitioner()


class KafkaDelivery:
    def __init__(self, config: KafkaOutput, *, topic: str, connector: str) -> None:
        self.config = config
        self.topic = topic
        self.connector = connector
        self.name = f"kafka:{topic}"
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        """The sender and the heartbeat share one producer: one of them makes it."""

    def _options(self) -> dict[str, Any]:
        c = self.config
        opts: dict[str, Any] = {
            "bootstrap_servers": c.bootstrap_servers,
            "enable_idempotence": True,
            "acks": "all",
            "compression_type": None if c.compression == "none" else c.compression,
            "linger_ms": 5,
            "retry_backoff_ms": 500,
            "max_batch_size": 1 << 20,
            "max_request_size": c.max_message_bytes,
            "request_timeout_ms": int(c.request_timeout_s * 1000),
            "security_protocol": c.security_protocol,
        }
        if c.security_protocol in ("SSL", "SASL_SSL"):
            opts["ssl_context"] = create_ssl_context(
                cafile=str(c.ssl_cafile) if c.ssl_cafile else None,
                certfile=str(c.ssl_certfile) if c.ssl_certfile else None,
                keyfile=str(c.ssl_keyfile) if c.ssl_keyfile else None,
            )
        if c.security_protocol.startswith("SASL"):
            opts["sasl_mechanism"] = c.sasl_mechanism or "PLAIN"
            opts["sasl_plain_username"] = c.sasl_username
            if c.sasl_password_file:
                opts["sasl_plain_password"] = read_secret(c.sasl_password_file)
        return opts

    async def _ready(self) -> AIOKafkaProducer:
        async with self._starting:
            return await self._start()

    async def _start(self) -> AIOKafkaProducer:
        if self._producer is None:
            try:
                options = self._options()
            except (ConfigError, OSError, ValueError) as e:  # unreadable TLS file or SASL secret
                raise DeliveryError("config", f"{self.name}: {e}") from e
            producer = AIOKafkaProducer(**options)
            try:
                await producer.start()
            except (KafkaError, OSError) as e:
                await _quietly_stop(producer)
                raise DeliveryError("unreachable", f"{self.name}: {e!r}") from e
            self._producer = producer
        return self._producer

    async def send(self, entries: list[Entry]) -> None:
        producer = await self._ready()
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self.config.request_timeout_s + 5):
                partitions = sorted(await producer.partitions_for(self.topic))
                # One record batch per partition, filled across entries and handed over
                # only when full or at the end: aiokafka sends one batch per partition per
                # round trip, so a batch per entry would cost a round trip per entry.
                batches: dict[int, Any] = {}
                for entry in entries:
                    key = f"{self.connector}/{entry.stream}".encode()
                    # One stream, one key, one partition: hashed once per entry.
                    partition = _PARTITIONER(key, partitions, partitions)
                    batch = batches.get(partition) or producer.create_batch()
                    for line in entry.body.splitlines():
                        if batch.append(key=key, value=line, timestamp=None) is None:
                            futures.append(
                                await producer.send_batch(batch, self.topic, partition=partition)
                            )
                            batch = producer.create_batch()
                            batch.append(key=key, value=line, timestamp=None)
                    batches[partition] = batch
                for partition, batch in batches.items():
                    if batch.record_count():
                        futures.append(
                            await producer.send_batch(batch, self.topic, partition=partition)
                        )
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as e:
            # aiokafka retries a broker that is down without end; the timeout turns that
            # into a failure the agent can see, count and report.
            for f in futures:
                if not f.done():
                    f.cancel()
            await self._reset()
            reason = "timeout" if isinstance(e, TimeoutError) else "kafka_error"
            raise DeliveryError(reason, f"{self.name}: {e!r}") from e

    async def heartbeat(self, body: bytes) -> None:
        """One message on the ingest topic, beside the events, keyed by the connector and
        marked by the ``soc-kind: heartbeat`` header: the SOC's bridge files it under the
        topic's tenant (soc.models.FiledHeartbeat says why not a topic of its own). A
        failure is the agent's to log; the producer is left to the sender to reset."""
        producer = await self._ready()
        try:
            async with asyncio.timeout(self.config.request_timeout_s + 5):
                await producer.send_and_wait(
                    self.topic,
                    value=body,
                    key=self.connector.encode(),
                    headers=[(HEARTBEAT_HEADER, HEARTBEAT_KIND)],
                )
        except (KafkaError, OSError, TimeoutError) as e:
            reason = "timeout" if isinstance(e, TimeoutError) else "kafka_error"
            raise DeliveryError(reason, f"{self.name}: heartbeat: {e!r}") from e

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)

    async def close(self) -> None:
        await self._reset()


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    # Stopping a broken producer may fail in many ways; the next one starts clean.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 10)
