"""Retro-hunts over stored recorded events, on both stores: the detector's alerts, never twice.

The store holds the 2,673 recorded OTRF events (tests/contract/_events.py) and the
alerts the streaming detector raised on them with the bundled rules. A SigmaHQ rule
that is not bundled is then hunted as pasted YAML: it must raise exactly the alerts
the detector's matching (``Engine.match`` + ``make_alert``, what soc.stages.detect
runs) gives on the same events, with the same ids, published on the alerts topic;
a second run raises none; a preview raises nothing; a bundled rule hunted by id
raises nothing the detector already raised; a cancel stops a running hunt.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from soc.bus import Bus, Subscription, Topic
from soc.bus.codec import decode
from soc.detect.engine import Engine
from soc.detect.load import load_engine
from soc.detect.rule import make_alert
from soc.errors import Conflict, QueryError
from soc.hunt.records import Hunt, HuntRunner
from soc.hunt.retro import HuntMatch, HuntProgress, HuntScope, narrowing, retro_hunt
from soc.hunt.rules import HuntRules, hunt_rules
from soc.incidents.cases import Cases
from soc.models import Alert
from soc.security.principal import Principal
from soc.settings import DetectSettings
from soc.store import Store
from soc.store.eventquery import Equals
from tests.contract._events import A, B, recorded

EVENTS = recorded()
SCOPE = HuntScope(
    tenants=None,
    since=min(e.time for e in EVENTS),
    until=max(e.time for e in EVENTS) + timedelta(seconds=1),
)
NEW_RULE = (
    "rules/windows/process_creation/proc_creation_win_susp_local_system_owner_account_discovery.yml"
)
"""SigmaHQ's "Local Accounts Discovery": fires on the recording, and is not a bundled rule."""
BUNDLED_FIRING = "693a44e9-7f26-4cb6-b787-214867672d3a"
"""A bundled rule that fires on the recording (Sysmon File Executable Creation Detected)."""
SETTINGS = DetectSettings(cache_dir=None)
LEAD = Principal(name="lead.minh", role="lead", tenants=("*",))


def detector_alerts(engine: Engine) -> list[Alert]:
    """What the streaming detector raises on the recorded events: its matching, its alerts."""
    return [make_alert(rule, event) for event in EVENTS for rule in engine.match(event)]


@pytest.fixture
async def stored(store: Store) -> Store:
    """The events, and the bundled rules' alerts as the detector stored them."""
    for i in range(0, len(EVENTS), 500):
        await store.put_events(EVENTS[i : i + 500])
    raised = detector_alerts(load_engine(SETTINGS))
    assert raised, "the bundled rules fire on the recording"
    await store.put_alerts(raised)
    return store


def new_rule(shared_dir: Path) -> HuntRules:
    text = (shared_dir / "sigma" / NEW_RULE).read_text(encoding="utf-8")
    return hunt_rules(SETTINGS, text=text)


async def published(sub: Subscription) -> list[Alert]:
    """What the grouping stage would be given next."""
    alerts: list[Alert] = []
    while batch := await sub.poll(max_records=1000, timeout_s=0.2):
        decoded, bad = decode(Alert, batch)
        assert not bad
        alerts += decoded
    await sub.commit()
    return alerts


async def test_a_new_rule_raises_the_detectors_alerts_once(
    stored: Store, bus: Bus, shared_dir: Path
) -> None:
    rules = new_rule(shared_dir)
    assert [r.id for r in rules.rules] == ["502b42de-4306-40b4-9596-6f590c81f073"]
    expected = {a.id: a for a in detector_alerts(rules.engine())}
    assert len(expected) >= 4
    assert not await stored.get_alerts(list(expected), tenants=None)
    grouper = await bus.subscribe(Topic.alerts, "grouper")  # subscribed before any alert

    first = await retro_hunt(stored, bus, rules.engine(), SCOPE, hunt_id="h1", raise_alerts=True)
    assert first.scanned == len(EVENTS)
    assert first.matches == first.raised == len(expected)
    assert {m.alert_id for m in first.preview} == set(expected)
    kept = await stored.get_alerts(list(expected), tenants=None)
    assert {a.id for a in kept} == set(expected)
    for alert in kept:
        same = expected[alert.id]
        assert (alert.rule_id, alert.event_id, alert.tenant, alert.time) == (
            same.rule_id,
            same.event_id,
            same.tenant,
            same.time,
        )
        assert (alert.origin, alert.hunt_id) == ("retro-hunt", "h1")
    sent = await published(grouper)
    assert sorted(a.id for a in sent) == sorted(expected)

    again = await retro_hunt(stored, bus, rules.engine(), SCOPE, hunt_id="h2", raise_alerts=True)
    assert (again.matches, again.raised) == (len(expected), 0)
    assert all(m.stored and not m.raised for m in again.preview)
    assert await published(grouper) == []
    assert {a.hunt_id for a in await stored.get_alerts(list(expected), tenants=None)} == {"h1"}


async def test_a_preview_raises_nothing(stored: Store, bus: Bus, shared_dir: Path) -> None:
    rules = new_rule(shared_dir)
    found = await retro_hunt(stored, bus, rules.engine(), SCOPE, hunt_id="p", raise_alerts=False)
    assert found.matches == len(detector_alerts(rules.engine())) > 0
    assert found.raised == 0
    assert not any(m.stored for m in found.preview)
    assert not await stored.get_alerts([m.alert_id for m in found.preview], tenants=None)


async def test_a_loaded_rule_raises_nothing_the_detector_raised(stored: Store, bus: Bus) -> None:
    rules = hunt_rules(SETTINGS, ids=[BUNDLED_FIRING])
    found = await retro_hunt(stored, bus, rules.engine(), SCOPE, hunt_id="h", raise_alerts=True)
    assert found.matches >= 3
    assert found.raised == 0
    assert all(m.stored for m in found.preview)


async def test_tenants_and_range_bound_the_hunt(stored: Store, bus: Bus, shared_dir: Path) -> None:
    rules = new_rule(shared_dir)
    only_b = SCOPE.model_copy(update={"tenants": [B]})
    found = await retro_hunt(stored, bus, rules.engine(), only_b, hunt_id="b", raise_alerts=False)
    assert found.scanned == sum(1 for e in EVENTS if e.tenant == B)
    assert found.matches == 0  # its copies (every tenth event) hold none of the matches
    only_a = SCOPE.model_copy(update={"tenants": [A]})
    of_a = await retro_hunt(stored, bus, rules.engine(), only_a, hunt_id="a", raise_alerts=False)
    assert of_a.scanned == sum(1 for e in EVENTS if e.tenant == A)
    assert of_a.matches > 0 and {m.tenant for m in of_a.preview} == {A}
    empty = SCOPE.model_copy(update={"until": SCOPE.since})
    none = await retro_hunt(stored, bus, rules.engine(), empty, hunt_id="e", raise_alerts=False)
    assert (none.scanned, none.matches) == (0, 0)


def test_the_scan_is_narrowed_to_the_rules_products(shared_dir: Path) -> None:
    assert narrowing(new_rule(shared_dir).rules) == Equals("logsource.product", "windows")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("title: x\nlogsource: {product: windows}\ndetection: {sel: {a: 1}}\n", "condition"),
        ("title: [unclosed\n", "invalid YAML"),
        ("just a string\n", "not a Sigma rule"),
        (
            "title: t\nlogsource: {product: windows}\n"
            "detection: {sel: {a|nosuchmodifier: 1}, condition: sel}\n",
            "nosuchmodifier",
        ),
    ],
)
def test_a_rule_that_does_not_compile_says_why(text: str, why: str) -> None:
    with pytest.raises(QueryError, match=why):
        hunt_rules(SETTINGS, text=text)


def test_an_unknown_rule_id_is_refused() -> None:
    with pytest.raises(QueryError, match="no loaded rule has the id nope"):
        hunt_rules(SETTINGS, ids=["nope"])


async def test_cancel_stops_a_running_hunt(stored: Store, bus: Bus, shared_dir: Path) -> None:
    audit = Cases(stored).audit
    runner = HuntRunner(stored, bus, audit, batch=10)
    cancels: list[asyncio.Task[Hunt]] = []

    def cancel_after_the_first_batch(progress: HuntProgress, _: list[HuntMatch]) -> None:
        if not cancels:  # as a lead's POST /hunts/{id}/cancel arriving meanwhile
            cancels.append(asyncio.create_task(runner.cancel(LEAD, hunt.id, tenants=None)))

    hunt = await runner.submit(
        LEAD, new_rule(shared_dir), SCOPE, raise_alerts=True, watch=cancel_after_the_first_batch
    )
    assert hunt.state == "queued"
    cancelled = await cancels[0] if cancels else await runner.wait(hunt.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert cancelled.total == len(EVENTS)
    assert 10 <= cancelled.scanned < len(EVENTS)
    found = await runner.book.read(hunt.id)
    assert found is not None and found[0] == cancelled
    actions = [(e.action, e.target) async for e in audit.each()]
    assert actions == [("hunt.start", f"hunt:{hunt.id}"), ("hunt.cancelled", f"hunt:{hunt.id}")]


async def test_cancel_ends_a_queued_hunt_at_once(stored: Store, bus: Bus, shared_dir: Path) -> None:
    audit = Cases(stored).audit
    runner = HuntRunner(stored, bus, audit, batch=100, running_max=1)
    rules = new_rule(shared_dir)
    first = await runner.submit(LEAD, rules, SCOPE, raise_alerts=False)
    second = await runner.submit(LEAD, rules, SCOPE, raise_alerts=False)
    cancelled = await runner.cancel(LEAD, second.id, tenants=None)
    assert (cancelled.state, cancelled.started, cancelled.scanned) == ("cancelled", None, 0)
    done = await runner.wait(first.id)
    assert done is not None and (done.state, done.scanned) == ("done", len(EVENTS))
    after = await runner.wait(second.id)
    assert after is not None and after.state == "cancelled"
    ends = [e.action async for e in audit.each() if e.target == f"hunt:{second.id}"]
    assert ends == ["hunt.start", "hunt.cancelled"]
    with pytest.raises(Conflict):
        await runner.cancel(LEAD, second.id, tenants=None)


async def test_a_finished_hunt_is_recorded_and_audited(
    stored: Store, bus: Bus, shared_dir: Path
) -> None:
    audit = Cases(stored).audit
    runner = HuntRunner(stored, bus, audit)
    rules = new_rule(shared_dir)
    hunt = await runner.submit(LEAD, rules, SCOPE, raise_alerts=True)
    done = await runner.wait(hunt.id)
    assert done is not None and done.state == "done", done
    expected = detector_alerts(rules.engine())
    assert (done.scanned, done.total) == (len(EVENTS), len(EVENTS))
    assert done.matches == done.raised == len(expected)
    assert [r.id for r in done.rules] == [rules.rules[0].id]
    assert done.rule_sha256 == rules.sha256 and done.rule_text == rules.text
    assert sorted(m.alert_id for m in done.results) == sorted(a.id for a in expected)
    assert [h.id for h in await runner.book.list(tenants=None)] == [hunt.id]
    assert await runner.book.list(tenants=[A]) == []  # it ran over every tenant
    entries = [e async for e in audit.each()]
    assert [e.action for e in entries] == ["hunt.start", "hunt.done"]
    end = entries[1].after or {}
    assert end["rule_sha256"] == rules.sha256
    assert (end["matches"], end["raised"], end["tenants"]) == (len(expected), len(expected), None)
    assert end["rules"] == [{"id": rules.rules[0].id, "title": rules.rules[0].title}]
    assert entries[0].actor == "lead.minh"


async def test_an_alert_keeps_its_origin_in_the_store(store: Store) -> None:
    """Streaming alerts are unchanged (origin "stream"); a hunt's keep its origin and id."""
    engine = load_engine(SETTINGS)
    streamed, hunted = detector_alerts(engine)[:2]
    hunted = hunted.model_copy(update={"origin": "retro-hunt", "hunt_id": "hunt-1"})
    await store.put_alerts([streamed, hunted])
    got = {a.id: a for a in await store.get_alerts([streamed.id, hunted.id], tenants=None)}
    assert (got[streamed.id].origin, got[streamed.id].hunt_id) == ("stream", None)
    assert got[hunted.id] == hunted
    assert hunted.id == Alert.make_id(rule_id=hunted.rule_id, event_id=hunted.event_id)
