"""The drill's scorecard: what the SOC caught, how fast it responded, and a score.

    card = await scorecard(store, audit, drill, scenario)      # gathers, then score()
    card = score(drill, scenario, alerts=..., incidents=..., triaged=..., history=..., now=...)

Every duration is the SOC's own clock: a step's start is when the ingest accepted its
first replayed event (the runner records it), an alert's moment is when the
detector or the correlation stage raised it (``created``), the response's moments
are when people acted (hand-offs and acceptance on the incident, triage from the
audit trail, resolution on the incident). Recorded times are never used.

The rules (also in docs/DRILLS.md):

- **Detection.** Each expected detection is *met* (100) when an alert of its rule
  (on its host, when one is named) was raised within its budget from the step's
  first event, *late* (50) when after it, *missed* (0) when none was raised and the
  budget has passed or the drill is over, *pending* (not scored) otherwise. A step's
  score is the mean of its detections'; the detection score the mean of all of them.
- **Response**, measured from the drill's first alert: *triage* (the first incident
  triaged), *hand-off* (the first hand-off), *acknowledge* (the first hand-off
  accepted by the unit), *resolve* (the last resolved of the incidents the unit
  accepted; an incident closed by the drill's end is not resolved). Each with a budget scores
  100, 50 or 0 as above; one without a budget is shown, not scored. The hand-off's
  unit scores 100 when every hand-off went to the expected unit, 0 when one did
  not or (drill over) none was made. The response score is the mean of these.
- **Overall**: the mean of the detection and response scores.
- **Noise**: the drill's alerts of rules the scenario does not expect; listed, not
  scored. **Verdicts**: the analysts' verdicts on the drill's alerts, counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from soc.audit.trail import AuditTrail
from soc.drills.book import DrillBook
from soc.drills.models import (
    DetectionResult,
    Drill,
    HandOffResult,
    HistoryPoint,
    Milestone,
    NoiseAlert,
    Outcome,
    Scorecard,
    StepResult,
)
from soc.drills.scenario import Scenario
from soc.incidents.cases import Cases, IncidentQuery
from soc.incidents.models import HandOffState, Incident, IncidentStatus
from soc.models import Alert, AlertQuery, utcnow
from soc.store.base import Store

POINTS: Mapping[Outcome, float | None] = {
    "met": 100.0,
    "late": 50.0,
    "missed": 0.0,
    "pending": None,
}
TRIAGE_ACTION = "incident.triage"


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 1) if known else None


def _outcome(
    at: datetime | None, start: datetime | None, budget: timedelta, *, over: bool, now: datetime
) -> Outcome:
    if at is not None and start is not None:
        return "met" if at - start <= budget else "late"
    if over or (start is not None and now - start > budget):
        return "missed"
    return "pending"


def _seconds(at: datetime | None, start: datetime | None) -> float | None:
    return round((at - start).total_seconds(), 3) if at is not None and start else None


def score(
    drill: Drill,
    scenario: Scenario,
    *,
    alerts: Sequence[Alert],
    incidents: Sequence[Incident],
    triaged: Mapping[str, datetime],
    history: Sequence[Drill],
    now: datetime,
) -> Scorecard:
    """The scorecard of ``drill`` from its alerts and incidents, as they are at ``now``.

    ``triaged``: incident id -> when it was first triaged (the audit trail's entry).
    """
    over = drill.state.is_over
    by_rule: dict[str, list[Alert]] = {}
    for a in sorted(alerts, key=lambda a: (a.created, a.id)):
        by_rule.setdefault(a.rule_id, []).append(a)
    progress = {p.name: p for p in drill.steps}

    steps: list[StepResult] = []
    for step in scenario.steps:
        start = progress[step.name].first_event_at if step.name in progress else None
        results: list[DetectionResult] = []
        for e in step.expect:
            hit = next(
                (
                    a
                    for a in by_rule.get(e.rule, [])
                    if (e.host is None or (a.host or "").lower() == e.host.lower())
                    and (start is None or a.created >= start - timedelta(seconds=1))
                ),
                None,
            )
            at = hit.created if hit is not None else None
            outcome = _outcome(at, start, e.within, over=over, now=now)
            results.append(
                DetectionResult(
                    step=step.name,
                    rule=e.rule,
                    host=e.host,
                    budget_s=e.within.total_seconds(),
                    outcome=outcome,
                    alert_id=hit.id if hit else None,
                    rule_title=hit.rule_title if hit else None,
                    alert_at=at,
                    seconds=_seconds(at, start),
                    score=POINTS[outcome],
                )
            )
        step_score = _mean([POINTS[r.outcome] for r in results]) if results else None
        steps.append(
            StepResult(
                name=step.name,
                title=step.title,
                first_event_at=start,
                detections=results,
                score=step_score,
            )
        )
    detection_score = _mean([POINTS[r.outcome] for s in steps for r in s.detections])

    first_alert = min((a.created for a in alerts), default=None)
    live = [i for i in incidents if i.merged_into is None]
    response = scenario.response
    handoffs = sorted(
        (
            HandOffResult(
                incident_id=i.id,
                to_unit=h.to_unit,
                at=h.at,
                state=h.state.value,
                expected=h.to_unit == response.unit,
            )
            for i in live
            for h in i.handoffs
            if h.state is not HandOffState.recalled
        ),
        key=lambda h: (h.at, h.incident_id),
    )
    accepted = [
        h.decided_at
        for i in live
        for h in i.handoffs
        if h.state is HandOffState.accepted and h.decided_at is not None
    ]
    # The resolution is the unit's: of the incidents it accepted, when the last was resolved.
    owned = [i for i in live if any(h.state is HandOffState.accepted for h in i.handoffs)]
    resolved: datetime | None = None
    if owned and all(i.resolved_at is not None for i in owned):
        resolved = max(i.resolved_at for i in owned if i.resolved_at is not None)
    moments: list[tuple[str, datetime | None, timedelta | None]] = [
        ("triage", min(triaged.values(), default=None), response.triage_within),
        ("hand_off", min((h.at for h in handoffs), default=None), response.hand_off_within),
        ("acknowledge", min(accepted, default=None), response.acknowledge_within),
        ("resolve", resolved, response.resolve_within),
    ]
    milestones: list[Milestone] = []
    for name, at, budget in moments:
        if budget is None:
            milestones.append(
                Milestone(
                    name=name,
                    at=at,
                    seconds=_seconds(at, first_alert),
                    outcome="unbudgeted",
                    score=None,
                )
            )
            continue
        outcome = _outcome(at, first_alert, budget, over=over, now=now)
        if first_alert is None and not over:
            outcome = "pending"
        milestones.append(
            Milestone(
                name=name,
                at=at,
                seconds=_seconds(at, first_alert),
                budget_s=budget.total_seconds(),
                outcome=outcome,
                score=POINTS[outcome],
            )
        )
    unit_correct = all(h.expected for h in handoffs) if handoffs else None
    unit_points = 100.0 if unit_correct else 0.0 if unit_correct is False or over else None
    response_score = _mean([m.score for m in milestones] + [unit_points])

    expected = scenario.expected_rules
    noise = [
        NoiseAlert(
            alert_id=a.id, rule_id=a.rule_id, rule_title=a.rule_title, host=a.host, at=a.created
        )
        for a in sorted(alerts, key=lambda a: (a.created, a.id))
        if a.rule_id not in expected
    ]
    ours = {a.id for a in alerts}
    verdicts = Counter(r.verdict.value for i in incidents for r in i.alerts if r.id in ours)
    overall = _mean([detection_score, response_score])
    points = [
        HistoryPoint(
            drill_id=d.id,
            started=d.started,
            state=d.state,
            score=overall if d.id == drill.id else d.score,
        )
        for d in history
    ]
    if all(p.drill_id != drill.id for p in points):
        points.append(
            HistoryPoint(drill_id=drill.id, started=drill.started, state=drill.state, score=overall)
        )
    points.sort(key=lambda p: (p.started or drill.created, p.drill_id))
    return Scorecard(
        drill=drill,
        scenario_title=scenario.title,
        expected_unit=response.unit,
        faster_than_real_time=drill.speed > 1,
        first_alert_at=first_alert,
        steps=steps,
        detection_score=detection_score,
        response=milestones,
        handoffs=handoffs,
        unit_correct=unit_correct,
        response_score=response_score,
        noise=noise,
        verdicts=dict(verdicts),
        incidents=sorted(i.id for i in incidents),
        score=overall,
        history=points,
        generated=now,
    )


async def drill_alerts(store: Store, drill: Drill) -> list[Alert]:
    out: list[Alert] = []
    cursor: str | None = None
    while True:
        page = await store.search_alerts(
            AlertQuery(tenants=[drill.tenant], drill=drill.id, limit=500, cursor=cursor)
        )
        out += page.items
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def drill_incidents(cases: Cases, drill: Drill) -> list[Incident]:
    out: list[Incident] = []
    cursor: str | None = None
    while True:
        page = await cases.incidents.find(
            IncidentQuery(tenants=[drill.tenant], drill=drill.id, limit=500, cursor=cursor)
        )
        out += page.items
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


async def first_triage(audit: AuditTrail, incident: Incident) -> datetime | None:
    if incident.status is IncidentStatus.new:
        return None
    for entry in await audit.entries(tenants=[incident.tenant], target=f"incident:{incident.id}"):
        if entry.action == TRIAGE_ACTION:
            return entry.time
    return None


async def scorecard(store: Store, cases: Cases, drill: Drill, scenario: Scenario) -> Scorecard:
    alerts = await drill_alerts(store, drill)
    incidents = await drill_incidents(cases, drill)
    triaged = {i.id: t for i in incidents if (t := await first_triage(cases.audit, i)) is not None}
    history = await DrillBook(store).list(tenants=[drill.tenant], scenario=drill.scenario)
    return score(
        drill,
        scenario,
        alerts=alerts,
        incidents=incidents,
        triaged=triaged,
        history=history,
        now=utcnow(),
    )
