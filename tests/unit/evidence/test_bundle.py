"""An evidence bundle verifies, and fails after one byte of one file changes."""

from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from soc.evidence import verify_bundle, write_bundle

WHEN = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def files() -> dict[str, bytes]:
    sample = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    events = gzip.decompress(sample).splitlines(keepends=True)[:50]
    return {
        "incident.json": b'{"id": "inc-1"}',
        "events.ndjson": b"".join(events),
        "rules/lsass.yml": b"title: LSASS\n",
    }


def test_bundle_verifies_and_is_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    write_bundle(a, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    write_bundle(b, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    report = verify_bundle(a)
    assert report.ok and report.files == 3 and report.problems == []
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("member", ["events.ndjson", "incident.json", "rules/lsass.yml"])
def test_one_changed_byte_fails(tmp_path: Path, member: str) -> None:
    path = tmp_path / "bundle.zip"
    write_bundle(path, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    original = files()
    changed = bytearray(original[member])
    changed[len(changed) // 2] ^= 0x01
    rebuilt = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            data = bytes(changed) if info.filename == member else src.read(info)
            dst.writestr(info, data)
    report = verify_bundle(rebuilt)
    assert not report.ok and report.problems == [f"{member}: content does not match the manifest"]


def test_flipped_byte_in_the_zip_itself_fails(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    write_bundle(path, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    assert not verify_bundle(bytes(raw)).ok


def test_added_removed_and_manifest_edits_fail(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    write_bundle(path, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("extra.txt", b"planted")
    assert verify_bundle(path).problems == ["extra.txt: not in the manifest"]

    other = tmp_path / "other.zip"
    write_bundle(other, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    with zipfile.ZipFile(other) as src, zipfile.ZipFile(tmp_path / "less.zip", "w") as dst:
        for info in src.infolist():
            if info.filename != "rules/lsass.yml":
                dst.writestr(info, src.read(info))
    assert verify_bundle(tmp_path / "less.zip").problems == ["rules/lsass.yml: missing"]


def test_an_edited_manifest_fails(tmp_path: Path) -> None:
    import json

    path = tmp_path / "bundle.zip"
    write_bundle(path, bundle="incident:inc-1", created=WHEN, created_by="lead", files=files())
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["files"][0]["size"] += 1
                data = json.dumps(manifest).encode()
            dst.writestr(info, data)
    problems = verify_bundle(edited).problems
    assert "manifest.json was edited: its file list does not match its hash" in problems
