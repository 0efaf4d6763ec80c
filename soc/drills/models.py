"""A drill as the SOC keeps it, and its scorecard.

    Drill      one run of a scenario: who started it, how, where it stands, and the
               SOC-clock moments its steps began (the scorecard measures from them)
    Scorecard  how the SOC did: each expected detection caught or missed and how fast,
               the response against its budgets, noise, verdicts, a score (scorecard.py)

Every time is the SOC's own clock (UTC), never a recorded time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from soc.models import UtcDatetime
from soc.settings import TENANT_NAME


class DrillState(StrEnum):
    pending = "pending"
    """Created; waits for a service to pick it up and replay it."""
    running = "running"
    paused = "paused"
    replayed = "replayed"
    """Every event sent; the SOC is responding."""
    ended = "ended"
    aborted = "aborted"

    @property
    def is_over(self) -> bool:
        return self in (DrillState.ended, DrillState.aborted)


class StepProgress(BaseModel):
    name: str
    events: int = 0
    """Events of the step (known once its files are read)."""
    sent: int = 0
    first_event_at: UtcDatetime | None = None
    """When the step's first event was accepted by the ingest (SOC clock)."""
    last_event_at: UtcDatetime | None = None


class Drill(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    scenario: str
    title: str
    tenant: str = Field(pattern=f"^{TENANT_NAME}$")
    blind: bool = False
    """A blind drill looks like a real attack to analysts and responders until it ends."""
    speed: float = Field(gt=0)
    state: DrillState = DrillState.pending
    created_by: str
    created: UtcDatetime
    started: UtcDatetime | None = None
    """When its first event was sent."""
    replayed: UtcDatetime | None = None
    ended: UtcDatetime | None = None
    ended_by: str | None = None
    runner: str | None = None
    """The service process replaying it (``host:pid``)."""
    heartbeat: UtcDatetime | None = None
    """The runner's last sign of life while it replays."""
    steps: list[StepProgress] = Field(default_factory=list)
    error: str | None = None
    """Why the replay stopped early, when it did."""
    score: float | None = None
    """The overall score, kept when the drill ends (the scenario's trend reads it)."""

    @property
    def visible_to_all(self) -> bool:
        """Whether analysts and responders may see that its alerts are a drill's."""
        return not self.blind or self.state.is_over


Outcome = Literal["met", "late", "missed", "pending"]
"""A budgeted milestone: reached within budget, reached after it, not reached (drill
over), not reached yet (drill still running)."""


class DetectionResult(BaseModel):
    step: str
    rule: str
    host: str | None = None
    budget_s: float
    outcome: Outcome
    alert_id: str | None = None
    rule_title: str | None = None
    alert_at: UtcDatetime | None = None
    """When the alert was raised (SOC clock)."""
    seconds: float | None = None
    """From the step's first replayed event to the alert."""
    score: float | None
    """100 met, 50 late, 0 missed; None while pending."""


class StepResult(BaseModel):
    name: str
    title: str
    first_event_at: UtcDatetime | None
    detections: list[DetectionResult]
    score: float | None
    """Mean of its detections' scores; None when it expects none."""


class Milestone(BaseModel):
    name: Literal["triage", "hand_off", "acknowledge", "resolve"]
    at: UtcDatetime | None = None
    seconds: float | None = None
    """From the first alert of the drill."""
    budget_s: float | None = None
    outcome: Outcome | Literal["unbudgeted"]
    score: float | None
    """None when it has no budget (not scored)."""


class HandOffResult(BaseModel):
    incident_id: str
    to_unit: str
    at: UtcDatetime
    state: str
    expected: bool
    """Whether it went to the scenario's response unit."""


class NoiseAlert(BaseModel):
    alert_id: str
    rule_id: str
    rule_title: str
    host: str | None
    at: UtcDatetime


class Scorecard(BaseModel):
    drill: Drill
    scenario_title: str
    expected_unit: str
    faster_than_real_time: bool
    """Replayed faster than recorded: detection times are shorter than the attack's."""
    first_alert_at: UtcDatetime | None
    steps: list[StepResult]
    detection_score: float | None
    response: list[Milestone]
    handoffs: list[HandOffResult]
    unit_correct: bool | None
    """Every hand-off went to the expected unit; None when there was none."""
    response_score: float | None
    noise: list[NoiseAlert]
    verdicts: dict[str, int]
    """Verdicts analysts gave the drill's alerts: true_positive, false_positive, undetermined."""
    incidents: list[str]
    score: float | None
    """0-100: the mean of the detection and the response scores (docs/DRILLS.md)."""
    history: list[HistoryPoint]
    generated: UtcDatetime


class HistoryPoint(BaseModel):
    drill_id: str
    started: UtcDatetime | None
    state: DrillState
    score: float | None


Scorecard.model_rebuild()
