"""Sigma filters: loaded beside the rules, scoped to rules and tenants, applied in the engine.

The rules are the shipped ones (soc/detections/rules, with the detector's default
pipelines) and the events the bundled OTRF LSASS slice (soc/sample), normalized as
at ingest. On it, five process_creation rules raise six alerts (``PROCESS_ALERTS``,
named by the event's ProcessId); each filter below must remove exactly the alerts
its condition excludes and keep every other alert of the recording.

As in pySigma (SigmaFilter.apply_on_rule), a filter's condition is ANDed to its
rules' conditions: an exclusion reads ``condition: not selection``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from soc.bus import Topic, build_bus
from soc.bus.codec import encode
from soc.detect.engine import Engine
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rule_text, load_rules
from soc.ingest.normalize import normalize
from soc.metrics import EVENTS_FILTERED
from soc.models import Alert, AlertQuery, Event
from soc.settings import BusSettings, DetectSettings, SqliteSettings
from soc.stages.detect import Detector
from soc.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"
PIPELINES = ["windows", "placeholders"]
RECEIVED = datetime(2023, 8, 15, 10, 5, tzinfo=UTC)
TENANT, OTHER = "police-north", "water-south"

METERPRETER = "15619216-e993-4721-b590-4c520615a67d"
"""Potential Meterpreter/CobaltStrike Activity: fires on a Sysmon 1 and a Security 4688."""
WHOAMI_GROUPS = "bd8b828d-0dca-48e1-8a63-8a58ecf2644f"
WHOAMI_PRIVILEGED = "79ce34ca-af29-4d0e-b832-fc1b377020db"
ELEVATED_SHELL = "178e615d-e666-498b-9630-9ed363038101"
REG_HIVES = "fd877b94-9bb5-4191-bb25-d79cbd93c167"
DPAPI_BACKUP = "39a94fd1-8c9a-4ff6-bf22-c058762f8014"
"""DPAPI Domain Master Key Backup Attempt: a windows/security rule, not process_creation."""

PROCESS_ALERTS = {
    (METERPRETER, "0x25c"),  # Security 4688: rundll32 of a temp DLL, by services.exe
    (METERPRETER, "1064"),  # the same in Sysmon, as NT AUTHORITY\SYSTEM
    (WHOAMI_GROUPS, "6828"),  # whoami  /groups, PANDALAB\pedro.gustavo, High
    (ELEVATED_SHELL, "6924"),  # cmd.exe as SYSTEM from Downloads\winx64_payload.exe
    (WHOAMI_PRIVILEGED, "5324"),  # whoami as SYSTEM
    (REG_HIVES, "6056"),  # reg export, PANDALAB\pedro.gustavo, High
}


def recorded(tenant: str = TENANT) -> list[Event]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    records = [json.loads(line) for line in gzip.decompress(data).splitlines()]
    return [normalize(r, tenant=tenant, source="otrf-lsass", received=RECEIVED) for r in records]


EVENTS = recorded()


def filter_yaml(
    detection: str,
    *,
    rules: Sequence[str] | str = (METERPRETER,),
    logsource: str = "{product: windows, category: process_creation}",
    extra: str = "",
    title: str = "Tuning",
) -> str:
    refs = rules if isinstance(rules, str) else "[" + ", ".join(rules) + "]"
    body = "\n".join("    " + line for line in detection.strip().splitlines())
    return f"title: {title}\n{extra}logsource: {logsource}\nfilter:\n    rules: {refs}\n{body}\n"


def load(folder: Path, *filters: str, rules: Path = RULES, cache: Path | None = None) -> RuleSet:
    """The shipped rules, and the filters as files of a folder beside them."""
    (folder / "filters").mkdir(exist_ok=True)
    for n, text in enumerate(filters):
        (folder / "filters" / f"mf_tuning_{n}.yml").write_text(text, encoding="utf-8")
    return load_rules([rules, folder / "filters"], pipelines=PIPELINES, cache_dir=cache)


def fired(engine: Engine, events: Iterable[Event] = EVENTS) -> set[tuple[str, str]]:
    """(rule id, ProcessId or event id) of every alert the engine raises on the events."""
    return {
        (rule.id, str(e.fields.get("ProcessId", e.id))) for e in events for rule in engine.match(e)
    }


@pytest.fixture(scope="module")
def unfiltered() -> set[tuple[str, str]]:
    ruleset = load_rules([RULES], pipelines=PIPELINES)
    assert ruleset.errors == () and ruleset.filters == ()
    alerts = fired(Engine.from_ruleset(ruleset))
    assert alerts >= PROCESS_ALERTS and len(alerts) > len(PROCESS_ALERTS)
    return alerts


def filtered_by(
    folder: Path, unfiltered: set[tuple[str, str]], *filters: str
) -> set[tuple[str, str]]:
    """The alerts of the recording that the filters remove."""
    ruleset = load(folder, *filters)
    assert ruleset.errors == ()
    alerts = fired(Engine.from_ruleset(ruleset))
    assert alerts <= unfiltered
    return unfiltered - alerts


PROCESS_RULES = sorted({rule for rule, _ in PROCESS_ALERTS})


@pytest.mark.parametrize(
    ("detection", "removed"),
    [
        pytest.param(
            "selection:\n  Image|endswith: ['\\whoami.exe', '\\reg.exe']\ncondition: not selection",
            {"6828", "5324", "6056"},
            id="endswith-list",
        ),
        pytest.param(
            # The windows pipeline maps Image to Security 4688's NewProcessName, as for rules.
            "selection:\n  Image|endswith: '\\rundll32.exe'\ncondition: not selection",
            {"0x25c", "1064"},
            id="pipeline-mapped-field",
        ),
        pytest.param(
            "selection:\n  User|contains|all: [PANDALAB, pedro]\ncondition: not selection",
            {"6828", "6056"},
            id="contains-all",
        ),
        pytest.param(
            "selection:\n  CommandLine|re: '^whoami\\s+/groups$'\ncondition: not selection",
            {"6828"},
            id="re",
        ),
        pytest.param(
            "selection:\n  CommandLine|windash|contains: ' -p:rtcpef'\ncondition: not selection",
            {"0x25c", "1064"},
            id="windash",
        ),
        pytest.param(
            "selection:\n  CommandLine|cased|contains: WHOAMI\ncondition: not selection",
            set(),
            id="cased-no-match",
        ),
        pytest.param(
            "selection:\n  CommandLine|contains: WHOAMI\ncondition: not selection",
            {"6828", "5324"},
            id="case-insensitive",
        ),
        pytest.param(
            "img:\n  Image|endswith: '\\whoami.exe'\nsystem:\n  User|startswith: 'NT AUTHORITY'\n"
            "parent:\n  ParentImage|endswith: '\\services.exe'\n"
            "condition: not (img or (system and parent))",
            {"6828", "5324", "1064"},
            id="and-or-not",
        ),
        pytest.param(
            "sel_high:\n  IntegrityLevel: High\n"
            "sel_download:\n  ParentImage|contains: '\\Downloads\\'\n"
            "condition: not 1 of sel_*",
            {"6828", "6056", "6924"},
            id="1-of",
        ),
        pytest.param(
            "sel_system:\n  IntegrityLevel: System\nsel_cmd:\n  ParentImage|endswith: '\\cmd.exe'\n"
            "condition: not all of sel_*",
            {"5324"},
            id="all-of",
        ),
        pytest.param(
            "keywords:\n  - winx64_payload\ncondition: not keywords", {"6924"}, id="keyword"
        ),
        pytest.param(
            "selection:\n  LogonId: '0x3e7'\n  ProcessId|gte: 1100\ncondition: not selection",
            {"6924", "5324"},
            id="map-and-number-compare",
        ),
        pytest.param(
            # pySigma's reading: the condition is ANDed to the rule's, so a positive
            # condition keeps only the alerts it selects.
            "selection:\n  User|contains: pedro\ncondition: selection",
            {"0x25c", "1064", "6924", "5324"},
            id="positive-condition-keeps-only-its-selection",
        ),
    ],
)
def test_every_detection_feature_in_a_filter(
    tmp_path: Path, unfiltered: set[tuple[str, str]], detection: str, removed: set[str]
) -> None:
    """The filter names every process_creation rule that fires; it removes exactly ``removed``."""
    text = filter_yaml(detection, rules=PROCESS_RULES)
    assert filtered_by(tmp_path, unfiltered, text) == {
        alert for alert in PROCESS_ALERTS if alert[1] in removed
    }


def test_a_filter_by_id_removes_its_rules_alert_and_no_other(
    tmp_path: Path, unfiltered: set[tuple[str, str]]
) -> None:
    """The spec's own example shape: one rule by id, one selection, ``not selection``."""
    text = filter_yaml("selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection")
    # Sysmon's SYSTEM rundll32 is filtered; the same process in 4688 has no User and stays.
    assert filtered_by(tmp_path, unfiltered, text) == {(METERPRETER, "1064")}


def test_one_filter_for_several_rules(tmp_path: Path, unfiltered: set[tuple[str, str]]) -> None:
    text = filter_yaml(
        "selection:\n  Image|endswith: '\\whoami.exe'\ncondition: not selection",
        rules=[WHOAMI_GROUPS, WHOAMI_PRIVILEGED, REG_HIVES],
    )
    assert filtered_by(tmp_path, unfiltered, text) == {
        (WHOAMI_GROUPS, "6828"),
        (WHOAMI_PRIVILEGED, "5324"),
    }
    ruleset = load(tmp_path, text)
    (f,) = ruleset.filters
    assert f.rule_ids == {WHOAMI_GROUPS, WHOAMI_PRIVILEGED, REG_HIVES}
    assert ruleset.filters_for(REG_HIVES) == (f,)
    assert ruleset.filters_for(METERPRETER) == ()


def test_a_filter_by_name(tmp_path: Path) -> None:
    """A rule's ``name:`` (Sigma v2) is a reference as good as its id."""
    shipped = next(RULES.rglob("proc_creation_win_whoami_groups_discovery.yml"))
    named = tmp_path / "rules" / shipped.name
    named.parent.mkdir()
    named.write_text(shipped.read_text().replace("\nid: ", "\nname: whoami_groups_recon\nid: ", 1))
    text = filter_yaml(
        "selection:\n  User|contains: pedro.gustavo\ncondition: not selection",
        rules=["whoami_groups_recon"],
    )
    ruleset = load(tmp_path, text, rules=tmp_path / "rules")
    assert ruleset.errors == ()
    (rule,) = ruleset.rules
    assert (rule.id, rule.name) == (WHOAMI_GROUPS, "whoami_groups_recon")
    assert ruleset.filters[0].rule_ids == {WHOAMI_GROUPS}
    assert fired(Engine(ruleset.rules)) == {(WHOAMI_GROUPS, "6828")}
    assert fired(Engine.from_ruleset(ruleset)) == set()


def test_rules_any_applies_to_every_rule_its_logsource_contains(
    tmp_path: Path, unfiltered: set[tuple[str, str]]
) -> None:
    """``rules: any`` (pySigma) takes the rules by logsource: here every process_creation
    rule, and none of the windows/security or sysmon-service ones."""
    text = filter_yaml(
        "selection:\n  Hostname|startswith: MKT01.\ncondition: not selection", rules="any"
    )
    assert filtered_by(tmp_path, unfiltered, text) == PROCESS_ALERTS
    (f,) = load(tmp_path, text).filters
    assert DPAPI_BACKUP not in f.rule_ids and WHOAMI_GROUPS in f.rule_ids


def test_a_filter_applies_to_its_tenants_only(tmp_path: Path) -> None:
    """``tenants`` (the project's extension) scopes a filter; without it, every tenant."""
    scoped = filter_yaml(
        "selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection",
        extra=f"tenants: [{TENANT}, so-y-te]\n",
    )
    ruleset = load(tmp_path, scoped)
    assert ruleset.errors == ()
    (f,) = ruleset.filters
    assert f.tenants == {TENANT, "so-y-te"}
    engine = Engine.from_ruleset(ruleset)
    assert (METERPRETER, "1064") not in fired(engine, EVENTS)
    assert (METERPRETER, "1064") in fired(engine, recorded(OTHER))
    assert engine.filters_for(METERPRETER, TENANT) == (f,)
    assert engine.filters_for(METERPRETER, OTHER) == ()
    assert engine.filters_for(METERPRETER) == (f,)

    everyone = load(
        tmp_path, filter_yaml("selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection")
    )
    assert everyone.filters[0].tenants is None
    engine = Engine.from_ruleset(everyone)
    assert (METERPRETER, "1064") not in fired(engine, recorded(OTHER))
    assert engine.filters_for(METERPRETER, OTHER) == everyone.filters


def test_what_the_rule_page_shows_of_a_filter(tmp_path: Path) -> None:
    text = filter_yaml(
        "selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection",
        title="Services start rundll32 as SYSTEM here",
        extra="id: 5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11\n"
        "description: The backup agent's service does this every night\n"
        "date: 2026-11-20\nmodified: 2026-11-24\n",
    )
    (f,) = load(tmp_path, text).filters
    assert (f.id, f.title, f.description, f.version) == (
        "5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11",
        "Services start rundll32 as SYSTEM here",
        "The backup agent's service does this every night",
        "2026-11-24",
    )
    assert f.path == tmp_path / "filters" / "mf_tuning_0.yml"
    assert (f.logsource.product, f.logsource.category) == ("windows", "process_creation")
    assert f.refs == (METERPRETER,)


def test_a_file_may_hold_a_rule_and_its_filter() -> None:
    shipped = next(RULES.rglob("proc_creation_win_whoami_groups_discovery.yml")).read_text()
    text = (
        shipped
        + "\n---\n"
        + filter_yaml(
            "selection:\n  CommandLine|contains: /groups\ncondition: not selection",
            rules=[WHOAMI_GROUPS],
        )
    )
    ruleset = load_rule_text(text, name="mixed.yml", pipelines=PIPELINES)
    assert ruleset.errors == ()
    assert [r.id for r in ruleset.rules] == [WHOAMI_GROUPS]
    assert fired(Engine(ruleset.rules)) == {(WHOAMI_GROUPS, "6828")}
    assert fired(Engine.from_ruleset(ruleset)) == set()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            filter_yaml("selection: {User: x}\ncondition: not selection", rules=["nope-1234"]),
            "filter 'Tuning': no loaded rule has the id or name 'nope-1234'",
            id="unknown-rule",
        ),
        pytest.param(
            filter_yaml("selection: {User: x}\ncondition: not selection", rules=[DPAPI_BACKUP]),
            f"filter 'Tuning': rule '{DPAPI_BACKUP}' (product: windows, service: security) is "
            "outside the filter's logsource (product: windows, category: process_creation)",
            id="logsource-mismatch",
        ),
        pytest.param(
            filter_yaml("selection: {User|nosuch: x}\ncondition: not selection"),
            "filter 'Tuning': SigmaModifierError: Unknown modifier 'nosuch'",
            id="unknown-modifier",
        ),
        pytest.param(
            filter_yaml("selection: {User: x}\ncondition: not selection and not other"),
            "filter 'Tuning': SigmaConditionError: Detection 'other' not defined in detections",
            id="undefined-identifier",
        ),
        pytest.param(
            filter_yaml("selection: {EventTime|minute: 5}\ncondition: not selection"),
            "filter 'Tuning': unsupported value type SigmaTimestampPart for field 'EventTime'",
            id="cannot-compile",
        ),
        pytest.param(
            "title: Tuning\nlogsource: {product: windows}\n"
            "filter:\n    selection: {User: x}\n    condition: not selection\n",
            "filter 'Tuning': SigmaFilterRuleReferenceError",
            id="no-rules",
        ),
        pytest.param(
            filter_yaml("selection: {User: x}\ncondition: not selection", extra="tenants: 12\n"),
            "filter 'Tuning': 'tenants' must be a tenant name or a list of them",
            id="tenants-not-a-list",
        ),
        pytest.param(
            filter_yaml(
                "selection: {User: x}\ncondition: not selection", extra="tenants: ['a b']\n"
            ),
            "filter 'Tuning': 'tenants': not a tenant name: 'a b'",
            id="tenants-bad-name",
        ),
    ],
)
def test_a_filter_that_cannot_apply_is_a_rule_error_with_its_path(
    tmp_path: Path, text: str, reason: str
) -> None:
    good = filter_yaml("selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection")
    ruleset = load(tmp_path, good, text)
    [error] = ruleset.errors
    assert error.path == str(tmp_path / "filters" / "mf_tuning_1.yml")
    assert reason in error.reason
    # The bad filter applies nowhere; the good one still does; every rule still loads.
    assert [f.path.name for f in ruleset.filters] == ["mf_tuning_0.yml"]
    assert len(ruleset.rules) == len(load_rules([RULES], pipelines=PIPELINES).rules)


def test_a_duplicate_filter_id_is_refused(tmp_path: Path) -> None:
    same = filter_yaml(
        "selection: {User: x}\ncondition: not selection",
        extra="id: 5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11\n",
    )
    ruleset = load(tmp_path, same, same)
    [error] = ruleset.errors
    assert "duplicate filter id 5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11" in error.reason
    assert error.path == str(tmp_path / "filters" / "mf_tuning_1.yml")
    assert len(ruleset.filters) == 1


def test_filters_come_back_from_the_rule_cache_unchanged(tmp_path: Path) -> None:
    text = filter_yaml(
        "img:\n  Image|endswith: '\\whoami.exe'\nsystem:\n  User|startswith: 'NT AUTHORITY'\n"
        "condition: not (img and not system)",
        rules=[WHOAMI_GROUPS, WHOAMI_PRIVILEGED],
        extra=f"tenants: [{TENANT}]\n",
    )
    cold = load(tmp_path, text, cache=tmp_path / "cache")
    warm = load(tmp_path, text, cache=tmp_path / "cache")
    assert any((tmp_path / "cache").rglob("*.json"))
    describe = [
        (f.id, f.title, f.description, f.path, f.logsource, f.refs, f.tenants, f.condition)
        for f in cold.filters
    ]
    assert [
        (f.id, f.title, f.description, f.path, f.logsource, f.refs, f.tenants, f.condition)
        for f in warm.filters
    ] == describe
    assert fired(Engine.from_ruleset(warm)) == fired(Engine.from_ruleset(cold))
    assert (WHOAMI_GROUPS, "6828") not in fired(Engine.from_ruleset(warm))


def test_filtered_matches_are_counted_by_filter(tmp_path: Path) -> None:
    text = filter_yaml(
        "selection:\n  Image|endswith: '\\rundll32.exe'\ncondition: not selection",
        extra="id: 0f3c1d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f\n",
    )
    engine = Engine.from_ruleset(load(tmp_path, text))
    counter = EVENTS_FILTERED.labels(filter="0f3c1d2e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")
    before = counter._value.get()
    fired(engine)
    assert counter._value.get() == before + 2  # the Sysmon and the 4688 rundll32 events


async def test_the_detector_raises_no_alert_for_a_filtered_event(tmp_path: Path) -> None:
    """Over the in-process bus and SQLite: the filtered match leaves no alert; the same
    rule's other match, and every other rule's, are raised and stored."""
    text = filter_yaml("selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection")
    engine = Engine.from_ruleset(load(tmp_path, text))
    unfiltered = Engine(engine.rules)
    by_pid = {
        str(e.fields["ProcessId"]): e
        for e in EVENTS
        if any(r.id == METERPRETER for r in unfiltered.match(e))
    }
    filtered = Alert.make_id(rule_id=METERPRETER, event_id=by_pid["1064"].id)
    kept = Alert.make_id(rule_id=METERPRETER, event_id=by_pid["0x25c"].id)
    expected = {Alert.make_id(rule_id=r.id, event_id=e.id) for e in EVENTS for r in engine.match(e)}
    assert expected == {
        Alert.make_id(rule_id=r.id, event_id=e.id) for e in EVENTS for r in unfiltered.match(e)
    } - {filtered}
    bus = build_bus(BusSettings(kind="memory"))
    store = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await bus.start()
    await store.start()
    detector = Detector(engine=engine, bus=bus, store=store, settings=DetectSettings())
    task = asyncio.create_task(detector.run())
    try:
        await bus.publish(Topic.events, encode(EVENTS))
        for _ in range(400):
            page = await store.search_alerts(AlertQuery(limit=500))
            if {a.id for a in page.items} == expected:
                break
            await asyncio.sleep(0.05)
        stored = {a.id for a in (await store.search_alerts(AlertQuery(limit=500))).items}
    finally:
        detector.stop()
        await task
        await store.stop()
        await bus.stop()
    assert stored == expected
    assert kept in stored and filtered not in stored


def test_the_readmes_example_filter_loads_and_excludes_what_it_says(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("# mf_backup_agent_rundll32.yml\n")
    example = readme[start : readme.index("```", start)]
    ruleset = load(tmp_path, example)
    assert ruleset.errors == ()
    (f,) = ruleset.filters
    assert (f.rule_ids, f.tenants) == ({METERPRETER}, {"hue-ioc"})
    engine = Engine.from_ruleset(ruleset)
    # The recording's rundll32 is no backup agent: the filter leaves its alerts alone ...
    hue = recorded("hue-ioc")
    assert fired(engine, hue) == fired(Engine(ruleset.rules), hue)
    # ... and removes the match of the agent's own command line, for hue-ioc only.
    (event,) = (
        e
        for e in hue
        if any(r.id == METERPRETER for r in engine.match(e)) and e.fields.get("ProcessId") == "1064"
    )
    agent = event.fields | {"CommandLine": r"rundll32.exe C:\Agents\BackupAgent\ba.dll,a /p:ba"}
    nightly = event.model_copy(update={"fields": agent})
    assert [r.id for r in Engine(ruleset.rules).match(nightly)] == [METERPRETER]
    assert engine.match(nightly) == []
    other = nightly.model_copy(update={"tenant": OTHER})
    assert [r.id for r in engine.match(other)] == [METERPRETER]


def test_the_specifications_examples_compile_and_name_rules_not_loaded(shared_dir: Path) -> None:
    examples = shared_dir / "sigma-specification/tests/schema/filter"
    ruleset = load_rules([examples, RULES], pipelines=PIPELINES)
    assert sorted(Path(e.path or "").name for e in ruleset.errors) == [
        "filter_1.yml",
        "filter_ecs.yml",
    ]
    assert all(
        "no loaded rule has the id or name '6f3e2987-db24-4c78-a860-b4f4095a7095'" in e.reason
        for e in ruleset.errors
    )
    assert ruleset.filters == ()


@pytest.mark.parametrize(
    "logsource",
    [
        "{product: windows}",
        "{category: process_creation}",
        "{product: Windows, category: PROCESS_CREATION}",
    ],
)
def test_a_filters_logsource_may_be_wider_than_its_rules(tmp_path: Path, logsource: str) -> None:
    """Per the specification (pySigma's containment): each part the filter sets must equal
    the rule's, case-insensitively as the engine routes; a part it leaves out matches any."""
    text = filter_yaml(
        "selection:\n  User|endswith: '\\SYSTEM'\ncondition: not selection", logsource=logsource
    )
    ruleset = load(tmp_path, text)
    assert ruleset.errors == ()
    assert ruleset.filters[0].rule_ids == {METERPRETER}
    assert (METERPRETER, "1064") not in fired(Engine.from_ruleset(ruleset))
