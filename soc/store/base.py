"""The store seam: what every store implementation promises.

Every pipeline write is idempotent by id: writing a record whose id is already
stored keeps the stored one (an alert an analyst already acknowledged is not
reset by a replay); only :meth:`Store.update_alerts` changes a stored alert.
Reads are scoped by tenant by the caller's query. Case records (incidents,
comments, users...) go through the versioned :class:`~soc.store.records.Records`
seam every store also implements, and the shared rate limits' state through the
:class:`~soc.store.counters.Counters` seam.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from soc.errors import QueryError
from soc.models import Alert, AlertPage, AlertQuery, DeadLetter, Drills, Event, UtcDatetime
from soc.store.counters import Counters
from soc.store.eventquery import EventPage, EventQuery, EventStats
from soc.store.records import Records


class RuleAlertCounts(BaseModel):
    """What one rule raised in a window: the rules page's columns (soc.api.routes.rules)."""

    alerts: int
    """Alerts of event time since the window's start."""
    recent: int
    """Of those, the alerts since the recent mark (e.g. 7 of 30 days)."""
    last: UtcDatetime
    """The event time of the newest one."""


@runtime_checkable
class Store(Records, Counters, Protocol):
    async def start(self) -> None:
        """Connect and create what is missing (tables, index templates)."""
        ...

    async def stop(self) -> None: ...

    async def check(self) -> None:
        """A real, cheap round trip; raises StoreError when it fails."""
        ...

    async def put_events(self, events: Sequence[Event]) -> None: ...

    async def put_alerts(self, alerts: Sequence[Alert]) -> None: ...

    async def put_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def get_event(self, event_id: str, *, tenants: list[str] | None) -> Event | None: ...

    async def get_alert(self, alert_id: str, *, tenants: list[str] | None) -> Alert | None: ...

    async def get_alerts(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Alert]:
        """The stored alerts among ``ids`` (in no particular order)."""
        ...

    async def get_events(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Event]:
        """The stored events among ``ids`` (in no particular order)."""
        ...

    async def update_alerts(self, alerts: Sequence[Alert]) -> None:
        """Replace stored alerts by these (status and incident changed by analysts).

        An alert not stored yet is not created.
        """
        ...

    async def alert_histogram(
        self,
        *,
        tenants: list[str] | None,
        since: datetime,
        until: datetime,
        bucket_s: int,
        drills: Drills = "include",
    ) -> dict[datetime, int]:
        """Alerts per bucket of event time in [since, until): bucket start (UTC) -> count.

        Buckets are aligned to the epoch; empty buckets are left out. ``drills``: count
        drills' alerts too (``include``), leave them out (``exclude``), or only them.
        """
        ...

    async def rule_alert_counts(
        self, *, tenants: list[str] | None, since: datetime, recent: datetime
    ) -> dict[str, RuleAlertCounts]:
        """Rule id -> its alerts of event time since ``since`` (and since ``recent``), by
        one aggregation over the alerts; rules without alerts there are left out."""
        ...

    async def search_alerts(self, query: AlertQuery) -> AlertPage:
        """Alerts newest first (by event time, then id), a page at a time."""
        ...

    async def search_events(self, query: EventQuery) -> EventPage:
        """Events matching ``query.where`` in [since, until), newest first (time, then id),
        a page at a time; the meaning of each query form is in :mod:`soc.store.eventquery`."""
        ...

    def scan_events(self, query: EventQuery, *, batch: int = 2000) -> AsyncIterator[list[Event]]:
        """Every matching event, newest first, ``batch`` at a time (``limit``/``cursor``
        ignored): the retro-hunt's read. Each batch is one bounded round trip."""
        ...

    async def event_histogram(self, query: EventQuery, *, bucket_s: int) -> dict[datetime, int]:
        """Matching events per bucket of event time in [since, until): bucket start -> count.

        Buckets are aligned to the epoch; empty buckets are left out.
        """
        ...

    async def event_stats(self, query: EventQuery, *, field: str, size: int = 10) -> EventStats:
        """The ``size`` commonest values of ``field`` (case-insensitive name; values as
        matched, lower-cased) among the matching events."""
        ...

    async def expire(self, now: datetime) -> dict[str, int]:
        """Delete what the retention periods no longer cover (``StoreSettings.retention``).

        Kind (events, alerts, deadletters, incidents, audit) -> records (SQLite) or whole
        indices (OpenSearch) deleted. Never deletes anything a period still covers.
        """
        ...

    async def count_dead_letters(self, *, tenants: list[str] | None) -> int: ...

    async def list_dead_letters(
        self, *, tenants: list[str] | None, limit: int = 100
    ) -> list[DeadLetter]:
        """Newest first."""
        ...


def encode_cursor(time: datetime, record_id: str) -> str:
    """An opaque cursor for the position after ``(time, id)`` in newest-first order."""
    raw = json.dumps([time.isoformat(), record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        t, rid = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(t), str(rid)
    except (ValueError, TypeError) as e:
        raise QueryError(f"invalid cursor: {cursor[:40]!r}") from e
