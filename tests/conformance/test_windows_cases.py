"""Where the engine differed from Zircolite and RSigma on recorded Windows attacks.

Each case runs SigmaHQ's own rules from ../shared/sigma, with the project's pipelines,
on recorded events: from SigmaHQ's regression data where it holds one, else from
tests/conformance/records/ (whose README says where each comes from).

- Services the logsource map lacked: SigmaHQ's DNS Server and DriverFrameworks rules fire.
- ``null`` against an empty ``<Data>`` element (docs/adr/0008): CACTUSTORCH's
  ``StartModule: null`` fires on it, and a rule's ``StartModule: ''`` still does too.
- ``Image: null`` / ``ParentImage: null`` on Security 4688: judged on 4688's names.
- Sysmon 12 split by EventType, a deliberate difference (docs/ARCHITECTURE.md,
  Detection): a registry_delete rule does not fire on a CreateKey event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigma.rule import SigmaRule

from soc.detect.compile import compile_rule
from soc.detect.engine import Engine
from soc.detect.ir import And, Node, Not, Null, Or
from soc.detect.rules import load_rules
from soc.detect.view import EventView
from soc.detections import PIPELINES
from soc.ingest.normalize import normalize
from soc.ingest.readers import read_file
from soc.models import Event, LogSource

ROOT = Path(__file__).resolve().parents[2]
SIGMA = ROOT.parent / "shared" / "sigma"
WINDOWS = SIGMA / "rules" / "windows"
RECORDS = Path(__file__).resolve().parent / "records"
PIPELINES = [
    PIPELINES / "windows.yml",
    PIPELINES / "placeholders.yml",
]
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

CACTUSTORCH = "2e4e488a-6164-4811-9ea1-f960c7359c40"
PASSWORD_DUMPER_LSASS = "f239b326-2f41-4d6b-9dfa-c846a60ef505"
DNS_SERVER_PLUGIN_DLL = "cbe51394-cd93-4473-b555-edf0144952d9"
USB_DEVICE_PLUGGED = "1a4bd6e3-4c6e-405d-a9a3-53a116e341d4"
RUNMRU_KEY_DELETION = "3a9b8c1e-5b2e-4f7a-9d1c-2a7f3b6e1c55"


def engine(*rule_files: Path) -> Engine:
    ruleset = load_rules(list(rule_files), pipelines=PIPELINES)
    assert ruleset.errors == ()
    return Engine.from_ruleset(ruleset)


def event(record: dict[str, Any]) -> Event:
    return normalize(record, tenant="conformance", source="recorded", received=RECEIVED)


def recorded(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((RECORDS / name).read_text(encoding="utf-8"))
    return value


def evtx_records(folder: Path) -> list[dict[str, Any]]:
    records = [item.record for evtx in sorted(folder.glob("*.evtx")) for item in read_file(evtx)]
    assert records and all(r is not None for r in records), folder
    return [r for r in records if r is not None]


def fired(e: Engine, record: dict[str, Any]) -> set[str]:
    return {rule.id for rule in e.match(event(record))}


def holds(detection: str, fields: dict[str, Any]) -> bool:
    rule = SigmaRule.from_yaml(
        f"title: t\nlogsource: {{product: windows}}\ndetection:\n{detection}\n    condition: sel\n"
    )
    return compile_rule(rule)(EventView(fields))


def test_an_empty_data_element_has_no_value_but_is_there() -> None:
    # A recorded Defender 1119 (SigmaHQ's regression data) with empty <Data> elements.
    folder = next(SIGMA.glob("regression_data/**/*_tiering_engine_detected_as_eicar"))
    [record] = evtx_records(folder)
    fields = event(record).fields
    assert fields["Status Description"] == "", "the element is kept, as empty text"
    assert holds("    sel:\n        Status Description: null", fields)
    assert holds("    sel:\n        Status Description: ''", fields)
    assert holds("    sel:\n        Status Description|exists: true", fields)
    assert not holds("    sel:\n        Threat Name: null", fields)  # it has a value


def test_cactustorch_fires_on_a_remote_thread_with_an_empty_start_module() -> None:
    folder = WINDOWS / "create_remote_thread"
    e = engine(
        folder / "create_remote_thread_win_hktl_cactustorch.yml",
        folder / "create_remote_thread_win_susp_password_dumper_lsass.yml",
    )
    cactus = recorded("sysmon-8-cactustorch.json")
    assert event(cactus).fields["StartModule"] == ""
    assert fired(e, cactus) == {CACTUSTORCH}
    with_module = json.loads(json.dumps(cactus))
    with_module["Event"]["EventData"]["StartModule"] = "C:\\Windows\\SysWOW64\\KERNELBASE.dll"
    assert fired(e, with_module) == set()
    # SigmaHQ's own regression event for `StartModule: ''`: the empty text still matches.
    assert fired(e, recorded("sysmon-8-lsass-empty-start-module.json")) == {PASSWORD_DUMPER_LSASS}


def test_dns_server_and_driver_framework_rules_fire_on_their_channels() -> None:
    e = engine(WINDOWS / "builtin/dns_server", WINDOWS / "builtin/driverframeworks")
    dns, usb = recorded("dns-server-770.json"), recorded("driverframeworks-usermode-2003.json")
    assert event(dns).logsource == LogSource(product="windows", service="dns-server")
    assert event(usb).logsource == LogSource(product="windows", service="driver-framework")
    assert fired(e, dns) == {DNS_SERVER_PLUGIN_DLL}
    assert fired(e, usb) == {USB_DEVICE_PLUGGED}


def test_sysmon_12_create_key_is_no_registry_delete() -> None:
    # A deliberate difference (docs/ARCHITECTURE.md, Detection): Sysmon 12 is split by
    # EventType as thor.yml does, where Zircolite and RSigma read every 12 as each category.
    e = engine(WINDOWS / "registry/registry_delete/registry_delete_runmru.yml")
    folder = SIGMA / "regression_data/rules/windows/registry/registry_delete/registry_delete_runmru"
    [deleted] = evtx_records(folder)
    assert event(deleted).fields["EventType"] == "DeleteKey"
    assert fired(e, deleted) == {RUNMRU_KEY_DELETION}
    created = json.loads(json.dumps(deleted))
    created["Event"]["EventData"]["EventType"] = "CreateKey"
    assert event(created).logsource.category == "registry_add"
    assert fired(e, created) == set()


def test_null_image_tests_are_judged_on_the_names_security_4688_has() -> None:
    # docs/adr/0008: `Image: null` holds when neither Sysmon's nor 4688's name has a value.
    files = sorted(SIGMA.glob("rules*/**/proc_creation_win_*.yml"))
    ruleset = load_rules(files, pipelines=PIPELINES)
    assert ruleset.errors == ()
    judged = 0
    for rule in ruleset.rules:
        assert rule.condition is not None
        nulls = set(_null_fields(rule.condition))
        for sysmon, security in (("Image", "NewProcessName"), ("ParentImage", "ParentProcessName")):
            assert (sysmon in nulls) == (security in nulls), f"{rule.title}: {sorted(nulls)}"
            judged += sysmon in nulls
    assert judged >= 15


def _null_fields(node: Node) -> Iterator[str]:
    if isinstance(node, And | Or):
        for child in node.children:
            yield from _null_fields(child)
    elif isinstance(node, Not):
        yield from _null_fields(node.child)
    elif isinstance(node, Null):
        yield node.field
