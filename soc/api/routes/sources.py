"""The SOC's account of its feeds: the loss ledger, per stream (soc.sources)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from soc.api.deps import PrincipalDep, ServiceDep
from soc.models import utcnow
from soc.security.roles import scope
from soc.sources.models import Reconciliation
from soc.sources.records import LedgerRecords

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


@router.get(
    "/ledger",
    response_model=Reconciliation,
    summary="Per stream: records arrived, duplicates, the connector's highest, gaps, lost",
)
async def ledger(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Only these tenants")] = None,
) -> Reconciliation:
    """Every event sink's ledger of the caller's tenants, merged and reconciled now: gaps
    older than ``sources.grace_s`` are lost (from, to, count), newer ones pending.
    Drills' events and events posted without an origin are not counted."""
    tenants = scope(principal, "alerts:read", tenant)
    merged = await LedgerRecords(service.store).merged(tenants)
    result = merged.reconcile(utcnow(), timedelta(seconds=service.settings.sources.grace_s))
    if tenants is not None:  # a record holds one tenant's streams; this only makes it sure
        allowed = set(tenants)
        result.streams = [s for s in result.streams if s.tenant in allowed]
        result.tenants = [t for t in result.tenants if t.tenant in allowed]
    return result
