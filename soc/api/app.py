"""The HTTP face of the service: routes, lifecycle and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from soc import __version__
from soc.api.routes import alerts, health, ingest
from soc.app import Service


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
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(alerts.router)
    return app
