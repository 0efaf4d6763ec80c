"""One incident's evidence bundle: its records, events, rules, timeline and audit entries.

    files = build_incident_bundle(incident=..., alerts=..., events=..., rules=..., comments=...,
                                  audit=..., created=now, created_by=actor.name)
    manifest = write_bundle(target, bundle=f"incident:{incident.id}", created=now,
                            created_by=actor.name, files=files)   # or write_incident_bundle

The files are listed in README.txt (_readme.py). Every file is a function of
the arguments alone, ``created`` and ``created_by`` showing only in README.txt,
so the same records exported twice give the same files. The caller reads the
records (the store), finds the rules (:func:`soc.evidence.rules.rule_sources`)
and records the export, with the manifest's ``files_sha256``, in the audit
trail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from soc.audit import AuditEntry
from soc.evidence._readme import readme
from soc.evidence.auditlog import audit_ndjson
from soc.evidence.bundle import Manifest, write_bundle
from soc.evidence.rules import RuleSource
from soc.evidence.stix import TlpLevel, stix_bundle
from soc.evidence.timeline import build_timeline
from soc.incidents.models import Comment, Incident
from soc.models import Alert, Event, digest

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def build_incident_bundle(
    *,
    incident: Incident,
    alerts: Sequence[Alert],
    events: Sequence[Event],
    rules: Sequence[RuleSource],
    comments: Sequence[Comment],
    audit: Sequence[AuditEntry],
    created: datetime,
    created_by: str,
    tlp: TlpLevel = "amber",
) -> dict[str, bytes]:
    """The bundle's files (path -> bytes), without the manifest.

    ``alerts`` must be alerts of the incident and ``events`` their events, all of
    the incident's tenant (a ValueError otherwise: a bundle never mixes tenants).
    ``audit`` may be the whole trail or any part of it: the entries whose target is
    the incident are kept. Rules missing from ``rules`` are named in README.txt
    and rules/index.json.
    """
    _check(incident, alerts, events, comments)
    alerts = sorted(alerts, key=lambda a: (a.time, a.id))
    target = f"incident:{incident.id}"
    entries = sorted((e for e in audit if e.target == target), key=lambda e: e.seq)
    rules_by_id = {r.id: r for r in rules}
    files: dict[str, bytes] = {
        "incident.json": _json(incident.model_dump(mode="json")),
        "alerts.ndjson": b"".join(a.model_dump_json().encode() + b"\n" for a in alerts),
        "comments.json": _json(
            [c.model_dump(mode="json") for c in sorted(comments, key=lambda c: (c.at, c.id))]
        ),
        "audit.ndjson": audit_ndjson(entries),
    }
    for event in events:
        files[f"events/{_name(event.id)}.json"] = _json(event.model_dump(mode="json"))
    index, changed, missing = _rule_index(alerts, rules_by_id)
    for rule in rules_by_id.values():
        files[f"rules/{_name(rule.id)}.yml"] = rule.text.encode()
    files["rules/index.json"] = _json(index)
    timeline = build_timeline(incident=incident, alerts=alerts, comments=comments, audit=entries)
    files["timeline.json"] = _json([i.model_dump(mode="json") for i in timeline])
    stix = stix_bundle(
        incident,
        observables=incident.observables,
        alerts=alerts,
        rules=list(rules_by_id.values()),
        events=events,
        tlp=tlp,
    )
    files["stix.json"] = _json(stix)
    counts = {
        "alerts": len(alerts),
        "events": len(events),
        "rules": len(rules_by_id),
        "audit": len(entries),
    }
    text = readme(
        incident=incident,
        tlp=tlp,
        created=created,
        created_by=created_by,
        counts=counts,
        changed_rules=changed,
        missing_rules=missing,
    )
    files["README.txt"] = text.encode()
    return files


def write_incident_bundle(
    target: Path | IO[bytes],
    *,
    incident: Incident,
    alerts: Sequence[Alert],
    events: Sequence[Event],
    rules: Sequence[RuleSource],
    comments: Sequence[Comment],
    audit: Sequence[AuditEntry],
    created: datetime,
    created_by: str,
    tlp: TlpLevel = "amber",
) -> Manifest:
    """Build the bundle and write it as a zip to ``target`` (a path or a binary file)."""
    files = build_incident_bundle(
        incident=incident,
        alerts=alerts,
        events=events,
        rules=rules,
        comments=comments,
        audit=audit,
        created=created,
        created_by=created_by,
        tlp=tlp,
    )
    return write_bundle(
        target,
        bundle=f"incident:{incident.id}",
        created=created,
        created_by=created_by,
        files=files,
    )


def alert_event_ids(alert: Alert) -> list[str]:
    """The events an alert stands on: its event, and a correlation alert's counted events."""
    counted = alert.correlation.event_ids if alert.correlation is not None else []
    return list(dict.fromkeys([alert.event_id, *counted]))


def _check(
    incident: Incident,
    alerts: Sequence[Alert],
    events: Sequence[Event],
    comments: Sequence[Comment],
) -> None:
    mine = set(incident.alert_ids)
    wanted = {i for a in alerts for i in alert_event_ids(a)}
    wrong = [
        *(f"alert {a.id}" for a in alerts if a.id not in mine or a.tenant != incident.tenant),
        *(f"event {e.id}" for e in events if e.id not in wanted or e.tenant != incident.tenant),
        *(
            f"comment {c.id}"
            for c in comments
            if c.incident_id != incident.id or c.tenant != incident.tenant
        ),
    ]
    if wrong:
        raise ValueError(f"not of incident {incident.id}: {', '.join(wrong[:10])}")


def _rule_index(
    alerts: Sequence[Alert], rules: dict[str, RuleSource]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """rules/index.json, the ids of rules changed since their alerts, and of rules not found."""
    versions: dict[str, set[str]] = {}
    titles: dict[str, str] = {}
    for a in alerts:
        versions.setdefault(a.rule_id, set()).add(a.rule_version or "")
        titles.setdefault(a.rule_id, a.rule_title)
    entries = []
    changed = []
    for rule in sorted(rules.values(), key=lambda r: r.id):
        seen = sorted(versions.get(rule.id, set()))
        if any(v != (rule.version or "") for v in seen):
            changed.append(rule.id)
        entries.append(
            {
                "id": rule.id,
                "title": rule.title,
                "version": rule.version,
                "path": rule.path,
                "sha256": rule.sha256,
                "file": f"rules/{_name(rule.id)}.yml",
                "alert_versions": [v or None for v in seen],
                "alerts": sum(1 for a in alerts if a.rule_id == rule.id),
            }
        )
    missing = sorted(set(versions) - set(rules))
    index = {
        "rules": entries,
        "missing": [
            {
                "id": i,
                "title": titles[i],
                "alert_versions": [v or None for v in sorted(versions[i])],
            }
            for i in missing
        ],
    }
    return index, changed, missing


def _name(record_id: str) -> str:
    """A file name for an id: the id itself when it is a plain one, else its digest."""
    return record_id if _SAFE_NAME.fullmatch(record_id) else digest("file-name", record_id)


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode() + b"\n"
