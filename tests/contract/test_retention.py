"""Retention, on the embedded SQLite store and on a real OpenSearch.

Case records too: closed incidents past their period go with their comments
(open ones and those a period covers stay), and the audit chain is cut at its
start behind a retention entry it still verifies from; tampering after the
cut, or a cut without that entry, still fails verification.

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
from prometheus_client import REGISTRY

from soc.audit import AuditEntry, Cut
from soc.errors import NotFound
from soc.incidents import casework, lifecycle
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.desk import Desk
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.lifecycle import CloseFalsePositive, Command, Triage
from soc.incidents.models import Actor, Comment, Incident
from soc.models import Alert, DeadLetter, Event, Severity
from soc.security.principal import Principal
from soc.settings import RetentionSettings
from soc.stages.retention import RetentionJob
from soc.store import Store
from soc.store.eventquery import EventQuery
from soc.store.records import Kind
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


# --- case records: closed incidents with their comments, and the audit chain's start ---

CASE_RETENTION = RetentionSettings(
    events_days=None,
    dead_letters_days=None,
    incidents_days=30,
    audit_days=30,
    tenants={B: {"incidents_days": 60, "audit_days": 60}},
    batch_size=2,  # several batches even for these few records
)
ANALYST = Actor(name="ana", role="analyst")
BY_RULE = GroupingPolicy(keys=("rule_id", "host"))


@pytest.fixture(params=BACKENDS)
async def case_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name, retention=CASE_RETENTION):
        yield s


def job(store: Store, retention: RetentionSettings = CASE_RETENTION) -> RetentionJob:
    return RetentionJob(store=store, cases=Cases(store), settings=retention, clock=lambda: NOW)


def deleted_so_far(kind: str) -> float:
    return REGISTRY.get_sample_value("soc_retention_deleted_total", {"kind": kind}) or 0.0


async def opened(store: Store, cases: Cases, event: Event, rule: str, age: timedelta) -> Incident:
    """An incident opened by the grouping code on one alert of the recorded ``event``."""
    at = NOW - age
    alert = alert_of(event.model_copy(update={"time": at})).model_copy(
        update={"rule_id": rule, "id": f"{rule}-{event.id}"}
    )
    result = group([alert], open_incidents=[], policy=BY_RULE, now=at)
    incident = await cases.incidents.put(result.changed[0])
    await store.put_alerts([alert.model_copy(update={"incident_id": incident.id})])
    return incident


async def act(cases: Cases, incident: Incident, command: Command, age: timedelta) -> Incident:
    """One status change, saved and audited as the desk does it."""
    outcome = lifecycle.apply(incident, command, actor=ANALYST, now=NOW - age)
    saved = await cases.incidents.put(outcome.incident)
    change = outcome.change
    await cases.audit.append(
        actor=change.actor,
        tenant=change.tenant,
        action=change.action,
        target=change.target,
        time=change.time,
        before=change.before,
        after=change.after,
    )
    return saved


async def closed(cases: Cases, incident: Incident, age: timedelta) -> Incident:
    triaged = await act(cases, incident, Triage(), age + timedelta(hours=2))
    return await act(cases, triaged, CloseFalsePositive(reason="a scheduled scan"), age)


async def commented(cases: Cases, incident: Incident, age: timedelta) -> Comment:
    outcome = casework.comment(incident, f"seen {age}", actor=ANALYST, now=NOW - age)
    return await cases.comments.add(outcome.comment)


async def test_closed_incidents_past_their_period_go_with_their_comments(
    case_store: Store,
) -> None:
    store, cases = case_store, Cases(case_store)
    events = {t: [e for e in recorded() if e.tenant == t][:6] for t in (A, B)}
    days = timedelta(days=1)
    a_old = await closed(
        cases, await opened(store, cases, events[A][0], "r1", 50 * days), 40 * days
    )
    a_old_notes = [
        await commented(cases, a_old, 45 * days),
        await commented(cases, a_old, 41 * days),
    ]
    a_recent = await closed(
        cases, await opened(store, cases, events[A][1], "r2", 50 * days), 20 * days
    )
    a_recent_note = await commented(cases, a_recent, 25 * days)
    a_open = await opened(store, cases, events[A][2], "r3", 400 * days)  # open: never deleted
    a_open_note = await commented(cases, a_open, 300 * days)
    a_edge = await closed(
        cases,
        await opened(store, cases, events[A][3], "r4", 60 * days),
        30 * days - timedelta(minutes=1),
    )
    b_old = await closed(
        cases, await opened(store, cases, events[B][0], "r1", 50 * days), 40 * days
    )
    b_note = await commented(cases, b_old, 41 * days)
    b_older = await closed(
        cases, await opened(store, cases, events[B][1], "r2", 90 * days), 70 * days
    )

    no_audit_period = CASE_RETENTION.model_copy(
        update={"audit_days": None, "tenants": {B: {"incidents_days": 60}}}
    )
    counted = deleted_so_far("incidents"), deleted_so_far("comments")
    deleted = await job(store, no_audit_period).run_once()

    assert deleted["incidents"] == 2 and deleted["comments"] == 2 and deleted["audit"] == 0
    assert (deleted_so_far("incidents"), deleted_so_far("comments")) == (
        counted[0] + 2,
        counted[1] + 2,
    )
    gone = {a_old.id, b_older.id}
    for incident in (a_old, a_recent, a_open, a_edge, b_old, b_older):
        stored = await cases.incidents.get(incident.id, tenants=None)
        assert (stored is None) == (incident.id in gone), incident.id
    assert await cases.comments.of(a_old.id, tenants=None) == []
    assert await cases.comments.of(a_recent.id, tenants=None) == [a_recent_note]
    assert await cases.comments.of(a_open.id, tenants=None) == [a_open_note]
    assert await cases.comments.of(b_old.id, tenants=None) == [b_note]
    assert all(n.incident_id == a_old.id for n in a_old_notes)

    # The alerts stay (their own period) and still name the incident, whose audit entries
    # stay too, with one more that says why it went; following the id says so.
    alerts = await store.get_alerts([a.id for a in a_old.alerts], tenants=[A])
    assert [a.incident_id for a in alerts] == [a_old.id]
    trail = await cases.audit.entries(tenants=[A], target=f"incident:{a_old.id}")
    assert [e.action for e in trail] == [
        "incident.triage",
        "incident.close_false_positive",
        "incident.expired",
    ]
    assert (await cases.audit.verify()).ok
    desk = Desk(store, cases, deadlines=DeadlinePolicy(), clock=lambda: NOW)
    analyst_a = Principal(name="ana", role="analyst", tenants=(A,))
    with pytest.raises(NotFound, match="incident deleted by retention on 2026-06-10"):
        await desk.get(analyst_a, a_old.id)
    with pytest.raises(NotFound, match="no such incident"):
        await desk.get(Principal(name="bob", role="analyst", tenants=(B,)), a_old.id)

    again = await job(store, no_audit_period).run_once()
    assert again["incidents"] == again["comments"] == 0


async def audit_at(
    cases: Cases, tenant: str | None, age: timedelta, n: int = 1
) -> list[AuditEntry]:
    return [
        await cases.audit.append(
            actor="ana",
            tenant=tenant,
            action="alert.status",
            target=f"alert:{age}-{i}",
            time=NOW - age,
            before={"status": "new"},
            after={"status": "acknowledged"},
        )
        for i in range(n)
    ]


async def test_the_audit_chain_is_cut_at_its_start_and_still_verifies(case_store: Store) -> None:
    store, cases = case_store, Cases(case_store)
    days = timedelta(days=1)
    expired = [
        *await audit_at(cases, A, 100 * days, 3),
        *await audit_at(cases, None, 95 * days),  # a sign-in: the default period
        *await audit_at(cases, B, 80 * days),  # past B's 60 days too
        *await audit_at(cases, A, 40 * days, 2),
    ]
    covered = [
        *await audit_at(cases, B, 45 * days),  # B's 60 days cover it...
        *await audit_at(cases, A, 35 * days, 2),  # ...so the chain is kept from it on
        *await audit_at(cases, A, 30 * days - timedelta(minutes=1)),
        *await audit_at(cases, None, 1 * days),
    ]

    counted = deleted_so_far("audit")
    deleted = await job(store).run_once()

    assert deleted["audit"] == len(expired)
    assert deleted_so_far("audit") == counted + len(expired)
    kept = [e async for e in cases.audit.each()]
    assert kept[: len(covered)] == covered, "everything from the first covered entry is kept"
    cut = kept[-1]
    assert cut.action == "audit.retention" and cut.actor == "retention" and cut.time == NOW
    assert Cut.model_validate(cut.after) == Cut(
        through_seq=expired[-1].seq,
        through_hash=expired[-1].hash,
        from_seq=1,
        deleted=len(expired),
        first_time=expired[0].time,
        last_time=expired[-1].time,
    )
    report = await cases.audit.verify()
    assert report.ok and report.start == covered[0].seq and report.cut_by == cut.seq
    assert report.entries == len(covered) + 1
    deleted_on = "entries before were deleted by retention on 2026-06-10"
    assert f"verified from entry {covered[0].seq} ({deleted_on}" in report.summary
    assert (await job(store).run_once())["audit"] == 0, "a second pass deletes nothing more"
    assert [e async for e in cases.audit.each()] == kept

    # Tampering after the cut is still found.
    victim = covered[1]
    record = await store.get_record(Kind.audit, f"{victim.seq:012d}")
    assert record is not None
    forged = record.model_copy(update={"doc": {**record.doc, "actor": "mallory"}})
    stored = await store.put_record(forged, expect=record.version)
    report = await cases.audit.verify()
    assert not report.ok and report.broken_at == victim.seq and "altered" in (report.reason or "")
    await store.put_record(record, expect=stored.version)
    assert (await cases.audit.verify()).ok

    # Deleting entries past the recorded cut, without a retention entry, is found.
    first = await store.get_record(Kind.audit, f"{covered[0].seq:012d}")
    assert first is not None and await store.delete_record(Kind.audit, first.id)
    report = await cases.audit.verify()
    assert not report.ok and report.broken_at == covered[1].seq
    assert f"retention deleted only up to entry {expired[-1].seq}" in (report.reason or "")
    await store.put_record(first, expect=0)

    # So is deleting the retention entry that records the cut.
    cut_record = await store.get_record(Kind.audit, f"{cut.seq:012d}")
    assert cut_record is not None and await store.delete_record(Kind.audit, cut_record.id)
    report = await cases.audit.verify()
    assert not report.ok and report.broken_at == covered[0].seq
    assert f"expected entry 1, found {covered[0].seq}" in (report.reason or "")
    await store.put_record(cut_record, expect=0)
    assert (await cases.audit.verify()).ok


async def test_a_chain_whose_start_is_deleted_without_retention_fails(case_store: Store) -> None:
    cases = Cases(case_store)
    entries = await audit_at(cases, A, timedelta(days=100), 4)
    assert await case_store.delete_records(Kind.audit, [f"{e.seq:012d}" for e in entries[:2]]) == 2
    report = await cases.audit.verify()
    assert not report.ok and report.broken_at == 3
    assert "expected entry 1, found 3" in (report.reason or "")
