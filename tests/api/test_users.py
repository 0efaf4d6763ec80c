"""Accounts through the API: admins only, within their tenants, audited, ending sessions."""

from __future__ import annotations

from typing import Any

from tests.api._access import PASSWORD, A, Api, B, bearer, key_header

NEW: dict[str, Any] = {
    "username": "Analyst.Lan",
    "display_name": "Trần Thị Lan",
    "role": "analyst",
    "tenants": [A],
    "password": "mua-thu-ha-noi-va-hue",
}


def body(**changes: Any) -> dict[str, Any]:
    return {**NEW, **changes}


async def test_an_admin_creates_an_account_that_can_sign_in(api: Api) -> None:
    admin = await api.as_user("admin.root")
    r = await api.client.post("/api/v1/users", json=NEW, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["username"] == "analyst.lan" and created["role"] == "analyst"
    assert created["disabled"] is False and created["last_login"] is None
    assert "password" not in r.text and "argon2" not in r.text
    assert (await api.sign_in("analyst.lan", NEW["password"])).status_code == 200
    listed = (await api.client.get("/api/v1/users", headers=admin)).json()
    assert [u["username"] for u in listed["items"]] == ["admin.root", "analyst.lan"]
    assert listed["next_cursor"] is None
    trail = await api.audit_actions()
    assert ("admin.root", "user.create", "user:analyst.lan") in trail
    (entry,) = [e async for e in api.service.audit.each() if e.action == "user.create"]
    assert entry.after is not None and "password_hash" not in entry.after


async def test_only_admins_manage_accounts(api: Api) -> None:
    for who in ("viewer.an", "analyst.hoa", "lead.minh", "pctp.tuan"):
        headers = await api.as_user(who)
        r = await api.client.get("/api/v1/users", headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", who
        r = await api.client.post("/api/v1/users", json=NEW, headers=headers)
        assert r.status_code == 403, who
        r = await api.client.patch("/api/v1/users/viewer.an", json={}, headers=headers)
        assert r.status_code == 403, who
    r = await api.client.get("/api/v1/users", headers=key_header("ingest-ioc"))
    assert r.status_code == 403


async def test_an_admin_of_one_tenant_manages_only_accounts_within_it(api: Api) -> None:
    admin = await api.as_user("admin.ioc")
    await api.add_user("analyst.hoa")
    await api.add_user("analyst.dof")
    await api.add_user("lead.minh")
    for tenants in ([B], [A, B], ["*"]):
        r = await api.client.post("/api/v1/users", json=body(tenants=tenants), headers=admin)
        assert r.status_code == 403, tenants
    r = await api.client.post("/api/v1/users", json=body(), headers=admin)
    assert r.status_code == 201
    listed = (await api.client.get("/api/v1/users", headers=admin)).json()["items"]
    assert {u["username"] for u in listed} == {"admin.ioc", "analyst.hoa", "analyst.lan"}
    # Accounts outside answer 404, as missing ones do.
    for name in ("analyst.dof", "lead.minh", "nobody"):
        r = await api.client.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=admin)
        assert r.status_code == 404 and r.json()["code"] == "not_found", name
        r = await api.client.post(
            f"/api/v1/users/{name}/password", json={"password": PASSWORD + "x"}, headers=admin
        )
        assert r.status_code == 404, name
    # No widening of an account within: neither to another tenant nor to all.
    for tenants in ([A, B], ["*"]):
        r = await api.client.patch(
            "/api/v1/users/analyst.hoa", json={"tenants": tenants, "role": "lead"}, headers=admin
        )
        assert r.status_code == 403, tenants
    stored = await api.service.users.get("analyst.dof")
    assert stored is not None and not stored.disabled


async def test_an_admin_of_all_tenants_manages_every_account(api: Api) -> None:
    admin = await api.as_user("admin.root")
    await api.add_user("analyst.dof")
    r = await api.client.patch(
        "/api/v1/users/analyst.dof", json={"role": "lead", "tenants": ["*"]}, headers=admin
    )
    assert r.status_code == 200 and r.json()["tenants"] == ["*"]


async def test_refused_values_are_problems_with_their_fields(api: Api) -> None:
    admin = await api.as_user("admin.root")
    cases = [
        (body(password="short"), [("password", "too_short")]),
        (
            body(password="analyst.lan"),
            [("password", "too_short"), ("password", "same_as_username")],
        ),
        (body(password="matkhau123456"), [("password", "too_common")]),
    ]
    for request, expected in cases:
        r = await api.client.post("/api/v1/users", json=request, headers=admin)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "invalid_request"
        assert [(e["loc"][-1], e["type"]) for e in problem["errors"]] == expected
        assert all(e["msg"] for e in problem["errors"])
    r = await api.client.post(
        "/api/v1/users", json=body(role="responder", password=PASSWORD), headers=admin
    )
    assert r.status_code == 422 and "needs a unit" in r.json()["errors"][0]["msg"]
    r = await api.client.post(
        "/api/v1/users", json=body(tenants=["*"], password=PASSWORD), headers=admin
    )
    assert r.status_code == 422 and "may not hold all tenants" in r.text
    r = await api.client.post("/api/v1/users", json=body(username="Bad Name!"), headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "username"]
    r = await api.client.post("/api/v1/users", json=body(role="root"), headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "role"]
    assert "mua-thu" not in r.text, "a refused request's values are never echoed"
    assert await api.service.users.get("analyst.lan") is None


async def test_names_are_unique_across_users_and_api_keys(api: Api) -> None:
    admin = await api.as_user("admin.root")
    assert (await api.client.post("/api/v1/users", json=NEW, headers=admin)).status_code == 201
    r = await api.client.post("/api/v1/users", json=body(username="analyst.lan"), headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    r = await api.client.post("/api/v1/users", json=body(username="Ingest-IOC"), headers=admin)
    assert r.status_code == 409 and "API key" in r.json()["detail"]


async def test_a_change_of_access_ends_the_sessions(api: Api) -> None:
    admin = await api.as_user("admin.root")
    await api.add_user("analyst.hoa")
    session = bearer(await api.token("analyst.hoa"))
    r = await api.client.patch(
        "/api/v1/users/analyst.hoa", json={"display_name": "Hoa (IOC)"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Hoa (IOC)"
    me = await api.client.get("/api/v1/auth/me", headers=session)
    assert me.status_code == 200, "a new display name changes no access"
    r = await api.client.patch("/api/v1/users/analyst.hoa", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    me = await api.client.get("/api/v1/auth/me", headers=session)
    assert me.status_code == 401 and "ended" in me.json()["detail"]
    fresh = bearer(await api.token("analyst.hoa"))
    assert (await api.client.get("/api/v1/auth/me", headers=fresh)).json()["role"] == "viewer"
    r = await api.client.patch("/api/v1/users/analyst.hoa", json={"disabled": True}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert (await api.client.get("/api/v1/auth/me", headers=fresh)).status_code == 401
    assert (await api.sign_in("analyst.hoa")).status_code == 401
    r = await api.client.patch("/api/v1/users/analyst.hoa", json={"disabled": False}, headers=admin)
    assert (await api.sign_in("analyst.hoa")).status_code == 200
    updates = [a for a in await api.audit_actions() if a[1] == "user.update"]
    assert len(updates) == 4


async def test_an_update_is_validated_as_a_whole(api: Api) -> None:
    admin = await api.as_user("admin.root")
    await api.add_user("analyst.hoa")
    r = await api.client.patch(
        "/api/v1/users/analyst.hoa", json={"role": "responder"}, headers=admin
    )
    assert r.status_code == 422 and "needs a unit" in r.text
    r = await api.client.patch(
        "/api/v1/users/analyst.hoa", json={"role": "responder", "unit": "CAT-PCTP"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["unit"] == "CAT-PCTP"
    r = await api.client.patch("/api/v1/users/analyst.hoa", json={"password": "x"}, headers=admin)
    assert r.status_code == 422, "the password has its own route"


async def test_an_admin_cannot_lock_themself_out(api: Api) -> None:
    admin = await api.as_user("admin.root")
    for change in ({"disabled": True}, {"role": "lead"}):
        r = await api.client.patch("/api/v1/users/admin.root", json=change, headers=admin)
        assert r.status_code == 403, change
    r = await api.client.patch(
        "/api/v1/users/admin.root", json={"display_name": "Quản trị"}, headers=admin
    )
    assert r.status_code == 200


async def test_an_admin_sets_a_password_and_the_old_sessions_end(api: Api) -> None:
    admin = await api.as_user("admin.root")
    await api.add_user("analyst.hoa")
    session = bearer(await api.token("analyst.hoa"))
    r = await api.client.post(
        "/api/v1/users/analyst.hoa/password", json={"password": "short"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "too_short"
    new = "troi-mua-tren-song-huong"
    r = await api.client.post(
        "/api/v1/users/analyst.hoa/password", json={"password": new}, headers=admin
    )
    assert r.status_code == 204
    assert (await api.client.get("/api/v1/auth/me", headers=session)).status_code == 401
    assert (await api.sign_in("analyst.hoa")).status_code == 401
    assert (await api.sign_in("analyst.hoa", new)).status_code == 200
    assert ("admin.root", "user.password", "user:analyst.hoa") in await api.audit_actions()


async def test_a_user_changes_their_own_password_knowing_the_current_one(api: Api) -> None:
    await api.add_user("analyst.hoa")
    session = bearer(await api.token("analyst.hoa"))
    url = "/api/v1/users/analyst.hoa/password"
    new = "troi-mua-tren-song-huong"
    r = await api.client.post(url, json={"password": new}, headers=session)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "current_password"]
    r = await api.client.post(
        url, json={"password": new, "current_password": "not-it-at-all"}, headers=session
    )
    assert r.status_code == 422
    r = await api.client.post(
        url, json={"password": new, "current_password": PASSWORD}, headers=session
    )
    assert r.status_code == 204
    assert (await api.client.get("/api/v1/auth/me", headers=session)).status_code == 401
    assert (await api.sign_in("analyst.hoa", new)).status_code == 200
    # Someone else's password: not without being their admin.
    await api.add_user("viewer.an")
    r = await api.client.post(
        "/api/v1/users/viewer.an/password",
        json={"password": new, "current_password": PASSWORD},
        headers=bearer(await api.token("analyst.hoa", new)),
    )
    assert r.status_code == 403


async def test_the_list_is_paged_by_username(api: Api) -> None:
    admin = await api.as_user("admin.root")
    for i in range(5):
        await api.add_user(f"analyst.{i}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/api/v1/users", params=params, headers=admin)).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 6
    r = await api.client.get("/api/v1/users", params={"cursor": "bm9wZQ"}, headers=admin)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
