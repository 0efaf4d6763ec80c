"""Windows records in their shapes (evtx_dump, Winlogbeat, flat); the logsource map vs thor.yml."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from soc.detect.engine import CATEGORY_PARENTS
from soc.ingest.normalize import infer_logsource, normalize
from soc.ingest.windows import sigma_fields
from soc.models import LogSource

ROOT = Path(__file__).resolve().parents[2]
THOR = ROOT.parent / "shared/sigma/tests/thor.yml"
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def evtx_record(event_data: Any = None, user_data: Any = None, **system: Any) -> dict[str, Any]:
    sys_part: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "G"}},
        "EventID": {"#text": 4688, "#attributes": {"Qualifiers": 0}},
        "Level": 0,
        "TimeCreated": {"#attributes": {"SystemTime": "2026-11-24T02:00:00.5Z"}},
        "EventRecordID": 7,
        "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}},
        "Channel": "Security",
        "Computer": "dc01.hue.local",
        "Security": None,
    }
    sys_part.update(system)
    event: dict[str, Any] = {"#attributes": {"xmlns": "x"}, "System": sys_part}
    if event_data is not None:
        event["EventData"] = event_data
    if user_data is not None:
        event["UserData"] = user_data
    return {"Event": event}


def test_evtx_dump_shape_gets_sigma_names() -> None:
    record = evtx_record(
        {"NewProcessName": "C:\\Windows\\System32\\whoami.exe", "EventID": 1, "Level": "x"}
    )
    fields = sigma_fields(record)
    assert fields == {
        "EventID": 4688,
        "Channel": "Security",
        "Computer": "dc01.hue.local",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
        "Provider_Guid": "G",
        "TimeCreated": "2026-11-24T02:00:00.5Z",
        "EventRecordID": 7,
        "ProcessID": 4,
        "ThreadID": 8,
        "Level": "x",  # EventData wins over System, except for the routing names
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
    }
    event = normalize(record, tenant="t", source="s", received=NOW)
    assert event.raw == record, "the record is kept untouched"
    assert event.fields == fields
    assert event.host == "dc01.hue.local"
    assert event.time == datetime(2026, 11, 24, 2, 0, 0, 500000, tzinfo=UTC)
    assert event.logsource == LogSource(
        product="windows", category="process_creation", service="security"
    )


def test_user_data_unnamed_data_and_attributes() -> None:
    wmi = evtx_record(
        user_data={
            "Operation_ClientFailure": {
                "#attributes": {"xmlns": "y"},
                "Operation": "ExecMethod cleareventlog",
                "ClientProcessId": 25920,
            }
        },
        EventID=5858,
        Channel="Microsoft-Windows-WMI-Activity/Operational",
    )
    fields = sigma_fields(wmi)
    assert fields is not None
    assert fields["Operation"] == "ExecMethod cleareventlog"
    assert fields["ClientProcessId"] == 25920
    assert infer_logsource(fields) == LogSource(product="windows", service="wmi")
    classic = sigma_fields(evtx_record({"Data": ["a", "b"], "Binary": "00FF"}, EventID=412))
    assert classic is not None and classic["Data"] == ["a", "b"] and classic["Binary"] == "00FF"
    task = sigma_fields(evtx_record({"#attributes": {"Name": "TaskDisabled"}, "TaskName": "\\x"}))
    assert task is not None and "#attributes" not in task and task["TaskName"] == "\\x"
    text = sigma_fields(evtx_record("just text"))
    assert text is not None and text["Data"] == "just text"


def test_winlogbeat_shape() -> None:
    record = {
        "@timestamp": "2026-11-24T02:00:00Z",
        "host": {"name": "web01"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": "1",
            "provider_name": "Microsoft-Windows-Sysmon",
            "computer_name": "web01.hue.local",
            "event_data": {"Image": "C:\\x\\cmd.exe", "Channel": "spoofed"},
        },
    }
    fields = sigma_fields(record)
    assert fields is not None
    assert fields["Image"] == "C:\\x\\cmd.exe"
    assert fields["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert fields["EventID"] == "1" and fields["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert fields["host.name"] == "web01" and fields["winlog.computer_name"] == "web01.hue.local"
    event = normalize(record, tenant="t", source="s", received=NOW)
    assert event.logsource.category == "process_creation" and event.host == "web01.hue.local"


def test_flat_records_are_left_to_the_generic_flattening() -> None:
    otrf = {"Channel": "Security", "EventID": 4688, "Hostname": "MKT01", "SourceName": "x"}
    assert sigma_fields(otrf) is None
    assert sigma_fields({"Event": "text"}) is None
    assert normalize(otrf, tenant="t", source="s", received=NOW).fields == otrf


def test_logsource_map_agrees_with_sigmahq_thor_yml() -> None:
    thor = yaml.safe_load(THOR.read_text(encoding="utf-8"))["logsources"]
    checked = 0
    for name, entry in thor.items():
        for source in entry.get("sources") or []:
            if not source.startswith("WinEventLog:"):
                continue
            channel = source.removeprefix("WinEventLog:")
            found = infer_logsource({"Channel": channel, "EventID": 0})
            assert found.service == entry["service"], f"{name}: {channel}"
            checked += 1
        rewrite = entry.get("rewrite") or {}
        if rewrite.get("product") == "windows" and "conditions" in entry:
            channel = next(
                s.removeprefix("WinEventLog:")
                for e in thor.values()
                if e.get("service") == rewrite["service"] and "sources" in e
                for s in e["sources"]
            )
            conditions = dict(entry["conditions"])
            ids = conditions.pop("EventID")
            if name == "pipe_created2":
                continue  # thor.yml: PowerShell 800 as pipe_created; SigmaHQ's rules: ps_classic
            for event_id in ids if isinstance(ids, list) else [ids]:
                found = infer_logsource({"Channel": channel, "EventID": event_id, **conditions})
                # One event has one category; the engine lets registry_event rules see the
                # specific registry_* ones, as thor.yml's overlapping entries mean.
                routed = {found.category, CATEGORY_PARENTS.get(found.category or "")}
                assert entry["category"] in routed, f"{name}: {event_id}"
                checked += 1
    assert checked > 80
