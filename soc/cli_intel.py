"""`soc intel`: threat indicators on the configured store, for a site without a network
to the feeds (a file carried in) and for a look at what is held.

    soc intel import FILE [--source NAME] [--tenant T] [--tlp amber] [--format stix|misp|plain]
    soc intel list [--tenant T]... [--type ip]... [--source S] [--revoked] [--json]

An import is audited (actor ``cli:<login name>``) as through the API. Whoever holds the
store's credentials acts for every tenant. Times shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import click

from soc.audit.trail import AuditTrail
from soc.errors import IntelFormatError
from soc.intel.intake import IntakeReport, take_in
from soc.intel.models import Indicator, IndicatorType, Tlp
from soc.intel.parse import Format, Intake
from soc.intel.store import Indicators
from soc.settings import ALL_TENANTS, Settings
from soc.store import build_store
from soc.store.records import Kind, RecordQuery

SHOWN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = ("TYPE", "VALUE", "SOURCE", "TENANT", "TLP", "STATE", "VALID UNTIL", "CHANGED")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _shown(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M:%S")


def table(items: list[Indicator]) -> list[str]:
    rows = [HEADER] + [
        (
            i.type.value,
            i.value if len(i.value) <= 80 else i.value[:77] + "...",
            i.source,
            i.tenant,
            i.tlp,
            "revoked" if i.revoked else "active",
            _shown(i.valid_until),
            _shown(i.modified),
        )
        for i in items
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEADER))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def intel_group(load: Callable[[], Settings]) -> click.Group:
    @click.group(name="intel")
    def intel() -> None:
        """Threat indicators: import a STIX bundle, MISP export or list; list what is held."""

    @intel.command(name="import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--source", help="Stored as file:<source> (default: the file's name)")
    @click.option("--tenant", default=ALL_TENANTS, show_default=True, help="Whose events")
    @click.option("--tlp", type=click.Choice(get_args(Tlp)), default="amber", show_default=True)
    @click.option("--confidence", type=click.IntRange(0, 100))
    @click.option("--format", "fmt", type=click.Choice(get_args(Format)), help="Default: guessed")
    @click.option("--json", "as_json", is_flag=True, help="The report as JSON")
    def import_file(
        file: Path,
        source: str | None,
        tenant: str,
        tlp: Tlp,
        confidence: int | None,
        fmt: Format | None,
        as_json: bool,
    ) -> None:
        """Import FILE: each item taken, or reported with where it was and why not."""
        settings = load()
        intake = Intake(
            source=f"file:{source or file.name}", tenant=tenant, tlp=tlp, confidence=confidence
        )

        data = file.read_bytes()

        async def go() -> IntakeReport:
            store = build_store(settings.store)
            await store.start()
            try:
                report = await take_in(Indicators(store), data, intake, format=fmt)
                await AuditTrail(store).append(
                    actor=_actor(),
                    tenant=None if tenant == ALL_TENANTS else tenant,
                    action="intel.import",
                    target=f"intel:{intake.source}",
                    after=report.model_dump(mode="json", exclude={"rejects"}),
                )
                return report
            finally:
                await store.stop()

        try:
            report = asyncio.run(go())
        except IntelFormatError as e:
            click.echo(f"soc intel import: {file}: {e}", err=True)
            sys.exit(1)
        if as_json:
            click.echo(json.dumps(report.model_dump(mode="json"), ensure_ascii=False))
            return
        click.echo(
            f"{file}: {report.format}: {report.indicators} indicators "
            f"({report.stored} new or changed), {report.rejected} rejected, "
            f"{report.skipped} skipped; source {report.source}, tenant {report.tenant}"
        )
        for r in report.rejects:
            click.echo(f"  {r.kind}: {r.where}: {r.reason}  [{r.value}]")

    @intel.command(name="list")
    @click.option("--tenant", multiple=True, help="Only these tenants (and *'s)")
    @click.option(
        "--type", "types", multiple=True, type=click.Choice([t.value for t in IndicatorType])
    )
    @click.option("--source", help="Only this source")
    @click.option("--revoked", is_flag=True, help="Only revoked ones (default: active ones)")
    @click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="One JSON object a line")
    def list_indicators(
        tenant: tuple[str, ...],
        types: tuple[str, ...],
        source: str | None,
        revoked: bool,
        limit: int,
        as_json: bool,
    ) -> None:
        """The indicators held, newest change first."""
        settings = load()
        terms: dict[str, list[str]] = {"state": ["revoked" if revoked else "active"]}
        if types:
            terms["type"] = list(types)
        if source:
            terms["source"] = [source]

        async def go() -> list[Indicator]:
            store = build_store(settings.store)
            await store.start()
            try:
                query = RecordQuery(
                    kind=Kind.indicator,
                    tenants=[*tenant, ALL_TENANTS] if tenant else None,
                    terms=terms,
                    limit=limit,
                )
                page = await Indicators(store).find(query)
                return [Indicator.model_validate(r.doc) for r in page.items]
            finally:
                await store.stop()

        items = asyncio.run(go())
        if as_json:
            for i in items:
                click.echo(json.dumps(i.model_dump(mode="json"), ensure_ascii=False))
            return
        for line in table(items):
            click.echo(line)

    return intel
