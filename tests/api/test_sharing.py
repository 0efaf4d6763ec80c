"""Sharing through the API: an analyst sets an incident's TLP (audited, shown in the STIX
export as its TLP 2.0 marking), a lead approves a share (an analyst may not; a tenant whose
policy shares nothing cannot), and the incident's shares are listed."""

from __future__ import annotations

from soc.evidence.stix import TLP2_IDS
from soc.incidents.models import AlertRef, Incident
from soc.models import Severity, utcnow
from tests.api._access import A, Api


async def put_incident(api: Api) -> Incident:
    now = utcnow()
    incident = Incident(
        id="inc-share-api",
        tenant=A,
        title="Beaconing to a known C2",
        severity=Severity.high,
        group_key="g",
        group_values={"rule_id": "c2"},
        alerts=[AlertRef(id="a1", rule_id="c2", severity=Severity.high, time=now)],
        alert_count=1,
        first_seen=now,
        last_seen=now,
        created=now,
        updated=now,
    )
    return await api.service.cases.incidents.put(incident)


async def test_tlp_approval_and_shares(api: Api) -> None:
    incident = await put_incident(api)
    analyst = await api.as_user("analyst.hoa")
    lead = await api.as_user("lead.ioc")
    viewer = await api.as_user("viewer.an")
    url = f"/api/v1/incidents/{incident.id}"

    r = await api.client.put(f"{url}/tlp", json={"tlp": "green", "version": 1}, headers=viewer)
    assert r.status_code == 403, r.text
    r = await api.client.put(f"{url}/tlp", json={"tlp": "purple", "version": 1}, headers=analyst)
    assert r.status_code == 422
    r = await api.client.put(f"{url}/tlp", json={"tlp": "green", "version": 1}, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.json()["tlp"] == "green"
    view = (await api.client.get(url, headers=analyst)).json()
    assert view["incident"]["tlp"] == "green" and "tlp" in view["actions"]
    assert ("analyst.hoa", "incident.tlp", f"incident:{incident.id}") in await api.audit_actions()

    bundle = (await api.client.get(f"{url}/stix", headers=analyst)).json()
    [marking] = [o for o in bundle["objects"] if o["type"] == "marking-definition"]
    assert marking["id"] == TLP2_IDS["green"] and marking["name"] == "TLP:GREEN"

    r = await api.client.post(f"{url}/share", headers=analyst)
    assert r.status_code == 403, "approving a share is a lead's"
    r = await api.client.post(f"{url}/share", headers=lead)
    assert r.status_code == 422, "the default policy shares nothing"
    assert "shares nothing" in r.text
    r = await api.client.get(f"{url}/shares", headers=viewer)
    assert r.status_code == 200 and r.json() == []
