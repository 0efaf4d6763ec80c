"""Notifications through the API (leads only): a tenant's channel made with its secret that
no answer shows, a route, a test message a real receiver verifies, the outbox; and a
hand-off through the API of one of two running services (one store and bus: memory+SQLite,
Kafka+OpenSearch) that reaches the unit's mail server once, by the services' own watch and
sender stages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from soc.api.app import create_app
from soc.app import Service
from soc.settings import Settings
from tests.api._access import A, Api, B
from tests.e2e.harness import auth, backend_settings
from tests.notify._servers import smtp_server, webhook_receiver
from tests.notify.test_delivery import UNIT, open_incident
from tests.stores import drop_opensearch_prefix

SECRET = "khoa-bi-mat-cua-webhook"


async def test_channels_routes_and_a_test_message_for_leads_only(api: Api) -> None:
    lead, analyst = await api.as_user("lead.ioc"), await api.as_user("analyst.hoa")
    c = api.client
    async with webhook_receiver(SECRET) as hook:
        channel = {"type": "webhook", "url": f"{hook.url}/hook", "secret": SECRET, "lang": "en"}
        body = {"tenant": A, "channel": channel}
        assert (await c.get("/api/v1/notifications/channels", headers=analyst)).status_code == 403
        r = await c.put("/api/v1/notifications/channels/ioc-hook", json=body, headers=analyst)
        assert r.status_code == 403
        r = await c.put("/api/v1/notifications/channels/ioc-hook", json=body, headers=lead)
        assert r.status_code == 200, r.text
        assert SECRET not in r.text and r.json()["channel"]["secret"] == "**********"
        other = {"tenant": B, "channel": channel}
        r = await c.put("/api/v1/notifications/channels/dof-hook", json=other, headers=lead)
        assert r.status_code == 403
        listed = await c.get("/api/v1/notifications/channels", headers=lead)
        assert [ch["name"] for ch in listed.json()] == ["ioc-hook"] and SECRET not in listed.text

        route = {"tenant": A, "triggers": ["incident_new", "handoff"], "channel": "ioc-hook"}
        r = await c.post("/api/v1/notifications/routes", json=route, headers=lead)
        assert r.status_code == 201, r.text
        route_id = r.json()["id"]
        r = await c.post("/api/v1/notifications/routes", json=route | {"tenant": B}, headers=lead)
        assert r.status_code == 403
        r = await c.post(
            "/api/v1/notifications/routes", json=route | {"channel": "nope"}, headers=lead
        )
        assert r.status_code == 404

        r = await c.post("/api/v1/notifications/channels/ioc-hook/test", headers=lead)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "sent" and r.json()["trigger"] == "test", r.text
        [got] = hook.accepted
        assert got["trigger"] == "test" and got["subject"] == "SOC test message"
        assert hook.refused == 0

        outbox = await c.get("/api/v1/notifications/outbox", headers=lead)
        assert [i["id"] for i in outbox.json()["items"]] == [got["id"]]
        assert (await c.get("/api/v1/notifications/outbox", headers=analyst)).status_code == 403

        r = await c.delete(f"/api/v1/notifications/routes/{route_id}", headers=lead)
        assert r.status_code == 204
        assert (await c.get("/api/v1/notifications/routes", headers=lead)).json() == []
    actions = [a for _, a, _ in await api.audit_actions()]
    assert actions.count("notification.channel_put") == 1
    assert "notification.sent" in actions and "notification.route_delete" in actions
    trail = [str(e.after) async for e in api.service.audit.each()]
    assert trail and not any(SECRET in after for after in trail)


PAIRS = [
    pytest.param(("memory", "sqlite"), id="memory+sqlite"),
    pytest.param(
        ("kafka", "opensearch"),
        id="kafka+opensearch",
        marks=[pytest.mark.kafka, pytest.mark.opensearch],
    ),
]


@pytest.fixture(params=PAIRS)
async def two_services(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[tuple[list[Service], httpx.AsyncClient, Any]]:
    """Two API processes' services on one pair of backends (one store, one bus)."""
    bus, store = request.param
    kafka = request.getfixturevalue("kafka_bootstrap") if bus == "kafka" else None
    url = request.getfixturevalue("opensearch_url") if store == "opensearch" else None
    values = backend_settings(
        bus, store, prefix=unique_name, tmp=tmp_path, kafka=kafka, opensearch=url
    )
    with smtp_server(tmp_path) as smtp:
        notify = {
            "base_url": "https://soc.hue.gov.vn",
            "channels": {"pctp-mail": smtp.channel(timeout_s=5)},
            "routes": [
                {"tenant": "*", "unit": UNIT, "triggers": ["handoff"], "channel": "pctp-mail"}
            ],
            "watch_s": 0.2,
            "send_s": 0.2,
        }
        services = [
            Service(Settings(**values, notify=notify | {"owner": f"api-{n}"}), workers=False)
            for n in range(2)
        ]
        apps = [create_app(s) for s in services]
        try:
            async with (
                apps[0].router.lifespan_context(apps[0]),
                apps[1].router.lifespan_context(apps[1]),
            ):
                transport = httpx.ASGITransport(app=apps[0])
                async with httpx.AsyncClient(transport=transport, base_url="http://soc") as c:
                    yield services, c, smtp
        finally:
            if url:
                await drop_opensearch_prefix(url, unique_name)


async def test_a_hand_off_through_the_api_is_mailed_once_with_two_services(
    two_services: tuple[list[Service], httpx.AsyncClient, Any],
) -> None:
    services, client, smtp = two_services
    await asyncio.sleep(0.5)  # both watches have set the cursor: the trail is read from here
    incident = await open_incident(services[0].cases)
    r = await client.post(
        f"/api/v1/incidents/{incident.id}/actions",
        json={"command": {"action": "triage"}, "version": incident.version},
        headers=auth("lead"),
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/incidents/{incident.id}/actions",
        json={"command": {"action": "hand_off", "to_unit": UNIT}, "version": r.json()["version"]},
        headers=auth("lead"),
    )
    assert r.status_code == 200, r.text
    for _ in range(100):
        if smtp.box.mails:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # several more rounds of both watches and senders
    [mail] = smtp.box.mails
    assert f"chuyển cho {UNIT}" in mail["Subject"]
    sent = [e.after async for e in services[0].audit.each() if e.action == "notification.sent"]
    assert len(sent) == 1 and sent[0] is not None and sent[0]["channel"] == "pctp-mail"
