"""`soc evidence verify` and `soc audit verify`: what they print, and their exit codes."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.audit import AuditEntry
from soc.cli import main
from soc.evidence import audit_ndjson, write_incident_bundle
from soc.incidents.cases import Cases
from soc.settings import SqliteSettings
from soc.store.records import Kind
from soc.store.sqlite import SqliteStore
from tests.unit.evidence.conftest import Case


def run(*args: str) -> tuple[int, str]:
    """Exit code and standard output (logs and usage errors go to standard error)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout if result.exit_code != 2 else result.output


def test_evidence_verify_ok_and_tampered(case: Case, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    write_incident_bundle(bundle, **case.bundle_args())
    code, out = run("evidence", "verify", str(bundle))
    assert code == 0 and "ok" in out and "match the manifest" in out

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "comments.json":
                data = data.replace(b"Host isolated.", b"Host isolatec.")
            dst.writestr(info, data)
    code, out = run("evidence", "verify", str(tampered))
    assert code == 1
    assert "comments.json: content does not match the manifest" in out and "FAILED" in out

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])
    code, out = run("evidence", "verify", str(garbage))
    assert code == 1 and "not a readable zip" in out


def one_byte_changed(entry: AuditEntry) -> bytes:
    """The entry's JSON line with one byte of its actor changed (still valid JSON)."""
    line = bytearray(entry.model_dump_json().encode())
    at = line.index(b'"actor":"') + len(b'"actor":"')
    line[at] += 1
    return bytes(line) + b"\n"


def test_audit_verify_file_finds_an_altered_and_a_removed_entry(case: Case, tmp_path: Path) -> None:
    chain = case.audit
    full = tmp_path / "audit.ndjson"
    full.write_bytes(audit_ndjson(chain))
    code, out = run("audit", "verify", "--file", str(full))
    assert code == 0
    assert out.strip() == f"ok: {len(chain)} entries, head {chain[-1].hash}"

    altered = tmp_path / "altered.ndjson"
    altered.write_bytes(
        audit_ndjson(chain[:6]) + one_byte_changed(chain[6]) + audit_ndjson(chain[7:])
    )
    code, out = run("audit", "verify", "--file", str(altered))
    assert code == 1
    assert "broken at entry 7: its content does not match its hash" in out
    assert f"last good head {chain[5].hash}" in out

    removed = tmp_path / "removed.ndjson"
    removed.write_bytes(audit_ndjson(chain[:6] + chain[7:]))
    code, out = run("audit", "verify", "--file", str(removed))
    assert code == 1 and "broken at entry 8: expected entry 7, found 8" in out

    broken_json = tmp_path / "broken.ndjson"
    broken_json.write_bytes(audit_ndjson(chain[:3]) + b"{not json\n")
    code, out = run("audit", "verify", "--file", str(broken_json))
    assert code == 1 and "line 4 is not an audit entry" in out


def test_audit_verify_excerpt_of_a_bundle(case: Case, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.zip"
    write_incident_bundle(bundle, **case.bundle_args())
    with zipfile.ZipFile(bundle) as z:
        excerpt = z.read("audit.ndjson")
    path = tmp_path / "audit.ndjson"
    path.write_bytes(excerpt)
    code, out = run("audit", "verify", "--file", str(path))
    assert code == 1 and "an entry is missing" in out  # entries of others lie between
    code, out = run("audit", "verify", "--file", str(path), "--excerpt")
    assert code == 0 and out.startswith("ok: 12 entries")

    lines = excerpt.splitlines(keepends=True)
    entry = AuditEntry.model_validate_json(lines[4])
    path.write_bytes(b"".join([*lines[:4], one_byte_changed(entry), *lines[5:]]))
    code, out = run("audit", "verify", "--file", str(path), "--excerpt")
    assert code == 1 and f"broken at entry {entry.seq}" in out

    code, out = run("audit", "verify", "--excerpt")
    assert code == 2 and "--excerpt needs --file" in out


def test_audit_verify_reads_the_configured_store(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "soc.db"

    async def fill() -> None:
        store = SqliteStore(SqliteSettings(path=db))
        await store.start()
        try:
            trail = Cases(store).audit
            for e in case.audit:
                stored = await trail.append(
                    actor=e.actor,
                    tenant=e.tenant,
                    action=e.action,
                    target=e.target,
                    time=e.time,
                    before=e.before,
                    after=e.after,
                )
                assert stored == e
        finally:
            await store.stop()

    async def alter(seq: int) -> None:
        store = SqliteStore(SqliteSettings(path=db))
        await store.start()
        try:
            record = await store.get_record(Kind.audit, f"{seq:012d}")
            assert record is not None
            doc = {**record.doc, "actor": "someone.else"}
            await store.put_record(record.model_copy(update={"doc": doc}), expect=record.version)
        finally:
            await store.stop()

    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "data"))  # its development keys
    monkeypatch.setenv("SOC_STORE__KIND", "sqlite")
    monkeypatch.setenv("SOC_STORE__SQLITE__PATH", str(db))
    asyncio.run(fill())
    code, out = run("audit", "verify")
    assert code == 0 and out.strip() == f"ok: {len(case.audit)} entries, head {case.audit[-1].hash}"

    asyncio.run(alter(9))
    code, out = run("audit", "verify")
    assert code == 1 and "broken at entry 9: its content does not match its hash" in out
