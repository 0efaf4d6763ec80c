"""Deadlines per severity: due times, breaches at the boundary, each reported once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from soc.incidents.deadlines import (
    DEFAULT_ALLOWANCES,
    Allowance,
    Breach,
    DeadlinePolicy,
    check,
    schedule,
)
from soc.incidents.lifecycle import Accept, HandOffTo, Resolve, StartResponse, Triage, apply
from soc.incidents.models import Incident, IncidentStatus
from soc.models import Severity
from tests.unit.incidents.conftest import ANALYST, NOW, RESPONDER, UNIT, incident, later, ref

US = timedelta(microseconds=1)
POLICY = DeadlinePolicy()


def scheduled(severity: Severity, created: datetime = NOW) -> Incident:
    return schedule(incident(alerts=[ref(1, severity)], created=created), policy=POLICY, now=NOW)


@pytest.mark.parametrize(
    ("severity", "ack", "resolve"),
    [
        (Severity.critical, timedelta(minutes=15), timedelta(hours=4)),
        (Severity.high, timedelta(hours=1), timedelta(hours=24)),
        (Severity.medium, timedelta(hours=4), timedelta(days=3)),
        (Severity.low, timedelta(hours=24), timedelta(days=7)),
        (Severity.informational, None, None),
    ],
)
def test_default_due_times_count_from_creation(
    severity: Severity, ack: timedelta | None, resolve: timedelta | None
) -> None:
    d = scheduled(severity).deadlines
    assert d is not None and d.severity is severity
    assert d.acknowledge_due == (NOW + ack if ack else None)
    assert d.resolve_due == (NOW + resolve if resolve else None)


def test_unmet_acknowledgement_breaches_only_after_the_due_time() -> None:
    inc = scheduled(Severity.critical)
    due = NOW + timedelta(minutes=15)
    assert check(inc, now=due) == (inc, []), "exactly at the due time is still in time"
    flagged, breaches = check(inc, now=due + US)
    assert [(b.kind, b.severity, b.due) for b in breaches] == [
        ("acknowledge", Severity.critical, due)
    ]
    assert breaches[0].late_by_s == pytest.approx(1e-6)
    assert breaches[0].id == Breach.make_id(incident_id=inc.id, kind="acknowledge", due=due)
    assert flagged.deadlines is not None and flagged.deadlines.breached == ("acknowledge",)
    # Reported once: a later check finds nothing new.
    assert check(flagged, now=due + timedelta(hours=1))[1] == []


def _acknowledged_at(at: datetime) -> Incident:
    inc = scheduled(Severity.critical)
    inc = apply(inc, Triage(), actor=ANALYST, now=NOW).incident
    inc = apply(inc, HandOffTo(to_unit=UNIT), actor=ANALYST, now=NOW).incident
    return apply(inc, Accept(), actor=RESPONDER, now=at).incident


def test_acknowledged_at_the_due_time_is_in_time_a_microsecond_later_is_not() -> None:
    due = NOW + timedelta(minutes=15)
    on_time = _acknowledged_at(due)
    assert on_time.acknowledged_at == due
    assert check(on_time, now=due + timedelta(hours=1))[1] == []

    late = _acknowledged_at(due + US)
    _, breaches = check(late, now=due + timedelta(hours=1))
    assert [b.kind for b in breaches] == ["acknowledge"]
    assert breaches[0].late_by_s == pytest.approx(1e-6), "late by when it was met, not now"


def test_triage_alone_does_not_meet_the_acknowledgement_deadline() -> None:
    inc = apply(scheduled(Severity.critical), Triage(), actor=ANALYST, now=NOW).incident
    assert inc.acknowledged_at is None
    assert [b.kind for b in check(inc, now=later(16))[1]] == ["acknowledge"]


def test_resolution_breach_is_separate_and_met_by_resolving() -> None:
    inc = scheduled(Severity.high)
    inc = apply(inc, Triage(), actor=ANALYST, now=NOW).incident
    inc = apply(inc, StartResponse(), actor=ANALYST, now=later(10)).incident
    assert inc.acknowledged_at == later(10)
    due = NOW + timedelta(hours=24)
    assert check(inc, now=due)[1] == []
    flagged, breaches = check(inc, now=due + US)
    assert [b.kind for b in breaches] == ["resolve"]
    resolved = apply(flagged, Resolve(summary="done"), actor=ANALYST, now=due + US).incident
    assert check(resolved, now=due + timedelta(days=9))[1] == []

    in_time = apply(inc, Resolve(summary="done"), actor=ANALYST, now=due).incident
    assert check(in_time, now=due + timedelta(days=9))[1] == []


def test_both_breaches_at_once_when_nothing_happened() -> None:
    inc = scheduled(Severity.critical)
    flagged, breaches = check(inc, now=NOW + timedelta(hours=5))
    assert sorted(b.kind for b in breaches) == ["acknowledge", "resolve"]
    assert flagged.deadlines is not None
    assert set(flagged.deadlines.breached) == {"acknowledge", "resolve"}


def test_informational_has_no_deadlines_and_never_breaches() -> None:
    inc = scheduled(Severity.informational)
    assert check(inc, now=NOW + timedelta(days=365))[1] == []
    assert check(incident(), now=NOW + timedelta(days=365))[1] == [], "none scheduled"


def test_a_severity_rise_tightens_never_loosens() -> None:
    medium = scheduled(Severity.medium)  # ack due NOW+4h
    early = medium.model_copy(update={"severity": Severity.critical})
    d = schedule(early, policy=POLICY, now=later(30)).deadlines
    assert d is not None and d.severity is Severity.critical
    assert d.acknowledge_due == later(45) and d.resolve_due == later(30 + 240)

    late = schedule(early, policy=POLICY, now=later(230)).deadlines
    assert late is not None
    assert late.acknowledge_due == NOW + timedelta(hours=4), "the earlier due time stays"

    lower = schedule(early, policy=POLICY, now=later(30))
    dropped = lower.model_copy(update={"severity": Severity.low})
    assert schedule(dropped, policy=POLICY, now=later(60)).deadlines == lower.deadlines

    info = scheduled(Severity.informational).model_copy(update={"severity": Severity.high})
    risen = schedule(info, policy=POLICY, now=later(10)).deadlines
    assert risen is not None and risen.acknowledge_due == later(70)


def test_policy_is_configurable_and_checked() -> None:
    policy = DeadlinePolicy.model_validate(
        {"allowances": {"high": {"acknowledge": "PT30M", "resolve": "PT8H"}}}
    )
    assert policy.allowances[Severity.high] == Allowance(
        acknowledge=timedelta(minutes=30), resolve=timedelta(hours=8)
    )
    assert policy.allowances[Severity.critical] == DEFAULT_ALLOWANCES[Severity.critical]
    assert policy.due(Severity.high, NOW) == (later(30), later(480))
    for bad in (
        {"acknowledge": "PT2H", "resolve": "PT1H"},
        {"acknowledge": -5, "resolve": None},
        {"acknowledge": 0, "resolve": 60},
    ):
        with pytest.raises(ValidationError):
            DeadlinePolicy.model_validate({"allowances": {"low": bad}})
    with pytest.raises(ValidationError):
        DeadlinePolicy.model_validate({"allowances": {"urgent": {"acknowledge": 1, "resolve": 2}}})


def test_closed_unacknowledged_incident_meets_both_deadlines_at_closing() -> None:
    from soc.incidents.lifecycle import CloseFalsePositive

    inc = scheduled(Severity.critical)
    out = apply(inc, CloseFalsePositive(reason="test"), actor=ANALYST, now=later(10))
    assert out.incident.status is IncidentStatus.closed_false_positive
    assert out.incident.acknowledged_at == out.incident.resolved_at == later(10)
    assert check(out.incident, now=later(600))[1] == []
