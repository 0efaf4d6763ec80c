"""What only the OpenSearch store promises about events: a bounded mapping, whole long
values, and retention classes in index names (whole indices deleted, never documents).

Events are recorded ones: the OTRF LSASS campaign (Sysmon, Security, PowerShell).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from soc.ingest.ndjson import object_event
from soc.models import Event
from soc.settings import OpenSearchSettings, RetentionSettings
from soc.store.eventquery import (
    AllOf,
    AnyOf,
    Contains,
    Equals,
    EventQuery,
    Exists,
    Like,
    Node,
    Not,
    Range,
    WordPrefix,
    Words,
    event_pairs,
    number,
    parse,
    pattern_parts,
)
from soc.store.opensearch import OpenSearchStore
from soc.store.opensearch.schema import parse_index, retention_class
from soc.store.terms import word_list
from tests.stores import drop_opensearch_prefix

pytestmark = pytest.mark.opensearch

DATASET = "datasets/otrf/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"
RECEIVED = datetime(2026, 1, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def records(shared_dir: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(shared_dir / DATASET) as z, z.open(z.namelist()[0]) as f:
        return [json.loads(line) for line in f]


def to_event(record: dict[str, Any], tenant: str = "agency-a") -> Event:
    return object_event(record, tenant=tenant, source="otrf-lsass", received=RECEIVED)


async def started(url: str, prefix: str, retention: RetentionSettings) -> OpenSearchStore:
    settings = OpenSearchSettings(
        hosts=[url], index_prefix=prefix, refresh_on_write=True, connect_timeout_s=30
    )
    store = OpenSearchStore(settings, retention)
    await store.start()
    return store


@pytest.fixture
async def store(opensearch_url: str, unique_name: str) -> AsyncIterator[OpenSearchStore]:
    retention = RetentionSettings(tenants={"agency-b": {"events_days": 365, "alerts_days": 30}})
    s = await started(opensearch_url, unique_name, retention)
    try:
        yield s
    finally:
        await s.stop()
        await drop_opensearch_prefix(opensearch_url, unique_name)


@pytest.fixture
async def client(opensearch_url: str) -> AsyncIterator[AsyncOpenSearch]:
    c = AsyncOpenSearch(hosts=[opensearch_url])
    try:
        yield c
    finally:
        await c.close()


async def found(store: OpenSearchStore, text: str) -> list[str]:
    page = await store.search_events(EventQuery(where=parse(text), limit=500))
    return [e.id for e in page.items]


async def test_many_field_names_do_not_grow_the_mapping(
    store: OpenSearchStore,
    client: AsyncOpenSearch,
    unique_name: str,
    records: list[dict[str, Any]],
) -> None:
    """5,000 distinct field names (recorded values under numbered copies of their names,
    as a log source with per-item field names would send) leave the mapping as the
    template made it, and each one is still searchable."""
    events = []
    for n, record in enumerate(records[:50]):
        items = [(k, v) for k, v in record.items() if v != ""]
        extra = {f"Item{n}_{i}.{k}": v for i in range(100) for k, v in [items[i % len(items)]]}
        events.append(to_event({**record, **extra}))
    await store.put_events(events)
    mappings = await client.indices.get_mapping(index=f"{unique_name}-events-*")
    template = await client.indices.get_index_template(name=f"{unique_name}-events")
    expected = template["index_templates"][0]["index_template"]["template"]["mappings"]
    for index in mappings.values():
        assert set(index["mappings"]["properties"]) == set(expected["properties"])
    settings = await client.indices.get_settings(index=f"{unique_name}-events-*")
    assert all("mapping" not in s["settings"]["index"] for s in settings.values())

    name, value = next((k, v) for k, v in events[49].fields.items() if k.startswith("Item49_"))
    assert await found(store, f'{name}:"{value}"') == [events[49].id]
    assert await found(store, f"_exists_:{name.upper()}") == [events[49].id]


async def test_a_100_kb_script_block_is_stored_whole_and_found(
    store: OpenSearchStore, records: list[dict[str, Any]]
) -> None:
    """A PowerShell script block logged whole (the campaign's recorded scripts, joined
    until 100 KB) is over the 32766-byte term limit: stored, found by a wildcard inside
    it, by a word and by its whole value."""
    parts = [r for r in records if r.get("EventID") == 4104 and r.get("ScriptBlockText")]
    text = ""
    for part in sorted(parts, key=lambda r: -len(r["ScriptBlockText"])):
        text += part["ScriptBlockText"]
        if len(text) >= 100_000:
            break
    assert len(text.encode()) >= 100_000
    tail_word = "Get-WmiObjectTail"
    record = {**parts[0], "ScriptBlockText": text + "\n" + tail_word}
    ev = to_event(record)
    others = [to_event(r) for r in parts[:20]]
    await store.put_events([ev, *others])

    stored = await store.get_event(ev.id, tenants=["agency-a"])
    assert stored is not None and stored.fields["ScriptBlockText"] == record["ScriptBlockText"]
    assert await found(store, "scriptblocktext:*GET-WMIOBJECTTAIL") == [ev.id]
    assert await found(store, "scriptblocktext:*wmiobjecttai*") == [ev.id]
    assert await found(store, "wmiobjecttail") == [ev.id]
    assert await found(store, '"get wmiobjecttail"') == [ev.id]
    whole = record["ScriptBlockText"].replace("\\", "\\\\").replace('"', '\\"')
    assert await found(store, f'ScriptBlockText:"{whole[-2000:]}"') == [ev.id]


async def test_indices_carry_the_tenants_retention_class(
    store: OpenSearchStore, client: AsyncOpenSearch, unique_name: str, records: list[dict[str, Any]]
) -> None:
    a, b = to_event(records[0], "agency-a"), to_event(records[0], "agency-b")
    await store.put_events([a, b])
    listed = await client.cat.indices(index=f"{unique_name}-events-*", format="json", h="index")
    day = a.time.strftime("%Y.%m.%d")
    assert sorted(r["index"] for r in listed) == [
        f"{unique_name}-events-r365d-{day}",
        f"{unique_name}-events-r90d-{day}",
    ]
    assert {e.id for e in (await store.search_events(EventQuery())).items} == {a.id, b.id}


async def test_expire_deletes_whole_indices_past_their_class_period(
    store: OpenSearchStore, client: AsyncOpenSearch, unique_name: str, records: list[dict[str, Any]]
) -> None:
    """agency-a keeps events 90 days (the default), agency-b 365; an index named before
    classes existed is read as the default period."""
    a, b = to_event(records[0], "agency-a"), to_event(records[0], "agency-b")
    await store.put_events([a, b])
    legacy = f"{unique_name}-events-{a.time.strftime('%Y.%m.%d')}"
    await client.indices.create(index=legacy)
    day_end = a.time.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

    just_kept = day_end + timedelta(days=90) - timedelta(microseconds=1)
    assert (await store.expire(just_kept))["events"] == 0
    assert (await store.expire(day_end + timedelta(days=90)))["events"] == 2
    left = await client.cat.indices(index=f"{unique_name}-events-*", format="json", h="index")
    assert [r["index"] for r in left] == [f"{unique_name}-events-r365d-{a.time:%Y.%m.%d}"]
    assert [e.id for e in (await store.search_events(EventQuery())).items] == [b.id]
    assert (await store.expire(day_end + timedelta(days=365)))["events"] == 1


def test_index_names_parse_back() -> None:
    assert retention_class(90) == "r90d"
    assert retention_class(0.5) == "r0.5d"
    assert retention_class(None) == "keep"
    span = parse_index("soc", "soc-alerts-r30d-2026.12")
    assert span is not None and span.klass == "r30d"
    assert span.end == datetime(2027, 1, 1, tzinfo=UTC)
    legacy = parse_index("soc", "soc-deadletters-2026.02.28")
    assert legacy is not None and legacy.klass is None
    assert legacy.end == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_index("soc", "soc-records-incidents") is None
    assert parse_index("soc", "soc-events-rXd-2026.01.01") is None
    assert parse_index("soc", "soc2-events-r90d-2026.01.01") is None


def _like(pattern: str, value: str) -> bool:
    regex = ""
    for kind, text in pattern_parts(pattern):
        regex += re.escape(text) if kind == "text" and text else (".*" if kind == "any" else ".")
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _in_range(node: Range, value: str) -> bool:
    if node.numeric:
        v = number(value)
        low = None if node.low is None else number(node.low)
        high = None if node.high is None else number(node.high)
        if v is None:
            return False
    else:
        v, low, high = value, node.low, node.high  # type: ignore[assignment]
    if low is not None and (v < low or (v == low and not node.include_low)):  # type: ignore[operator]
        return False
    return not (high is not None and (v > high or (v == high and not node.include_high)))  # type: ignore[operator]


def matches(node: Node, ev: Event) -> bool:
    """The meaning :mod:`soc.store.eventquery` gives each form, evaluated in Python."""
    pairs = event_pairs(ev)
    values = lambda f: [v for n, v in pairs if n == f]  # noqa: E731
    text = [word_list(v) for _, v in pairs]
    match node:
        case Equals(f, v):
            return v in values(f)
        case Contains(f, t):
            return any(t in v for v in values(f))
        case Like(f, p):
            return any(_like(p, v) for v in values(f))
        case Range(f):
            return any(_in_range(node, v) for v in values(f))
        case Exists(f):
            return bool(values(f))
        case Words(ws, _):
            n = len(ws)
            return any(tuple(t[i : i + n]) == ws for t in text for i in range(len(t)))
        case WordPrefix(p):
            return any(w.startswith(p) for t in text for w in t)
        case AllOf(items):
            return all(matches(i, ev) for i in items)
        case AnyOf(items):
            return any(matches(i, ev) for i in items)
        case Not(item):
            return not matches(item, ev)
    return False


QUERIES = [
    "EventID:10",
    "eventid:4658 OR eventid:4656",
    "NOT channel:security AND host:*",
    'Image:"\\\\System32\\\\"',
    "image:c\\:\\\\windows\\\\system32\\\\svc*.exe",
    "TargetImage:*lsass.EXE",
    "commandline:*system32*",
    "eventid:[4600 TO 4700]",
    "eventid:{10 TO 13]",
    "eventid:>=4000",
    "processid:<1000",
    "image:[c\\:\\\\program TO c\\:\\\\windows]",
    "_exists_:ScriptBlockText",
    "-_exists_:commandline",
    "lsass",
    '"lsass exe"',
    '"system32 lsass"',
    "cmdlet*",
    "wmiprvse AND NOT eventid:10",
    "keywords:0x8*",
]


async def test_queries_mean_what_the_language_says(
    store: OpenSearchStore, records: list[dict[str, Any]]
) -> None:
    """Every query form over 1,500 recorded events finds exactly the events a Python
    evaluation of its documented meaning finds, newest first."""
    events = list({e.id: e for e in (to_event(r) for r in records[::35])}.values())
    await store.put_events(events)
    for text in QUERIES:
        node = parse(text)
        assert node is not None
        expected = sorted(
            (e for e in events if matches(node, e)), key=lambda e: (e.time, e.id), reverse=True
        )
        got: list[Event] = []
        async for batch in store.scan_events(EventQuery(where=node), batch=400):
            got += batch
        assert [e.id for e in got] == [e.id for e in expected], text
        assert expected or text in ("processid:<1000",), f"{text} matches nothing"


async def test_top_values_and_histogram_count_the_matching_events(
    store: OpenSearchStore, records: list[dict[str, Any]]
) -> None:
    events = list({e.id: e for e in (to_event(r) for r in records[::35])}.values())
    await store.put_events(events)
    query = EventQuery(where=parse("NOT eventid:10"))
    kept = [e for e in events if matches(query.where, e)]
    counts = Counter(v for e in kept for n, v in set(event_pairs(e)) if n == "image")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    stats = await store.event_stats(query, field="Image", size=3)
    assert stats.field == "image"
    assert stats.events == sum(1 for e in kept if any(n == "image" for n, _ in event_pairs(e)))
    assert [(v.value, v.count) for v in stats.values] == ranked[:3]
    assert stats.other == sum(c for _, c in ranked[3:])
    assert ranked[3:], "the recorded events have more than 3 images"

    hours = Counter(e.time.replace(minute=0, second=0, microsecond=0) for e in kept)
    assert await store.event_histogram(query, bucket_s=3600) == dict(hours)
