"""The outbox: one record per (notice, channel) until it is sent or given up.

Its id is :meth:`OutboxItem.make_id` of the notice's key and the channel, and it is
created with ``expect=0``: a second enqueue of the same notice (another process read the
same audit entry) conflicts and is dropped, so there is one message per (event,
recipient). A sender takes a due message by writing it as ``sending`` at the version it
read, with a claim that ends at ``next_at``: of two senders that read it, one write wins,
and the other's conflicts, so one sends. A claim whose sender died ends and the message
is due again. The record's ``sort`` is ``next_at``, so "due" is one range query.
"""

from __future__ import annotations

from datetime import datetime

from soc.errors import Conflict
from soc.notify.models import OutboxItem, OutboxState
from soc.store.records import Kind, Record, RecordPage, RecordQuery, Records, decode_after
from soc.store.terms import micros

ACTIVE = [OutboxState.pending.value, OutboxState.sending.value]


def to_record(item: OutboxItem) -> Record:
    terms = {"state": [item.state.value], "channel": [item.channel], "trigger": [item.trigger]}
    if item.incident:
        terms["incident"] = [item.incident]
    return Record(
        kind=Kind.outbox,
        id=item.id,
        tenant=item.tenant,
        sort=micros(item.next_at),
        terms=terms,
        doc=item.model_dump(mode="json", exclude={"version"}),
    )


def of_record(record: Record) -> OutboxItem:
    return OutboxItem.model_validate(record.doc | {"version": record.version})


class Outbox:
    def __init__(self, records: Records) -> None:
        self._records = records

    async def enqueue(self, item: OutboxItem) -> OutboxItem | None:
        """Store ``item`` unless its id is already stored: as stored, ``None`` if it was."""
        try:
            stored = await self._records.put_record(to_record(item), expect=0)
        except Conflict:
            return None
        return of_record(stored)

    async def get(self, item_id: str, *, tenants: list[str] | None) -> OutboxItem | None:
        record = await self._records.get_record(Kind.outbox, item_id)
        if record is None or (tenants is not None and record.tenant not in tenants):
            return None
        return of_record(record)

    async def due(self, now: datetime, *, limit: int = 50) -> list[OutboxItem]:
        """Pending messages due, and claims ended, oldest first."""
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.outbox,
                tenants=None,
                terms={"state": ACTIVE},
                sort_to=micros(now) + 1,
                order="asc",
                limit=limit,
            )
        )
        return [of_record(r) for r in page.items]

    async def write(self, item: OutboxItem) -> OutboxItem | None:
        """Write ``item`` at the version it was read; ``None`` when someone wrote it since."""
        try:
            stored = await self._records.put_record(to_record(item), expect=item.version)
        except Conflict:
            return None
        return of_record(stored)

    async def purge(self, before: datetime, *, batch: int = 500) -> int:
        """Delete sent and given-up messages whose last attempt is older than ``before``."""
        deleted = 0
        while True:
            page = await self._records.find_records(
                RecordQuery(
                    kind=Kind.outbox,
                    tenants=None,
                    terms={"state": [OutboxState.sent.value, OutboxState.given_up.value]},
                    sort_to=micros(before),
                    order="asc",
                    limit=batch,
                )
            )
            if not page.items:
                return deleted
            deleted += await self._records.delete_records(Kind.outbox, [r.id for r in page.items])
            if len(page.items) < batch:
                return deleted

    async def list(
        self,
        *,
        tenants: list[str] | None,
        state: list[OutboxState] | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RecordPage:
        terms: dict[str, list[str]] = {}
        if state:
            terms["state"] = [s.value for s in state]
        if channel:
            terms["channel"] = [channel]
        return await self._records.find_records(
            RecordQuery(
                kind=Kind.outbox,
                tenants=tenants,
                terms=terms,
                order="desc",
                limit=limit,
                after=decode_after(cursor),
            )
        )
