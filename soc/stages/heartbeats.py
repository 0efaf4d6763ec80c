"""The heartbeat sink: connectors' heartbeats that came over Kafka, filed in the sources book.

    connector --> <prefix>.ingest.<tenant> --> KafkaBridge --> <prefix>.heartbeats
                  (header soc-kind: heartbeat)                  --> HeartbeatSink --> SourceBook

It runs beside the event sink (`soc run`, `soc detect`), its own consumer group on the
bus's ``heartbeats`` topic. Each message is a :class:`~soc.models.FiledHeartbeat`: the
heartbeat the bridge checked, with the tenant of the ingest topic it came on, the only
tenant filed (the heartbeat itself names none). It is filed as an HTTP heartbeat is
(:meth:`SourceBook.beat`), dated when the bridge received it, so a sink catching up
after an outage does not make a silent source look alive; the offsets are committed
once the store has it. A message that does not decode is dead-lettered (reason
``undecodable``) and counted in ``soc_heartbeats_total{via="kafka",result="rejected"}``;
it never stops the stage. An idle connector costs one small message per interval here.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from soc.bus import Bus, Message, Subscription, Topic
from soc.bus.codec import encode
from soc.errors import Conflict, StoreError
from soc.log import get_logger
from soc.metrics import EVENTS_REJECTED, HEARTBEATS
from soc.models import DeadLetter, DeadLetterReason, FiledHeartbeat, digest, utcnow
from soc.sources.book import SourceBook
from soc.stages.runtime import ConsumerStage
from soc.store import Store

log = get_logger(__name__)

GROUP = "soc-heartbeats"
SOURCE = "kafka:heartbeats"


class HeartbeatSink(ConsumerStage[Message]):
    """Files every heartbeat of the heartbeats topic; commits only after the store has it."""

    name = "heartbeats"

    def __init__(self, *, bus: Bus, store: Store, group: str = GROUP, batch_size: int = 200):
        super().__init__()
        self._bus = bus
        self._book = SourceBook(store)
        self._group = group
        self.batch_size = batch_size

    async def subscribe(self) -> Subscription:
        return await self._bus.subscribe(Topic.heartbeats, self._group)

    def describe(self) -> dict[str, object]:
        return {"group": self._group}

    async def process(self, batch: Sequence[Message]) -> None:
        dead: list[tuple[Message, DeadLetterReason, str]] = []
        filed = 0
        for m in batch:
            try:
                b = FiledHeartbeat.model_validate_json(m.value)
            except ValidationError as e:
                dead.append((m, "undecodable", f"heartbeat: {e.errors()[0]['msg']}"))
                continue
            # A retry after a store outage files the batch again: each write is the same.
            try:
                await self._book.beat(b.tenant, b.heartbeat, now=b.received)
            except StoreError as e:
                if e.retriable:
                    raise  # the runtime backs off and processes the batch again
                dead.append((m, "store_refused", f"heartbeat: {e}"))
                continue
            except Conflict as e:  # its records kept changing: the next heartbeat will do
                log.warning("heartbeat not filed", extra={"error": str(e)})
                continue
            filed += 1
        if dead:
            await self._dead(dead)
        if filed:
            HEARTBEATS.labels(via="kafka", result="filed").inc(filed)

    async def _dead(self, dead: list[tuple[Message, DeadLetterReason, str]]) -> None:
        now = utcnow()
        letters = [
            DeadLetter.of(
                m.value,
                # The bus key is "<tenant>/<connector>", set by the bridge from the topic.
                tenant=m.key.partition("/")[0] or "-",
                source=SOURCE,
                received=now,
                stage="ingest",
                reason=reason,
                detail=detail[:1000],
            ).model_copy(  # its place on the bus: the same letter when the batch is retried
                update={"id": digest("heartbeats", str(m.partition), str(m.offset))}
            )
            for m, reason, detail in dead
        ]
        await self._bus.publish(Topic.deadletters, encode(letters))
        for d in letters:
            EVENTS_REJECTED.labels(stage="ingest", reason=d.reason).inc()
        HEARTBEATS.labels(via="kafka", result="rejected").inc(len(letters))
        log.error("heartbeats dead-lettered", extra={"count": len(letters)})
