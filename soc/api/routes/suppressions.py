"""Suppressions: a tenant's known noise, silenced by rule, host and event fields, until expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from soc.api.deps import PrincipalDep, ServiceDep
from soc.incidents.models import Suppression
from soc.models import UtcDatetime

router = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"])


class SuppressionRequest(BaseModel):
    tenant: str = Field(examples=["so-tttt"])
    rule_id: str = Field(min_length=1, max_length=200)
    host: str | None = Field(None, min_length=1, max_length=255, examples=["backup-01*"])
    fields: dict[str, str] = Field(
        default_factory=dict, examples=[{"Image": "*\\\\veeam*.exe"}], max_length=20
    )
    reason: str = Field(min_length=1, max_length=2000, examples=["Nightly backup job"])
    expires: UtcDatetime = Field(description="Every suppression expires (UTC)")


@router.get("", response_model=list[Suppression], summary="Suppressions, newest first")
async def list_suppressions(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    active_at: Annotated[datetime | None, Query(description="Only those active then")] = None,
) -> list[Suppression]:
    found = await service.desk.suppressions(principal, tenant)
    if active_at is None:
        return found
    return [s for s in found if s.created <= active_at < s.expires]


@router.post(
    "",
    response_model=Suppression,
    status_code=status.HTTP_201_CREATED,
    summary="Silence a rule's alerts where host and fields match (leads)",
)
async def create_suppression(
    body: SuppressionRequest, principal: PrincipalDep, service: ServiceDep
) -> Suppression:
    return await service.desk.suppress(principal, body.model_dump())


@router.delete(
    "/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Lift a suppression (leads)",
    responses={404: {"description": "no such suppression among the caller's tenants"}},
)
async def delete_suppression(
    suppression_id: str, principal: PrincipalDep, service: ServiceDep
) -> Response:
    await service.desk.unsuppress(principal, suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
