"""Every event posted to ingest is kept and found by GET /api/v1/events, on both pairs.

The recorded OTRF slice is posted over HTTP with three broken lines; the ids
the service must keep are those ingest itself gives the same lines (parsed
offline). Every page of the event search is read back and reconciled against
them: none missing, none twice, none from elsewhere. Then a query through the
API, a malformed one (a 400 naming its column), and another tenant's view.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

from soc.ingest.ndjson import parse_ndjson
from soc.models import utcnow
from soc.settings import Settings
from tests.e2e.harness import auth, running_service, sample_lines


async def every_event(client: httpx.AsyncClient, who: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/events", params=query, headers=auth(who))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_every_posted_event_is_found_by_the_event_search(settings: Settings) -> None:
    lines = sample_lines()
    posted = parse_ndjson(
        b"\n".join(lines),
        tenant="hue-ioc",
        source="http",
        received=utcnow(),
        max_line_bytes=1 << 20,
    ).events
    expected = {e.id for e in posted}
    # 210 of the recording's 2,430 lines repeat an earlier line exactly: the same event.
    assert len(lines) == 2430 and len(expected) == 2220
    bad = [b'{"Channel": "Security", "EventID": 46', b"[1,2]"]
    body = b"\n".join(lines[:100] + bad + lines[100:])

    async with running_service(settings) as client:
        r = await client.post("/api/v1/ingest", content=body, headers=auth("ingest"))
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(lines)

        deadline = time.monotonic() + 60
        while True:
            found = await every_event(client, "analyst")
            if len(found) >= len(expected) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        ids = [e["id"] for e in found]
        assert set(ids) == expected, f"missing {len(expected - set(ids))}"
        assert len(ids) == len(set(ids)), "no event may appear twice"
        keys = [(datetime.fromisoformat(e["time"]), e["id"]) for e in found]
        assert keys == sorted(keys, reverse=True), "newest first"

        process_creations = await every_event(client, "analyst", q="EventID:4688")
        assert len(process_creations) == 27
        assert all(e["fields"]["EventID"] == 4688 for e in process_creations)

        r = await client.get(
            "/api/v1/events", params={"q": "EventID:4688)"}, headers=auth("analyst")
        )
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["column"] == 13

        one = found[0]["id"]
        r = await client.get(f"/api/v1/events/{one}", headers=auth("analyst"))
        assert r.status_code == 200 and r.json()["id"] == one
        assert (await client.get(f"/api/v1/events/{one}", headers=auth("other"))).status_code == 404
        assert await every_event(client, "other") == []
        assert len(await every_event(client, "lead")) == len(expected)
