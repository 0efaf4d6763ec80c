"""Connectors' heartbeats in, the sources they feed out (issue 14).

``POST /api/v1/heartbeat``: an agent's report, with its ingest key (the tenant is
the key's). ``GET /api/v1/sources``: each (connector, source, stream) of the
caller's tenants with its last report and its state (healthy, late, silent).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from soc.api.deps import IngestPrincipal, PrincipalDep, ServiceDep
from soc.api.errors import problems
from soc.models import Heartbeat
from soc.security.roles import scope
from soc.sources.book import SourceView

router = APIRouter(prefix="/api/v1", tags=["sources"], responses=problems(401, 403, 422))


@router.post(
    "/heartbeat",
    status_code=204,
    tags=["ingest"],
    summary="A connector's heartbeat: per stream, the seq delivered and the backlog",
)
async def heartbeat(beat: Heartbeat, principal: IngestPrincipal, service: ServiceDep) -> None:
    await service.sources.beat(principal.tenants[0], beat)


@router.get(
    "/sources",
    response_model=list[SourceView],
    summary="The connectors' streams, their last heartbeat and their state",
)
async def list_sources(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Default: all of yours")] = None,
    connector: Annotated[str | None, Query(max_length=200)] = None,
) -> list[SourceView]:
    tenants = scope(principal, "alerts:read", tenant)
    return await service.sources.list(tenants, connector=connector)
