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

A message with the ``soc-kind: heartbeat`` header is a connector's heartbeat, not an
event line (soc.models.FiledHeartbeat says why it shares the topic): checked as
``POST /api/v1/heartbeat`` checks one, it goes to the bus's ``heartbeats`` topic with
the topic's tenant, for the heartbeat sink (soc.stages.heartbeats) to file; one that
does not read as a heartbeat, or a ``soc-kind`` this bridge does not know, is
dead-lettered (reason ``not_json`` or ``invalid``, detail ``heartbeat: ...``) and
counted in ``soc_heartbeats_total{via="kafka",result="rejected"}``.

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

from pydantic import ValidationError

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.ingest.ndjson import Parsed, parse_ndjson
from soc.log import get_logger
from soc.metrics import EVENTS_RECEIVED, HEARTBEATS
from soc.models import (
    HEARTBEAT_HEADER,
    HEARTBEAT_KIND,
    DeadLetter,
    DeadLetterReason,
    FiledHeartbeat,
    Heartbeat,
    digest,
    utcnow,
)
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


def parse_heartbeat(m: IngestMessage, *, received: datetime) -> FiledHeartbeat | DeadLetter:
    """The heartbeat of one message marked as one, under its topic's tenant; or its dead
    letter. Never raises."""
    detail: str
    reason: DeadLetterReason = "invalid"
    if m.kind != HEARTBEAT_KIND.decode():
        detail = f"unknown {HEARTBEAT_HEADER} header {m.kind!r}"
    else:
        try:
            beat = Heartbeat.model_validate_json(m.value)
        except ValidationError as e:
            first = e.errors()[0]
            reason = "not_json" if first["type"] == "json_invalid" else "invalid"
            where = ".".join(str(x) for x in first["loc"])
            detail = f"heartbeat: {where + ': ' if where else ''}{first['msg']}"
        except Exception as e:  # one message no check foresaw must never stop the bridge
            detail = f"heartbeat: {type(e).__name__}: {e}"
        else:
            return FiledHeartbeat(tenant=m.tenant, received=received, heartbeat=beat)
    letter = DeadLetter.of(
        m.value,
        tenant=m.tenant,
        source=message_source(m.key),
        received=received,
        stage="ingest",
        reason=reason,
        detail=detail[:1000],
        line=1,
    )
    return _keyed_by_position(letter, m)


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
        lines = [m for m in batch if not m.kind]
        parsed = self.parse(lines)
        EVENTS_RECEIVED.labels(source="kafka").inc(len(parsed.events) + len(parsed.dead))
        beats: list[FiledHeartbeat] = []
        refused = 0
        if len(lines) < len(batch):
            received = utcnow()
            for m in batch:
                if m.kind:
                    one = parse_heartbeat(m, received=received)
                    if isinstance(one, FiledHeartbeat):
                        beats.append(one)
                    else:
                        parsed.dead.append(one)
                        refused += 1
        # Parsed once, so a retried publish sends the same events (same ids, same times).
        await self.retrying(partial(self._publish, parsed, beats))
        if refused:
            HEARTBEATS.labels(via="kafka", result="rejected").inc(refused)
            log.warning("ingest bridge rejected heartbeats", extra={"rejected": refused})
        if parsed.dead:
            log.info(
                "ingest bridge rejected messages",
                extra={"accepted": len(parsed.events), "rejected": len(parsed.dead)},
            )

    async def _publish(self, parsed: Parsed, beats: list[FiledHeartbeat]) -> None:
        """Dead letters, events, then heartbeats (a heartbeat is not ahead of the events
        read before it); a retry publishes all again, idempotent downstream."""
        await publish_parsed(parsed, bus=self._bus, via="kafka")
        if beats:
            await self._bus.publish(Topic.heartbeats, encode(beats))

    def parse(self, batch: Sequence[IngestMessage]) -> Parsed:
        received = utcnow()
        out = Parsed()
        for m in batch:
            one = parse_message(m, received=received, max_line_bytes=self._settings.max_line_bytes)
            out.events += one.events
            out.dead += one.dead
        return out
