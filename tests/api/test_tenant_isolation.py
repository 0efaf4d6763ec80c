"""No agency reads, searches or changes another agency's alerts and incidents, by any route.

The real service (detect, grouping, store) runs on each store backend with two
tenants fed the same recorded events (the bundled slice of the OTRF LSASS
campaign): ``hue-ioc`` and ``hue-dof``. An analyst of ``hue-ioc`` then calls
every route of the API with the other tenant's ids and filters. A route added
to the API without a case here fails ``test_every_route_is_covered``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from soc.api.app import create_app
from soc.api.feed import Feed, Listener
from soc.api.taxii.resources import TAXII_MEDIA_TYPE, collection_id
from soc.app import Service
from soc.drills.models import Drill, DrillState
from soc.errors import BackendError
from soc.incidents.cases import IncidentQuery
from soc.ingest.ndjson import parse_ndjson
from soc.intel.models import Indicator, IndicatorType
from soc.models import AlertQuery, utcnow
from soc.notify.models import StoredChannel
from soc.settings import RouteSettings, Settings, WebhookChannelSettings
from soc.sharing.objects import StixObjects
from soc.stages.ingest import ingest_ndjson
from soc.store.eventquery import EventQuery
from tests.api._backends import BACKENDS, backend_values
from tests.e2e.harness import auth, sample_lines

A, B = "hue-ioc", "hue-dof"

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("POST", "/api/v1/auth/token"),
}
"""Routes that need no credentials, or hold no tenant data."""

SELF = {("GET", "/api/v1/auth/me"), ("POST", "/api/v1/auth/logout")}
"""Routes about the caller's own session: no other principal's data to reach."""


@dataclass
class World:
    client: httpx.AsyncClient
    service: Service
    feed: Feed
    b_incident: dict[str, Any]
    b_alert: str
    a_incident: dict[str, Any]
    b_event: str
    b_hunt: str
    b_drill: str
    b_route: str
    b_indicator: str
    b_stix: str


async def _until(check: Callable[[], Awaitable[bool]], within_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the pipeline")
        await asyncio.sleep(0.3)


@pytest.fixture(params=BACKENDS)
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[World]:
    async with backend_values(request, tmp_path, unique_name) as values:
        async for item in _running(values):
            yield item


async def _running(values: dict[str, Any]) -> AsyncIterator[World]:
    # The recorded events are of 2023: kept, or the retention job would delete them at start.
    values["store"]["retention"] = {"events_days": None}
    settings = Settings(**values, incidents={"stream_poll_s": 0.2})
    service = Service(settings, workers=True)
    app = create_app(service)
    lines = b"\n".join(sample_lines()[:1500])
    parsed = parse_ndjson(lines, tenant=A, source="test", received=utcnow(), max_line_bytes=1 << 20)
    recorded = len({e.id for e in parsed.events})
    async with app.router.lifespan_context(app):
        for tenant in (A, B):
            await ingest_ndjson(
                lines, tenant=tenant, source="test", bus=service.bus, settings=settings.ingest
            )

        async def grouped() -> bool:
            """Both tenants hold the same alerts, every one of them in an incident."""
            try:
                pages = [
                    await service.store.search_alerts(AlertQuery(tenants=[t], limit=500))
                    for t in (A, B)
                ]
            except BackendError:
                return False  # an index still starting
            counts = {len(p.items) for p in pages}
            linked = all(a.incident_id for p in pages for a in p.items)
            if not (linked and len(counts) == 1 and counts != {0}):
                return False
            return {await _stored_events(service, t) for t in (A, B)} == {recorded}

        await _until(grouped)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
            b_page = await service.cases.incidents.find(IncidentQuery(tenants=[B], limit=1))
            a_page = await service.cases.incidents.find(IncidentQuery(tenants=[A], limit=1))
            b_incident = b_page.items[0].model_dump(mode="json")
            b_events = await service.store.search_events(EventQuery(tenants=[B], limit=1))
            hunt = await client.post(
                "/api/v1/hunts",
                json={
                    "rule_ids": [b_incident["alerts"][0]["rule_id"]],
                    "since": "2023-08-01T00:00:00Z",
                    "until": "2023-09-01T00:00:00Z",
                    "tenants": [B],
                },
                headers=auth("lead"),
            )
            assert hunt.status_code == 202, hunt.text
            # B's drill, recorded as ended (it replays nothing into the tenants' counts)
            b_drill = Drill(
                id="drill-of-b",
                scenario="web-portal-attack",
                title="B's drill",
                tenant=B,
                speed=10,
                state=DrillState.ended,
                created_by="lead",
                created=utcnow(),
            )
            await service.drills.book.create(b_drill)
            # B's notification channel and route, made by a lead of every tenant
            await service.notifier.config.put_channel(
                StoredChannel(
                    name="dof-hook",
                    tenant=B,
                    channel=WebhookChannelSettings(
                        url="http://127.0.0.1:9/", secret=SecretStr("k")
                    ),
                    created_by="lead",
                    updated=utcnow(),
                )
            )
            b_route = await service.notifier.config.add_route(
                RouteSettings(tenant=B, triggers=["loss_detected"], channel="dof-hook"), by="lead"
            )
            # B's own indicator (a lead of every tenant pasted it)
            b_indicator = Indicator(
                id=Indicator.make_id("paste:lead", IndicatorType.ip, "198.51.100.77"),
                tenant=B,
                type=IndicatorType.ip,
                value="198.51.100.77",
                source="paste:lead",
                valid_from=utcnow(),
            )
            await service.indicators.put([b_indicator])
            # B's shared STIX object (its TAXII collection's content)
            b_stix = "indicator--5f1f7e2a-0c1e-4f5b-9a53-6d1c7b1e9d01"
            await StixObjects(service.store).add(
                B,
                [
                    {
                        "type": "indicator",
                        "spec_version": "2.1",
                        "id": b_stix,
                        "created": "2026-11-01T08:00:00.000Z",
                        "modified": "2026-11-01T08:00:00.000Z",
                        "pattern": "[ipv4-addr:value = '203.0.113.9']",
                        "pattern_type": "stix",
                        "valid_from": "2026-11-01T08:00:00Z",
                    }
                ],
            )
            yield World(
                client=client,
                service=service,
                feed=app.state.feed,
                b_incident=b_incident,
                b_alert=b_incident["alerts"][0]["id"],
                a_incident=a_page.items[0].model_dump(mode="json"),
                b_event=b_events.items[0].id,
                b_hunt=hunt.json()["id"],
                b_drill=b_drill.id,
                b_route=b_route.id,
                b_indicator=b_indicator.id,
                b_stix=b_stix,
            )


async def _stored_events(service: Service, tenant: str) -> int:
    """How many events the event sink has stored for ``tenant`` so far."""
    n, cursor = 0, None
    while True:
        page = await service.store.search_events(
            EventQuery(tenants=[tenant], limit=500, cursor=cursor)
        )
        n += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return n


Call = Callable[[World], Awaitable[httpx.Response]]


def _target(path: str, w: World) -> str:
    return path.format(
        b=w.b_incident["id"],
        alert=w.b_alert,
        event=w.b_event,
        hunt=w.b_hunt,
        drill=w.b_drill,
        route=w.b_route,
        indicator=w.b_indicator,
        b_coll=collection_id(B),
        a_coll=collection_id(A),
        stix=w.b_stix,
    )


def _get(path: str, who: str = "analyst", **params: Any) -> Call:
    async def call(w: World) -> httpx.Response:
        return await w.client.get(_target(path, w), params=params, headers=auth(who))

    return call


def _post(
    path: str, body: Callable[[World], dict[str, Any]], method: str = "POST", who: str = "analyst"
) -> Call:
    async def call(w: World) -> httpx.Response:
        return await w.client.request(method, _target(path, w), json=body(w), headers=auth(who))

    return call


def _taxii(path: str, method: str = "GET", who: str = "taxii") -> Call:
    """A TAXII client's call: the TAXII media type, the key (a taxii key of A by default)."""

    async def call(w: World) -> httpx.Response:
        headers = {**auth(who), "Accept": TAXII_MEDIA_TYPE, "Content-Type": TAXII_MEDIA_TYPE}
        body = b'{"objects": []}' if method == "POST" else None
        return await w.client.request(method, _target(path, w), content=body, headers=headers)

    return call


TAXII_COLLECTION = "/taxii2/soc/collections/{b_coll}/"


def _v(w: World) -> dict[str, Any]:
    return {"version": w.b_incident["version"]}


def _hook(tenant: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {
        "tenant": tenant,
        "channel": {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": "k"},
    }


def _import(tenant: str) -> Call:
    async def call(w: World) -> httpx.Response:
        return await w.client.post(
            "/api/v1/indicators/import",
            params={"tenant": tenant},
            content=b'[{"type": "indicator"}]',
            headers={**auth("lead_ioc"), "Content-Type": "application/json"},
        )

    return call


RULE = "fd877b94-9bb5-4191-bb25-d79cbd93c167"
"""A bundled rule (Dumping of Sensitive Hives Via Reg.EXE), in the catalog from the start."""

DENIED: dict[tuple[str, str], list[Call]] = {
    # Reading the other tenant's records by id answers 404, as for a missing record.
    ("GET", "/api/v1/alerts/{alert_id}"): [_get("/api/v1/alerts/{alert}")],
    ("GET", "/api/v1/events/{event_id}"): [_get("/api/v1/events/{event}")],
    ("GET", "/api/v1/incidents/{incident_id}"): [_get("/api/v1/incidents/{b}")],
    ("GET", "/api/v1/incidents/{incident_id}/timeline"): [_get("/api/v1/incidents/{b}/timeline")],
    ("GET", "/api/v1/incidents/{incident_id}/evidence"): [_get("/api/v1/incidents/{b}/evidence")],
    ("GET", "/api/v1/incidents/{incident_id}/stix"): [_get("/api/v1/incidents/{b}/stix")],
    ("GET", "/api/v1/incidents/{incident_id}/shares"): [_get("/api/v1/incidents/{b}/shares")],
    # Asking for the other tenant by filter is refused.
    ("GET", "/api/v1/alerts"): [_get("/api/v1/alerts", tenant=B)],
    ("GET", "/api/v1/events"): [_get("/api/v1/events", tenant=B)],
    ("GET", "/api/v1/events/stats"): [_get("/api/v1/events/stats", tenant=B, field="host")],
    ("GET", "/api/v1/events/histogram"): [_get("/api/v1/events/histogram", tenant=B)],
    ("GET", "/api/v1/incidents"): [_get("/api/v1/incidents", tenant=B)],
    ("GET", "/api/v1/deadletters"): [_get("/api/v1/deadletters", tenant=B)],
    ("GET", "/api/v1/suppressions"): [_get("/api/v1/suppressions", tenant=B)],
    # Hunts: a lead of A alone neither reads, starts nor cancels B's.
    ("GET", "/api/v1/hunts"): [_get("/api/v1/hunts", "lead_ioc", tenant=B)],
    ("GET", "/api/v1/hunts/{hunt_id}"): [_get("/api/v1/hunts/{hunt}", "lead_ioc")],
    ("POST", "/api/v1/hunts"): [
        _post(
            "/api/v1/hunts",
            lambda w: {
                "rule_ids": [w.b_incident["alerts"][0]["rule_id"]],
                "since": "2023-08-01T00:00:00Z",
                "until": "2023-09-01T00:00:00Z",
                "tenants": [B],
            },
            who="lead_ioc",
        )
    ],
    # Indicator retro-hunts: leads only, in their own tenants.
    ("POST", "/api/v1/indicators/hunt"): [
        _post(
            "/api/v1/indicators/hunt",
            lambda w: {
                "indicator_ids": ["ind-none"],
                "since": "2023-08-01T00:00:00Z",
                "until": "2023-09-01T00:00:00Z",
                "tenants": [B],
            },
            who=who,
        )
        for who in ("lead_ioc", "analyst")
    ],
    ("POST", "/api/v1/hunts/{hunt_id}/cancel"): [
        _post("/api/v1/hunts/{hunt}/cancel", lambda w: {}, who="lead_ioc")
    ],
    # Drills: leads only (analysts do not even list them: a blind drill must look real);
    # a lead of A alone neither starts one in B nor reads, steers or scores B's.
    ("GET", "/api/v1/drills"): [_get("/api/v1/drills")],
    ("GET", "/api/v1/drills/scenarios"): [_get("/api/v1/drills/scenarios")],
    ("POST", "/api/v1/drills"): [
        _post("/api/v1/drills", lambda w: {"scenario": "web-portal-attack", "tenant": B}),
        _post(
            "/api/v1/drills",
            lambda w: {"scenario": "web-portal-attack", "tenant": B},
            who="lead_ioc",
        ),
    ],
    ("GET", "/api/v1/drills/{drill_id}"): [_get("/api/v1/drills/{drill}", "lead_ioc")],
    ("GET", "/api/v1/drills/{drill_id}/scorecard"): [
        _get("/api/v1/drills/{drill}/scorecard", "lead_ioc")
    ],
    ("GET", "/api/v1/drills/{drill_id}/report"): [
        _get("/api/v1/drills/{drill}/report", "lead_ioc")
    ],
    **{
        ("POST", f"/api/v1/drills/{{drill_id}}/{order}"): [
            _post(f"/api/v1/drills/{{drill}}/{order}", lambda w: {}, who="lead_ioc"),
            _post(f"/api/v1/drills/{{drill}}/{order}", lambda w: {}),
        ]
        for order in ("pause", "resume", "abort", "end")
    },
    # Notifications: leads only; a lead of A alone neither sees, changes, tests nor routes to
    # B's channel, nor reads B's outbox.
    ("GET", "/api/v1/notifications/channels"): [_get("/api/v1/notifications/channels")],
    ("PUT", "/api/v1/notifications/channels/{name}"): [
        _post("/api/v1/notifications/channels/dof-hook", _hook(A), "PUT", who="lead_ioc"),
        _post("/api/v1/notifications/channels/new-hook", _hook(B), "PUT", who="lead_ioc"),
        _post("/api/v1/notifications/channels/new-hook", _hook(A), "PUT"),
    ],
    ("DELETE", "/api/v1/notifications/channels/{name}"): [
        _post("/api/v1/notifications/channels/dof-hook", lambda w: {}, "DELETE", who="lead_ioc")
    ],
    ("POST", "/api/v1/notifications/channels/{name}/test"): [
        _post("/api/v1/notifications/channels/dof-hook/test", lambda w: {}, who="lead_ioc")
    ],
    ("GET", "/api/v1/notifications/routes"): [_get("/api/v1/notifications/routes")],
    ("POST", "/api/v1/notifications/routes"): [
        _post(
            "/api/v1/notifications/routes",
            lambda w: {"tenant": B, "triggers": ["handoff"], "channel": "dof-hook"},
            who="lead_ioc",
        )
    ],
    ("DELETE", "/api/v1/notifications/routes/{route_id}"): [
        _post("/api/v1/notifications/routes/{route}", lambda w: {}, "DELETE", who="lead_ioc")
    ],
    ("GET", "/api/v1/notifications/outbox"): [
        _get("/api/v1/notifications/outbox"),
        _get("/api/v1/notifications/outbox", "lead_ioc", tenant=B),
    ],
    # Rules are configuration, not a tenant's data (one list for everyone); their alert
    # counts are the caller's tenants' and a lead of some tenants adds rules on for those
    # only (tests/api/test_rules.py). A lead of A alone neither switches a rule for B, nor
    # changes its text (it reaches B), nor test-runs it over B's events. Asking for B's
    # counts, enablement or coverage is refused (tests/api/test_rules_page.py).
    ("GET", "/api/v1/rules"): [
        _get("/api/v1/rules", tenant=B),
        _get("/api/v1/rules", tenant=B, enabled="true"),
    ],
    ("GET", "/api/v1/rules/coverage"): [_get("/api/v1/rules/coverage", tenant=B)],
    ("GET", "/api/v1/rules/{rule_id}"): [_get(f"/api/v1/rules/{RULE}", tenant=B)],
    ("GET", "/api/v1/rules/{rule_id}/versions/{revision}"): [],
    ("POST", "/api/v1/rules"): [],
    ("POST", "/api/v1/rules/pack"): [],
    ("POST", "/api/v1/rules/{rule_id}/enable"): [
        _post(f"/api/v1/rules/{RULE}/enable", lambda w: {"tenants": [B]}, who="lead_ioc")
    ],
    ("POST", "/api/v1/rules/{rule_id}/disable"): [
        _post(f"/api/v1/rules/{RULE}/disable", lambda w: {"tenants": [B]}, who="lead_ioc"),
        _post(f"/api/v1/rules/{RULE}/disable", lambda w: {}, who="lead_ioc"),
    ],
    ("PUT", "/api/v1/rules/{rule_id}"): [
        _post(f"/api/v1/rules/{RULE}", lambda w: {"yaml": "title: x"}, "PUT", who="lead_ioc")
    ],
    ("POST", "/api/v1/rules/{rule_id}/test"): [
        _post(f"/api/v1/rules/{RULE}/test", lambda w: {"tenants": [B]}, who="lead_ioc")
    ],
    # Changing them is refused or answers 404.
    ("POST", "/api/v1/incidents/{incident_id}/actions"): [
        _post("/api/v1/incidents/{b}/actions", lambda w: {"command": {"action": "triage"}, **_v(w)})
    ],
    ("POST", "/api/v1/incidents/{incident_id}/comments"): [
        _post("/api/v1/incidents/{b}/comments", lambda w: {"text": "seen"})
    ],
    ("PUT", "/api/v1/incidents/{incident_id}/assignee"): [
        _post("/api/v1/incidents/{b}/assignee", lambda w: {"assignee": "me", **_v(w)}, "PUT")
    ],
    ("PUT", "/api/v1/incidents/{incident_id}/tlp"): [
        _post("/api/v1/incidents/{b}/tlp", lambda w: {"tlp": "clear", **_v(w)}, "PUT")
    ],
    ("POST", "/api/v1/incidents/{incident_id}/share"): [
        _post("/api/v1/incidents/{b}/share", lambda w: {}, who="lead_ioc"),
        _post("/api/v1/incidents/{b}/share", lambda w: {}),  # an analyst may not approve
    ],
    ("POST", "/api/v1/incidents/{incident_id}/verdicts"): [
        _post(
            "/api/v1/incidents/{b}/verdicts",
            lambda w: {"alert_ids": [w.b_alert], "verdict": "false_positive", **_v(w)},
        )
    ],
    ("POST", "/api/v1/incidents/{incident_id}/merge"): [
        # into the other tenant's incident, and the other tenant's incident into ours
        _post("/api/v1/incidents/{b}/merge", lambda w: {"sources": [w.a_incident["id"]], **_v(w)}),
    ],
    ("POST", "/api/v1/incidents/{incident_id}/move"): [
        _post(
            "/api/v1/incidents/{b}/move",
            lambda w: {"alert_ids": [w.b_alert], "to": w.a_incident["id"], **_v(w)},
        )
    ],
    ("POST", "/api/v1/suppressions"): [
        _post(
            "/api/v1/suppressions",
            lambda w: {
                "tenant": B,
                "rule_id": "x",
                "reason": "noise",
                "expires": (utcnow() + timedelta(days=1)).isoformat(),
            },
        )
    ],
    ("POST", "/api/v1/alerts/bulk"): [],  # checked in the test below: nothing of B changes
    ("DELETE", "/api/v1/suppressions/{suppression_id}"): [],  # checked below
    ("GET", "/api/v1/sources/ledger"): [_get("/api/v1/sources/ledger", tenant=B)],
    ("GET", "/api/v1/overview"): [],  # checked below: no count of B
    ("GET", "/api/v1/stream"): [],  # checked below, on the feed's listeners
    ("GET", "/api/v1/audit"): [_get("/api/v1/audit")],  # analysts do not read the trail
    ("GET", "/api/v1/audit/verify"): [_get("/api/v1/audit/verify")],
    ("POST", "/api/v1/ingest"): [],  # the tenant comes from the ingest key alone
    ("POST", "/api/v1/heartbeat"): [],  # the tenant comes from the ingest key alone
    ("GET", "/api/v1/sources"): [_get("/api/v1/sources", tenant=B)],
    # Indicators: B's answer 404; filters and intake for B are refused (also to A's lead).
    ("GET", "/api/v1/indicators"): [_get("/api/v1/indicators", tenant=B)],
    ("GET", "/api/v1/indicators/{indicator_id}"): [_get("/api/v1/indicators/{indicator}")],
    ("POST", "/api/v1/indicators"): [
        _post("/api/v1/indicators", lambda w: {"text": "192.0.2.1", "tenant": B}, who="lead_ioc"),
        _post("/api/v1/indicators", lambda w: {"text": "192.0.2.1", "tenant": "*"}, who="lead_ioc"),
    ],
    ("POST", "/api/v1/indicators/import"): [_import(B), _import("*")],
    ("POST", "/api/v1/indicators/{indicator_id}/revoke"): [
        _post("/api/v1/indicators/{indicator}/revoke", lambda w: {}, who="lead_ioc")
    ],
    ("GET", "/api/v1/intel/feeds"): [_get("/api/v1/intel/feeds", tenant=B)],
    # Accounts: only admins manage them, within their tenants (tests/api/test_users.py).
    ("GET", "/api/v1/users"): [_get("/api/v1/users")],
    ("POST", "/api/v1/users"): [
        _post(
            "/api/v1/users",
            lambda w: {
                "username": "spy",
                "display_name": "Spy",
                "role": "analyst",
                "tenants": [B],
                "password": "a long enough passphrase 42",
            },
        )
    ],
    ("PATCH", "/api/v1/users/{username}"): [
        _post("/api/v1/users/someone", lambda w: {"tenants": [A, B]}, "PATCH")
    ],
    # TAXII (soc/api/taxii): API keys of the taxii role only, sent as Basic or Bearer; a key
    # of A sees A's collection only: B's collection answers 404 as a missing one, B's
    # object is not in A's collection, and an analyst's key reads nothing (403). Discovery,
    # the API root and the collection list hold no object: checked below (no B listed).
    ("GET", "/taxii2/"): [_taxii("/taxii2/", who="analyst")],
    ("GET", "/taxii2/soc/"): [_taxii("/taxii2/soc/", who="analyst")],
    ("GET", "/taxii2/soc/status/{status_id}/"): [_taxii("/taxii2/soc/status/{b}/")],
    ("GET", "/taxii2/soc/collections/"): [_taxii("/taxii2/soc/collections/", who="analyst")],
    ("GET", "/taxii2/soc/collections/{collection_id}/"): [
        _taxii(TAXII_COLLECTION),
        _taxii(TAXII_COLLECTION, who="other"),  # B's analyst: not a taxii key
    ],
    ("GET", "/taxii2/soc/collections/{collection_id}/manifest/"): [
        _taxii(TAXII_COLLECTION + "manifest/")
    ],
    ("GET", "/taxii2/soc/collections/{collection_id}/objects/"): [
        _taxii(TAXII_COLLECTION + "objects/"),
        _taxii(TAXII_COLLECTION + "objects/", who="lead"),
    ],
    ("POST", "/taxii2/soc/collections/{collection_id}/objects/"): [
        _taxii(TAXII_COLLECTION + "objects/", "POST"),
        _taxii("/taxii2/soc/collections/{a_coll}/objects/", "POST"),  # read-only
    ],
    ("GET", "/taxii2/soc/collections/{collection_id}/objects/{object_id}/"): [
        _taxii(TAXII_COLLECTION + "objects/{stix}/"),
        _taxii("/taxii2/soc/collections/{a_coll}/objects/{stix}/"),
    ],
    ("DELETE", "/taxii2/soc/collections/{collection_id}/objects/{object_id}/"): [
        _taxii(TAXII_COLLECTION + "objects/{stix}/", "DELETE"),
        _taxii("/taxii2/soc/collections/{a_coll}/objects/{stix}/", "DELETE"),
    ],
    ("GET", "/taxii2/soc/collections/{collection_id}/objects/{object_id}/versions/"): [
        _taxii(TAXII_COLLECTION + "objects/{stix}/versions/"),
        _taxii("/taxii2/soc/collections/{a_coll}/objects/{stix}/versions/"),
    ],
    ("POST", "/api/v1/users/{username}/password"): [
        _post("/api/v1/users/someone/password", lambda w: {"password": "x" * 20})
    ],
}


def test_every_route_is_covered() -> None:
    app = create_app(Service(Settings(env="development"), workers=False))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert len(routes) > 30, "the schema lists the API's routes"
    assert routes - set(DENIED) - PUBLIC - SELF == set(), "add a tenant-isolation case"


async def test_no_route_reaches_the_other_tenant(world: World) -> None:
    b_id = world.b_incident["id"]
    for (method, path), calls in DENIED.items():
        for call in calls:
            response = await call(world)
            assert response.status_code in (403, 404), (method, path, response.text)
            assert B not in response.text or response.status_code == 403, (method, path)
    # merge of B's incident into A's: refused, and B's incident is unchanged
    response = await world.client.post(
        f"/api/v1/incidents/{world.a_incident['id']}/merge",
        json={"sources": [b_id], "version": world.a_incident["version"]},
        headers=auth("analyst"),
    )
    assert response.status_code == 404, response.text
    stored = await world.service.cases.incidents.get(b_id, tenants=None)
    assert stored is not None and stored.version == world.b_incident["version"]
    assert stored.status.value == "new" and stored.merged_into is None

    # indicators without a filter: none of B's (the analyst's and the national ones only)
    page = (await world.client.get("/api/v1/indicators", headers=auth("analyst"))).json()
    assert world.b_indicator not in {i["id"] for i in page["items"]}
    feeds = (await world.client.get("/api/v1/intel/feeds", headers=auth("analyst"))).json()
    assert B not in {s["tenant"] for s in feeds["sources"]}
    # lists without a filter hold only the caller's tenant
    for path in ("/api/v1/alerts", "/api/v1/incidents"):
        page = (await world.client.get(path, headers=auth("analyst"))).json()
        assert page["items"] and {i["tenant"] for i in page["items"]} == {A}, path
    # full-text search finds the same words in both tenants, but answers only ours
    title_word = world.b_incident["title"].split()[0]
    for path in ("/api/v1/alerts", "/api/v1/incidents"):
        page = (
            await world.client.get(path, params={"q": title_word}, headers=auth("analyst"))
        ).json()
        assert page["items"] and {i["tenant"] for i in page["items"]} == {A}, path
    overview = (await world.client.get("/api/v1/overview", headers=auth("analyst"))).json()
    assert set(overview["open_by_tenant"]) == {A}
    await _events_stay_with_their_tenant(world)
    hunts = (await world.client.get("/api/v1/hunts", headers=auth("lead_ioc"))).json()
    assert world.b_hunt not in {h["id"] for h in hunts}
    all_hunts = (await world.client.get("/api/v1/hunts", headers=auth("lead"))).json()
    assert world.b_hunt in {h["id"] for h in all_hunts}
    drills = (await world.client.get("/api/v1/drills", headers=auth("lead_ioc"))).json()
    assert world.b_drill not in {d["id"] for d in drills}
    all_drills = (await world.client.get("/api/v1/drills", headers=auth("lead"))).json()
    assert world.b_drill in {d["id"] for d in all_drills}
    for path, b_thing in (("channels", "dof-hook"), ("routes", world.b_route)):
        url = f"/api/v1/notifications/{path}"
        mine = await world.client.get(url, headers=auth("lead_ioc"))
        assert mine.status_code == 200 and b_thing not in mine.text
        every = await world.client.get(url, headers=auth("lead"))
        assert b_thing in every.text

    # the TAXII collections a key of A lists: A's only; A's holds none of B's objects
    listed = await _taxii("/taxii2/soc/collections/")(world)
    assert [c["alias"] for c in listed.json()["collections"]] == [A]
    ours = await _taxii("/taxii2/soc/collections/{a_coll}/objects/")(world)
    assert ours.status_code == 200 and world.b_stix not in ours.text

    # bulk status naming B's alert changes nothing of B
    response = await world.client.post(
        "/api/v1/alerts/bulk",
        json={"ids": [world.b_alert], "status": "closed"},
        headers=auth("analyst"),
    )
    assert response.status_code == 200 and response.json() == {"updated": 0}
    alert = await world.service.store.get_alert(world.b_alert, tenants=None)
    assert alert is not None and alert.status.value == "open"

    # a lead of all tenants sees both; the other tenant's analyst sees only theirs
    page = (await world.client.get("/api/v1/incidents", headers=auth("lead"))).json()
    assert {i["tenant"] for i in page["items"]} == {A, B}
    page = (await world.client.get("/api/v1/incidents", headers=auth("other"))).json()
    assert {i["tenant"] for i in page["items"]} == {B}
    assert (
        await world.client.get(f"/api/v1/incidents/{b_id}", headers=auth("other"))
    ).status_code == 200


async def _events_stay_with_their_tenant(world: World) -> None:
    """Both tenants hold the same recorded events: every count of one tenant's analyst is
    what the other's is, a lead of both sees twice as many, and no list holds the other's."""

    async def get(path: str, who: str, **params: Any) -> dict[str, Any]:
        r = await world.client.get(f"/api/v1{path}", params=params, headers=auth(who))
        assert r.status_code == 200, (path, who, r.text)
        body: dict[str, Any] = r.json()
        return body

    span = {"since": "2023-08-15T00:00:00Z", "until": "2023-08-16T00:00:00Z"}
    for q in ("", "lsass", "EventID:10"):
        page = await get("/events", "analyst", q=q, limit=500)
        assert page["items"] and {e["tenant"] for e in page["items"]} == {A}, q
        ours, theirs, both = [
            await get("/events/histogram", who, q=q, **span) for who in ("analyst", "other", "lead")
        ]
        assert ours["total"] == theirs["total"] > 0 and both["total"] == 2 * ours["total"], q
        ours, theirs, both = [
            await get("/events/stats", who, q=q, field="host")
            for who in ("analyst", "other", "lead")
        ]
        assert ours["events"] == theirs["events"] > 0 and both["events"] == 2 * ours["events"]
    r = await world.client.get(f"/api/v1/events/{world.b_event}", headers=auth("analyst"))
    assert r.status_code == 404 and B not in r.text
    r = await world.client.get(f"/api/v1/events/{world.b_event}", headers=auth("other"))
    assert r.status_code == 200 and r.json()["tenant"] == B


async def test_the_live_feed_tells_each_listener_only_its_tenants(world: World) -> None:
    feed = world.feed
    mine = Listener(tenants=[A], alerts=True, unit=None)
    theirs = Listener(tenants=[B], alerts=True, unit=None)
    feed.listen(mine)
    feed.listen(theirs)
    try:
        await asyncio.sleep(0.5)  # the first poll only learns what exists
        await world.client.post(
            f"/api/v1/incidents/{world.b_incident['id']}/comments",
            json={"text": "seen by dof"},
            headers=auth("other"),
        )
        response = await world.client.post(
            f"/api/v1/incidents/{world.b_incident['id']}/actions",
            json={"command": {"action": "triage"}, "version": world.b_incident["version"]},
            headers=auth("other"),
        )
        assert response.status_code == 200, response.text
        kind, item = await asyncio.wait_for(theirs.queue.get(), 10)
        assert (kind, item["id"], item["tenant"]) == ("incident", world.b_incident["id"], B)
        await asyncio.sleep(world.service.settings.incidents.stream_poll_s * 2)
        seen = []
        while not mine.queue.empty():
            seen.append(mine.queue.get_nowait())
        assert all(item["tenant"] == A for _, item in seen), seen
    finally:
        feed.leave(mine)
        feed.leave(theirs)
