"""The SOC's account of its feeds (issue 14): connectors' heartbeats in, sources and the
loss ledger out.

``POST /api/v1/heartbeat``: an agent's report, with its ingest key (the tenant is the
key's). ``GET /api/v1/sources``: each (connector, source, stream) of the caller's tenants
with its last report, its activity and its state (soc.sources.status).
``GET /api/v1/sources/ledger``: per stream, the records arrived, duplicates, the
connector's highest, gaps and loss.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from soc.api.deps import IngestPrincipal, PrincipalDep, ServiceDep
from soc.api.errors import problems
from soc.metrics import HEARTBEATS
from soc.models import Heartbeat, utcnow
from soc.security.roles import scope
from soc.sources.models import Reconciliation
from soc.sources.records import LedgerRecords
from soc.sources.status import SourceStatus, statuses

router = APIRouter(prefix="/api/v1", tags=["sources"], responses=problems(401, 403, 422))


@router.post(
    "/heartbeat",
    status_code=204,
    tags=["ingest"],
    summary="A connector's heartbeat: per stream, the seq delivered and the backlog",
)
async def heartbeat(beat: Heartbeat, principal: IngestPrincipal, service: ServiceDep) -> None:
    await service.sources.beat(principal.tenants[0], beat)
    HEARTBEATS.labels(via="http", result="filed").inc()


@router.get(
    "/sources",
    response_model=list[SourceStatus],
    summary="Every source: its last heartbeat, what arrived in the last 24 h, its state",
)
async def list_sources(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Default: all of yours")] = None,
    connector: Annotated[str | None, Query(max_length=200)] = None,
) -> list[SourceStatus]:
    """Sources a heartbeat named or that sent events: state (healthy, late, silent,
    losing), last event, events and bytes in the last hour and day, dead letters and
    parse errors in the last day, the 24 hourly counts (oldest first) and the expected
    interval between events (configured, learned or default)."""
    tenants = scope(principal, "alerts:read", tenant)
    return await statuses(service.store, service.settings.sources, tenants, connector=connector)


@router.get(
    "/sources/ledger",
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
