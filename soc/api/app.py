"""The HTTP face of the service: routes, lifecycle and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from soc import __version__
from soc.api.errors import install as install_problems
from soc.api.feed import Feed
from soc.api.headers import SecurityHeaders
from soc.api.routes import (
    alerts,
    audit,
    auth,
    drills,
    events,
    health,
    hunts,
    incidents,
    indicators,
    ingest,
    intel_hunts,
    notifications,
    overview,
    rules,
    sources,
    stream,
    suppressions,
    ui,
    users,
)
from soc.api.routes.docs import install_docs
from soc.api.taxii import router as taxii_router
from soc.app import Service
from soc.hunt.records import HuntRunner
from soc.log import get_logger

log = get_logger(__name__)


def create_app(service: Service) -> FastAPI:
    """An app whose lifespan starts and stops ``service``, and the live feed of its UI."""
    feed = Feed(
        service.store,
        service.cases,
        interval_s=service.settings.incidents.stream_poll_s,
        marks=service.marks,
    )
    runner = HuntRunner(
        service.store,
        service.bus,
        service.audit,
        correlation=service.settings.detect.correlation,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await runner.stop()
            await feed.stop()
            await service.stop()

    app = FastAPI(
        title="SOC event ingestion",
        version=__version__,
        summary="Events in, Sigma detections, alerts out — for a city SOC.",
        lifespan=lifespan,
        docs_url=None,  # served from this process, not a CDN (soc/api/routes/docs.py)
        redoc_url=None,
    )
    app.state.service = service
    app.state.feed = feed
    app.state.hunts = runner

    install_problems(app)  # every error as problem+json (soc/api/errors.py)
    # Hardening headers on every answer (soc/api/headers.py): outside the whole middleware
    # stack, so the 500s Starlette's outermost error middleware answers carry them too.
    build = app.build_middleware_stack
    hsts = service.settings.api.hsts_max_age_s
    app.build_middleware_stack = lambda: SecurityHeaders(build(), hsts_max_age_s=hsts)  # type: ignore[method-assign]
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(ingest.router)
    app.include_router(alerts.router)
    app.include_router(events.router)
    app.include_router(incidents.bulk_router)
    app.include_router(incidents.router)
    app.include_router(suppressions.router)
    app.include_router(overview.router)
    app.include_router(stream.router)
    app.include_router(audit.router)
    app.include_router(hunts.router)
    app.include_router(intel_hunts.router)
    app.include_router(rules.router)
    app.include_router(drills.router)
    app.include_router(sources.router)
    app.include_router(notifications.router)
    app.include_router(indicators.router)
    app.include_router(taxii_router)  # TAXII 2.1, its own auth and error bodies
    app.include_router(ui.router)
    install_docs(app)
    return app
