"""The audit trail in the store: the hash chain of :mod:`soc.audit.chain`, one record per entry.

An append reads the head, seals the next entry and creates it under its
sequence number; if another process took that number first, the create
fails with a conflict and the append tries again on the new head.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from soc.audit.chain import RETENTION_ACTION, AuditEntry, ChainReport, seal, verify
from soc.errors import Conflict
from soc.models import utcnow
from soc.store.records import NO_TENANT, Kind, Record, RecordQuery, Records

APPEND_TRIES = 20


def _audit_id(seq: int) -> str:
    return f"{seq:012d}"


class AuditTrail:
    """The append-only, hash-chained audit log (soc.audit.chain) in the store.

    An append seals the next entry on the head and creates it under its
    sequence number; if another process took that number first, the create
    fails with a conflict and the append tries again on the head read anew.
    The head this trail appended last is remembered: sequence numbers are dense
    and a create of ``seq`` succeeds only while ``seq`` is free, so a create on
    the remembered head either proves nobody appended since, or conflicts. So
    an append costs one write, and the head is read only after a conflict.
    """

    def __init__(self, records: Records) -> None:
        self._records = records
        self._lock = asyncio.Lock()
        self._last: AuditEntry | None = None
        """The entry this trail appended last, while no conflict has been seen since."""

    async def head(self) -> AuditEntry | None:
        return await self.latest()

    async def first(self) -> AuditEntry | None:
        """The oldest entry kept (seq 1 until retention cuts the chain's start)."""
        found = await self.entries(tenants=None, limit=1)
        return found[0] if found else None

    async def latest(
        self,
        *,
        tenants: list[str] | None = None,
        action: str | None = None,
        target: str | None = None,
    ) -> AuditEntry | None:
        """The newest entry, or the newest of this action and target among ``tenants``."""
        terms = {k: [v] for k, v in (("action", action), ("target", target)) if v is not None}
        page = await self._records.find_records(
            RecordQuery(kind=Kind.audit, tenants=tenants, terms=terms, order="desc", limit=1)
        )
        return AuditEntry.model_validate(page.items[0].doc) if page.items else None

    async def delete(self, from_seq: int, through_seq: int, *, batch: int) -> int:
        """Delete entries ``from_seq`` to ``through_seq``, ``batch`` per write, oldest first
        (so an interrupted pass leaves the chain's start cut, never a gap within it)."""
        deleted = 0
        for low in range(from_seq, through_seq + 1, batch):
            ids = [_audit_id(seq) for seq in range(low, min(low + batch, through_seq + 1))]
            deleted += await self._records.delete_records(Kind.audit, ids)
            await asyncio.sleep(0)
        return deleted

    async def append(
        self,
        *,
        actor: str,
        tenant: str | None,
        action: str,
        target: str,
        time: datetime | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry (``time`` defaults to now) and return it, sealed."""
        time = time or utcnow()
        async with self._lock:
            for _ in range(APPEND_TRIES):
                prev = self._last or await self.head()
                self._last = None
                entry = seal(
                    prev,
                    time=time,
                    actor=actor,
                    tenant=tenant,
                    action=action,
                    target=target,
                    before=before,
                    after=after,
                )
                record = Record(
                    kind=Kind.audit,
                    id=_audit_id(entry.seq),
                    tenant=tenant or NO_TENANT,
                    sort=entry.seq,
                    terms={"target": [target], "actor": [actor], "action": [action]},
                    doc=entry.model_dump(mode="json"),
                )
                try:
                    await self._records.put_record(record, expect=0)
                    self._last = entry
                    return entry
                except Conflict:
                    continue  # another process appended first: seal again on its entry
        raise Conflict(
            f"audit: could not append after {APPEND_TRIES} tries", expected=0, found=None
        )

    async def entries(
        self,
        *,
        tenants: list[str] | None,
        target: str | None = None,
        after_seq: int = 0,
        limit: int = 500,
    ) -> list[AuditEntry]:
        """In ``seq`` order from ``after_seq`` on."""
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.audit,
                tenants=tenants,
                terms={"target": [target]} if target else {},
                order="asc",
                sort_from=after_seq + 1,
                limit=limit,
            )
        )
        return [AuditEntry.model_validate(r.doc) for r in page.items]

    async def each(self, *, batch: int = 1000) -> AsyncIterator[AuditEntry]:
        """The whole chain in ``seq`` order."""
        seq = 0
        while True:
            chunk = await self.entries(tenants=None, after_seq=seq, limit=batch)
            for entry in chunk:
                yield entry
            if len(chunk) < batch:
                return
            seq = chunk[-1].seq

    async def verify(self) -> ChainReport:
        """The whole chain; once retention cut its start, from there (soc.audit.chain)."""
        first = await self.first()
        cut = None
        if first is not None and first.seq > 1:
            cut = await self.latest(action=RETENTION_ACTION)
        return verify([e async for e in self.each()], cut=cut)
