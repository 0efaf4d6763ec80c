"""`soc sources`: the connectors' streams in the configured store, as a table.

    soc sources [--tenant T]... [--connector C] [--json]

One line per (tenant, connector, source, stream): its state (healthy, late after
two heartbeat intervals without a heartbeat, silent after five), the seq its
connector last reported delivered, its backlog and when it was last heard of.
Whoever holds the store's credentials reads every tenant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

import click

from soc.settings import Settings
from soc.sources.book import SourceBook, SourceView
from soc.store import build_store

SHOWN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = ("STATE", "TENANT", "CONNECTOR", "SOURCE", "STREAM", "SEQ", "BACKLOG", "LAST SEEN")


def table(views: list[SourceView]) -> list[str]:
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
            v.last_seen.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M:%S"),
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
        """The connectors' streams: state, delivered seq, backlog, last heartbeat."""
        settings = load()

        async def go() -> list[SourceView]:
            store = build_store(settings.store)
            await store.start()
            try:
                return await SourceBook(store).list(list(tenant) or None, connector=connector)
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
