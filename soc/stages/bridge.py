"""The ingest bridge: the per-tenant Kafka ingest topics in, events and dead letters out.

    connector --> <prefix>.ingest.<tenant> --> KafkaBridge --> <prefix>.events
                  (one NDJSON line a message)             \\--> <prefix>.deadletters

Each message's value is one NDJSON line, judged exactly as a line posted to
``POST /api/v1/ingest`` (:mod:`soc.ingest.ndjson`); the tenant is the topic's,
never the line's. Per batch: parse, publish the dead letters and then the
events, and only once the bus holds them commit the batch's offsets. A bridge
stopped or killed in between reads the batch again, and the replay adds
nothing downstream: an event's id comes from the connector's origin stamp (or
the record), a dead letter's from the message's topic, partition and offset.
Bad input becomes dead letters and a bus outage is waited out: neither stops
the bridge.

Only topics of tenants the settings know are read: the ingest keys' tenants
and ``ingest.kafka_bridge.tenants``. See :mod:`soc.bus.kafka_ingest` for what
happens to the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from soc.bus import Bus
from soc.ingest.ndjson import Parsed, parse_ndjson
from soc.log import get_logger
from soc.metrics import EVENTS_RECEIVED
from soc.models import DeadLetter, digest, utcnow
from soc.settings import ALL_TENANTS, IngestSettings, KafkaSettings, Settings
from soc.stages.ingest import publish_parsed
from soc.stages.runtime import ConsumerStage

if TYPE_CHECKING:  # aiokafka is imported only when a bridge runs
    from soc.bus.kafka_ingest import IngestMessage, IngestSubscription

log = get_logger(__name__)

STAGE = "bridge"
SOURCE_MAX = 200


def accepted_tenants(settings: Settings) -> frozenset[str]:
    """Tenants whose ingest topics are read: the ingest keys' and the bridge's own list."""
    keys = {t for k in settings.auth.api_keys if k.role == "ingest" for t in k.tenants}
    return frozenset(keys | set(settings.ingest.kafka_bridge.tenants))


def message_source(key: str) -> str:
    """The source of a message whose line names none: ``kafka:<connector>/<stream>``."""
    return f"kafka:{key}"[:SOURCE_MAX] if key else "kafka"


def parse_message(m: IngestMessage, *, received: datetime, max_line_bytes: int) -> Parsed:
    """The events and dead letters of one message; never raises."""
    source = message_source(m.key)
    try:
        parsed = parse_ndjson(
            m.value,
            tenant=m.tenant,
            source=source,
            received=received,
            max_line_bytes=max_line_bytes,
        )
    except Exception as e:  # one message no check foresaw must never stop the bridge
        detail = f"{type(e).__name__}: {e}"
        parsed = Parsed(
            dead=[
                DeadLetter.of(
                    m.value,
                    tenant=m.tenant,
                    source=source,
                    received=received,
                    stage="ingest",
                    reason="invalid",
                    detail=detail[:1000],
                    line=1,
                )
            ]
        )
    parsed.dead = [_keyed_by_position(d, m) for d in parsed.dead]
    return parsed


def _keyed_by_position(letter: DeadLetter, m: IngestMessage) -> DeadLetter:
    """A dead letter whose id is the message's place in Kafka, the same when it is read again."""
    where = digest("kafka", m.topic, str(m.partition), str(m.offset), str(letter.line))
    return letter.model_copy(update={"id": where})


class KafkaBridge(ConsumerStage["IngestMessage"]):
    """One member of the bridge group: reads the ingest topics, publishes to the bus."""

    name = STAGE

    def __init__(
        self,
        *,
        bus: Bus,
        kafka: KafkaSettings,
        settings: IngestSettings,
        tenants: frozenset[str],
    ) -> None:
        super().__init__()
        self._bus = bus
        self._kafka = kafka
        self._settings = settings
        self._tenants = tenants
        self.batch_size = settings.kafka_bridge.batch_size

    def accepts(self, tenant: str) -> bool:
        return ALL_TENANTS in self._tenants or tenant in self._tenants

    def describe(self) -> dict[str, object]:
        s = self._settings.kafka_bridge
        return {
            "group": s.group,
            "tenant_pattern": s.tenant_pattern,
            "tenants": sorted(self._tenants),
        }

    async def subscribe(self) -> IngestSubscription:
        from soc.bus.kafka_ingest import IngestSubscription  # aiokafka only when a bridge runs

        s = self._settings.kafka_bridge
        sub = IngestSubscription(
            self._kafka,
            group=s.group,
            tenant_pattern=s.tenant_pattern,
            accepts=self.accepts,
            refresh_s=s.topic_refresh_s,
            max_records=s.batch_size,
        )
        try:
            await sub.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await sub.close()
            raise
        return sub

    async def process(self, batch: Sequence[IngestMessage]) -> None:
        parsed = self.parse(batch)
        EVENTS_RECEIVED.labels(source="kafka").inc(len(parsed.events) + len(parsed.dead))
        # Parsed once, so a retried publish sends the same events (same ids, same times).
        await self.retrying(partial(publish_parsed, parsed, bus=self._bus, via="kafka"))
        if parsed.dead:
            log.info(
                "ingest bridge rejected messages",
                extra={"accepted": len(parsed.events), "rejected": len(parsed.dead)},
            )

    def parse(self, batch: Sequence[IngestMessage]) -> Parsed:
        received = utcnow()
        out = Parsed()
        for m in batch:
            one = parse_message(m, received=received, max_line_bytes=self._settings.max_line_bytes)
            out.events += one.events
            out.dead += one.dead
        return out
