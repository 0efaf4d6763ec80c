"""Retro-hunts: a Sigma rule over the stored events of a range (leads run, analysts read).

A hunt runs in the background of the API process that accepted it (soc.hunt.records);
``POST`` answers 202 with the hunt as queued, and ``GET /hunts/{id}`` follows it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field, model_validator

from soc.api.deps import PrincipalDep, ServiceDep
from soc.hunt.records import Hunt, HuntRunner, HuntSummary
from soc.hunt.retro import HuntScope
from soc.hunt.rules import MAX_RULE_TEXT, hunt_rules
from soc.models import UtcDatetime
from soc.security.roles import scope

router = APIRouter(prefix="/api/v1/hunts", tags=["hunts"])


class HuntRequest(BaseModel):
    rule_ids: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Loaded rules, by id",
        examples=[["0d894093-71bc-43c3-8c4d-ecfa28dcd4ab"]],
    )
    rule_text: str | None = Field(
        None, max_length=MAX_RULE_TEXT, description="Sigma rule YAML (pasted or uploaded)"
    )
    since: UtcDatetime
    until: UtcDatetime
    tenants: list[str] | None = Field(
        None, description="Tenants to hunt in; none given: every tenant of the caller"
    )
    mode: Literal["preview", "raise"] = Field(
        "preview", description="preview: list matches only; raise: store and group new alerts"
    )

    @model_validator(mode="after")
    def _one_source(self) -> HuntRequest:
        if bool(self.rule_ids) == bool(self.rule_text):
            raise ValueError("give either rule_ids or rule_text")
        return self


def get_runner(request: Request) -> HuntRunner:
    runner: HuntRunner = request.app.state.hunts
    return runner


@router.post(
    "",
    response_model=Hunt,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a retro-hunt (leads); a rule that does not compile is a 400",
)
async def start_hunt(
    body: HuntRequest, principal: PrincipalDep, service: ServiceDep, request: Request
) -> Hunt:
    tenants = scope(principal, "hunts:run", body.tenants)
    detect = service.settings.detect
    # Loading the rule files (pySigma, even through the cache) is CPU work: off the loop.
    rules = await asyncio.to_thread(
        hunt_rules, detect, ids=body.rule_ids, text=body.rule_text or None
    )
    hunt_scope = HuntScope(tenants=tenants, since=body.since, until=body.until)
    return await get_runner(request).submit(
        principal, rules, hunt_scope, raise_alerts=body.mode == "raise"
    )


@router.get("", response_model=list[HuntSummary], summary="Hunts, newest first")
async def list_hunts(
    principal: PrincipalDep,
    request: Request,
    tenant: Annotated[list[str] | None, Query()] = None,
) -> list[HuntSummary]:
    tenants = scope(principal, "hunts:read", tenant)
    hunts = await get_runner(request).book.list(tenants=tenants)
    return [HuntSummary.of(h) for h in hunts]


@router.get(
    "/{hunt_id}",
    response_model=Hunt,
    summary="A hunt: state, progress and its first matches",
    responses={404: {"description": "no such hunt among the caller's tenants"}},
)
async def get_hunt(hunt_id: str, principal: PrincipalDep, request: Request) -> Hunt:
    tenants = scope(principal, "hunts:read")
    return await get_runner(request).book.get(hunt_id, tenants=tenants)


@router.post(
    "/{hunt_id}/cancel",
    response_model=Hunt,
    summary="Stop a queued or running hunt (leads); 409 when it has ended",
    responses={404: {"description": "no such hunt"}, 409: {"description": "already ended"}},
)
async def cancel_hunt(hunt_id: str, principal: PrincipalDep, request: Request) -> Hunt:
    tenants = scope(principal, "hunts:run")
    return await get_runner(request).cancel(principal, hunt_id, tenants=tenants)
