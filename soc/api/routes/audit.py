"""The audit trail: read it (leads), and check its hash chain (leads and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from soc.api.deps import PrincipalDep, ServiceDep
from soc.audit.chain import AuditEntry, ChainReport
from soc.security.roles import require, scope

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntry], summary="Audit entries in order, from `after`")
async def list_audit(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=600, description="E.g. `incident:<id>`")] = None,
    after: Annotated[int, Query(ge=0, description="The last `seq` already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditEntry]:
    tenants = scope(principal, "audit:read", tenant)
    return await service.audit.entries(tenants=tenants, target=target, after_seq=after, limit=limit)


@router.get(
    "/verify",
    response_model=ChainReport,
    summary="Check the whole chain: a removed, reordered or altered entry is found",
)
async def verify_audit(principal: PrincipalDep, service: ServiceDep) -> ChainReport:
    require(principal, "audit:verify")
    return await service.audit.verify()
