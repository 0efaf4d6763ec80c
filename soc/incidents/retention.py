"""Incident retention: a closed incident past its period goes, with its comments.

An incident is expired when it is closed (closed, or closed as a false
positive, merged ones included) and its last change (``updated``; the closing
time when that is later) is before ``now`` minus its tenant's
``incidents_days``. An open incident is never deleted, whatever its age.

What hangs off an incident: its comments (records of their own) are deleted
with it; hand-offs, deadlines and observables live in the incident's own
document. Its alerts are kept, by their own period, and keep naming it:
rewriting alerts in the pipeline's time-based store to clear a field would
cost more than the incident, and the analyst following the id is told what
happened (:meth:`soc.incidents.desk.Desk.get`). Its audit entries stay until
the audit period; one more is appended per deleted incident
(:data:`EXPIRED_ACTION`, target ``incident:<id>``), before the deletion, so the
trail says when and why it went.

Each incident is read again just before it is deleted: one reopened since the
page was read is kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from soc.audit.trail import AuditTrail
from soc.incidents.cases import incident_of, record_change
from soc.incidents.models import Change, Incident
from soc.settings import RetentionSettings
from soc.store.records import Kind, RecordQuery, Records, every
from soc.store.terms import micros

EXPIRED_ACTION = "incident.expired"
ACTOR = "retention"
PAGE_MAX = 10_000
"""The most records one query answers (RecordQuery.limit)."""


def _cutoff(incident: Incident, retention: RetentionSettings, now: datetime) -> datetime | None:
    days = retention.days("incidents", incident.tenant)
    return None if days is None else now - timedelta(days=days)


def expired(incident: Incident, retention: RetentionSettings, now: datetime) -> bool:
    """Closed, and its last change before its tenant's period."""
    cutoff = _cutoff(incident, retention, now)
    if cutoff is None or not incident.status.is_closed:
        return False
    last = max(incident.updated, incident.closed_at or incident.updated)
    return last < cutoff


def _candidates(retention: RetentionSettings, now: datetime, batch: int) -> RecordQuery | None:
    """Closed incidents changed before the shortest period: a superset of the expired."""
    overrides = {
        t: p["incidents_days"] for t, p in retention.tenants.items() if "incidents_days" in p
    }
    periods = [d for d in (retention.incidents_days, *overrides.values()) if d is not None]
    if not periods:
        return None
    tenants = None
    if retention.incidents_days is None:
        tenants = sorted(t for t, d in overrides.items() if d is not None)
    return RecordQuery(
        kind=Kind.incident,
        tenants=tenants,
        terms={"open": ["0"]},
        sort_to=micros(now - timedelta(days=min(periods))),
        order="asc",
        limit=min(batch, PAGE_MAX),
    )


async def expire_incidents(
    records: Records,
    audit: AuditTrail,
    *,
    retention: RetentionSettings,
    now: datetime,
    batch: int,
) -> tuple[int, int]:
    """Delete the expired incidents and their comments; (incidents, comments) deleted."""
    query = _candidates(retention, now, batch)
    if query is None:
        return 0, 0
    incidents = comments = 0
    page: list[Incident] = []
    async for record in every(records, query):
        incident = incident_of(record)
        if expired(incident, retention, now):
            page.append(incident)
        if len(page) >= batch:
            gone, notes = await _delete(records, audit, page, retention, now, batch)
            incidents, comments, page = incidents + gone, comments + notes, []
    if page:
        gone, notes = await _delete(records, audit, page, retention, now, batch)
        incidents, comments = incidents + gone, comments + notes
    return incidents, comments


async def _delete(
    records: Records,
    audit: AuditTrail,
    page: list[Incident],
    retention: RetentionSettings,
    now: datetime,
    batch: int,
) -> tuple[int, int]:
    doomed: list[Incident] = []
    for read in page:
        record = await records.get_record(Kind.incident, read.id)
        current = incident_of(record) if record is not None else None
        if current is None or current.version != read.version:
            continue  # changed since the page was read: judged again next pass
        if not expired(current, retention, now):
            continue
        kept = {
            "status": current.status.value,
            "updated": current.updated.isoformat(),
            "alert_count": current.alert_count,
        }
        action = EXPIRED_ACTION.removeprefix("incident.")
        await record_change(
            audit, Change.of(current, actor=ACTOR, action=action, time=now, before=kept)
        )
        doomed.append(current)
    if not doomed:
        return 0, 0
    notes_query = RecordQuery(
        kind=Kind.comment,
        tenants=sorted({i.tenant for i in doomed}),
        terms={"incident": [i.id for i in doomed]},
        order="asc",
        limit=min(batch, PAGE_MAX),
    )
    note_ids = [r.id async for r in every(records, notes_query)]
    notes = 0
    for low in range(0, len(note_ids), batch):
        notes += await records.delete_records(Kind.comment, note_ids[low : low + batch])
    gone = await records.delete_records(Kind.incident, [i.id for i in doomed])
    return gone, notes
