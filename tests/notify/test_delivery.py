"""Durable delivery on each store: a hand-off to CAT-PCTP read by two watches and sent by two
senders (each on its own connection to one store, as two API processes) is one mail; a
server that refuses for a while gets the mail once it accepts; a message that cannot be
delivered is given up at its age; every attempt is audited and counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from soc.drills.book import DrillBook
from soc.drills.models import Drill, DrillState
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.desk import Desk
from soc.incidents.lifecycle import HandOffTo, Reject, Triage
from soc.incidents.models import AlertRef, Change, Deadlines, Incident
from soc.models import Severity, utcnow
from soc.notify.models import OutboxState
from soc.notify.notifier import Notifier
from soc.notify.sender import Sender
from soc.security.roles import UserPrincipal
from soc.settings import (
    IncidentSettings,
    NotifySettings,
    OpenSearchSettings,
    SqliteSettings,
    StoreSettings,
)
from soc.stages.deadlines import DeadlineWatch
from soc.stages.notify import NotifyWatch
from soc.store import Store, build_store
from soc.store.records import Kind, RecordQuery
from tests.notify._servers import Smtp, smtp_server, webhook_receiver
from tests.stores import BACKENDS, drop_opensearch_prefix

TENANT = "hue-ioc"
UNIT = "CAT-PCTP"
LEAD = UserPrincipal(name="lead.minh", role="lead", tenants=(TENANT,))
RESPONDER = UserPrincipal(name="pctp.tuan", role="responder", tenants=(TENANT,), unit=UNIT)


@pytest.fixture(params=BACKENDS)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores over the same data: one SQLite file, or one OpenSearch prefix."""
    if request.param == "opensearch":
        url = request.getfixturevalue("opensearch_url")
        os_settings = OpenSearchSettings(
            hosts=[url], index_prefix=unique_name, refresh_on_write=True, connect_timeout_s=30
        )
        settings = StoreSettings(kind="opensearch", opensearch=os_settings)
    else:
        url = ""
        sqlite = SqliteSettings(path=tmp_path / "db/soc.db")
        settings = StoreSettings(kind="sqlite", sqlite=sqlite)
    first, second = build_store(settings), build_store(settings)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.stop()
        await second.stop()
        if url:
            await drop_opensearch_prefix(url, unique_name)


def notify_settings(smtp: Smtp, **extra: Any) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "base_url": "https://soc.hue.gov.vn",
            "channels": {"pctp-mail": smtp.channel(timeout_s=5)},
            "routes": [
                {"tenant": TENANT, "unit": UNIT, "triggers": ["handoff"], "channel": "pctp-mail"}
            ],
            "retry_min_s": 0.05,
            "retry_max_s": 0.2,
            **extra,
        }
    )


async def open_incident(cases: Cases) -> Incident:
    now = utcnow()
    incident = Incident(
        id=f"inc-{now.timestamp()}",
        tenant=TENANT,
        title="Credential dumping on ws-ketoan-07",
        severity=Severity.high,
        group_key="g",
        group_values={"rule_id": "lsass-dump", "host": "ws-ketoan-07"},
        alerts=[
            AlertRef(id="a1", rule_id="lsass-dump", severity=Severity.high, time=now, host=None)
        ],
        alert_count=1,
        first_seen=now,
        last_seen=now,
        created=now,
        updated=now,
    )
    saved = await cases.incidents.put(incident)
    await cases.record(Change.of(saved, actor="system:group", action="open", time=now))
    return saved


async def hand_off(desk: Desk, incident: Incident) -> Incident:
    triaged = await desk.act(LEAD, incident.id, Triage(), version=incident.version)
    return await desk.act(LEAD, incident.id, HandOffTo(to_unit=UNIT), version=triaged.version)


def counted(result: str) -> float:
    value = REGISTRY.get_sample_value(
        "soc_notifications_total", {"channel": "email", "result": result}
    )
    return value or 0.0


async def audited(store: Store, action: str) -> list[dict[str, Any]]:
    page = await store.find_records(
        RecordQuery(kind=Kind.audit, tenants=None, terms={"action": [action]}, limit=100)
    )
    return [r.doc for r in page.items]


async def test_a_hand_off_is_one_mail_with_two_watches_and_two_senders(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    one, two = stores
    with smtp_server(tmp_path) as smtp:
        settings = notify_settings(smtp)
        cases = [Cases(one), Cases(two)]
        watches = [
            NotifyWatch(records=s, cases=c, notifier=Notifier(s, settings))
            for s, c in zip(stores, cases, strict=True)
        ]
        senders = [
            Sender(s, c.audit, settings, owner=f"api-{n}")
            for n, (s, c) in enumerate(zip(stores, cases, strict=True))
        ]
        for w in watches:  # both start before the hand-off: the trail is read from here
            await w.cursor()
        desk = Desk(one, cases[0], deadlines=DeadlinePolicy())
        incident = await hand_off(desk, await open_incident(cases[0]))
        sent_before = counted("sent")
        # Both read the trail (the cursor is shared: reset it so both see the hand-off).
        made = await asyncio.gather(*(w.read_trail() for w in watches))
        for w in watches:
            w._cursor = 0
        made += await asyncio.gather(*(w.read_trail() for w in watches))
        assert sum(made) == 1, "one outbox record for (hand-off, pctp-mail)"
        async with aiohttp.ClientSession() as http:
            sent = await asyncio.gather(*(s.run_once(http) for s in senders))
            sent += await asyncio.gather(*(s.run_once(http) for s in senders))
        assert sum(sent) == 1
        [mail] = smtp.box.mails
        assert f"chuyển cho {UNIT}" in mail["Subject"]
        text = mail.get_content()
        assert f"https://soc.hue.gov.vn/ui#/incidents/{incident.id}" in text
        assert "ws-ketoan-07" in text and "lsass-dump" in text
        [item] = (await senders[0].outbox.list(tenants=[TENANT])).items
        assert item.doc["state"] == OutboxState.sent and item.doc["attempts"] == 1
        [entry] = await audited(one, "notification.sent")
        assert entry["after"]["channel"] == "pctp-mail" and entry["tenant"] == TENANT
        assert counted("sent") == sent_before + 1
        # The unit rejects: no route takes rejections, so nothing more is sent.
        await desk.act(
            RESPONDER,
            incident.id,
            Reject(reason="không thuộc thẩm quyền"),
            version=incident.version,
        )
        assert await watches[0].read_trail() == 0


async def test_a_server_that_refuses_for_a_while_gets_the_mail_once(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store = stores[0]
    with smtp_server(tmp_path) as smtp:
        smtp.box.refuse = 3
        settings = notify_settings(smtp)
        cases = Cases(store)
        watch = NotifyWatch(records=store, cases=cases, notifier=Notifier(store, settings))
        sender = Sender(store, cases.audit, settings)
        await watch.cursor()
        await hand_off(Desk(store, cases, deadlines=DeadlinePolicy()), await open_incident(cases))
        assert await watch.read_trail() == 1
        failed_before = counted("failed")
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                await sender.run_once(http)
                if smtp.box.mails:
                    break
                await asyncio.sleep(0.05)
            for _ in range(5):  # nothing more goes out afterwards
                await sender.run_once(http)
        assert smtp.box.refused == 3 and len(smtp.box.mails) == 1
        [item] = (await sender.outbox.list(tenants=None)).items
        assert item.doc["state"] == "sent" and item.doc["attempts"] == 4
        assert len(await audited(store, "notification.failed")) == 3
        assert len(await audited(store, "notification.sent")) == 1
        assert counted("failed") == failed_before + 3


async def test_a_message_nobody_takes_is_given_up_at_its_age(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store = stores[0]
    async with webhook_receiver("right") as hook:
        settings = NotifySettings.model_validate(
            {
                "channels": {
                    "soc-hook": {"type": "webhook", "url": f"{hook.url}/hook", "secret": "wrong"}
                },
                "routes": [{"triggers": ["loss_detected"], "channel": "soc-hook"}],
                "retry_min_s": 0.01,
                "retry_max_s": 0.2,
                "give_up_s": 1.0,
            }
        )
        cases = Cases(store)
        notifier = Notifier(store, settings)
        sender = Sender(store, cases.audit, settings)
        made = await notifier.loss_detected(
            tenant=TENANT,
            connector="agent-1",
            source="dc01",
            stream="security",
            first=10,
            last=19,
            lost=10,
        )
        again = await notifier.loss_detected(
            tenant=TENANT,
            connector="agent-1",
            source="dc01",
            stream="security",
            first=10,
            last=19,
            lost=10,
        )
        assert len(made) == 1 and again == [], "one notice per gap"
        async with aiohttp.ClientSession() as http:
            for _ in range(500):
                await sender.run_once(http)
                current = await sender.outbox.get(made[0].id, tenants=None)
                if current is not None and current.state is OutboxState.given_up:
                    break
                await asyncio.sleep(0.02)
        [item] = (await sender.outbox.list(tenants=[TENANT])).items
        assert item.doc["state"] == "given_up"
        assert "401" in item.doc["last_error"]
        assert hook.accepted == [] and hook.refused == item.doc["attempts"] >= 2
        assert len(await audited(store, "notification.given_up")) == 1
        # kept notify.keep_days after the last attempt, then purged (pending ones never)
        await notifier.loss_detected(
            tenant=TENANT, connector="a", source="b", stream="c", first=1, last=1, lost=1
        )
        outbox = sender.outbox
        assert await outbox.purge(utcnow() - timedelta(days=1)) == 0
        assert await outbox.purge(utcnow() + timedelta(hours=1)) == 1
        [left] = (await outbox.list(tenants=None)).items
        assert left.doc["state"] == "pending"


async def test_a_deadline_80_percent_spent_is_told_once(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store = stores[0]
    with smtp_server(tmp_path) as smtp:
        settings = notify_settings(
            smtp,
            routes=[{"triggers": ["deadline_80"], "channel": "pctp-mail", "min_severity": "high"}],
        )
        cases = Cases(store)
        notifier = Notifier(store, settings)
        incident = await open_incident(cases)
        created = incident.created
        incident = await cases.incidents.put(
            incident.model_copy(
                update={
                    "deadlines": Deadlines(
                        severity=Severity.high,
                        acknowledge_due=created + timedelta(hours=1),
                        resolve_due=created + timedelta(hours=24),
                    )
                }
            )
        )
        early = created + timedelta(minutes=47)
        late = created + timedelta(minutes=49)
        assert await notifier.deadlines_near(incident, early) == []
        [made] = await notifier.deadlines_near(incident, late)
        assert await notifier.deadlines_near(incident, late + timedelta(minutes=1)) == []
        assert made.message.subject.startswith("Sắp quá hạn (acknowledge)")
        assert made.created.tzinfo is not None and made.created > datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_blind_drills_incident_is_told_unmarked_and_an_announced_ones_marked(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store = stores[0]
    with smtp_server(tmp_path) as smtp:
        notifier = Notifier(store, notify_settings(smtp))
        cases = Cases(store)
        book = DrillBook(store)
        subjects = {}
        for blind in (True, False):
            drill = Drill(
                id=f"drill-{blind}",
                scenario="web-portal-attack",
                title="Diễn tập",
                tenant=TENANT,
                speed=10,
                state=DrillState.running,
                blind=blind,
                created_by="lead.minh",
                created=utcnow(),
            )
            await book.create(drill)
            incident = await open_incident(cases)
            incident = await cases.incidents.put(incident.model_copy(update={"drill": drill.id}))
            [made] = await notifier.incident_event(
                "handoff", incident, key=f"k-{blind}", time=utcnow(), unit=UNIT
            )
            subjects[blind] = made.message.subject
        assert "DIỄN TẬP" not in subjects[True] and "drill-True" not in str(subjects[True])
        assert subjects[False].startswith("(DIỄN TẬP")


async def test_a_breached_deadline_is_told_from_the_deadline_watchs_audit_entry(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store = stores[0]
    with smtp_server(tmp_path) as smtp:
        settings = notify_settings(
            smtp, routes=[{"triggers": ["deadline_breached"], "channel": "pctp-mail"}]
        )
        cases = Cases(store)
        watch = NotifyWatch(records=store, cases=cases, notifier=Notifier(store, settings))
        await watch.cursor()
        incident = await open_incident(cases)
        due = incident.created + timedelta(minutes=15)
        await cases.incidents.put(
            incident.model_copy(
                update={"deadlines": Deadlines(severity=Severity.high, acknowledge_due=due)}
            )
        )
        later = due + timedelta(minutes=1)
        deadlines = DeadlineWatch(cases=cases, settings=IncidentSettings(), clock=lambda: later)
        assert len(await deadlines.check_once()) == 1
        assert await watch.read_trail() == 1
        async with aiohttp.ClientSession() as http:
            assert await Sender(store, cases.audit, settings).run_once(http) == 1
        [mail] = smtp.box.mails
        assert mail["Subject"].startswith("Đã quá hạn (acknowledge) [cao]")
