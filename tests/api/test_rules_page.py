"""What the rules page and its ATT&CK coverage view read: per-tenant counts and enablement,
the share of alerts judged false positives, and the matrix of tactics and techniques.

The service runs with its workers on each store (memory bus) and is fed the bundled
slice of the recorded OTRF LSASS campaign, replayed as a drill ten days ago (each record
untouched, the envelope's time set as `soc-connector replay` does), so its alerts are
inside the last 30 days and outside the last 7.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from soc.api.app import create_app
from soc.app import Service
from soc.detect.coverage import TACTICS
from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import utcnow
from soc.settings import Settings
from soc.stages.ingest import ingest_ndjson
from tests.api._backends import BACKENDS, backend_values
from tests.bundled_rules import BUNDLED_IDS
from tests.e2e.harness import auth, sample_lines

A, B = "hue-ioc", "hue-dof"
LSASS = "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76"
"""Potentially Suspicious AccessMask Requested From LSASS (T1003.001): fires once."""
HIVES = "fd877b94-9bb5-4191-bb25-d79cbd93c167"
DPAPI = "39a94fd1-8c9a-4ff6-bf22-c058762f8014"
T1003 = {LSASS, HIVES, DPAPI}
"""The bundled rules tagged credential-access and a sub-technique of T1003."""


def drill(lines: list[bytes], at: datetime) -> bytes:
    return b"\n".join(
        orjson.dumps(
            {
                "record": orjson.loads(line),
                "time": at.isoformat(),
                "origin": {
                    "connector": "test",
                    "source": "otrf",
                    "stream": "otrf",
                    "seq": i,
                    "drill": "d1",
                },
            }
        )
        for i, line in enumerate(lines)
    )


@pytest.fixture(params=BACKENDS)
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[tuple[Service, httpx.AsyncClient, dict[str, int]]]:
    async with backend_values(request, tmp_path, unique_name) as values:
        settings = Settings(**values, incidents={"check_interval_s": 3600})
        lines = drill(sample_lines(), utcnow() - timedelta(days=10))
        events = parse_ndjson(
            lines, tenant=A, source="test", received=utcnow(), max_line_bytes=1 << 20
        ).events
        engine = load_engine(settings.detect)
        expected: dict[str, int] = {}
        for event in events:
            for rule in engine.match(event):
                expected[rule.id] = expected.get(rule.id, 0) + 1
        service = Service(settings, workers=True)
        app = create_app(service)
        async with app.router.lifespan_context(app):
            await ingest_ndjson(
                lines, tenant=A, source="test", bus=service.bus, settings=settings.ingest
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
                await _grouped(client, sum(expected.values()))
                yield service, client, expected


async def _grouped(client: httpx.AsyncClient, n: int) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        r = await client.get("/api/v1/alerts", params={"limit": 500}, headers=auth("analyst"))
        items = r.json()["items"] if r.status_code == 200 else []
        if len(items) == n and all(a["incident_id"] or a["suppressed_by"] for a in items):
            return
        assert asyncio.get_running_loop().time() < deadline, "alerts were not grouped in time"
        await asyncio.sleep(0.3)


async def rules(client: httpx.AsyncClient, who: str, **params: Any) -> dict[str, dict[str, Any]]:
    r = await client.get("/api/v1/rules", params={"limit": 500, **params}, headers=auth(who))
    assert r.status_code == 200, r.text
    return {i["id"]: i for i in r.json()["items"]}


async def test_counts_false_positives_and_enablement_per_tenant(
    running: tuple[Service, httpx.AsyncClient, dict[str, int]],
) -> None:
    _, client, expected = running
    assert expected[LSASS] == 1 and len(expected) == 11
    listed = await rules(client, "analyst", tenant=A)
    assert set(listed) == BUNDLED_IDS
    counted = {k: v["counts"]["alerts_30d"] for k, v in listed.items() if v["counts"]["alerts_30d"]}
    assert counted == expected
    lsass = listed[LSASS]["counts"]
    assert (lsass["alerts_7d"], lsass["false_positives_30d"], lsass["false_positive_share"]) == (
        0,
        0,
        0.0,
    )
    assert lsass["last_fired"] is not None
    r = await client.get("/api/v1/rules", params={"tenant": B}, headers=auth("analyst"))
    assert r.status_code == 403, "another tenant's counts"
    other = await rules(client, "other", tenant=B)
    assert {v["counts"]["alerts_30d"] for v in other.values()} == {0}

    # The incident holding the LSASS alert is closed as a false positive: every alert of
    # it is judged so, and the share is read from the incidents.
    alert = (
        await client.get(
            "/api/v1/alerts", params={"rule_id": LSASS, "limit": 5}, headers=auth("analyst")
        )
    ).json()["items"][0]
    incident = (
        await client.get(f"/api/v1/incidents/{alert['incident_id']}", headers=auth("lead"))
    ).json()["incident"]
    r = await client.post(
        f"/api/v1/incidents/{incident['id']}/actions",
        json={
            "command": {"action": "close_false_positive", "reason": "drill"},
            "version": incident["version"],
        },
        headers=auth("lead"),
    )
    assert r.status_code == 200, r.text
    judged: dict[str, int] = {}
    for ref in r.json()["alerts"]:
        assert ref["verdict"] == "false_positive"
        judged[ref["rule_id"]] = judged.get(ref["rule_id"], 0) + 1
    listed = await rules(client, "analyst", tenant=A)
    for rule_id, n in expected.items():
        counts = listed[rule_id]["counts"]
        assert counts["false_positives_30d"] == judged.get(rule_id, 0), rule_id
        assert counts["false_positive_share"] == judged.get(rule_id, 0) / n
    detail = (
        await client.get(f"/api/v1/rules/{LSASS}", params={"tenant": A}, headers=auth("analyst"))
    ).json()
    assert detail["counts"]["false_positive_share"] == 1.0

    # Off for A only: the enabled filter answers per tenant.
    r = await client.post(
        f"/api/v1/rules/{LSASS}/disable", json={"tenants": [A]}, headers=auth("lead_ioc")
    )
    assert r.status_code == 200, r.text
    assert set(await rules(client, "analyst", tenant=A, enabled="false")) == {LSASS}
    on = await rules(client, "analyst", tenant=A, enabled="true")
    assert set(on) == BUNDLED_IDS - {LSASS}
    assert await rules(client, "lead", enabled="false") == {}, "still on for other tenants"
    assert LSASS in await rules(client, "other", enabled="true")
    first = await client.get(
        "/api/v1/rules",
        params={"tenant": A, "enabled": "true", "limit": 7},
        headers=auth("analyst"),
    )
    pages = [i["id"] for i in first.json()["items"]]
    cursor = first.json()["next_cursor"]
    while cursor:
        page = await client.get(
            "/api/v1/rules",
            params={"tenant": A, "enabled": "true", "limit": 7, "cursor": cursor},
            headers=auth("analyst"),
        )
        pages += [i["id"] for i in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert sorted(pages) == sorted(on), "pages of the enabled filter neither skip nor repeat"


async def test_coverage_draws_tactics_and_techniques_with_rules_and_alerts(
    running: tuple[Service, httpx.AsyncClient, dict[str, int]],
) -> None:
    _, client, _ = running

    async def coverage(who: str = "analyst", **params: Any) -> dict[str, Any]:
        r = await client.get("/api/v1/rules/coverage", params=params, headers=auth(who))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def cell(body: dict[str, Any], tactic: str, technique: str) -> dict[str, Any]:
        column = next(c for c in body["tactics"] if c["tactic"] == tactic)
        found: dict[str, Any] = next(c for c in column["cells"] if c["technique"] == technique)
        return found

    month = await coverage(tenant=A, days=30)
    assert [c["tactic"] for c in month["tactics"]] == list(TACTICS), "no technique lacks a tactic"
    t1003 = cell(month, "credential-access", "T1003")
    assert set(t1003["rules"]) == T1003
    assert t1003["subtechniques"] == ["T1003.001", "T1003.002", "T1003.004", "T1003.005"]
    assert (t1003["enabled_rules"], t1003["alerts"]) == (3, 3)
    assert cell(month, "initial-access", "T1190")["alerts"] == 0
    both = cell(month, "privilege-escalation", "T1134")
    assert both == {**cell(month, "stealth", "T1134"), "technique": "T1134"}, (
        "one rule, two tactics"
    )
    week = await coverage(tenant=A, days=7)
    assert cell(week, "credential-access", "T1003")["alerts"] == 0, "the drill is 10 days old"
    other = await coverage("other", tenant=B)
    assert cell(other, "credential-access", "T1003")["alerts"] == 0, "tenant B saw nothing"
    r = await client.get("/api/v1/rules/coverage", params={"tenant": B}, headers=auth("analyst"))
    assert r.status_code == 403

    r = await client.post(
        f"/api/v1/rules/{LSASS}/disable", json={"tenants": [A]}, headers=auth("lead_ioc")
    )
    assert r.status_code == 200
    assert cell(await coverage(tenant=A), "credential-access", "T1003")["enabled_rules"] == 2
    assert (
        cell(await coverage("other", tenant=B), "credential-access", "T1003")["enabled_rules"] == 3
    )
    titles = {r["id"]: r for r in (await coverage(tenant=A))["rules"]}
    assert titles[LSASS]["enabled"] is False and titles[LSASS]["alerts"] == 1
