"""Channels and routes: those of the settings (``notify``) and those leads made through the
API, kept as records (:class:`~soc.store.records.Kind` ``notify_channel``, ``notify_route``).

A stored channel belongs to one tenant; a channel of the settings to every tenant, and
its name cannot be taken by a stored one. Secrets are stored as given (the store is the
SOC's own) and never leave through the API: :func:`masked` is what it shows.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from soc.errors import Conflict
from soc.models import digest, utcnow
from soc.notify.models import ChannelView, StoredChannel, StoredRoute
from soc.settings import ALL_TENANTS, ChannelSettings, NotifySettings, RouteSettings
from soc.store.records import Kind, Record, RecordQuery, Records, every
from soc.store.terms import micros


def revealed(model: BaseModel) -> dict[str, Any]:
    """``model`` as JSON with its secrets' values (for the store only)."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(type(value).__name__)

    result: dict[str, Any] = json.loads(json.dumps(model.model_dump(mode="python"), default=plain))
    return result


def masked(channel: ChannelSettings) -> dict[str, Any]:
    """The channel as JSON, each secret shown as ``"**********"`` (or null when unset)."""
    return channel.model_dump(mode="json")


class NotifyConfig:
    def __init__(self, records: Records, settings: NotifySettings) -> None:
        self._records = records
        self.settings = settings

    # channels

    async def channel(self, name: str) -> tuple[str, ChannelSettings] | None:
        """The tenant (``*`` for the settings') and the channel named ``name``."""
        if name in self.settings.channels:
            return ALL_TENANTS, self.settings.channels[name]
        record = await self._records.get_record(Kind.notify_channel, name)
        if record is None:
            return None
        stored = StoredChannel.model_validate(record.doc)
        return stored.tenant, stored.channel

    async def channels(self, tenants: list[str] | None) -> list[ChannelView]:
        views = [
            ChannelView(name=name, tenant=ALL_TENANTS, origin="settings", channel=masked(c))
            for name, c in sorted(self.settings.channels.items())
        ]
        query = RecordQuery(kind=Kind.notify_channel, tenants=tenants, order="asc", limit=500)
        async for record in every(self._records, query):
            stored = StoredChannel.model_validate(record.doc)
            views.append(
                ChannelView(
                    name=stored.name,
                    tenant=stored.tenant,
                    origin="api",
                    channel=masked(stored.channel),
                )
            )
        return views

    async def put_channel(self, stored: StoredChannel) -> None:
        """Create or replace a stored channel (a settings' name is refused)."""
        if stored.name in self.settings.channels:
            raise Conflict(
                f"channel {stored.name!r} is defined in the settings", expected=0, found=None
            )
        current = await self._records.get_record(Kind.notify_channel, stored.name)
        if current is not None and current.tenant != stored.tenant:
            raise Conflict(
                f"channel {stored.name!r} belongs to another tenant", expected=0, found=None
            )
        record = Record(
            kind=Kind.notify_channel,
            id=stored.name,
            tenant=stored.tenant,
            sort=micros(stored.updated),
            terms={"type": [stored.channel.type]},
            doc=revealed(stored),
        )
        await self._records.put_record(record, expect=current.version if current else 0)

    async def delete_channel(self, name: str) -> bool:
        return await self._records.delete_record(Kind.notify_channel, name)

    # routes

    async def routes(self, tenants: list[str] | None = None) -> list[tuple[str, RouteSettings]]:
        """(id, route): the settings' (ids ``settings:<n>``), then the stored ones."""
        found = [
            (f"settings:{n}", r)
            for n, r in enumerate(self.settings.routes)
            if tenants is None or r.tenant in tenants
        ]
        query = RecordQuery(kind=Kind.notify_route, tenants=tenants, order="asc", limit=500)
        async for record in every(self._records, query):
            stored = StoredRoute.model_validate(record.doc)
            found.append((stored.id, stored.route))
        return found

    async def add_route(self, route: RouteSettings, *, by: str) -> StoredRoute:
        now = utcnow()
        rid = digest("route", route.model_dump_json(), now.isoformat())[:16]
        stored = StoredRoute(id=rid, route=route, created_by=by, created=now)
        await self._records.put_record(
            Record(
                kind=Kind.notify_route,
                id=rid,
                tenant=route.tenant,
                sort=micros(now),
                terms={"channel": [route.channel]},
                doc=stored.model_dump(mode="json"),
            ),
            expect=0,
        )
        return stored

    async def route_tenant(self, route_id: str) -> str | None:
        record = await self._records.get_record(Kind.notify_route, route_id)
        return record.tenant if record is not None else None

    async def delete_route(self, route_id: str) -> bool:
        return await self._records.delete_record(Kind.notify_route, route_id)
