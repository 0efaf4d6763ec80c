"""Ingest to alert over HTTP, on both pairs of backends.

The expected alerts are what the engine itself says of the same recorded
events, offline: the streaming path must raise exactly those, no more, no fewer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, utcnow
from soc.settings import Settings
from tests.e2e.harness import auth, running_service, sample_lines


def expected_alert_ids(settings: Settings, lines: list[bytes], tenant: str) -> set[str]:
    """What the service's own engine (same rules, same pipelines) raises offline."""
    engine = load_engine(settings.detect)
    events = parse_ndjson(
        b"\n".join(lines), tenant=tenant, source="http", received=utcnow(), max_line_bytes=1 << 20
    ).events
    return {Alert.make_id(rule_id=r.id, event_id=e.id) for e in events for r in engine.match(e)}


async def all_alerts(client: httpx.AsyncClient, who: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/alerts", params=query, headers=auth(who))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def wait_for_alerts(client: httpx.AsyncClient, n: int, within: float = 30) -> list[Any]:
    deadline = time.monotonic() + within
    while True:
        items = await all_alerts(client, "analyst")
        if len(items) >= n or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.25)


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_ingest_to_alert(settings: Settings) -> None:
    lines = sample_lines()
    expected = expected_alert_ids(settings, lines, "hue-ioc")
    assert expected, "the bundled sample must raise alerts with the project's rules"
    bad = [b'{"Channel": "Security", "EventID": 46', b"[1,2]", b"\xff\xfe\x00garbage"]
    body = b"\n".join(lines[:10] + bad + lines[10:])

    async with running_service(settings) as client:
        before = (await client.get("/metrics")).text
        started = time.monotonic()
        r = await client.post("/api/v1/ingest", content=body, headers=auth("ingest"))
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["accepted"] == len(lines)
        assert result["rejected"] == 3
        assert [(e["line"], e["reason"]) for e in result["errors"]] == [
            (11, "not_json"),
            (12, "not_object"),
            (13, "not_json"),
        ]

        items = await wait_for_alerts(client, len(expected))
        elapsed = time.monotonic() - started
        assert {a["id"] for a in items} == expected
        assert len(items) == len(expected), "no alert may appear twice"
        assert elapsed < 30
        times = [a["time"] for a in items]
        assert times == sorted(times, reverse=True), "newest first"

        one = items[0]
        r = await client.get(f"/api/v1/alerts/{one['id']}", headers=auth("analyst"))
        assert r.status_code == 200
        full = r.json()
        assert full["event"]["id"] == one["event_id"]
        assert full["severity"] in {"informational", "low", "medium", "high", "critical"}
        assert full["rule_id"] and full["rule_title"]

        # Filters narrow to exactly what they name.
        sev = one["severity"]
        by_sev = await all_alerts(client, "analyst", severity=sev)
        assert by_sev and all(a["severity"] == sev for a in by_sev)
        assert len(by_sev) == sum(a["severity"] == sev for a in items)
        by_rule = await all_alerts(client, "analyst", rule_id=one["rule_id"])
        assert {a["id"] for a in by_rule} == {
            a["id"] for a in items if a["rule_id"] == one["rule_id"]
        }
        assert await all_alerts(client, "analyst", status="closed") == []
        window = await all_alerts(client, "analyst", since=one["time"])
        assert {a["id"] for a in window} == {a["id"] for a in items if a["time"] >= one["time"]}

        # Another agency sees none of it, by list or by id.
        assert await all_alerts(client, "other") == []
        r = await client.get(f"/api/v1/alerts/{one['id']}", headers=auth("other"))
        assert r.status_code == 404
        r = await client.get("/api/v1/alerts", params={"tenant": "hue-ioc"}, headers=auth("other"))
        assert r.status_code == 403
        assert len(await all_alerts(client, "lead")) == len(expected)

        # The refused lines are counted and kept, with their reasons.
        after = (await client.get("/metrics")).text
        for reason, n in (("not_json", 2), ("not_object", 1)):
            grew = metric(
                after, "soc_events_rejected_total", stage="ingest", reason=reason
            ) - metric(before, "soc_events_rejected_total", stage="ingest", reason=reason)
            assert grew == n
        deadline = time.monotonic() + 15
        while True:
            r = await client.get("/api/v1/deadletters", headers=auth("analyst"))
            letters = r.json()
            if len(letters) >= 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        assert sorted(d["line"] for d in letters) == [11, 12, 13]
        assert {d["reason"] for d in letters} == {"not_json", "not_object"}
        r = await client.get("/api/v1/deadletters", headers=auth("other"))
        assert r.json() == []

        # Replaying the same body adds nothing.
        r = await client.post("/api/v1/ingest", content=body, headers=auth("ingest"))
        assert r.json()["accepted"] == len(lines)
        await asyncio.sleep(2)
        assert len(await all_alerts(client, "analyst")) == len(expected)

        r = await client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["bus"] == "ok"


async def test_routes_need_the_right_key(settings: Settings) -> None:
    async with running_service(settings) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/api/v1/alerts")).status_code == 401
        bad = {"Authorization": "Bearer not-a-key"}
        assert (await client.get("/api/v1/alerts", headers=bad)).status_code == 401
        assert (await client.post("/api/v1/ingest", content=b"{}", headers=bad)).status_code == 401
        r = await client.get("/api/v1/alerts", headers=auth("ingest"))
        assert r.status_code == 403
        r = await client.post("/api/v1/ingest", content=b'{"a":1}', headers=auth("analyst"))
        assert r.status_code == 403
        r = await client.get("/api/v1/alerts", params={"cursor": "bm9wZQ"}, headers=auth("analyst"))
        assert r.status_code == 400
