"""The ingest stage: one request body in, events and dead letters on the bus.

Not a loop of its own: ``POST /api/v1/ingest`` (and the sample replay of
``soc run``) call :func:`ingest_ndjson` once per body, and the answer is sent
only after the good lines and the dead letters are durable on the bus. The
Kafka ingest bridge (bridge.py) publishes what it parses the same way
(:func:`publish_parsed`).
"""

from __future__ import annotations

import time

from soc.bus import Bus, Topic
from soc.bus.codec import encode
from soc.ingest.ndjson import Parsed, parse_ndjson
from soc.log import get_logger
from soc.metrics import EVENTS_ACCEPTED, EVENTS_RECEIVED, EVENTS_REJECTED, STAGE_LATENCY
from soc.models import IngestResult, utcnow
from soc.settings import IngestSettings

log = get_logger(__name__)


async def ingest_ndjson(
    body: bytes, *, tenant: str, source: str, bus: Bus, settings: IngestSettings
) -> IngestResult:
    """Publish the good lines and dead-letter the bad ones; returns once both are durable."""
    started = time.perf_counter()
    parsed = parse_ndjson(
        body,
        tenant=tenant,
        source=source,
        received=utcnow(),
        max_line_bytes=settings.max_line_bytes,
    )
    EVENTS_RECEIVED.labels(source="http").inc(len(parsed.events) + len(parsed.dead))
    await publish_parsed(parsed, bus=bus, via="http")
    STAGE_LATENCY.labels(stage="ingest").observe(time.perf_counter() - started)
    if parsed.dead:
        log.info(
            "ingest rejected lines",
            extra={"tenant": tenant, "accepted": len(parsed.events), "rejected": len(parsed.dead)},
        )
    limit = settings.max_errors_reported
    errors = parsed.errors
    return IngestResult(
        accepted=len(parsed.events),
        rejected=len(parsed.dead),
        errors=errors[:limit],
        errors_truncated=len(errors) > limit,
    )


async def publish_parsed(parsed: Parsed, *, bus: Bus, via: str) -> None:
    """Dead letters, then events, onto the bus; counted once both are durable.

    Dead letters go first: if the bus fails half-way, the sender (or the bridge)
    sends the whole input again, and both writes are idempotent by id downstream.
    ``via`` is the ``source`` label of the accepted counter (``http``, ``kafka``).
    """
    if parsed.dead:
        await bus.publish(Topic.deadletters, encode(parsed.dead))
    if parsed.events:
        await bus.publish(Topic.events, encode(parsed.events))
    for d in parsed.dead:
        EVENTS_REJECTED.labels(stage="ingest", reason=d.reason).inc()
    if parsed.events:
        EVENTS_ACCEPTED.labels(source=via).inc(len(parsed.events))
