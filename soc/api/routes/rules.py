"""The rule catalog over HTTP: search, read, upload, version, enable, disable and test rules.

Leads and admins manage rules (``rules:write``), analysts read them (``rules:read``);
see soc/security/roles.py for the tenant rule (a change of a rule's text needs ``*``; a
caller of some tenants turns rules on and off for those). Every change is audited by the
catalog (soc.detect.catalog) and reaches every detector within ``detect.rules_poll_s``
(soc.detect.live). The list carries each rule's alerts of the last 7 and 30 days, when
it last fired and how many of them analysts judged false positives, for the caller's
tenants (or the one asked for), when the caller may read alerts. ``/coverage`` draws the
catalog as an ATT&CK matrix (soc.detect.coverage) for the rules page's coverage view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, Field

from soc.api.deps import Allowed, ServiceDep
from soc.api.errors import ApiError, problems
from soc.api.routes.hunts import get_runner
from soc.detect.catalog import RuleEntry, RuleFilter, RuleOrigin, RuleRevision
from soc.detect.correlation.model import Correlation
from soc.detect.coverage import CoverageColumn, CoverageRule, matrix
from soc.detect.filters import contains
from soc.detect.imports import (
    PACK_MAX_BYTES,
    ImportResult,
    PackReport,
    import_pack,
    import_text,
    missing_references,
)
from soc.detect.live import Compiler, link_catalog, pick
from soc.detect.rule import Rule
from soc.detect.ruletext import MAX_RULE_TEXT, Finding, RuleKind, describe, validate
from soc.errors import QueryError
from soc.hunt.records import Hunt
from soc.hunt.retro import HuntScope
from soc.hunt.rules import HuntRules
from soc.models import UtcDatetime, utcnow
from soc.security.principal import Principal
from soc.security.roles import Forbidden, can, scope
from soc.store.records import decode_after, encode_after
from soc.store.terms import micros

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], responses=problems(401, 403, 422, 503))

RuleReader = Annotated[Principal, Depends(Allowed("rules:read"))]
RuleWriter = Annotated[Principal, Depends(Allowed("rules:write"))]
TEST_SPAN = timedelta(days=1)
COUNTED_DAYS = 30
RECENT_DAYS = 7
TenantParam = Annotated[
    str | None,
    Query(
        max_length=100,
        description="One of the caller's tenants: counts and enablement for it alone",
    ),
]


class RuleCounts(BaseModel):
    """A rule's alerts among the caller's tenants, by event time."""

    alerts_7d: int = 0
    alerts_30d: int = 0
    last_fired: UtcDatetime | None = None
    """The newest alert's event time within the last 30 days."""
    false_positives_30d: int | None = None
    """Of the 30 days' alerts, those judged false positives in their incident (None when
    the caller may not read incidents)."""
    false_positive_share: float | None = None
    """``false_positives_30d / alerts_30d`` (None without alerts or without the count)."""


class RuleSummary(BaseModel):
    """A rule as the rules page lists it (no text)."""

    id: str
    kind: RuleKind
    revision: int
    sha256: str
    origin: RuleOrigin
    path: str | None
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    techniques: list[str]
    logsource: dict[str, str | None]
    author: str | None
    enabled: bool
    """The default for every tenant."""
    tenants: dict[str, bool]
    """Per-tenant overrides of the default."""
    file_differs: bool
    updated: UtcDatetime
    updated_by: str
    counts: RuleCounts | None = None
    """None when the caller may not read alerts (admins)."""

    @classmethod
    def of(cls, entry: RuleEntry, counts: RuleCounts | None) -> RuleSummary:
        data = entry.model_dump(include=set(cls.model_fields) - {"counts", "logsource"})
        return cls(**data, logsource=entry.logsource.model_dump(), counts=counts)


class RulePage(BaseModel):
    items: list[RuleSummary]
    next_cursor: str | None = None


class VersionInfo(BaseModel):
    revision: int
    sha256: str
    origin: RuleOrigin
    actor: str
    time: UtcDatetime


class FilterRef(BaseModel):
    """A Sigma filter of the catalog that applies to a rule (soc.detect.filters)."""

    id: str
    title: str
    tenants: list[str] | None
    """The tenants it is limited to (the filter's ``tenants:``); None: every tenant."""


class RuleDetail(RuleSummary):
    """A rule with its text, its versions, and what compiling and validating it says."""

    yaml: str
    description: str | None
    versions: list[VersionInfo]
    errors: list[str]
    """Why the current text does not run, if it does not (empty: it compiles)."""
    warnings: list[Finding]
    filters: list[FilterRef] = Field(default_factory=list)
    """The catalog's Sigma filters that apply to the rule (a filtered match raises no alert)."""


class Coverage(BaseModel):
    """The ATT&CK matrix of the catalog (soc.detect.coverage), as the coverage view draws it."""

    tenant: str | None
    """The tenant asked about; None: any of the caller's."""
    days: int
    alerts_counted: bool
    """False when the caller may not read alerts (every count is 0 then)."""
    tactics: list[CoverageColumn]
    rules: list[CoverageRule]


class RuleUpload(BaseModel):
    yaml: str = Field(max_length=MAX_RULE_TEXT, description="Sigma YAML: a rule, or several")
    revision: int | None = Field(
        None, ge=0, description="PUT: the revision the change is based on (409 if it moved)"
    )


class Enablement(BaseModel):
    tenants: list[str] | None = Field(
        None,
        description="The tenants to change; none given: the default for every tenant "
        "(needs a caller of every tenant)",
    )


class RuleTest(BaseModel):
    tenants: list[str] | None = Field(
        None, description="Tenants to test in; none given: every tenant of the caller"
    )


def _writer_tenants(principal: Principal, tenants: list[str] | None) -> list[str] | None:
    """The tenants an enablement change touches, checked against the caller's."""
    if tenants is None:
        if not principal.all_tenants:
            raise Forbidden("changing a rule for every tenant needs a caller of every tenant")
        return None
    if not tenants:
        raise QueryError("give at least one tenant, or none at all for the default")
    scope(principal, "rules:write", tenants)
    return tenants


def _wanted(tenant: str | None) -> list[str] | None:
    return None if tenant is None else [tenant]


async def _counts(
    service: ServiceDep, principal: Principal, tenant: str | None = None
) -> dict[str, RuleCounts] | None:
    if not can(principal, "alerts:read"):
        return None
    now = utcnow()
    since = now - timedelta(days=COUNTED_DAYS)
    found = await service.store.rule_alert_counts(
        tenants=scope(principal, "alerts:read", _wanted(tenant)),
        since=since,
        recent=now - timedelta(days=RECENT_DAYS),
    )
    judged: dict[str, int] | None = None
    if can(principal, "incidents:read"):
        judged = await service.cases.incidents.false_positives(
            tenants=scope(principal, "incidents:read", _wanted(tenant)), since=since
        )
    counts: dict[str, RuleCounts] = {}
    for rule in found.keys() | (judged or {}).keys():
        c = found.get(rule)
        alerts = c.alerts if c else 0
        false = None if judged is None else min(judged.get(rule, 0), alerts)
        counts[rule] = RuleCounts(
            alerts_7d=c.recent if c else 0,
            alerts_30d=alerts,
            last_fired=c.last if c else None,
            false_positives_30d=false,
            false_positive_share=false / alerts if false is not None and alerts else None,
        )
    return counts


def _blank(principal: Principal) -> RuleCounts:
    """The counts of a rule without alerts."""
    return RuleCounts(false_positives_30d=0 if can(principal, "incidents:read") else None)


def _on_for(principal: Principal, tenant: str | None) -> Callable[[RuleEntry], bool]:
    """Whether a rule is on for the tenant asked about, else for any of the caller's."""
    tenants = scope(principal, "rules:read", _wanted(tenant))
    if tenants is None:
        return lambda entry: entry.anywhere
    return lambda entry: any(entry.enabled_for(t) for t in tenants)


@router.get("", response_model=RulePage, summary="Rules, last changed first, a page at a time")
async def list_rules(
    principal: RuleReader,
    service: ServiceDep,
    q: Annotated[str | None, Query(max_length=500, description="Words of title, id, tags")] = None,
    kind: RuleKind | None = None,
    level: Annotated[str | None, Query(max_length=50)] = None,
    rule_status: Annotated[str | None, Query(alias="status", max_length=50)] = None,
    tag: Annotated[str | None, Query(max_length=200, description="e.g. attack.t1003.001")] = None,
    technique: Annotated[str | None, Query(max_length=20, description="e.g. T1003.001")] = None,
    product: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    service_name: Annotated[str | None, Query(alias="service", max_length=100)] = None,
    origin: RuleOrigin | None = None,
    tenant: TenantParam = None,
    enabled: Annotated[
        bool | None,
        Query(description="Only rules on (or off) for the tenant, else for any of the caller's"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> RulePage:
    f = RuleFilter(
        q=q,
        kind=kind,
        level=level,
        status=rule_status,
        tag=tag,
        technique=technique,
        product=product,
        category=category,
        service=service_name,
        origin=origin,
    )
    on = _on_for(principal, tenant)
    entries, after = await _matching(
        service,
        f,
        limit,
        decode_after(cursor),
        None if enabled is None else lambda e: on(e) == enabled,
    )
    counts = await _counts(service, principal, tenant)
    items = [
        RuleSummary.of(e, None if counts is None else counts.get(e.id, _blank(principal)))
        for e in entries
    ]
    return RulePage(items=items, next_cursor=encode_after(after))


async def _matching(
    service: ServiceDep,
    f: RuleFilter,
    limit: int,
    after: tuple[int, str] | None,
    keep: Callable[[RuleEntry], bool] | None,
) -> tuple[list[RuleEntry], tuple[int, str] | None]:
    """A page of the catalog's search, narrowed by ``keep`` (enablement is per tenant, which
    the catalog's terms cannot say): pages are read until ``limit`` rules are kept."""
    if keep is None:
        return await service.catalog.search(f, limit=limit, after=after)
    kept: list[RuleEntry] = []
    while True:
        entries, after = await service.catalog.search(f, limit=limit, after=after)
        for entry in entries:
            if keep(entry):
                kept.append(entry)
                if len(kept) == limit:
                    return kept, (micros(entry.updated), entry.id)
        if after is None:
            return kept, None


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="The catalog as an ATT&CK matrix: rules on and alerts per technique and tactic",
)
async def coverage(
    principal: RuleReader,
    service: ServiceDep,
    tenant: TenantParam = None,
    days: Annotated[int, Query(ge=1, le=COUNTED_DAYS, description="The alerts' period")] = 30,
) -> Coverage:
    on = _on_for(principal, tenant)
    alerts: dict[str, int] | None = None
    if can(principal, "alerts:read"):
        now = utcnow()
        found = await service.store.rule_alert_counts(
            tenants=scope(principal, "alerts:read", _wanted(tenant)),
            since=now - timedelta(days=days),
            recent=now,
        )
        alerts = {rule: c.alerts for rule, c in found.items()}
    entries = [e async for e in service.catalog.each()]
    columns, rules = matrix(entries, on, alerts or {})
    return Coverage(
        tenant=tenant, days=days, alerts_counted=alerts is not None, tactics=columns, rules=rules
    )


def _compile_report(entry: RuleEntry, service: ServiceDep) -> tuple[list[str], list[Finding]]:
    rules, _, found, _ = Compiler(service.settings.detect).compile(entry)
    errors = [e.reason for e in found]
    if not errors and entry.kind == "rule" and pick(rules, entry.id) is None:
        errors = [f"no rule {entry.id} in the text"]
    return errors, validate(entry.yaml)


@router.get(
    "/{rule_id}",
    response_model=RuleDetail,
    summary="A rule: its YAML, versions, compile errors and validator warnings",
    responses=problems(404),
)
async def get_rule(
    rule_id: str, principal: RuleReader, service: ServiceDep, tenant: TenantParam = None
) -> RuleDetail:
    entry = await service.catalog.get(rule_id)
    revisions = await service.catalog.revisions(rule_id)
    errors, warnings = await asyncio.to_thread(_compile_report, entry, service)
    if entry.kind != "rule":  # the rules it names that are nowhere, as an upload says
        docs = [d for d in describe(entry.yaml) if d.id == entry.id]
        warnings = [*await missing_references(service.catalog, docs), *warnings]
    filters = await _filters_of(entry, service) if entry.kind == "rule" else []
    counts = await _counts(service, principal, tenant)
    summary = RuleSummary.of(
        entry, None if counts is None else counts.get(entry.id, _blank(principal))
    )
    return RuleDetail(
        **summary.model_dump(),
        yaml=entry.yaml,
        description=entry.description,
        versions=[
            VersionInfo(**r.model_dump(include=set(VersionInfo.model_fields))) for r in revisions
        ],
        errors=errors,
        warnings=warnings,
        filters=filters,
    )


def _correlation_hunt(entry: RuleEntry, entries: list[RuleEntry], service: ServiceDep) -> HuntRules:
    """A correlation of the catalog with every rule and correlation it stands on, compiled
    and linked as the detectors link the catalog (soc.detect.live.link_catalog)."""
    linked = link_catalog(entries, Compiler(service.settings.detect)).ruleset
    by_id = {c.id: c for c in linked.correlations}
    if entry.id not in by_id:
        reasons = "; ".join(e.reason for e in linked.errors if entry.id in e.reason)
        raise QueryError(f"the correlation does not compile: {reasons or 'refused'}")
    rules_by_id = {r.id: r for r in linked.rules}
    wanted_rules: dict[str, Rule] = {}
    wanted: dict[str, Correlation] = {}
    todo = [entry.id]
    while todo:
        correlation = by_id[todo.pop()]
        wanted[correlation.id] = correlation
        for ref in correlation.rules:
            if ref in by_id and ref not in wanted:
                todo.append(ref)
            elif ref in rules_by_id:
                wanted_rules[ref] = rules_by_id[ref]
    return HuntRules(
        rules=tuple(wanted_rules.values()),
        sha256=entry.sha256,
        text=entry.yaml,
        correlations=tuple(wanted.values()),
    )


async def _filters_of(entry: RuleEntry, service: ServiceDep) -> list[FilterRef]:
    """The catalog's filters that name ``entry``'s rule (by id or name, as the detectors
    tie them: soc.detect.filters), each compiled from its own record."""
    found: list[RuleEntry] = []
    after: tuple[int, str] | None = None
    while True:
        page, after = await service.catalog.search(
            RuleFilter(kind="filter"), limit=500, after=after
        )
        found += page
        if after is None:
            break
    if not found:
        return []

    def tie() -> list[FilterRef]:
        compiler = Compiler(service.settings.detect)
        rule = pick(compiler.compile(entry)[0], entry.id)
        if rule is None:
            return []
        filters = [f for e in found for f in compiler.compile(e)[1] if f.id == e.id]
        names = {rule.id} | ({rule.name} if rule.name else set())
        return [
            FilterRef(
                id=f.id,
                title=f.title,
                tenants=None if f.tenants is None else sorted(f.tenants),
            )
            for f in filters
            if (f.refs is None or names & set(f.refs)) and contains(f.logsource, rule.logsource)
        ]

    return await asyncio.to_thread(tie)


@router.get(
    "/{rule_id}/versions/{revision}",
    response_model=RuleRevision,
    summary="One version of a rule, as saved",
    responses=problems(404),
)
async def get_version(
    rule_id: str, revision: int, principal: RuleReader, service: ServiceDep
) -> RuleRevision:
    return await service.catalog.revision(rule_id, revision)


def _imported(result: ImportResult) -> ImportResult:
    if not result.accepted:
        raise QueryError(f"{result.name}: {result.reason}")
    return result


@router.post(
    "",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a rule (YAML); a text that does not compile is a 400 saying why",
    responses=problems(400, 409),
)
async def upload_rule(body: RuleUpload, principal: RuleWriter, service: ServiceDep) -> ImportResult:
    result = await import_text(
        service.catalog, principal, "upload.yml", body.yaml, service.settings.detect
    )
    return _imported(result)


@router.put(
    "/{rule_id}",
    response_model=ImportResult,
    summary="A new version of a rule (needs a caller of every tenant)",
    responses=problems(400, 404, 409),
)
async def change_rule(
    rule_id: str, body: RuleUpload, principal: RuleWriter, service: ServiceDep
) -> ImportResult:
    await service.catalog.get(rule_id)  # 404 before anything else
    if not principal.all_tenants:
        raise Forbidden("changing a rule reaches every tenant: it needs a caller of every tenant")
    result = await import_text(
        service.catalog,
        principal,
        f"{rule_id}.yml",
        body.yaml,
        service.settings.detect,
        expect_id=rule_id,
        expect_revision=body.revision,
    )
    return _imported(result)


@router.post(
    "/pack",
    response_model=PackReport,
    summary="Upload a rule pack (a zip of YAML files): each file accepted or refused",
    responses=problems(400, 413),
)
async def upload_pack(request: Request, principal: RuleWriter, service: ServiceDep) -> PackReport:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > PACK_MAX_BYTES:
            raise ApiError(413, "payload_too_large", f"a pack is at most {PACK_MAX_BYTES} bytes")
        chunks.append(chunk)
    return await import_pack(service.catalog, principal, b"".join(chunks), service.settings.detect)


async def _enablement(
    rule_id: str, body: Enablement, principal: Principal, service: ServiceDep, on: bool
) -> RuleSummary:
    tenants = _writer_tenants(principal, body.tenants)
    entry = await service.catalog.set_enabled(principal.name, rule_id, on, tenants=tenants)
    return RuleSummary.of(entry, None)


@router.post(
    "/{rule_id}/enable",
    response_model=RuleSummary,
    summary="Turn a rule on, for some tenants or by default",
    responses=problems(400, 404),
)
async def enable_rule(
    rule_id: str, body: Enablement, principal: RuleWriter, service: ServiceDep
) -> RuleSummary:
    return await _enablement(rule_id, body, principal, service, True)


@router.post(
    "/{rule_id}/disable",
    response_model=RuleSummary,
    summary="Turn a rule off, for some tenants or by default",
    responses=problems(400, 404),
)
async def disable_rule(
    rule_id: str, body: Enablement, principal: RuleWriter, service: ServiceDep
) -> RuleSummary:
    return await _enablement(rule_id, body, principal, service, False)


@router.post(
    "/{rule_id}/test",
    response_model=Hunt,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the rule as a retro-hunt preview over the last day; the hunt (GET /hunts/{id})",
    responses=problems(400, 404),
)
async def test_rule(
    rule_id: str, body: RuleTest, principal: RuleWriter, service: ServiceDep, request: Request
) -> Hunt:
    tenants = scope(principal, "hunts:run", body.tenants)
    entry = await service.catalog.get(rule_id)
    if entry.kind == "correlation":
        entries = [e async for e in service.catalog.each()]
        chosen = await asyncio.to_thread(_correlation_hunt, entry, entries, service)
    else:
        rules, _, errors, _ = await asyncio.to_thread(
            Compiler(service.settings.detect).compile, entry
        )
        rule = pick(rules, entry.id) if entry.kind == "rule" else None
        if rule is None:
            reasons = "; ".join(e.reason for e in errors) or f"no rule {rule_id} in its text"
            raise QueryError(f"the rule does not compile: {reasons}")
        chosen = HuntRules(rules=(rule,), sha256=entry.sha256, text=entry.yaml)
    now = utcnow()
    return await get_runner(request).submit(
        principal,
        chosen,
        HuntScope(tenants=tenants, since=now - TEST_SPAN, until=now),
        raise_alerts=False,
    )
