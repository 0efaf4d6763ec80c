"""Retro-hunts over the API: leads run them, analysts read them, each is audited.

The store holds the recorded OTRF LSASS slice (tests/contract/_events.py: tenant
``tenant-a`` and a tenth of it copied to ``tenant-b``, re-tenanted here to the
API's tenants A and B); a SigmaHQ rule that is not bundled is pasted as YAML.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from soc.models import Event
from tests.api._access import A, Api, B
from tests.contract import _events

NEW_RULE = (
    "sigma/rules/windows/process_creation/"
    "proc_creation_win_susp_local_system_owner_account_discovery.yml"
)
TENANTS = {_events.A: A, _events.B: B}


def recorded() -> list[Event]:
    events = []
    for e in _events.recorded():
        tenant = TENANTS[e.tenant]
        events.append(e.model_copy(update={"tenant": tenant, "id": f"{tenant}-{e.id}"}))
    return events


EVENTS = recorded()
SINCE = min(e.time for e in EVENTS).isoformat()
UNTIL = (max(e.time for e in EVENTS) + timedelta(seconds=1)).isoformat()


async def load(api: Api) -> None:
    for i in range(0, len(EVENTS), 500):
        await api.service.store.put_events(EVENTS[i : i + 500])


def body(shared_dir: Path, **over: Any) -> dict[str, Any]:
    text = (shared_dir / NEW_RULE).read_text(encoding="utf-8")
    return {"rule_text": text, "since": SINCE, "until": UNTIL, "mode": "raise", **over}


async def finished(api: Api, hunt_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(400):
        r = await api.client.get(f"/api/v1/hunts/{hunt_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] in ("done", "failed", "cancelled"):
            return dict(r.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"hunt {hunt_id} did not finish")


async def test_a_lead_hunts_and_raises_new_alerts_once(api: Api, shared_dir: Path) -> None:
    await load(api)
    lead = await api.as_user("lead.minh")
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir), headers=lead)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["state"] == "queued" and started["mode"] == "raise"
    assert started["rules"] == [
        {"id": "502b42de-4306-40b4-9596-6f590c81f073", "title": "Local Accounts Discovery"}
    ]
    done = await finished(api, started["id"], lead)
    assert done["state"] == "done"
    assert done["scanned"] == done["total"] == len(EVENTS)
    assert done["matches"] == done["raised"] == len(done["results"]) > 0
    assert {m["tenant"] for m in done["results"]} == {A}
    alert_id = done["results"][0]["alert_id"]
    r = await api.client.get(f"/api/v1/alerts/{alert_id}", headers=lead)
    assert r.status_code == 200
    assert (r.json()["origin"], r.json()["hunt_id"]) == ("retro-hunt", started["id"])

    r = await api.client.post("/api/v1/hunts", json=body(shared_dir), headers=lead)
    again = await finished(api, r.json()["id"], lead)
    assert (again["matches"], again["raised"]) == (done["matches"], 0)

    audited = [(a, t) for _, a, t in await api.audit_actions() if a.startswith("hunt.")]
    assert audited == [
        ("hunt.start", f"hunt:{started['id']}"),
        ("hunt.done", f"hunt:{started['id']}"),
        ("hunt.start", f"hunt:{again['id']}"),
        ("hunt.done", f"hunt:{again['id']}"),
    ]
    entries = [e async for e in api.service.audit.each() if e.target == f"hunt:{started['id']}"]
    assert [e.actor for e in entries] == ["lead.minh", "lead.minh"]
    end = entries[1].after or {}
    assert end["rule_sha256"] == started["rule_sha256"]
    assert (end["matches"], end["raised"], end["since"]) == (done["matches"], done["raised"], SINCE)

    r = await api.client.get("/api/v1/hunts", headers=lead)
    assert [h["id"] for h in r.json()] == [again["id"], started["id"]]
    assert "results" not in r.json()[0]
    r = await api.client.post(f"/api/v1/hunts/{started['id']}/cancel", headers=lead)
    assert r.status_code == 409 and r.json()["code"] == "conflict"


async def test_a_rule_that_does_not_compile_is_a_400(api: Api, shared_dir: Path) -> None:
    lead = await api.as_user("lead.minh")
    bad = "title: broken\nlogsource: {product: windows}\ndetection: {sel: {a: 1}}\n"
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir, rule_text=bad), headers=lead)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert "the rule does not compile" in r.json()["detail"]
    assert "condition" in r.json()["detail"]
    r = await api.client.post(
        "/api/v1/hunts", json=body(shared_dir, rule_text=None, rule_ids=["no-such"]), headers=lead
    )
    assert r.status_code == 400 and "no-such" in r.json()["detail"]
    assert not [a for _, a, _ in await api.audit_actions() if a.startswith("hunt.")]


async def test_a_preview_raises_nothing(api: Api, shared_dir: Path) -> None:
    await load(api)
    lead = await api.as_user("lead.ioc")
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir, mode="preview"), headers=lead)
    assert r.status_code == 202 and r.json()["tenants"] == [A]
    done = await finished(api, r.json()["id"], lead)
    assert done["matches"] > 0 and done["raised"] == 0
    assert not any(m["stored"] for m in done["results"])
    page = await api.client.get("/api/v1/alerts", headers=lead)
    assert page.json()["items"] == []


async def test_leads_run_hunts_analysts_read_them(api: Api, shared_dir: Path) -> None:
    await load(api)
    lead = await api.as_user("lead.ioc")
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir), headers=lead)
    hunt_id = r.json()["id"]
    await finished(api, hunt_id, lead)
    analyst = await api.as_user("analyst.hoa")
    assert [h["id"] for h in (await api.client.get("/api/v1/hunts", headers=analyst)).json()] == [
        hunt_id
    ]
    assert (await api.client.get(f"/api/v1/hunts/{hunt_id}", headers=analyst)).status_code == 200
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir), headers=analyst)
    assert r.status_code == 403 and "'hunts:run'" in r.json()["detail"]
    r = await api.client.post(f"/api/v1/hunts/{hunt_id}/cancel", headers=analyst)
    assert r.status_code == 403
    for who in ("viewer.an", "pctp.tuan", "admin.root", "admin.ioc"):
        headers = await api.as_user(who)
        for path in ("/api/v1/hunts", f"/api/v1/hunts/{hunt_id}"):
            assert (await api.client.get(path, headers=headers)).status_code == 403, (who, path)
    other = await api.as_user("analyst.dof")  # tenant B sees no hunt over tenant A
    assert (await api.client.get("/api/v1/hunts", headers=other)).json() == []
    assert (await api.client.get(f"/api/v1/hunts/{hunt_id}", headers=other)).status_code == 404
    r = await api.client.post("/api/v1/hunts", json=body(shared_dir, tenants=[B]), headers=lead)
    assert r.status_code == 403, "a lead of A hunts only in A"
