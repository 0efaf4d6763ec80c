"""Searching the stored events: the event explorer's list, one event, top values, hits over time.

``q`` is the Lucene-style query language of :mod:`soc.store.eventquery`; a
malformed query answers 400 with the ``column`` it goes wrong at, so the query
box can point there. Viewers, analysts and leads only (``events:read``, as
``alerts:read``): a responder works the incidents handed to its unit, and an
admin sees no data (soc/security/roles.py). Every read is narrowed to the
caller's tenants; another tenant's event answers 404 as a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from soc.api.deps import Allowed, ServiceDep, StoreDep
from soc.api.errors import ApiError, problems
from soc.drills.marks import require_drill_query
from soc.models import Event, UtcDatetime, utcnow
from soc.security.principal import Principal
from soc.security.roles import scope
from soc.store.eventquery import MAX_QUERY_CHARS, EventPage, EventQuery, EventStats, parse

router = APIRouter(prefix="/api/v1", tags=["events"], responses=problems(401, 403, 422, 503))

EventReader = Annotated[Principal, Depends(Allowed("events:read"))]

DEFAULT_RANGE = timedelta(hours=24)
"""The histogram's range when the caller gives no ``since``: the day before ``until``."""
WIDTHS_S: tuple[int, ...] = (
    1,
    5,
    10,
    30,
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
)
"""Round bucket widths a person reads at a glance; past a week, whole multiples of a day."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Q = Annotated[
    str | None,
    Query(
        max_length=MAX_QUERY_CHARS, description="A query (soc.store.eventquery); none: every event"
    ),
]
Since = Annotated[datetime | None, Query(description="Event time from (inclusive)")]
Until = Annotated[datetime | None, Query(description="Event time to (exclusive)")]
Tenants = Annotated[list[str] | None, Query(description="Only these tenants")]


def _query(
    principal: Principal,
    tenant: list[str] | None,
    q: str | None,
    since: datetime | None,
    until: datetime | None,
    **paging: int | str | None,
) -> EventQuery:
    """The store's query, narrowed to the caller's tenants; a malformed ``q`` raises (400)."""
    require_drill_query(principal, q)
    return EventQuery(
        tenants=scope(principal, "events:read", tenant),
        where=parse(q or ""),
        since=since,
        until=until,
        **paging,
    )


@router.get(
    "/events",
    response_model=EventPage,
    summary="Stored events matching a query, newest first, a page at a time",
    responses=problems(400),
)
async def list_events(
    principal: EventReader,
    store: StoreDep,
    service: ServiceDep,
    q: Q = None,
    since: Since = None,
    until: Until = None,
    tenant: Tenants = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the page before")
    ] = None,
) -> EventPage:
    query = _query(principal, tenant, q, since, until, limit=limit, cursor=cursor)
    return await service.marks.scrub(principal, await store.search_events(query))


@router.get(
    "/events/stats",
    response_model=EventStats,
    summary="The commonest values of one field among the matching events",
    responses=problems(400),
)
async def event_stats(
    principal: EventReader,
    store: StoreDep,
    field: Annotated[str, Query(min_length=1, max_length=200, description="A field name")],
    q: Q = None,
    since: Since = None,
    until: Until = None,
    tenant: Tenants = None,
    size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> EventStats:
    require_drill_query(principal, field)
    query = _query(principal, tenant, q, since, until)
    return await store.event_stats(query, field=field, size=size)


class Bucket(BaseModel):
    start: UtcDatetime
    """Start of the bucket (UTC), aligned to the epoch."""
    count: int


class EventHistogram(BaseModel):
    since: UtcDatetime
    until: UtcDatetime
    bucket_s: int
    """The width of every bucket, in seconds: a round one (1 min, 5 min, 1 h...)."""
    buckets: list[Bucket]
    """Oldest first, every bucket of [since, until) including empty ones."""
    total: int


def bucket_count(since: datetime, until: datetime, width_s: int) -> int:
    """How many epoch-aligned buckets of ``width_s`` meet [since, until)."""
    first = int((since - EPOCH).total_seconds()) // width_s
    last = -(-int((until - EPOCH).total_seconds() * 1_000_000) // (width_s * 1_000_000))
    return max(last - first, 1)


def bucket_width(since: datetime, until: datetime, buckets: int) -> int:
    """The narrowest round width, in seconds, giving about ``buckets`` aligned buckets: at
    most one more, the partial bucket the alignment cuts at the range's start (an hour in
    minutes is 61 buckets unless it starts on a whole minute)."""
    most = buckets + 1
    for width in WIDTHS_S:
        if bucket_count(since, until, width) <= most:
            return width
    days = max(int((until - since).total_seconds() // (86400 * buckets)), 1)
    while bucket_count(since, until, days * 86400) > most:
        days += 1
    return days * 86400


def bucket_starts(since: datetime, until: datetime, width_s: int) -> list[datetime]:
    """Every epoch-aligned bucket start whose bucket meets [since, until), oldest first."""
    first = int((since - EPOCH).total_seconds()) // width_s * width_s
    return [
        EPOCH + timedelta(seconds=first + i * width_s)
        for i in range(bucket_count(since, until, width_s))
    ]


@router.get(
    "/events/histogram",
    response_model=EventHistogram,
    summary="Matching events over time, in round buckets",
    responses=problems(400),
)
async def event_histogram(
    principal: EventReader,
    store: StoreDep,
    q: Q = None,
    since: Since = None,
    until: Until = None,
    tenant: Tenants = None,
    buckets: Annotated[int, Query(ge=1, le=500, description="At most about this many")] = 60,
) -> EventHistogram:
    query = _query(principal, tenant, q, since, until)
    end = query.until or utcnow()
    start = query.since or end - DEFAULT_RANGE
    if start >= end:
        raise ApiError(400, "invalid_request", "since must be before until")
    if start < EPOCH:  # buckets are aligned to the epoch; before it they may not exist
        raise ApiError(400, "invalid_request", "since must be on or after 1970-01-01")
    query = query.model_copy(update={"since": start, "until": end})
    width = bucket_width(start, end, buckets)
    counts = await store.event_histogram(query, bucket_s=width)
    found = [Bucket(start=s, count=counts.get(s, 0)) for s in bucket_starts(start, end, width)]
    return EventHistogram(
        since=start,
        until=end,
        bucket_s=width,
        buckets=found,
        total=sum(b.count for b in found),
    )


@router.get(
    "/events/{event_id}",
    response_model=Event,
    summary="One stored event, with its normalized fields and raw record",
    responses=problems(404),
)
async def get_event(
    event_id: str, principal: EventReader, store: StoreDep, service: ServiceDep
) -> Event:
    event = await store.get_event(event_id, tenants=scope(principal, "events:read"))
    if event is None:
        raise ApiError(404, "not_found", "no such event")
    return await service.marks.scrub(principal, event)
