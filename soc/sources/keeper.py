"""Sources' activity and dead letters in the store: each sink's own records, merged when read.

Each event sink counts the events it stores (:class:`ActivityKeeper`), each dead-letter
sink the dead letters it stores (:class:`RejectsKeeper`), under its owner
(``sources.owner``, by default the host name): one record per (owner, source), of kind
``activity`` or ``rejects``, written at its version when it changed, before each commit
of its sink's offsets (so a sink killed anywhere re-reads what its records have not
counted), and at stop. At start a keeper reads its own records back. Readers
(:func:`load_activity`, :func:`load_rejects`) merge every owner's records: a source
moved to another sink by a rebalance is counted by both, each for its part.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from soc.errors import Conflict, StoreError
from soc.log import get_logger
from soc.models import DeadLetter, Event
from soc.settings import SourcesSettings
from soc.sources.activity import Activity, Rejects, key_of, merge, merge_rejects
from soc.sources.models import StreamKey
from soc.store.records import Kind, Record, RecordQuery, Records, every

log = get_logger(__name__)

OWNER = "owner"


def record_id(owner: str, *key: str) -> str:
    raw = "\x00".join((owner, *key)).encode()
    return hashlib.sha256(raw).hexdigest()[:40]


class _Writer:
    """Versioned writes of one owner's records: the owner's latest write wins."""

    def __init__(self, records: Records, kind: Kind, owner: str) -> None:
        self.records = records
        self.kind = kind
        self.owner = owner
        self.versions: dict[str, int] = {}

    async def load(self) -> list[Record]:
        query = RecordQuery(
            kind=self.kind, tenants=None, terms={OWNER: [self.owner]}, limit=1000, order="asc"
        )
        out = []
        async for record in every(self.records, query):
            self.versions[record.id] = record.version
            out.append(record)
        return out

    async def put(self, rid: str, tenant: str, source: str, doc: dict[str, object]) -> None:
        record = Record(
            kind=self.kind,
            id=rid,
            tenant=tenant,
            sort=int(time.time() * 1_000_000),
            terms={OWNER: [self.owner], "source": [source]},
            doc=doc,
        )
        for _ in range(3):
            expect = self.versions.get(rid)
            if expect is None:
                stored = await self.records.get_record(self.kind, rid)
                expect = stored.version if stored is not None else 0
            try:
                written = await self.records.put_record(record, expect=expect)
            except Conflict:
                self.versions.pop(rid, None)  # written elsewhere: read its version again
                continue
            self.versions[rid] = written.version
            return
        raise StoreError(f"{self.kind.value} record {rid} kept changing", retriable=True)


def owner_of(settings: SourcesSettings) -> str:
    return settings.owner or socket.gethostname()


class ActivityKeeper:
    """One event sink's count of what each source sent."""

    def __init__(self, *, store: Records, settings: SourcesSettings) -> None:
        self._settings = settings
        self._writer = _Writer(store, Kind.activity, owner_of(settings))
        self.activity: dict[StreamKey, Activity] = {}
        self._dirty: set[StreamKey] = set()

    async def restore(self) -> None:
        for record in await self._writer.load():
            a = Activity.model_validate(record.doc)
            self.activity[a.key] = a

    def observe(self, events: Sequence[Event], sizes: Sequence[int]) -> None:
        """Count a batch the store now has (``sizes``: each event's bytes on the bus)."""
        # Events of one source arriving in one second are one arrival: counted together.
        arrivals: dict[tuple[StreamKey, int], list[Any]] = {}
        for event, size in zip(events, sizes, strict=True):
            key = key_of(event)
            if key is None:
                continue
            at = event.received
            one = arrivals.get((key, int(at.timestamp())))
            if one is None:
                arrivals[(key, int(at.timestamp()))] = [at, 1, size]
            else:
                one[0] = max(one[0], at)
                one[1] += 1
                one[2] += size
        for (key, _), (at, count, size) in sorted(arrivals.items(), key=lambda kv: kv[0][1]):
            a = self.activity.get(key)
            if a is None:
                a = self.activity[key] = Activity.of(key)
            a.observe(at, size, count=count, breaks_min_s=self._settings.breaks_min_s)
            self._dirty.add(key)

    async def save(self) -> None:
        for key in list(self._dirty):
            a = self.activity[key]
            rid = record_id(self._writer.owner, *key)
            await self._writer.put(rid, key.tenant, key.source, a.model_dump(mode="json"))
            self._dirty.discard(key)

    async def maintain(self) -> None:
        """Nothing between commits: saved before each (see ``save``)."""


class RejectsKeeper:
    """One dead-letter sink's count of the dead letters of each (tenant, source)."""

    def __init__(self, *, store: Records, settings: SourcesSettings) -> None:
        self._settings = settings
        self._writer = _Writer(store, Kind.rejects, owner_of(settings))
        self.rejects: dict[tuple[str, str], Rejects] = {}
        self._dirty: set[tuple[str, str]] = set()

    async def restore(self) -> None:
        for record in await self._writer.load():
            r = Rejects.model_validate(record.doc)
            self.rejects[(r.tenant, r.source)] = r

    def observe(self, letters: Iterable[DeadLetter]) -> None:
        for d in letters:
            if not d.source:
                continue
            key = (d.tenant, d.source)
            r = self.rejects.get(key)
            if r is None:
                r = self.rejects[key] = Rejects(tenant=d.tenant, source=d.source)
            r.count(d.received, d.reason)
            self._dirty.add(key)

    async def save(self) -> None:
        for key in list(self._dirty):
            rid = record_id(self._writer.owner, *key)
            await self._writer.put(rid, key[0], key[1], self.rejects[key].model_dump(mode="json"))
            self._dirty.discard(key)

    async def maintain(self) -> None:
        """Nothing between commits: saved before each (see ``save``)."""


async def load_activity(records: Records, tenants: list[str] | None) -> dict[StreamKey, Activity]:
    """Every owner's count of ``tenants``' sources (None: all), merged."""
    query = RecordQuery(kind=Kind.activity, tenants=tenants, limit=1000, order="asc")
    return merge([Activity.model_validate(r.doc) async for r in every(records, query)])


async def load_rejects(
    records: Records, tenants: list[str] | None
) -> dict[tuple[str, str], Rejects]:
    query = RecordQuery(kind=Kind.rejects, tenants=tenants, limit=1000, order="asc")
    return merge_rejects([Rejects.model_validate(r.doc) async for r in every(records, query)])
