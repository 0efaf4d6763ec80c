"""Suppressions on real alerts: by rule, host and event fields, per tenant, until they expire."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.models import Suppression
from soc.incidents.suppress import Silencer, compile_pattern
from tests.unit.incidents.conftest import NOW, TENANT, Recording

SYSMON_EXE = "693a44e9-7f26-4cb6-b787-214867672d3a"  # Sysmon File Executable Creation Detected
SSH_FAIL = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"  # SSH Password Authentication Failure
US = timedelta(microseconds=1)


def suppression(
    rule_id: str,
    *,
    fields: dict[str, str] | None = None,
    host: str | None = None,
    tenant: str = TENANT,
    created: datetime = NOW - timedelta(days=1),
    expires: datetime = NOW + timedelta(days=30),
    author: str = "lee",
) -> Suppression:
    f = fields or {}
    return Suppression(
        id=Suppression.make_id(
            tenant=tenant, rule_id=rule_id, host=host, fields=f, author=author, created=created
        ),
        tenant=tenant,
        rule_id=rule_id,
        host=host,
        fields=f,
        reason="known noise",
        author=author,
        created=created,
        expires=expires,
    )


def test_field_wildcard_silences_only_the_matching_real_alert(otrf: Recording) -> None:
    exe = [a for a in otrf.alerts if a.rule_id == SYSMON_EXE]
    images = [otrf.event_of(a).fields["Image"] for a in exe]
    assert len(exe) == 2 and images[0].endswith("\\msedge.exe")
    assert not images[1].endswith("\\msedge.exe")
    edge = suppression(SYSMON_EXE, fields={"Image": "*\\MSEDGE.EXE"})  # any case
    silencer = Silencer([edge])
    hits = [silencer.match(a, otrf.event_of(a), now=NOW) for a in otrf.alerts]
    assert [a.id for a, h in zip(otrf.alerts, hits, strict=True) if h] == [exe[0].id]
    assert hits[otrf.alerts.index(exe[0])] == edge


def test_suppressing_a_brute_force_source_counts_what_it_silenced(authlog: Recording) -> None:
    prefix = "24.151.103."
    s = suppression(SSH_FAIL, fields={"src_ip": prefix + "*"}, host="IP-10-77-*")
    silencer = Silencer([s])
    expected = [
        a.id
        for a in authlog.alerts
        if a.rule_id == SSH_FAIL
        and str(authlog.event_of(a).fields.get("src_ip") or "").startswith(prefix)
    ]
    assert len(expected) > 100
    hit = [
        a.id for a in authlog.alerts if silencer.match(a, authlog.event_of(a), now=NOW) is not None
    ]
    assert hit == expected

    result = group(
        authlog.alerts,
        open_incidents=[],
        policy=GroupingPolicy(),
        now=NOW,
        events=authlog.by_id,
        silencer=silencer,
    )
    # The log repeats a few lines byte for byte: same event id, same alert id, counted once.
    distinct = set(expected)
    assert len(distinct) < len(expected)
    assert Counter(result.suppressed.values()) == {s.id: len(distinct)}
    assert set(result.suppressed) == distinct
    assert not set(result.assigned) & distinct
    grouped = sum(i.alert_count for i in result.changed)
    assert grouped == len({a.id for a in authlog.alerts}) - len(distinct)


def test_expiry_is_exclusive_and_nothing_matches_before_creation(otrf: Recording) -> None:
    alert = next(a for a in otrf.alerts if a.rule_id == SYSMON_EXE)
    event = otrf.event_of(alert)
    s = suppression(SYSMON_EXE, created=NOW, expires=NOW + timedelta(hours=8))
    silencer = Silencer([s])
    assert silencer.match(alert, event, now=NOW - US) is None
    assert silencer.match(alert, event, now=NOW) == s
    assert silencer.match(alert, event, now=NOW + timedelta(hours=8) - US) == s
    assert silencer.match(alert, event, now=NOW + timedelta(hours=8)) is None
    assert silencer.active(now=NOW) == [s]
    assert silencer.active(now=NOW + timedelta(hours=8)) == []


def test_another_tenants_suppression_or_rule_never_matches(otrf: Recording) -> None:
    alert = next(a for a in otrf.alerts if a.rule_id == SYSMON_EXE)
    event = otrf.event_of(alert)
    silencer = Silencer(
        [suppression(SYSMON_EXE, tenant="police-south"), suppression("another-rule")]
    )
    assert silencer.match(alert, event, now=NOW) is None


def test_field_rules_need_the_field_and_the_event(otrf: Recording) -> None:
    alert = next(a for a in otrf.alerts if a.rule_id == SYSMON_EXE)
    event = otrf.event_of(alert)
    missing = Silencer([suppression(SYSMON_EXE, fields={"NoSuchField": "*"})])
    assert missing.match(alert, event, now=NOW) is None
    assert missing.match(alert, None, now=NOW) is None
    rule_only = suppression(SYSMON_EXE)
    assert Silencer([rule_only]).match(alert, None, now=NOW) == rule_only
    with pytest.raises(ValueError, match="is not alert"):
        Silencer([rule_only]).match(alert, otrf.events[0], now=NOW)


def test_numbers_and_lists_compare_as_text(otrf: Recording) -> None:
    alert = next(a for a in otrf.alerts if a.rule_id == SYSMON_EXE)
    event = otrf.event_of(alert)
    assert event.fields["EventID"] == 29
    assert Silencer([suppression(SYSMON_EXE, fields={"EventID": "29"})]).match(
        alert, event, now=NOW
    )
    assert not Silencer([suppression(SYSMON_EXE, fields={"EventID": "2?9"})]).match(
        alert, event, now=NOW
    )
    listed = event.model_copy(update={"fields": {**event.fields, "Tags": ["a", "backup", "c"]}})
    assert Silencer([suppression(SYSMON_EXE, fields={"Tags": "BACK*"})]).match(
        alert, listed, now=NOW
    )


def test_the_first_created_wins_so_counts_are_stable(otrf: Recording) -> None:
    alert = next(a for a in otrf.alerts if a.rule_id == SYSMON_EXE)
    older = suppression(SYSMON_EXE, created=NOW - timedelta(days=9), author="a")
    newer = suppression(SYSMON_EXE, created=NOW - timedelta(days=2), author="b")
    assert Silencer([newer, older]).match(alert, otrf.event_of(alert), now=NOW) == older


@pytest.mark.parametrize(
    ("pattern", "value", "hit"),
    [
        ("C:\\Windows\\System32\\cmd.exe", "c:\\windows\\system32\\CMD.EXE", True),
        ("*\\cmd.exe", "C:\\Windows\\System32\\cmd.exe", True),
        ("*\\cmd.exe", "C:\\Windows\\System32\\cmd.exe.bak", False),
        ("10.0.0.?", "10.0.0.7", True),
        ("10.0.0.?", "10.0.0.70", False),
        ("a.b", "axb", False),
        ("(x)[y]+", "(x)[y]+", True),
        ("*", "", True),
        ("", "x", False),
    ],
)
def test_patterns_have_two_wildcards_and_nothing_else(pattern: str, value: str, hit: bool) -> None:
    assert (compile_pattern(pattern).fullmatch(value) is not None) is hit


def test_a_suppression_needs_reason_author_and_a_later_expiry() -> None:
    good = suppression("r").model_dump()
    for bad in (
        {"reason": ""},
        {"author": ""},
        {"expires": good["created"]},
        {"expires": good["created"] - timedelta(seconds=1)},
    ):
        with pytest.raises(ValidationError):
            Suppression.model_validate(good | bad)
    first = suppression("r", fields={"a": "1"})
    assert first.id == suppression("r", fields={"a": "1"}).id
    assert first.id != suppression("r", fields={"a": "2"}).id
