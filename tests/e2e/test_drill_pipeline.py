"""A drill replayed through the real path beside live traffic, on both pairs of backends.

The bundled OTRF LSASS slice is ingested over HTTP twice, re-timed to now as a drill
replay is: once with ``origin.drill`` set, once live (the same connector stamp without a
drill). Every alert of the drill carries it; the live alerts of the same rule and host,
at the same times, open live incidents of their own; the drill's incidents carry the
drill; the overview leaves the drill out unless asked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx

from soc.ingest.retime import retimed
from soc.models import utcnow
from soc.settings import Settings
from tests.e2e.harness import auth, running_service, sample_lines
from tests.e2e.test_pipeline import all_alerts, expected_alert_ids

DRILL = "d1"


def replay_body(records: list[dict[str, Any]], times: list[str], drill: str | None) -> bytes:
    """The records as the replay connector sends them: re-timed, one numbered stream."""
    lines = []
    for seq, (record, at) in enumerate(zip(records, times, strict=True)):
        origin: dict[str, Any] = {
            "connector": "replay",
            "source": "otrf-lsass",
            "stream": "otrf_lsass_slice",
            "seq": seq,
        }
        if drill is not None:
            origin["drill"] = drill
        lines.append(json.dumps({"record": record, "time": at, "origin": origin}))
    return "\n".join(lines).encode()


async def all_incidents(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        # drills= (leave drills out, only drills) is a lead's filter; a drill= an analyst's too
        who = "lead" if "drills" in params else "analyst"
        r = await client.get("/api/v1/incidents", params=query, headers=auth(who))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def settled(client: httpx.AsyncClient, alerts: int, within: float = 60) -> None:
    """Until ``alerts`` alerts are stored and every one of them is in an incident."""
    deadline = time.monotonic() + within
    while True:
        items = await all_alerts(client, "analyst")
        grouped = sum(i["alert_count"] for i in await all_incidents(client))
        if (len(items) >= alerts and grouped >= alerts) or time.monotonic() > deadline:
            assert len(items) == alerts and grouped == alerts, (len(items), grouped)
            return
        await asyncio.sleep(0.25)


async def test_a_drill_beside_live_traffic_stays_apart(settings: Settings) -> None:
    lines = sample_lines()
    records = [json.loads(line) for line in lines]
    times = [t.isoformat() for _, t in retimed(records, end=utcnow())]
    drill_body = replay_body(records, times, DRILL)
    live_body = replay_body(records, times, None)
    n = len(expected_alert_ids(settings, lines, "hue-ioc"))
    assert n > 0

    async with running_service(settings) as client:
        r = await client.post("/api/v1/ingest", content=drill_body, headers=auth("ingest"))
        assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text
        await settled(client, n)
        r = await client.post("/api/v1/ingest", content=live_body, headers=auth("ingest"))
        assert r.status_code == 200 and r.json()["accepted"] == len(records), r.text
        await settled(client, 2 * n)

        # Alerts: the drill's carry it, the live ones none; the filters take either side
        # (leaving drills out, or taking only drills, is a lead's: soc.drills.marks).
        drilled = await all_alerts(client, "analyst", drill=DRILL)
        live = await all_alerts(client, "lead", drills="exclude")
        assert len(drilled) == len(live) == n
        assert {a["drill"] for a in drilled} == {DRILL} and {a["drill"] for a in live} == {None}
        assert {a["id"] for a in await all_alerts(client, "lead", drills="only")} == {
            a["id"] for a in drilled
        }
        refused = await client.get(
            "/api/v1/alerts", params={"drills": "only"}, headers=auth("analyst")
        )
        assert refused.status_code == 403
        assert await all_alerts(client, "analyst", drill="another-drill") == []
        shape = Counter((a["rule_id"], a["host"], a["time"]) for a in live)
        assert shape == Counter((a["rule_id"], a["host"], a["time"]) for a in drilled)

        # Incidents: the live alerts of the same rule and host, within the drill's window,
        # opened live incidents of their own.
        drill_incidents = await all_incidents(client, drill=DRILL)
        live_incidents = await all_incidents(client, drills="exclude")
        assert {i["drill"] for i in drill_incidents} == {DRILL}
        assert {i["drill"] for i in live_incidents} == {None}
        assert sum(i["alert_count"] for i in drill_incidents) == n
        assert sum(i["alert_count"] for i in live_incidents) == n
        keys = sorted(json.dumps(i["group_values"], sort_keys=True) for i in live_incidents)
        assert keys == sorted(
            json.dumps(i["group_values"], sort_keys=True) for i in drill_incidents
        )
        assert not {i["id"] for i in drill_incidents} & {i["id"] for i in live_incidents}
        live_ids = {a["id"] for a in live}
        for incident in live_incidents:
            assert {a["id"] for a in incident["alerts"]} <= live_ids
        assert {i["id"] for i in await all_incidents(client, drills="only")} == {
            i["id"] for i in drill_incidents
        }

        # Work on a drill's incident is the drill's: its comments and audit entries say so.
        worked = drill_incidents[0]
        path = f"/api/v1/incidents/{worked['id']}"
        version = worked["version"]
        for command in (
            {"action": "triage"},
            {"action": "start_response"},
            {"action": "resolve", "summary": "Drill: host isolated"},
        ):
            r = await client.post(
                f"{path}/actions",
                json={"command": command, "version": version},
                headers=auth("analyst"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["drill"] == DRILL
            version = r.json()["version"]
        r = await client.post(
            f"{path}/comments", json={"text": "Diễn tập"}, headers=auth("analyst")
        )
        assert r.status_code == 201 and r.json()["drill"] == DRILL, r.text
        trail = await client.get("/api/v1/audit", params={"limit": 1000}, headers=auth("lead"))
        entries = [e for e in trail.json() if e["target"] == f"incident:{worked['id']}"]
        assert [e["action"] for e in entries] == [
            "incident.open",
            "incident.triage",
            "incident.start_response",
            "incident.resolve",
            "incident.comment",
        ]
        assert all(e["after"]["drill"] == e["before"]["drill"] == DRILL for e in entries)

        # The overview counts live work only, unless asked for the drills too.
        r = await client.get("/api/v1/overview", headers=auth("analyst"))
        assert r.status_code == 200, r.text
        default = r.json()
        r = await client.get("/api/v1/overview", params={"drills": "include"}, headers=auth("lead"))
        everything = r.json()
        assert default["open_by_tenant"] == {"hue-ioc": len(live_incidents)}
        assert default["incidents_considered"] == len(live_incidents)
        assert sum(default["open_by_severity"].values()) == len(live_incidents)
        assert everything["open_by_tenant"] == {"hue-ioc": 2 * len(live_incidents)}
        assert default["mean_time_to_acknowledge_s"] is None
        assert default["mean_time_to_resolve_s"] is None
        assert everything["mean_time_to_acknowledge_s"] is not None
        assert everything["mean_time_to_resolve_s"] is not None
        assert everything["incidents_considered"] == 2 * len(live_incidents)
        assert sum(h["alerts"] for h in default["alerts_per_hour"]) == n
        assert sum(h["alerts"] for h in everything["alerts_per_hour"]) == 2 * n
        r = await client.get("/api/v1/overview", params={"drills": "only"}, headers=auth("lead"))
        assert r.status_code == 422
