"""The overview: what is open, what is late, how fast the SOC answers, alerts over time.

Drills' incidents and alerts are left out unless asked for (``drills=include``): a drill
must not move the live figures."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from soc.api.deps import PrincipalDep, ServiceDep
from soc.incidents.cases import IncidentQuery
from soc.models import UtcDatetime, utcnow
from soc.security.roles import can, scope

router = APIRouter(prefix="/api/v1", tags=["overview"])

PERIOD = timedelta(days=30)
HOURS = 24
MAX_INCIDENTS = 10_000


class HourCount(BaseModel):
    hour: UtcDatetime
    """Start of the hour (UTC)."""
    alerts: int


class Overview(BaseModel):
    open_by_severity: dict[str, int]
    open_by_tenant: dict[str, int]
    breached_open: int
    """Open incidents with an acknowledge or resolve deadline missed."""
    mean_time_to_acknowledge_s: float | None
    mean_time_to_resolve_s: float | None
    """Over incidents created in the last 30 days that were acknowledged / resolved."""
    incidents_considered: int
    alerts_per_hour: list[HourCount]
    """The last 24 hours, oldest first; empty for roles that do not read alerts."""
    generated: UtcDatetime


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


@router.get(
    "/overview",
    response_model=Overview,
    summary="Open incidents, deadlines, MTTA/MTTR, alerts per hour",
)
async def overview(
    principal: PrincipalDep,
    service: ServiceDep,
    drills: Annotated[
        Literal["include", "exclude"],
        Query(description="Count drills' incidents and alerts too (include); by default not"),
    ] = "exclude",
) -> Overview:
    """Live work only by default: drills' incidents and alerts are in no count, MTTA, MTTR
    or alerts per hour unless ``drills=include``."""
    now = utcnow()
    by_severity: Counter[str] = Counter()
    by_tenant: Counter[str] = Counter()
    breached = 0
    to_ack: list[float] = []
    to_resolve: list[float] = []
    seen = 0
    cursor: str | None = None
    while seen < MAX_INCIDENTS:
        page = await service.desk.find(
            principal, IncidentQuery(tenants=None, drills=drills, limit=500, cursor=cursor)
        )
        for incident in page.items:
            seen += 1
            if not incident.status.is_closed:
                by_severity[incident.severity.value] += 1
                by_tenant[incident.tenant] += 1
                if incident.deadlines is not None and incident.deadlines.breached:
                    breached += 1
            if incident.created >= now - PERIOD:
                if incident.acknowledged_at is not None:
                    to_ack.append((incident.acknowledged_at - incident.created).total_seconds())
                if incident.resolved_at is not None and incident.merged_into is None:
                    to_resolve.append((incident.resolved_at - incident.created).total_seconds())
        if page.next_cursor is None or (page.items and page.items[-1].updated < now - PERIOD):
            break
        cursor = page.next_cursor
    hours: list[HourCount] = []
    if can(principal, "alerts:read"):
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
        counts = await service.store.alert_histogram(
            tenants=scope(principal, "alerts:read"),
            since=start,
            until=start + timedelta(hours=HOURS),
            bucket_s=3600,
            drills=drills,
        )
        hours = [
            HourCount(
                hour=start + timedelta(hours=i), alerts=counts.get(start + timedelta(hours=i), 0)
            )
            for i in range(HOURS)
        ]
    return Overview(
        open_by_severity=dict(by_severity),
        open_by_tenant=dict(by_tenant),
        breached_open=breached,
        mean_time_to_acknowledge_s=_mean(to_ack),
        mean_time_to_resolve_s=_mean(to_resolve),
        incidents_considered=seen,
        alerts_per_hour=hours,
        generated=now,
    )
