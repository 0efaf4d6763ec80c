"""The interactive API docs, Swagger UI at ``/docs``, served whole from this process: a SOC
network is often air-gapped, so no page of the service may load anything from another
host. FastAPI's own page takes its scripts from a CDN; this is FastAPI's page with the
files of the ``fastapi-offline`` package (Swagger UI, Apache 2.0), served under
``/docs/static``. The page holds no data (the schema at ``/openapi.json`` is public, as
FastAPI serves it); every call made from it needs a credential like any other.

``/redoc`` leads to ``/docs``: ReDoc's bundle fetches its logo from cdn.redoc.ly, and the
browser test caught it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = "/docs/static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def install_docs(app: FastAPI) -> None:
    """``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and the files on ``app`` (made
    with ``docs_url=None, redoc_url=None``)."""
    router = APIRouter(include_in_schema=False)
    title = f"{app.title} — API"
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
            oauth2_redirect_url=OAUTH2_REDIRECT,
        )

    @router.get(OAUTH2_REDIRECT)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    async def redoc() -> RedirectResponse:
        return RedirectResponse("/docs")

    app.include_router(router)
    app.mount(STATIC, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-static")
