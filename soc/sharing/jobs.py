"""The share records (``Kind.share``): jobs, the per-target ledger, followed incidents and
the audit cursor, told apart by the ``record`` term.

- **job** (:class:`ShareJob`): created with ``expect=0`` from an id made of its reason
  (an audit entry's seq) and target, so a replayed entry enqueues nothing; claimed and
  written at the version read, like the notification outbox (soc.notify.outbox).
  ``sort`` is ``next_at``: "due" is one range query.
- **ledger**: one record per (target, STIX id, version) the SOC pushed there: ``sent``
  before the push, ``accepted`` once the server's status says so. A version accepted is
  never sent to that target again: exactly once.
- **follow**: per (incident, target), the incident's ``updated`` when last shared; the
  watch shares again an incident that changed since.
- **cursor**: how far the sharing watch has read the audit trail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from soc.errors import Conflict
from soc.models import UtcDatetime
from soc.sharing.models import ShareJob, ShareState
from soc.store.records import Kind, Record, RecordQuery, Records, every
from soc.store.terms import micros

ACTIVE = [ShareState.pending.value, ShareState.sending.value]


class Follow(BaseModel):
    tenant: str
    incident: str
    target: str
    updated: UtcDatetime
    """The incident's ``updated`` as last shared."""
    shared_at: UtcDatetime


def object_version(obj: dict[str, Any]) -> str:
    """A STIX object's version: ``modified``, else ``created``, else "" (immutable)."""
    return str(obj.get("modified") or obj.get("created") or "")


def _job_record(job: ShareJob) -> Record:
    return Record(
        kind=Kind.share,
        id=job.id,
        tenant=job.tenant,
        sort=micros(job.next_at),
        terms={
            "record": ["job"],
            "state": [job.state.value],
            "incident": [job.incident],
            "target": [job.target],
            "trigger": [job.trigger],
        },
        doc=job.model_dump(mode="json", exclude={"version"}),
    )


def _job(record: Record) -> ShareJob:
    return ShareJob.model_validate(record.doc | {"version": record.version})


def ledger_id(target: str, stix_id: str, version: str) -> str:
    raw = f"{target}\x1f{stix_id}\x1f{version}".encode()
    return "shl-" + hashlib.sha256(raw).hexdigest()[:40]


def follow_id(incident: str, target: str) -> str:
    return "shf-" + hashlib.sha256(f"{incident}\x1f{target}".encode()).hexdigest()[:40]


class Shares:
    def __init__(self, records: Records) -> None:
        self._records = records

    # -- jobs ------------------------------------------------------------------

    async def enqueue(self, job: ShareJob) -> ShareJob | None:
        """Store ``job`` unless its id is taken: as stored, ``None`` if it was."""
        try:
            return _job(await self._records.put_record(_job_record(job), expect=0))
        except Conflict:
            return None

    async def get(self, job_id: str) -> ShareJob | None:
        record = await self._records.get_record(Kind.share, job_id)
        return _job(record) if record is not None and "key" in record.doc else None

    async def write(self, job: ShareJob) -> ShareJob | None:
        """Write ``job`` at the version read; ``None`` when someone wrote it since."""
        try:
            return _job(await self._records.put_record(_job_record(job), expect=job.version))
        except Conflict:
            return None

    async def due(self, now: datetime, *, limit: int = 20) -> list[ShareJob]:
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.share,
                tenants=None,
                terms={"record": ["job"], "state": ACTIVE},
                sort_to=micros(now) + 1,
                order="asc",
                limit=limit,
            )
        )
        return [_job(r) for r in page.items]

    async def of_incident(self, incident: str, *, tenants: list[str] | None) -> list[ShareJob]:
        """The incident's share jobs, oldest first."""
        query = RecordQuery(
            kind=Kind.share,
            tenants=tenants,
            terms={"record": ["job"], "incident": [incident]},
            order="asc",
            limit=500,
        )
        jobs = [_job(r) async for r in every(self._records, query)]
        return sorted(jobs, key=lambda j: (j.created, j.id))

    # -- ledger ----------------------------------------------------------------

    async def ledger_state(self, target: str, stix_id: str, version: str) -> str | None:
        record = await self._records.get_record(Kind.share, ledger_id(target, stix_id, version))
        return None if record is None else str(record.doc["state"])

    async def mark(
        self, tenant: str, target: str, obj: dict[str, Any], state: str, now: datetime
    ) -> None:
        """Record ``obj``'s version as ``sent`` or ``accepted`` at ``target``."""
        version = object_version(obj)
        rid = ledger_id(target, str(obj["id"]), version)
        for _ in range(3):
            stored = await self._records.get_record(Kind.share, rid)
            if stored is not None and (stored.doc["state"] == state or state == "sent"):
                return
            record = Record(
                kind=Kind.share,
                id=rid,
                tenant=tenant,
                sort=micros(now),
                terms={"record": ["ledger"], "target": [target], "state": [state]},
                doc={"target": target, "stix_id": obj["id"], "version": version, "state": state},
            )
            try:
                await self._records.put_record(record, expect=stored.version if stored else 0)
                return
            except Conflict:
                continue

    # -- followed incidents ----------------------------------------------------

    async def follow(self, follow: Follow) -> None:
        rid = follow_id(follow.incident, follow.target)
        for _ in range(3):
            stored = await self._records.get_record(Kind.share, rid)
            if stored is not None and Follow.model_validate(stored.doc).updated >= follow.updated:
                return
            record = Record(
                kind=Kind.share,
                id=rid,
                tenant=follow.tenant,
                sort=micros(follow.shared_at),
                terms={"record": ["follow"], "incident": [follow.incident]},
                doc=follow.model_dump(mode="json"),
            )
            try:
                await self._records.put_record(record, expect=stored.version if stored else 0)
                return
            except Conflict:
                continue

    async def followed(self, since: datetime) -> list[Follow]:
        """Incidents shared since ``since`` (their last share), with their target."""
        query = RecordQuery(
            kind=Kind.share,
            tenants=None,
            terms={"record": ["follow"]},
            sort_from=micros(since),
            order="asc",
            limit=1000,
        )
        return [Follow.model_validate(r.doc) async for r in every(self._records, query)]
