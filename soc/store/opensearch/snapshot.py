"""Snapshots of the OpenSearch store's indices (:mod:`soc.store.backup`).

The repository is a filesystem one (``type: fs``), ``opensearch.snapshot_repository``
at ``opensearch.snapshot_location``, registered by the first backup; its location must
be under every node's ``path.repo`` (a folder all nodes share). A snapshot holds every
index of the prefix (:data:`KINDS`), not the cluster's global state, and carries the
manifest in its metadata (which OpenSearch caps at 1024 bytes: the manifest there
leaves out its name, the snapshot's own, and its zero counts).

A restore renames the snapshot's indices from the prefix they were taken under to the
configured one, so a backup can be restored beside the store it came from.

opensearch-py's exceptions become :class:`~soc.errors.BackupError` here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

from opensearchpy.exceptions import NotFoundError, OpenSearchException

from soc.errors import BackupError, BackupNotFound, TargetNotEmpty
from soc.settings import OpenSearchSettings
from soc.store.backup import AuditHead, Manifest, empty_counts
from soc.store.opensearch.schema import parse_index, pattern, records_index
from soc.store.opensearch.store import new_client
from soc.store.records import Kind

KINDS = ("events", "alerts", "deadletters", "incidents", "records")
"""The kinds of index the store makes: ``<prefix>-<kind>-*``."""
TYPE_OF_KIND = {"deadletters": "dead_letters"}
"""An index kind -> the manifest's name of its records, where they differ."""
POLL_S = 1.0
RESTORE_TIMEOUT_S = 6 * 3600.0
"""How long a restore's request may wait for its indices to be recovered."""
WHOLE = {"ignore_unavailable": "true", "allow_no_indices": "true"}
"""A pattern that matches no index is no error: a store that never wrote holds nothing."""
INDICES_MAX = 65_535
"""The most indices one count tells apart (OpenSearch's ``search.max_buckets``)."""


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except NotFoundError as e:
        raise BackupNotFound(f"opensearch: {what}: {e}") from e
    except OpenSearchException as e:
        raise BackupError(f"opensearch: {what}: {e}") from e


def patterns(prefix: str) -> list[str]:
    return [pattern(prefix, kind) for kind in KINDS]


def _metadata(manifest: Manifest) -> dict[str, Any]:
    compact = manifest.model_dump(mode="json", exclude={"name"})
    compact["counts"] = {k: n for k, n in manifest.counts.items() if n}
    return {"soc_manifest": compact}


def _from_metadata(name: str, metadata: dict[str, Any] | None) -> Manifest:
    compact = (metadata or {}).get("soc_manifest")
    if not isinstance(compact, dict):
        raise BackupError(f"opensearch: snapshot {name} was not taken by soc backup")
    counts = empty_counts() | compact.get("counts", {})
    return Manifest.model_validate({**compact, "name": name, "counts": counts})


class Snapshots:
    """The snapshots of one store (``settings.index_prefix``); use as ``async with``."""

    def __init__(self, settings: OpenSearchSettings) -> None:
        self._s = settings
        self._prefix = settings.index_prefix
        self._repo = settings.snapshot_repository
        self._os = new_client(settings)

    async def __aenter__(self) -> Snapshots:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._os.close()

    async def counts(self) -> dict[str, int]:
        """Documents per type of record under the prefix, once every write is searchable."""
        index = ",".join(patterns(self._prefix))
        async with _translated("count the store's documents"):
            await self._os.indices.refresh(index=index, params=WHOLE)
            response = await self._os.search(
                index=index,
                body={
                    "size": 0,
                    "aggs": {"i": {"terms": {"field": "_index", "size": INDICES_MAX}}},
                },
                params=WHOLE,
            )
        found = empty_counts()
        records = {records_index(self._prefix, k): k.value for k in Kind}
        for bucket in response.get("aggregations", {}).get("i", {}).get("buckets", []):
            name, n = bucket["key"], bucket["doc_count"]
            span = parse_index(self._prefix, name)
            kind = records.get(name) or (span.kind if span else name)
            kind = TYPE_OF_KIND.get(kind, kind)
            found[kind] = found.get(kind, 0) + n
        return found

    async def audit_head(self) -> AuditHead | None:
        async with _translated("read the audit head"):
            response = await self._os.search(
                index=records_index(self._prefix, Kind.audit),
                body={"size": 1, "sort": [{"sort": "desc"}], "_source": ["record.doc"]},
                params=WHOLE,
            )
        hits = response["hits"]["hits"]
        if not hits:
            return None
        doc = hits[0]["_source"]["record"]["doc"]
        return AuditHead(seq=doc["seq"], hash=doc["hash"])

    async def manifest(self, name: str, now: datetime) -> Manifest:
        """What the store holds now."""
        return Manifest(
            name=name,
            store="opensearch",
            time=now,
            source=self._prefix,
            counts=await self.counts(),
            audit_head=await self.audit_head(),
        )

    async def _ensure_repository(self) -> None:
        try:
            await self._os.snapshot.get_repository(repository=self._repo)
            return
        except NotFoundError:
            pass
        except OpenSearchException as e:
            raise BackupError(f"opensearch: read repository {self._repo}: {e}") from e
        body = {"type": "fs", "settings": {"location": self._s.snapshot_location}}
        try:
            await self._os.snapshot.create_repository(repository=self._repo, body=body)
        except OpenSearchException as e:
            raise BackupError(
                f"opensearch: cannot register the snapshot repository {self._repo} at "
                f"{self._s.snapshot_location!r} (is the nodes' path.repo set, and the "
                f"location under it? see docs/OPERATIONS.md, Backup and restore): {e}"
            ) from e

    async def create(self, name: str, now: datetime) -> Manifest:
        """Take snapshot ``name`` of the prefix's indices and wait for it; its manifest.

        The counts are taken just before the snapshot starts: writes made meanwhile
        may be in it too (stop the SOC's writers for an exact match)."""
        await self._ensure_repository()
        manifest = await self.manifest(name, now)
        body = {
            "indices": ",".join(patterns(self._prefix)),
            "ignore_unavailable": True,
            "include_global_state": False,
            "metadata": _metadata(manifest),
        }
        async with _translated(f"start snapshot {name}"):
            await self._os.snapshot.create(repository=self._repo, snapshot=name, body=body)
        while True:
            info = await self._info(name)
            state = info.get("state")
            if state == "SUCCESS":
                return manifest
            if state in ("FAILED", "PARTIAL", "INCOMPATIBLE"):
                reason = info.get("reason") or info.get("failures")
                raise BackupError(f"opensearch: snapshot {name} ended {state}: {reason}")
            await asyncio.sleep(POLL_S)

    async def _info(self, name: str) -> dict[str, Any]:
        async with _translated(f"read snapshot {name}"):
            response = await self._os.snapshot.get(repository=self._repo, snapshot=name)
        found: list[dict[str, Any]] = response.get("snapshots", [])
        if not found:
            raise BackupNotFound(f"opensearch: no snapshot {name} in {self._repo}")
        return found[0]

    async def list(self) -> list[Manifest]:
        """The snapshots soc backup took in the repository, oldest first."""
        try:
            response = await self._os.snapshot.get(repository=self._repo, snapshot="_all")
        except NotFoundError:
            return []
        except OpenSearchException as e:
            raise BackupError(f"opensearch: list snapshots of {self._repo}: {e}") from e
        return [
            _from_metadata(s["snapshot"], s.get("metadata"))
            for s in response.get("snapshots", [])
            if (s.get("metadata") or {}).get("soc_manifest") and s.get("state") == "SUCCESS"
        ]

    async def restore(self, name: str, *, replace: bool) -> Manifest:
        """Restore snapshot ``name`` under the prefix; the snapshot's manifest.

        The repository is registered first when missing (a new cluster, the old one's
        snapshot folder mounted at the same location)."""
        await self._ensure_repository()
        info = await self._info(name)
        manifest = _from_metadata(name, info.get("metadata"))
        held = await self.counts()
        if any(held.values()) and not replace:
            raise TargetNotEmpty(f"opensearch: prefix {self._prefix!r}", held)
        async with _translated(f"delete the indices of {self._prefix}"):
            await self._os.indices.delete(
                index=",".join(patterns(self._prefix)),
                params={**WHOLE, "expand_wildcards": "open,closed"},
            )
        body: dict[str, Any] = {
            "indices": ",".join(patterns(manifest.source)),
            "ignore_unavailable": True,
            "include_global_state": False,
            "include_aliases": False,
        }
        if manifest.source != self._prefix:
            body["rename_pattern"] = f"\\Q{manifest.source}-\\E(.+)"
            body["rename_replacement"] = f"{self._prefix}-$1"
        async with _translated(f"restore snapshot {name}"):
            response = await self._os.snapshot.restore(
                repository=self._repo,
                snapshot=name,
                body=body,
                wait_for_completion=True,
                request_timeout=RESTORE_TIMEOUT_S,
            )
        shards = response.get("snapshot", {}).get("shards", {})
        if shards.get("failed"):
            raise BackupError(f"opensearch: restore of {name}: {shards['failed']} shards failed")
        return manifest
