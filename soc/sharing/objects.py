"""A tenant's shared STIX objects: the content of its TAXII collection, every version.

What the sharing policy lets leave the SOC is added here (:meth:`StixObjects.add`), and
the SOC's TAXII 2.1 API (soc.api.taxii) serves it. One record per (tenant, object id,
version): the version is the object's ``modified`` (or ``created``; an object with
neither, such as an SCO, has one version, ``date_added``), as TAXII 2.1 defines it. A
version already stored is never written again, so adding the same bundle twice adds
nothing, and a changed object (same id, later ``modified``) adds a version.
``sort`` is ``date_added`` in microseconds, each add later than the last one stored, so
``added_after`` is a range over ``sort``.

The TAXII reads (:meth:`StixObjects.page`) walk a tenant's versions in ``(date_added, id)``
order, filtered by id and type in the store and by version (``last``, ``first``, ``all``
or a timestamp, TAXII's ``match[version]``) and spec version here: ``last`` and ``first``
are over every stored version of the object, so the pages hold exactly ``limit`` objects
and ``more`` is true only when another one follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from soc.errors import Conflict, QueryError
from soc.models import UtcDatetime, utcnow
from soc.store.records import (
    BATCH,
    Kind,
    Record,
    RecordQuery,
    Records,
    decode_after,
    encode_after,
    every,
)
from soc.store.terms import from_micros, micros

MEDIA_TYPE = "application/stix+json;version=2.1"


class StoredObject(BaseModel):
    tenant: str
    id: str
    """The STIX id."""
    version: str
    """The object's ``modified``, else ``created``, else its ``date_added`` (RFC 3339)."""
    date_added: UtcDatetime
    media_type: str = MEDIA_TYPE
    object: dict[str, Any]


def object_version(obj: dict[str, Any]) -> str | None:
    """The STIX version of ``obj``: ``modified``, else ``created``; None for neither."""
    value = obj.get("modified") or obj.get("created")
    return str(value) if value else None


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset, any fraction of a second) as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as e:
        raise QueryError(f"not an RFC 3339 timestamp: {value[:40]!r}") from e
    if parsed.tzinfo is None:
        raise QueryError(f"a timestamp needs its zone (Z): {value[:40]!r}")
    return parsed.astimezone(UTC)


def format_timestamp(t: datetime) -> str:
    """``t`` as TAXII writes ``date_added``: UTC, microseconds, ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ObjectFilter(BaseModel):
    """What a TAXII read asks for (its ``match[...]`` and ``added_after`` parameters)."""

    ids: list[str] = Field(default_factory=list)
    """Any of these STIX ids (none: every one)."""
    types: list[str] = Field(default_factory=list)
    """Any of these STIX types (none: every one)."""
    versions: list[str] = Field(default_factory=lambda: ["last"])
    """Any of ``last``, ``first``, ``all`` and version timestamps."""
    spec_versions: list[str] = Field(default_factory=list)
    """Any of these ``spec_version`` values (none: every one; an object without one is 2.1)."""
    added_after: datetime | None = None
    """Only versions added strictly later."""


class ObjectPage(BaseModel):
    items: list[StoredObject]
    more: bool
    next: str | None = None
    """Where the next page starts (opaque), when ``more``."""


_SCAN = 500
"""Records read from the store at once while filling a page."""


def _version_key(version: str) -> datetime:
    try:
        return parse_timestamp(version)
    except QueryError:
        return datetime.min.replace(tzinfo=UTC)


class _Versions:
    """Which stored versions ``flt.versions`` selects."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.all = "all" in tokens
        self.first = "first" in tokens
        self.last = "last" in tokens
        self.at = {parse_timestamp(t) for t in tokens if t not in ("all", "first", "last")}

    @property
    def needs_extremes(self) -> bool:
        return not self.all and (self.first or self.last)

    def keeps(self, stored: StoredObject, extremes: dict[str, tuple[datetime, datetime]]) -> bool:
        if self.all:
            return True
        key = _version_key(stored.version)
        if key in self.at:
            return True
        first, last = extremes.get(stored.id, (key, key))
        return (self.first and key == first) or (self.last and key == last)


def record_id(tenant: str, stix_id: str, version: str) -> str:
    digest = hashlib.sha256(f"{tenant}\x1f{stix_id}\x1f{version}".encode()).hexdigest()
    return f"stix-{digest[:40]}"


def to_record(stored: StoredObject) -> Record:
    return Record(
        kind=Kind.stix_object,
        id=record_id(stored.tenant, stored.id, stored.version),
        tenant=stored.tenant,
        sort=micros(stored.date_added),
        terms={
            "stix_id": [stored.id],
            "type": [stored.id.split("--", 1)[0]],
            "version": [stored.version],
        },
        doc=stored.model_dump(mode="json"),
    )


def of_record(record: Record) -> StoredObject:
    return StoredObject.model_validate(record.doc)


class StixObjects:
    """The tenants' shared objects over :class:`Records`."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def _last_added(self, tenant: str) -> int:
        page = await self._records.find_records(
            RecordQuery(kind=Kind.stix_object, tenants=[tenant], limit=1, order="desc")
        )
        return page.items[0].sort if page.items else 0

    async def add(
        self, tenant: str, objects: Sequence[dict[str, Any]], *, now: datetime | None = None
    ) -> list[StoredObject]:
        """Store the versions of ``objects`` not stored yet; the ones stored now.

        Each is stamped ``date_added`` at ``now``, a microsecond later than the tenant's
        newest and than the one before it, so objects added together keep their order
        and a reader paging by ``added_after`` never skips one.
        """
        added: list[StoredObject] = []
        at = max(micros(now or utcnow()), await self._last_added(tenant) + 1)
        seen: set[str] = set()
        for start in range(0, len(objects), BATCH):
            chunk = objects[start : start + BATCH]
            immutable = {str(o["id"]) for o in chunk if object_version(o) is None}
            present = await self._stored_ids(tenant, immutable)
            versioned = [
                record_id(tenant, str(o["id"]), v) for o in chunk if (v := object_version(o))
            ]
            stored = await self._records.get_records(Kind.stix_object, versioned)
            fresh: list[StoredObject] = []
            for obj in chunk:
                stix_id = str(obj["id"])
                version = object_version(obj)
                if version is None:  # immutable (an SCO): one version, whenever first added
                    if stix_id in present or stix_id in seen:
                        continue
                    seen.add(stix_id)
                    version = from_micros(at).isoformat().replace("+00:00", "Z")
                else:
                    rid = record_id(tenant, stix_id, version)
                    if rid in stored or rid in seen:
                        continue
                    seen.add(rid)
                fresh.append(
                    StoredObject(
                        tenant=tenant,
                        id=stix_id,
                        version=version,
                        date_added=from_micros(at),
                        object=dict(obj),
                    )
                )
                at += 1
            results = await self._records.put_records([(to_record(o), 0) for o in fresh])
            # a Conflict: this version was stored meanwhile
            added += [o for o, r in zip(fresh, results, strict=True) if not isinstance(r, Conflict)]
        return added

    async def _stored_ids(self, tenant: str, stix_ids: set[str]) -> set[str]:
        """Those of ``stix_ids`` with a version stored for ``tenant``."""
        found: set[str] = set()
        unique = sorted(stix_ids)
        for start in range(0, len(unique), 200):
            query = RecordQuery(
                kind=Kind.stix_object,
                tenants=[tenant],
                terms={"stix_id": unique[start : start + 200]},
                limit=1000,
            )
            async for record in every(self._records, query):
                found.add(of_record(record).id)
        return found

    async def get_versions(self, tenant: str, stix_id: str) -> list[StoredObject]:
        """Every stored version of ``stix_id``, oldest added first."""
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.stix_object,
                tenants=[tenant],
                terms={"stix_id": [stix_id]},
                order="asc",
                limit=10_000,
            )
        )
        return [of_record(r) for r in page.items]

    async def _extremes(
        self, tenant: str, stix_ids: Sequence[str]
    ) -> dict[str, tuple[datetime, datetime]]:
        """The first and last stored version of each of ``stix_ids``."""
        found: dict[str, tuple[datetime, datetime]] = {}
        unique = sorted(set(stix_ids))
        for start in range(0, len(unique), 200):
            query = RecordQuery(
                kind=Kind.stix_object,
                tenants=[tenant],
                terms={"stix_id": unique[start : start + 200]},
                order="asc",
                limit=1000,
            )
            async for record in every(self._records, query):
                stored = of_record(record)
                key = _version_key(stored.version)
                low, high = found.get(stored.id, (key, key))
                found[stored.id] = (min(low, key), max(high, key))
        return found

    async def page(
        self, tenant: str, flt: ObjectFilter, *, limit: int, after: str | None = None
    ) -> ObjectPage:
        """Up to ``limit`` stored versions ``flt`` selects, oldest added first, after the
        page whose ``next`` is ``after``. Raises :class:`QueryError` for a bad cursor or
        version timestamp."""
        versions = _Versions(flt.versions)
        terms: dict[str, list[str]] = {}
        if flt.ids:
            terms["stix_id"] = list(flt.ids)
        if flt.types:
            terms["type"] = list(flt.types)
        query = RecordQuery(
            kind=Kind.stix_object,
            tenants=[tenant],
            terms=terms,
            sort_from=micros(flt.added_after) + 1 if flt.added_after else None,
            order="asc",
            limit=min(limit + 1, _SCAN),
            after=decode_after(after),
        )
        kept: list[StoredObject] = []
        position: tuple[int, str] | None = None
        while True:
            found = await self._records.find_records(query)
            batch = [(r, of_record(r)) for r in found.items]
            extremes = (
                await self._extremes(tenant, [s.id for _, s in batch])
                if versions.needs_extremes and batch
                else {}
            )
            for record, stored in batch:
                spec = str(stored.object.get("spec_version", "2.1"))
                if flt.spec_versions and spec not in flt.spec_versions:
                    continue
                if not versions.keeps(stored, extremes):
                    continue
                if len(kept) == limit:
                    return ObjectPage(items=kept, more=True, next=encode_after(position))
                kept.append(stored)
                position = (record.sort, record.id)
            if found.next is None:
                return ObjectPage(items=kept, more=False)
            query = query.model_copy(update={"after": found.next})
