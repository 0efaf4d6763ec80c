"""The loss ledger in the store: each owner's snapshot, one record per (owner, tenant).

Each event sink keeps the ledger of the events it stores (a stream's events share a bus
key, so one partition, so one sink at a time) and writes it here every
``sources.snapshot_s`` and at stop, under its owner (``sources.owner``, by default the
host name); at start it reads its own back. The account of a stream is the merge of
every owner's (:meth:`~soc.sources.ledger.Ledger.merge`): after a rebalance, the
stream's earlier records are in the former owner's snapshot, the later ones in the new
owner's.
"""

from __future__ import annotations

from datetime import datetime

from soc.errors import Conflict, StoreError
from soc.log import get_logger
from soc.sources.book import SourceBook
from soc.sources.ledger import Ledger
from soc.sources.models import LedgerSnapshot, StreamKey, StreamState
from soc.store.records import Kind, Record, RecordQuery, Records, every

OWNER = "owner"

log = get_logger(__name__)


def record_id(owner: str, tenant: str) -> str:
    return f"{owner}|{tenant}"


class LedgerRecords:
    """Reads and writes the owners' ledger snapshots over :class:`Records`."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._versions: dict[str, int] = {}

    async def load(self, owner: str) -> LedgerSnapshot:
        """``owner``'s ledger as last written (every tenant), empty when none."""
        query = RecordQuery(
            kind=Kind.ledger, tenants=None, terms={OWNER: [owner]}, limit=1000, order="asc"
        )
        streams: list[StreamState] = []
        async for record in every(self._records, query):
            self._versions[record.id] = record.version
            streams += LedgerSnapshot.model_validate(record.doc).streams
        return LedgerSnapshot(streams=streams)

    async def save(self, owner: str, ledger: Ledger, taken: datetime) -> None:
        """Write ``owner``'s ledger, one record per tenant (the latest write wins)."""
        by_tenant: dict[str, list[StreamState]] = {}
        for s in ledger.snapshot(taken).streams:
            by_tenant.setdefault(s.tenant, []).append(s)
        for tenant, streams in by_tenant.items():
            rid = record_id(owner, tenant)
            doc = LedgerSnapshot(taken=taken, streams=streams).model_dump(mode="json")
            record = Record(
                kind=Kind.ledger,
                id=rid,
                tenant=tenant,
                sort=int(taken.timestamp() * 1_000_000),
                terms={OWNER: [owner]},
                doc=doc,
            )
            for _ in range(3):
                expect = self._versions.get(rid)
                if expect is None:
                    stored = await self._records.get_record(Kind.ledger, rid)
                    expect = stored.version if stored is not None else 0
                try:
                    written = await self._records.put_record(record, expect=expect)
                except Conflict:
                    if rid in self._versions:  # this process wrote it last: another did since
                        log.error(
                            "another process writes this ledger: give each event sink on "
                            "one host its own sources.owner",
                            extra={"owner": owner, "tenant": tenant},
                        )
                    self._versions.pop(rid, None)  # written elsewhere: read its version again
                    continue
                self._versions[rid] = written.version
                break
            else:
                raise StoreError(f"ledger record {rid} kept changing", retriable=True)

    async def all(self, tenants: list[str] | None) -> list[LedgerSnapshot]:
        """Every owner's snapshot of ``tenants`` (``None``: all)."""
        query = RecordQuery(kind=Kind.ledger, tenants=tenants, limit=1000, order="asc")
        return [
            LedgerSnapshot.model_validate(record.doc)
            async for record in every(self._records, query)
        ]

    async def merged(self, tenants: list[str] | None, **kwargs: int) -> Ledger:
        """The account of ``tenants``' streams: every owner's snapshot merged, with what the
        connectors' heartbeats say they delivered (soc.sources.book): a stream whose
        connector reports records past the last one arrived has a gap at its end too."""
        ledger = Ledger.merged(await self.all(tenants), **kwargs)
        for source in await SourceBook(self._records).list(tenants):
            if source.seq is not None:
                key = StreamKey(source.tenant, source.connector, source.source, source.stream)
                ledger.report(key, source.seq, source.last_seen)
        return ledger
