"""The event explorer's API on each store: search, one event, top values, hits over time.

Two tenants hold the same real recorded events (the bundled slice of the OTRF
LSASS campaign, parsed as the ingest route parses them); what each answer must
hold is worked out here from those events with the query language's own
reading of an event (:func:`soc.store.eventquery.event_pairs`), never from the
store under test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from soc.api.app import create_app
from soc.app import Service
from soc.ingest.ndjson import parse_ndjson
from soc.models import Event, utcnow
from soc.settings import Settings
from soc.store.eventquery import event_pairs
from tests.api._backends import BACKENDS, backend_values
from tests.e2e.harness import auth, sample_lines

A, B = "hue-ioc", "hue-dof"
LINES = 800


def recorded(tenant: str) -> list[Event]:
    parsed = parse_ndjson(
        b"\n".join(sample_lines()[:LINES]),
        tenant=tenant,
        source="test",
        received=utcnow(),
        max_line_bytes=1 << 20,
    )
    return list({e.id: e for e in parsed.events}.values())  # a repeated record is one event


def has(event: Event, name: str, value: str) -> bool:
    return (name.lower(), value.lower()) in event_pairs(event)


def newest_first(events: list[Event]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.time, e.id), reverse=True)]


class Explorer:
    def __init__(self, client: httpx.AsyncClient, events: list[Event]) -> None:
        self.client = client
        self.events = events
        """Tenant A's events, as stored."""

    async def get(self, path: str, who: str = "analyst", **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", params=params, headers=auth(who))

    async def all_ids(self, **params: Any) -> list[str]:
        """Every page of GET /events, in order."""
        ids: list[str] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            r = await self.get("/events", **query)
            assert r.status_code == 200, r.text
            page = r.json()
            ids += [e["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids


@pytest.fixture(params=BACKENDS)
async def explorer(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Explorer]:
    async with backend_values(request, tmp_path, unique_name) as values:
        service = Service(Settings(**values), workers=False)
        app = create_app(service)
        async with app.router.lifespan_context(app):
            mine = recorded(A)
            await service.store.put_events(mine)
            await service.store.put_events(recorded(B))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
                yield Explorer(client, mine)


async def test_a_query_finds_its_events_newest_first_page_by_page(explorer: Explorer) -> None:
    expected = newest_first([e for e in explorer.events if has(e, "EventID", "10")])
    assert 10 < len(expected) < len(explorer.events)
    assert await explorer.all_ids(q="EventID:10", limit=7) == expected
    first = (await explorer.get("/events", q="eventid:10", limit=3)).json()
    assert [e["id"] for e in first["items"]] == expected[:3]
    assert {"fields", "raw", "host", "time", "tenant"} <= set(first["items"][0])
    assert first["items"][0]["tenant"] == A


async def test_without_a_query_every_event_of_the_range(explorer: Explorer) -> None:
    times = sorted(e.time for e in explorer.events)
    since, until = times[len(times) // 4], times[3 * len(times) // 4]
    expected = newest_first([e for e in explorer.events if since <= e.time < until])
    got = await explorer.all_ids(since=since.isoformat(), until=until.isoformat(), limit=500)
    assert got == expected and expected
    assert len(await explorer.all_ids(limit=500)) == len(explorer.events)


async def test_a_malformed_query_names_its_column(explorer: Explorer) -> None:
    for q, column in (("EventID:(10 OR", 15), ("CommandLine:mimikatz~2", 13)):
        r = await explorer.get("/events", q=q)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["code"] == "invalid_request" and body["column"] == column, body
        assert body["reason"] and f"column {column}" in body["detail"]
        for path in ("/events/histogram", "/events/stats"):
            r = await explorer.get(path, q=q, field="EventID")
            assert r.status_code == 400 and r.json()["column"] == column, path


async def test_one_event_and_another_tenants_is_not_found(explorer: Explorer) -> None:
    event = explorer.events[5]
    r = await explorer.get(f"/events/{event.id}")
    assert r.status_code == 200 and r.json()["raw"] == event.raw
    theirs = recorded(B)[5]
    r = await explorer.get(f"/events/{theirs.id}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await explorer.get(f"/events/{theirs.id}", who="other")).status_code == 200


async def test_stats_are_the_commonest_values(explorer: Explorer) -> None:
    sysmon = [
        e for e in explorer.events if has(e, "Channel", "Microsoft-Windows-Sysmon/Operational")
    ]
    counts = Counter(str(e.fields["EventID"]) for e in sysmon)
    r = await explorer.get(
        "/events/stats", field="eventid", q='Channel:"sysmon/operational"', size=3
    )
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["events"] == len(sysmon)
    assert [(v["value"], v["count"]) for v in stats["values"]] == counts.most_common(3)
    assert stats["other"] == len(sysmon) - sum(n for _, n in counts.most_common(3))


async def test_the_histogram_has_round_buckets_and_every_hit(explorer: Explorer) -> None:
    times = sorted(e.time for e in explorer.events)
    since = times[0].replace(microsecond=0)
    until = times[-1] + timedelta(seconds=1)
    r = await explorer.get(
        "/events/histogram",
        since=since.isoformat(),
        until=until.isoformat(),
        buckets=30,
        q="EventID:10",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    width = body["bucket_s"]
    assert width in (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600)
    starts = [datetime.fromisoformat(b["start"]) for b in body["buckets"]]
    assert len(starts) <= 31
    assert all(s.timestamp() % width == 0 for s in starts)
    assert all(b - a == timedelta(seconds=width) for a, b in pairwise(starts))
    assert starts[0] <= since < starts[0] + timedelta(seconds=width) and starts[-1] < until
    hits = [e for e in explorer.events if has(e, "EventID", "10")]
    expected = Counter(
        datetime.fromtimestamp(e.time.timestamp() // width * width, UTC) for e in hits
    )
    assert {s: b["count"] for s, b in zip(starts, body["buckets"], strict=True) if b["count"]} == (
        dict(expected)
    )
    assert body["total"] == len(hits) and any(b["count"] == 0 for b in body["buckets"])


async def test_a_histogram_from_before_the_epoch_is_refused_not_a_server_error(
    explorer: Explorer,
) -> None:
    # Found by the schema fuzzer: since=0057-01-01 aligned its buckets before year 1.
    r = await explorer.get("/events/histogram", since="0057-01-01T00:00:00Z", buckets=500)
    assert r.status_code == 400, r.text
    assert "1970-01-01" in r.json()["detail"]
