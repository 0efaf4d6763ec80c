"""Case records in OpenSearch: one index per kind, written one at a time.

A first write (``expect == 0``) is a ``create``, refused with 409 when the id
is stored. A later write reads the stored document (a real-time get), compares
its version with the one the caller read, and writes with the ``if_seq_no`` and
``if_primary_term`` it read: of two writers that read the same version, the
second gets 409. Both 409s become :class:`~soc.errors.Conflict`, with the
version found by reading again. Writes and deletes refresh the index before
they return, so the next query sees them (``wait_for`` would wait up to the
refresh interval, a second per write; case records are few).

opensearch-py's exceptions other than these 404s and 409s are left to the
store, which translates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError

from soc.errors import Conflict, StoreError
from soc.store.opensearch import query as dsl
from soc.store.opensearch import schema as mappings
from soc.store.records import Kind, Record, RecordPage, RecordQuery

REFRESH = {"refresh": "true"}


async def _stored(client: AsyncOpenSearch, index: str, doc_id: str) -> dict[str, Any] | None:
    """The stored document's ``_source`` (version only), ``_seq_no`` and ``_primary_term``."""
    try:
        found: dict[str, Any] = await client.get(
            index=index, id=doc_id, params={"_source_includes": "version"}
        )
    except NotFoundError:
        return None
    return found


def _version(stored: dict[str, Any] | None) -> int:
    return 0 if stored is None else int(stored["_source"]["version"])


def _conflict(record: Record, expect: int, found: int) -> Conflict:
    return Conflict(
        f"{record.kind} {record.id} is at version {found}, not {expect}",
        expected=expect,
        found=found,
    )


async def put(client: AsyncOpenSearch, prefix: str, record: Record, expect: int) -> Record:
    stored = record.model_copy(update={"version": expect + 1})
    index, doc_id, source = mappings.record_doc(prefix, stored)
    try:
        if expect == 0:
            await client.create(index=index, id=doc_id, body=source, params=REFRESH)
            return stored
        current = await _stored(client, index, doc_id)
        if current is None or _version(current) != expect:
            raise _conflict(record, expect, _version(current))
        params = {
            **REFRESH,
            "if_seq_no": current["_seq_no"],
            "if_primary_term": current["_primary_term"],
        }
        await client.index(index=index, id=doc_id, body=source, params=params)
    except ConflictError as e:
        found = _version(await _stored(client, index, doc_id))
        raise _conflict(record, expect, found) from e
    return stored


async def get(client: AsyncOpenSearch, prefix: str, kind: Kind, rid: str) -> Record | None:
    try:
        found = await client.get(
            index=mappings.records_index(prefix, kind),
            id=mappings.record_id(rid),
            params={"_source_includes": "record"},
        )
    except NotFoundError:
        return None
    return Record.model_validate(found["_source"]["record"])


async def delete(client: AsyncOpenSearch, prefix: str, kind: Kind, rid: str) -> bool:
    try:
        await client.delete(
            index=mappings.records_index(prefix, kind),
            id=mappings.record_id(rid),
            params=REFRESH,
        )
    except NotFoundError:
        return False
    return True


async def delete_many(client: AsyncOpenSearch, prefix: str, kind: Kind, rids: Sequence[str]) -> int:
    """One bulk request of deletes by id, refreshed like every other case-record write.

    An id not stored answers 404 and is not counted; any other refused item is a
    retriable :class:`~soc.errors.StoreError` (deleting again is harmless).
    """
    index = mappings.records_index(prefix, kind)
    lines = [
        orjson.dumps({"delete": {"_index": index, "_id": mappings.record_id(rid)}}) for rid in rids
    ]
    response = await client.bulk(
        body=b"\n".join([*lines, b""]), params={**REFRESH, "filter_path": "items.*.status"}
    )
    statuses = [int(next(iter(item.values()))["status"]) for item in response.get("items", [])]
    refused = [s for s in statuses if s not in (200, 404)]
    if refused:
        raise StoreError(
            f"opensearch: delete of {len(refused)} {kind} records refused (status {refused[0]})",
            retriable=True,
        )
    return statuses.count(200)


async def find(client: AsyncOpenSearch, prefix: str, query: RecordQuery) -> RecordPage:
    body = dsl.record_search(query)
    if body is None:
        return RecordPage(items=[])
    response = await dsl.search_whole(
        client,
        index=mappings.records_index(prefix, query.kind),
        body=body,
        what=f"find {query.kind} records",
    )
    hits = response["hits"]["hits"]
    items = [Record.model_validate(h["_source"]["record"]) for h in hits[: query.limit]]
    more = len(hits) > query.limit
    return RecordPage(items=items, next=(items[-1].sort, items[-1].id) if more else None)
