"""Counters in OpenSearch (:mod:`soc.store.counters`): one small index, ``<prefix>-counters``.

An update reads the counter by id (real-time), runs the change and writes with the
``if_seq_no``/``if_primary_term`` it read, or ``create`` when there was none; a 409 means
another process wrote in between, and the change runs again on what it wrote. Nothing is
refreshed: every read is a get by id, which is real-time. Expiry searches
``expires`` (refreshed first) and deletes what it found at the seq_no it found
(:func:`expire`; the test cluster has no ``delete_by_query``).
The index is made at the store's start: one shard (the documents are few and hot), the
translog synced every 5 s rather than per write, refreshed every 30 s (only expiry searches).
"""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError, RequestError

from soc.errors import StoreError
from soc.store.counters import CONFLICT_RETRIES, Change, Counter, T, check_key

EXPIRE_PAGE = 1000
MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"expires": {"type": "double"}, "c": {"type": "object", "enabled": False}},
}


def index(prefix: str) -> str:
    return f"{prefix}-counters"


async def create_index(client: AsyncOpenSearch, prefix: str, replicas: int) -> None:
    """Make the index unless it exists."""
    if await client.indices.exists(index=index(prefix)):
        return
    body = {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": replicas,
            # No fsync per write: a node crash may forget a few seconds of counts (a limit
            # a little looser once), while every update is a write on the hot path.
            "translog": {"durability": "async", "sync_interval": "5s"},
            "refresh_interval": "30s",
        },
        "mappings": MAPPING,
    }
    try:
        await client.indices.create(index=index(prefix), body=body)
    except RequestError as e:  # another process made it first
        if "resource_already_exists" not in str(e):
            raise


async def update(client: AsyncOpenSearch, prefix: str, key: str, change: Change[T]) -> T:
    name = index(prefix)
    doc_id = check_key(key)
    for _ in range(CONFLICT_RETRIES):
        # A missing counter is the common case (a new address): 404 without a logged warning.
        got: dict[str, Any] = await client.get(index=name, id=doc_id, params={"ignore": 404})
        found = got if got.get("found") else None
        stored = Counter.model_validate(found["_source"]["c"]) if found else None
        new, answer = change(stored)
        at = (
            {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]}
            if found
            else {}
        )
        if new is stored:
            return answer
        try:
            if new is None:
                if found:
                    await client.delete(index=name, id=doc_id, params=at)
            elif found:
                source = {"c": new.model_dump(), "expires": new.expires}
                await client.index(index=name, id=doc_id, body=source, params=at)
            else:
                source = {"c": new.model_dump(), "expires": new.expires}
                await client.create(index=name, id=doc_id, body=source)
        except (ConflictError, NotFoundError):
            continue
        return answer
    raise StoreError(
        f"opensearch: counter {key[:16]}... changed by others {CONFLICT_RETRIES} times in a row",
        retriable=True,
    )


async def expire(client: AsyncOpenSearch, prefix: str, now: float) -> int:
    """Delete expired counters, a page at a time: a search (after a refresh) for them with
    their ``_seq_no``, then one ``_bulk`` of deletes at that seq_no, so a counter another
    process renewed in between is kept (its delete answers 409)."""
    name = index(prefix)
    await client.indices.refresh(index=name)
    deleted = 0
    while True:
        found = await client.search(
            index=name,
            body={
                "query": {"range": {"expires": {"lte": now}}},
                "size": EXPIRE_PAGE,
                "_source": False,
                "seq_no_primary_term": True,
            },
        )
        hits = found["hits"]["hits"]
        if not hits:
            return deleted
        lines = [
            orjson.dumps(
                {
                    "delete": {
                        "_index": name,
                        "_id": h["_id"],
                        "if_seq_no": h["_seq_no"],
                        "if_primary_term": h["_primary_term"],
                    }
                }
            )
            for h in hits
        ]
        response = await client.bulk(
            body=b"\n".join([*lines, b""]),
            params={"refresh": "true", "filter_path": "items.*.status"},
        )
        statuses = [int(next(iter(i.values()))["status"]) for i in response.get("items", [])]
        deleted += statuses.count(200)
        if len(hits) < EXPIRE_PAGE or statuses.count(200) == 0:
            return deleted
