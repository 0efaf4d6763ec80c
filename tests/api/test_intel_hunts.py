"""Retro-hunts of indicators over the API: a lead hunts an indicator over stored events.

The store holds the recorded OTRF LSASS slice (tests/contract/_events.py, re-tenanted to
the API's tenants as in test_hunts.py); the indicator is the SHA-256 of the campaign's
``whoami.exe``, put with ``Indicators.put``.
"""

from __future__ import annotations

from soc.intel.alerts import RULE_ID
from soc.intel.models import IndicatorType
from soc.intel.store import Indicators
from tests.api._access import A, Api, B
from tests.api.test_hunts import EVENTS, SINCE, UNTIL, load
from tests.intel_data import indicator, whoami_sha256

T = IndicatorType


def hunt_body(*ids: str, **over: object) -> dict[str, object]:
    return {"indicator_ids": list(ids), "since": SINCE, "until": UNTIL, "mode": "raise", **over}


async def test_a_lead_hunts_an_indicator_once(api: Api) -> None:
    await load(api)
    sha256 = whoami_sha256(EVENTS)
    with_hash = {e.id for e in EVENTS if sha256 in str(e.fields.get("Hashes", "")).lower()}
    assert with_hash
    tool = indicator(T.hash, sha256, source="sector-isac")
    theirs = indicator(T.hash, sha256, source="dof-own", tenant=B)
    intel = Indicators(api.service.store)
    await intel.put([tool, theirs])

    lead = await api.as_user("lead.minh")
    r = await api.client.post("/api/v1/indicators/hunt", json=hunt_body(tool.id), headers=lead)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["indicators"] == 1 and done["scanned"] == len(EVENTS)
    assert done["matches"] == done["raised"] == len(with_hash)
    assert {m["event_id"] for m in done["preview"]} == with_hash
    assert {m["rule_id"] for m in done["preview"]} == {RULE_ID}
    assert A in {m["tenant"] for m in done["preview"]}
    alert = await api.client.get(f"/api/v1/alerts/{done['preview'][0]['alert_id']}", headers=lead)
    assert alert.status_code == 200
    got = alert.json()
    assert (got["origin"], got["hunt_id"]) == ("retro-hunt", done["hunt_id"])
    assert got["indicator"]["indicator_id"] == tool.id
    assert got["indicator"]["field"] == "Hashes"

    again = await api.client.post("/api/v1/indicators/hunt", json=hunt_body(tool.id), headers=lead)
    assert (again.json()["matches"], again.json()["raised"]) == (done["matches"], 0)
    audited = [(a, t) for _, a, t in await api.audit_actions() if a == "intel.hunt"]
    assert audited == [
        ("intel.hunt", f"hunt:{done['hunt_id']}"),
        ("intel.hunt", f"hunt:{again.json()['hunt_id']}"),
    ]

    # B's own indicator is hunted in B's events only.
    r = await api.client.post(
        "/api/v1/indicators/hunt", json=hunt_body(theirs.id, mode="preview"), headers=lead
    )
    assert {m["tenant"] for m in r.json()["preview"]} == {B}
    # A lead of A alone does not see it; an analyst runs no hunt.
    lead_a = await api.as_user("lead.ioc")
    r = await api.client.post("/api/v1/indicators/hunt", json=hunt_body(theirs.id), headers=lead_a)
    assert r.status_code == 404
    analyst = await api.as_user("analyst.hoa")
    r = await api.client.post("/api/v1/indicators/hunt", json=hunt_body(tool.id), headers=analyst)
    assert r.status_code == 403

    # Revoked: hunted no more.
    await intel.revoke(tool.id)
    r = await api.client.post(
        "/api/v1/indicators/hunt", json=hunt_body(tool.id, mode="preview"), headers=lead
    )
    assert (r.json()["indicators"], r.json()["matches"], r.json()["scanned"]) == (0, 0, 0)
