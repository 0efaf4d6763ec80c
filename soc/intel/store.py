"""Indicators in the store, one :class:`~soc.store.records.Record` each, and the generation
that tells detectors to rebuild their matcher.

Every change (indicators taken in, changed or revoked) ends by bumping one shared
generation record (:meth:`Indicators.bump`); a detector compares it with the one its
matcher was built from and rebuilds when it moved, as the rule catalog does.
``terms``: ``type``, ``source``, ``value`` (as matched), ``state`` (``active`` or
``revoked``), ``stix_id`` (when taken from one); ``sort``: ``modified`` in microseconds;
``words``: value, name, source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from soc.errors import Conflict
from soc.intel.models import Indicator, IndicatorType
from soc.models import utcnow
from soc.store.records import (
    BATCH,
    NO_TENANT,
    Kind,
    Record,
    RecordPage,
    RecordQuery,
    Records,
    every,
)
from soc.store.terms import micros, words

GENERATION_ID = "indicators"


def to_record(indicator: Indicator) -> Record:
    return Record(
        kind=Kind.indicator,
        id=indicator.id,
        tenant=indicator.tenant,
        sort=micros(indicator.modified),
        terms={
            "type": [indicator.type.value],
            "source": [indicator.source],
            "value": [indicator.value],
            "state": ["revoked" if indicator.revoked else "active"],
            **({"stix_id": [indicator.stix_id]} if indicator.stix_id else {}),
        },
        words=words(f"{indicator.value} {indicator.name} {indicator.source}"),
        doc=indicator.model_dump(mode="json"),
    )


def of_record(record: Record) -> Indicator:
    return Indicator.model_validate(record.doc)


def _same(a: Indicator, b: Indicator) -> bool:
    skip = {"created", "modified"}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


Tally = dict[tuple[str, str, str, bool], int]
"""Indicators counted by ``(source, tenant, type, revoked)``."""


class Indicators:
    """The indicators over :class:`Records`; tenant ``*`` ones apply to every tenant."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._tally: tuple[int, Tally] | None = None

    async def get(self, indicator_id: str) -> Indicator | None:
        record = await self._records.get_record(Kind.indicator, indicator_id)
        return of_record(record) if record else None

    async def put(self, indicators: Sequence[Indicator], *, now: datetime | None = None) -> int:
        """Store these, each replacing the stored one of its id if it differs (``created``
        kept, ``modified`` set to ``now``); how many were new or changed. Bumps the
        generation once when any was. An id named twice keeps the last one named.

        Read and written in batches of :data:`~soc.store.records.BATCH` (one round trip
        each way); a write that met a concurrent one is read and tried again.
        """
        now = now or utcnow()
        pending = list({i.id: i for i in indicators}.values())
        changed = 0
        for _ in range(5):
            retry: list[Indicator] = []
            for start in range(0, len(pending), BATCH):
                chunk = pending[start : start + BATCH]
                stored = await self._records.get_records(Kind.indicator, [i.id for i in chunk])
                writes: list[tuple[Record, int]] = []
                wanted: list[Indicator] = []
                for indicator in chunk:
                    found = stored.get(indicator.id)
                    if found is None:
                        new = indicator.model_copy(update={"created": now, "modified": now})
                        expect = 0
                    else:
                        old = of_record(found)
                        if _same(old, indicator):
                            continue
                        new = indicator.model_copy(update={"created": old.created, "modified": now})
                        expect = found.version
                    writes.append((to_record(new), expect))
                    wanted.append(indicator)
                results = await self._records.put_records(writes)
                for indicator, result in zip(wanted, results, strict=True):
                    if isinstance(result, Conflict):
                        retry.append(indicator)
                    else:
                        changed += 1
            pending = retry
            if not pending:
                break
        if changed:
            await self.bump()
        return changed

    async def revoke(self, indicator_id: str, *, now: datetime | None = None) -> Indicator | None:
        """Mark it revoked (it stops matching at the detectors' next rebuild)."""
        found = await self.get(indicator_id)
        if found is None:
            return None
        if not found.revoked:
            await self.put([found.model_copy(update={"revoked": True})], now=now)
        return await self.get(indicator_id)

    async def superseded(
        self, source: str, kept: dict[str, set[str]], *, now: datetime | None = None
    ) -> int:
        """Revoke ``source``'s active indicators taken from each STIX id of ``kept`` whose
        ids are not among its kept ones: values a newer version of that STIX indicator no
        longer names. How many. Reads a few hundred STIX ids per query."""
        stix_ids = sorted(kept)
        gone: list[Indicator] = []
        for start in range(0, len(stix_ids), 200):
            query = RecordQuery(
                kind=Kind.indicator,
                tenants=None,
                terms={
                    "source": [source],
                    "stix_id": stix_ids[start : start + 200],
                    "state": ["active"],
                },
                limit=1000,
            )
            async for record in every(self._records, query):
                item = of_record(record)
                if item.stix_id in kept and item.id not in kept[item.stix_id]:
                    gone.append(item)
        if gone:
            await self.put([i.model_copy(update={"revoked": True}) for i in gone], now=now)
        return len(gone)

    async def find(self, query: RecordQuery) -> RecordPage:
        """A page of indicator records (``query.kind`` is set to indicators)."""
        return await self._records.find_records(query.model_copy(update={"kind": Kind.indicator}))

    async def all(
        self, *, tenants: list[str] | None = None, types: Sequence[IndicatorType] = ()
    ) -> AsyncIterator[Indicator]:
        """Every stored indicator (of ``tenants``, and ``*``'s, when given)."""
        scope = None if tenants is None else [*tenants, "*"]
        terms = {"type": [t.value for t in types]} if types else {}
        query = RecordQuery(
            kind=Kind.indicator, tenants=scope, terms=terms, limit=5000, order="asc"
        )
        async for record in every(self._records, query):
            yield of_record(record)

    async def tally(self) -> Tally:
        """Every stored indicator counted by source, tenant, type and revocation.

        Walks them all once per generation and keeps the counts (every change bumps the
        generation; the generation is read before the walk, so a change during it is
        counted again at the next call)."""
        generation = await self.generation()
        if self._tally is not None and self._tally[0] == generation:
            return self._tally[1]
        counts: Tally = {}
        query = RecordQuery(kind=Kind.indicator, tenants=None, limit=5000, order="asc")
        async for record in every(self._records, query):
            key = (
                record.terms["source"][0],
                record.tenant,
                record.terms["type"][0],
                record.terms["state"] == ["revoked"],
            )
            counts[key] = counts.get(key, 0) + 1
        self._tally = (generation, counts)
        return counts

    async def generation(self) -> int:
        """The number of changes so far (0: none yet)."""
        record = await self._records.get_record(Kind.intel_generation, GENERATION_ID)
        return int(record.doc.get("generation", 0)) if record else 0

    async def bump(self) -> int:
        """Count one more change; the new generation."""
        for _ in range(20):
            record = await self._records.get_record(Kind.intel_generation, GENERATION_ID)
            generation = (int(record.doc.get("generation", 0)) if record else 0) + 1
            new = Record(
                kind=Kind.intel_generation,
                id=GENERATION_ID,
                tenant=NO_TENANT,
                sort=micros(utcnow()),
                doc={"generation": generation},
            )
            try:
                await self._records.put_record(new, expect=record.version if record else 0)
            except Conflict:
                continue
            return generation
        raise Conflict("the indicators' generation kept changing under us", expected=0, found=None)
