"""Sign-in, sign-out, who am I, and the two kinds of bearer (session token, API key)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import APIRouter

from soc.api.deps import StreamPrincipal
from soc.models import utcnow
from soc.security.passwords import PasswordHashing
from soc.security.principal import Principal
from soc.security.roles import PERMISSIONS
from tests.api._access import (
    PASSWORD,
    Api,
    bearer,
    key_header,
    running_api,
    settings_for,
)
from tests.unit.security.helpers import SpyHasher


async def test_sign_in_answers_a_bearer_token_and_the_user(api: Api) -> None:
    await api.add_user("analyst.hoa", display_name="Nguyễn Thị Hoa")
    before = utcnow()
    r = await api.sign_in("Analyst.Hoa ")  # names are normalized
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"].count(".") == 2
    assert 8 * 3600 - 5 <= body["expires_in"] <= 8 * 3600
    assert body["user"] == {
        "name": "analyst.hoa",
        "display_name": "Nguyễn Thị Hoa",
        "role": "analyst",
        "tenants": ["hue-ioc"],
        "unit": None,
        "permissions": sorted(PERMISSIONS["analyst"]),
    }
    me = await api.client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json() == body["user"]
    stored = await api.service.users.get("analyst.hoa")
    assert stored is not None and stored.last_login is not None and stored.last_login >= before
    assert ("analyst.hoa", "auth.sign_in", "user:analyst.hoa") in await api.audit_actions()


async def test_me_of_a_responder_and_of_an_api_key(api: Api) -> None:
    r = await api.client.get("/api/v1/auth/me", headers=await api.as_user("pctp.tuan"))
    assert r.json()["unit"] == "CAT-PCTP" and r.json()["role"] == "responder"
    assert "alerts:read" not in r.json()["permissions"]
    r = await api.client.get("/api/v1/auth/me", headers=key_header("analyst-key"))
    assert r.status_code == 200
    assert r.json() == {
        "name": "analyst-key",
        "display_name": None,
        "role": "analyst",
        "tenants": ["hue-ioc"],
        "unit": None,
        "permissions": sorted(PERMISSIONS["analyst"]),
    }


async def test_unknown_user_wrong_password_and_disabled_answer_alike(tmp_path: Path) -> None:
    async with running_api(settings_for(tmp_path)) as api:
        await api.add_user("analyst.hoa")
        await api.add_user("analyst.off", disabled=True)
        spy = SpyHasher()
        api.service.hashing = PasswordHashing(spy)
        answers = []
        for username, password in (
            ("nobody.here", PASSWORD),
            ("analyst.hoa", "wrong-password-of-hoa"),
            ("analyst.off", PASSWORD),
            ("x" * 5000, PASSWORD),  # not a username at all
        ):
            spy.verified.clear()
            r = await api.sign_in(username, password)
            assert len(spy.verified) == 1, "one argon2 verify, whoever it is"
            answers.append((r.status_code, r.headers["content-type"], r.json()))
        assert answers[0] == answers[1] == answers[2] == answers[3]
        status, content_type, body = answers[0]
        assert status == 401 and content_type == "application/problem+json"
        assert body == {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "code": "unauthorized",
            "detail": "wrong username or password",
        }
        trail = await api.audit_actions()
        assert ("anonymous", "auth.sign_in_failed", "user:analyst.hoa") in trail
        assert ("anonymous", "auth.sign_in_failed", "user:nobody.here") in trail


async def test_repeated_failures_lock_the_name_out_from_that_address_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, login={"max_failures": 3, "burst": 100})
    async with running_api(settings) as api:
        await api.add_user("analyst.hoa")
        for _ in range(3):
            assert (await api.sign_in("analyst.hoa", "guess-guess-guess")).status_code == 401
        r = await api.sign_in("analyst.hoa")  # even the right password, now
        assert r.status_code == 429
        assert r.json()["code"] == "rate_limited" and "failed sign-ins" in r.json()["detail"]
        assert 800 <= int(r.headers["Retry-After"]) <= 900
        async with api.other_client("10.0.0.99") as elsewhere:
            assert (await api.sign_in("analyst.hoa", client=elsewhere)).status_code == 200
        assert ("anonymous", "auth.locked_out", "user:analyst.hoa") in await api.audit_actions()


async def test_one_address_is_limited_across_usernames(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, login={"ip_burst": 3, "ip_per_second": 0.01})
    async with running_api(settings) as api:
        for name in ("a.1", "a.2", "a.3"):
            assert (await api.sign_in(name, "spraying-one-password")).status_code == 401
        r = await api.sign_in("a.4", "spraying-one-password")
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        async with api.other_client("10.0.0.98") as elsewhere:
            assert (await api.sign_in("a.4", "x", client=elsewhere)).status_code == 401


async def test_a_success_clears_the_failures(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, login={"max_failures": 3, "burst": 100})
    async with running_api(settings) as api:
        await api.add_user("analyst.hoa")
        for _ in range(2):
            await api.sign_in("analyst.hoa", "guess-guess-guess")
        assert (await api.sign_in("analyst.hoa")).status_code == 200
        for _ in range(2):
            await api.sign_in("analyst.hoa", "guess-guess-guess")
        assert (await api.sign_in("analyst.hoa")).status_code == 200


async def test_sign_in_needs_the_form_fields(api: Api) -> None:
    r = await api.client.post("/api/v1/auth/token", data={"username": "analyst.hoa"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert {"loc": ["body", "password"], "msg": "Field required", "type": "missing"} in r.json()[
        "errors"
    ]


async def test_logout_ends_the_session_and_only_that_one(api: Api) -> None:
    await api.add_user("analyst.hoa")
    first, second = await api.token("analyst.hoa"), await api.token("analyst.hoa")
    r = await api.client.post("/api/v1/auth/logout", headers=bearer(first))
    assert r.status_code == 204 and r.content == b""
    r = await api.client.get("/api/v1/auth/me", headers=bearer(first))
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json()["detail"] == "the session has ended; sign in again"
    assert (await api.client.get("/api/v1/auth/me", headers=bearer(second))).status_code == 200
    assert ("analyst.hoa", "auth.sign_out", "user:analyst.hoa") in await api.audit_actions()
    r = await api.client.post("/api/v1/auth/logout", headers=key_header("analyst-key"))
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"


async def test_a_sign_out_reaches_another_api_process(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, revocation_refresh_s=0.05)
    async with running_api(settings) as one, running_api(settings) as two:
        await one.add_user("analyst.hoa")
        token = await one.token("analyst.hoa")
        assert (await two.client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        await one.client.post("/api/v1/auth/logout", headers=bearer(token))
        for _ in range(100):
            r = await two.client.get("/api/v1/auth/me", headers=bearer(token))
            if r.status_code == 401:
                break
            await asyncio.sleep(0.05)
        assert r.status_code == 401, "the other process never learned of the sign-out"


async def test_a_restarted_process_still_refuses_an_ended_session(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    async with running_api(settings) as api:
        await api.add_user("analyst.hoa")
        token = await api.token("analyst.hoa")
        await api.client.post("/api/v1/auth/logout", headers=bearer(token))
    async with running_api(settings) as api:
        r = await api.client.get("/api/v1/auth/me", headers=bearer(token))
        assert r.status_code == 401


async def test_expired_forged_and_unknown_bearers_are_refused(api: Api) -> None:
    user = await api.add_user("analyst.hoa")
    old = api.service.tokens.issue(user.principal(), now=utcnow() - timedelta(hours=9))
    r = await api.client.get("/api/v1/auth/me", headers=bearer(old.token))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    token = await api.token("analyst.hoa")
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    r = await api.client.get("/api/v1/auth/me", headers=bearer(forged))
    assert r.status_code == 401 and r.json()["detail"] == "the access token is not valid"
    r = await api.client.get("/api/v1/auth/me", headers=bearer("not-a-key"))
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = await api.client.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert "missing credentials" in r.json()["detail"]


@pytest.fixture
async def streaming(api: Api) -> Api:
    """The app with a route taking StreamPrincipal, as GET /api/v1/stream does."""
    router = APIRouter()

    @router.get("/test/stream")
    async def stream(principal: StreamPrincipal) -> dict[str, str]:
        assert isinstance(principal, Principal)
        return {"name": principal.name}

    api.app.include_router(router)
    return api


async def test_the_stream_takes_a_session_token_in_the_query(streaming: Api) -> None:
    api = streaming
    await api.add_user("analyst.hoa")
    token = await api.token("analyst.hoa")
    r = await api.client.get("/test/stream", params={"access_token": token})
    assert r.status_code == 200 and r.json() == {"name": "analyst.hoa"}
    r = await api.client.get("/test/stream", headers=bearer(token))
    assert r.json() == {"name": "analyst.hoa"}
    r = await api.client.get("/test/stream", headers=key_header("analyst-key"))
    assert r.json() == {"name": "analyst-key"}
    # An API key never goes into a URL.
    r = await api.client.get("/test/stream", params={"access_token": "test-analyst-key-hue-ioc"})
    assert r.status_code == 401
    assert (await api.client.get("/test/stream")).status_code == 401
    await api.client.post("/api/v1/auth/logout", headers=bearer(token))
    r = await api.client.get("/test/stream", params={"access_token": token})
    assert r.status_code == 401 and "ended" in r.json()["detail"]


async def test_session_and_key_reach_the_same_routes(api: Api) -> None:
    headers = await api.as_user("analyst.hoa")
    for h in (headers, key_header("analyst-key")):
        r = await api.client.get("/api/v1/alerts", headers=h)
        assert r.status_code == 200, r.text
