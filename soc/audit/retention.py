"""Audit retention: the chain's start cut once no period covers it, behind a checkpoint.

The audit trail is one chain for every tenant (one head to anchor elsewhere),
so retention can only cut it at its start: it deletes the oldest entries, in
``seq`` order, up to the first one a period still covers (each entry by the
``audit_days`` of its own tenant; entries of no tenant, such as sign-ins, by
the default). A tenant's shorter period therefore takes effect only as far as
every older entry of the chain is past its own; nothing a period covers is
ever deleted.

Before it deletes anything, the pass appends a retention entry
(:data:`~soc.audit.chain.RETENTION_ACTION`, a :class:`~soc.audit.chain.Cut` in
``after``): the last entry it deletes, with that entry's hash, how many and
their time range. The deletion is then itself in the trail, and verification
starts from the recorded hash (:func:`soc.audit.chain.verify`). The latest
retention entry is never among those deleted: a pass that would reach it
appends a newer one first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from soc.audit.chain import RETENTION_ACTION, AuditEntry, Cut
from soc.audit.trail import AuditTrail
from soc.settings import RetentionSettings
from soc.store.records import NO_TENANT

ACTOR = "retention"
"""The actor of the entries retention appends."""
PAGE_MAX = 10_000
"""The most entries one read answers (RecordQuery.limit)."""


def _has_period(retention: RetentionSettings) -> bool:
    tenants = retention.tenants.values()
    return retention.audit_days is not None or any(p.get("audit_days") for p in tenants)


async def expire_audit(
    trail: AuditTrail, *, retention: RetentionSettings, now: datetime, batch: int
) -> int:
    """Cut the chain's start as far as no period covers it; entries deleted."""
    if not _has_period(retention):
        return 0

    def expired(entry: AuditEntry) -> bool:
        days = retention.days("audit", entry.tenant or NO_TENANT)
        return days is not None and entry.time < now - timedelta(days=days)

    first: AuditEntry | None = None
    last: AuditEntry | None = None
    seq, done, page = 0, False, min(batch, PAGE_MAX)
    while not done:
        chunk = await trail.entries(tenants=None, after_seq=seq, limit=page)
        for entry in chunk:
            if not expired(entry):
                done = True
                break
            first, last = first or entry, entry
        done = done or len(chunk) < page
        seq = chunk[-1].seq if chunk else seq
    if first is None or last is None:
        return 0
    previous = await trail.latest(action=RETENTION_ACTION)
    recorded = Cut.model_validate(previous.after).through_seq if previous is not None else 0
    if last.seq > recorded:
        cut = Cut(
            through_seq=last.seq,
            through_hash=last.hash,
            from_seq=first.seq,
            deleted=last.seq - first.seq + 1,
            first_time=first.time,
            last_time=last.time,
        )
        await trail.append(
            actor=ACTOR,
            tenant=None,
            action=RETENTION_ACTION,
            target=f"audit:{first.seq}-{last.seq}",
            time=now,
            after=cut.model_dump(mode="json"),
        )
    # else: an interrupted pass already recorded this cut; finish its deletion.
    return await trail.delete(first.seq, last.seq, batch=batch)
