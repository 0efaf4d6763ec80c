"""The sources book: one record per (tenant, connector, source, stream), kept by heartbeats.

    book = SourceBook(store)
    await book.beat("hue-ioc", heartbeat)           # POST /api/v1/heartbeat
    views = await book.list(["hue-ioc"])            # GET /api/v1/sources, `soc sources`

Each connector reports every ``interval_s`` (:class:`soc.models.Heartbeat`): per
stream, the highest seq its destination acknowledged, its spool backlog and the
sends that failed. The book keeps the last report of each stream as a
:class:`Source` record (``Kind.source``), with when it was first and last heard
of. Its state is not stored but judged when read (:func:`state_of`): healthy,
``late`` after two intervals without a heartbeat, ``silent`` after five. A
stream the connector no longer reports keeps its record and goes silent.
The tenant is the ingest key's, never the heartbeat's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from soc.errors import Conflict
from soc.models import Heartbeat, StreamBeat, UtcDatetime, utcnow
from soc.store.records import Kind, Record, RecordQuery, Records, every

LATE_INTERVALS = 2
"""No heartbeat for this many intervals: the source is late."""
SILENT_INTERVALS = 5
"""No heartbeat for this many intervals: the source is silent."""


class SourceState(StrEnum):
    healthy = "healthy"
    late = "late"
    silent = "silent"


class Source(BaseModel):
    """One stream of one connector of one tenant, as its last heartbeat told it."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    connector: str
    source: str
    stream: str
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    """When the last heartbeat naming this stream arrived."""
    interval_s: float = Field(gt=0)
    """The connector's heartbeat interval, as it reported it."""
    version: str
    host: str
    seq: int | None = None
    """Highest seq the connector's destination acknowledged, as ever reported."""
    sent: int | None = None
    """Highest seq the connector has handed to its destination, as ever reported."""
    backlog: int = 0
    oldest_backlog_s: float = 0.0
    failures: int = 0


class SourceView(Source):
    state: SourceState


def state_of(last_seen: datetime, interval_s: float, now: datetime) -> SourceState:
    """Healthy, late (no heartbeat for 2 intervals) or silent (for 5)."""
    age = (now - last_seen).total_seconds()
    if age >= SILENT_INTERVALS * interval_s:
        return SourceState.silent
    if age >= LATE_INTERVALS * interval_s:
        return SourceState.late
    return SourceState.healthy


def source_id(tenant: str, connector: str, source: str, stream: str) -> str:
    """A record id of bounded length: streams are up to 1000 characters."""
    key = "\x00".join((tenant, connector, source, stream)).encode()
    return hashlib.sha256(key).hexdigest()[:40]


def _record(s: Source) -> Record:
    return Record(
        kind=Kind.source,
        id=source_id(s.tenant, s.connector, s.source, s.stream),
        tenant=s.tenant,
        sort=int(s.last_seen.timestamp() * 1_000_000),
        terms={"connector": [s.connector], "source": [s.source]},
        doc=s.model_dump(mode="json"),
    )


class SourceBook:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def beat(
        self, tenant: str, beat: Heartbeat, *, now: datetime | None = None
    ) -> list[Source]:
        """File ``beat`` under ``tenant``: each of its streams' records made or updated."""
        at = now or utcnow()
        return [await self._one(tenant, beat, s, at) for s in beat.streams]

    async def _one(self, tenant: str, beat: Heartbeat, s: StreamBeat, at: datetime) -> Source:
        rid = source_id(tenant, beat.connector, s.source, s.stream)
        for _ in range(5):  # two heartbeats of one connector at once: the later read wins
            old = await self.records.get_record(Kind.source, rid)
            prev = Source.model_validate(old.doc) if old is not None else None
            # The highest ever reported: an agent restarted knows none until its next ack.
            seqs = [q for q in (s.seq, prev.seq if prev is not None else None) if q is not None]
            seq = max(seqs) if seqs else None
            sents = [q for q in (s.sent, prev.sent if prev is not None else None) if q is not None]
            src = Source(
                tenant=tenant,
                connector=beat.connector,
                source=s.source,
                stream=s.stream,
                first_seen=prev.first_seen if prev is not None else at,
                last_seen=at,
                interval_s=beat.interval_s,
                version=beat.version,
                host=beat.host,
                seq=seq,
                sent=max(sents) if sents else None,
                backlog=s.backlog,
                oldest_backlog_s=s.oldest_s,
                failures=s.failures,
            )
            try:
                await self.records.put_record(
                    _record(src), expect=old.version if old is not None else 0
                )
            except Conflict:
                continue
            return src
        raise Conflict(f"source {rid} kept changing", expected=0, found=None)

    async def list(
        self,
        tenants: Sequence[str] | None,
        *,
        connector: str | None = None,
        now: datetime | None = None,
    ) -> list[SourceView]:
        """Every source of ``tenants`` (None: all), most recently heard first, with its state."""
        at = now or utcnow()
        query = RecordQuery(
            kind=Kind.source,
            tenants=None if tenants is None else list(tenants),
            terms={"connector": [connector]} if connector else {},
            limit=1000,
        )
        out = []
        async for r in every(self.records, query):
            s = Source.model_validate(r.doc)
            out.append(SourceView(**s.model_dump(), state=state_of(s.last_seen, s.interval_s, at)))
        return out
