"""Incidents: the queue, one incident with its timeline, and every action on it.

Each route hands the caller's principal to the incident desk
(:mod:`soc.incidents.desk`), which scopes, decides, writes and audits.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from soc.api.deps import PrincipalDep, ServiceDep
from soc.evidence.export import export_incident, export_stix
from soc.incidents.cases import IncidentPage, IncidentQuery
from soc.incidents.desk import IncidentView, TimelineItem
from soc.incidents.lifecycle import Command
from soc.incidents.models import Comment, Incident, IncidentStatus, Verdict
from soc.models import DRILLS_HELP, AlertStatus, Drills, Severity
from soc.security.roles import scope
from soc.settings import Tlp
from soc.sharing.desk import Approval
from soc.sharing.models import ShareView

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such incident among the caller's tenants (or unit)"}
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    403: {"description": "the caller's role or unit may not do this"},
    409: {"description": "the incident changed since `version` was read, or the action "
          "does not apply in its status (`code`: conflict or invalid_transition)"},
}  # fmt: skip


class Versioned(BaseModel):
    version: int = Field(ge=1, description="The incident's `version` as read")


class ActionRequest(BaseModel):
    """One status change and the version it applies to."""

    command: Command = Field(
        description='`{"action": "hand_off", "to_unit": "CAT-PCTP", "note": ...}`'
    )
    version: int = Field(ge=1)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "command": {"action": "hand_off", "to_unit": "CAT-PCTP", "note": "Call in"},
                    "version": 3,
                },
                {"command": {"action": "reject", "reason": "Not ours: IT ticket"}, "version": 4},
                {"command": {"action": "resolve", "summary": "Host reimaged"}, "version": 7},
            ]
        }
    }


class CommentRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, examples=["Called the data center."])


class AssignRequest(Versioned):
    assignee: str | None = Field(None, max_length=200, examples=["nguyen.van.an"])


class TlpRequest(Versioned):
    tlp: Tlp = Field(description="TLP 2.0: clear, green, amber, amber+strict or red (never shared)")


class ShareRequest(BaseModel):
    targets: list[str] | None = Field(
        None, max_length=20, description="Sharing targets to approve; empty: all of the policy's"
    )


class VerdictRequest(Versioned):
    alert_ids: list[str] = Field(min_length=1, max_length=10_000)
    verdict: Verdict


class MergeRequest(Versioned):
    sources: list[str] = Field(min_length=1, max_length=100)


class MoveRequest(Versioned):
    alert_ids: list[str] = Field(min_length=1, max_length=10_000)
    to: str = Field(description="The incident the alerts move to")


@router.get("", response_model=IncidentPage, summary="Incidents, last changed first")
async def list_incidents(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    incident_status: Annotated[list[IncidentStatus] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    owner_unit: Annotated[list[str] | None, Query(max_length=20)] = None,
    pending_unit: Annotated[
        list[str] | None, Query(max_length=20, description="Offered to this unit, unanswered")
    ] = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    is_open: Annotated[bool | None, Query(alias="open")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Words to find")] = None,
    drill: Annotated[str | None, Query(max_length=200, description="Only this drill's")] = None,
    drills: Annotated[Drills, Query(description=DRILLS_HELP)] = "include",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> IncidentPage:
    await service.marks.check_filters(principal, drill, drills)
    query = IncidentQuery(
        tenants=tenant,
        status=incident_status or [],
        severity=severity or [],
        owner_unit=owner_unit or [],
        pending_unit=pending_unit or [],
        assignee=assignee,
        open=is_open,
        text=q,
        drill=drill,
        drills=drills,
        limit=limit,
        cursor=cursor,
    )
    return await service.marks.scrub(principal, await service.desk.find(principal, query))


@router.get(
    "/{incident_id}",
    response_model=IncidentView,
    summary="One incident, its comments and what the caller may do now",
    responses=_NOT_FOUND,
)
async def get_incident(
    incident_id: str, principal: PrincipalDep, service: ServiceDep
) -> IncidentView:
    return await service.marks.scrub(principal, await service.desk.view(principal, incident_id))


@router.get(
    "/{incident_id}/timeline",
    response_model=list[TimelineItem],
    summary="The incident's alerts with their events, by event time",
    responses=_NOT_FOUND,
)
async def get_timeline(
    incident_id: str, principal: PrincipalDep, service: ServiceDep
) -> list[TimelineItem]:
    return await service.marks.scrub(principal, await service.desk.timeline(principal, incident_id))


@router.post(
    "/{incident_id}/actions",
    response_model=Incident,
    summary="Change the status: triage, hand off, accept, reject, resolve, close...",
    responses=_WRITE,
)
async def act(
    incident_id: str, body: ActionRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.act(principal, incident_id, body.command, version=body.version),
    )


@router.post(
    "/{incident_id}/comments",
    response_model=Comment,
    status_code=status.HTTP_201_CREATED,
    summary="Add a comment (comments are never edited)",
    responses=_WRITE,
)
async def add_comment(
    incident_id: str, body: CommentRequest, principal: PrincipalDep, service: ServiceDep
) -> Comment:
    return await service.marks.scrub(
        principal, await service.desk.comment(principal, incident_id, body.text)
    )


@router.put(
    "/{incident_id}/assignee",
    response_model=Incident,
    summary="Assign to a person, or to nobody",
    responses=_WRITE,
)
async def assign(
    incident_id: str, body: AssignRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.assign(principal, incident_id, body.assignee, version=body.version),
    )


@router.put(
    "/{incident_id}/tlp",
    response_model=Incident,
    summary="Set the incident's TLP (what sharing may send; RED is never shared)",
    responses=_WRITE,
)
async def set_tlp(
    incident_id: str, body: TlpRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.set_tlp(principal, incident_id, body.tlp, version=body.version),
    )


@router.post(
    "/{incident_id}/share",
    response_model=Approval,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Approve sharing the incident with the tenant's TAXII targets (a lead)",
    responses={
        **_WRITE,
        422: {"description": "the policy shares nothing, the incident is TLP:RED or a drill's"},
    },
)
async def approve_share(
    incident_id: str,
    principal: PrincipalDep,
    service: ServiceDep,
    body: Annotated[ShareRequest | None, Body()] = None,
) -> Approval:
    scope(principal, "sharing:approve")
    incident = await service.desk.get(principal, incident_id)
    return await service.sharing.approve(principal, incident, body.targets if body else None)


@router.get(
    "/{incident_id}/shares",
    response_model=list[ShareView],
    summary="Where the incident was shared (or is being shared), oldest first",
    responses=_NOT_FOUND,
)
async def list_shares(
    incident_id: str, principal: PrincipalDep, service: ServiceDep
) -> list[ShareView]:
    incident = await service.desk.get(principal, incident_id)
    return await service.sharing.shares(incident)


@router.post(
    "/{incident_id}/verdicts",
    response_model=Incident,
    summary="Judge alerts of the incident true or false positive",
    responses=_WRITE,
)
async def judge(
    incident_id: str, body: VerdictRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.verdict(
            principal, incident_id, body.alert_ids, body.verdict, version=body.version
        ),
    )


@router.post(
    "/{incident_id}/merge",
    response_model=Incident,
    summary="Merge other incidents into this one (they close, pointing here)",
    responses=_WRITE,
)
async def merge(
    incident_id: str, body: MergeRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.merge(principal, incident_id, body.sources, version=body.version),
    )


@router.post(
    "/{incident_id}/move",
    response_model=Incident,
    summary="Move alerts from this incident to another; returns this one",
    responses=_WRITE,
)
async def move(
    incident_id: str, body: MoveRequest, principal: PrincipalDep, service: ServiceDep
) -> Incident:
    return await service.marks.scrub(
        principal,
        await service.desk.move(
            principal, incident_id, body.alert_ids, body.to, version=body.version
        ),
    )


BulkStatus = Literal["open", "acknowledged", "closed"]


class BulkRequest(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=1000)
    status: BulkStatus


class BulkResult(BaseModel):
    updated: int


bulk_router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@bulk_router.post(
    "/bulk", response_model=BulkResult, summary="Set the status of several alerts at once"
)
async def bulk_status(
    principal: PrincipalDep,
    service: ServiceDep,
    body: Annotated[BulkRequest, Body(examples=[{"ids": ["9f2c..."], "status": "acknowledged"}])],
) -> BulkResult:
    updated = await service.desk.set_alert_status(principal, body.ids, AlertStatus(body.status))
    return BulkResult(updated=updated)


@router.get(
    "/{incident_id}/evidence",
    response_class=Response,
    summary="The evidence bundle: a zip with manifest.json (verify: `soc evidence verify`)",
    responses={**_NOT_FOUND, 200: {"content": {"application/zip": {}}}},
)
async def evidence(incident_id: str, principal: PrincipalDep, service: ServiceDep) -> Response:
    scope(principal, "evidence:export")
    incident = await service.desk.get(principal, incident_id)
    export = await export_incident(
        service.store,
        service.cases,
        incident,
        actor=principal.name,
        rules_dirs=service.settings.detect.rules,
        catalog=service.catalog,
        tlp=incident.tlp or service.settings.sharing.policy(incident.tenant).default_tlp,
    )
    return Response(
        export.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Files-SHA256": export.manifest.files_sha256,
        },
    )


@router.get(
    "/{incident_id}/stix",
    summary="A STIX 2.1 bundle of the incident's observables and indicators, marked with its "
    "TLP (TLP 2.0; AMBER when none is set)",
    responses={**_NOT_FOUND, 200: {"content": {"application/stix+json;version=2.1": {}}}},
)
async def stix(incident_id: str, principal: PrincipalDep, service: ServiceDep) -> JSONResponse:
    scope(principal, "evidence:export")
    incident = await service.desk.get(principal, incident_id)
    bundle = await export_stix(
        service.store,
        service.cases,
        incident,
        actor=principal.name,
        rules_dirs=service.settings.detect.rules,
        catalog=service.catalog,
        tlp=incident.tlp or service.settings.sharing.policy(incident.tenant).default_tlp,
    )
    return JSONResponse(
        bundle,
        media_type="application/stix+json;version=2.1",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident.id}.stix.json"'},
    )
