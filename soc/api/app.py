"""The HTTP face of the service: routes, lifecycle and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from soc import __version__
from soc.api.routes import alerts, health, ingest
from soc.app import Service
from soc.errors import BackendError
from soc.log import get_logger

log = get_logger(__name__)


def create_app(service: Service) -> FastAPI:
    """An app whose lifespan starts and stops ``service``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="SOC event ingestion",
        version=__version__,
        summary="Events in, Sigma detections, alerts out — for a city SOC.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(BackendError)
    async def backend_unavailable(request: Request, exc: BackendError) -> JSONResponse:
        # The request did not complete: the sender keeps its data and resends it whole;
        # event ids are stable, so a resent event is stored once.
        log.warning(
            "request failed on a backend", extra={"path": request.url.path, "error": str(exc)}
        )
        return JSONResponse(
            {"detail": "a backend is unavailable; the request did not complete, resend it"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(alerts.router)
    return app
