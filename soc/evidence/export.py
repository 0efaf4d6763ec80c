"""Exports from the store: an incident's evidence bundle, or its STIX bundle.

    export = await export_incident(store, cases, incident, actor=..., rules_dirs=...)
    export.data, export.filename, export.manifest.files_sha256

The caller has already decided the principal may export this incident (its
tenant, and for a responder its unit) and passes the incident as read for
them. Alerts, events, comments and audit entries are read within the
incident's tenant only. Each export is recorded in the audit trail with the
manifest's ``files_sha256`` (the STIX export with the bundle's SHA-256), so a
bundle shown later can be matched to the export that made it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from soc.audit import AuditEntry
from soc.detect.catalog import RuleCatalog
from soc.evidence.bundle import Manifest
from soc.evidence.incident import alert_event_ids, write_incident_bundle
from soc.evidence.rules import RuleSource, catalog_sources, rule_sources
from soc.evidence.stix import TlpLevel, stix_bundle
from soc.incidents.cases import Cases
from soc.incidents.models import Change, Incident
from soc.models import Alert, Event, canonical_json, utcnow
from soc.store.base import Store

AUDIT_PAGE = 500


@dataclass(frozen=True, slots=True)
class EvidenceExport:
    filename: str
    data: bytes
    """The zip."""
    manifest: Manifest


async def export_incident(
    store: Store,
    cases: Cases,
    incident: Incident,
    *,
    actor: str,
    rules_dirs: Sequence[Path | str],
    catalog: RuleCatalog | None = None,
    now: datetime | None = None,
    tlp: TlpLevel = "amber",
) -> EvidenceExport:
    """The incident's evidence bundle as zip bytes; the export is audited.

    ``catalog``: where rules found in no file under ``rules_dirs`` are looked up."""
    now = now or utcnow()
    alerts, events, rules = await _records_of(store, incident, rules_dirs, catalog)
    comments = await cases.comments.of(incident.id, tenants=[incident.tenant])
    audit = await _audit_of(cases, incident)

    def build() -> tuple[bytes, Manifest]:
        buffer = io.BytesIO()
        manifest = write_incident_bundle(
            buffer,
            incident=incident,
            alerts=alerts,
            events=events,
            rules=list(rules.values()),
            comments=comments,
            audit=audit,
            created=now,
            created_by=actor,
            tlp=tlp,
        )
        return buffer.getvalue(), manifest

    data, manifest = await asyncio.to_thread(build)
    exported = {
        "format": "evidence-zip",
        "files": len(manifest.files),
        "files_sha256": manifest.files_sha256,
        "zip_sha256": hashlib.sha256(data).hexdigest(),
        "tlp": tlp,
    }
    await cases.record(Change.of(incident, actor=actor, action="export", time=now, after=exported))
    return EvidenceExport(
        filename=f"incident-{incident.id}-evidence.zip", data=data, manifest=manifest
    )


async def export_stix(
    store: Store,
    cases: Cases,
    incident: Incident,
    *,
    actor: str,
    rules_dirs: Sequence[Path | str],
    catalog: RuleCatalog | None = None,
    now: datetime | None = None,
    tlp: TlpLevel = "amber",
) -> dict[str, Any]:
    """The incident's STIX 2.1 bundle (soc.evidence.stix); the export is audited."""
    bundle = await build_stix(store, incident, rules_dirs=rules_dirs, catalog=catalog, tlp=tlp)
    exported = {
        "format": "stix-2.1",
        "objects": len(bundle["objects"]),
        "sha256": hashlib.sha256(canonical_json(bundle).encode()).hexdigest(),
        "tlp": tlp,
    }
    await cases.record(
        Change.of(incident, actor=actor, action="export", time=now or utcnow(), after=exported)
    )
    return bundle


async def build_stix(
    store: Store,
    incident: Incident,
    *,
    rules_dirs: Sequence[Path | str],
    catalog: RuleCatalog | None = None,
    tlp: TlpLevel = "amber",
) -> dict[str, Any]:
    """The incident's STIX 2.1 bundle, not audited (the caller audits what it does with it:
    an export, or a share, soc.sharing)."""
    alerts, events, rules = await _records_of(store, incident, rules_dirs, catalog)
    return stix_bundle(
        incident,
        observables=incident.observables,
        alerts=alerts,
        rules=list(rules.values()),
        events=events,
        tlp=tlp,
    )


async def _records_of(
    store: Store,
    incident: Incident,
    rules_dirs: Sequence[Path | str],
    catalog: RuleCatalog | None = None,
) -> tuple[list[Alert], list[Event], dict[str, RuleSource]]:
    """The incident's alerts, their events (a correlation alert's counted events too) and
    the rules that fired (detection and correlation rules), within its tenant."""
    tenants = [incident.tenant]
    alerts = await store.get_alerts(incident.alert_ids, tenants=tenants)
    wanted = {i for a in alerts for i in alert_event_ids(a)}
    events = await store.get_events(sorted(wanted), tenants=tenants)
    rule_ids = {a.rule_id for a in alerts}
    rules = await asyncio.to_thread(rule_sources, rule_ids, rules_dirs)
    if catalog is not None and rule_ids - set(rules):
        rules |= await catalog_sources(rule_ids - set(rules), catalog)
    return alerts, events, rules


async def _audit_of(cases: Cases, incident: Incident) -> list[AuditEntry]:
    """Every audit entry whose target is the incident, in ``seq`` order."""
    found: list[AuditEntry] = []
    after_seq = 0
    while True:
        page = await cases.audit.entries(
            tenants=[incident.tenant],
            target=f"incident:{incident.id}",
            after_seq=after_seq,
            limit=AUDIT_PAGE,
        )
        found += page
        if len(page) < AUDIT_PAGE:
            return found
        after_seq = page[-1].seq
