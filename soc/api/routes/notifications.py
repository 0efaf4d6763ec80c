"""Notifications (leads): channels, routes, the outbox, and a test message.

Channels and routes of the settings (``notify``) are listed read-only beside those made
here. A channel's secrets (SMTP password, webhook key, chat token) are written here and
never returned: every answer masks them.
"""

from __future__ import annotations

from typing import Annotated

import aiohttp
from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from soc.api.deps import PrincipalDep, ServiceDep
from soc.api.errors import problems
from soc.errors import Conflict, NotFound
from soc.models import utcnow
from soc.notify.config import masked
from soc.notify.models import ChannelView, OutboxItem, OutboxState, StoredChannel
from soc.notify.outbox import of_record
from soc.security.principal import Principal
from soc.security.roles import Action, scope
from soc.settings import ALL_TENANTS, ChannelSettings, RouteSettings
from soc.store.records import encode_after

router = APIRouter(
    prefix="/api/v1/notifications",
    tags=["notifications"],
    responses=problems(401, 403, 422),
)
ACTION: Action = "notifications:manage"
NAME = r"^[A-Za-z0-9_.-]{1,100}$"


class ChannelRequest(BaseModel):
    tenant: str = Field(min_length=1, max_length=200, examples=["so-tttt"])
    channel: ChannelSettings


class RouteView(BaseModel):
    id: str
    origin: str
    """``settings`` (read-only here) or ``api``."""
    route: RouteSettings


class OutboxPage(BaseModel):
    items: list[OutboxItem]
    next_cursor: str | None = None


def _visible(principal: Principal, tenant: str) -> bool:
    """Whether a lead sees a channel or route of ``tenant`` (``*``: the settings', all)."""
    if tenant == ALL_TENANTS:
        return True
    tenants = scope(principal, ACTION)
    return tenants is None or tenant in tenants


@router.get("/channels", response_model=list[ChannelView], summary="Channels, secrets masked")
async def list_channels(principal: PrincipalDep, service: ServiceDep) -> list[ChannelView]:
    tenants = scope(principal, ACTION)
    return await service.notifier.config.channels(tenants)


@router.put(
    "/channels/{name}",
    response_model=ChannelView,
    summary="Create or replace a tenant's channel (email, signed webhook, chat)",
    responses=problems(409),
)
async def put_channel(
    name: Annotated[str, Path(pattern=NAME)],
    body: ChannelRequest,
    principal: PrincipalDep,
    service: ServiceDep,
) -> ChannelView:
    scope(principal, ACTION, [body.tenant])
    config = service.notifier.config
    found = await config.channel(name)
    if found is not None and found[0] != ALL_TENANTS and not _visible(principal, found[0]):
        raise NotFound(f"no channel {name!r}")
    stored = StoredChannel(
        name=name,
        tenant=body.tenant,
        channel=body.channel,
        created_by=principal.name,
        updated=utcnow(),
    )
    await config.put_channel(stored)
    await service.audit.append(
        actor=principal.name,
        tenant=body.tenant,
        action="notification.channel_put",
        target=f"channel:{name}",
        after={"channel": masked(body.channel)},
    )
    return ChannelView(name=name, tenant=body.tenant, origin="api", channel=masked(body.channel))


@router.delete(
    "/channels/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a channel made through the API",
    responses=problems(404, 409),
)
async def delete_channel(name: str, principal: PrincipalDep, service: ServiceDep) -> Response:
    scope(principal, ACTION)  # leads only, before anything is looked up
    config = service.notifier.config
    found = await config.channel(name)
    if found is None or not _visible(principal, found[0]):
        raise NotFound(f"no channel {name!r}")
    if name in config.settings.channels:
        raise Conflict(f"channel {name!r} is defined in the settings", expected=0, found=None)
    await config.delete_channel(name)
    await service.audit.append(
        actor=principal.name,
        tenant=found[0],
        action="notification.channel_delete",
        target=f"channel:{name}",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/channels/{name}/test",
    response_model=OutboxItem,
    summary="Send a test message on a channel now; the outbox record after the attempt",
    responses=problems(404),
)
async def test_channel(
    name: str,
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[str | None, Query(description="For a settings' channel")] = None,
) -> OutboxItem:
    scope(principal, ACTION)  # leads only, before anything is looked up
    found = await service.notifier.config.channel(name)
    if found is None or not _visible(principal, found[0]):
        raise NotFound(f"no channel {name!r}")
    if found[0] != ALL_TENANTS:
        tenant = found[0]
    elif tenant is None:
        tenants = scope(principal, ACTION)
        tenant = ALL_TENANTS if tenants is None else tenants[0]
    scope(principal, ACTION, [tenant])
    item = await service.notifier.test(name, tenant=tenant, by=principal.name)
    if item is None:
        raise NotFound(f"no channel {name!r}")
    async with aiohttp.ClientSession() as http:
        done = await service.sender.deliver(item, http)
    # None: a sender stage claimed it first; its record as that sender left it
    return done or await service.notifier.outbox.get(item.id, tenants=None) or item


@router.get("/routes", response_model=list[RouteView], summary="Routes: trigger -> channel")
async def list_routes(principal: PrincipalDep, service: ServiceDep) -> list[RouteView]:
    tenants = scope(principal, ACTION)
    found = await service.notifier.config.routes(
        None if tenants is None else [*tenants, ALL_TENANTS]
    )
    return [
        RouteView(id=rid, origin="settings" if rid.startswith("settings:") else "api", route=r)
        for rid, r in found
    ]


@router.post(
    "/routes",
    response_model=RouteView,
    status_code=status.HTTP_201_CREATED,
    summary="Add a route: a tenant's (and unit's) triggers to a channel",
    responses=problems(404),
)
async def add_route(body: RouteSettings, principal: PrincipalDep, service: ServiceDep) -> RouteView:
    scope(principal, ACTION, [body.tenant])
    found = await service.notifier.config.channel(body.channel)
    if found is None or found[0] not in (ALL_TENANTS, body.tenant):
        raise NotFound(f"no channel {body.channel!r} for tenant {body.tenant!r}")
    stored = await service.notifier.config.add_route(body, by=principal.name)
    await service.audit.append(
        actor=principal.name,
        tenant=body.tenant,
        action="notification.route_add",
        target=f"route:{stored.id}",
        after=body.model_dump(mode="json"),
    )
    return RouteView(id=stored.id, origin="api", route=body)


@router.delete(
    "/routes/{route_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a route made through the API",
    responses=problems(404, 409),
)
async def delete_route(route_id: str, principal: PrincipalDep, service: ServiceDep) -> Response:
    scope(principal, ACTION)  # leads only, before anything is looked up
    if route_id.startswith("settings:"):
        raise Conflict(f"route {route_id} is defined in the settings", expected=0, found=None)
    config = service.notifier.config
    tenant = await config.route_tenant(route_id)
    if tenant is None or (tenant != ALL_TENANTS and not _visible(principal, tenant)):
        raise NotFound(f"no route {route_id!r}")
    scope(principal, ACTION, [tenant])
    await config.delete_route(route_id)
    await service.audit.append(
        actor=principal.name,
        tenant=tenant,
        action="notification.route_delete",
        target=f"route:{route_id}",
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/outbox", response_model=OutboxPage, summary="Messages, newest due first")
async def list_outbox(
    principal: PrincipalDep,
    service: ServiceDep,
    tenant: Annotated[list[str] | None, Query()] = None,
    state: Annotated[list[OutboxState] | None, Query()] = None,
    channel: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> OutboxPage:
    tenants = scope(principal, ACTION, tenant)
    page = await service.notifier.outbox.list(
        tenants=tenants, state=state, channel=channel, limit=limit, cursor=cursor
    )
    return OutboxPage(items=[of_record(r) for r in page.items], next_cursor=encode_after(page.next))
