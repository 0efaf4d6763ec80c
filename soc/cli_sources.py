"""`soc sources`: the connectors' streams in the configured store, as a table.

    soc sources [--tenant T]... [--connector C] [--json]

One line per (tenant, connector, source, stream): its state (healthy, late, silent,
losing: soc.sources.status), the seq its connector last reported delivered, its
backlog, its events in the last 24 h, when its last event arrived and when its
connector was last heard of.
Whoever holds the store's credentials reads every tenant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from soc.settings import Settings
from soc.sources.status import SourceStatus, statuses
from soc.store import build_store

SHOWN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = (
    "STATE",
    "TENANT",
    "CONNECTOR",
    "SOURCE",
    "STREAM",
    "SEQ",
    "BACKLOG",
    "EVENTS 24H",
    "LAST EVENT",
    "LAST SEEN",
)


def _shown(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M:%S")


def table(views: list[SourceStatus]) -> list[str]:
    """The rows, aligned; times in Asia/Ho_Chi_Minh."""
    rows = [HEADER] + [
        (
            v.state.value,
            v.tenant,
            v.connector,
            v.source,
            v.stream,
            "-" if v.seq is None else str(v.seq),
            str(v.backlog),
            str(v.events_24h),
            _shown(v.last_event),
            _shown(v.last_seen),
        )
        for v in views
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def sources_command(load: Callable[[], Settings]) -> click.Command:
    @click.command(name="sources")
    @click.option("--tenant", multiple=True, help="Only these tenants (default: all)")
    @click.option("--connector", help="Only this connector")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object a line")
    def sources(tenant: tuple[str, ...], connector: str | None, as_json: bool) -> None:
        """The sources: state, delivered seq, backlog, events, last event, last heartbeat."""
        settings = load()

        async def go() -> list[SourceStatus]:
            store = build_store(settings.store)
            await store.start()
            try:
                return await statuses(
                    store, settings.sources, list(tenant) or None, connector=connector
                )
            finally:
                await store.stop()

        views = asyncio.run(go())
        if as_json:
            for v in views:
                click.echo(json.dumps(v.model_dump(mode="json"), ensure_ascii=False))
            return
        for line in table(views):
            click.echo(line)

    return sources
