"""An incident's evidence bundle, from real alerts, events, rules and a worked audit trail."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from soc.audit import AuditEntry, verify
from soc.evidence import (
    build_incident_bundle,
    rule_sources,
    verify_bundle,
    verify_excerpt,
    write_incident_bundle,
)
from soc.evidence.rules import clear_cache
from soc.models import Alert, Event
from tests.unit.evidence.conftest import EXPORTED, RULES_DIRS, Case

FIXED = {
    "incident.json",
    "alerts.ndjson",
    "comments.json",
    "audit.ndjson",
    "rules/index.json",
    "timeline.json",
    "stix.json",
    "README.txt",
}


def written(case: Case, path: Path) -> Path:
    write_incident_bundle(path, **case.bundle_args())
    return path


def test_the_bundle_holds_every_file_verifies_and_is_reproducible(
    case: Case, tmp_path: Path
) -> None:
    a, b = written(case, tmp_path / "a.zip"), written(case, tmp_path / "b.zip")
    assert a.read_bytes() == b.read_bytes()
    buffer = io.BytesIO()
    manifest = write_incident_bundle(buffer, **case.bundle_args())
    assert buffer.getvalue() == a.read_bytes()
    assert manifest.bundle == f"incident:{case.incident.id}" and manifest.created == EXPORTED

    report = verify_bundle(a)
    assert report.ok and report.problems == []
    with zipfile.ZipFile(a) as z:
        names = set(z.namelist())
    events = {f"events/{e.id}.json" for e in case.events}
    rules = {f"rules/{r.id}.yml" for r in case.rules}
    assert len(events) == 14 and len(rules) == 11
    assert names == FIXED | events | rules | {"manifest.json"}
    assert report.files == len(names) - 1


def test_events_are_exactly_the_stored_events_raw_included(case: Case) -> None:
    files = build_incident_bundle(**case.bundle_args())
    for event in case.events:
        exported = Event.model_validate_json(files[f"events/{event.id}.json"])
        assert exported == event
        assert json.loads(files[f"events/{event.id}.json"])["raw"] == event.raw
    lines = files["alerts.ndjson"].decode().splitlines()
    alerts = [Alert.model_validate_json(line) for line in lines]
    assert sorted(a.id for a in alerts) == sorted(a.id for a in case.alerts)
    assert [a.time for a in alerts] == sorted(a.time for a in alerts)


def test_rules_are_the_files_that_fired_with_version_path_and_hash(case: Case) -> None:
    files = build_incident_bundle(**case.bundle_args())
    index = json.loads(files["rules/index.json"])
    assert index["missing"] == []
    by_id = {r["id"]: r for r in index["rules"]}
    for alert in case.alerts:
        entry = by_id[alert.rule_id]
        on_disk = Path(entry["path"]).read_bytes()
        assert files[entry["file"]] == on_disk
        assert entry["sha256"] == hashlib.sha256(on_disk).hexdigest()
        assert entry["version"] == alert.rule_version
        assert entry["alert_versions"] == [alert.rule_version]
    lsass = by_id["4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76"]
    assert lsass["path"].endswith("win_security_susp_lsass_dump_generic.yml")
    assert b"id: 4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76" in files[lsass["file"]]


def test_a_rule_changed_since_its_alerts_and_a_missing_rule_are_named(
    case: Case, tmp_path: Path
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(RULES_DIRS[0], folder)
    lsass = next(folder.rglob("win_security_susp_lsass_dump_generic.yml"))
    text = lsass.read_text()
    assert "modified: 2026-06-29" in text
    lsass.write_text(text.replace("modified: 2026-06-29", "modified: 2026-12-01"))
    next(folder.rglob("proc_creation_win_whoami_groups_discovery.yml")).unlink()
    clear_cache()
    rules = rule_sources({a.rule_id for a in case.alerts}, [folder])
    assert len(rules) == 10
    files = build_incident_bundle(**{**case.bundle_args(), "rules": list(rules.values())})
    index = json.loads(files["rules/index.json"])
    changed = next(r for r in index["rules"] if r["id"] == "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76")
    assert changed["version"] == "2026-12-01" and changed["alert_versions"] == ["2026-06-29"]
    assert [m["id"] for m in index["missing"]] == ["bd8b828d-0dca-48e1-8a63-8a58ecf2644f"]
    readme = files["README.txt"].decode()
    assert "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76" in readme
    assert "bd8b828d-0dca-48e1-8a63-8a58ecf2644f" in readme


def test_audit_holds_the_incidents_entries_an_excerpt_of_the_chain(case: Case) -> None:
    files = build_incident_bundle(**case.bundle_args())
    lines = files["audit.ndjson"].decode().splitlines()
    exported = [AuditEntry.model_validate_json(line) for line in lines]
    target = f"incident:{case.incident.id}"
    mine = [e for e in case.audit if e.target == target]
    assert exported == mine and len(mine) == 12 < len(case.audit)
    assert [e.seq for e in exported] == sorted(e.seq for e in exported)
    assert all('"hash":' in line and '"prev":' in line for line in lines)
    # Each entry matches the full chain by seq and hash; the excerpt checks alone...
    chain = {e.seq: e.hash for e in case.audit}
    assert all(chain[e.seq] == e.hash for e in exported)
    assert verify(case.audit).ok and verify_excerpt(exported).ok
    # ...but is not a chain from the genesis, as README.txt says.
    assert not verify(exported).ok
    readme = files["README.txt"].decode()
    assert "soc evidence verify bundle.zip" in readme
    assert "cannot be verified as a chain on their own" in readme
    assert "không thể được kiểm tra như" in readme


def test_timeline_merges_alerts_handoffs_status_and_comments_in_time_order(case: Case) -> None:
    files = build_incident_bundle(**case.bundle_args())
    items = json.loads(files["timeline.json"])
    assert [i["time"] for i in items] == sorted(i["time"] for i in items)
    assert all(i["time"].endswith("Z") and {"kind", "actor", "summary"} <= i.keys() for i in items)
    kinds = [i["kind"] for i in items]
    assert kinds.count("alert") == 14 and kinds.count("incident") == 1
    assert kinds.count("comment") == 2 and kinds.count("handoff") == 6
    handoffs = [(i["actor"], i["summary"]) for i in items if i["kind"] == "handoff"]
    assert handoffs == [
        ("ana", "offered to unit cyber-south: LSASS dump on MKT01"),
        ("ana", "recalled from unit cyber-south: wrong unit"),
        ("ana", "offered to unit cyber-north: LSASS dump on MKT01"),
        ("rosa", "rejected by unit cyber-north: need the host's owner first"),
        ("ana", "offered to unit cyber-north: owner: marketing"),
        ("rosa", "accepted by unit cyber-north"),
    ]
    status = [i["summary"] for i in items if i["kind"] == "status"]
    assert status == [
        "triage: new -> triaged",
        "start_response: acknowledged -> responding",
        "resolve: responding -> resolved; resolution: Reimaged MKT01, reset stevie.marie",
    ]
    comments = [i for i in items if i["kind"] == "comment"]
    assert comments[0]["summary"] == case.comments[0].text
    assert comments[0]["ref"] == f"comment:{case.comments[0].id}"
    # Alerts (2023) come before the incident was opened (2026), which precedes the work.
    assert kinds[:15] == ["alert"] * 14 + ["incident"]


def test_without_audit_entries_the_incident_and_comments_still_give_the_timeline(
    case: Case,
) -> None:
    files = build_incident_bundle(**{**case.bundle_args(), "audit": []})
    items = json.loads(files["timeline.json"])
    kinds = [i["kind"] for i in items]
    assert kinds.count("handoff") == 6 and kinds.count("comment") == 2
    assert kinds.count("incident") == 1 and kinds.count("status") == 2  # acknowledged, resolved
    assert files["audit.ndjson"] == b""


def _rewrite(source: Path, target: Path, member: str) -> None:
    """Copy the zip with one byte of one member flipped."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                changed = bytearray(data)
                changed[len(changed) // 2] ^= 0x01
                data = bytes(changed)
            dst.writestr(info, data)


@pytest.mark.parametrize(
    "member",
    [
        "incident.json",
        "alerts.ndjson",
        "audit.ndjson",
        "timeline.json",
        "stix.json",
        "rules/4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76.yml",
        "event",
    ],
)
def test_one_flipped_byte_in_one_file_fails_naming_that_file(
    case: Case, tmp_path: Path, member: str
) -> None:
    if member == "event":
        member = f"events/{case.alerts[0].event_id}.json"
    bundle = written(case, tmp_path / "bundle.zip")
    _rewrite(bundle, tmp_path / "tampered.zip", member)
    report = verify_bundle(tmp_path / "tampered.zip")
    assert not report.ok
    assert report.problems == [f"{member}: content does not match the manifest"]


@pytest.mark.parametrize("member", ["incident.json", "stix.json", "manifest.json"])
def test_one_flipped_byte_of_the_zip_itself_fails(case: Case, tmp_path: Path, member: str) -> None:
    bundle = written(case, tmp_path / "bundle.zip")
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as z:
        info = z.getinfo(member)
    # The local header is 30 bytes plus the name and extra field; then the compressed data.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0x01
    report = verify_bundle(bytes(raw))
    assert not report.ok
    assert any(p.startswith(member) for p in report.problems), report.problems


def test_records_of_another_incident_or_tenant_are_refused(case: Case) -> None:
    stranger = case.others[0]
    with pytest.raises(ValueError, match="not of incident"):
        build_incident_bundle(**{**case.bundle_args(), "incident": stranger})
    foreign = [a.model_copy(update={"tenant": "police-south"}) for a in case.alerts]
    with pytest.raises(ValueError, match="not of incident"):
        build_incident_bundle(**{**case.bundle_args(), "alerts": foreign})


def test_no_flipped_byte_anywhere_crashes_the_verifier(case: Case, tmp_path: Path) -> None:
    bundle = written(case, tmp_path / "bundle.zip")
    raw = bundle.read_bytes()
    with zipfile.ZipFile(bundle) as z:
        data_ranges = []
        for info in z.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            data_ranges.append(range(start, start + info.compress_size))
    # Every byte of the zip's own structure (local headers, central directory, end record:
    # a flipped compression method or encryption flag must be reported, not raised), and
    # every step-th byte of the members' data.
    in_data = [offset for r in data_ranges for offset in r]
    structure = sorted(set(range(len(raw))) - set(in_data))
    offsets = structure + in_data[:: max(1, len(in_data) // 600)]
    for offset in offsets:
        flipped = bytearray(raw)
        flipped[offset] ^= 0x01
        report = verify_bundle(bytes(flipped))  # never raises
        if any(offset in r for r in data_ranges):
            assert not report.ok, offset
