"""Drills: leads start, follow, pause, abort and end them, and read their scorecards.

A drill is replayed by a runner of the service (soc.drills.runner), not by the
request: ``POST`` answers 201 with the drill as ``pending`` and ``GET`` follows it.
Only leads (``drills:read``, ``drills:run``) see drills: a blind drill must look
real to analysts and responders until it ends.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from soc.api.deps import PrincipalDep, ServiceDep
from soc.drills.models import Drill, Scorecard
from soc.drills.report import report_html
from soc.drills.scenario import SCENARIO_ID, Scenario
from soc.drills.scorecard import scorecard
from soc.errors import NotFound
from soc.security.roles import scope
from soc.settings import TENANT_NAME

router = APIRouter(prefix="/api/v1/drills", tags=["drills"])


class DrillRequest(BaseModel):
    scenario: str = Field(pattern=SCENARIO_ID, examples=["ssh-brute-force"])
    tenant: str | None = Field(
        None, pattern=f"^{TENANT_NAME}$", description="Default: the scenario's tenant"
    )
    speed: float | None = Field(
        None, gt=0, le=10_000, description="Replay speed (default: the scenario's)"
    )
    blind: bool = Field(False, description="Unannounced: analysts and responders see no badge")


class ScenarioSummary(BaseModel):
    id: str
    title: str
    title_vi: str | None
    description: str
    tenant: str
    speed: float
    steps: list[str]
    expected: list[str]
    unit: str

    @classmethod
    def of(cls, s: Scenario) -> ScenarioSummary:
        return cls(
            id=s.id,
            title=s.title,
            title_vi=s.title_vi,
            description=s.description,
            tenant=s.tenant,
            speed=s.speed,
            steps=[step.name for step in s.steps],
            expected=sorted(s.expected_rules),
            unit=s.response.unit,
        )


@router.get("/scenarios", response_model=list[ScenarioSummary], summary="Scenarios to run")
async def list_scenarios(principal: PrincipalDep, service: ServiceDep) -> list[ScenarioSummary]:
    scope(principal, "drills:read")
    return [ScenarioSummary.of(s) for s in service.drills.scenarios.all().values()]


@router.post(
    "",
    response_model=Drill,
    status_code=status.HTTP_201_CREATED,
    summary="Start a drill (leads): recorded logs replayed through the live path",
)
async def start_drill(body: DrillRequest, principal: PrincipalDep, service: ServiceDep) -> Drill:
    return await service.drills.start(
        principal, body.scenario, tenant=body.tenant, speed=body.speed, blind=body.blind
    )


@router.get("", response_model=list[Drill], summary="Drills, newest first (leads)")
async def list_drills(
    principal: PrincipalDep,
    service: ServiceDep,
    scenario: Annotated[str | None, Query(pattern=SCENARIO_ID)] = None,
) -> list[Drill]:
    return await service.drills.list(principal, scenario=scenario)


@router.get("/{drill_id}", response_model=Drill, summary="A drill and its progress")
async def get_drill(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Drill:
    return await service.drills.get(principal, drill_id)


@router.post("/{drill_id}/pause", response_model=Drill, summary="Pause the replay")
async def pause_drill(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Drill:
    return await service.drills.pause(principal, drill_id)


@router.post("/{drill_id}/resume", response_model=Drill, summary="Resume a paused replay")
async def resume_drill(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Drill:
    return await service.drills.resume(principal, drill_id)


@router.post(
    "/{drill_id}/abort",
    response_model=Drill,
    summary="Stop the replay and end the drill; its open incidents are closed",
)
async def abort_drill(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Drill:
    card = await _scorecard(drill_id, principal, service)
    return await service.drills.end(principal, drill_id, aborted=True, score=card.score)


@router.post(
    "/{drill_id}/end",
    response_model=Drill,
    summary="End the drill: its open incidents are closed with 'drill ended', its score kept",
)
async def end_drill(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Drill:
    card = await _scorecard(drill_id, principal, service)
    return await service.drills.end(principal, drill_id, score=card.score)


@router.get(
    "/{drill_id}/scorecard",
    response_model=Scorecard,
    summary="What was caught and how fast the SOC responded, scored (docs/DRILLS.md)",
)
async def get_scorecard(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Scorecard:
    return await _scorecard(drill_id, principal, service)


@router.get(
    "/{drill_id}/report",
    response_class=HTMLResponse,
    summary="The printable drill report (HTML, Vietnamese), for the UI's report page",
)
async def get_report(
    drill_id: str,
    principal: PrincipalDep,
    service: ServiceDep,
    lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi",
) -> HTMLResponse:
    card = await _scorecard(drill_id, principal, service)
    return HTMLResponse(report_html(card, lang=lang, standalone=False))


async def _scorecard(drill_id: str, principal: PrincipalDep, service: ServiceDep) -> Scorecard:
    drill = await service.drills.get(principal, drill_id)
    scenario = service.drills.scenarios.get(drill.scenario)
    if scenario is None:
        raise NotFound(f"the scenario {drill.scenario!r} of drill {drill_id} is no longer here")
    return await scorecard(service.store, service.cases, drill, scenario)
