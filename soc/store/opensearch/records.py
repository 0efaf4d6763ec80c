"""Case records in OpenSearch: one index per kind, written one at a time.

A first write (``expect == 0``) is a ``create``, refused with 409 when the id
is stored. A later write reads the stored document (a real-time get), compares
its version with the one the caller read, and writes with the ``if_seq_no`` and
``if_primary_term`` it read: of two writers that read the same version, the
second gets 409. Both 409s become :class:`~soc.errors.Conflict`, with the
version found by reading again. Writes and deletes refresh the index before
they return, so the next query sees them (``wait_for`` would wait up to the
refresh interval, a second per write; case records are few).

A batch of writes (:func:`put_many`) is the same per record in one ``_bulk`` request
(refreshed once): ``create`` items, and ``index`` items with the ``if_seq_no`` and
``if_primary_term`` one ``_mget`` read; a refused item is that record's Conflict.

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
from soc.store.records import BATCH, Kind, Record, RecordPage, RecordQuery

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


async def _mget(
    client: AsyncOpenSearch, index: str, doc_ids: Sequence[str], source: str
) -> dict[str, dict[str, Any]]:
    """The stored documents of ``doc_ids`` found (one ``_mget``), by document id."""
    if not doc_ids:
        return {}
    response = await client.mget(
        body={"docs": [{"_index": index, "_id": d} for d in doc_ids]},
        params={"_source_includes": source},
    )
    return {d["_id"]: d for d in response["docs"] if d.get("found")}


def _chunks(writes: Sequence[tuple[Record, int]]) -> list[list[tuple[Record, int]]]:
    """``writes`` in bulks of at most :data:`BATCH`, a record at most once in each (a
    second write of one record goes in a later bulk, as if written after the first)."""
    out: list[list[tuple[Record, int]]] = [[]]
    named: set[tuple[Kind, str]] = set()
    for record, expect in writes:
        key = (record.kind, record.id)
        if len(out[-1]) >= BATCH or key in named:
            out.append([])
            named = set()
        out[-1].append((record, expect))
        named.add(key)
    return [c for c in out if c]


async def put_many(
    client: AsyncOpenSearch, prefix: str, writes: Sequence[tuple[Record, int]]
) -> list[Record | Conflict]:
    out: list[Record | Conflict] = []
    for chunk in _chunks(writes):
        out += await _put_bulk(client, prefix, chunk)
    return out


async def _put_bulk(
    client: AsyncOpenSearch, prefix: str, writes: Sequence[tuple[Record, int]]
) -> list[Record | Conflict]:
    """One bulk of distinct records, each written as :func:`put` would: ``create`` for
    ``expect == 0``, else ``index`` with the ``if_seq_no``/``if_primary_term`` one ``_mget``
    read (a stored version other than ``expect`` conflicts without a write)."""
    docs = [mappings.record_doc(prefix, record.model_copy(update={"version": e + 1}))
            for record, e in writes]  # fmt: skip
    by_index: dict[str, list[str]] = {}
    for (_record, expect), (index, doc_id, _) in zip(writes, docs, strict=True):
        if expect > 0:
            by_index.setdefault(index, []).append(doc_id)
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for index, ids in by_index.items():
        found = await _mget(client, index, ids, "version")
        current |= {(index, d): v for d, v in found.items()}
    out: list[Record | Conflict] = []
    lines: list[bytes] = []
    sent: list[int] = []
    for n, ((record, expect), (index, doc_id, source)) in enumerate(zip(writes, docs, strict=True)):
        if expect == 0:
            action: dict[str, Any] = {"create": {"_index": index, "_id": doc_id}}
        else:
            stored = current.get((index, doc_id))
            if stored is None or _version(stored) != expect:
                out.append(_conflict(record, expect, _version(stored)))
                continue
            action = {
                "index": {
                    "_index": index,
                    "_id": doc_id,
                    "if_seq_no": stored["_seq_no"],
                    "if_primary_term": stored["_primary_term"],
                }
            }
        lines += [orjson.dumps(action), orjson.dumps(source)]
        sent.append(n)
        out.append(record.model_copy(update={"version": expect + 1}))
    if lines:
        response = await client.bulk(
            body=b"\n".join([*lines, b""]), params={**REFRESH, "filter_path": "items.*.status"}
        )
        statuses = [int(next(iter(i.values()))["status"]) for i in response.get("items", [])]
        refused = [s for s in statuses if s not in (200, 201, 409)]
        if refused or len(statuses) != len(sent):
            raise StoreError(
                f"opensearch: {len(refused)} of {len(sent)} record writes refused "
                f"(status {refused[0] if refused else 'missing'})",
                retriable=True,
            )
        lost = [n for n, status in zip(sent, statuses, strict=True) if status == 409]
        if lost:
            again: dict[str, list[str]] = {}
            for n in lost:
                index, doc_id, _ = docs[n]
                again.setdefault(index, []).append(doc_id)
            now: dict[tuple[str, str], dict[str, Any]] = {}
            for index, ids in again.items():
                found = await _mget(client, index, ids, "version")
                now |= {(index, d): v for d, v in found.items()}
            for n in lost:
                record, expect = writes[n]
                index, doc_id, _ = docs[n]
                out[n] = _conflict(record, expect, _version(now.get((index, doc_id))))
    return out


async def get_many(
    client: AsyncOpenSearch, prefix: str, kind: Kind, rids: Sequence[str]
) -> dict[str, Record]:
    index = mappings.records_index(prefix, kind)
    unique = list(dict.fromkeys(rids))
    found: dict[str, Record] = {}
    for start in range(0, len(unique), BATCH):
        chunk = unique[start : start + BATCH]
        docs = await _mget(client, index, [mappings.record_id(r) for r in chunk], "record")
        for doc in docs.values():
            record = Record.model_validate(doc["_source"]["record"])
            found[record.id] = record
    return found


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
