"""The HTTP face of the service: routes, lifecycle and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from soc import __version__
from soc.api.errors import install as install_problems
from soc.api.routes import (
    alerts,
    audit,
    auth,
    health,
    incidents,
    ingest,
    overview,
    stream,
    suppressions,
    ui,
    users,
)
from soc.app import Service
from soc.errors import AuthError, BackendError, Conflict
from soc.incidents.errors import InvalidOperation, InvalidTransition
from soc.incidents.service import NotFound
from soc.log import get_logger

log = get_logger(__name__)


def _problem(status: int, code: str, detail: str) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "code": code, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


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

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _problem(404, "not_found", str(exc))

    @app.exception_handler(InvalidTransition)
    async def invalid_transition(request: Request, exc: InvalidTransition) -> JSONResponse:
        return _problem(409, "invalid_transition", str(exc))

    @app.exception_handler(InvalidOperation)
    async def invalid_operation(request: Request, exc: InvalidOperation) -> JSONResponse:
        return _problem(422, "invalid_operation", str(exc))

    @app.exception_handler(AuthError)
    async def forbidden(request: Request, exc: AuthError) -> JSONResponse:
        return _problem(403, "forbidden", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        return _problem(409, "conflict", str(exc))

    install_problems(app)  # every error as problem+json (soc/api/errors.py)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(ingest.router)
    app.include_router(alerts.router)
    app.include_router(incidents.bulk_router)
    app.include_router(incidents.router)
    app.include_router(suppressions.router)
    app.include_router(overview.router)
    app.include_router(stream.router)
    app.include_router(audit.router)
    app.include_router(ui.router)
    return app
