"""The role matrix on the alert, event and dead-letter routes, and the ingest key's rate limit.

Viewers, analysts and leads read alerts, stored events and dead letters; a responder works
incidents only and an admin sees no data (soc/security/roles.py), so both get
403 whatever their tenants. Ingest keys only ingest; people never do.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from soc.models import Alert, DeadLetter, Event, LogSource, Severity
from tests.api._access import A, Api, key_header, running_api, settings_for

T = datetime(2023, 8, 15, 10, 5, tzinfo=UTC)
SYSMON = LogSource(product="windows", category="process_access")
RECORD = {
    "EventID": 10,
    "Hostname": "MKT01",
    "SourceImage": "C:\\Windows\\System32\\rundll32.exe",
    "TargetImage": "C:\\Windows\\system32\\lsass.exe",
    "GrantedAccess": "0x1FFFFF",
}
READERS = ("viewer.an", "analyst.hoa", "lead.minh")
NOT_READERS = ("pctp.tuan", "admin.root", "admin.ioc")


async def seed(api: Api) -> Alert:
    event = Event(
        id=Event.make_id(tenant=A, source="test", raw=RECORD),
        tenant=A,
        source="test",
        host="MKT01",
        time=T,
        received=T,
        logsource=SYSMON,
        raw=RECORD,
        fields=RECORD,
    )
    rule = "a49fa4d5-11db-418c-8473-1e014a8dd462"
    alert = Alert(
        id=Alert.make_id(rule_id=rule, event_id=event.id),
        tenant=A,
        rule_id=rule,
        rule_title="Lsass Memory Dump via Comsvcs DLL",
        severity=Severity.high,
        event_id=event.id,
        time=T,
        created=T,
        host="MKT01",
        source="test",
        logsource=SYSMON,
    )
    payload = "{not json"
    letter = DeadLetter(
        id="dl-1",
        tenant=A,
        stage="ingest",
        reason="not_json",
        detail="not valid JSON",
        source="test",
        line=3,
        received=T,
        payload=payload,
        size=len(payload),
        sha256=hashlib.sha256(payload.encode()).hexdigest(),
    )
    await api.service.store.put_events([event])
    await api.service.store.put_alerts([alert])
    await api.service.store.put_dead_letters([letter])
    return alert


async def test_viewers_analysts_and_leads_read_alerts_and_dead_letters(api: Api) -> None:
    alert = await seed(api)
    for who in READERS:
        headers = await api.as_user(who)
        r = await api.client.get("/api/v1/alerts", headers=headers)
        assert r.status_code == 200 and [a["id"] for a in r.json()["items"]] == [alert.id], who
        r = await api.client.get(f"/api/v1/alerts/{alert.id}", headers=headers)
        assert r.status_code == 200 and r.json()["event"]["id"] == alert.event_id, who
        r = await api.client.get("/api/v1/deadletters", headers=headers)
        assert r.status_code == 200 and [d["id"] for d in r.json()] == ["dl-1"], who


async def test_viewers_analysts_and_leads_search_stored_events(api: Api) -> None:
    alert = await seed(api)
    for who in READERS:
        headers = await api.as_user(who)
        r = await api.client.get("/api/v1/events", params={"q": "host:mkt01"}, headers=headers)
        assert r.status_code == 200 and [e["id"] for e in r.json()["items"]] == [alert.event_id]
        r = await api.client.get(f"/api/v1/events/{alert.event_id}", headers=headers)
        assert r.status_code == 200 and r.json()["raw"] == RECORD, who
        r = await api.client.get(
            "/api/v1/events/stats", params={"field": "EventID"}, headers=headers
        )
        assert r.status_code == 200 and r.json()["values"] == [{"value": "10", "count": 1}], who
        span = {"since": "2023-08-15T10:00:00Z", "until": "2023-08-15T11:00:00Z"}
        r = await api.client.get("/api/v1/events/histogram", params=span, headers=headers)
        assert r.status_code == 200 and r.json()["total"] == 1, who


EVENT_PATHS = ("/api/v1/events", "/api/v1/events/stats?field=host", "/api/v1/events/histogram")


async def test_responders_and_admins_read_no_alerts_nor_dead_letters(api: Api) -> None:
    alert = await seed(api)
    for who in NOT_READERS:
        headers = await api.as_user(who)
        paths = ("/api/v1/alerts", f"/api/v1/alerts/{alert.id}", "/api/v1/deadletters")
        for path in (*paths, *EVENT_PATHS, f"/api/v1/events/{alert.event_id}"):
            r = await api.client.get(path, headers=headers)
            assert r.status_code == 403, (who, path)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "forbidden"
            assert "MKT01" not in r.text
    r = await api.client.get("/api/v1/alerts", headers=key_header("ingest-ioc"))
    assert r.status_code == 403 and "'alerts:read'" in r.json()["detail"]
    r = await api.client.get("/api/v1/events", headers=key_header("ingest-ioc"))
    assert r.status_code == 403 and "'events:read'" in r.json()["detail"]


async def test_a_tenant_outside_the_callers_is_refused_by_filter(api: Api) -> None:
    await seed(api)
    headers = await api.as_user("analyst.dof")
    r = await api.client.get("/api/v1/alerts", params={"tenant": A}, headers=headers)
    assert r.status_code == 403
    assert (await api.client.get("/api/v1/alerts", headers=headers)).json()["items"] == []
    r = await api.client.get("/api/v1/events", params={"tenant": A}, headers=headers)
    assert r.status_code == 403
    assert (await api.client.get("/api/v1/events", headers=headers)).json()["items"] == []


async def test_only_ingest_keys_ingest(api: Api) -> None:
    line = b'{"EventID": 4625, "host": "web01"}\n'
    for headers in (await api.as_user("analyst.hoa"), key_header("analyst-key")):
        r = await api.client.post("/api/v1/ingest", content=line, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await api.client.post("/api/v1/ingest", content=line, headers=key_header("ingest-ioc"))
    assert r.status_code == 200 and r.json()["accepted"] == 1


async def test_each_ingest_key_has_its_own_rate_in_lines(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ingest_rate={"burst": 10, "per_second": 0.5})
    async with running_api(settings) as api:
        eight = b"".join(b'{"n": %d}\n' % i for i in range(8))
        r = await api.client.post("/api/v1/ingest", content=eight, headers=key_header("ingest-ioc"))
        assert r.status_code == 200 and r.json()["accepted"] == 8
        r = await api.client.post("/api/v1/ingest", content=eight, headers=key_header("ingest-ioc"))
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "rate_limited"
        assert 10 <= int(r.headers["Retry-After"]) <= 13  # 6 more lines at 0.5 a second
        r = await api.client.post("/api/v1/ingest", content=eight, headers=key_header("ingest-dof"))
        assert r.status_code == 200, "another key has its own bucket"
        # the last line need not end with a newline: two lines, within the two left
        r = await api.client.post(
            "/api/v1/ingest", content=b'{"n": 1}\n{"n": 2}', headers=key_header("ingest-ioc")
        )
        assert r.status_code == 200 and r.json()["accepted"] == 2


async def test_the_ingest_limit_can_be_turned_off(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ingest_rate={"enabled": False, "burst": 1, "per_second": 1})
    async with running_api(settings) as api:
        body = b"".join(b'{"n": %d}\n' % i for i in range(50))
        for _ in range(3):
            r = await api.client.post(
                "/api/v1/ingest", content=body, headers=key_header("ingest-ioc")
            )
            assert r.status_code == 200
