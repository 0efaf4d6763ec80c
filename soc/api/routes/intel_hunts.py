"""Retro-hunt of indicators over stored events (leads): ``POST /api/v1/indicators/hunt``.

Runs in the request (the matcher is a few dict lookups per event; the read is the
store's scan): the answer is the hunt's outcome. ``raise`` stores and publishes the alerts
not stored yet (``origin="retro-hunt"``), which the grouping stage files into incidents;
``preview`` lists them only. Audited as ``intel.hunt``. See soc.hunt.intel.
"""

from __future__ import annotations

import secrets
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from soc.api.deps import PrincipalDep, ServiceDep
from soc.errors import NotFound
from soc.hunt.intel import hunt_indicators
from soc.hunt.retro import HuntMatch, HuntScope
from soc.intel.models import Indicator
from soc.intel.store import Indicators
from soc.models import UtcDatetime, utcnow
from soc.security.roles import scope
from soc.settings import ALL_TENANTS

router = APIRouter(prefix="/api/v1/indicators", tags=["indicators"])

MAX_INDICATORS = 1000


class IndicatorHuntRequest(BaseModel):
    indicator_ids: list[str] = Field(min_length=1, max_length=MAX_INDICATORS)
    since: UtcDatetime
    until: UtcDatetime
    tenants: list[str] | None = Field(
        None, description="Tenants to hunt in; none given: every tenant of the caller"
    )
    mode: Literal["preview", "raise"] = Field(
        "preview", description="preview: list matches only; raise: store and group new alerts"
    )

    @model_validator(mode="after")
    def _range(self) -> IndicatorHuntRequest:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class IndicatorHuntResult(BaseModel):
    hunt_id: str
    indicators: int
    """The indicators hunted (live now; revoked or expired ones are not hunted)."""
    scanned: int
    matches: int
    raised: int
    seconds: float
    preview: list[HuntMatch]


@router.post(
    "/hunt",
    response_model=IndicatorHuntResult,
    summary="Retro-hunt indicators over stored events (leads)",
    responses={404: {"description": "an indicator is not among the caller's"}},
)
async def hunt(
    body: IndicatorHuntRequest, principal: PrincipalDep, service: ServiceDep
) -> IndicatorHuntResult:
    tenants = scope(principal, "hunts:run", body.tenants)
    repository = Indicators(service.store)
    found: list[Indicator] = []
    for indicator_id in dict.fromkeys(body.indicator_ids):
        got = await repository.get(indicator_id)
        if got is None or not (
            tenants is None or got.tenant == ALL_TENANTS or got.tenant in tenants
        ):
            raise NotFound(f"no indicator {indicator_id}")
        found.append(got)
    now = utcnow()
    hunt_id = "ih-" + secrets.token_hex(8)
    hunt_scope = HuntScope(tenants=tenants, since=body.since, until=body.until)
    progress = await hunt_indicators(
        service.store,
        service.bus,
        found,
        hunt_scope,
        hunt_id=hunt_id,
        raise_alerts=body.mode == "raise",
        settings=service.settings.detect.indicators,
        now=now,
    )
    await service.audit.append(
        actor=principal.name,
        tenant=tenants[0] if tenants and len(tenants) == 1 else None,
        action="intel.hunt",
        target=f"hunt:{hunt_id}",
        after={
            "indicators": [i.id for i in found],
            "since": body.since.isoformat(),
            "until": body.until.isoformat(),
            "tenants": tenants,
            "mode": body.mode,
            "scanned": progress.scanned,
            "matches": progress.matches,
            "raised": progress.raised,
        },
    )
    return IndicatorHuntResult(
        hunt_id=hunt_id,
        indicators=sum(1 for i in found if i.live(now)),
        scanned=progress.scanned,
        matches=progress.matches,
        raised=progress.raised,
        seconds=round(progress.seconds, 3),
        preview=progress.preview,
    )
