"""Every error is an RFC 9457 problem document with a stable code (docs/specs/api.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from soc.errors import Conflict, StoreError
from soc.models import AlertPage, AlertQuery
from tests.api._access import NEW_PASSWORD, Api, key_header, running_api, settings_for

FIELDS = {"type", "title", "status", "code", "detail"}


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert FIELDS <= set(body) <= FIELDS | {"errors"}
    assert body["type"] == "about:blank" and body["status"] == status and body["code"] == code
    assert body["title"] and body["detail"]
    return body


async def test_401_says_bearer(api: Api) -> None:
    r = await api.client.get("/api/v1/alerts")
    problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = await api.client.get("/api/v1/alerts", headers={"Authorization": "Bearer a.b.c"})
    assert problem(r, 401, "unauthorized")["detail"] == "the access token is not valid"
    assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_403_404_and_400(api: Api) -> None:
    problem(
        await api.client.get("/api/v1/alerts", headers=key_header("ingest-ioc")), 403, "forbidden"
    )
    headers = key_header("analyst-key")
    body = problem(await api.client.get("/api/v1/alerts/nope", headers=headers), 404, "not_found")
    assert body["detail"] == "no such alert"
    problem(await api.client.get("/api/v1/no-such-route", headers=headers), 404, "not_found")
    r = await api.client.get("/api/v1/alerts", params={"cursor": "bm9wZQ"}, headers=headers)
    assert "invalid cursor" in problem(r, 400, "invalid_request")["detail"]
    problem(await api.client.delete("/api/v1/alerts", headers=headers), 405, "method_not_allowed")


async def test_422_lists_each_refused_value(api: Api) -> None:
    r = await api.client.get(
        "/api/v1/alerts", params={"limit": 0, "severity": "loud"}, headers=key_header("analyst-key")
    )
    body = problem(r, 422, "invalid_request")
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("query", "limit"),
        ("query", "severity", 0),
    }
    assert all(e["msg"] and e["type"] for e in body["errors"])
    assert "loud" not in r.text, "values are not echoed"


async def test_409_on_a_conflict(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def changed(query: AlertQuery) -> AlertPage:
        raise Conflict("incident x is at version 4, not 3", expected=3, found=4)

    monkeypatch.setattr(api.service.store, "search_alerts", changed)
    r = await api.client.get("/api/v1/alerts", headers=key_header("analyst-key"))
    assert problem(r, 409, "conflict")["detail"] == "incident x is at version 4, not 3"


async def test_503_keeps_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(query: AlertQuery) -> AlertPage:
        raise StoreError("connection refused", retriable=True)

    monkeypatch.setattr(api.service.store, "search_alerts", down)
    r = await api.client.get("/api/v1/alerts", headers=key_header("analyst-key"))
    body = problem(r, 503, "unavailable")
    assert r.headers["Retry-After"] == "5" and "resend" in body["detail"]
    assert "connection refused" not in r.text, "backend details stay in the log"


async def test_413_and_429_on_ingest(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ingest_rate={"burst": 1, "per_second": 1})
    settings.ingest.max_body_bytes = 1024
    async with running_api(settings) as api:
        r = await api.client.post(
            "/api/v1/ingest", content=b"x" * 2000, headers=key_header("ingest-ioc")
        )
        problem(r, 413, "payload_too_large")
        lines = b'{"a": 1}\n{"a": 2}\n'
        r = await api.client.post("/api/v1/ingest", content=lines, headers=key_header("ingest-ioc"))
        assert r.status_code == 200
        r = await api.client.post("/api/v1/ingest", content=lines, headers=key_header("ingest-ioc"))
        problem(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1


async def test_500_is_a_problem_too(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(query: AlertQuery) -> AlertPage:
        raise RuntimeError("a bug with a secret inside")

    monkeypatch.setattr(api.service.store, "search_alerts", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
        r = await client.get("/api/v1/alerts", headers=key_header("analyst-key"))
    body = problem(r, 500, "internal")
    assert "secret" not in body["detail"]


async def test_weak_password_problem_names_each_reason(api: Api) -> None:
    admin = await api.as_user("admin.root")
    user = {"username": "a.b", "display_name": "A B", "role": "viewer", "tenants": ["hue-ioc"]}
    r = await api.client.post("/api/v1/users", json={**user, "password": "a.b"}, headers=admin)
    body = problem(r, 422, "invalid_request")
    assert body["errors"] == [
        {
            "loc": ["body", "password"],
            "msg": "The password must be at least 12 characters.",
            "type": "too_short",
        },
        {
            "loc": ["body", "password"],
            "msg": "The password must not be the username.",
            "type": "same_as_username",
        },
    ]
    r = await api.client.post(
        "/api/v1/users", json={**user, "password": NEW_PASSWORD}, headers=admin
    )
    assert r.status_code == 201


async def test_the_openapi_schema_documents_the_problems(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert {"type", "title", "status", "code", "detail"} <= set(
        schema["components"]["schemas"]["Problem"]["properties"]
    )
    assert "HTTPValidationError" not in str(schema)
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "application/problem+json" in responses["default"]["content"], (path, method)
            for status, answer in responses.items():
                if status.startswith(("4", "5")):
                    assert set(answer["content"]) == {"application/problem+json"}, (path, status)
    token = schema["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert token["429"]["headers"]["Retry-After"]
    example = token["401"]["content"]["application/problem+json"]["example"]
    assert example["code"] == "unauthorized"
