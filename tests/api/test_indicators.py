"""The indicators API with people's accounts (tests/api/_access.py): a lead of every tenant
pastes and imports, analysts read their tenant's and the national (*) ones, a lead of one
tenant cannot touch another's or the national ones, every change audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import stix2

from tests.api._access import A, Api, B, running_api, settings_for

HERE = Path(__file__).parent.parent / "intel"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(settings_for(tmp_path)) as api:
        yield api


async def test_paste_import_list_revoke_by_role_and_tenant(api: Api) -> None:
    c = api.client
    lead = await api.as_user("lead.minh")
    lead_ioc = await api.as_user("lead.ioc")
    analyst = await api.as_user("analyst.hoa")
    analyst_dof = await api.as_user("analyst.dof")
    viewer = await api.as_user("viewer.an")

    # a national list (*) and one for hue-dof, pasted by the lead of every tenant
    r = await c.post(
        "/api/v1/indicators",
        json={"text": "203.0.113.45\nbad line here\nevil[.]example.net", "source": "isac"},
        headers=lead,
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["indicators"], report["stored"], report["rejected"]) == (2, 2, 1)
    assert report["rejects"][0]["where"] == "line 2" and report["source"] == "paste:isac"
    r = await c.post("/api/v1/indicators", json={"text": "198.51.100.7", "tenant": B}, headers=lead)
    assert r.status_code == 200 and r.json()["tenant"] == B
    # analysts may not paste; a lead of hue-ioc may not paste for everyone or for hue-dof
    for who, tenant in ((analyst, A), (lead_ioc, "*"), (lead_ioc, B)):
        r = await c.post(
            "/api/v1/indicators", json={"text": "1.2.3.4", "tenant": tenant}, headers=who
        )
        assert r.status_code == 403, r.text
    r = await c.post(
        "/api/v1/indicators", json={"text": "192.0.2.55", "tenant": A}, headers=lead_ioc
    )
    assert r.status_code == 200

    # import: a MISP export as a multipart upload, a STIX bundle as raw JSON
    r = await c.post(
        "/api/v1/indicators/import",
        params={"tenant": A},
        files={"file": ("hue-isac.json", (HERE / "misp_event.json").read_bytes())},
        headers=lead_ioc,
    )
    assert r.status_code == 200, r.text
    assert r.json()["format"] == "misp" and r.json()["source"] == "file:hue-isac.json"
    assert r.json()["stored"] == 8 and r.json()["skipped"] == 2
    bundle = stix2.Bundle(
        stix2.Indicator(pattern="[domain-name:value = 'c2.example.org']", pattern_type="stix")
    )
    r = await c.post(
        "/api/v1/indicators/import",
        params={"source": "national-export"},
        content=bundle.serialize(),
        headers={**lead, "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    r = await c.post(
        "/api/v1/indicators/import", content=b"{not json", headers=lead, params={"format": "stix"}
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = await c.post("/api/v1/indicators/import", content=json.dumps({}), headers=analyst)
    assert r.status_code == 403

    # reading: analysts of hue-ioc see hue-ioc's and *'s, never hue-dof's
    page = (await c.get("/api/v1/indicators", params={"limit": 500}, headers=analyst)).json()
    values = {i["value"] for i in page["items"]}
    assert "203.0.113.45" in values and "192.0.2.55" in values and "c2.example.org" in values
    assert "198.51.100.7" not in values
    dof = (await c.get("/api/v1/indicators", headers=analyst_dof)).json()
    assert {i["tenant"] for i in dof["items"]} == {"*", B}
    r = await c.get("/api/v1/indicators", params={"tenant": B}, headers=analyst)
    assert r.status_code == 403
    viewer_page = await c.get("/api/v1/indicators", params={"q": "evil"}, headers=viewer)
    assert [i["value"] for i in viewer_page.json()["items"]] == ["evil.example.net"]
    typed = await c.get("/api/v1/indicators", params={"type": "hash"}, headers=analyst)
    assert {i["type"] for i in typed.json()["items"]} == {"hash"}
    small = await c.get("/api/v1/indicators", params={"limit": 2}, headers=analyst)
    rest = await c.get(
        "/api/v1/indicators",
        params={"limit": 500, "cursor": small.json()["next_cursor"]},
        headers=analyst,
    )
    assert len(small.json()["items"]) + len(rest.json()["items"]) == len(page["items"])

    b_id = next(i["id"] for i in dof["items"] if i["tenant"] == B)
    national = next(i for i in page["items"] if i["source"] == "paste:isac" and i["type"] == "ip")
    assert (await c.get(f"/api/v1/indicators/{b_id}", headers=analyst)).status_code == 404
    assert (await c.get(f"/api/v1/indicators/{national['id']}", headers=analyst)).status_code == 200

    # revoking: another tenant's is 404, a national one needs a lead of every tenant
    assert (await c.post(f"/api/v1/indicators/{b_id}/revoke", headers=lead_ioc)).status_code == 404
    r = await c.post(f"/api/v1/indicators/{national['id']}/revoke", headers=lead_ioc)
    assert r.status_code == 403
    r = await c.post(f"/api/v1/indicators/{national['id']}/revoke", headers=analyst)
    assert r.status_code == 403
    r = await c.post(f"/api/v1/indicators/{national['id']}/revoke", headers=lead)
    assert r.status_code == 200 and r.json()["revoked"] is True
    revoked = await c.get("/api/v1/indicators", params={"state": "revoked"}, headers=analyst)
    assert [i["id"] for i in revoked.json()["items"]] == [national["id"]]

    feeds = (await c.get("/api/v1/intel/feeds", headers=analyst)).json()
    sources = {(s["source"], s["tenant"]): s for s in feeds["sources"]}
    assert sources[("paste:isac", "*")]["active"] == {"domain": 1}
    assert sources[("paste:isac", "*")]["revoked"] == 1
    assert ("paste:lead.minh", B) not in sources
    assert feeds["feeds"] == []

    actions = [(a, act) for a, act, _ in await api.audit_actions() if act.startswith("intel.")]
    assert actions == [
        ("lead.minh", "intel.paste"),
        ("lead.minh", "intel.paste"),
        ("lead.ioc", "intel.paste"),
        ("lead.ioc", "intel.import"),
        ("lead.minh", "intel.import"),
        ("lead.minh", "intel.revoke"),
    ]
