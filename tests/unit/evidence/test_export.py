"""Exports from the embedded store: what is read, what is written, and the audit entry."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import stix2

from soc.audit import verify
from soc.evidence import verify_bundle
from soc.evidence.export import export_incident, export_stix
from soc.incidents.cases import Cases
from soc.settings import SqliteSettings
from soc.store.sqlite import SqliteStore
from tests.unit.evidence.conftest import EXPORTED, RULES_DIRS, Case


async def test_export_reads_the_store_writes_a_valid_bundle_and_is_audited(
    case: Case, tmp_path: Path
) -> None:
    store = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await store.start()
    try:
        cases = Cases(store)
        await store.put_events(case.events)
        await store.put_alerts(case.alerts)
        # An alert of another incident and tenant, which must stay out.
        await store.put_alerts([case.alerts[0].model_copy(update={"id": "x", "tenant": "other"})])
        incident = await cases.incidents.put(case.incident)
        for comment in case.comments:
            await cases.comments.add(comment)
        for e in case.audit:
            await cases.audit.append(
                actor=e.actor,
                tenant=e.tenant,
                action=e.action,
                target=e.target,
                time=e.time,
                before=e.before,
                after=e.after,
            )

        export = await export_incident(
            store, cases, incident, actor="lee", rules_dirs=RULES_DIRS, now=EXPORTED
        )
        path = tmp_path / export.filename
        path.write_bytes(export.data)
        assert verify_bundle(path).ok
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            audit_lines = z.read("audit.ndjson").splitlines()
        assert sum(n.startswith("events/") for n in names) == 14
        assert sum(n.startswith("rules/") and n.endswith(".yml") for n in names) == 11
        assert len(audit_lines) == 12

        stix = await export_stix(store, cases, incident, actor="lee", rules_dirs=RULES_DIRS)
        stix2.parse(stix, allow_custom=False)

        chain = [e async for e in cases.audit.each()]
        assert verify(chain).ok and len(chain) == len(case.audit) + 2
        zipped, shared = chain[-2], chain[-1]
        assert (zipped.action, zipped.actor, zipped.target) == (
            "incident.export",
            "lee",
            f"incident:{incident.id}",
        )
        assert zipped.after is not None and shared.after is not None
        assert zipped.after["files_sha256"] == export.manifest.files_sha256
        assert (zipped.after["format"], shared.after["format"]) == ("evidence-zip", "stix-2.1")

        # The next bundle shows the earlier exports in its timeline and audit entries.
        again = await export_incident(store, cases, incident, actor="lee", rules_dirs=RULES_DIRS)
        with zipfile.ZipFile(io.BytesIO(again.data)) as z:
            timeline = json.loads(z.read("timeline.json"))
            assert len(z.read("audit.ndjson").splitlines()) == 14
        summaries = [i["summary"] for i in timeline if i["actor"] == "lee"]
        assert f"exported as evidence-zip, SHA-256 {export.manifest.files_sha256}" in summaries
    finally:
        await store.stop()
