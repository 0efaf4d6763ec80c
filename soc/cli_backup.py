"""`soc backup` and `soc restore`: the configured store to a backup and back (soc.store.backup).

    soc backup [--name NAME] [--json]      take one, wait for it; prints its name and manifest
    soc backup --list [--json]             the backups there are
    soc restore NAME [--replace] [--json]  restore into the (empty) configured store

A restore then verifies the restored audit chain (what `soc audit verify` runs) and
compares the store with the backup's manifest. Exit codes: 0 done and matching, 1 a
backup or restore failed, the chain does not verify, or records are missing; 2 refused
(no such backup, or a store that is not empty without --replace).
Stop the SOC's processes on the store before a restore.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable

import click

from soc.audit.chain import ChainReport
from soc.audit.trail import AuditTrail
from soc.errors import BackupError, BackupNotFound, TargetNotEmpty
from soc.settings import Settings, StoreSettings
from soc.store import build_store
from soc.store.backup import Manifest, backup, backups, current, differences, missing, restore


def lines(manifest: Manifest) -> list[str]:
    """The manifest for a person: one ``key value`` a line, the counts last."""
    head = manifest.audit_head
    rows = [
        ("store", manifest.store),
        ("time", manifest.time.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("source", manifest.source),
        ("audit head", f"seq {head.seq} {head.hash}" if head else "-"),
        *((t, str(n)) for t, n in manifest.counts.items() if n),
    ]
    zero = [t for t, n in manifest.counts.items() if not n]
    if zero:
        rows.append(("zero", " ".join(zero)))
    width = max(len(k) for k, _ in rows)
    return [f"{k.ljust(width)}  {v}" for k, v in rows]


def _fail(command: str, error: BackupError) -> None:
    click.echo(f"{command}: {error}", err=True)
    sys.exit(2 if isinstance(error, BackupNotFound | TargetNotEmpty) else 1)


async def _verify(settings: StoreSettings) -> ChainReport:
    store = build_store(settings)
    await store.start()
    try:
        return await AuditTrail(store).verify()
    finally:
        await store.stop()


def backup_command(load: Callable[[], Settings]) -> click.Command:
    @click.command(name="backup")
    @click.option("--name", help="The backup's name (default: <prefix>-YYYYMMDD-HHMMSS, UTC)")
    @click.option("--list", "listing", is_flag=True, help="List the backups instead")
    @click.option("--json", "as_json", is_flag=True, help="The manifest as JSON")
    def backup_cmd(name: str | None, listing: bool, as_json: bool) -> None:
        """Back the store up and wait for it: a SQLite copy (online backup API) or an
        OpenSearch snapshot. Prints the backup's name, then its manifest."""
        settings = load().store
        try:
            if listing:
                for m in asyncio.run(backups(settings)):
                    head = f"seq {m.audit_head.seq}" if m.audit_head else "-"
                    taken = m.time.strftime("%Y-%m-%dT%H:%M:%SZ")
                    click.echo(m.model_dump_json() if as_json else f"{m.name}  {taken}  {head}")
                return
            manifest = asyncio.run(backup(settings, name=name))
        except BackupError as e:
            _fail("soc backup", e)
            return
        if as_json:
            click.echo(manifest.model_dump_json())
            return
        click.echo(manifest.name)
        for line in lines(manifest):
            click.echo(f"  {line}")

    return backup_cmd


def restore_command(load: Callable[[], Settings]) -> click.Command:
    @click.command(name="restore")
    @click.argument("name")
    @click.option(
        "--replace",
        is_flag=True,
        help="Restore over a store that holds records (SQLite keeps a copy of it beside the"
        " file, <path>.replaced-<time>; OpenSearch deletes the prefix's indices)",
    )
    @click.option("--json", "as_json", is_flag=True, help="The outcome as JSON")
    def restore_cmd(name: str, replace: bool, as_json: bool) -> None:
        """Restore backup NAME (a snapshot, or a SQLite backup's name or .db path) into the
        configured store, which must be empty unless --replace; then verify its audit chain
        and compare it with the backup's manifest."""
        settings = load().store
        try:
            taken = asyncio.run(restore(settings, name, replace=replace))
            now = asyncio.run(current(settings, taken.name))
        except BackupError as e:
            _fail("soc restore", e)
            return
        report = asyncio.run(_verify(settings))
        lost = missing(taken, now)
        if as_json:
            outcome = {
                "backup": taken.model_dump(mode="json"),
                "restored": now.model_dump(mode="json"),
                "audit": report.model_dump(mode="json"),
                "differences": differences(taken, now),
                "missing": lost,
            }
            click.echo(json.dumps(outcome))
        else:
            click.echo(f"restored {taken.name} into {now.source}")
            for line in lines(now):
                click.echo(f"  {line}")
            click.echo(f"audit chain: {report.summary}")
            for d in differences(taken, now):
                click.echo(f"differs from the backup's manifest: {d}")
        if not report.ok or lost:
            sys.exit(1)

    return restore_cmd
