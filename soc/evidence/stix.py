"""An incident as a STIX 2.1 bundle, for a national CERT's MISP or OpenCTI.

    stix_bundle(incident, observables=incident.observables, alerts=alerts, rules=rules)

**Container.** A ``report`` (``report_types: ["threat-report"]``) refers to
every object, and an ``incident`` SDO stands for the incident itself. MISP
imports a report as one event with everything in it; OpenCTI imports it as a
Report container and the incident as an Incident with its relationships. The
STIX ``incident`` SDO alone is a stub (name, description, kill-chain phases),
and a ``grouping`` says "unconfirmed context", which an analysed incident no
longer is; so both are emitted, the report carrying the sharing context.

**Mapping.**

    observable   ->  STIX object (and indicator pattern)
    ip           ->  ipv4-addr / ipv6-addr       [ipv4-addr:value = '...']
    domain       ->  domain-name                 [domain-name:value = '...']
    url          ->  url                         [url:value = '...']
    hash         ->  file with hashes, MD5 / SHA-1 / SHA-256 by length
                                                 [file:hashes.'SHA-256' = '...']
    account      ->  user-account: user_id = the value as written (``DOMAIN\\user``),
                     account_login = the part after ``\\``; no account_type (the
                     SOC cannot tell a domain account from a local one)
    host         ->  identity with identity_class "system" (OpenCTI: a System):
                     a host is usually the victim, which ``infrastructure``
                     (adversary-side in STIX) and a ``domain-name`` would misstate,
                     and ``x-`` objects are custom, refused by strict importers

Each SCO is ``related-to`` the incident; each indicator is ``based-on`` its SCO
and ``indicates`` the ATT&CK techniques of the alerts whose events held the
value (all of the incident's techniques when no events are given). Each
ATT&CK technique tag (``attack.t1003.001``) becomes an ``attack-pattern``
named by its id, with a ``mitre-attack`` external reference; the incident
``uses`` it. Each Sigma rule that fired becomes an indicator with
``pattern_type: sigma`` (its text), ``indicates`` its techniques, its tactic
tags as kill-chain phases. Hosts that alerts fired on are ``targets`` of the
incident.

**Determinism.** Ids are UUIDv5 over content (SCOs use the STIX namespace as
the standard asks; the rest the SOC's namespace), and times are the
incident's, the rule's or a fixed epoch, never the clock: the same incident
exports the same bytes. Objects shared between incidents (the SOC, hosts,
attack patterns, rules) have the same id and content in every export.
What the incident contributes is marked TLP:AMBER unless another level is asked
for, with the TLP 2.0 marking definitions OASIS publishes (extension
``extension-definition--60a3c5c5-...``; the definition is in the bundle); the
SOC's identity and the ATT&CK patterns, public, carry no marking.

**Versions.** The incident, the report, the incident's indicators and its
relationships keep their ids and take the incident's ``updated`` as ``modified``:
a changed incident exports new versions of the same objects, as STIX versioning
asks (soc.sharing sends them again).
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from stix2 import v21
from stix2.exceptions import STIXError

from soc.evidence.rules import RuleSource
from soc.incidents import observables as obs
from soc.incidents.models import Incident, IncidentStatus, Observable, ObservableType
from soc.models import Alert, Event, canonical_json

SOC_NAME = "Công an thành phố Huế SOC"
SOC_DESCRIPTION = (
    "Security Operations Center of the Huế City Police / "
    "Trung tâm giám sát an ninh mạng, Công an thành phố Huế"
)
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:soc:cong-an-thanh-pho-hue:stix")
"""UUIDv5 namespace of the SOC's STIX ids."""
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""``created`` of objects shared by every export (the SOC, hosts, attack patterns)."""
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""OASIS's TLP 2.0 marking extension (cti-stix-common-objects, tlp-2.0)."""
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""The published TLP 2.0 marking definitions' ids."""
TlpLevel = Literal["clear", "white", "green", "amber", "amber+strict", "red"]
"""TLP 2.0 levels; ``white`` (TLP 1.0) is read as ``clear``."""


def tlp_level(tlp: str) -> str:
    """The TLP 2.0 name of ``tlp`` (``white`` -> ``clear``)."""
    return "clear" if tlp == "white" else tlp


def tlp_marking(tlp: str) -> dict[str, Any]:
    """The TLP 2.0 marking-definition object of ``tlp``, as OASIS publishes it."""
    level = tlp_level(tlp)
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_IDS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


HASH_ALGORITHMS = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}

_TECHNIQUE = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)", re.IGNORECASE)
_NOT_TACTIC = re.compile(r"attack\.(?:t|ta|g|s)\d{4}", re.IGNORECASE)
"""Techniques, tactic ids, groups and software: the other ``attack.`` tags name tactics."""
T = ObservableType


def stix_bundle(
    incident: Incident,
    *,
    observables: Sequence[Observable],
    alerts: Sequence[Alert],
    rules: Sequence[RuleSource],
    events: Sequence[Event] = (),
    tlp: TlpLevel = "amber",
    organization: str = SOC_NAME,
) -> dict[str, Any]:
    """The incident as a STIX 2.1 bundle (a JSON-able dict); see the module docstring."""
    b = _Builder(incident, tlp=tlp, organization=organization)
    tags = [t for a in alerts for t in a.tags] + [t for r in rules for t in r.tags]
    incident_techniques = techniques(tags)
    tactics = sorted({t for a in alerts for t in _tactics(a.tags)})
    b.add_incident(tactics)
    for technique in incident_techniques:
        b.add_attack_pattern(technique)
        b.relate(b.incident_id, "uses", _attack_id(technique))
    for rule in sorted(rules, key=lambda r: r.id):
        b.add_rule(rule)
    for host in sorted({h for a in alerts if a.host and (h := obs.hostname(a.host))}):
        b.relate(b.incident_id, "targets", b.add_host(host))
    linked = _techniques_by_observable(alerts, events)
    for o in sorted(observables, key=lambda o: (o.type.value, o.value)):
        try:
            ref = b.add_observable(o)
        except STIXError:  # a value STIX refuses: left out (it stays in incident.json)
            ref = None
        if ref is None:
            continue
        b.relate(ref, "related-to", b.incident_id)
        indicator = b.add_indicator(o, ref)
        if indicator is not None:
            for technique in linked.get(o.key, incident_techniques):
                b.relate(indicator, "indicates", _attack_id(technique))
    return b.bundle()


def techniques(tags: Iterable[str]) -> list[str]:
    """ATT&CK technique ids in Sigma tags: ``attack.t1003.001`` -> ``T1003.001``."""
    return sorted({m.group(1).upper() for t in tags if (m := _TECHNIQUE.fullmatch(t))})


def _tactics(tags: Iterable[str]) -> list[str]:
    return sorted(
        t.split(".", 1)[1].lower()
        for t in tags
        if t.lower().startswith("attack.") and not _NOT_TACTIC.match(t)
    )


def _kill_chain(tactics: Iterable[str]) -> list[dict[str, str]]:
    return [{"kill_chain_name": "mitre-attack", "phase_name": t} for t in tactics]


def _uid(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, canonical_json([kind, *parts]))}"


def _attack_id(technique: str) -> str:
    return _uid("attack-pattern", technique)


def _ms(when: datetime) -> datetime:
    """STIX timestamps to the millisecond, as its ``created`` and ``modified`` are."""
    return when.astimezone(UTC).replace(microsecond=when.microsecond // 1000 * 1000)


def _rule_time(rule: RuleSource) -> datetime:
    """The rule's version as a time (its day, at midnight UTC), else the epoch."""
    try:
        return datetime.fromisoformat(rule.version or "").replace(tzinfo=UTC)
    except ValueError:
        return EPOCH


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _techniques_by_observable(
    alerts: Sequence[Alert], events: Sequence[Event]
) -> dict[tuple[ObservableType, str], list[str]]:
    """Observable -> the techniques of the alerts whose event held it (empty: no events)."""
    by_id = {e.id: e for e in events}
    out: dict[tuple[ObservableType, str], set[str]] = {}
    for alert in alerts:
        event = by_id.get(alert.event_id)
        if event is None:
            continue
        for o in obs.extract(event):
            out.setdefault(o.key, set()).update(techniques(alert.tags))
    return {k: sorted(v) for k, v in out.items()}


class _Builder:
    """Collects the objects; every id and time is derived from the inputs."""

    def __init__(self, incident: Incident, *, tlp: TlpLevel, organization: str) -> None:
        self.incident = incident
        self.marking_level = tlp_level(tlp)
        self.marking = TLP2_IDS[self.marking_level]
        self.created = _ms(incident.created)
        self.modified = max(_ms(incident.updated), self.created)
        self.identity = v21.Identity(
            id=_uid("identity", "organization", organization),
            created=EPOCH,
            modified=EPOCH,
            name=organization,
            description=SOC_DESCRIPTION if organization == SOC_NAME else None,
            identity_class="organization",
            sectors=["government-local"],
        )
        self.incident_id = _uid("incident", incident.id)
        self.objects: dict[str, Any] = {self.identity.id: self.identity}
        self.relationships: dict[str, Any] = {}

    def _sdo(self) -> dict[str, Any]:
        """Properties every incident-scoped SDO shares."""
        return {
            "created": self.created,
            "modified": self.modified,
            "created_by_ref": self.identity.id,
            "object_marking_refs": [self.marking],
        }

    def add_incident(self, tactics: list[str]) -> None:
        i = self.incident
        lines = [
            f"Status: {i.status.value}. Severity: {i.severity.value}. Alerts: {i.alert_count}.",
            f"First seen {i.first_seen.isoformat()}, last seen {i.last_seen.isoformat()}.",
        ]
        if i.owner_unit:
            lines.append(f"Owned by unit {i.owner_unit}.")
        if i.resolution:
            lines.append(f"Resolution: {i.resolution}")
        self.objects[self.incident_id] = v21.Incident(
            id=self.incident_id,
            name=i.title,
            description="\n".join(lines),
            kill_chain_phases=_kill_chain(tactics) or None,
            labels=sorted(i.tags) or None,
            external_references=[{"source_name": "soc-incident", "external_id": i.id}],
            **self._sdo(),
        )

    def add_attack_pattern(self, technique: str) -> None:
        major, _, sub = technique.partition(".")
        url = f"https://attack.mitre.org/techniques/{major}/" + (f"{sub}/" if sub else "")
        self.objects[_attack_id(technique)] = v21.AttackPattern(
            id=_attack_id(technique),
            created=EPOCH,
            modified=EPOCH,
            name=technique,
            external_references=[
                {"source_name": "mitre-attack", "external_id": technique, "url": url}
            ],
        )

    def add_rule(self, rule: RuleSource) -> None:
        when = _rule_time(rule)
        rule_ref = _uid("indicator", "sigma", rule.id, rule.sha256)
        by = f" by {rule.author}" if rule.author else ""
        self.objects[rule_ref] = v21.Indicator(
            id=rule_ref,
            created=when,
            modified=when,
            created_by_ref=self.identity.id,
            name=rule.title,
            description=f"Sigma rule {rule.id}{by}, version {rule.version or 'unknown'}",
            pattern=rule.text,
            pattern_type="sigma",
            valid_from=when,
            kill_chain_phases=_kill_chain(_tactics(rule.tags)) or None,
            external_references=[{"source_name": "sigma", "external_id": rule.id}],
            object_marking_refs=[self.marking],
        )
        for technique in techniques(rule.tags):
            self.relate(rule_ref, "indicates", _attack_id(technique), when=(when, when))

    def add_host(self, host: str) -> str:
        ref = _uid("identity", "system", self.incident.tenant, host)
        self.objects.setdefault(
            ref,
            v21.Identity(
                id=ref,
                created=EPOCH,
                modified=EPOCH,
                name=host,
                identity_class="system",
                object_marking_refs=[self.marking],
            ),
        )
        return ref

    def add_observable(self, o: Observable) -> str | None:
        """The observable's object (an SCO, or an identity for a host); its id."""
        marks = {"object_marking_refs": [self.marking]}
        sco: Any
        if o.type is T.host:
            return self.add_host(o.value)
        if o.type is T.ip:
            addr = ipaddress.ip_address(o.value)
            kind = v21.IPv4Address if addr.version == 4 else v21.IPv6Address
            sco = kind(value=o.value, **marks)
        elif o.type is T.domain:
            sco = v21.DomainName(value=o.value, **marks)
        elif o.type is T.url:
            sco = v21.URL(value=o.value, **marks)
        elif o.type is T.hash:
            algorithm = HASH_ALGORITHMS.get(len(o.value))
            if algorithm is None:
                return None
            sco = v21.File(hashes={algorithm: o.value}, **marks)
        else:
            login = o.value.rsplit("\\", 1)[-1]
            sco = v21.UserAccount(user_id=o.value, account_login=login, **marks)
        self.objects[sco.id] = sco
        return str(sco.id)

    def add_indicator(self, o: Observable, sco_ref: str) -> str | None:
        pattern = self._pattern(o)
        if pattern is None:
            return None
        ref = _uid("indicator", self.incident.id, pattern)
        benign = self.incident.status is IncidentStatus.closed_false_positive
        try:
            indicator = v21.Indicator(
                id=ref,
                name=f"{o.type.value} {o.value}"[:250],
                description=f"Seen in field {o.field} of an event of this incident",
                indicator_types=["benign" if benign else "anomalous-activity"],
                pattern=pattern,
                pattern_type="stix",
                valid_from=_ms(o.first_seen),
                **self._sdo(),
            )
        except STIXError:  # a value the pattern grammar cannot carry; the SCO stays
            return None
        self.objects[ref] = indicator
        self.relate(ref, "based-on", sco_ref)
        return ref

    def _pattern(self, o: Observable) -> str | None:
        if o.type is T.ip:
            kind = "ipv4-addr" if ipaddress.ip_address(o.value).version == 4 else "ipv6-addr"
            return f"[{kind}:value = {_quote(o.value)}]"
        if o.type is T.domain:
            return f"[domain-name:value = {_quote(o.value)}]"
        if o.type is T.url:
            return f"[url:value = {_quote(o.value)}]"
        if o.type is T.hash and (algorithm := HASH_ALGORITHMS.get(len(o.value))):
            key = algorithm if algorithm == "MD5" else f"'{algorithm}'"
            return f"[file:hashes.{key} = {_quote(o.value)}]"
        return None

    def relate(
        self, source: str, kind: str, target: str, *, when: tuple[datetime, datetime] | None = None
    ) -> None:
        ref = _uid("relationship", kind, source, target)
        created, modified = when or (self.created, self.modified)
        self.relationships.setdefault(
            ref,
            v21.Relationship(
                id=ref,
                created=created,
                modified=modified,
                created_by_ref=self.identity.id,
                relationship_type=kind,
                source_ref=source,
                target_ref=target,
                object_marking_refs=[self.marking],
            ),
        )

    def bundle(self) -> dict[str, Any]:
        everything: Mapping[str, Any] = self.objects | self.relationships
        report_id = _uid("report", self.incident.id)
        report = v21.Report(
            id=report_id,
            name=f"Incident: {self.incident.title}",
            description=f"Incident {self.incident.id} of tenant {self.incident.tenant}",
            report_types=["threat-report"],
            published=self.modified,
            object_refs=sorted(everything),
            **self._sdo(),
        )
        objects = [report, *(everything[k] for k in sorted(everything))]
        dicts = [tlp_marking(self.marking_level), *(json.loads(o.serialize()) for o in objects)]
        bundle_id = f"bundle--{uuid.uuid5(NAMESPACE, canonical_json(dicts))}"
        return {"type": "bundle", "id": bundle_id, "objects": dicts}
