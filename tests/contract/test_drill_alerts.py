"""Drills' alerts and incidents kept apart from live ones, on SQLite and a real OpenSearch.

The records are the bundled OTRF LSASS slice (soc/sample), replayed once live and once for
each of two drills (``origin.drill``), as a connector's replay sends them; the alerts are
the published Sigma rules' (tests.contract.test_store). Reads filter by one drill
(``drill``), or leave drills out, or take only drills (``drills``); so does the histogram.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from soc.incidents.cases import Cases, IncidentQuery
from soc.incidents.casework import comment
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.models import Actor
from soc.ingest.normalize import normalize
from soc.models import Alert, AlertQuery, Event, Origin, drill_of
from soc.settings import OpenSearchSettings, RetentionSettings, StoreSettings
from soc.store import Store, build_store
from soc.store.opensearch import schema
from tests.contract.test_store import COMSVCS, EPOCH, SUSP_ACCESS, A, B, alert, histogram

RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def sample_records(n: int) -> list[dict[str, Any]]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    return [json.loads(line) for line in gzip.decompress(data).splitlines()[:n]]


def replayed(records: list[dict[str, Any]], *, tenant: str, drill: str | None) -> list[Event]:
    """The records as a replay connector sends them: one stream, numbered, maybe a drill's."""
    return [
        normalize(
            r,
            tenant=tenant,
            source="otrf",
            received=RECEIVED,
            origin=Origin(
                connector="replay", source="otrf", stream="lsass-slice", seq=i, drill=drill
            ),
        )
        for i, r in enumerate(records)
    ]


def alerts_of(events: list[Event]) -> list[Alert]:
    """One alert per event, as make_alert stamps it (the drill from the event's origin)."""
    out = []
    for i, ev in enumerate(events):
        made = alert(ev, SUSP_ACCESS if i % 2 else COMSVCS)
        out.append(made.model_copy(update={"drill": drill_of(ev.origin)}))
    return out


def ids(alerts: list[Alert]) -> set[str]:
    return {a.id for a in alerts}


async def found(store: Store, **query: Any) -> set[str]:
    """Every alert the query finds, walked two at a time (the filters hold across pages)."""
    out: list[str] = []
    cursor = None
    while True:
        page = await store.search_alerts(AlertQuery(limit=2, cursor=cursor, **query))
        out += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            assert len(out) == len(set(out))
            return set(out)


async def test_alert_reads_take_one_drill_leave_drills_out_or_take_only_drills(
    store: Store,
) -> None:
    records = sample_records(7)
    live = alerts_of(replayed(records, tenant=A, drill=None))
    d1 = alerts_of(replayed(records[:4], tenant=A, drill="d1"))
    d2 = alerts_of(replayed(records[:3], tenant=A, drill="d2"))
    d1_b = alerts_of(replayed(records[4:6], tenant=B, drill="d1"))
    assert len(ids(live + d1 + d2 + d1_b)) == 16, "a drill's replay has events of its own"
    await store.put_alerts([*live, *d1, *d2, *d1_b])

    got = await store.get_alert(d1[0].id, tenants=[A])
    assert got is not None and got.drill == "d1"
    assert await found(store) == ids(live + d1 + d2 + d1_b)
    assert await found(store, drills="include") == ids(live + d1 + d2 + d1_b)
    assert await found(store, drills="exclude") == ids(live)
    assert await found(store, drills="only") == ids(d1 + d2 + d1_b)
    assert await found(store, drill="d1") == ids(d1 + d1_b)
    assert await found(store, drill="d1", tenants=[A]) == ids(d1)
    assert await found(store, drill="d2", drills="only") == ids(d2)
    assert await found(store, drill="d1", drills="exclude") == set()
    assert await found(store, drill="no-such-drill") == set()
    assert await found(store, drills="exclude", rule_id=[COMSVCS.id]) == {
        a.id for a in live if a.rule_id == COMSVCS.id
    }


async def test_alert_histogram_counts_drills_as_asked(store: Store) -> None:
    records = sample_records(40)
    live = alerts_of(replayed(records, tenant=A, drill=None))
    drill = alerts_of(replayed(records[10:30], tenant=A, drill="d1"))
    await store.put_alerts([*live, *drill])
    until = datetime(2030, 1, 1, tzinfo=UTC)
    for bucket_s in (1, 60):

        async def counted(bucket_s: int = bucket_s, **kw: Any) -> dict[datetime, int]:
            return await store.alert_histogram(
                tenants=[A], since=EPOCH, until=until, bucket_s=bucket_s, **kw
            )

        assert await counted() == histogram([*live, *drill], bucket_s)
        assert await counted(drills="include") == histogram([*live, *drill], bucket_s)
        assert await counted(drills="exclude") == histogram(live, bucket_s)
        assert await counted(drills="only") == histogram(drill, bucket_s)


async def test_incident_reads_take_one_drill_leave_drills_out_or_take_only_drills(
    store: Store,
) -> None:
    records = sample_records(6)
    live = alerts_of(replayed(records, tenant=A, drill=None))
    d1 = alerts_of(replayed(records, tenant=A, drill="d1"))
    d2 = alerts_of(replayed(records, tenant=A, drill="d2"))
    result = group(
        [*live, *d1, *d2], open_incidents=[], policy=GroupingPolicy(), now=NOW, events={}
    )
    by_drill: dict[str | None, set[str]] = {}
    for incident in result.changed:
        by_drill.setdefault(incident.drill, set()).add(incident.id)
    assert set(by_drill) == {None, "d1", "d2"}
    assert len(by_drill[None]) == len(by_drill["d1"]) == len(by_drill["d2"]) == 2
    cases = Cases(store)
    for incident in result.changed:
        await cases.incidents.put(incident)

    async def incidents(**kw: Any) -> set[str]:
        page = await cases.incidents.find(IncidentQuery(tenants=[A], **kw))
        return {i.id for i in page.items}

    every = set().union(*by_drill.values())
    assert await incidents() == every
    assert await incidents(drills="exclude") == by_drill[None]
    assert await incidents(drills="only") == by_drill["d1"] | by_drill["d2"]
    assert await incidents(drill="d2") == by_drill["d2"]
    assert await incidents(drill="d2", drills="exclude") == set()
    assert await incidents(drills="exclude", open=True) == by_drill[None]

    drilled = next(i for i in result.changed if i.drill == "d1")
    note = comment(drilled, "seen in the drill", actor=Actor(name="ana", role="analyst"), now=NOW)
    assert note.comment.drill == "d1" and note.change.after["drill"] == "d1"
    await cases.comments.add(note.comment)
    assert await cases.comments.of(drilled.id, tenants=[A]) == [note.comment]


@pytest.mark.opensearch
async def test_opensearch_maps_drill_on_alert_indices_made_before_it(
    opensearch_url: str, unique_name: str
) -> None:
    """An alerts index made by an older version (no ``drill`` field) gets it at start."""
    records = sample_records(4)
    live = alerts_of(replayed(records[:2], tenant=A, drill=None))
    drill = alerts_of(replayed(records[2:], tenant=A, drill="d1"))
    klass = schema.retention_class(RetentionSettings().days("alerts", A))
    index = schema.monthly(unique_name, "alerts", klass, drill[0].time)
    older = {k: v for k, v in schema._ALERTS.items() if k != "drill"}
    client = AsyncOpenSearch(hosts=[opensearch_url])
    settings = OpenSearchSettings(
        hosts=[opensearch_url], index_prefix=unique_name, refresh_on_write=True
    )
    store = build_store(StoreSettings(kind="opensearch", opensearch=settings))
    try:
        await client.indices.create(
            index=index, body={"mappings": {"dynamic": False, "properties": older}}
        )
        await store.start()
        await store.put_alerts([*live, *drill])
        assert await found(store, drill="d1") == ids(drill)
        assert await found(store, drills="exclude") == ids(live)
        assert await store.alert_histogram(
            tenants=[A],
            since=EPOCH,
            until=drill[0].time + timedelta(days=1),
            bucket_s=60,
            drills="only",
        ) == histogram(drill, 60)
    finally:
        await store.stop()
        await client.indices.delete(index=f"{unique_name}-*")
        await client.indices.delete_index_template(name=f"{unique_name}-*")
        await client.close()
