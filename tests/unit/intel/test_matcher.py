"""The indicator matcher over recorded events: exact and CIDR addresses, hashes, domains and
URLs, tenants, validity, and the same fields as the incidents' observables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.incidents.models import ObservableType
from soc.incidents.observables import extract
from soc.intel.alerts import RULE_ID, indicator_alert, severity_of
from soc.intel.event_values import ADDRESS, DOMAIN, HASH, URL, event_values, normalize_url
from soc.intel.matcher import IndicatorMatcher
from soc.intel.models import IndicatorType
from soc.models import Alert, Event, Severity
from tests.intel_data import (
    ATTACKER,
    TENANT,
    auth_events,
    indicator,
    whoami_sha256,
    windows_events,
)

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
T = IndicatorType


@pytest.fixture(scope="module")
def auth(shared_dir: Path) -> list[Event]:
    return auth_events(shared_dir)


@pytest.fixture(scope="module")
def windows() -> list[Event]:
    return windows_events()


def with_ip(events: list[Event], address: str) -> list[Event]:
    """The events whose observables hold ``address`` (the incidents' view of them)."""
    return [
        e
        for e in events
        if any(o.type is ObservableType.ip and o.value == address for o in extract(e))
    ]


def test_an_attackers_address_matches_exactly_the_events_holding_it(auth: list[Event]) -> None:
    attacker = indicator(T.ip, ATTACKER, valid_from=NOW - timedelta(days=1))
    matcher = IndicatorMatcher([attacker], now=NOW)
    expected = with_ip(auth, ATTACKER)
    assert len(expected) > 100
    matched = [e for e in auth if matcher.match(e, NOW)]
    assert [e.id for e in matched] == [e.id for e in expected]
    hit = matcher.match(expected[0], NOW)[0]
    assert (hit.indicator.id, hit.field, hit.observed) == (attacker.id, "src_ip", ATTACKER)


def test_a_network_matches_by_containment(auth: list[Event]) -> None:
    expected = {e.id for e in with_ip(auth, ATTACKER)}
    first, second = ATTACKER.split(".")[:2]
    for prefix in (8, 16, 24, 31, 32):
        net = indicator(T.cidr, f"{ATTACKER}/{prefix}", valid_from=NOW - timedelta(days=1))
        matcher = IndicatorMatcher([net], now=NOW)
        matched = {e.id for e in auth if matcher.match(e, NOW)}
        assert expected <= matched, prefix
        for e in auth:
            if e.id in matched:
                hit = matcher.match(e, NOW)[0]
                assert prefix < 16 or hit.observed.startswith(f"{first}.{second}.")
    other = indicator(T.cidr, "24.151.104.0/24", valid_from=NOW - timedelta(days=1))
    assert not any(IndicatorMatcher([other], now=NOW).match(e, NOW) for e in auth)


def test_ipv6_networks_and_addresses(windows: list[Event]) -> None:
    event = windows[0].model_copy(
        update={"fields": {**windows[0].fields, "DestinationIp": "2001:DB8::0:5"}}
    )
    for value, kind in (("2001:db8::5", T.ip), ("2001:db8::/32", T.cidr)):
        matcher = IndicatorMatcher([indicator(kind, value, valid_from=NOW)], now=NOW)
        assert [h.observed for h in matcher.match(event, NOW)] == ["2001:db8::5"]
    far = IndicatorMatcher([indicator(T.cidr, "2001:db9::/32", valid_from=NOW)], now=NOW)
    assert far.match(event, NOW) == []


def test_a_campaign_hash_matches_its_events_in_any_case(windows: list[Event]) -> None:
    sha256 = whoami_sha256(windows)
    for value in (sha256, sha256.upper()):
        matcher = IndicatorMatcher([indicator(T.hash, value, valid_from=NOW)], now=NOW)
        matched = [e for e in windows if matcher.match(e, NOW)]
        assert matched
        assert all(sha256 in str(e.fields["Hashes"]).lower() for e in matched)
        assert {h.field for e in matched for h in matcher.match(e, NOW)} == {"Hashes"}


def test_domains_exact_and_subdomains(windows: list[Event]) -> None:
    names = [(e, k) for e in windows for kind, k, f, _ in event_values(e) if kind == DOMAIN]
    assert names, "the slice names hosts"
    event, name = next((e, n) for e, n in names if n.count(".") >= 2)
    parent = name.split(".", 1)[1]
    exact = IndicatorMatcher([indicator(T.domain, name.upper() + ".", valid_from=NOW)], now=NOW)
    assert exact.match(event, NOW)
    sub = indicator(T.domain, parent, valid_from=NOW)
    assert [h.observed for h in IndicatorMatcher([sub], now=NOW).match(event, NOW)] == [name]
    only_exact = IndicatorMatcher([sub], now=NOW, subdomains=False)
    assert only_exact.match(event, NOW) == []


def test_urls_are_normalised() -> None:
    assert normalize_url("HTTP://Evil.Example:80/a/B.php?x=1#frag") == (
        "http://evil.example/a/B.php?x=1"
    )
    assert normalize_url("https://evil.example") == "https://evil.example/"
    assert normalize_url("not a url") is None


def test_tenants_scope_indicators(auth: list[Event]) -> None:
    event = with_ip(auth, ATTACKER)[0]
    mine = indicator(T.ip, ATTACKER, tenant=TENANT, source="mine", valid_from=NOW)
    theirs = indicator(T.ip, ATTACKER, tenant="other-city", source="theirs", valid_from=NOW)
    everyone = indicator(T.ip, ATTACKER, source="national-feed", valid_from=NOW)
    matcher = IndicatorMatcher([mine, theirs, everyone], now=NOW)
    assert {h.indicator.id for h in matcher.match(event, NOW)} == {mine.id, everyone.id}


def test_validity_and_revocation(auth: list[Event]) -> None:
    event = with_ip(auth, ATTACKER)[0]
    hour = timedelta(hours=1)
    expired = indicator(T.ip, ATTACKER, source="a", valid_from=NOW - 2 * hour, valid_until=NOW)
    future = indicator(T.ip, ATTACKER, source="b", valid_from=NOW + hour)
    revoked = indicator(T.ip, ATTACKER, source="c", valid_from=NOW).model_copy(
        update={"revoked": True}
    )
    ending = indicator(T.ip, ATTACKER, source="d", valid_from=NOW, valid_until=NOW + 2 * hour)
    matcher = IndicatorMatcher([expired, future, revoked, ending], now=NOW)
    assert len(matcher) == 2  # the future one and the one ending later
    assert matcher.live_count == 1
    assert matcher.next_change == NOW + hour
    assert [h.indicator.id for h in matcher.match(event, NOW)] == [ending.id]
    # Validity is checked on each hit: exact at any instant, before any rebuild.
    later = NOW + hour
    assert {h.indicator.id for h in matcher.match(event, later)} == {future.id, ending.id}
    assert [h.indicator.id for h in matcher.match(event, NOW + 2 * hour)] == [future.id]
    assert matcher.due(later) and not matcher.due(NOW)
    rebuilt = matcher.rebuilt(NOW + 3 * hour)
    assert len(rebuilt) == 1 and rebuilt.next_change is None and not rebuilt.due(NOW + 9 * hour)
    assert matcher.match(event, NOW - 3 * hour) == []


def test_the_alert_names_the_indicator(auth: list[Event]) -> None:
    event = with_ip(auth, ATTACKER)[0]
    attacker = indicator(T.ip, ATTACKER, tlp="green", valid_from=NOW)
    hit = IndicatorMatcher([attacker], now=NOW).match(event, NOW)[0]
    alert = indicator_alert(hit, event)
    assert alert.id == Alert.make_id(rule_id=attacker.id, event_id=event.id)
    assert alert.id == indicator_alert(hit, event).id  # the same wherever and whenever made
    assert alert.rule_id == RULE_ID
    assert alert.rule_title == f"Indicator match: {ATTACKER} (national-feed)"
    assert alert.severity is Severity.high and alert.host == event.host
    assert "tlp.green" in alert.tags
    assert alert.indicator is not None
    assert alert.indicator.model_dump() == {
        "indicator_id": attacker.id,
        "type": "ip",
        "value": ATTACKER,
        "source": "national-feed",
        "tlp": "green",
        "confidence": 90,
        "stix_id": attacker.stix_id,
        "field": "src_ip",
        "observed": ATTACKER,
    }
    assert severity_of(attacker, "critical") is Severity.critical
    low = attacker.model_copy(update={"confidence": 10})
    assert severity_of(low) is Severity.low


def test_the_same_values_as_the_incidents_observables(
    auth: list[Event], windows: list[Event]
) -> None:
    """Every IP, domain, URL and hash extract() finds, the matcher's values hold too."""
    kinds = {
        ObservableType.ip: ADDRESS,
        ObservableType.domain: DOMAIN,
        ObservableType.url: URL,
        ObservableType.hash: HASH,
    }
    checked = 0
    for event in [*auth[:2000], *windows]:
        found = {(kind, text) for kind, _, _, text in event_values(event)}
        for o in extract(event):
            if o.type in kinds:
                value = normalize_url(o.value) if o.type is ObservableType.url else o.value
                assert (kinds[o.type], value) in found, (o, event.id)
                checked += 1
    assert checked > 2000


def test_an_empty_matcher_matches_nothing(auth: list[Event]) -> None:
    matcher = IndicatorMatcher(now=NOW)
    assert matcher.empty and matcher.next_change is None
    assert all(matcher.match(e, NOW) == [] for e in auth[:100])


def test_values_that_are_not_text_are_skipped(windows: list[Event]) -> None:
    event = windows[0].model_copy(
        update={"fields": {**windows[0].fields, "SourceIp": None, "Hashes": 5, "url": [None]}}
    )
    matcher = IndicatorMatcher([indicator(T.ip, ATTACKER, valid_from=NOW)], now=NOW)
    assert matcher.match(event, NOW) == []
    assert all(f != "SourceIp" for _, _, f, _ in event_values(event))
