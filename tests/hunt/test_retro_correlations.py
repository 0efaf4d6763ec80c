"""Retro-hunts evaluate correlations over stored events as `soc hunt` does over the file.

The recorded auth.log (../shared/datasets/linux) is read as `soc hunt` reads it
(soc.ingest.readers: syslog, the connector's auth parser, then the same envelope and
normalization), and stored on each store. `soc hunt`'s body over the same file, with the
bundled rules, gives the correlation alerts the streaming evaluator raises
(tests/hunt/test_city_correlations.py derives them by hand from the log). A retro-hunt of
the shipped SSH brute-force correlation (and of the city's three SSH correlations) over the
stored events must list and raise exactly those alerts: same ids (rule, tenant, group,
window start), groups, windows and event ids; raise none of the base rules' alerts (their
correlations leave them silent); and raise nothing on a second run. The store reads newest
first, so the hunt is cut into small slices here, to cross many slice edges.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from soc.audit.trail import AuditTrail
from soc.bus import Bus, Topic
from soc.detect.catalog import RuleCatalog
from soc.detect.imports import import_text
from soc.detect.load import load_engine
from soc.evidence.export import export_incident
from soc.hunt.files import HuntCorrelation, HuntMatch, hunt
from soc.hunt.records import HuntRunner
from soc.hunt.retro import HuntScope, retro_hunt, slices
from soc.hunt.rules import hunt_rules
from soc.incidents.cases import Cases
from soc.incidents.grouping import GroupingPolicy, group
from soc.ingest.ndjson import object_event
from soc.ingest.readers import read_file
from soc.models import Event, utcnow
from soc.security.principal import Principal
from soc.settings import CorrelationSettings, DetectSettings
from soc.store import Store
from tests.hunt.test_city_correlations import (
    BRUTE_FORCE,
    EXPECTED,
    SILENT,
    SPRAYING,
    THEN_SUCCESS,
)
from tests.hunt.test_retro_hunt import published

TENANT = "hue-ioc"
SETTINGS = DetectSettings(cache_dir=None)
LEAD = Principal(name="lead.minh", role="lead", tenants=("*",))
SSH_FAILURE = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"


def auth_log(shared_dir: Path) -> Path:
    return shared_dir / "datasets/linux/auth.log"


@pytest.fixture(scope="module")
def events(shared_dir: Path) -> list[Event]:
    """The events `soc hunt` makes of auth.log (same ids, times and fields)."""
    received = utcnow()
    out = []
    for item in read_file(auth_log(shared_dir)):
        assert item.record is not None, item.error
        out.append(object_event(item.record, tenant=TENANT, source=item.source, received=received))
    assert len(out) == 7121
    return out


@pytest.fixture(scope="module")
def over_file(shared_dir: Path) -> dict[str, HuntCorrelation]:
    """`soc hunt`'s correlation lines over auth.log, by alert id."""
    found: list[HuntMatch | HuntCorrelation] = []
    hunt(
        [auth_log(shared_dir)],
        engine=load_engine(SETTINGS),
        on_match=found.append,
        tenant=TENANT,
        correlation=CorrelationSettings(),
    )
    lines = {m.alert_id: m for m in found if isinstance(m, HuntCorrelation)}
    by_rule = Counter(m.rule_id for m in lines.values())
    assert by_rule == {k: sum(v.values()) for k, v in EXPECTED.items()}
    return lines


@pytest.fixture
async def stored(store: Store, events: list[Event]) -> Store:
    for i in range(0, len(events), 1000):
        await store.put_events(events[i : i + 1000])
    return store


def scope_of(events: list[Event]) -> HuntScope:
    return HuntScope(
        tenants=[TENANT],
        since=min(e.time for e in events),
        until=max(e.time for e in events) + timedelta(seconds=1),
    )


def as_file_line(match: HuntMatch) -> HuntCorrelation:
    """A hunt result in `soc hunt`'s line (what the two must agree on)."""
    info = match.correlation
    assert info is not None and match.kind == "correlation"
    return HuntCorrelation(
        rule_id=match.rule_id,
        rule_title=match.rule_title,
        level=match.severity,
        type=info.type,
        group=info.group,
        value=info.value,
        window_start=info.window_start,
        window_end=info.window_end,
        event_ids=info.event_ids,
        alert_id=match.alert_id,
    )


async def test_slices_cover_the_range_in_ascending_order(
    stored: Store, events: list[Event]
) -> None:
    scope = scope_of(events)
    rules = hunt_rules(SETTINGS, ids=[BRUTE_FORCE]).rules
    pieces = await slices(stored, scope, rules, cap=500)
    assert pieces[0][0] == scope.since and pieces[-1][1] == scope.until
    assert all(a[1] == b[0] for a, b in pairwise(pieces))
    assert all(since < until for since, until in pieces)
    assert len(pieces) >= 7121 // 500
    sizes = Counter(next(i for i, (s, u) in enumerate(pieces) if s <= e.time < u) for e in events)
    assert sum(sizes.values()) == len(events)
    for i, n in sizes.items():  # more than the cap only in one second
        assert n <= 500 or pieces[i][1] - pieces[i][0] <= timedelta(seconds=1)


async def test_the_brute_force_correlation_raises_the_file_hunts_alerts_once(
    stored: Store, bus: Bus, events: list[Event], over_file: dict[str, HuntCorrelation]
) -> None:
    rules = hunt_rules(SETTINGS, ids=[BRUTE_FORCE])
    assert {r.id for r in rules.rules} == {SSH_FAILURE}
    assert [c.id for c in rules.correlations] == [BRUTE_FORCE]
    expected = {k: v for k, v in over_file.items() if v.rule_id == BRUTE_FORCE}
    grouper = await bus.subscribe(Topic.alerts, "grouper")
    scope = scope_of(events)

    first = await retro_hunt(
        stored, bus, rules.engine(), scope, hunt_id="h1", raise_alerts=True, batch=400,
        slice_events=600,
    )  # fmt: skip
    assert first.scanned == len({e.id for e in events})  # 5 lines repeat: stored once
    assert first.matches == first.correlation_matches == len(expected)  # the base rule is silent
    assert first.raised == len(expected)
    got = {m.alert_id: as_file_line(m) for m in first.preview}
    assert got == expected
    groups = Counter(m.correlation.group["src_ip"] for m in first.preview if m.correlation)
    assert groups == Counter(EXPECTED[BRUTE_FORCE])
    kept = await stored.get_alerts(list(expected), tenants=None)
    assert {a.id for a in kept} == set(expected)
    assert {(a.origin, a.hunt_id, a.rule_id) for a in kept} == {("retro-hunt", "h1", BRUTE_FORCE)}
    for alert in kept:
        assert alert.correlation is not None
        assert alert.correlation.event_ids == expected[alert.id].event_ids
        assert alert.correlation.condition == "gte 10"
    sent = await published(grouper)
    assert sorted(a.id for a in sent) == sorted(expected)

    again = await retro_hunt(
        stored, bus, rules.engine(), scope, hunt_id="h2", raise_alerts=True, batch=5000
    )
    assert (again.matches, again.raised) == (len(expected), 0)
    assert {m.alert_id for m in again.preview} == set(expected)
    assert all(m.stored and not m.raised for m in again.preview)
    assert await published(grouper) == []


async def test_the_city_ssh_correlations_through_the_runner(
    stored: Store, bus: Bus, events: list[Event], over_file: dict[str, HuntCorrelation]
) -> None:
    """By id through the runner (the API's and `soc hunt --store`'s): a correlation over a
    correlation (the login after the guessing, over its silent stage) comes with what it
    references."""
    rules = hunt_rules(SETTINGS, ids=[THEN_SUCCESS, SPRAYING, BRUTE_FORCE])
    assert {c.id for c in rules.correlations} == {THEN_SUCCESS, SPRAYING, BRUTE_FORCE} | (
        SILENT - {r.id for r in rules.rules}
    )
    assert {r.id for r in rules.rules} == SILENT - {c.id for c in rules.correlations}
    runner = HuntRunner(
        stored, bus, AuditTrail(stored), batch=1000, correlation=CorrelationSettings()
    )
    hunt_record = await runner.submit(LEAD, rules, scope_of(events), raise_alerts=False)
    assert {r.id for r in hunt_record.rules} == {THEN_SUCCESS, SPRAYING, BRUTE_FORCE} | SILENT
    done = await runner.wait(hunt_record.id)
    assert done is not None and done.state == "done", done
    assert done.raised == 0 and not await stored.get_alerts(list(over_file), tenants=None)
    assert done.matches == done.correlation_matches == len(over_file)
    assert {m.alert_id: as_file_line(m) for m in done.results} == over_file
    assert not {m.rule_id for m in done.results} & SILENT


async def test_a_base_rule_hunted_alone_lists_its_matches(
    stored: Store, events: list[Event]
) -> None:
    """Without a correlation in the hunt, nothing silences the base rule."""
    rules = hunt_rules(SETTINGS, ids=[SSH_FAILURE])
    assert rules.correlations == ()
    found = await retro_hunt(
        stored, None, rules.engine(), scope_of(events), hunt_id="b", raise_alerts=False
    )
    assert found.matches > 1000 and found.correlation_matches == 0
    assert {m.rule_id for m in found.preview} == {SSH_FAILURE}


RULES = Path(__file__).resolve().parents[2] / "soc/detections/rules"
UPLOADED = "0b6f2f5e-3c55-4f7e-9a5e-8d2c8c6f6a11"


def uploaded_correlation() -> str:
    """The shipped failure rule and brute force, plus a copy of the brute force that is in
    no rule file (another id, name and title): as a lead would upload it."""
    sshd = RULES / "linux/sshd"
    shipped = (sshd / "lnx_sshd_brute_force.yml").read_text()
    copy = (
        shipped.replace(BRUTE_FORCE, UPLOADED)
        .replace("name: lnx_sshd_brute_force", "name: lnx_sshd_brute_force_uploaded")
        .replace("title: SSH Brute Force From One Address", "title: Uploaded SSH brute force")
    )
    assert copy.count(UPLOADED) == 1 and "Uploaded SSH" in copy
    failure = (sshd / "lnx_sshd_password_failure.yml").read_text()
    return "\n---\n".join([failure, shipped, copy])


async def test_a_correlation_incidents_evidence_holds_its_rules_and_events(
    stored: Store, bus: Bus, events: list[Event], over_file: dict[str, HuntCorrelation]
) -> None:
    """The evidence bundle finds a correlation alert's rule by its id: in the rule files,
    or (uploaded, in no file) in the rule catalog; and holds the events it counted."""
    text = uploaded_correlation()
    catalog = RuleCatalog(stored, AuditTrail(stored))
    imported = await import_text(catalog, LEAD, "upload.yml", text, SETTINGS)
    assert imported.accepted, imported
    rules = hunt_rules(SETTINGS, text=text)
    scope = scope_of(events)
    found = await retro_hunt(stored, bus, rules.engine(), scope, hunt_id="e", raise_alerts=True)
    raised = await stored.get_alerts([m.alert_id for m in found.preview], tenants=None)
    attacker = [
        a
        for a in raised
        if a.correlation is not None
        and a.correlation.group == {"src_ip": "24.151.103.17"}
        and a.correlation.window_start.strftime("%m-%d %H:%M:%S") == "03-30 15:54:19"
    ]
    assert {a.rule_id for a in attacker} == {BRUTE_FORCE, UPLOADED}
    assert {a.id for a in attacker if a.rule_id == BRUTE_FORCE} <= set(over_file)
    (incident,) = group(
        attacker, open_incidents=[], policy=GroupingPolicy(keys=("host",)), now=utcnow()
    ).changed
    cases = Cases(stored)
    incident = await cases.incidents.put(incident)

    export = await export_incident(
        stored, cases, incident, actor="lead.minh", rules_dirs=[RULES], catalog=catalog
    )
    with zipfile.ZipFile(io.BytesIO(export.data)) as z:
        index = json.loads(z.read("rules/index.json"))
        by_id = {r["id"]: r for r in index["rules"]}
        assert index["missing"] == []
        assert (
            by_id[BRUTE_FORCE]["path"] == (RULES / "linux/sshd/lnx_sshd_brute_force.yml").as_posix()
        )
        assert by_id[UPLOADED]["path"] == f"catalog:{UPLOADED}@1"
        assert z.read(by_id[UPLOADED]["file"]).decode() == text
        assert by_id[UPLOADED]["version"] == "2026-12-05"
        kept = {
            n.removeprefix("events/").removesuffix(".json")
            for n in z.namelist()
            if n.startswith("events/")
        }
    counted = {i for a in attacker for i in (a.correlation.event_ids if a.correlation else [])}
    assert len(counted) == 10 and kept == counted

    # Without the catalog, the uploaded correlation is named missing (as before).
    plain = await export_incident(stored, cases, incident, actor="lead.minh", rules_dirs=[RULES])
    with zipfile.ZipFile(io.BytesIO(plain.data)) as z:
        index = json.loads(z.read("rules/index.json"))
    assert [m["id"] for m in index["missing"]] == [UPLOADED]
