"""`soc rules ...`: the rule catalog in the configured store, from the command line.

    soc rules list [--q WORDS] [--technique T1003] [--level high]
    soc rules show ID [--revision N]
    soc rules import PATH...          # rule files, folders, or zips (SigmaHQ's release packs)
    soc rules enable ID [--tenant T]  # no --tenant: the default for every tenant
    soc rules disable ID [--tenant T]

The commands work on the store the settings name, as `soc users` does, with the actor
``cli:<login name>`` in the audit trail; whoever holds the store's credentials holds
every tenant, so imports may change existing rules. A running detector picks a change
up within ``detect.rules_poll_s``. An import is an upload: it wins over the rule files of
``detect.rules`` at the next start (ADR 0014).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import click

from soc.audit.trail import AuditTrail
from soc.detect.catalog import RuleCatalog, RuleFilter, rule_files
from soc.detect.imports import PackReport, import_pack, import_texts
from soc.errors import NotFound, QueryError
from soc.security.principal import Principal
from soc.settings import ALL_TENANTS, Settings
from soc.store import build_store


def cli_name() -> str:
    """The actor the command line writes in the audit trail: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _actor() -> Principal:
    return Principal(name=cli_name(), role="admin", tenants=(ALL_TENANTS,))


@asynccontextmanager
async def _catalog(settings: Settings) -> AsyncIterator[RuleCatalog]:
    store = build_store(settings.store)
    await store.start()
    try:
        yield RuleCatalog(store, AuditTrail(store))
    finally:
        await store.stop()


def _print_report(report: PackReport) -> None:
    for f in report.files:
        if f.accepted:
            saved = ", ".join(
                f"{r.id} r{r.revision}{'' if r.changed else ' (same)'}" for r in f.rules
            )
            click.echo(f"accepted {f.name}: {saved}")
            for w in f.warnings:
                click.echo(f"  warning {w.validator} ({w.severity}): {w.description}")
        else:
            click.echo(f"refused  {f.name}: {f.reason}")
    click.echo(f"{report.accepted} accepted, {report.refused} refused", err=True)


def rules_group(load: Callable[[], Settings]) -> click.Group:
    """The `soc rules` group; ``load`` builds the settings (as the other commands do)."""

    def run(work: Callable[[RuleCatalog, Settings], object]) -> None:
        settings = load()

        async def go() -> None:
            async with _catalog(settings) as catalog:
                result = work(catalog, settings)
                if asyncio.iscoroutine(result):
                    await result

        try:
            asyncio.run(go())
        except (NotFound, QueryError) as e:
            click.echo(f"soc rules: {e}", err=True)
            sys.exit(1)

    @click.group(name="rules")
    def rules() -> None:
        """Detection rules in the configured store: list, show, import, enable, disable."""

    @rules.command("list")
    @click.option("--q", "q", help="Words of the title, id, description or tags")
    @click.option("--technique", help="An ATT&CK technique, e.g. T1003.001")
    @click.option("--tag", help="A tag, e.g. attack.credential-access")
    @click.option("--level")
    @click.option("--status")
    def list_rules(
        q: str | None,
        technique: str | None,
        tag: str | None,
        level: str | None,
        status: str | None,
    ) -> None:
        """One line per rule: id, revision, level, enablement, title."""
        f = RuleFilter(q=q, technique=technique, tag=tag, level=level, status=status)

        async def work(catalog: RuleCatalog, _: Settings) -> None:
            after = None
            while True:
                entries, after = await catalog.search(f, limit=500, after=after)
                for e in entries:
                    on = "on" if e.enabled else "off"
                    if e.tenants:
                        on += (
                            " ("
                            + ", ".join(
                                f"{t}: {'on' if v else 'off'}" for t, v in sorted(e.tenants.items())
                            )
                            + ")"
                        )
                    click.echo(f"{e.id}\tr{e.revision}\t{e.level or '-'}\t{on}\t{e.title}")
                if after is None:
                    return

        run(work)

    @rules.command("show")
    @click.argument("rule_id")
    @click.option("--revision", type=int, help="An earlier version (default: the current one)")
    def show(rule_id: str, revision: int | None) -> None:
        """The rule's record as JSON (its YAML included), or one of its versions."""

        async def work(catalog: RuleCatalog, _: Settings) -> None:
            if revision is not None:
                click.echo((await catalog.revision(rule_id, revision)).model_dump_json(indent=2))
                return
            entry = await catalog.get(rule_id)
            versions = [v.revision for v in await catalog.revisions(rule_id)]
            body = {**entry.model_dump(mode="json"), "versions": versions}
            click.echo(json.dumps(body, indent=2, ensure_ascii=False))

        run(work)

    @rules.command("import")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
    def import_(paths: tuple[Path, ...]) -> None:
        """Import rule files, folders of them, or zips; exits 1 when a file was refused."""
        refused = 0

        async def work(catalog: RuleCatalog, settings: Settings) -> None:
            nonlocal refused
            principal = _actor()
            for path in paths:
                if path.is_file() and path.suffix.lower() == ".zip":
                    report = await import_pack(
                        catalog, principal, path.read_bytes(), settings.detect
                    )
                else:
                    texts: list[tuple[str, str | None, str | None]] = []
                    for file, relative in rule_files([path]):
                        try:
                            texts.append((relative, file.read_text(encoding="utf-8"), None))
                        except (OSError, UnicodeDecodeError) as e:
                            texts.append((relative, None, f"cannot be read: {e}"))
                    report = await import_texts(catalog, principal, texts, settings.detect)
                _print_report(report)
                refused += report.refused

        run(work)
        if refused:
            sys.exit(1)

    def _enablement(rule_id: str, tenants: tuple[str, ...], on: bool) -> None:
        async def work(catalog: RuleCatalog, _: Settings) -> None:
            entry = await catalog.set_enabled(
                _actor().name, rule_id, on, tenants=list(tenants) if tenants else None
            )
            state = {t: v for t, v in sorted(entry.tenants.items())}
            click.echo(f"{entry.id}: default {'on' if entry.enabled else 'off'}, tenants {state}")

        run(work)

    @rules.command("enable")
    @click.argument("rule_id")
    @click.option("--tenant", "tenants", multiple=True, help="Only for this tenant (repeat)")
    def enable(rule_id: str, tenants: tuple[str, ...]) -> None:
        """Turn a rule on, for some tenants or by default."""
        _enablement(rule_id, tenants, True)

    @rules.command("disable")
    @click.argument("rule_id")
    @click.option("--tenant", "tenants", multiple=True, help="Only for this tenant (repeat)")
    def disable(rule_id: str, tenants: tuple[str, ...]) -> None:
        """Turn a rule off, for some tenants or by default."""
        _enablement(rule_id, tenants, False)

    return rules
