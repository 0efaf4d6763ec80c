"""Every answer of the service carries the hardening headers (soc/api/headers.py).

The test walks every route of the app's route table (API, TAXII, UI, static files,
health, metrics, the API docs), anonymous and signed in as an admin, over http and over
https, and adds the errors 401, 403, 404, 405, 422, 429 and 500 on purpose. Each answer must
carry a Content-Security-Policy (the UI's on pages, ``default-src 'none'`` on the rest),
``X-Frame-Options: DENY``, ``nosniff``, a Referrer-Policy and a Cache-Control, and
``Strict-Transport-Security`` exactly when the request came over TLS. Then a real server
(uvicorn) shows the proxy rule: ``X-Forwarded-Proto: https`` counts only from an address
of ``api.forwarded_allow_ips``; and the live stream gets its headers too.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from soc.api.headers import API_POLICY, DOCS_PATHS
from soc.api.routes import ui
from soc.api.routes.ui import CONTENT_SECURITY_POLICY
from soc.api.server import serving
from soc.settings import Settings
from tests.api._access import Api, key_header, running_api, settings_for

STREAM = "/api/v1/stream"
"""Never ends: walked anonymously here (401), signed in against the real server below."""


def check(r: httpx.Response, *, tls: bool) -> None:
    where = f"{r.request.method} {r.request.url} -> {r.status_code}"
    h = r.headers
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") == "no-referrer", where
    assert "cache-control" in h, where
    policy = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, where
    if h.get("content-type", "").startswith("text/html"):
        if r.request.url.path not in DOCS_PATHS:
            assert policy == CONTENT_SECURITY_POLICY, where
    else:
        assert policy in (API_POLICY, CONTENT_SECURITY_POLICY), where
    if tls:
        assert h.get("strict-transport-security", "").startswith("max-age=31536000"), where
    else:
        assert "strict-transport-security" not in h, where


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path.replace("{path:path}", "app.css"))


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route: the OpenAPI document's, the UI's (left out of it) and
    the app's own (the schema and the docs pages)."""
    found = {
        (method.upper(), concrete(path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    for route in [*ui.router.routes, *app.routes]:
        if isinstance(route, Route) and route.methods:
            found |= {(m, concrete(route.path)) for m in route.methods - {"HEAD"}}
    return sorted(found)


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_every_route_and_every_error_carries_the_headers(tmp_path: Path, scheme: str) -> None:
    async with running_api(settings_for(tmp_path)) as api:
        transport = httpx.ASGITransport(app=api.app, client=("10.0.0.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://soc") as client:
            api.client = client
            await walk(api, tls=scheme == "https")


async def walk(api: Api, *, tls: bool) -> None:
    client = api.client
    admin = await api.as_user("admin.root")
    analyst = await api.as_user("analyst.hoa")
    seen: set[int] = set()
    table = routes(api.app)
    assert len(table) > 60 and ("GET", "/ui/app.css") in table and ("GET", "/metrics") in table
    for method, path in table:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for headers in ({}, admin):
            if headers and path == STREAM:
                continue
            r = await client.request(method, path, json=body, headers=headers)
            check(r, tls=tls)
            seen.add(r.status_code)
        if path.endswith("/logout"):  # the admin's session just ended
            admin = await api.as_user("admin.root")
    extra = [
        await client.get("/ui/"),  # the page
        await client.get("/ui/no-such-file.js"),  # 404 of the UI
        await client.get("/api/v1/no-such-route", headers=admin),  # 404 of the API
        await client.get("/openapi.json"),
        await client.get("/docs"),
        await client.get("/api/v1/users", headers=analyst),  # 403
        await client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}),  # 401
        await client.post("/api/v1/ingest", content=b"{", headers=key_header("ingest-ioc")),
        await client.delete("/healthz"),  # 405
    ]
    for _ in range(7):  # 429: the sign-in bucket of one (username, address) holds 5
        extra.append(await api.sign_in("viewer.an", "wrong"))
    for r in extra:
        check(r, tls=tls)
        seen.add(r.status_code)
    assert {200, 307, 401, 403, 404, 405, 422, 429} <= seen, seen
    # Authenticated JSON never goes to a cache.
    r = await client.get("/api/v1/auth/me", headers=admin)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert (await client.get("/ui/app.css")).headers["cache-control"] == "no-cache"


async def test_an_unhandled_error_answers_500_with_the_headers(tmp_path: Path) -> None:
    async with running_api(settings_for(tmp_path)) as api:

        async def broken() -> None:
            raise RuntimeError("boom")

        api.app.add_api_route("/api/v1/broken", broken)
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://soc") as client:
            r = await client.get("/api/v1/broken")
        assert r.status_code == 500
        check(r, tls=True)


def _real(tmp: Path, trusted: list[str]) -> Settings:
    return settings_for(tmp).model_copy(
        update={"api": settings_for(tmp).api.model_copy(update={"forwarded_allow_ips": trusted})}
    )


@pytest.mark.parametrize("trusted", [["127.0.0.1"], []], ids=["trusted-proxy", "no-proxy"])
async def test_hsts_behind_a_proxy_only_when_the_proxy_is_trusted(
    tmp_path: Path, trusted: list[str]
) -> None:
    async with serving(_real(tmp_path, trusted)) as url, httpx.AsyncClient(base_url=url) as c:
        forwarded = {"X-Forwarded-Proto": "https"}
        check(await c.get("/healthz", headers=forwarded), tls=bool(trusted))
        check(await c.get("/healthz"), tls=False)
        async with c.stream("GET", STREAM, headers={**forwarded, **key_header("analyst-key")}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            check(r, tls=bool(trusted))
