"""Reading alerts, scoped to the caller's tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from soc.api.auth import Principal
from soc.api.deps import ReaderPrincipal, StoreDep
from soc.errors import QueryError
from soc.models import AlertPage, AlertQuery, AlertRead, AlertStatus, DeadLetter, Severity

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def _scope(principal: Principal, requested: list[str] | None) -> list[str] | None:
    try:
        return principal.scope(requested)
    except PermissionError as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from e


@router.get("/alerts", response_model=AlertPage, summary="Alerts, newest first, a page at a time")
async def list_alerts(
    principal: ReaderPrincipal,
    store: StoreDep,
    tenant: Annotated[list[str] | None, Query(description="Only these tenants")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    rule_id: Annotated[list[str] | None, Query()] = None,
    alert_status: Annotated[list[AlertStatus] | None, Query(alias="status")] = None,
    host: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[datetime | None, Query(description="Event time from (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Event time to (exclusive)")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Words to find")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the page before")
    ] = None,
) -> AlertPage:
    query = AlertQuery(
        tenants=_scope(principal, tenant),
        severity=severity or [],
        rule_id=rule_id or [],
        status=alert_status or [],
        host=host,
        since=since,
        until=until,
        text=q,
        limit=limit,
        cursor=cursor,
    )
    try:
        return await store.search_alerts(query)
    except QueryError as e:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(e)) from e


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertRead,
    summary="One alert with the event that raised it",
    responses={404: {"description": "no such alert among the caller's tenants"}},
)
async def get_alert(alert_id: str, principal: ReaderPrincipal, store: StoreDep) -> AlertRead:
    tenants = _scope(principal, None)
    alert = await store.get_alert(alert_id, tenants=tenants)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    event = await store.get_event(alert.event_id, tenants=tenants)
    return AlertRead(**alert.model_dump(), event=event)


@router.get(
    "/deadletters",
    response_model=list[DeadLetter],
    tags=["operations"],
    summary="Input that was refused, newest first, with the reason",
)
async def list_dead_letters(
    principal: ReaderPrincipal,
    store: StoreDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeadLetter]:
    return await store.list_dead_letters(tenants=_scope(principal, tenant), limit=limit)
