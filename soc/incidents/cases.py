"""Incidents, comments and suppressions in the store: typed repositories over case records.

Each turns its model into a :class:`~soc.store.records.Record` (what queries
filter on goes into ``terms`` and ``words``) and back. They hold no state, so
one set per store is enough; :class:`Cases` bundles them with the audit trail
(:mod:`soc.audit.trail`).

Tenants: every read takes ``tenants`` (``None`` for all) and answers ``None``
or nothing for a record of another tenant, exactly as for a missing one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel, Field

from soc.audit import AuditEntry
from soc.audit.trail import AuditTrail
from soc.errors import Conflict
from soc.incidents.models import (
    Change,
    Comment,
    Incident,
    IncidentStatus,
    Suppression,
    Verdict,
)
from soc.models import Drills, Severity
from soc.store.records import (
    Kind,
    Record,
    RecordQuery,
    Records,
    decode_after,
    encode_after,
    every,
)
from soc.store.terms import micros, words


class IncidentQuery(BaseModel):
    tenants: list[str] | None
    status: list[IncidentStatus] = Field(default_factory=list)
    severity: list[Severity] = Field(default_factory=list)
    owner_unit: list[str] = Field(default_factory=list)
    pending_unit: list[str] = Field(default_factory=list)
    unit: str | None = None
    """A responder's view: owned by this unit, or offered to it."""
    assignee: str | None = None
    open: bool | None = None
    text: str | None = Field(None, max_length=500)
    drill: str | None = Field(None, max_length=200)
    """Only this drill's incidents."""
    drills: Drills = "include"
    """Live and drill incidents (``include``), live ones only (``exclude``), drills' only."""
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


class IncidentPage(BaseModel):
    items: list[Incident]
    next_cursor: str | None = None


DRILL, DRILLED = "drill", "drilled"
"""Terms of a drill's incident: its drill id, and "1" (live incidents have neither, so the
records written before drills need no change)."""

FALSE_POSITIVE = "false_positive"
FALSE_POSITIVE_RULE = "false_positive_rule"
"""Terms of an incident holding alerts judged false positives ("1"), and of their rules,
so that the rules page counts them by reading only those incidents (records written
before these terms were added carry them from their next change on)."""


def _incident_record(incident: Incident) -> Record:
    pending = incident.handoff
    terms: dict[str, list[str]] = {
        "status": [incident.status.value],
        "severity": [incident.severity.value],
        "open": ["0" if incident.status.is_closed else "1"],
        "group_key": [incident.group_key],
    }
    if incident.owner_unit:
        terms["owner_unit"] = [incident.owner_unit]
    if pending is not None:
        terms["pending_unit"] = [pending.to_unit]
    if incident.assignee:
        terms["assignee"] = [incident.assignee]
    if incident.drill:
        terms[DRILL] = [incident.drill]
        terms[DRILLED] = ["1"]
    judged_false = sorted(
        {a.rule_id for a in incident.alerts if a.verdict is Verdict.false_positive}
    )
    if judged_false:
        terms[FALSE_POSITIVE] = ["1"]
        terms[FALSE_POSITIVE_RULE] = judged_false
    text = " ".join(
        [
            incident.title,
            incident.id,
            *(v for v in incident.group_values.values() if v),
            *(o.value for o in incident.observables),
            *incident.tags,
        ]
    )
    return Record(
        kind=Kind.incident,
        id=incident.id,
        tenant=incident.tenant,
        sort=micros(incident.updated),
        terms=terms,
        words=words(text),
        doc=incident.model_dump(mode="json", exclude={"version"}),
    )


def incident_of(record: Record) -> Incident:
    return Incident.model_validate({**record.doc, "version": record.version})


def _visible(record: Record | None, tenants: list[str] | None) -> bool:
    return record is not None and (tenants is None or record.tenant in tenants)


class Incidents:
    def __init__(self, records: Records) -> None:
        self._records = records

    async def put(self, incident: Incident) -> Incident:
        """Store it if it is still at ``incident.version``; the stored copy, one version on.

        Raises :class:`~soc.errors.Conflict` when someone changed it in between.
        """
        stored = await self._records.put_record(_incident_record(incident), expect=incident.version)
        return incident_of(stored)

    async def get(self, incident_id: str, *, tenants: list[str] | None) -> Incident | None:
        record = await self._records.get_record(Kind.incident, incident_id)
        return incident_of(record) if record is not None and _visible(record, tenants) else None

    async def find(self, query: IncidentQuery) -> IncidentPage:
        terms: dict[str, list[str]] = {}
        for name, values in (
            ("status", [s.value for s in query.status]),
            ("severity", [s.value for s in query.severity]),
            ("owner_unit", query.owner_unit),
            ("pending_unit", query.pending_unit),
        ):
            if values:
                terms[name] = values
        if query.assignee is not None:
            terms["assignee"] = [query.assignee]
        if query.open is not None:
            terms["open"] = ["1" if query.open else "0"]
        if query.drill is not None:
            terms[DRILL] = [query.drill]
        if query.drills == "only":
            terms[DRILLED] = ["1"]
        not_terms = {DRILLED: ["1"]} if query.drills == "exclude" else {}
        any_terms = {"owner_unit": [query.unit], "pending_unit": [query.unit]} if query.unit else {}
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.incident,
                tenants=query.tenants,
                terms=terms,
                any_terms=any_terms,
                not_terms=not_terms,
                words=words(query.text or ""),
                limit=query.limit,
                after=decode_after(query.cursor),
            )
        )
        return IncidentPage(
            items=[incident_of(r) for r in page.items], next_cursor=encode_after(page.next)
        )

    async def open_in_groups(self, keys: set[tuple[str, str]]) -> list[Incident]:
        """The open incidents of these (tenant, grouping key) pairs, in one query.

        A grouping key is made from its tenant (soc.incidents.grouping.group_key),
        so one key never matches another tenant's incident.
        """
        if not keys:
            return []
        query = RecordQuery(
            kind=Kind.incident,
            tenants=sorted({tenant for tenant, _ in keys}),
            terms={"group_key": sorted({key for _, key in keys}), "open": ["1"]},
            limit=500,
        )
        found = [incident_of(r) async for r in every(self._records, query)]
        return [i for i in found if (i.tenant, i.group_key) in keys]

    async def false_positives(
        self, *, tenants: list[str] | None, since: datetime
    ) -> dict[str, int]:
        """Rule id -> its alerts of event time since ``since`` judged false positives.

        Reads only the incidents holding such alerts and changed since ``since`` (an
        incident changes after its alerts arrive, so none older can hold one).
        """
        if tenants is not None and not tenants:
            return {}
        query = RecordQuery(
            kind=Kind.incident,
            tenants=tenants,
            sort_from=micros(since),
            terms={FALSE_POSITIVE: ["1"]},
            limit=500,
        )
        counted: dict[str, int] = {}
        async for record in every(self._records, query):
            for alert in incident_of(record).alerts:
                if alert.verdict is Verdict.false_positive and alert.time >= since:
                    counted[alert.rule_id] = counted.get(alert.rule_id, 0) + 1
        return counted

    async def each_open(self, *, batch: int = 500) -> AsyncIterator[Incident]:
        """Every open incident of every tenant (for the deadline watch)."""
        query = RecordQuery(kind=Kind.incident, tenants=None, terms={"open": ["1"]}, limit=batch)
        async for record in every(self._records, query):
            yield incident_of(record)


class Comments:
    def __init__(self, records: Records) -> None:
        self._records = records

    async def add(self, comment: Comment) -> Comment:
        """Store a new comment; the same comment again is kept once."""
        record = Record(
            kind=Kind.comment,
            id=comment.id,
            tenant=comment.tenant,
            sort=micros(comment.at),
            terms={
                "incident": [comment.incident_id],
                "author": [comment.author],
                **({DRILL: [comment.drill]} if comment.drill else {}),
            },
            words=words(comment.text),
            doc=comment.model_dump(mode="json"),
        )
        with contextlib.suppress(Conflict):
            await self._records.put_record(record, expect=0)
        return comment

    async def of(self, incident_id: str, *, tenants: list[str] | None) -> list[Comment]:
        """Oldest first."""
        query = RecordQuery(
            kind=Kind.comment,
            tenants=tenants,
            terms={"incident": [incident_id]},
            order="asc",
            limit=500,
        )
        return [Comment.model_validate(r.doc) async for r in every(self._records, query)]


class Suppressions:
    def __init__(self, records: Records) -> None:
        self._records = records

    async def add(self, suppression: Suppression) -> Suppression:
        record = Record(
            kind=Kind.suppression,
            id=suppression.id,
            tenant=suppression.tenant,
            sort=micros(suppression.created),
            terms={"rule_id": [suppression.rule_id], "author": [suppression.author]},
            words=words(f"{suppression.reason} {suppression.rule_id} {suppression.host or ''}"),
            doc=suppression.model_dump(mode="json"),
        )
        await self._records.put_record(record, expect=0)
        return suppression

    async def get(self, suppression_id: str, *, tenants: list[str] | None) -> Suppression | None:
        record = await self._records.get_record(Kind.suppression, suppression_id)
        if record is None or not _visible(record, tenants):
            return None
        return Suppression.model_validate(record.doc)

    async def remove(self, suppression_id: str) -> bool:
        return await self._records.delete_record(Kind.suppression, suppression_id)

    async def list(
        self, *, tenants: list[str] | None, active_at: datetime | None = None
    ) -> list[Suppression]:
        """Newest first; with ``active_at``, only those not yet expired then."""
        query = RecordQuery(kind=Kind.suppression, tenants=tenants, limit=500)
        found = [Suppression.model_validate(r.doc) async for r in every(self._records, query)]
        return [s for s in found if active_at is None or s.created <= active_at < s.expires]


async def record_change(audit: AuditTrail, change: Change) -> AuditEntry:
    """Append an incident's Change (made by :meth:`Change.of`) to the audit trail."""
    return await audit.append(
        actor=change.actor,
        tenant=change.tenant,
        action=change.action,
        target=change.target,
        time=change.time,
        before=change.before,
        after=change.after,
    )


class Cases:
    """The repositories of one store."""

    def __init__(self, records: Records) -> None:
        self.incidents = Incidents(records)
        self.comments = Comments(records)
        self.suppressions = Suppressions(records)
        self.audit = AuditTrail(records)

    async def record(self, change: Change) -> AuditEntry:
        """Append an incident's Change to the audit trail."""
        return await record_change(self.audit, change)
