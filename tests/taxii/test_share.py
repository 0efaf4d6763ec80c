"""Sharing out by policy, against a real TAXII 2.1 server (medallion, memory backend), on
each store: an incident handed off under an "at hand-off" policy lands in the collection
with its TLP and without personal data, exactly once; a change lands as new versions of the
same objects; a server refusing for a while delays the share and loses nothing; TLP:RED is
never sent; an "approval" policy waits for a lead; a "close" policy shares when a lead
closes the incident, not at its hand-off."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.evidence.stix import TLP2_EXTENSION, TLP2_IDS
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.desk import Desk
from soc.incidents.lifecycle import Close, HandOffTo, Recall, Resolve, StartResponse, Triage
from soc.incidents.models import AlertRef, Change, Incident, Observable, ObservableType
from soc.models import Severity, utcnow
from soc.security.roles import UserPrincipal
from soc.settings import SharingSettings
from soc.sharing.desk import SharingDesk
from soc.sharing.jobs import Shares
from soc.sharing.models import ShareJob, ShareState
from soc.sharing.objects import StixObjects
from soc.sharing.sender import ShareSender
from soc.sharing.watch import ShareWatch
from soc.store import Store
from soc.store.records import Kind, RecordQuery
from tests.stores import BACKENDS, fresh_store
from tests.taxii.medallion import Collection, Medallion, medallion

TENANT = "hue-ioc"
UNIT = "CAT-PCTP"
LEAD = UserPrincipal(name="lead.minh", role="lead", tenants=(TENANT,))
ANALYST = UserPrincipal(name="analyst.lan", role="analyst", tenants=(TENANT,))
ACCOUNT = "HUE\\nguyen.van.an"
PRIVATE_IP = "10.20.30.40"
OWN_PUBLIC_IP = "113.160.10.5"
"""In the tenant's configured ``internal_networks``: redacted although public."""
ATTACKER_IP = "45.77.10.20"
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ALIAS = "national"


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


def settings_for(server: Medallion, when: str = "handoff", redact: bool = True) -> SharingSettings:
    return SharingSettings.model_validate(
        {
            "targets": {
                "national": {
                    "display_name": "the national platform",
                    "collection_url": server.collection_url(ALIAS),
                    "user": server.user,
                    "password": server.password,
                    "timeout_s": 5,
                }
            },
            "tenants": {
                TENANT: {
                    "when": when,
                    "redact": redact,
                    "internal_networks": ["113.160.10.0/24"],
                    "targets": ["national"],
                    "publish": False,  # the SOC's own collection: tests/taxii/test_publish.py
                }
            },
            "retry_min_s": 0.05,
            "retry_max_s": 0.2,
            "status_wait_s": 10,
        }
    )


def observable(kind: ObservableType, value: str) -> Observable:
    return Observable(type=kind, value=value, first_seen=utcnow(), field="test")


async def open_incident(cases: Cases) -> Incident:
    now = utcnow()
    incident = Incident(
        id=f"inc-{now.timestamp()}",
        tenant=TENANT,
        title=f"Brute force on {ACCOUNT} from {PRIVATE_IP}",
        severity=Severity.high,
        group_key="g",
        group_values={"rule_id": "ssh-brute", "host": "srv-web-01"},
        alerts=[AlertRef(id="a1", rule_id="ssh-brute", severity=Severity.high, time=now)],
        alert_count=1,
        first_seen=now,
        last_seen=now,
        created=now,
        updated=now,
        observables=[
            observable(ObservableType.account, ACCOUNT),
            observable(ObservableType.ip, PRIVATE_IP),
            observable(ObservableType.ip, OWN_PUBLIC_IP),
            observable(ObservableType.ip, ATTACKER_IP),
            observable(ObservableType.hash, HASH),
            observable(ObservableType.host, "srv-web-01"),
            observable(ObservableType.url, f"http://{PRIVATE_IP}/winx64_payload.exe"),
        ],
    )
    saved = await cases.incidents.put(incident)
    await cases.record(Change.of(saved, actor="system:group", action="open", time=now))
    return saved


async def hand_off(desk: Desk, incident: Incident) -> Incident:
    triaged = await desk.act(LEAD, incident.id, Triage(), version=incident.version)
    return await desk.act(LEAD, incident.id, HandOffTo(to_unit=UNIT), version=triaged.version)


class Rig:
    def __init__(self, store: Store, settings: SharingSettings) -> None:
        self.store = store
        self.cases = Cases(store)
        self.desk = Desk(store, self.cases, deadlines=DeadlinePolicy())
        self.watch = ShareWatch(records=store, cases=self.cases, settings=settings)
        self.sender = ShareSender(store, self.cases, settings, rules_dirs=[])
        self.sharing = SharingDesk(self.cases, Shares(store), settings)

    async def jobs(self, incident: Incident) -> list[ShareJob]:
        return await self.sender.shares.of_incident(incident.id, tenants=[TENANT])

    async def audited(self, action: str) -> list[dict[str, Any]]:
        page = await self.store.find_records(
            RecordQuery(kind=Kind.audit, tenants=None, terms={"action": [action]}, limit=100)
        )
        return [r.doc for r in page.items]


def versions(objects: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((o["id"], str(o.get("modified") or o.get("created") or "")) for o in objects)


def of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


async def test_handed_off_incident_is_shared_once_with_its_tlp_redacted_and_again_when_changed(
    store: Store,
) -> None:
    with medallion([Collection(ALIAS, "National platform")]) as server:
        rig = Rig(store, settings_for(server))
        await rig.watch.cursor()
        incident = await open_incident(rig.cases)
        incident = await rig.desk.set_tlp(ANALYST, incident.id, "green", version=incident.version)
        await hand_off(rig.desk, incident)
        assert await rig.watch.read_trail() == 1
        assert await rig.sender.run_once() == 1

        held = server.objects(ALIAS)
        assert max(versions(held).values()) == 1, "every object version once"
        [inc] = of_type(held, "incident")
        assert inc["object_marking_refs"] == [TLP2_IDS["green"]]
        [marking] = of_type(held, "marking-definition")
        assert marking["id"] == TLP2_IDS["green"]
        assert marking["extensions"][TLP2_EXTENSION]["tlp_2_0"] == "green"
        text = str(held)
        for secret in ("nguyen.van.an", PRIVATE_IP, OWN_PUBLIC_IP, "srv-web-01"):
            assert secret not in text, secret
        assert not of_type(held, "user-account") and not of_type(held, "url")
        assert [o["value"] for o in of_type(held, "ipv4-addr")] == [ATTACKER_IP]
        assert "[redacted]" in inc["name"]
        patterns = {o["pattern"] for o in of_type(held, "indicator")}
        assert patterns == {
            f"[ipv4-addr:value = '{ATTACKER_IP}']",
            f"[file:hashes.'SHA-256' = '{HASH}']",
        }
        [job] = await rig.jobs(incident)
        assert job.state is ShareState.shared and job.tlp == "green" and job.redacted
        assert job.sent == len(held) and job.accepted == len(held)
        [entry] = await rig.audited("incident.shared")
        assert entry["actor"] == "system:sharing"
        assert entry["after"]["requested_by"] == LEAD.name
        assert entry["after"]["status_id"] == job.status_id and job.status_id
        assert len(entry["after"]["bundle_sha256"]) == 64
        views = await rig.sharing.shares(incident)
        assert views[0].target_name == "the national platform"

        # A replayed audit entry enqueues nothing; another job for the same incident sends
        # nothing the server holds.
        [handoff] = await rig.audited("incident.hand_off")
        replay = await rig.cases.audit.entries(tenants=None, after_seq=handoff["seq"] - 1, limit=1)
        assert await rig.watch.from_audit(replay[0]) == 0
        assert await rig.watch.check_updates() == 0, "unchanged since shared"
        extra = ShareJob(
            id="again",
            key="again",
            trigger="approval",
            tenant=TENANT,
            incident=incident.id,
            target="national",
            requested_by=LEAD.name,
            created=utcnow(),
            next_at=utcnow(),
        )
        await rig.sender.shares.enqueue(extra)
        assert await rig.sender.run_once() == 1
        again = await rig.sender.shares.get("again")
        assert again is not None and again.state is ShareState.shared and again.sent == 0
        assert versions(server.objects(ALIAS)) == versions(held)

        # A change (an alert folded in with a new address): new versions, same ids.
        current = await rig.cases.incidents.get(incident.id, tenants=None)
        assert current is not None
        later = current.updated + timedelta(seconds=5)
        changed = current.model_copy(
            update={
                "updated": later,
                "observables": [*current.observables, observable(ObservableType.ip, "45.77.10.21")],
            }
        )
        await rig.cases.incidents.put(changed)
        assert await rig.watch.check_updates() == 1
        assert await rig.watch.check_updates() == 0, "one job per change"
        assert await rig.sender.run_once() == 1
        after = server.objects(ALIAS)
        assert max(versions(after).values()) == 1
        incidents = of_type(after, "incident")
        assert len(incidents) == 2 and len({o["id"] for o in incidents}) == 1
        assert (
            sorted(o["modified"] for o in incidents)[0]
            < sorted(o["modified"] for o in incidents)[1]
        )
        assert len(of_type(after, "report")) == 2
        assert {o["value"] for o in of_type(after, "ipv4-addr")} == {ATTACKER_IP, "45.77.10.21"}
        own = await StixObjects(store).get_versions(TENANT, inc["id"])
        assert len(own) == 2, "the tenant's own collection holds both versions"


async def test_a_server_refusing_for_a_while_delays_the_share_and_loses_nothing(
    store: Store,
) -> None:
    with medallion([Collection(ALIAS, "National platform")], start=False) as server:
        rig = Rig(store, settings_for(server, redact=False))
        await rig.watch.cursor()
        incident = await hand_off(rig.desk, await open_incident(rig.cases))
        assert await rig.watch.read_trail() == 1
        for _ in range(3):
            assert await rig.sender.run_once() == 0
            await asyncio.sleep(0.25)
        [job] = await rig.jobs(incident)
        assert job.state is ShareState.pending and job.attempts >= 2
        assert job.last_error and "Connection" in job.last_error
        assert await rig.audited("incident.share_failed")
        server.start()
        await asyncio.sleep(0.25)
        assert await rig.sender.run_once() == 1
        held = server.objects(ALIAS)
        assert max(versions(held).values()) == 1
        assert of_type(held, "user-account"), "not redacted under this policy"
        [inc] = of_type(held, "incident")
        assert inc["object_marking_refs"] == [TLP2_IDS["amber"]], "the policy's default TLP"
        [job] = await rig.jobs(incident)
        assert job.state is ShareState.shared and job.last_error is None


async def test_red_is_never_sent_and_approval_waits_for_a_lead(store: Store) -> None:
    with medallion([Collection(ALIAS, "National platform")]) as server:
        rig = Rig(store, settings_for(server))
        await rig.watch.cursor()
        red = await open_incident(rig.cases)
        red = await rig.desk.set_tlp(ANALYST, red.id, "red", version=red.version)
        await hand_off(rig.desk, red)
        assert await rig.watch.read_trail() == 1
        assert await rig.sender.run_once() == 0
        [job] = await rig.jobs(red)
        assert job.state is ShareState.withheld and "RED" in (job.last_error or "")
        assert server.objects(ALIAS) == []

        rig = Rig(store, settings_for(server, when="approval"))
        incident = await hand_off(rig.desk, await open_incident(rig.cases))
        assert await rig.watch.read_trail() == 0, "a hand-off alone shares nothing"
        assert server.objects(ALIAS) == []
        approval = await rig.sharing.approve(LEAD, incident)
        assert approval.targets == ["national"] and approval.tlp == "amber"
        assert await rig.watch.read_trail() == 1
        other = ShareSender(store, rig.cases, rig.sender.settings, rules_dirs=[], owner="api-2")
        done = await asyncio.gather(rig.sender.run_once(), other.run_once())
        assert sum(done) == 1, "two senders: one claims the job"
        assert of_type(server.objects(ALIAS), "incident")
        assert max(versions(server.objects(ALIAS)).values()) == 1
        [job] = await rig.jobs(incident)
        assert job.trigger == "approval" and job.requested_by == LEAD.name


async def test_close_policy_shares_when_a_lead_closes_and_not_at_hand_off(store: Store) -> None:
    with medallion([Collection(ALIAS, "National platform")]) as server:
        rig = Rig(store, settings_for(server, when="close"))
        await rig.watch.cursor()
        incident = await open_incident(rig.cases)
        incident = await rig.desk.set_tlp(ANALYST, incident.id, "green", version=incident.version)
        incident = await hand_off(rig.desk, incident)
        assert await rig.watch.read_trail() == 0, "a hand-off shares nothing under 'close'"
        assert await rig.sender.run_once() == 0
        assert await rig.jobs(incident) == [] and server.objects(ALIAS) == []

        for command in (Recall(reason="the unit is away"), StartResponse()):
            incident = await rig.desk.act(LEAD, incident.id, command, version=incident.version)
        incident = await rig.desk.act(
            ANALYST, incident.id, Resolve(summary="Host reimaged"), version=incident.version
        )
        assert await rig.watch.read_trail() == 0, "nor does resolving it"
        assert server.objects(ALIAS) == []

        closed = await rig.desk.act(LEAD, incident.id, Close(), version=incident.version)
        assert await rig.watch.read_trail() == 1
        assert await rig.watch.read_trail() == 0, "the close is read once"
        assert await rig.sender.run_once() == 1
        held = server.objects(ALIAS)
        assert max(versions(held).values()) == 1
        [inc] = of_type(held, "incident")
        assert inc["object_marking_refs"] == [TLP2_IDS["green"]]
        assert ATTACKER_IP in {o.get("value") for o in of_type(held, "ipv4-addr")}
        [job] = await rig.jobs(closed)
        assert job.trigger == "close" and job.requested_by == LEAD.name
        assert job.state is ShareState.shared and job.accepted == len(held)
        [entry] = await rig.audited("incident.shared")
        assert entry["after"]["requested_by"] == LEAD.name
