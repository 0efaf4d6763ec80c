"""A connector whose heartbeats stop, through the real path, on both pairs of backends.

Two connectors of hue-ioc post heartbeats (POST /api/v1/heartbeat, every 0.2 s, an
interval of 0.3 s) and no events at all: their sources are quiet by nature. gw-01 stops;
gw-02 beats on. Once none of gw-01's streams has been heard of for five intervals, one
connector silence alert is raised (high: its `sources.expected` entry), told once on the
tenant's webhook (trigger `connector_silent`), escalated to an incident after
`sources.incident_after_s`; gw-01's heartbeat again resolves it with the silence's
length, also noted on the incident. gw-02 raises nothing, and no source silence is
raised (no events were ever expected).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import httpx

from soc.settings import ExpectedInterval, Settings
from soc.stages.beat_silence import CONNECTOR_SILENCE_RULE_ID
from soc.stages.silence import SILENCE_RULE_ID
from tests.e2e.harness import auth, running_service
from tests.e2e.test_pipeline import all_alerts
from tests.notify._servers import Receiver, webhook_receiver

INTERVAL_S = 0.3


async def beat(client: httpx.AsyncClient, connector: str, host: str) -> None:
    r = await client.post(
        "/api/v1/heartbeat",
        json={
            "connector": connector,
            "version": "1.0.0",
            "host": host,
            "interval_s": INTERVAL_S,
            "streams": [
                {"source": "winlog", "stream": "Security", "seq": 10},
                {"source": "winlog", "stream": "System", "seq": 3},
            ],
        },
        headers=auth("ingest"),
    )
    assert r.status_code == 204, r.text


async def beat_on(client: httpx.AsyncClient, connector: str, host: str) -> None:
    while True:
        await beat(client, connector, host)
        await asyncio.sleep(0.2)


async def alerts_of(client: httpx.AsyncClient, rule_id: str) -> list[dict[str, Any]]:
    return [a for a in await all_alerts(client, "analyst") if a["rule_id"] == rule_id]


async def connector_alert(client: httpx.AsyncClient, check: Any, within: float = 60) -> Any:
    """The one connector silence alert, once ``check`` holds of it."""
    deadline = time.monotonic() + within
    while True:
        found = await alerts_of(client, CONNECTOR_SILENCE_RULE_ID)
        assert len(found) <= 1, found
        if found:
            r = await client.get(f"/api/v1/alerts/{found[0]['id']}", headers=auth("analyst"))
            if check(r.json()):
                return r.json()
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.2)


async def test_a_connector_whose_heartbeats_stop_is_raised_escalated_and_resolved(
    settings: Settings,
) -> None:
    sources = settings.sources.model_copy(
        update={
            "expected": [
                ExpectedInterval(connector="gw-0[2-9]", severity="low"),
                ExpectedInterval(connector="gw-01", source="winlog", severity="high"),
            ],
            "incident_after_s": 2.0,
            "watch_s": 0.3,
            "snapshot_s": 0.3,
        }
    )
    async with webhook_receiver("beat-hook-key") as hook:
        notify = settings.notify.model_validate(
            {
                "channels": {
                    "soc-hook": {
                        "type": "webhook",
                        "url": f"{hook.url}/hook",
                        "secret": "beat-hook-key",
                    }
                },
                "routes": [
                    {"tenant": "hue-ioc", "triggers": ["connector_silent"], "channel": "soc-hook"}
                ],
                "send_s": 0.2,
            }
        )
        await _stop_and_resume(
            settings.model_copy(update={"sources": sources, "notify": notify}), hook
        )


async def _stop_and_resume(settings: Settings, hook: Receiver) -> None:
    async with running_service(settings) as client:
        other = asyncio.create_task(beat_on(client, "gw-02", "gw-02.hue"))
        try:
            for _ in range(5):
                await beat(client, "gw-01", "gw-01.hue")
                await asyncio.sleep(0.2)
            stopped = time.monotonic()

            # Silent after 5 intervals (1.5 s): the alert, not yet an incident.
            alert = await connector_alert(client, lambda a: True)
            assert time.monotonic() - stopped >= 5 * INTERVAL_S - 0.3
            assert (alert["tenant"], alert["severity"], alert["host"]) == (
                "hue-ioc",
                "high",
                "gw-01.hue",
            )
            assert alert["status"] == "open" and alert["note"] is None
            assert alert["rule_title"].startswith(
                "Connector silent: gw-01 (host gw-01.hue): no heartbeat since "
            ), alert["rule_title"]

            # After incident_after_s more: its incident in the tenant.
            alert = await connector_alert(client, lambda a: a["incident_id"] is not None)
            r = await client.get(
                f"/api/v1/incidents/{alert['incident_id']}", headers=auth("analyst")
            )
            assert r.status_code == 200, r.text
            incident = r.json()["incident"]
            assert incident["tenant"] == "hue-ioc" and incident["severity"] == "high"

            # Told once, however many passes of the watch.
            deadline = time.monotonic() + 30
            while not hook.accepted:
                assert time.monotonic() < deadline, "no connector_silent notice"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
            (told,) = hook.accepted
            assert told["trigger"] == "connector_silent" and hook.refused == 0
            assert "gw-01" in told["text"] and "gw-01.hue" in told["text"], told["text"]
            await connector_alert(client, lambda a: True)  # still one alert

            # A heartbeat again: the alert is closed with the silence's length.
            await beat(client, "gw-01", "gw-01.hue")
            alert = await connector_alert(client, lambda a: a["status"] == "closed")
            assert re.fullmatch(r"Heartbeats resumed: silent for \d+ s", alert["note"]), alert
            assert 3 <= int(alert["note"].split()[-2]) < 60
            r = await client.get(
                f"/api/v1/incidents/{alert['incident_id']}", headers=auth("analyst")
            )
            notes = [c["text"] for c in r.json()["comments"]]
            assert any(n.endswith(alert["note"]) for n in notes), notes

            # gw-02 beat on: nothing raised for it; no events, so no source silence.
            assert [a["host"] for a in await alerts_of(client, CONNECTOR_SILENCE_RULE_ID)] == [
                "gw-01.hue"
            ]
            assert await alerts_of(client, SILENCE_RULE_ID) == []
        finally:
            other.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await other
