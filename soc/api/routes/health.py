"""Liveness, readiness and metrics: the only routes without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soc.api.deps import ServiceDep
from soc.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The bus and the store answer a real round trip",
    responses={503: {"model": Health, "description": "a backend failed its check"}},
)
async def readyz(service: ServiceDep) -> Response:
    health = await service.check()
    code = 200 if health.status == "ok" else 503
    return JSONResponse(health.model_dump(), status_code=code)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
