"""Evidence bundles: files with a manifest of SHA-256 hashes, verifiable offline.

bundle.py     write_bundle / verify_bundle: the zip and its manifest
incident.py   build_incident_bundle / write_incident_bundle: one incident's files
rules.py      rule_sources: the Sigma rule files behind alerts, by rule id
timeline.py   build_timeline: alerts, hand-offs, status changes, comments in order
stix.py       stix_bundle: the incident as STIX 2.1 (MISP, OpenCTI)
auditlog.py   audit entries as NDJSON; verify a whole chain or an excerpt
export.py     export_incident / export_stix: read from the store, build, audit
"""

from soc.evidence.auditlog import audit_ndjson, verify_audit_file, verify_excerpt
from soc.evidence.bundle import BundleReport, Manifest, verify_bundle, write_bundle
from soc.evidence.incident import build_incident_bundle, write_incident_bundle
from soc.evidence.rules import RuleSource, rule_sources
from soc.evidence.stix import stix_bundle
from soc.evidence.timeline import TimelineItem, build_timeline

__all__ = [
    "BundleReport",
    "Manifest",
    "RuleSource",
    "TimelineItem",
    "audit_ndjson",
    "build_incident_bundle",
    "build_timeline",
    "rule_sources",
    "stix_bundle",
    "verify_audit_file",
    "verify_bundle",
    "verify_excerpt",
    "write_bundle",
    "write_incident_bundle",
]
