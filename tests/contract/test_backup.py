"""Backup and restore (soc.store.backup), on the embedded SQLite store and a real OpenSearch.

A store is filled as the SOC fills it: recorded events (the bundled OTRF LSASS slice) of
two tenants, alerts on them, dead letters, an incident opened by the grouping code,
triaged (audited) and commented, user accounts, rules saved in the catalog (the bundled
SigmaHQ files, audited). It is backed up (a SQLite copy through the online backup API,
an OpenSearch snapshot in a filesystem repository), restored into an EMPTY store (a fresh
file, a fresh index prefix), and the restored store must verify its audit chain and hold
every record of every type, equal to the source's. A restore into a store that is not
empty is refused unless told to replace it.

OpenSearch snapshots need the node's ``path.repo`` (deploy/local/services.sh sets it);
against a node started without it, the OpenSearch case is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from opensearchpy import AsyncOpenSearch

from soc.audit.trail import AuditTrail
from soc.cli import main
from soc.detect.catalog import RuleCatalog
from soc.detect.ruletext import describe
from soc.errors import BackupNotFound, TargetNotEmpty
from soc.incidents import casework, lifecycle
from soc.incidents.cases import Cases
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.lifecycle import Triage
from soc.incidents.models import Actor
from soc.models import Alert, DeadLetter, Event, Severity
from soc.security.accounts import RecordUserStore
from soc.security.users import User
from soc.settings import OpenSearchSettings, SqliteSettings, StoreSettings
from soc.store import Store, build_store
from soc.store.backup import Manifest, backup, backups, current, differences, missing, restore
from soc.store.eventquery import EventQuery
from soc.store.records import Kind, RecordQuery, every
from tests.contract._events import A, B, recorded
from tests.stores import BACKENDS, drop_opensearch_prefix

RULES = Path(__file__).resolve().parents[2] / "soc/detections/rules/windows/process_creation"
ANALYST = Actor(name="ana", role="analyst")
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@dataclass
class Pair:
    source: StoreSettings
    target: StoreSettings


def _path_repo(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/_nodes/settings", timeout=10) as r:
        nodes = json.load(r)["nodes"].values()
    return [p for n in nodes for p in n["settings"].get("path", {}).get("repo", [])]


async def _drop_repository(url: str, repo: str) -> None:
    client = AsyncOpenSearch(hosts=[url])
    try:
        body = {"type": "fs", "settings": {"location": repo}}
        await client.snapshot.create_repository(repository=repo, body=body)
        found = await client.snapshot.get(repository=repo, snapshot="_all")
        for s in found.get("snapshots", []):
            await client.snapshot.delete(repository=repo, snapshot=s["snapshot"])
        await client.snapshot.delete_repository(repository=repo)
    finally:
        await client.close()


@pytest.fixture(params=BACKENDS)
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Pair]:
    if request.param == "sqlite":
        backups_dir = tmp_path / "backups"
        yield Pair(
            source=StoreSettings(
                kind="sqlite",
                sqlite=SqliteSettings(path=tmp_path / "live/soc.db", backup_dir=backups_dir),
            ),
            target=StoreSettings(
                kind="sqlite",
                sqlite=SqliteSettings(path=tmp_path / "restored/soc.db", backup_dir=backups_dir),
            ),
        )
        return
    url = request.getfixturevalue("opensearch_url")
    if not _path_repo(url):
        pytest.skip(f"the OpenSearch node at {url} has no path.repo (restart it: services.sh)")

    def settings(prefix: str) -> StoreSettings:
        opensearch = OpenSearchSettings(
            hosts=[url],
            index_prefix=prefix,
            refresh_on_write=True,
            connect_timeout_s=30,
            snapshot_repository=unique_name,
            snapshot_location=unique_name,
        )
        return StoreSettings(kind="opensearch", opensearch=opensearch)

    try:
        yield Pair(source=settings(f"{unique_name}-live"), target=settings(f"{unique_name}-new"))
    finally:
        await _drop_repository(url, unique_name)
        for prefix in ("live", "new"):
            await drop_opensearch_prefix(url, f"{unique_name}-{prefix}")


def alert_of(event: Event, rule: str) -> Alert:
    return Alert(
        id=Alert.make_id(rule_id=rule, event_id=event.id),
        tenant=event.tenant,
        rule_id=rule,
        rule_title=f"Recorded event ({rule})",
        severity=Severity.high,
        tags=["attack.credential_access"],
        event_id=event.id,
        time=event.time,
        created=event.time,
        host=event.host,
        source=event.source,
        logsource=event.logsource,
    )


async def fill(store: Store) -> None:
    """Every type of record the SOC writes, as it writes them."""
    events = recorded()
    chosen = [e for e in events if e.tenant == A][:150] + [e for e in events if e.tenant == B][:50]
    await store.put_events(chosen)
    alerts = [alert_of(e, "r-lsass") for e in chosen[::10]]
    await store.put_alerts(alerts)
    await store.put_dead_letters(
        [
            DeadLetter.of(
                f"not json {i}".encode(),
                tenant=A,
                source="syslog",
                received=NOW - timedelta(minutes=i),
                stage="ingest",
                reason="not_json",
                detail="Expecting value: line 1 column 1 (char 0)",
            )
            for i in range(3)
        ]
    )
    cases = Cases(store)
    grouped = group(
        alerts[:3], open_incidents=[], policy=GroupingPolicy(keys=("rule_id",)), now=NOW
    )
    incident = await cases.incidents.put(grouped.changed[0])
    await store.update_alerts(
        [a.model_copy(update={"incident_id": incident.id}) for a in alerts[:3]]
    )
    outcome = lifecycle.apply(incident, Triage(), actor=ANALYST, now=NOW)
    incident = await cases.incidents.put(outcome.incident)
    await cases.record(outcome.change)
    note = casework.comment(
        incident, "lsass dump qua comsvcs.dll — đã xác minh", actor=ANALYST, now=NOW
    )
    await cases.comments.add(note.comment)

    users = RecordUserStore(store)
    for name, role in (("ana", "analyst"), ("minh.lead", "lead")):
        await users.create(
            User(
                username=name,
                display_name=name.title(),
                role=role,
                tenants=[A],
                created=NOW,
                password_hash="$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA",
            )
        )
        await cases.audit.append(
            actor="admin", tenant=None, action="user.create", target=f"user:{name}", time=NOW
        )
    catalog = RuleCatalog(store, AuditTrail(store))
    for path in sorted(RULES.glob("*.yml"))[:3]:
        text = path.read_text(encoding="utf-8")
        for doc in describe(text):
            await catalog.save("minh.lead", doc, text, origin="uploaded")


async def contents(settings: StoreSettings) -> dict[str, Any]:
    """Every record of every type the store holds, as JSON, by type and id."""
    store = build_store(settings)
    await store.start()
    try:
        out: dict[str, Any] = {}
        events: list[Event] = []
        async for batch in store.scan_events(EventQuery(tenants=[A, B])):
            events.extend(batch)
        out["events"] = {e.id: e.model_dump(mode="json") for e in events}
        alerts = await store.get_alerts([alert_of(e, "r-lsass").id for e in events], tenants=None)
        out["alerts"] = {a.id: a.model_dump(mode="json") for a in alerts}
        letters = await store.list_dead_letters(tenants=None, limit=1000)
        out["dead_letters"] = {d.id: d.model_dump(mode="json") for d in letters}
        for kind in Kind:
            query = RecordQuery(kind=kind, tenants=None, order="asc", limit=1000)
            out[kind.value] = {r.id: r.model_dump(mode="json") async for r in every(store, query)}
        out["audit_report"] = (await AuditTrail(store).verify()).model_dump(mode="json")
        return out
    finally:
        await store.stop()


async def test_a_backup_restored_into_an_empty_store_holds_every_record(pair: Pair) -> None:
    source = build_store(pair.source)
    await source.start()
    try:
        await fill(source)
    finally:
        await source.stop()
    before = await current(pair.source)

    manifest = await backup(pair.source)

    assert manifest.counts == before.counts
    assert manifest.audit_head == before.audit_head and manifest.audit_head is not None
    assert manifest.audit_head.seq >= 5, "triage, two accounts and the rules were audited"
    for kind in ("events", "alerts", "dead_letters", "incident", "comment", "user", "rule"):
        assert manifest.counts[kind] > 0, kind
    assert manifest.counts["events"] == 200 and manifest.counts["alerts"] == 20
    assert [m.name for m in await backups(pair.source)] == [manifest.name]

    if pair.target.kind == "opensearch":
        # As on a new cluster with the old one's snapshot folder mounted: the restore
        # registers the repository again.
        os_settings = pair.target.opensearch
        client = AsyncOpenSearch(hosts=os_settings.hosts)
        try:
            await client.snapshot.delete_repository(repository=os_settings.snapshot_repository)
        finally:
            await client.close()

    taken = await restore(pair.target, manifest.name)

    assert taken == manifest
    restored = await current(pair.target)
    assert differences(manifest, restored) == [] and missing(manifest, restored) == []
    want, got = await contents(pair.source), await contents(pair.target)
    assert got["audit_report"]["ok"] is True
    assert got["audit_report"]["entries"] == manifest.audit_head.seq
    for kind, records in want.items():
        assert got[kind] == records, kind
        if kind in manifest.counts:
            assert len(records) == manifest.counts[kind], kind


async def test_a_restore_refuses_a_store_that_is_not_empty_unless_told(pair: Pair) -> None:
    for settings in (pair.source, pair.target):
        store = build_store(settings)
        await store.start()
        try:
            await store.put_events([e for e in recorded() if e.tenant == B][:5])
            await AuditTrail(store).append(
                actor="admin", tenant=None, action="user.create", target="user:x", time=NOW
            )
        finally:
            await store.stop()
    manifest = await backup(pair.source, name="before-upgrade")
    assert manifest.name == "before-upgrade" and manifest.counts["events"] == 5

    with pytest.raises(TargetNotEmpty) as refused:
        await restore(pair.target, "before-upgrade")
    assert refused.value.found["events"] == 5 and refused.value.found["audit"] == 1
    with pytest.raises(BackupNotFound):
        await restore(pair.target, "no-such-backup", replace=True)

    await restore(pair.target, "before-upgrade", replace=True)
    restored: Manifest = await current(pair.target)
    assert missing(manifest, restored) == [] and differences(manifest, restored) == []
    if pair.target.kind == "sqlite":
        kept = list(pair.target.sqlite.path.parent.glob("soc.db.replaced-*"))
        assert len(kept) == 1, "the replaced database is kept beside it"


def _cli(args: list[str], db: Path, backups_dir: Path) -> Result:
    env = {
        "SOC_ENV": "development",
        "SOC_STORE__KIND": "sqlite",
        "SOC_STORE__SQLITE__PATH": str(db),
        "SOC_STORE__SQLITE__BACKUP_DIR": str(backups_dir),
    }
    return CliRunner().invoke(main, args, env=env)


async def _filled(path: Path) -> None:
    store = build_store(StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=path)))
    await store.start()
    try:
        await fill(store)
    finally:
        await store.stop()


def test_the_commands_back_up_restore_and_catch_a_tampered_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the development keys' files go to ./.soc
    live, backups_dir = tmp_path / "live.db", tmp_path / "backups"
    asyncio.run(_filled(live))

    taken = _cli(["backup", "--json"], live, backups_dir)
    assert taken.exit_code == 0, taken.output
    manifest = Manifest.model_validate_json(taken.stdout.strip().splitlines()[-1])
    assert manifest.store == "sqlite" and manifest.counts["events"] == 200

    restored = _cli(["restore", manifest.name], tmp_path / "new.db", backups_dir)
    assert restored.exit_code == 0, restored.output
    assert f"audit chain: ok: {manifest.audit_head.seq} entries" in restored.stdout  # type: ignore[union-attr]
    refused = _cli(["restore", manifest.name], live, backups_dir)
    assert refused.exit_code == 2 and "not empty" in refused.stderr
    unknown = _cli(["restore", "no-such-backup"], tmp_path / "other.db", backups_dir)
    assert unknown.exit_code == 2

    # Someone edits an audit entry inside the backup: the restore says so (exit 1).
    copy = backups_dir / f"{manifest.name}.db"
    with sqlite3.connect(copy) as conn:
        conn.execute(
            'UPDATE records SET body = replace(body, \'"actor":"admin"\', \'"actor":"eve"\')'
            " WHERE kind = 'audit'"
        )
    tampered = _cli(["restore", str(copy)], tmp_path / "tampered.db", backups_dir)
    assert tampered.exit_code == 1, tampered.output
    assert "audit chain: broken at entry" in tampered.stdout
