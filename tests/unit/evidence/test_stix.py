"""The STIX 2.1 bundle of a real incident: strict parsing, mapping, patterns, determinism."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import stix2

from soc.evidence import stix_bundle
from soc.evidence.stix import techniques
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.models import Incident, Observable, ObservableType
from soc.models import Alert
from tests.unit.evidence.conftest import NOW, Case
from tests.unit.incidents.conftest import Recording

AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
PAYLOAD_HOST = "10.0.5.13"


def export(case: Case, **kw: Any) -> dict[str, Any]:
    return stix_bundle(
        case.incident,
        observables=case.incident.observables,
        alerts=case.alerts,
        rules=case.rules,
        events=case.events,
        **kw,
    )


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def test_the_bundle_parses_strictly_and_holds_the_expected_objects(case: Case) -> None:
    bundle = export(case)
    parsed = stix2.parse(json.dumps(bundle), allow_custom=False)
    assert parsed.type == "bundle" and len(parsed.objects) == len(bundle["objects"])
    counts = Counter(o["type"] for o in bundle["objects"])
    observables = Counter(o.type.value for o in case.incident.observables)
    assert observables == {"hash": 24, "url": 2, "account": 2, "ip": 1, "host": 1}
    assert counts["file"] == 24 and counts["url"] == 2 and counts["user-account"] == 2
    assert counts["ipv4-addr"] == 1 and counts["incident"] == 1 and counts["report"] == 1
    assert counts["attack-pattern"] == len(techniques(t for a in case.alerts for t in a.tags))
    (soc, host) = sorted(of_type(bundle, "identity"), key=lambda i: i["identity_class"])
    assert soc["name"] == "Công an thành phố Huế SOC" and soc["identity_class"] == "organization"
    assert host["name"] == "mkt01.pandalab.com" and host["identity_class"] == "system"
    (marking,) = of_type(bundle, "marking-definition")
    assert marking["id"] == AMBER and marking["name"] == "TLP:AMBER"


def test_observables_map_to_scos_with_indicator_patterns(case: Case) -> None:
    bundle = export(case)
    patterns = {
        i["pattern"]: i for i in of_type(bundle, "indicator") if i["pattern_type"] == "stix"
    }
    assert len(patterns) == 27  # every ip, url and hash; none for accounts and hosts
    first_seen = {o.value: o.first_seen for o in case.incident.observables}
    for value, pattern in [
        (PAYLOAD_HOST, f"[ipv4-addr:value = '{PAYLOAD_HOST}']"),
        (
            "http://10.0.5.13/winx64_payload.exe",
            "[url:value = 'http://10.0.5.13/winx64_payload.exe']",
        ),
        (
            "7272ce348764a37891eb0f5f61ef1c70",
            "[file:hashes.MD5 = '7272ce348764a37891eb0f5f61ef1c70']",
        ),
        (
            "41933f941e7f93b9dff554121a1aadde88cfc2f3",
            "[file:hashes.'SHA-1' = '41933f941e7f93b9dff554121a1aadde88cfc2f3']",
        ),
        (
            "bcbd14689f4c3a8c526181fe10fa0d348ec45c29aaaab99687d0c1af8ca27aab",
            "[file:hashes.'SHA-256' = "
            "'bcbd14689f4c3a8c526181fe10fa0d348ec45c29aaaab99687d0c1af8ca27aab']",
        ),
    ]:
        indicator = patterns[pattern]
        assert stix2.utils.parse_into_datetime(indicator["valid_from"]) == first_seen[value]
        assert indicator["indicator_types"] == ["anomalous-activity"]
        assert indicator["object_marking_refs"] == [AMBER]
    hashes = {k for f in of_type(bundle, "file") for k in f["hashes"]}
    assert hashes == {"MD5", "SHA-1", "SHA-256"}
    accounts = {(u["user_id"], u["account_login"]) for u in of_type(bundle, "user-account")}
    assert accounts == {
        ("PANDALAB\\stevie.marie", "stevie.marie"),
        ("PANDALAB\\pedro.gustavo", "pedro.gustavo"),
    }
    by_id = {o["id"]: o for o in bundle["objects"]}
    based_on = [r for r in of_type(bundle, "relationship") if r["relationship_type"] == "based-on"]
    ip_indicator = patterns[f"[ipv4-addr:value = '{PAYLOAD_HOST}']"]
    (link,) = [r for r in based_on if r["source_ref"] == ip_indicator["id"]]
    assert by_id[link["target_ref"]] == {**by_id[link["target_ref"]], "value": PAYLOAD_HOST}


def test_rules_techniques_and_relationships(case: Case) -> None:
    bundle = export(case)
    by_id = {o["id"]: o for o in bundle["objects"]}
    sigma = [i for i in of_type(bundle, "indicator") if i["pattern_type"] == "sigma"]
    assert sorted(i["external_references"][0]["external_id"] for i in sigma) == sorted(
        r.id for r in case.rules
    )
    lsass = next(i for i in sigma if "4a1b6da0" in i["external_references"][0]["external_id"])
    rule = next(r for r in case.rules if r.id.startswith("4a1b6da0"))
    assert lsass["pattern"] == rule.text and lsass["valid_from"].startswith("2026-06-29")
    assert {p["phase_name"] for p in lsass["kill_chain_phases"]} == {"credential-access"}
    t1003 = next(p for p in of_type(bundle, "attack-pattern") if p["name"] == "T1003.001")
    assert t1003["external_references"] == [
        {
            "source_name": "mitre-attack",
            "external_id": "T1003.001",
            "url": "https://attack.mitre.org/techniques/T1003/001/",
        }
    ]
    rels = {
        (by_id[r["source_ref"]]["type"], r["relationship_type"], r["target_ref"])
        for r in of_type(bundle, "relationship")
    }
    (incident,) = of_type(bundle, "incident")
    assert ("indicator", "indicates", t1003["id"]) in rels
    assert ("incident", "uses", t1003["id"]) in rels
    host = next(i for i in of_type(bundle, "identity") if i["identity_class"] == "system")
    assert ("incident", "targets", host["id"]) in rels
    # The payload address was in the Zone.Identifier events of the T1564.004 rule only.
    ip_indicator = next(i for i in of_type(bundle, "indicator") if PAYLOAD_HOST in i["pattern"])
    indicated = {
        by_id[r["target_ref"]]["name"]
        for r in of_type(bundle, "relationship")
        if r["source_ref"] == ip_indicator["id"] and r["relationship_type"] == "indicates"
    }
    assert indicated == {"T1564.004"}
    # Every reference resolves, and the report refers to everything else.
    for r in of_type(bundle, "relationship"):
        assert r["source_ref"] in by_id and r["target_ref"] in by_id
    (report,) = of_type(bundle, "report")
    assert set(report["object_refs"]) == set(by_id) - {report["id"], AMBER}
    assert incident["name"] == case.incident.title
    assert incident["external_references"][0]["external_id"] == case.incident.id


def test_the_same_incident_exports_the_same_bundle(case: Case) -> None:
    first = export(case)
    shuffled = random.Random(7)
    alerts, events, rules = list(case.alerts), list(case.events), list(case.rules)
    observables = list(case.incident.observables)
    for items in (alerts, events, rules, observables):
        shuffled.shuffle(items)
    again = stix_bundle(
        case.incident, observables=observables, alerts=alerts, rules=rules, events=events
    )
    assert json.dumps(first) == json.dumps(again)
    assert first["id"] == again["id"]


def test_tlp_level_and_shared_objects(case: Case) -> None:
    red = export(case, tlp="red")
    (marking,) = of_type(red, "marking-definition")
    assert marking["name"] == "TLP:RED"
    amber = export(case)
    shared = {o["id"]: o for o in amber["objects"] if o["type"] == "attack-pattern"}
    assert shared == {o["id"]: o for o in red["objects"] if o["type"] == "attack-pattern"}
    assert red["id"] != amber["id"]


def test_a_linux_incident_gives_domain_url_and_accounts(authlog: Recording) -> None:
    sudo = [a for a in authlog.alerts if a.rule_title == "Command Run As Root Via Sudo"][:1]
    (incident,) = group(
        sudo, open_incidents=[], policy=GroupingPolicy(), now=NOW, events=authlog.by_id
    ).changed
    bundle = stix_bundle(
        incident,
        observables=incident.observables,
        alerts=sudo,
        rules=[],
        events=[authlog.event_of(sudo[0])],
    )
    stix2.parse(json.dumps(bundle), allow_custom=False)
    (domain,) = of_type(bundle, "domain-name")
    assert domain["value"] == "artifacts.elastic.co"
    patterns = {i["pattern"] for i in of_type(bundle, "indicator")}
    assert "[domain-name:value = 'artifacts.elastic.co']" in patterns
    assert {u["user_id"] for u in of_type(bundle, "user-account")} == {"ubuntu", "root"}


def test_ipv6_and_quotes_in_patterns(case: Case) -> None:
    # No recorded event holds a global IPv6 address: 2001:db8::/32 is the documentation range.
    extra = [
        Observable(
            type=ObservableType.ip, value="2001:db8::7", first_seen=NOW, field="DestinationIp"
        ),
        Observable(
            type=ObservableType.url, value="http://x.example/a'b\\c", first_seen=NOW, field="url"
        ),
    ]
    incident: Incident = case.incident
    alerts: list[Alert] = case.alerts
    bundle = stix_bundle(incident, observables=extra, alerts=alerts, rules=[])
    stix2.parse(json.dumps(bundle), allow_custom=False)
    patterns = {i["pattern"] for i in of_type(bundle, "indicator")}
    assert "[ipv6-addr:value = '2001:db8::7']" in patterns
    assert "[url:value = 'http://x.example/a\\'b\\\\c']" in patterns
    assert of_type(bundle, "ipv6-addr")[0]["value"] == "2001:db8::7"
