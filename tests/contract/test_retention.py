"""Retention, on the embedded SQLite store and on a real OpenSearch.

Recorded events, alerts and dead letters are stored at chosen ages around a
fixed "now"; a pass of ``expire`` must delete what no period covers any more
and keep every record a period still covers. SQLite deletes rows by time;
OpenSearch deletes whole daily (events, dead letters) or monthly (alerts)
indices, only once their whole span is past the period, so a record just past
its period may outlive it until its index does: the tests assert only what both
must do. Per-tenant periods override the defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.models import Alert, DeadLetter, Event, Severity
from soc.settings import RetentionSettings
from soc.store import Store
from soc.store.eventquery import EventQuery
from tests.contract._events import A, B, recorded
from tests.stores import BACKENDS, fresh_store

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
RETENTION = RetentionSettings(
    events_days=5,
    dead_letters_days=5,
    tenants={B: {"events_days": 1, "alerts_days": 5}},
)
AGES = {
    "old": timedelta(days=10),  # past every period, in a day wholly past it
    "covered": timedelta(days=3),  # within A's 5 days, past B's 1 day (wholly)
    "edge": timedelta(days=5) - timedelta(minutes=1),  # one minute inside A's period
    "fresh": timedelta(hours=1),
}


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name, retention=RETENTION):
        yield s


def aged(event: Event, age: str) -> Event:
    """The recorded event moved to ``NOW - AGES[age]``, under an id of its own."""
    return event.model_copy(update={"id": f"{event.id}-{age}", "time": NOW - AGES[age]})


def alert_of(event: Event) -> Alert:
    return Alert(
        id=Alert.make_id(rule_id="rule-1", event_id=event.id),
        tenant=event.tenant,
        rule_id="rule-1",
        rule_title="Recorded event",
        severity=Severity.low,
        tags=[],
        event_id=event.id,
        time=event.time,
        created=event.time,
        host=event.host,
        source=event.source,
        logsource=event.logsource,
    )


def letter(tenant: str, age: str) -> DeadLetter:
    return DeadLetter.of(
        f"not json {age}".encode(),
        tenant=tenant,
        source="syslog",
        received=NOW - AGES[age],
        stage="ingest",
        reason="not_json",
        detail="Expecting value: line 1 column 1 (char 0)",
    )


async def ids(store: Store, tenant: str) -> set[str]:
    out: set[str] = set()
    async for batch in store.scan_events(EventQuery(tenants=[tenant])):
        out |= {e.id for e in batch}
    return out


async def test_expired_records_are_deleted_and_covered_ones_all_kept(store: Store) -> None:
    recorded_events = recorded()
    base_a = [e for e in recorded_events if e.tenant == A][:40]
    base_b = [e for e in recorded_events if e.tenant == B][:40]
    events = {
        (t, age): [aged(e, age) for e in base]
        for t, base in ((A, base_a), (B, base_b))
        for age in AGES
    }
    for batch in events.values():
        await store.put_events(batch)
        await store.put_alerts([alert_of(e) for e in batch])
    letters = {(t, age): letter(t, age) for t in (A, B) for age in AGES}
    await store.put_dead_letters(list(letters.values()))

    deleted = await store.expire(NOW)

    assert deleted["events"] > 0 and deleted["dead_letters"] > 0 and deleted["alerts"] > 0
    kept_a, kept_b = await ids(store, A), await ids(store, B)
    # Covered by a period: every one is still there.
    for age in ("covered", "edge", "fresh"):
        assert {e.id for e in events[(A, age)]} <= kept_a, age
    assert {e.id for e in events[(B, "fresh")]} <= kept_b
    # Wholly past the period: gone.
    assert not {e.id for e in events[(A, "old")]} & kept_a
    for age in ("old", "covered"):
        assert not {e.id for e in events[(B, age)]} & kept_b, age

    # Alerts: A keeps them all (no period); B's are kept for 5 days.
    for (tenant, age), batch in events.items():
        alerts = await store.get_alerts([alert_of(e).id for e in batch], tenants=[tenant])
        if tenant == A or age in ("covered", "edge", "fresh"):
            assert len(alerts) == len(batch), (tenant, age)
        elif age == "old":
            assert alerts == [], (tenant, age)

    # Dead letters: 5 days for both.
    kept_letters = {d.id for d in await store.list_dead_letters(tenants=None, limit=100)}
    for (tenant, age), d in letters.items():
        if age == "old":
            assert d.id not in kept_letters, (tenant, age)
        else:
            assert d.id in kept_letters, (tenant, age)

    again = await store.expire(NOW)
    assert not any(again.values()), "a second pass finds nothing more to delete"


async def test_nothing_is_deleted_while_every_period_covers_it(store: Store) -> None:
    fresh = [aged(e, "fresh") for e in recorded()[:100]]
    await store.put_events(fresh)
    assert not any((await store.expire(NOW)).values())
    assert await ids(store, A) | await ids(store, B) == {e.id for e in fresh}
