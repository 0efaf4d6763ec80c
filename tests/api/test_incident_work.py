"""Incidents made by the real pipeline, worked through the API, escalated when late.

The service runs on each store backend (memory bus) and is fed the bundled
slice of the recorded OTRF LSASS campaign. Grouping, versions, the audit
chain and the deadline watch (with a real webhook receiver on loopback) are
checked through what a caller can see.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import stix2
from aiohttp import web
from prometheus_client import REGISTRY

from soc.api.app import create_app
from soc.app import Service
from soc.evidence.bundle import verify_bundle
from soc.incidents.cases import IncidentQuery
from soc.models import utcnow
from soc.settings import Settings
from soc.stages.deadlines import DeadlineWatch
from soc.stages.ingest import ingest_ndjson
from tests.api._backends import BACKENDS, backend_values
from tests.e2e.harness import auth, sample_lines

TENANT = "hue-ioc"


@pytest.fixture(params=BACKENDS)
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with backend_values(request, tmp_path, unique_name) as values:
        async for item in _running(values):
            yield item


async def _running(values: dict[str, Any]) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    settings = Settings(**values, incidents={"check_interval_s": 3600})
    service = Service(settings, workers=True)
    app = create_app(service)
    async with app.router.lifespan_context(app):
        await ingest_ndjson(
            b"\n".join(sample_lines()),
            tenant=TENANT,
            source="test",
            bus=service.bus,
            settings=settings.ingest,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while True:
                page = await client.get(
                    "/api/v1/alerts", params={"limit": 500}, headers=auth("analyst")
                )
                # a store still starting its indices answers 503: ask again
                items = page.json()["items"] if page.status_code == 200 else []
                if items and all(a["incident_id"] or a["suppressed_by"] for a in items):
                    break
                assert loop.time() < deadline, "alerts were not grouped in time"
                await asyncio.sleep(0.3)
            yield service, client


async def test_alerts_fold_into_incidents_and_every_alert_points_at_one(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    _service, client = running
    alerts = (
        await client.get("/api/v1/alerts", params={"limit": 500}, headers=auth("analyst"))
    ).json()["items"]
    incidents = (
        await client.get("/api/v1/incidents", params={"limit": 500}, headers=auth("analyst"))
    ).json()["items"]
    by_id = {i["id"]: i for i in incidents}
    assert set(by_id) == {a["incident_id"] for a in alerts}
    # one incident per (rule, host): folded repeats count every alert exactly once
    assert sum(i["alert_count"] for i in incidents) == len(alerts)
    keys = {(a["rule_id"], a["host"].lower()) for a in alerts}
    assert len(incidents) == len(keys)
    for alert in alerts:
        incident = by_id[alert["incident_id"]]
        assert alert["id"] in {r["id"] for r in incident["alerts"]}
        host = alert["host"].lower()  # hosts compare in lower case
        assert incident["group_values"] == {"rule_id": alert["rule_id"], "host": host}
    assert any(i["alert_count"] > 1 for i in incidents), "the sample has repeats to fold"
    # every opening is in the audit trail (after the start's import of the rule files,
    # audited once), and the chain holds
    report = (await client.get("/api/v1/audit/verify", headers=auth("lead"))).json()
    assert report["ok"] and report["entries"] == len(incidents) + 1


async def test_work_an_incident_with_versions_and_an_audit_trail(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    _service, client = running
    incident = (await client.get("/api/v1/incidents", headers=auth("analyst"))).json()["items"][0]
    path = f"/api/v1/incidents/{incident['id']}"
    view = (await client.get(path, headers=auth("analyst"))).json()
    assert "triage" in view["actions"] and "close" not in view["actions"]

    async def act(command: dict[str, Any], version: int, who: str = "analyst") -> httpx.Response:
        return await client.post(
            f"{path}/actions", json={"command": command, "version": version}, headers=auth(who)
        )

    triaged = await act({"action": "triage"}, incident["version"])
    assert triaged.status_code == 200 and triaged.json()["status"] == "triaged"
    stale = await act({"action": "close_false_positive", "reason": "x"}, incident["version"])
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert stale.headers["content-type"].startswith("application/problem+json")
    version = triaged.json()["version"]
    wrong = await act({"action": "close"}, version)
    assert wrong.status_code in (403, 409), wrong.text  # analysts never close; nor from triaged
    comment = await client.post(
        f"{path}/comments", json={"text": "Gọi trung tâm dữ liệu"}, headers=auth("analyst")
    )
    assert comment.status_code == 201
    resolved = await act({"action": "start_response"}, version)
    assert resolved.status_code == 200, resolved.text
    version = resolved.json()["version"]
    resolved = await act({"action": "resolve", "summary": "Host reimaged"}, version)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    closed = await act({"action": "close"}, resolved.json()["version"], who="lead")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    view = (await client.get(path, headers=auth("analyst"))).json()
    assert [c["text"] for c in view["comments"]] == ["Gọi trung tâm dữ liệu"]
    trail = (
        await client.get(
            "/api/v1/audit", params={"target": f"incident:{incident['id']}"}, headers=auth("lead")
        )
    ).json()
    assert [e["action"] for e in trail] == [
        "incident.open",
        "incident.triage",
        "incident.comment",
        "incident.start_response",
        "incident.resolve",
        "incident.close",
    ]
    assert trail[1]["before"]["status"] == "new" and trail[1]["after"]["status"] == "triaged"
    assert (await client.get("/api/v1/audit/verify", headers=auth("lead"))).json()["ok"]


async def test_a_missed_deadline_is_flagged_audited_counted_and_sent_to_the_tenants_webhook(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    service, client = running
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/escalate", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = service.settings.incidents.model_copy(
        update={"webhooks": {TENANT: f"http://127.0.0.1:{port}/escalate"}}
    )
    later = utcnow() + timedelta(days=30)
    watch = DeadlineWatch(cases=service.cases, settings=settings, clock=lambda: later)
    before = (
        REGISTRY.get_sample_value(
            "soc_deadline_breaches_total", {"kind": "acknowledge", "severity": "high"}
        )
        or 0.0
    )
    try:
        async with aiohttp.ClientSession() as http:
            breaches = await watch.check_once(http)
            again = await watch.check_once(http)
    finally:
        await runner.cleanup()
    open_incidents = await service.cases.incidents.find(
        IncidentQuery(tenants=None, open=True, limit=500)
    )
    assert breaches and again == [], "each deadline is reported once"
    assert {b.incident_id for b in breaches} == {i.id for i in open_incidents.items}
    assert len(received) == len(breaches)
    assert {r["breach"]["id"] for r in received} == {b.id for b in breaches}
    for incident in open_incidents.items:
        assert incident.deadlines is not None and "acknowledge" in incident.deadlines.breached
    high = [b for b in breaches if b.kind == "acknowledge" and b.severity.value == "high"]
    after = REGISTRY.get_sample_value(
        "soc_deadline_breaches_total", {"kind": "acknowledge", "severity": "high"}
    )
    assert after == before + len(high)
    trail = (await client.get("/api/v1/audit", params={"limit": 1000}, headers=auth("lead"))).json()
    assert sum(e["action"] == "incident.deadline_breached" for e in trail) == len(breaches)
    overview = (await client.get("/api/v1/overview", headers=auth("analyst"))).json()
    assert overview["breached_open"] == len(open_incidents.items)


async def test_an_exported_bundle_verifies_until_one_byte_changes(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    _service, client = running
    incident = (await client.get("/api/v1/incidents", headers=auth("analyst"))).json()["items"][0]
    path = f"/api/v1/incidents/{incident['id']}"
    response = await client.get(f"{path}/evidence", headers=auth("analyst"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    data = response.content
    report = verify_bundle(data)
    assert report.ok, report.problems
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        members = {n: z.read(n) for n in names}
    assert {"incident.json", "alerts.ndjson", "manifest.json"} <= names
    assert any(n.startswith("events/") for n in names) and any(
        n.startswith("rules/") for n in names
    )
    # one byte of one file changed: the bundle no longer verifies, naming that file
    altered = bytearray(members["incident.json"])
    altered[10] ^= 0x01
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in members.items():
            z.writestr(name, bytes(altered) if name == "incident.json" else content)
    report = verify_bundle(buffer.getvalue())
    assert not report.ok and any("incident.json" in p for p in report.problems)

    stix = await client.get(f"{path}/stix", headers=auth("analyst"))
    assert stix.status_code == 200
    parsed = stix2.parse(stix.content.decode(), allow_custom=False)
    assert parsed.type == "bundle" and any(o.type == "incident" for o in parsed.objects)
    trail = (
        await client.get(
            "/api/v1/audit", params={"target": f"incident:{incident['id']}"}, headers=auth("lead")
        )
    ).json()
    exports = [e for e in trail if e["action"] == "incident.export"]
    assert [e["after"]["format"] for e in exports] == ["evidence-zip", "stix-2.1"]
    assert exports[0]["after"]["files_sha256"] == response.headers["x-files-sha256"]


async def test_merge_and_move_keep_every_alert_in_exactly_one_incident(
    running: tuple[Service, httpx.AsyncClient],
) -> None:
    _service, client = running
    incidents = (
        await client.get("/api/v1/incidents", params={"limit": 500}, headers=auth("analyst"))
    ).json()["items"]
    target, source = incidents[0], incidents[1]
    merged = await client.post(
        f"/api/v1/incidents/{target['id']}/merge",
        json={"sources": [source["id"]], "version": target["version"]},
        headers=auth("analyst"),
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["alert_count"] == target["alert_count"] + source["alert_count"]
    gone = (await client.get(f"/api/v1/incidents/{source['id']}", headers=auth("analyst"))).json()
    assert gone["incident"]["merged_into"] == target["id"]
    assert gone["incident"]["status"] == "closed" and gone["incident"]["alert_count"] == 0
    alert = (
        await client.get(f"/api/v1/alerts/{source['alerts'][0]['id']}", headers=auth("analyst"))
    ).json()
    assert alert["incident_id"] == target["id"]

    # move one alert out to a third incident, and it points there
    third = incidents[2]
    moving = source["alerts"][0]["id"]
    moved = await client.post(
        f"/api/v1/incidents/{target['id']}/move",
        json={"alert_ids": [moving], "to": third["id"], "version": body["version"]},
        headers=auth("analyst"),
    )
    assert moved.status_code == 200, moved.text
    assert moving not in {a["id"] for a in moved.json()["alerts"]}
    after = (await client.get(f"/api/v1/incidents/{third['id']}", headers=auth("analyst"))).json()
    assert moving in {a["id"] for a in after["incident"]["alerts"]}
    alert = (await client.get(f"/api/v1/alerts/{moving}", headers=auth("analyst"))).json()
    assert alert["incident_id"] == third["id"]
    counts = [
        i["alert_count"]
        for i in (
            await client.get("/api/v1/incidents", params={"limit": 500}, headers=auth("analyst"))
        ).json()["items"]
    ]
    assert sum(counts) == sum(i["alert_count"] for i in incidents)
