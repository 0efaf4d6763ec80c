"""Merging incidents and moving alerts: counts, severity, spans and verdicts are kept exact."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc.audit import AuditEntry, verify
from soc.incidents.casework import set_verdict
from soc.incidents.deadlines import DeadlinePolicy, schedule
from soc.incidents.errors import InvalidOperation, NotAllowed
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.lifecycle import HandOffTo, Triage, apply
from soc.incidents.merge import merge, move_alerts
from soc.incidents.models import Incident, IncidentStatus, Verdict
from soc.models import Severity
from tests.unit.incidents.conftest import (
    ANALYST,
    LEAD,
    NOW,
    RESPONDER,
    UNIT,
    VIEWER,
    Recording,
    incident,
    later,
    ref,
)


@pytest.fixture
def incidents(otrf: Recording) -> list[Incident]:
    """The OTRF attack's 11 incidents (one per rule), oldest first."""
    changed = group(
        otrf.alerts, open_incidents=[], policy=GroupingPolicy(), now=NOW, events=otrf.by_id
    ).changed
    return sorted(changed, key=lambda i: i.first_seen)


def holds(incidents: list[Incident]) -> dict[str, tuple[str, Verdict]]:
    """alert id -> (incident id, verdict), checking that no alert is in two incidents."""
    out: dict[str, tuple[str, Verdict]] = {}
    for inc in incidents:
        for a in inc.alerts:
            assert a.id not in out, f"alert {a.id} is in two incidents"
            out[a.id] = (inc.id, a.verdict)
        assert inc.alert_count == len(inc.alerts)
        if inc.alerts:
            assert inc.severity == max((a.severity for a in inc.alerts), key=lambda s: s.rank)
            assert inc.first_seen == min(a.time for a in inc.alerts)
            assert inc.last_seen == max(a.time for a in inc.alerts)
    return out


def test_merge_keeps_every_alert_once_and_raises_severity(incidents: list[Incident]) -> None:
    medium = [i for i in incidents if i.severity is Severity.medium]
    high = [i for i in incidents if i.severity is Severity.high]
    target, sources = medium[0], [medium[1], high[0]]
    judged = set_verdict(
        sources[0], sources[0].alert_ids[:1], Verdict.true_positive, actor=ANALYST, now=NOW
    ).incident
    sources = [judged, sources[1]]
    before = holds([target, *sources])

    out = merge(target, sources, actor=ANALYST, now=later(1))
    after = holds([out.target, *out.sources])
    assert {a: v for a, (_, v) in after.items()} == {a: v for a, (_, v) in before.items()}
    assert {inc for inc, _ in after.values()} == {target.id}
    assert out.target.alert_count == sum(i.alert_count for i in (target, *sources))
    assert out.target.severity is Severity.high
    assert out.target.first_seen == min(i.first_seen for i in (target, *sources))
    assert set(out.target.tags) == {t for i in (target, *sources) for t in i.tags}
    assert {o.key for i in (target, *sources) for o in i.observables} == {
        o.key for o in out.target.observables
    }
    for s in out.sources:
        assert s.status is IncidentStatus.closed and s.merged_into == target.id
        assert s.alerts == [] and s.alert_count == 0 and s.closed_at == later(1)
    assert [c.action for c in out.changes] == ["incident.merge", *["incident.merged"] * 2]
    assert out.changes[0].after["merged"] == [s.id for s in sources]
    chain: list[AuditEntry] = []
    for c in out.changes:
        chain.append(c.seal(chain[-1] if chain else None))
    assert verify(chain).ok


def test_merged_incidents_no_longer_absorb_alerts(
    otrf: Recording, incidents: list[Incident]
) -> None:
    target, source = incidents[0], incidents[1]
    out = merge(target, [source], actor=ANALYST, now=NOW)
    alert = next(a for a in otrf.alerts if a.id == source.alerts[0].id)
    repeat = alert.model_copy(
        update={"id": "again", "event_id": "again", "time": alert.time + timedelta(minutes=1)}
    )
    r = group([repeat], open_incidents=[out.target, *out.sources], policy=GroupingPolicy(), now=NOW)
    assert r.created and r.changed[0].id not in (target.id, source.id)


def test_merge_refusals(incidents: list[Incident]) -> None:
    a, b, c = incidents[:3]
    with pytest.raises(InvalidOperation, match="at least one"):
        merge(a, [], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="itself"):
        merge(a, [a], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="twice"):
        merge(a, [b, b], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="tenants"):
        merge(a, [b.model_copy(update={"tenant": "police-south"})], actor=ANALYST, now=NOW)
    closed = b.model_copy(update={"status": IncidentStatus.closed})
    for target, sources in ((closed, [c]), (a, [closed])):
        with pytest.raises(InvalidOperation, match="closed"):
            merge(target, sources, actor=ANALYST, now=NOW)
    offered = apply(
        apply(b, Triage(), actor=ANALYST, now=NOW).incident,
        HandOffTo(to_unit=UNIT),
        actor=ANALYST,
        now=NOW,
    ).incident
    with pytest.raises(InvalidOperation, match="recall it first"):
        merge(a, [offered], actor=ANALYST, now=NOW)
    with pytest.raises(NotAllowed):
        merge(a, [b], actor=VIEWER, now=NOW)
    with pytest.raises(NotAllowed):
        merge(a, [b.model_copy(update={"owner_unit": UNIT})], actor=ANALYST, now=NOW)
    with pytest.raises(NotAllowed):
        merge(a, [b], actor=RESPONDER, now=NOW)


def test_merge_tightens_the_targets_deadlines(incidents: list[Incident]) -> None:
    policy = DeadlinePolicy()
    medium = schedule(
        next(i for i in incidents if i.severity is Severity.medium), policy=policy, now=NOW
    )
    high = next(i for i in incidents if i.severity is Severity.high)
    out = merge(medium, [high], actor=ANALYST, now=later(10), deadlines=policy)
    assert out.target.deadlines is not None
    assert out.target.deadlines.severity is Severity.high
    assert out.target.deadlines.acknowledge_due == later(70)


def test_move_recomputes_both_sides_and_carries_verdicts() -> None:
    src = incident(
        id="src",
        alerts=[ref(1, Severity.critical, 1), ref(2, Severity.low, 5), ref(3, Severity.low, 9)],
    )
    dst = incident(id="dst", alerts=[ref(4, Severity.medium, 30)])
    src = set_verdict(src, ["alert-1"], Verdict.true_positive, actor=ANALYST, now=NOW).incident
    before = holds([src, dst])

    out = move_alerts(src, dst, ["alert-1", "alert-3"], actor=ANALYST, now=later(1))
    after = holds([out.source, out.target])
    assert set(after) == set(before)
    assert after["alert-1"] == ("dst", Verdict.true_positive)
    assert after["alert-3"] == ("dst", Verdict.undetermined)
    assert out.source.alert_ids == ["alert-2"]
    assert out.source.severity is Severity.low, "severity falls when the critical alert leaves"
    assert out.target.severity is Severity.critical
    assert (out.source.first_seen.minute, out.source.last_seen.minute) == (5, 5)
    assert (out.target.first_seen.minute, out.target.last_seen.minute) == (1, 30)
    assert out.source.alert_count + out.target.alert_count == 4
    assert [c.after["moved"] for c in out.changes] == [["alert-1", "alert-3"]] * 2
    assert src.alert_count == 3, "the incidents given are not modified"


def test_move_refusals() -> None:
    src = incident(id="src", alerts=[ref(1), ref(2)])
    dst = incident(id="dst", alerts=[ref(3)])
    with pytest.raises(InvalidOperation, match="at least one alert"):
        move_alerts(src, dst, ["alert-1", "alert-2"], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="not in incident"):
        move_alerts(src, dst, ["alert-3"], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="no alerts"):
        move_alerts(src, dst, [], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="same incident"):
        move_alerts(src, src, ["alert-1"], actor=ANALYST, now=NOW)
    with pytest.raises(InvalidOperation, match="tenants"):
        move_alerts(
            src, dst.model_copy(update={"tenant": "x"}), ["alert-1"], actor=ANALYST, now=NOW
        )
    closed = dst.model_copy(update={"status": IncidentStatus.closed_false_positive})
    with pytest.raises(InvalidOperation, match="closed_false_positive"):
        move_alerts(src, closed, ["alert-1"], actor=ANALYST, now=NOW)
    with pytest.raises(NotAllowed):
        move_alerts(src, dst, ["alert-1"], actor=VIEWER, now=NOW)
    assert move_alerts(src, dst, ["alert-1"], actor=LEAD, now=NOW).target.alert_count == 2
