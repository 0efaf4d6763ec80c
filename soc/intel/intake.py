"""Intelligence carried in (a file, a pasted list) stored as indicators, with a report of
what was taken and what was not; and the counts of the stored indicators by source."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from soc.intel.parse import Format, Intake, Reject, Taken, parse
from soc.intel.store import Indicators
from soc.settings import ALL_TENANTS

MAX_REJECTS = 500
"""Rejects listed in a report at most (every one is counted)."""


class IntakeReport(BaseModel):
    format: Format
    source: str
    tenant: str
    indicators: int
    """Indicators read from the input."""
    stored: int
    """Of those, new or changed in the store."""
    rejected: int
    skipped: int
    rejects: list[Reject] = Field(default_factory=list)
    """The first :data:`MAX_REJECTS` items not taken, with where and why."""


async def take_in(
    indicators: Indicators, data: bytes | str | Any, intake: Intake, *, format: Format | None
) -> IntakeReport:
    """Parse ``data`` (raises IntelFormatError if it cannot be read at all) and store it."""
    taken = parse(data, intake, format=format)
    stored = await store_taken(indicators, taken, intake.source)
    counts = taken.counts()
    return IntakeReport(
        format=taken.format,
        source=intake.source,
        tenant=intake.tenant,
        indicators=counts["indicators"],
        stored=stored,
        rejected=counts["rejected"],
        skipped=counts["skipped"],
        rejects=taken.rejects[:MAX_REJECTS],
    )


async def store_taken(indicators: Indicators, taken: Taken, source: str) -> int:
    """Store what was taken, and revoke the values a newer version of a STIX indicator no
    longer names; how many indicators were new or changed."""
    stored = await indicators.put(taken.indicators)
    if taken.revised:
        kept: dict[str, set[str]] = {sid: set() for sid in taken.revised}
        for item in taken.indicators:
            if item.stix_id in kept:
                kept[item.stix_id].add(item.id)
        stored += await indicators.superseded(source, kept)
    return stored


class SourceCounts(BaseModel):
    source: str
    tenant: str
    active: dict[str, int] = Field(default_factory=dict)
    """Indicators not revoked, by type."""
    revoked: int = 0


async def counts_by_source(indicators: Indicators, tenants: list[str] | None) -> list[SourceCounts]:
    """Stored indicators of ``tenants`` (and ``*``'s) counted by source, tenant and type
    (from :meth:`Indicators.tally`: one walk per generation)."""
    active: Counter[tuple[str, str, str]] = Counter()
    revoked: Counter[tuple[str, str]] = Counter()
    scope = None if tenants is None else {*tenants, ALL_TENANTS}
    for (source, tenant, type, is_revoked), n in (await indicators.tally()).items():
        if scope is not None and tenant not in scope:
            continue
        if is_revoked:
            revoked[(source, tenant)] += n
        else:
            active[(source, tenant, type)] += n
    keys = sorted({(s, t) for s, t, _ in active} | set(revoked))
    out = []
    for source, tenant in keys:
        by_type = {ty: n for (s, t, ty), n in active.items() if (s, t) == (source, tenant)}
        out.append(
            SourceCounts(
                source=source,
                tenant=tenant,
                active=dict(sorted(by_type.items())),
                revoked=revoked[(source, tenant)],
            )
        )
    return out
