"""Silent sources through the real path, on both pairs of backends.

Recorded auth.log lines are posted as a connector numbers them (one stream of dc-01
configured to send at least every 2 s, high severity), beside a bad line (a dead letter
and parse error of that source) and a drill's events (never counted). GET
/api/v1/sources shows the stream's counts; the stream then goes quiet: late, silent, a
silence alert (not yet an incident), then its incident in the tenant; events resume and
the alert is resolved with the silence's length, also noted on the incident.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY

from soc.settings import ExpectedInterval, Settings
from soc.stages.silence import SILENCE_RULE_ID
from tests.e2e.harness import auth, running_service
from tests.e2e.test_pipeline import all_alerts

STREAM = {"connector": "dc-01", "source": "linux-auth", "stream": "/var/log/auth.log"}


def body(lines: list[str], seqs: range, drill: str | None = None) -> bytes:
    out = []
    for seq in seqs:
        origin: dict[str, Any] = {**STREAM, "seq": seq}
        if drill is not None:
            origin["drill"] = drill
        out.append(json.dumps({"record": {"message": lines[seq]}, "origin": origin}))
    return "\n".join(out).encode()


async def post(client: httpx.AsyncClient, data: bytes, accepted: int) -> None:
    r = await client.post(
        "/api/v1/ingest", params={"source": "linux-auth"}, content=data, headers=auth("ingest")
    )
    assert r.status_code == 200 and r.json()["accepted"] == accepted, r.text


async def source_until(client: httpx.AsyncClient, check: Any, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        r = await client.get("/api/v1/sources", headers=auth("analyst"))
        assert r.status_code == 200, r.text
        mine = [s for s in r.json() if s["stream"] == STREAM["stream"]]
        if mine and check(mine[0]):
            assert len(mine) == 1, mine  # the drill's events made no source of their own
            return mine[0]
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.2)


async def silence_alert(client: httpx.AsyncClient, check: Any, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = [a for a in await all_alerts(client, "analyst") if a["rule_id"] == SILENCE_RULE_ID]
        if found and check(found[0]):
            assert len(found) == 1, found
            r = await client.get(f"/api/v1/alerts/{found[0]['id']}", headers=auth("analyst"))
            return r.json()
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.3)


async def test_a_source_goes_silent_raises_an_alert_then_an_incident_and_resolves(
    settings: Settings, shared_dir: Path
) -> None:
    lines = (shared_dir / "datasets/linux/auth.log").read_text().splitlines()[:60]
    sources = settings.sources.model_copy(
        update={
            "expected": [
                ExpectedInterval(connector="dc-0[2-9]", interval_s=1, severity="low"),
                ExpectedInterval(connector="dc-01", interval_s=2, severity="high"),
            ],
            "silent_factor": 2.0,
            "incident_after_s": 3.0,
            "watch_s": 0.3,
            "snapshot_s": 0.3,
            "reconcile_s": 0.5,
            "breaks_min_s": 1.0,
        }
    )
    settings = settings.model_copy(update={"sources": sources})

    async with running_service(settings) as client:
        for part in (range(0, 10), range(10, 20), range(20, 30)):
            await post(client, body(lines, part), 10)
            await asyncio.sleep(0.5)
        await post(client, body(lines, range(10), drill="d1"), 10)
        await post(client, b"not json at all\n" + body(lines, range(30, 31)), 1)

        s = await source_until(client, lambda s: s["events_24h"] == 31)
        assert (s["tenant"], s["connector"], s["source"]) == ("hue-ioc", "dc-01", "linux-auth")
        assert len(s["hourly"]) == 24 and sum(s["hourly"]) == 31 and s["hourly"][-1] > 0
        assert s["events_1h"] == 31 and s["bytes_24h"] > 31 * 50
        assert (s["expected_interval_s"], s["expected_interval_from"]) == (2.0, "configured")
        assert s["last_event"] is not None and s["heartbeat_state"] is None
        s = await source_until(client, lambda s: s["dead_letters_24h"] == 1)
        assert s["parse_errors_24h"] == 1

        # Quiet: late after 2 s, silent after 4 s, the alert; its incident 3 s later.
        await source_until(client, lambda s: s["state"] == "late")
        s = await source_until(client, lambda s: s["state"] == "silent")
        deadline = time.monotonic() + 30
        while not REGISTRY.get_sample_value("soc_sources", {"state": "silent"}):
            assert time.monotonic() < deadline, "soc_sources{state=silent} never set"
            await asyncio.sleep(0.2)
        alert = await silence_alert(client, lambda a: True)
        assert (alert["severity"], alert["tenant"], alert["status"]) == ("high", "hue-ioc", "open")
        assert alert["incident_id"] is None and alert["note"] is None
        assert "dc-01/linux-auth//var/log/auth.log" in alert["rule_title"]
        alert = await silence_alert(client, lambda a: a["incident_id"] is not None)
        r = await client.get(f"/api/v1/incidents/{alert['incident_id']}", headers=auth("analyst"))
        assert r.status_code == 200 and r.json()["incident"]["tenant"] == "hue-ioc", r.text
        await asyncio.sleep(1)  # more passes of the watch: nothing raised again
        await silence_alert(client, lambda a: True)

        # Events resume: the alert is closed with the silence's length.
        await post(client, body(lines, range(31, 41)), 10)
        alert = await silence_alert(client, lambda a: a["status"] == "closed")
        assert re.fullmatch(r"Events resumed: silent for \d+ s", alert["note"]), alert["note"]
        assert 7 <= int(alert["note"].split()[-2]) < 50
        s = await source_until(client, lambda s: s["events_24h"] == 41)
        assert s["state"] in ("healthy", "late"), s  # late again 2 s after the last event
        r = await client.get(f"/api/v1/incidents/{alert['incident_id']}", headers=auth("analyst"))
        notes = [c["text"] for c in r.json()["comments"]]
        assert any(alert["note"] in n for n in notes), notes

    # Started again on the same store: the counts are still there, nothing raised again.
    async with running_service(settings) as client:
        s = await source_until(client, lambda s: True, within=5)
        assert s["events_24h"] == 41 and s["dead_letters_24h"] == 1
        alert = await silence_alert(client, lambda a: True)
        assert alert["status"] == "closed"
