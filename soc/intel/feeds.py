"""Each polled feed's record (Kind.intel_feed, id: the feed's name): where its polling
stands (``added_after``, kept across restarts), what it brought, and its last error."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from soc.models import UtcDatetime
from soc.store.records import Kind, Record, RecordQuery, Records, every
from soc.store.terms import micros


class FeedState(BaseModel):
    name: str
    tenant: str
    collection_url: str = ""
    added_after: str | None = None
    """The server's ``date_added`` of the last object read (TAXII's ``added_after``), as
    the server wrote it; the next poll asks only for what was added after it."""
    last_poll: UtcDatetime | None = None
    """When the last poll ended, well or not."""
    last_success: UtcDatetime | None = None
    last_error: str | None = None
    """The last poll's error; cleared by a poll that succeeds."""
    last_error_at: UtcDatetime | None = None
    polls: int = 0
    failures: int = 0
    objects: int = 0
    """STIX objects read so far, over every poll."""
    indicators: int = 0
    """Indicators stored new or changed so far."""
    last_counts: dict[str, int] = Field(default_factory=dict)
    """The last successful poll's counts: objects, indicators, stored, rejected, skipped."""


class Feeds:
    """Feed records over :class:`Records` (the tenant is the feed's, ``*`` for every one)."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def get(self, name: str) -> FeedState | None:
        record = await self._records.get_record(Kind.intel_feed, name)
        return FeedState.model_validate(record.doc) if record else None

    async def put(self, state: FeedState, *, now: datetime) -> None:
        stored = await self._records.get_record(Kind.intel_feed, state.name)
        record = Record(
            kind=Kind.intel_feed,
            id=state.name,
            tenant=state.tenant,
            sort=micros(now),
            doc=state.model_dump(mode="json"),
        )
        await self._records.put_record(record, expect=stored.version if stored else 0)

    async def all(self, tenants: list[str] | None) -> list[FeedState]:
        """Every feed record of ``tenants`` and of ``*`` (None: all)."""
        scope = None if tenants is None else [*tenants, "*"]
        query = RecordQuery(kind=Kind.intel_feed, tenants=scope, limit=1000, order="asc")
        return [FeedState.model_validate(r.doc) async for r in every(self._records, query)]
