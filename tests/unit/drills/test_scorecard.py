"""The scorecard against known times: real alerts of the project's rules on the LSASS scenario's
recorded events, an incident worked through the real state machine at fixed moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.detect.engine import Engine
from soc.detect.rule import make_alert
from soc.drills.models import Drill, DrillState, StepProgress
from soc.drills.replay import step_events
from soc.drills.report import report_html, scorecard_text
from soc.drills.scenario import Scenario, shipped_scenarios
from soc.drills.scorecard import score
from soc.incidents import lifecycle
from soc.incidents.grouping import GroupingPolicy, group
from soc.incidents.models import Actor, Incident, Verdict
from soc.ingest.normalize import normalize
from soc.models import Alert

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
"""When the step's first event was ingested (SOC clock)."""
ANALYST = Actor(name="ana", role="analyst")
RESPONDER = Actor(name="rosa", role="responder", unit="PA05")
EXPECTED = {
    "15619216-e993-4721-b590-4c520615a67d",
    "ecbc5e16-58e0-4521-9c60-eb9a7ea4ad34",
    "178e615d-e666-498b-9630-9ed363038101",
    "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76",
    "fd877b94-9bb5-4191-bb25-d79cbd93c167",
    "39a94fd1-8c9a-4ff6-bf22-c058762f8014",
}
LATE_RULE = "fd877b94-9bb5-4191-bb25-d79cbd93c167"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return shipped_scenarios()["lsass-credential-dump"]


@pytest.fixture(scope="module")
def alerts(scenario: Scenario, engine: Engine) -> list[Alert]:
    """The alerts the project's rules raise on the scenario's events, each `created` 30 s
    after the step's start, but the reg.exe hive dump's: 400 s (over its 5 min budget)."""
    out = []
    for p in step_events(scenario, scenario.steps[0], drill_id="d-1"):
        ev = p.event
        event = normalize(
            ev.record,
            tenant="default",
            source="drill",
            received=T0,
            host=ev.host,
            time=T0,
            logsource=ev.logsource,
            origin=ev.origin,
        )
        for rule in engine.match(event):
            alert = make_alert(rule, event)
            out.append(
                alert.model_copy(update={"created": at(400 if rule.id == LATE_RULE else 30)})
            )
    return out


def drill(state: DrillState = DrillState.replayed, speed: float = 10) -> Drill:
    return Drill(
        id="d-1",
        scenario="lsass-credential-dump",
        title="t",
        tenant="default",
        speed=speed,
        state=state,
        created_by="lee",
        created=T0 - timedelta(seconds=5),
        started=T0,
        steps=[StepProgress(name="credential-dump", events=2430, sent=2430, first_event_at=T0)],
    )


def worked(alerts: list[Alert], *, unit: str = "PA05") -> Incident:
    """One incident of every alert (grouped by host), worked by the book at known moments."""
    grouped = group(alerts, open_incidents=[], policy=GroupingPolicy(keys=("host",)), now=at(31))
    assert len(grouped.changed) == 1
    inc = grouped.changed[0]
    inc = inc.model_copy(
        update={
            "alerts": [
                a.model_copy(update={"verdict": Verdict.true_positive}) if i < 3 else a
                for i, a in enumerate(inc.alerts)
            ]
        }
    )
    steps = [
        (lifecycle.Triage(), ANALYST, 90),
        (lifecycle.HandOffTo(to_unit=unit), ANALYST, 200),
    ]
    for command, actor, t in steps:
        inc = lifecycle.apply(inc, command, actor=actor, now=at(t)).incident
    if unit == "PA05":
        for command, actor, t in (
            (lifecycle.Accept(), RESPONDER, 1000),
            (lifecycle.StartResponse(), RESPONDER, 1010),
            (lifecycle.Resolve(summary="contained"), RESPONDER, 5000),
        ):
            inc = lifecycle.apply(inc, command, actor=actor, now=at(t)).incident
    return inc


def test_every_field_of_the_scorecard_against_the_known_moments(
    scenario: Scenario, alerts: list[Alert]
) -> None:
    inc = worked(alerts)
    card = score(
        drill(DrillState.ended),
        scenario,
        alerts=alerts,
        incidents=[inc],
        triaged={inc.id: at(90)},
        history=[],
        now=at(6000),
    )
    assert card.faster_than_real_time is True
    assert card.first_alert_at == at(30)
    assert card.expected_unit == "PA05"
    [step] = card.steps
    assert step.first_event_at == T0
    by_rule = {r.rule: r for r in step.detections}
    assert set(by_rule) == EXPECTED
    for rule, r in by_rule.items():
        assert r.alert_at == at(400 if rule == LATE_RULE else 30)
        assert r.seconds == (400.0 if rule == LATE_RULE else 30.0)
        assert r.budget_s == 300.0
        assert r.outcome == ("late" if rule == LATE_RULE else "met")
        assert r.score == (50.0 if rule == LATE_RULE else 100.0)
        assert r.host == "KT-PC01.ubnd.hue.gov.vn"
    assert step.score == pytest.approx(round((5 * 100 + 50) / 6, 1))
    assert card.detection_score == step.score

    m = {x.name: x for x in card.response}
    # from the first alert (30 s): triage 90 s, hand-off 200 s, accepted 1000 s, resolved 5000 s
    assert (m["triage"].at, m["triage"].seconds, m["triage"].budget_s) == (at(90), 60.0, 900.0)
    assert (m["hand_off"].at, m["hand_off"].seconds) == (at(200), 170.0)
    assert (m["acknowledge"].at, m["acknowledge"].seconds) == (at(1000), 970.0)
    assert (m["resolve"].at, m["resolve"].seconds) == (at(5000), 4970.0)
    assert [x.outcome for x in card.response] == ["met", "met", "met", "met"]
    assert card.response_score == 100.0
    [h] = card.handoffs
    assert (h.to_unit, h.at, h.state, h.expected) == ("PA05", at(200), "accepted", True)
    assert card.unit_correct is True
    noise = {n.rule_id for n in card.noise}
    assert noise and not noise & EXPECTED
    assert len(card.noise) == len([a for a in alerts if a.rule_id not in EXPECTED])
    assert card.verdicts == {"true_positive": 3, "undetermined": len(alerts) - 3}
    assert card.score == round((card.detection_score + 100.0) / 2, 1)
    assert card.incidents == [inc.id]
    assert [p.drill_id for p in card.history] == ["d-1"]


def test_a_missed_rule_a_wrong_unit_and_late_milestones(
    scenario: Scenario, alerts: list[Alert]
) -> None:
    disabled = "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76"
    kept = [a for a in alerts if a.rule_id != disabled]
    inc = worked(kept, unit="PA99")
    card = score(
        drill(DrillState.ended),
        scenario,
        alerts=kept,
        incidents=[inc],
        triaged={inc.id: at(90)},
        history=[],
        now=at(90_000),
    )
    r = next(r for r in card.steps[0].detections if r.rule == disabled)
    assert (r.outcome, r.score, r.alert_id, r.seconds) == ("missed", 0.0, None, None)
    [h] = card.handoffs
    assert (h.to_unit, h.expected, h.state) == ("PA99", False, "pending")
    assert card.unit_correct is False
    m = {x.name: x for x in card.response}
    assert m["acknowledge"].outcome == "missed" and m["resolve"].outcome == "missed"
    # triage and hand-off met (100 each), acknowledge and resolve missed, the unit wrong
    assert card.response_score == pytest.approx(round(200 / 5, 1))


def test_while_the_drill_runs_what_has_not_happened_yet_is_pending(
    scenario: Scenario, alerts: list[Alert]
) -> None:
    card = score(
        drill(DrillState.running),
        scenario,
        alerts=[],
        incidents=[],
        triaged={},
        history=[],
        now=at(10),
    )
    assert {r.outcome for r in card.steps[0].detections} == {"pending"}
    assert card.detection_score is None and card.score is None
    assert {m.outcome for m in card.response} == {"pending"}
    assert card.unit_correct is None


def test_real_time_history_and_the_report(scenario: Scenario, alerts: list[Alert]) -> None:
    earlier = drill(DrillState.ended).model_copy(
        update={"id": "d-0", "started": T0 - timedelta(days=30), "score": 42.0}
    )
    card = score(
        drill(DrillState.ended, speed=1),
        scenario,
        alerts=alerts,
        incidents=[worked(alerts)],
        triaged={},
        history=[earlier],
        now=at(6000),
    )
    assert card.faster_than_real_time is False
    assert [(p.drill_id, p.score) for p in card.history] == [("d-0", 42.0), ("d-1", card.score)]
    assert {m.name: m.outcome for m in card.response}["triage"] == "missed"
    html = report_html(card, lang="vi")
    assert "BÁO CÁO KẾT QUẢ DIỄN TẬP ỨNG PHÓ SỰ CỐ" in html
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in html and "(Ký, ghi rõ họ tên)" in html
    assert "05/12/2026 09:00:00" in html  # T0 (02:00 UTC) in Asia/Ho_Chi_Minh
    assert "<script" not in html and "@page { size: A4" in html
    text = scorecard_text(card)
    assert "Score:" in text and "late" in text and "Trend: d-0 42" in text
