"""Reading the audit trail from a shared cursor: how watches act on what people did.

    follower = TrailFollower(records, trail, kind=Kind.notify_cursor, cursor_id="audit")
    made = await follower.read(handle)   # handle(entry) -> how many things it made

The cursor is one record (``kind``/``cursor_id``) that every process running the same
watch advances: it only moves forward, and a lost race is harmless, since a watch's
handler makes its things with ids of their own (an entry read twice makes nothing new).
The first start begins at the trail's head (from now on, not the whole history).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from soc.audit.chain import AuditEntry
from soc.audit.trail import AuditTrail
from soc.errors import Conflict
from soc.store.records import NO_TENANT, Kind, Record, Records

BATCH = 500


class TrailFollower:
    def __init__(
        self,
        records: Records,
        trail: AuditTrail,
        *,
        kind: Kind,
        cursor_id: str,
        terms: dict[str, list[str]] | None = None,
    ) -> None:
        self._records = records
        self._trail = trail
        self._kind = kind
        self._id = cursor_id
        self._terms = terms or {}
        self._cursor: int | None = None

    async def stored(self) -> int | None:
        """The shared cursor as stored; ``None`` before the first start."""
        record = await self._records.get_record(self._kind, self._id)
        return None if record is None else int(record.doc["seq"])

    async def cursor(self) -> int:
        """The sequence number of the last entry read (the trail's head at the first start)."""
        if self._cursor is None:
            stored = await self.stored()
            if stored is not None:
                self._cursor = stored
            else:
                head = await self._trail.head()
                self._cursor = head.seq if head is not None else 0
                await self.save(self._cursor)
        return self._cursor

    async def read(self, handle: Callable[[AuditEntry], Awaitable[int]]) -> int:
        """Hand every entry after the cursor to ``handle``, advancing the cursor batch by
        batch; the sum of what ``handle`` returned."""
        made = 0
        while True:
            after = await self.cursor()
            entries = await self._trail.entries(tenants=None, after_seq=after, limit=BATCH)
            for entry in entries:
                made += await handle(entry)
            if not entries:
                return made
            self._cursor = entries[-1].seq
            await self.save(self._cursor)
            if len(entries) < BATCH:
                return made

    async def save(self, seq: int) -> None:
        """Advance the shared cursor to ``seq`` (never back); a lost race is harmless."""
        for _ in range(3):
            stored = await self._records.get_record(self._kind, self._id)
            if stored is not None and int(stored.doc["seq"]) >= seq:
                return
            record = Record(
                kind=self._kind,
                id=self._id,
                tenant=NO_TENANT,
                sort=seq,
                terms=self._terms,
                doc={"seq": seq},
            )
            with contextlib.suppress(Conflict):
                await self._records.put_record(
                    record, expect=stored.version if stored is not None else 0
                )
                return
