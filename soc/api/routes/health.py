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
    summary="The bus and the store answer a real round trip; silent workers are named",
    responses={503: {"model": Health, "description": "a backend failed its check"}},
)
async def readyz(service: ServiceDep) -> Response:
    """200 with ``ok``, or with ``degraded`` when this API is ready but a worker process
    (`soc detect`, `soc correlate`) has gone silent: a check ``worker <role>@<host>:<pid>``
    says for how long. 503 with ``fail`` when this process's bus or store is down."""
    health = await service.check()
    code = 503 if health.status == "fail" else 200
    return JSONResponse(health.model_dump(), status_code=code)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
