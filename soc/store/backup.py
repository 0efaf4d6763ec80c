"""Backups of the store and their restores, for either kind; what `soc backup` runs.

- SQLite: SQLite's online backup API copies the database, consistent while the SOC
  writes, into ``<sqlite.backup_dir>/<name>.db`` beside its manifest ``<name>.json``
  (:mod:`soc.store.sqlite.backup`).
- OpenSearch: a snapshot of every index the store owns (``<prefix>-events-*``,
  ``-alerts-*``, ``-deadletters-*``, ``-incidents-*``, ``-records-*``) in the filesystem
  repository ``opensearch.snapshot_repository``, registered when missing; the manifest
  rides in the snapshot's metadata (:mod:`soc.store.opensearch.snapshot`).

A restore writes only into an empty store (no events, alerts, dead letters or case
records) unless told to replace it (:class:`~soc.errors.TargetNotEmpty`): SQLite first
copies the database it replaces to ``<path>.replaced-<time>``; OpenSearch deletes the
prefix's indices. An OpenSearch snapshot restores under the configured index prefix,
whatever prefix it was taken under.

The manifest (:class:`Manifest`) tells an operator what a backup holds: counts per
type of record and the audit chain's head, to compare with the store once restored
(:func:`differences`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from soc.models import UtcDatetime, utcnow
from soc.settings import StoreSettings
from soc.store.records import Kind

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
"""A backup's name: a snapshot name OpenSearch takes, and a file name."""
BASE_TYPES = ("events", "alerts", "dead_letters")


class AuditHead(BaseModel):
    """The newest entry of the audit chain: its sequence number and hash."""

    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """What a backup holds (or a store holds now), for an operator to compare."""

    name: str = Field(pattern=NAME_PATTERN)
    store: Literal["sqlite", "opensearch"]
    time: UtcDatetime
    """When the backup was taken (UTC)."""
    source: str
    """The database file, or the index prefix, it was taken from."""
    counts: dict[str, int]
    """Records per type: events, alerts, dead_letters, then each kind of case record."""
    audit_head: AuditHead | None = None


def empty_counts() -> dict[str, int]:
    """Every type of record the store keeps, at zero."""
    return {t: 0 for t in (*BASE_TYPES, *(k.value for k in Kind))}


def backup_name(prefix: str, now: datetime) -> str:
    """``<prefix>-YYYYMMDD-HHMMSS`` of ``now`` in UTC, e.g. ``soc-20261206-021500``."""
    return f"{prefix}-{now.strftime('%Y%m%d-%H%M%S')}"


def differences(backup: Manifest, restored: Manifest) -> list[str]:
    """How the restored store differs from the backup's manifest ([] when it matches)."""
    found = [
        f"{t}: backup {backup.counts.get(t, 0)}, restored {restored.counts.get(t, 0)}"
        for t in sorted(set(backup.counts) | set(restored.counts))
        if backup.counts.get(t, 0) != restored.counts.get(t, 0)
    ]
    if backup.audit_head != restored.audit_head:
        found.append(f"audit head: backup {backup.audit_head}, restored {restored.audit_head}")
    return found


def missing(backup: Manifest, restored: Manifest) -> list[str]:
    """What the backup's manifest holds and the restored store lacks ([] when none).

    A snapshot may hold more than its manifest counted (writes made while it was
    taken), never less: fewer records, or an older or other audit head, is a loss."""
    found = [
        f"{t}: backup {n}, restored {restored.counts.get(t, 0)}"
        for t, n in sorted(backup.counts.items())
        if restored.counts.get(t, 0) < n
    ]
    want, got = backup.audit_head, restored.audit_head
    if want is not None and (
        got is None or got.seq < want.seq or (got.seq == want.seq and got.hash != want.hash)
    ):
        found.append(f"audit head: backup {want}, restored {got}")
    return found


async def backup(settings: StoreSettings, *, name: str | None = None) -> Manifest:
    """Back the configured store up; its manifest once the backup is complete."""
    now = utcnow()
    if settings.kind == "opensearch":
        from soc.store.opensearch.snapshot import Snapshots

        os_settings = settings.opensearch
        async with Snapshots(os_settings) as snapshots:
            return await snapshots.create(name or backup_name(os_settings.index_prefix, now), now)
    from soc.store.sqlite.backup import backup_file

    return await backup_file(settings.sqlite, name or backup_name("soc", now), now)


async def restore(settings: StoreSettings, name: str, *, replace: bool = False) -> Manifest:
    """Restore backup ``name`` into the configured store; the backup's manifest.

    Raises :class:`~soc.errors.TargetNotEmpty` when the store holds records and
    ``replace`` is false, :class:`~soc.errors.BackupNotFound` when there is no such backup.
    The SOC must not run against the store meanwhile.
    """
    if settings.kind == "opensearch":
        from soc.store.opensearch.snapshot import Snapshots

        async with Snapshots(settings.opensearch) as snapshots:
            return await snapshots.restore(name, replace=replace)
    from soc.store.sqlite.backup import restore_file

    return await restore_file(settings.sqlite, name, replace=replace)


async def current(settings: StoreSettings, name: str = "current") -> Manifest:
    """The manifest of what the configured store holds now (to compare with a backup's)."""
    now = utcnow()
    if settings.kind == "opensearch":
        from soc.store.opensearch.snapshot import Snapshots

        async with Snapshots(settings.opensearch) as snapshots:
            return await snapshots.manifest(name, now)
    from soc.store.sqlite.backup import file_manifest

    return await file_manifest(settings.sqlite.path, name, now)


async def backups(settings: StoreSettings) -> list[Manifest]:
    """The backups there are, oldest first."""
    if settings.kind == "opensearch":
        from soc.store.opensearch.snapshot import Snapshots

        async with Snapshots(settings.opensearch) as snapshots:
            return await snapshots.list()
    from soc.store.sqlite.backup import list_files

    return list_files(settings.sqlite)
