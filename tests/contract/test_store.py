"""The store contract, run against the embedded SQLite store and a real OpenSearch.

Every test gets a fresh store (its own SQLite file, or its own OpenSearch index
prefix, deleted afterwards) and asserts behaviour only: what a caller reads
back, never how the store keeps it. Records are real Windows events: Sysmon
process-access events (EventID 10) on lsass.exe from the OTRF LSASS campaign,
matched by real Sigma rules (ids, titles, levels and tags as published).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from soc.errors import QueryError, StoreError
from soc.models import (
    Alert,
    AlertQuery,
    AlertStatus,
    DeadLetter,
    Event,
    LogSource,
    Origin,
    Severity,
    digest,
)
from soc.settings import OpenSearchSettings, StoreSettings
from soc.store import Store, build_store, encode_cursor
from soc.store.opensearch.schema import pattern

DATASET = "datasets/otrf/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"
SOURCE = "otrf-lsass-campaign"
SYSMON = LogSource(product="windows", category="process_access")
RECEIVED = datetime(2023, 8, 15, 10, 5, tzinfo=UTC)
A, B = "tenant-a", "tenant-b"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    level: Severity
    modified: str
    tags: tuple[str, ...]


SUSP_ACCESS = Rule(
    "a18dd26b-6450-46de-8c91-9659150cf088",
    "Potentially Suspicious GrantedAccess Flags On LSASS",
    Severity.medium,
    "2026-06-29",
    ("attack.credential-access", "attack.t1003.001", "attack.s0002"),
)
COMSVCS = Rule(
    "a49fa4d5-11db-418c-8473-1e014a8dd462",
    "Lsass Memory Dump via Comsvcs DLL",
    Severity.high,
    "2023-11-29",
    ("attack.credential-access", "attack.t1003.001"),
)
WINRM = Rule(
    "aa35a627-33fb-4d04-a165-d33b4afca3e8",
    "Remote LSASS Process Access Through Windows Remote Management",
    Severity.high,
    "2023-11-29",
    ("attack.credential-access", "attack.execution", "attack.t1003.001", "attack.t1059.001",
     "attack.lateral-movement", "attack.t1021.006", "attack.s0002"),
)  # fmt: skip
HACKTOOL = Rule(
    "d0d2f720-d14f-448d-8242-51ff396a334e",
    "HackTool - Generic Process Access",
    Severity.high,
    "2023-11-27",
    ("attack.credential-access", "attack.t1003.001", "attack.s0002"),
)


@pytest.fixture(scope="session")
def dataset(shared_dir: Path) -> Path:
    return shared_dir / DATASET


@pytest.fixture(scope="session")
def lsass_records(dataset: Path) -> list[dict[str, Any]]:
    """The first 30 Sysmon process-access events whose target is lsass.exe."""
    out: list[dict[str, Any]] = []
    with zipfile.ZipFile(dataset) as z, z.open(z.namelist()[0]) as f:
        for line in f:
            record = json.loads(line)
            target = str(record.get("TargetImage", "")).lower()
            if str(record.get("EventID")) == "10" and target.endswith("\\lsass.exe"):
                out.append(record)
                if len(out) == 30:
                    break
    assert len(out) == 30
    return out


@pytest.fixture(scope="session")
def raw_lines(dataset: Path) -> list[bytes]:
    with zipfile.ZipFile(dataset) as z, z.open(z.namelist()[0]) as f:
        return [next(f).rstrip(b"\n") for _ in range(5)]


def event(record: dict[str, Any], *, tenant: str = A, origin: Origin | None = None) -> Event:
    return Event(
        id=Event.make_id(tenant=tenant, source=SOURCE, raw=record, origin=origin),
        origin=origin,
        tenant=tenant,
        source=SOURCE,
        host=record["Hostname"],
        time=record["@timestamp"],
        received=RECEIVED,
        logsource=SYSMON,
        raw=record,
        fields=dict(record),
    )


def alert(
    ev: Event,
    rule: Rule = SUSP_ACCESS,
    *,
    severity: Severity | None = None,
    status: AlertStatus = AlertStatus.open,
    host: str | None = None,
) -> Alert:
    return Alert(
        id=Alert.make_id(rule_id=rule.id, event_id=ev.id),
        tenant=ev.tenant,
        rule_id=rule.id,
        rule_title=rule.title,
        rule_version=rule.modified,
        severity=severity or rule.level,
        tags=list(rule.tags),
        status=status,
        event_id=ev.id,
        time=ev.time,
        created=RECEIVED + timedelta(seconds=1),
        host=host or ev.host,
        source=ev.source,
        logsource=ev.logsource,
    )


def newest_first(alerts: list[Alert]) -> list[str]:
    return [a.id for a in sorted(alerts, key=lambda a: (a.time, a.id), reverse=True)]


async def search_ids(store: Store, **query: Any) -> list[str]:
    page = await store.search_alerts(AlertQuery(limit=500, **query))
    assert page.next_cursor is None
    return [a.id for a in page.items]


@pytest.fixture
def varied(lsass_records: list[dict[str, Any]]) -> list[Alert]:
    """Alerts differing in every filtered attribute; two rules on some events (same time)."""
    picked = (0, 1, 2, 4, 7, 10, 13, 16)  # seven distinct times; 0 and 1 tie
    ev = [event(lsass_records[i]) for i in picked]
    return [
        alert(ev[0], SUSP_ACCESS),
        alert(ev[0], HACKTOOL, severity=Severity.critical),
        alert(ev[1], COMSVCS, status=AlertStatus.acknowledged),
        alert(ev[2], WINRM, host="MKT01"),
        alert(ev[3], SUSP_ACCESS, status=AlertStatus.closed),
        alert(ev[4], SUSP_ACCESS, severity=Severity.low, host="MKT01"),
        alert(ev[5], COMSVCS),
        alert(ev[5], WINRM, status=AlertStatus.acknowledged),
        alert(ev[6], HACKTOOL),
        alert(ev[7], SUSP_ACCESS),
    ]


async def test_put_then_get_returns_equal_models(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    ev = event(lsass_records[0])
    al = alert(ev, COMSVCS)
    await store.put_events([ev])
    await store.put_alerts([al])
    assert await store.get_event(ev.id, tenants=[A]) == ev
    assert await store.get_alert(al.id, tenants=[A]) == al
    assert await store.get_alert(ev.id, tenants=[A]) is None
    assert await store.get_event("0" * 32, tenants=None) is None


async def test_writes_are_idempotent_and_keep_the_stored_record(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    ev = event(lsass_records[0])
    al = alert(ev)
    await store.put_events([ev])
    await store.put_alerts([al])
    await store.put_events([ev])
    await store.put_alerts([al, al])
    await store.put_alerts([al.model_copy(update={"status": AlertStatus.closed})])
    assert await store.get_event(ev.id, tenants=None) == ev
    assert await store.get_alert(al.id, tenants=None) == al
    assert await search_ids(store) == [al.id]
    assert await search_ids(store, status=[AlertStatus.closed]) == []


def stamp(seq: int, *, connector: str = "ioc-dc-01") -> Origin:
    """Where a connector read a record: the Sysmon channel of a domain controller."""
    return Origin(
        connector=connector,
        source="sysmon",
        stream="winlog:Microsoft-Windows-Sysmon/Operational",
        seq=seq,
    )


async def test_origin_round_trips_and_keeps_equal_records_apart(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    record = lsass_records[0]
    first = event(record, origin=stamp(41))
    again = event(record, origin=stamp(42))  # the same record read at another place
    resent = event(record, origin=stamp(41))  # the same place sent again after a crash
    bare = event(record)
    assert first.id == resent.id and len({first.id, again.id, bare.id}) == 3
    await store.put_events([first, again, resent, bare])
    got = await store.get_event(first.id, tenants=[A])
    assert got == first and got.origin == stamp(41)
    assert await store.get_event(again.id, tenants=[A]) == again
    got_bare = await store.get_event(bare.id, tenants=[A])
    assert got_bare == bare and got_bare.origin is None


@pytest.mark.opensearch
async def test_opensearch_indexes_origin_to_count_per_connector_and_stream(
    opensearch_url: str, unique_name: str, lsass_records: list[dict[str, Any]]
) -> None:
    """Not part of the seam: the SOC counts arrivals per connector and stream in OpenSearch."""
    settings = OpenSearchSettings(
        hosts=[opensearch_url], index_prefix=unique_name, refresh_on_write=True
    )
    store = build_store(StoreSettings(kind="opensearch", opensearch=settings))
    events = [event(r, origin=stamp(i)) for i, r in enumerate(lsass_records[:7])]
    events += [
        event(r, origin=stamp(i, connector="ioc-dc-02")) for i, r in enumerate(lsass_records[:3])
    ]
    client = AsyncOpenSearch(hosts=[opensearch_url])
    await store.start()
    try:
        await store.put_events(events)
        body = {
            "size": 0,
            "query": {"term": {"origin.stream": "winlog:Microsoft-Windows-Sysmon/Operational"}},
            "aggs": {
                "per_connector": {
                    "terms": {"field": "origin.connector"},
                    "aggs": {"last": {"max": {"field": "origin.seq"}}},
                }
            },
        }
        found = await client.search(index=pattern(unique_name, "events"), body=body)
        buckets = {
            b["key"]: (b["doc_count"], b["last"]["value"])
            for b in found["aggregations"]["per_connector"]["buckets"]
        }
        assert buckets == {"ioc-dc-01": (7, 6), "ioc-dc-02": (3, 2)}
    finally:
        await store.stop()
        try:
            await client.indices.delete(index=f"{unique_name}-*")
            await client.indices.delete_index_template(name=f"{unique_name}-*")
        finally:
            await client.close()


async def test_reads_are_scoped_by_tenant(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    ev_a, ev_b = event(lsass_records[0], tenant=A), event(lsass_records[1], tenant=B)
    al_a, al_b = alert(ev_a), alert(ev_b)
    await store.put_events([ev_a, ev_b])
    await store.put_alerts([al_a, al_b])
    assert await store.get_alert(al_a.id, tenants=[B]) is None
    assert await store.get_event(ev_a.id, tenants=[B]) is None
    assert await store.get_alert(al_a.id, tenants=[]) is None
    assert await store.get_event(ev_a.id, tenants=[]) is None
    assert await store.get_alert(al_a.id, tenants=[B, A]) == al_a
    assert await store.get_event(ev_b.id, tenants=None) == ev_b
    assert await search_ids(store, tenants=[B]) == [al_b.id]
    assert await search_ids(store, tenants=["tenant-c"]) == []
    assert await search_ids(store, tenants=[]) == []
    assert set(await search_ids(store, tenants=None)) == {al_a.id, al_b.id}
    assert set(await search_ids(store, tenants=[A, B])) == {al_a.id, al_b.id}


FILTERS: dict[str, tuple[dict[str, Any], Any]] = {
    "severity": (
        {"severity": [Severity.low, Severity.critical]},
        lambda a: a.severity in (Severity.low, Severity.critical),
    ),
    "rule_id": ({"rule_id": [COMSVCS.id, WINRM.id]}, lambda a: a.rule_id in (COMSVCS.id, WINRM.id)),
    "status": (
        {"status": [AlertStatus.acknowledged, AlertStatus.closed]},
        lambda a: a.status != AlertStatus.open,
    ),
    "host is exact": ({"host": "MKT01"}, lambda a: a.host == "MKT01"),
    "text in title": ({"text": "comsvcs dll"}, lambda a: a.rule_id == COMSVCS.id),
    "text in tags": ({"text": "T1021.006"}, lambda a: a.rule_id == WINRM.id),
    "text in host": ({"text": "PANDALAB"}, lambda a: a.host == "MKT01.pandalab.com"),
    "text words all required": (
        {"text": "lsass remote"},
        lambda a: a.rule_id == WINRM.id,
    ),
    "combined": (
        {"tenants": [A], "rule_id": [SUSP_ACCESS.id], "status": [AlertStatus.open], "text": "on"},
        lambda a: a.rule_id == SUSP_ACCESS.id and a.status == AlertStatus.open,
    ),
}


@pytest.mark.parametrize("case", FILTERS, ids=str)
async def test_each_filter_selects_exactly_the_matching_alerts(
    store: Store, varied: list[Alert], case: str
) -> None:
    query, matches = FILTERS[case]
    expected = [a for a in varied if matches(a)]
    assert 0 < len(expected) < len(varied)
    await store.put_alerts(varied)
    assert await search_ids(store, **query) == newest_first(expected)


async def test_since_is_inclusive_and_until_exclusive(store: Store, varied: list[Alert]) -> None:
    times = sorted({a.time for a in varied})
    since, until = times[2], times[-2]
    expected = [a for a in varied if since <= a.time < until]
    assert 0 < len(expected) < len(varied)
    await store.put_alerts(varied)
    assert await search_ids(store, since=since, until=until) == newest_first(expected)
    exact = [a for a in varied if a.time == since]
    just_after = since + timedelta(microseconds=1)
    assert await search_ids(store, since=since, until=just_after) == newest_first(exact)
    assert await search_ids(store, since=until, until=until) == []


async def test_newest_first_with_ties_broken_by_id(store: Store, varied: list[Alert]) -> None:
    assert len({a.time for a in varied}) < len(varied), "the data must hold ties"
    await store.put_alerts(list(reversed(varied)))
    assert await search_ids(store) == newest_first(varied)


async def test_cursor_pages_walk_every_alert_once(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    events = [event(r) for r in lsass_records[:12]]
    alerts = [alert(e, rule) for e in events for rule in (SUSP_ACCESS, HACKTOOL)][:23]
    await store.put_alerts(alerts[::2])
    await store.put_alerts(alerts[1::2])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.search_alerts(AlertQuery(tenants=[A], limit=5, cursor=cursor))
        pages += 1
        seen += [a.id for a in page.items]
        if page.next_cursor is None:
            break
        assert len(page.items) == 5
        cursor = page.next_cursor
    assert pages == 5
    assert seen == newest_first(alerts)


async def test_next_cursor_is_absent_when_a_page_holds_the_rest(
    store: Store, varied: list[Alert]
) -> None:
    await store.put_alerts(varied)
    page = await store.search_alerts(AlertQuery(limit=len(varied)))
    assert len(page.items) == len(varied)
    assert page.next_cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        "W10",  # []
        "WyJ4IiwgMV0",  # ["x", 1]
        "WzEsICJ4Il0",  # [1, "x"]
        encode_cursor(RECEIVED, "x")[:-4],
    ],
)
async def test_an_invalid_cursor_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(QueryError):
        await store.search_alerts(AlertQuery(cursor=cursor))


SYNTAX = {
    '"comsvcs': [COMSVCS.id],
    "comsvcs)": [COMSVCS.id],
    "lsass*": [SUSP_ACCESS.id, COMSVCS.id, WINRM.id],
    "(hacktool OR comsvcs)": [],
    "NOT comsvcs": [],
    "rule_title:comsvcs": [],
    "tags:attack": [],
    'dll" OR "lsass': [],
    "hacktool -generic": [HACKTOOL.id],
    "comsvcs AND": [],
    "hacktool && generic || x": [],
    "lsass~ dump^": [COMSVCS.id],
    "{dll} [lsass] \\comsvcs/ ?": [COMSVCS.id],
}


@pytest.mark.parametrize("text", SYNTAX, ids=str)
async def test_text_search_treats_syntax_as_plain_words(
    store: Store, varied: list[Alert], text: str
) -> None:
    await store.put_alerts(varied)
    expected = [a for a in varied if a.rule_id in SYNTAX[text]]
    assert await search_ids(store, text=text) == newest_first(expected)


async def test_text_without_words_places_no_constraint(store: Store, varied: list[Alert]) -> None:
    await store.put_alerts(varied)
    assert await search_ids(store, text='" * : ( ) -') == newest_first(varied)


def dead_letter(line: bytes, *, tenant: str, minutes: int, head: int = 40) -> DeadLetter:
    sha = hashlib.sha256(line).hexdigest()
    return DeadLetter(
        id=digest(tenant, SOURCE, sha, str(minutes)),
        tenant=tenant,
        stage="ingest",
        reason="too_large",
        detail=f"line exceeds {head} bytes",
        source=SOURCE,
        line=minutes + 1,
        received=RECEIVED + timedelta(minutes=minutes),
        payload=line[:head].decode("utf-8", errors="replace"),
        size=len(line),
        sha256=sha,
    )


async def test_dead_letters_are_counted_and_listed_newest_first_per_tenant(
    store: Store, raw_lines: list[bytes]
) -> None:
    a = [
        dead_letter(line, tenant=A, minutes=m)
        for m, line in zip((3, 1, 4, 2), raw_lines[:4], strict=True)
    ]
    b = dead_letter(raw_lines[4], tenant=B, minutes=0)
    await store.put_dead_letters([*a, b])
    await store.put_dead_letters([a[0]])
    assert await store.count_dead_letters(tenants=None) == 5
    assert await store.count_dead_letters(tenants=[A]) == 4
    assert await store.count_dead_letters(tenants=[B, "tenant-c"]) == 1
    assert await store.count_dead_letters(tenants=[]) == 0
    by_time = sorted(a, key=lambda d: d.received, reverse=True)
    assert await store.list_dead_letters(tenants=[A]) == by_time
    assert await store.list_dead_letters(tenants=[A], limit=2) == by_time[:2]
    assert await store.list_dead_letters(tenants=[B]) == [b]
    assert await store.list_dead_letters(tenants=[]) == []
    assert [d.id for d in await store.list_dead_letters(tenants=None)] == [
        d.id for d in sorted([*a, b], key=lambda d: d.received, reverse=True)
    ]


def by_id(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda x: x.id)


async def test_alerts_and_events_are_read_by_ids_within_the_tenants(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    ev_a = [event(r, tenant=A) for r in lsass_records[:3]]
    ev_b = event(lsass_records[3], tenant=B)
    al_a = [alert(e) for e in ev_a]
    al_b = alert(ev_b, COMSVCS)
    await store.put_events([*ev_a, ev_b])
    await store.put_alerts([*al_a, al_b])
    unknown = [digest("not stored", str(i)) for i in range(1200)]
    alert_ids = [*unknown[:400], al_a[0].id, al_b.id, *unknown[400:], al_a[1].id, al_a[2].id]
    event_ids = [ev_a[0].id, *unknown, ev_b.id, ev_a[0].id, al_a[0].id]
    assert by_id(await store.get_alerts(alert_ids, tenants=[A])) == by_id(al_a)
    assert by_id(await store.get_alerts(alert_ids, tenants=None)) == by_id([*al_a, al_b])
    assert await store.get_alerts(alert_ids, tenants=[B, "tenant-c"]) == [al_b]
    assert await store.get_alerts(alert_ids, tenants=[]) == []
    assert await store.get_alerts([], tenants=None) == []
    assert await store.get_alerts([al_a[0].id, al_a[0].id], tenants=[A]) == [al_a[0]]
    assert await store.get_events(event_ids, tenants=[A]) == [ev_a[0]]
    assert by_id(await store.get_events(event_ids, tenants=None)) == by_id([ev_a[0], ev_b])
    assert await store.get_events(event_ids, tenants=[B]) == [ev_b]
    assert await store.get_events(event_ids, tenants=[]) == []
    assert await store.get_events(unknown, tenants=None) == []


async def test_update_alerts_replaces_stored_alerts_and_creates_none(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    ev = [event(r) for r in lsass_records[:3]]
    stored = [alert(ev[0]), alert(ev[1], COMSVCS)]
    await store.put_alerts(stored)
    closed = stored[0].model_copy(update={"status": AlertStatus.closed, "incident_id": "inc-01"})
    grouped = stored[1].model_copy(update={"incident_id": "inc-01"})
    unstored = alert(ev[2], WINRM, status=AlertStatus.closed)
    await store.update_alerts([closed, grouped, unstored])
    await store.update_alerts([])
    assert await store.get_alert(closed.id, tenants=[A]) == closed
    assert await store.get_alert(grouped.id, tenants=None) == grouped
    assert await store.get_alert(unstored.id, tenants=None) is None
    assert await store.get_alerts([unstored.id], tenants=None) == []
    assert await search_ids(store, status=[AlertStatus.closed]) == [closed.id]
    assert await search_ids(store, status=[AlertStatus.open]) == [grouped.id]
    assert await search_ids(store, text="grantedaccess", status=[AlertStatus.closed]) == [closed.id]
    assert await search_ids(store) == newest_first([closed, grouped])
    await store.put_alerts(stored)  # a replay keeps the analyst's change
    assert await store.get_alert(closed.id, tenants=None) == closed
    reopened = closed.model_copy(update={"status": AlertStatus.open, "incident_id": None})
    await store.update_alerts([reopened])
    assert await store.get_alert(closed.id, tenants=None) == reopened
    assert await search_ids(store, status=[AlertStatus.closed]) == []
    assert await search_ids(store, status=[AlertStatus.open]) == newest_first(stored)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def histogram(alerts: list[Alert], bucket_s: int) -> dict[datetime, int]:
    size = timedelta(seconds=bucket_s)
    counts: dict[datetime, int] = {}
    for a in alerts:
        start = EPOCH + (a.time - EPOCH) // size * size
        counts[start] = counts.get(start, 0) + 1
    return counts


@pytest.mark.parametrize("bucket_s", [1, 10, 60, 86_400])
async def test_alert_histogram_counts_alerts_per_epoch_aligned_bucket(
    store: Store, varied: list[Alert], lsass_records: list[dict[str, Any]], bucket_s: int
) -> None:
    other = alert(event(lsass_records[20], tenant=B), COMSVCS)
    await store.put_alerts([*varied, other])
    times = sorted({a.time for a in varied})
    since, until = times[1], times[-1]
    within = [a for a in varied if since <= a.time < until]
    assert 0 < len(within) < len(varied)
    got = await store.alert_histogram(tenants=[A], since=since, until=until, bucket_s=bucket_s)
    assert got == histogram(within, bucket_s)
    everything = await store.alert_histogram(
        tenants=None, since=EPOCH, until=RECEIVED, bucket_s=bucket_s
    )
    assert everything == histogram([*varied, other], bucket_s)
    assert await store.alert_histogram(
        tenants=[B, "tenant-c"], since=EPOCH, until=RECEIVED, bucket_s=bucket_s
    ) == histogram([other], bucket_s)
    assert await store.alert_histogram(tenants=[], since=EPOCH, until=RECEIVED, bucket_s=1) == {}
    assert await store.alert_histogram(tenants=None, since=until, until=until, bucket_s=1) == {}


async def test_reads_before_any_write_find_nothing(store: Store) -> None:
    assert (await store.search_alerts(AlertQuery())).items == []
    assert await store.get_alert("0" * 32, tenants=None) is None
    assert await store.count_dead_letters(tenants=None) == 0
    assert await store.list_dead_letters(tenants=None) == []
    assert await store.alert_histogram(tenants=None, since=EPOCH, until=RECEIVED, bucket_s=60) == {}


async def test_check_passes_while_started_and_fails_once_stopped(store: Store) -> None:
    await store.check()
    await store.stop()
    with pytest.raises(StoreError):
        await store.check()


async def test_searches_racing_the_first_write_of_a_new_index_answer_whole(
    store: Store, lsass_records: list[dict[str, Any]]
) -> None:
    """An analyst's queue polled while the detector writes the first alert of a new month:
    OpenSearch makes that month's index meanwhile, and for a moment its shard answers
    nothing (HTTP 503, or fewer hits). Every search must still answer: nothing, or the alert."""
    import asyncio

    months = [event(lsass_records[i]) for i in range(6)]
    news = [
        alert(ev.model_copy(update={"time": ev.time + timedelta(days=31 * (k + 1))}))
        for k, ev in enumerate(months)
    ]
    answered: list[int] = []

    async def poll_until(found: int) -> None:
        while True:
            page = await store.search_alerts(AlertQuery(tenants=[A], limit=500))
            answered.append(len(page.items))
            if len(page.items) >= found:
                return

    for k, new in enumerate(news):  # each in a month (an index) of its own
        poller = asyncio.create_task(poll_until(k + 1))
        await asyncio.sleep(0.02)
        await store.put_alerts([new])
        await asyncio.wait_for(poller, 30)
    assert answered and all(n in range(len(news) + 1) for n in answered)
