"""Threat indicators over HTTP (issue 15): list, read, paste, import, revoke, and the feeds.

Readers of alerts read indicators (``intel:read``): their tenants' and the ``*`` ones (a
national feed's). Leads take intelligence in and revoke it (``intel:manage``): a pasted
plain list (``POST /indicators``), a STIX 2.1 bundle or MISP export carried in
(``POST /indicators/import``, raw JSON or a multipart upload), each audited. An
indicator of another tenant answers 404, as a missing one; a ``*`` one is changed only
by a lead of every tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from soc.api.deps import Allowed, ServiceDep
from soc.api.errors import ApiError, problems
from soc.app import Service
from soc.errors import NotFound
from soc.intel.feeds import FeedState
from soc.intel.intake import IntakeReport, SourceCounts, counts_by_source, take_in
from soc.intel.models import Indicator, IndicatorType, Tlp
from soc.intel.parse import Format, Intake
from soc.metrics import INTEL_INDICATORS
from soc.security.principal import Principal
from soc.security.roles import scope
from soc.settings import ALL_TENANTS
from soc.store.records import Kind, RecordQuery, decode_after, encode_after
from soc.store.terms import words

router = APIRouter(prefix="/api/v1", tags=["intel"], responses=problems(401, 403, 422, 503))

IntelReader = Annotated[Principal, Depends(Allowed("intel:read"))]
IntelManager = Annotated[Principal, Depends(Allowed("intel:manage"))]
MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_PASTE_CHARS = 2_000_000


class IndicatorPage(BaseModel):
    items: list[Indicator]
    next_cursor: str | None = None


def _visible(
    principal: Principal, action: Literal["intel:read", "intel:manage"], tenant: str
) -> bool:
    tenants = scope(principal, action)
    return tenants is None or tenant == ALL_TENANTS or tenant in tenants


async def _find(
    service: Service,
    principal: Principal,
    action: Literal["intel:read", "intel:manage"],
    indicator_id: str,
) -> Indicator:
    """The indicator if ``principal`` may do ``action`` on it; else 404, as if none."""
    found = await service.indicators.get(indicator_id)
    if found is None or not _visible(principal, action, found.tenant):
        raise NotFound(f"no indicator {indicator_id!r}")
    return found


@router.get(
    "/indicators",
    response_model=IndicatorPage,
    summary="Indicators of the caller's tenants and of every tenant (*), newest change first",
)
async def list_indicators(
    principal: IntelReader,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Default: all of yours")] = None,
    type: Annotated[list[IndicatorType] | None, Query()] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[
        str | None, Query(max_length=500, description="Words of value, name, source")
    ] = None,
    state: Annotated[Literal["active", "revoked"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the page before")
    ] = None,
) -> IndicatorPage:
    tenants = scope(principal, "intel:read", tenant)
    terms: dict[str, list[str]] = {}
    if type:
        terms["type"] = [t.value for t in type]
    if source:
        terms["source"] = [source]
    if state:
        terms["state"] = [state]
    query = RecordQuery(
        kind=Kind.indicator,
        tenants=None if tenants is None else [*tenants, ALL_TENANTS],
        terms=terms,
        words=words(q or ""),
        limit=limit,
        after=decode_after(cursor),
    )
    page = await service.indicators.find(query)
    items = [Indicator.model_validate(r.doc) for r in page.items]
    return IndicatorPage(items=items, next_cursor=encode_after(page.next))


@router.get(
    "/indicators/{indicator_id}",
    response_model=Indicator,
    summary="One indicator",
    responses=problems(404),
)
async def get_indicator(
    indicator_id: str, principal: IntelReader, service: ServiceDep
) -> Indicator:
    return await _find(service, principal, "intel:read", indicator_id)


class Paste(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_PASTE_CHARS)
    """One value per line (IPs, networks, domains, URLs, hashes); `#` starts a note."""
    source: str | None = Field(None, min_length=1, max_length=150)
    """Stored as `paste:<source>`; default `paste:<your name>`."""
    tenant: str = Field(ALL_TENANTS, min_length=1, max_length=100)
    tlp: Tlp = "amber"
    confidence: int | None = Field(None, ge=0, le=100)
    valid_until: datetime | None = None


@router.post(
    "/indicators",
    response_model=IntakeReport,
    summary="Paste a plain list of indicators: each line taken or reported with its number",
)
async def paste_indicators(
    body: Paste, principal: IntelManager, service: ServiceDep
) -> IntakeReport:
    scope(principal, "intel:manage", [body.tenant])
    intake = Intake(
        source=f"paste:{body.source or principal.name}",
        tenant=body.tenant,
        tlp=body.tlp,
        confidence=body.confidence,
        valid_until=body.valid_until,
    )
    report = await take_in(service.indicators, body.text, intake, format="plain")
    INTEL_INDICATORS.labels(via="paste").inc(report.stored)
    await service.audit.append(
        actor=principal.name,
        tenant=None if body.tenant == ALL_TENANTS else body.tenant,
        action="intel.paste",
        target=f"intel:{intake.source}",
        after=_summary(report),
    )
    return report


def _summary(report: IntakeReport) -> dict[str, object]:
    return report.model_dump(mode="json", exclude={"rejects"})


@router.post(
    "/indicators/import",
    response_model=IntakeReport,
    summary="Import a STIX 2.1 bundle or a MISP JSON export (raw body or multipart `file`)",
    responses=problems(413),
)
async def import_indicators(
    request: Request,
    principal: IntelManager,
    service: ServiceDep,
    source: Annotated[
        str | None, Query(min_length=1, max_length=150, description="Stored as `file:<source>`")
    ] = None,
    tenant: Annotated[str, Query(min_length=1, max_length=100)] = ALL_TENANTS,
    tlp: Annotated[Tlp, Query(description="For items without a TLP marking")] = "amber",
    confidence: Annotated[int | None, Query(ge=0, le=100)] = None,
    valid_until: Annotated[datetime | None, Query()] = None,
    format: Annotated[Format | None, Query(description="Default: told from the content")] = None,
) -> IntakeReport:
    scope(principal, "intel:manage", [tenant])
    data, filename = await _body(request)
    intake = Intake(
        source=f"file:{source or filename or principal.name}",
        tenant=tenant,
        tlp=tlp,
        confidence=confidence,
        valid_until=valid_until,
    )
    report = await take_in(service.indicators, data, intake, format=format)
    INTEL_INDICATORS.labels(via="file").inc(report.stored)
    await service.audit.append(
        actor=principal.name,
        tenant=None if tenant == ALL_TENANTS else tenant,
        action="intel.import",
        target=f"intel:{intake.source}",
        after=_summary(report),
    )
    return report


async def _body(request: Request) -> tuple[bytes, str | None]:
    """The uploaded bytes (the multipart form's ``file``, else the whole body) and the
    file's name when it came with one."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid_request", "the form needs a `file` part")
        data = await upload.read(MAX_IMPORT_BYTES + 1)
        name = (upload.filename or "").rsplit("/", 1)[-1][:150] or None
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                break
            chunks.append(chunk)
        data, name = b"".join(chunks), None
    if len(data) > MAX_IMPORT_BYTES:
        raise ApiError(413, "payload_too_large", f"a file is at most {MAX_IMPORT_BYTES} bytes")
    if not data.strip():
        raise ApiError(422, "invalid_request", "the file is empty")
    return data, name


@router.post(
    "/indicators/{indicator_id}/revoke",
    response_model=Indicator,
    summary="Revoke an indicator: it stops matching at the detectors' next rebuild",
    responses=problems(404),
)
async def revoke_indicator(
    indicator_id: str, principal: IntelManager, service: ServiceDep
) -> Indicator:
    found = await _find(service, principal, "intel:manage", indicator_id)
    scope(principal, "intel:manage", [found.tenant])  # a '*' one: leads of every tenant
    revoked = await service.indicators.revoke(indicator_id)
    assert revoked is not None
    if not found.revoked:
        await service.audit.append(
            actor=principal.name,
            tenant=None if found.tenant == ALL_TENANTS else found.tenant,
            action="intel.revoke",
            target=f"indicator:{indicator_id}",
            before={"revoked": False},
            after={"revoked": True, "type": found.type.value, "value": found.value,
                   "source": found.source},
        )  # fmt: skip
    return revoked


class FeedView(BaseModel):
    name: str
    tenant: str
    collection_url: str
    interval_s: float
    configured: bool
    """Still in the settings (a feed removed from them keeps its record and indicators)."""
    state: FeedState | None = None
    """Its last poll, last error and what it brought; null before the first poll."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Its indicators not revoked, by type."""
    revoked: int = 0


class IntelOverview(BaseModel):
    feeds: list[FeedView]
    sources: list[SourceCounts]
    """Every source of indicators (feeds, files, pastes) with its counts."""


@router.get(
    "/intel/feeds",
    response_model=IntelOverview,
    summary="The TAXII feeds polled (last poll, last error, indicators by type) and all sources",
)
async def list_feeds(
    principal: IntelReader,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query(description="Default: all of yours")] = None,
) -> IntelOverview:
    tenants = scope(principal, "intel:read", tenant)

    def mine(t: str) -> bool:
        return tenants is None or t == ALL_TENANTS or t in tenants

    sources = await counts_by_source(service.indicators, tenants)
    states = {s.name: s for s in await service.feeds.all(tenants) if mine(s.tenant)}
    views: dict[str, FeedView] = {}
    for feed in service.settings.intel.feeds:
        if mine(feed.tenant):
            views[feed.name] = FeedView(
                name=feed.name,
                tenant=feed.tenant,
                collection_url=feed.collection_url,
                interval_s=feed.interval_s,
                configured=True,
                state=states.get(feed.name),
            )
    for name, state in states.items():
        views.setdefault(
            name,
            FeedView(
                name=name,
                tenant=state.tenant,
                collection_url=state.collection_url,
                interval_s=0,
                configured=False,
                state=state,
            ),
        )
    for counted in sources:
        view = views.get(counted.source)
        if view is not None and counted.tenant == view.tenant:
            view.counts = counted.active
            view.revoked = counted.revoked
    return IntelOverview(feeds=list(views.values()), sources=sources)
