"""A tenant's shared STIX objects: the content of its TAXII collection, every version.

What the sharing policy lets leave the SOC is added here (:meth:`StixObjects.add`), and
the SOC's TAXII 2.1 API (soc.api.taxii) serves it. One record per (tenant, object id,
version): the version is the object's ``modified`` (or ``created``; an object with
neither, such as an SCO, has one version, ``date_added``), as TAXII 2.1 defines it. A
version already stored is never written again, so adding the same bundle twice adds
nothing, and a changed object (same id, later ``modified``) adds a version.
``sort`` is ``date_added`` in microseconds, each add later than the last one stored, so
``added_after`` is a range over ``sort``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from soc.errors import Conflict
from soc.models import UtcDatetime, utcnow
from soc.store.records import Kind, Record, RecordQuery, Records
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
        for obj in objects:
            stix_id = str(obj["id"])
            version = object_version(obj)
            if version is None:  # immutable (an SCO): one version, whenever first added
                found = await self._records.find_records(
                    RecordQuery(
                        kind=Kind.stix_object,
                        tenants=[tenant],
                        terms={"stix_id": [stix_id]},
                        limit=1,
                    )
                )
                if found.items:
                    continue
                version = from_micros(at).isoformat().replace("+00:00", "Z")
            stored = StoredObject(
                tenant=tenant,
                id=stix_id,
                version=version,
                date_added=from_micros(at),
                object=dict(obj),
            )
            try:
                await self._records.put_record(to_record(stored), expect=0)
            except Conflict:  # this version is stored already
                continue
            added.append(stored)
            at += 1
        return added

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
