"""Redaction of a real export: what a policy with ``redact`` leaves of an incident's bundle."""

from __future__ import annotations

from datetime import UTC, datetime

from soc.evidence.stix import stix_bundle
from soc.incidents.models import AlertRef, Incident, Observable, ObservableType
from soc.models import Severity
from soc.settings import SharingPolicy
from soc.sharing.redact import MASK, internal, networks, redact

T = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
OBSERVABLES = {
    ObservableType.account: ["PANDALAB\\stevie.marie"],
    ObservableType.ip: ["10.0.5.13", "fd00::13", "113.160.10.7", "45.77.10.20", "2001:db9::1"],
    ObservableType.url: ["http://10.0.5.13/winx64_payload.exe", "http://evil.example.net/a"],
    ObservableType.host: ["mkt01.pandalab.com"],
    ObservableType.domain: ["evil.example.net"],
}


def incident() -> Incident:
    return Incident(
        id="inc-1",
        tenant="hue-ioc",
        title="Payload from 10.0.5.13 run by PANDALAB\\stevie.marie on mkt01.pandalab.com",
        severity=Severity.high,
        group_key="g",
        group_values={},
        alerts=[AlertRef(id="a1", rule_id="r", severity=Severity.high, time=T)],
        alert_count=1,
        first_seen=T,
        last_seen=T,
        created=T,
        updated=T,
        resolution="Contained; 10.0.9.9 also isolated",
        observables=[
            Observable(type=kind, value=v, first_seen=T, field="f")
            for kind, values in OBSERVABLES.items()
            for v in values
        ],
    )


def test_personal_data_leaves_with_its_indicators_and_relationships() -> None:
    policy = SharingPolicy(redact=True, internal_networks=["113.160.10.0/24"])
    inc = incident()
    bundle = stix_bundle(inc, observables=inc.observables, alerts=[], rules=[])
    out = redact(bundle, policy)
    text = str(out)
    for secret in ("stevie", "10.0.5.13", "fd00::13", "113.160.10.7", "mkt01", "10.0.9.9"):
        assert secret not in text, secret
    values = {o.get("value") for o in out["objects"]}
    assert {"45.77.10.20", "2001:db9::1", "http://evil.example.net/a", "evil.example.net"} <= values
    ids = {o["id"] for o in out["objects"]}
    for o in out["objects"]:
        if o["type"] == "relationship":
            assert o["source_ref"] in ids and o["target_ref"] in ids
        assert set(o.get("object_refs", [])) <= ids
    [inc_obj] = [o for o in out["objects"] if o["type"] == "incident"]
    assert inc_obj["name"].count(MASK) == 3
    assert len(out["objects"]) < len(bundle["objects"])
    assert redact(bundle, policy) == out, "the same bundle redacts the same"
    assert "stevie" in str(bundle), "the input is left alone"


def test_internal() -> None:
    parsed = networks(SharingPolicy(internal_networks=["113.160.10.0/24"]))
    assert internal("192.168.1.1", parsed) and internal("127.0.0.1", parsed)
    assert internal("113.160.10.200", parsed) and not internal("113.160.11.1", parsed)
    assert not internal("8.8.8.8", parsed) and not internal("not-an-ip", parsed)
