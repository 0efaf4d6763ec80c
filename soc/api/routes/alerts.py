"""Reading alerts and dead letters, scoped to the caller's tenants.

Viewers, analysts and leads only (``alerts:read``): a responder works the
incidents handed to its unit, and an admin sees no data (soc/security/roles.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from soc.api.deps import AlertReader, ServiceDep, StoreDep
from soc.api.errors import ApiError, problems
from soc.models import (
    DRILLS_HELP,
    AlertPage,
    AlertQuery,
    AlertRead,
    AlertStatus,
    DeadLetter,
    Drills,
    Severity,
)
from soc.security.roles import scope

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=problems(401, 403, 422, 503))


@router.get(
    "/alerts",
    response_model=AlertPage,
    summary="Alerts, newest first, a page at a time",
    responses=problems(400),
)
async def list_alerts(
    principal: AlertReader,
    store: StoreDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Only these tenants")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    rule_id: Annotated[list[str] | None, Query()] = None,
    alert_status: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[datetime | None, Query(description="Event time from (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Event time to (exclusive)")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Words to find")] = None,
    drill: Annotated[str | None, Query(max_length=200, description="Only this drill's")] = None,
    drills: Annotated[Drills, Query(description=DRILLS_HELP)] = "include",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the page before")
    ] = None,
) -> AlertPage:
    await service.marks.check_filters(principal, drill, drills)
    query = AlertQuery(
        tenants=scope(principal, "alerts:read", tenant),
        severity=severity or [],
        rule_id=rule_id or [],
        status=alert_status or [],
        host=host,
        since=since,
        until=until,
        text=q,
        drill=drill,
        drills=drills,
        limit=limit,
        cursor=cursor,
    )
    return await service.marks.scrub(principal, await store.search_alerts(query))


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertRead,
    summary="One alert with the event that raised it",
    responses=problems(404),
)
async def get_alert(
    alert_id: str, principal: AlertReader, store: StoreDep, service: ServiceDep
) -> AlertRead:
    tenants = scope(principal, "alerts:read")
    alert = await store.get_alert(alert_id, tenants=tenants)
    if alert is None:
        raise ApiError(404, "not_found", "no such alert")
    event = await store.get_event(alert.event_id, tenants=tenants)
    return await service.marks.scrub(principal, AlertRead(**alert.model_dump(), event=event))


@router.get(
    "/deadletters",
    response_model=list[DeadLetter],
    tags=["operations"],
    summary="Input that was refused, newest first, with the reason",
)
async def list_dead_letters(
    principal: AlertReader,
    store: StoreDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeadLetter]:
    return await store.list_dead_letters(
        tenants=scope(principal, "alerts:read", tenant), limit=limit
    )
