"""Parsing outside intelligence: STIX 2.1 bundles built with the stix2 library, a MISP
export in MISP's own JSON format (tests/intel/misp_event.json), and a pasted list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2

from soc.errors import IntelFormatError, SocError
from soc.intel.models import Indicator, IndicatorType
from soc.intel.parse import Intake, parse

HERE = Path(__file__).parent
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
TLP2_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


def _by_value(indicators: list[Indicator]) -> dict[str, Indicator]:
    return {i.value: i for i in indicators}


def test_a_stix_bundle_gives_one_indicator_per_value_with_its_metadata() -> None:
    brute = stix2.Indicator(
        name="SSH brute force sources",
        created="2026-11-20T00:00:00.000Z",
        modified="2026-11-20T00:00:00.000Z",
        description="seen against city portals",
        pattern="[ipv4-addr:value = '203.0.113.45' OR ipv4-addr:value = '198.51.100.0/24']",
        pattern_type="stix",
        valid_from="2026-11-20T00:00:00Z",
        valid_until="2027-01-01T00:00:00Z",
        confidence=85,
        labels=["malicious-activity"],
        object_marking_refs=[stix2.TLP_GREEN],
    )
    newer = brute.new_version(
        pattern="[ipv4-addr:value = '203.0.113.46']", modified="2026-12-01T00:00:00Z"
    )
    bundle = stix2.Bundle(
        newer,
        brute,  # the older version after the newer one: the newer still wins
        stix2.Indicator(
            pattern=f"[file:hashes.'SHA-256' = '{SHA256.upper()}']",
            pattern_type="stix",
            object_marking_refs=[TLP2_AMBER_STRICT],
        ),
        stix2.Indicator(
            pattern="[domain-name:value = 'Update-Portal.Example.NET.' OR "
            "url:value = 'http://update-portal.example.net/p.sh' OR "
            "ipv6-addr:value = '2001:db8::1']",
            pattern_type="stix",
            revoked=True,
            object_marking_refs=[TLP2_CLEAR],
        ),
        stix2.Indicator(
            pattern="[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            pattern_type="stix",
            object_marking_refs=[stix2.TLP_RED],
        ),
        stix2.Indicator(
            pattern="[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'x.example']",
            pattern_type="stix",
        ),
        stix2.Indicator(
            pattern="[ipv4-addr:value = '192.0.2.1' AND network-traffic:dst_port = 22]",
            pattern_type="stix",
        ),
        stix2.Indicator(pattern="[process:name = 'mimikatz.exe']", pattern_type="stix"),
        stix2.Indicator(pattern="alert tcp any any -> any 22", pattern_type="snort"),
        stix2.Indicator(
            pattern="[ipv4-addr:value = '192.0.2.7'] WITHIN 60 SECONDS", pattern_type="stix"
        ),
        stix2.Malware(name="Mirai", is_family=True),
    )
    intake = Intake(source="file:isac.json", tenant="hue-ioc", tlp="amber", confidence=40)
    taken = parse(bundle.serialize(), intake)
    assert taken.format == "stix"
    got = _by_value(taken.indicators)
    assert set(got) == {
        "203.0.113.46",
        SHA256,
        "update-portal.example.net",
        "http://update-portal.example.net/p.sh",
        "2001:db8::1",
        "d41d8cd98f00b204e9800998ecf8427e",
    }
    ip = got["203.0.113.46"]
    assert ip.type is IndicatorType.ip and ip.stix_id == brute.id
    assert ip.name == "SSH brute force sources" and ip.confidence == 85
    assert ip.tlp == "green" and ip.labels == ["malicious-activity"]
    assert ip.valid_from == datetime(2026, 11, 20, tzinfo=UTC)
    assert ip.valid_until == datetime(2027, 1, 1, tzinfo=UTC)
    assert ip.tenant == "hue-ioc" and ip.source == "file:isac.json"
    assert ip.id == Indicator.make_id("file:isac.json", IndicatorType.ip, "203.0.113.46")
    assert got[SHA256].tlp == "amber+strict" and got[SHA256].confidence == 40
    assert got["update-portal.example.net"].revoked and got["2001:db8::1"].tlp == "clear"
    assert got["d41d8cd98f00b204e9800998ecf8427e"].tlp == "red"
    reasons = [(r.kind, r.reason) for r in taken.rejects]
    assert ("skipped", "observations joined by AND: not one value") in reasons
    assert ("skipped", "comparisons joined by AND: not one value") in reasons
    assert ("skipped", "process:name: not an observable the SOC matches") in reasons
    assert ("skipped", "pattern_type 'snort' is not matched") in reasons
    assert any(r.startswith("qualified observations") for _, r in reasons)
    assert len(taken.rejects) == 5


def test_a_cidr_in_stix_and_a_tlp_marking_defined_in_the_bundle() -> None:
    marking = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--11111111-2222-4333-8444-555555555555",
        "created": "2026-01-01T00:00:00Z",
        "name": "TLP:AMBER+STRICT",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "amber+strict",
            }
        },
    }
    indicator = stix2.Indicator(
        pattern="[ipv4-addr:value = '10.20.0.0/16']",
        pattern_type="stix",
        object_marking_refs=[marking["id"]],
        allow_custom=True,
    )
    objects = [marking, json.loads(indicator.serialize())]
    taken = parse(json.dumps(objects), Intake(source="t"))
    (only,) = taken.indicators
    assert (only.type, only.value, only.tlp) == (IndicatorType.cidr, "10.20.0.0/16", "amber+strict")


def test_a_misp_export_takes_what_is_for_detection() -> None:
    data = (HERE / "misp_event.json").read_bytes()
    taken = parse(data, Intake(source="file:misp", tlp="red"))
    assert taken.format == "misp"
    got = _by_value(taken.indicators)
    assert set(got) == {
        "203.0.113.45",
        "198.51.100.23",
        "update-portal.example.net",
        "http://update-portal.example.net/payload.sh",
        SHA256,
        "d41d8cd98f00b204e9800998ecf8427e",
        "cdn-hue.example.com",
        "203.0.113.99",
    }
    first = got["203.0.113.45"]
    assert first.name == "SSH brute force against city portals (Hue ISAC)"
    assert first.description == "brute-force source" and first.tlp == "green"
    assert first.valid_from == datetime.fromtimestamp(1763625600, UTC)
    assert got["198.51.100.23"].tlp == "amber"  # the attribute's tag over the event's
    assert 'misp-galaxy:threat-actor="unknown"' in first.labels
    reasons = {r.where: (r.kind, r.reason) for r in taken.rejects}
    assert reasons["attribute a0000001-0000-4000-8000-000000000005"] == (
        "skipped",
        "to_ids is off (not for detection)",
    )
    assert reasons["attribute a0000001-0000-4000-8000-000000000006"][0] == "skipped"
    assert reasons["attribute a0000001-0000-4000-8000-000000000007"][0] == "rejected"
    assert len(taken.rejects) == 3
    # a list of events, as "export JSON" of several events writes it
    listed = parse(json.dumps([json.loads(data)]), Intake(source="file:misp"))
    assert {i.id for i in listed.indicators} == {i.id for i in taken.indicators}


def test_a_plain_list_reports_bad_lines_by_number() -> None:
    text = (HERE / "plain_list.txt").read_text()
    taken = parse(text, Intake(source="paste:lead.minh", tenant="hue-ioc"))
    assert taken.format == "plain"
    got = {(i.type, i.value) for i in taken.indicators}
    assert got == {
        (IndicatorType.ip, "203.0.113.45"),
        (IndicatorType.cidr, "198.51.100.0/24"),
        (IndicatorType.cidr, "2001:db8:dead::/48"),
        (IndicatorType.domain, "evil-update.example.net"),
        (IndicatorType.url, "https://phish.example.org/login.php"),
        (IndicatorType.hash, SHA256),
    }
    assert [(r.where, r.kind) for r in taken.rejects] == [
        ("line 8", "rejected"),
        ("line 9", "rejected"),
    ]
    note = next(i for i in taken.indicators if i.value == "198.51.100.0/24")
    assert note.description == "a hosting range used for scanning"


def test_unreadable_inputs_raise_a_typed_error() -> None:
    with pytest.raises(IntelFormatError) as e:
        parse(b'{"Event": 3}', Intake(source="t"))
    assert isinstance(e.value, SocError) and e.value.format == "misp"
    with pytest.raises(IntelFormatError):
        parse(b'{"hello": "world"}', Intake(source="t"))
    with pytest.raises(IntelFormatError):
        parse(b"not json", Intake(source="t"), format="stix")
    with pytest.raises(IntelFormatError):
        parse(b"\xff\xfe\x00bad", Intake(source="t"))
